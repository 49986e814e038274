//! Whether a party is registered, as the SRS's directory says: every write
//! at the relay needs a registered party. A positive answer never changes
//! (the directory keeps the first entry of an id for good), so it is cached;
//! a negative one is asked again next time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::peer::SrsPeer;
use crate::http::error::ApiError;

/// Parties remembered before the cache starts over.
const CACHE_LIMIT: usize = 1 << 17;

/// The SRS directory as the relay sees it.
pub struct Directory {
    peer: Arc<dyn SrsPeer>,
    known: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

fn poisoned() -> ApiError {
    ApiError::internal("poisoned directory cache")
}

impl Directory {
    /// The directory of the SRS `peer`.
    pub fn new(peer: Arc<dyn SrsPeer>) -> Directory {
        Directory {
            peer,
            known: Mutex::new(HashSet::new()),
        }
    }

    /// `Ok` if `party` is registered, else `403 unknown_party` (`502
    /// srs_unreachable` if the SRS cannot be asked).
    pub async fn require(&self, party: &[u8; 32]) -> Result<(), ApiError> {
        if self.known.lock().map_err(|_| poisoned())?.contains(party) {
            return Ok(());
        }
        if !self.peer.registered(party).await? {
            return Err(ApiError::forbidden(
                "unknown_party",
                "party is not registered in the SRS directory",
            ));
        }
        let mut known = self.known.lock().map_err(|_| poisoned())?;
        if known.len() >= CACHE_LIMIT {
            known.clear();
        }
        known.insert(*party);
        Ok(())
    }
}
