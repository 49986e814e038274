//! Per-party rate limits: one token bucket per party and kind of action,
//! in memory (a limit needs no durability: a restart only refills buckets).
//! Keys are party ids, which a request proves by its signature, so a
//! stranger cannot spend anyone else's budget.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::http::error::ApiError;

/// Buckets kept before idle full ones are swept.
const SWEEP_AT: usize = 1 << 16;

/// A token-bucket rate limiter keyed by party id.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    /// Most buckets kept: past it the least recently used eighth goes (a
    /// bucket dropped comes back full: only for keys a stranger can mint,
    /// client addresses, where memory must stay bounded).
    cap: usize,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl RateLimiter {
    /// `per_sec` sustained, `burst` at once (an infinite rate never limits).
    pub fn new(per_sec: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            per_sec,
            burst: f64::from(burst.max(1)),
            cap: usize::MAX,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// [`RateLimiter::new`] holding at most `cap` buckets.
    pub fn capped(per_sec: f64, burst: u32, cap: usize) -> RateLimiter {
        RateLimiter {
            cap: cap.max(8),
            ..RateLimiter::new(per_sec, burst)
        }
    }

    /// Takes one token for `party` at `now_ms`, or `429 rate_limited` with
    /// the seconds until one is back.
    pub fn take(&self, party: &[u8; 32], now_ms: u64) -> Result<(), ApiError> {
        if self.per_sec.is_infinite() {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| ApiError::internal("poisoned rate limiter"))?;
        if buckets.len() >= SWEEP_AT {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets.retain(|_, b| refill(*b, now_ms, per_sec, burst) < burst);
        }
        if buckets.len() >= self.cap && !buckets.contains_key(party) {
            let full = buckets.len();
            let mut times: Vec<u64> = buckets.values().map(|b| b.at_ms).collect();
            let (_, cut, _) = times.select_nth_unstable(full / 8);
            let cut = *cut;
            buckets.retain(|_, b| b.at_ms > cut);
        }
        let b = buckets.entry(*party).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        });
        b.tokens = refill(*b, now_ms, self.per_sec, self.burst);
        b.at_ms = now_ms.max(b.at_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.per_sec).ceil();
            Err(ApiError::rate_limited(wait as u64))
        }
    }
}

fn refill(b: Bucket, now_ms: u64, per_sec: f64, burst: f64) -> f64 {
    let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
    (b.tokens + elapsed * per_sec).min(burst)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_limiter_stays_bounded_and_keeps_the_recent_buckets() {
        let l = RateLimiter::capped(1.0, 1, 64);
        let busy = [0xffu8; 32];
        for i in 0..10_000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            l.take(&k, 1000 + u64::from(i)).unwrap();
            if i % 16 == 0 {
                // The flooding key keeps being limited: it is recent, never evicted.
                let _ = l.take(&busy, 1000 + u64::from(i));
            }
        }
        assert!(l.buckets.lock().unwrap().len() <= 64);
        assert!(
            l.buckets.lock().unwrap().contains_key(&busy),
            "the busy key is recent: never the one evicted"
        );
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = RateLimiter::new(2.0, 3);
        let p = [1u8; 32];
        for _ in 0..3 {
            l.take(&p, 1000).unwrap();
        }
        let e = l.take(&p, 1000).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code, e.retry_after),
            (429, "rate_limited", Some(1))
        );
        // Another party has its own bucket.
        l.take(&[2u8; 32], 1000).unwrap();
        // Half a second later one token is back.
        l.take(&p, 1500).unwrap();
        assert!(l.take(&p, 1500).is_err());
    }

    #[test]
    fn infinite_rate_never_limits() {
        let l = RateLimiter::new(f64::INFINITY, 1);
        for _ in 0..10_000 {
            l.take(&[0u8; 32], 0).unwrap();
        }
    }
}
