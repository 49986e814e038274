//! Request-token checks shared by the relay and the SRS: the token travels
//! hex-encoded in the `x-sesphr-token` header. [`check_token`] verifies its
//! signature, purpose, subject and time without writing anything; the
//! handler then authorizes the signer (owner of the record, registered
//! party) and only then [`spend_token`]s its nonce in the service's durable
//! nonce store, remembered for twice the replay window, so a stranger's
//! token never costs a durable write and a restart never reopens the window.

use std::collections::HashMap;
use std::sync::Mutex;

use sesphr_client::token::{Purpose, RequestToken};
use warp::http::StatusCode;

use crate::http::error::unhex;
use crate::http::error::ApiError;
use crate::now_ms;

/// Verifies a token header: signature, purpose, subject and time. Writes
/// nothing: the caller authorizes the signer, then calls [`spend_token`].
pub fn check_token(
    header: Option<&str>,
    purpose: Purpose,
    subject: &[u8],
    window_ms: u64,
) -> Result<RequestToken, ApiError> {
    let token = parse_token(header)?;
    token.check(purpose, subject, now_ms(), window_ms)?;
    Ok(token)
}

/// The request token of the header, decoded (`401 token_required` without one).
fn parse_token(header: Option<&str>) -> Result<RequestToken, ApiError> {
    let raw = header.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_required",
            "x-sesphr-token header required",
        )
    })?;
    Ok(RequestToken::from_bytes(&unhex(raw, "token")?)?)
}

/// [`check_token`] for a request whose body has not been read yet: the
/// signature, purpose and time are checked, and `shape` (what the handler
/// knows of the subject before the body, e.g. its prefix and length), but
/// not the rest; the handler compares the whole subject once the body is in
/// ([`subject_is`]).
pub fn check_token_before_body(
    header: Option<&str>,
    purpose: Purpose,
    shape: impl FnOnce(&[u8]) -> bool,
    window_ms: u64,
) -> Result<RequestToken, ApiError> {
    let token = parse_token(header)?;
    let subject = if shape(&token.subject) {
        token.subject.clone()
    } else {
        // Fails the check below as a token for another object.
        let mut other = token.subject.clone();
        other.push(0);
        other
    };
    token.check(purpose, &subject, now_ms(), window_ms)?;
    Ok(token)
}

/// The whole subject of a token [`check_token_before_body`] let through,
/// once the body is known (`403` as for any token for another object).
pub fn subject_is(token: &RequestToken, subject: &[u8]) -> Result<(), ApiError> {
    if token.subject == subject {
        Ok(())
    } else {
        Err(sesphr_client::Error::BindingMismatch("token is for another purpose or object").into())
    }
}

/// Spends an authorized token's nonce: `remember(nonce, now, forget_before)`
/// records it durably and answers whether it was new (`403 replay` if not).
pub fn spend_token(
    token: &RequestToken,
    window_ms: u64,
    remember: impl FnOnce(&[u8; 16], u64, u64) -> Result<bool, ApiError>,
) -> Result<(), ApiError> {
    let now = now_ms();
    if remember(&token.nonce, now, now.saturating_sub(2 * window_ms))? {
        Ok(())
    } else {
        Err(ApiError::forbidden("replay", "token already used"))
    }
}

/// Nonces seen within a replay window, in memory: a nonce is spent once.
/// Entries older than twice the window are dropped when the set has doubled
/// since the last sweep, so a spend costs O(1) amortized however busy the
/// window is.
#[derive(Debug)]
pub struct ReplaySet {
    window_ms: u64,
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<[u8; 16], u64>,
    sweep_at: usize,
}

/// The smallest set size at which old nonces are swept.
const SWEEP_MIN: usize = 4096;

impl ReplaySet {
    /// An empty set for a replay window of `window_ms`, holding `known`
    /// nonces (with when they were seen) from a previous run.
    pub fn new(window_ms: u64, known: impl IntoIterator<Item = ([u8; 16], u64)>) -> ReplaySet {
        let at: HashMap<_, _> = known.into_iter().collect();
        let sweep_at = (2 * at.len()).max(SWEEP_MIN);
        ReplaySet {
            window_ms,
            inner: Mutex::new(Seen { at, sweep_at }),
        }
    }

    /// Spends `nonce` at `now`: `false` if it was already spent.
    pub fn spend(&self, nonce: &[u8; 16], now: u64) -> Result<bool, ApiError> {
        let mut seen = self
            .inner
            .lock()
            .map_err(|_| ApiError::internal("poisoned nonce lock"))?;
        if seen.at.contains_key(nonce) {
            return Ok(false);
        }
        if seen.at.len() >= seen.sweep_at {
            let forget = now.saturating_sub(2 * self.window_ms);
            seen.at.retain(|_, t| *t >= forget);
            seen.sweep_at = (2 * seen.at.len()).max(SWEEP_MIN);
        }
        seen.at.insert(*nonce, now);
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_spent_once_and_old_ones_are_swept() {
        let set = ReplaySet::new(1_000, [([1; 16], 5)]);
        assert!(!set.spend(&[1; 16], 10).unwrap(), "known from the store");
        assert!(set.spend(&[2; 16], 10).unwrap());
        assert!(!set.spend(&[2; 16], 11).unwrap());
        // Fill past the sweep size long after: the old nonces go, the set stays bounded.
        for i in 0..(2 * SWEEP_MIN as u32) {
            let mut n = [0u8; 16];
            n[..4].copy_from_slice(&i.to_be_bytes());
            n[4] = 9;
            set.spend(&n, 1_000_000 + u64::from(i)).unwrap();
        }
        let seen = set.inner.lock().unwrap();
        assert!(!seen.at.contains_key(&[2; 16]));
        assert!(seen.at.len() <= 2 * SWEEP_MIN);
    }
}
