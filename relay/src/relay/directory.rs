//! Whether a party is registered, as the SRS's directory says: every write
//! at the relay needs a registered party. A positive answer never changes
//! (the directory keeps the first entry of an id for good), so it is cached;
//! a negative one is asked again next time.

use std::collections::HashSet;
use std::sync::Mutex;

use warp::http::StatusCode;

use crate::http::error::ApiError;

/// Parties remembered before the cache starts over.
const CACHE_LIMIT: usize = 1 << 17;

/// The SRS directory as the relay sees it.
#[derive(Debug)]
pub struct Directory {
    srs_url: String,
    http: reqwest::Client,
    known: Mutex<HashSet<[u8; 32]>>,
}

/// The SRS could not be asked.
pub fn srs_unreachable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "srs_unreachable", e.to_string())
}

impl Directory {
    /// The directory of the SRS at `srs_url`, asked with `http`.
    pub fn new(srs_url: String, http: reqwest::Client) -> Directory {
        Directory {
            srs_url,
            http,
            known: Mutex::new(HashSet::new()),
        }
    }

    /// `Ok` if `party` is registered, else `403 unknown_party` (`502
    /// srs_unreachable` if the SRS cannot be asked).
    pub async fn require(&self, party: &[u8; 32]) -> Result<(), ApiError> {
        if self
            .known
            .lock()
            .map_err(|_| ApiError::internal("poisoned directory cache"))?
            .contains(party)
        {
            return Ok(());
        }
        let resp = self
            .http
            .get(format!(
                "{}/srs/v1/directory/{}",
                self.srs_url,
                hex::encode(party)
            ))
            .send()
            .await
            .map_err(srs_unreachable)?;
        match resp.status().as_u16() {
            200 => {
                let mut known = self
                    .known
                    .lock()
                    .map_err(|_| ApiError::internal("poisoned directory cache"))?;
                if known.len() >= CACHE_LIMIT {
                    known.clear();
                }
                known.insert(*party);
                Ok(())
            }
            404 => Err(ApiError::forbidden(
                "unknown_party",
                "party is not registered in the SRS directory",
            )),
            s => Err(srs_unreachable(format!("the SRS directory answered {s}"))),
        }
    }
}
