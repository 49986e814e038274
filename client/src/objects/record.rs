//! Records, sections and epochs, and the owner's per-epoch section secret.

use core::fmt;
use rand_core::CryptoRng;

use crate::error::Result;
use crate::identity::{Identity, PartyId};
use crate::primitives::{h2s, hash, hkdf_expand, hkdf_extract, labels, random_bytes, Point};
use crate::secret::{SecretScalar, Seed};

macro_rules! id32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }
    };
}

id32!(
    /// `record_id = H("SeSPHR-v1/record", owner_id, nonce)`: bound to its owner.
    RecordId
);
id32!(
    /// Opaque section id, keyed by the owner seed (see [`SectionId::derive`]).
    SectionId
);
id32!(
    /// Random 32-byte epoch id; a new one on every rotation.
    EpochId
);

/// The 16 random bytes that, with the owner id, determine a record id.
pub type RecordNonce = [u8; 16];

impl RecordId {
    /// Computes the record id of `owner` and `nonce`.
    pub fn derive(owner: &PartyId, nonce: &RecordNonce) -> RecordId {
        RecordId(hash(labels::RECORD, &[&owner.0, nonce]))
    }
    /// A fresh record id for `owner`, with its nonce.
    pub fn generate<R: CryptoRng + ?Sized>(
        owner: &PartyId,
        rng: &mut R,
    ) -> (RecordId, RecordNonce) {
        let nonce = random_bytes(rng);
        (RecordId::derive(owner, &nonce), nonce)
    }
}

impl RecordId {
    /// The owner's `index`-th record, with a nonce derived from the seed: a
    /// restored seed finds its records by asking for indices 0, 1, 2, …
    pub fn for_index(seed: &Seed, owner: &PartyId, index: u32) -> (RecordId, RecordNonce) {
        let prk = hkdf_extract(labels::RECORD_NONCE.as_bytes(), seed.expose());
        let okm = hkdf_expand(&prk, labels::RECORD_NONCE, &[&index.to_be_bytes()]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&okm[..16]);
        (RecordId::derive(owner, &nonce), nonce)
    }
}

impl EpochId {
    /// A fresh random epoch id.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> EpochId {
        EpochId(random_bytes(rng))
    }
}

impl SectionId {
    /// The opaque id of the section called `name` in `record`, keyed by the owner seed,
    /// so the relay and SRS never see section names:
    /// `HKDF-Expand(HKDF-Extract("SeSPHR-v1/section-id-key", seed), label ‖ record_id ‖ name)`
    /// (HKDF-Expand is HMAC under the seed-derived key).
    pub fn derive(seed: &Seed, record: &RecordId, name: &str) -> SectionId {
        let prk = hkdf_extract(labels::SECTION_ID_KEY.as_bytes(), seed.expose());
        SectionId(*hkdf_expand(
            &prk,
            labels::SECTION_ID_KEY,
            &[&record.0, name.as_bytes()],
        ))
    }
}

/// The owner's key for one section in one epoch: `a` and `A = a·G`.
#[derive(Clone, Debug)]
pub struct SectionKey {
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    /// The epoch.
    pub epoch: EpochId,
    secret: SecretScalar,
    public: Point,
}

impl SectionKey {
    /// `a = H2S("SeSPHR-v1/section-secret", seed, record_id, section_id, epoch_id)`.
    pub fn derive(
        seed: &Seed,
        record: RecordId,
        section: SectionId,
        epoch: EpochId,
    ) -> Result<SectionKey> {
        let a = SecretScalar::from_nonzero(h2s(
            labels::SECTION_SECRET,
            &[seed.expose(), &record.0, &section.0, &epoch.0],
        )?);
        let public = a.public();
        Ok(SectionKey {
            record,
            section,
            epoch,
            secret: a,
            public,
        })
    }
    /// The owner's section key from its identity.
    pub fn for_owner(
        owner: &Identity,
        record: RecordId,
        section: SectionId,
        epoch: EpochId,
    ) -> Result<SectionKey> {
        SectionKey::derive(owner.seed(), record, section, epoch)
    }
    /// `A = a·G`, published in the manifest.
    pub fn public(&self) -> Point {
        self.public
    }
    pub(crate) fn secret(&self) -> &SecretScalar {
        &self.secret
    }
}
