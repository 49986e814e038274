//! Request-token checks shared by the relay and the SRS: the token travels
//! hex-encoded in the `x-sesphr-token` header; its signature, purpose,
//! subject and time are checked, then its nonce is remembered for twice the
//! replay window by the service's own nonce store.

use sesphr_client::token::{Purpose, RequestToken};
use warp::http::StatusCode;

use crate::error::unhex;
use crate::error::ApiError;
use crate::now_ms;

/// Verifies a token header. `remember(nonce, now, forget_before)` records
/// the nonce and answers whether it was new.
pub fn verify_token(
    header: Option<&str>,
    purpose: Purpose,
    subject: &[u8],
    window_ms: u64,
    remember: impl FnOnce(&[u8; 16], u64, u64) -> Result<bool, ApiError>,
) -> Result<RequestToken, ApiError> {
    let raw = header.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_required",
            "x-sesphr-token header required",
        )
    })?;
    let token = RequestToken::from_bytes(&unhex(raw, "token")?)?;
    let now = now_ms();
    token.check(purpose, subject, now, window_ms)?;
    if !remember(&token.nonce, now, now.saturating_sub(2 * window_ms))? {
        return Err(ApiError::forbidden("replay", "token already used"));
    }
    Ok(token)
}
