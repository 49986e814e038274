//! The SRS's `b2` shares at rest: each sealed with AES-256-GCM under a key
//! derived from the SRS seed, bound to its grant id, so a copy of the
//! database alone opens none of them.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sesphr_client::grant::{SrsShare, VerifiedGrant};
use sesphr_client::identity::Identity;
use sesphr_client::primitives::{hkdf_expand, hkdf_extract, os_rng, random_bytes};
use zeroize::Zeroizing;

use crate::http::error::ApiError;

const STORE_KEY_LABEL: &str = "SeSPHR-v1/srs-store-key";

/// Seals and opens stored shares.
pub struct ShareVault {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ShareVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareVault(<redacted>)")
    }
}

impl ShareVault {
    /// The vault of the SRS `identity`.
    pub fn new(identity: &Identity) -> ShareVault {
        let prk = hkdf_extract(
            STORE_KEY_LABEL.as_bytes(),
            identity.seed().to_bytes().as_ref(),
        );
        ShareVault {
            key: hkdf_expand(&prk, STORE_KEY_LABEL, &[]),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key))
    }

    /// `nonce ‖ AES-GCM(b2, aad = grant id)`.
    pub fn seal(&self, grant_id: &[u8; 16], share: &SrsShare) -> Result<Vec<u8>, ApiError> {
        let nonce: [u8; 12] = random_bytes(&mut os_rng());
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: share.b2_bytes().as_ref(),
                    aad: grant_id,
                },
            )
            .map_err(|_| ApiError::internal("sealing a share failed"))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    /// Opens a stored share and re-checks it against the grant's `B2`.
    pub fn open(&self, grant: &VerifiedGrant, sealed: &[u8]) -> Result<SrsShare, ApiError> {
        if sealed.len() < 12 {
            return Err(ApiError::internal("stored share too short"));
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(ApiError::internal)?;
        let b2 = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ct,
                        aad: &grant.grant_id,
                    },
                )
                .map_err(|_| ApiError::internal("stored share does not open"))?,
        );
        SrsShare::from_parts(grant, &b2).map_err(ApiError::internal)
    }
}
