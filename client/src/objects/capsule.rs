//! The capsule `E = r·G` and the key schedule that turns `Z = r·A` into a
//! section version's DEK and key commitment.

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::primitives::{hkdf_expand, hkdf_extract, labels, Point};
use crate::record::{EpochId, RecordId, SectionId, SectionKey};
use crate::secret::{SecretScalar, SymmetricKey};

/// What a DEK is bound to besides the capsule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyContext {
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    /// The epoch.
    pub epoch: EpochId,
    /// The record version this section body was written at.
    pub version: u64,
}

impl KeyContext {
    /// The context of section key `key` at record version `version`.
    pub fn for_key(key: &SectionKey, version: u64) -> KeyContext {
        KeyContext {
            record: key.record,
            section: key.section,
            epoch: key.epoch,
            version,
        }
    }
}

/// The DEK of one section version and its key commitment.
#[derive(Debug)]
pub struct DataKey {
    /// AES-256-GCM key for the body.
    pub dek: SymmetricKey,
    /// `kc`, stored in the blob header and compared in constant time before decrypting.
    pub commitment: [u8; 32],
    /// AES-256-GCM key of a sharded entry's sealed placement ([`crate::shard::Placement`]).
    pub placement: SymmetricKey,
}

impl DataKey {
    /// Checks the key commitment in constant time; the error is the opaque
    /// decryption failure.
    pub fn check_commitment(&self, expected: &[u8; 32]) -> Result<()> {
        if bool::from(self.commitment.ct_eq(expected)) {
            Ok(())
        } else {
            Err(Error::DecryptionFailed)
        }
    }
}

/// `PRK = HKDF-Extract(E ‖ A, x(Z))`, `DEK = HKDF-Expand(PRK, "SeSPHR-v1/dek",
/// record_id, section_id, epoch_id, version)`, `kc = HKDF-Expand(PRK, "SeSPHR-v1/key-commit")`,
/// `placement = HKDF-Expand(PRK, "SeSPHR-v1/placement", record_id, section_id, epoch_id, version)`.
pub fn derive_data_key(e: &Point, a: &Point, z: &Point, ctx: &KeyContext) -> DataKey {
    let mut salt = [0u8; 66];
    salt[..33].copy_from_slice(&e.to_bytes());
    salt[33..].copy_from_slice(&a.to_bytes());
    let prk = hkdf_extract(&salt, z.x().as_ref());
    let dek = hkdf_expand(
        &prk,
        labels::DEK,
        &[
            &ctx.record.0,
            &ctx.section.0,
            &ctx.epoch.0,
            &ctx.version.to_be_bytes(),
        ],
    );
    let commitment = *hkdf_expand(&prk, labels::KEY_COMMIT, &[]);
    let placement = hkdf_expand(
        &prk,
        labels::PLACEMENT,
        &[
            &ctx.record.0,
            &ctx.section.0,
            &ctx.epoch.0,
            &ctx.version.to_be_bytes(),
        ],
    );
    DataKey {
        dek: SymmetricKey::new(*dek),
        commitment,
        placement: SymmetricKey::new(*placement),
    }
}

/// A capsule: the ephemeral point `E = r·G` of one section version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capsule(pub Point);

impl Capsule {
    /// Owner side: a fresh `r`, `E = r·G`, `Z = r·A`, and the derived keys.
    pub fn encapsulate<R: CryptoRng + ?Sized>(
        key: &SectionKey,
        version: u64,
        rng: &mut R,
    ) -> Result<(Capsule, DataKey)> {
        let r = SecretScalar::random(rng);
        let e = r.public();
        let a = key.public();
        let z = r.mul(&a)?;
        let ctx = KeyContext::for_key(key, version);
        Ok((Capsule(e), derive_data_key(&e, &a, &z, &ctx)))
    }

    /// Owner side: `Z = a·E`.
    pub fn open_as_owner(&self, key: &SectionKey, version: u64) -> Result<DataKey> {
        let z = key.secret().mul(&self.0)?;
        let ctx = KeyContext::for_key(key, version);
        Ok(derive_data_key(&self.0, &key.public(), &z, &ctx))
    }
}
