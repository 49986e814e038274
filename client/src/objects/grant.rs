//! Grants: the owner splits the section secret `a = b1 + b2`, seals `b1` to
//! the grantee and `b2` to the SRS, and signs a grant statement.

use core::fmt;
use rand_core::CryptoRng;

use crate::envelope::Envelope;
use crate::error::{malformed, Error, Result};
use crate::identity::{Identity, PublicIdentity};
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
use crate::primitives::{labels, length_prefixed, random_bytes, Point, POINT_LEN, SIGNATURE_LEN};
use crate::record::{EpochId, RecordId, SectionId, SectionKey};
use crate::secret::SecretScalar;

/// The standard sections of a health record.
pub const STANDARD_SECTIONS: [&str; 8] = [
    "demographics",
    "history",
    "medications",
    "allergies",
    "labs",
    "imaging",
    "insurance",
    "notes",
];

wire_enum! {
    /// A reader's role: a preset of sections, not a different mechanism.
    pub enum Role (names: name, from_name) {
        /// Sections chosen one by one.
        Custom = 0 => "custom",
        /// Every section.
        Family = 1 => "family",
        /// demographics (the reader sees whose record it is), history, medications,
        /// allergies, labs, imaging.
        Physician = 2 => "physician",
        /// medications, allergies, labs.
        Nurse = 3 => "nurse",
        /// medications, allergies.
        Pharmacist = 4 => "pharmacist",
        /// insurance.
        Insurer = 5 => "insurer",
        /// The clinical sections without demographics.
        Researcher = 6 => "researcher",
        /// labs.
        Lab = 7 => "lab",
        /// The emergency preset ([`EMERGENCY_SECTIONS`]), for emergency
        /// contacts (the statement's `emergency{wait}` is what makes a grant
        /// an emergency grant; this is only its preset of sections).
        Emergency = 8 => "emergency",
    }
}

impl Role {
    /// The preset's standard sections (empty for `Custom`).
    pub fn sections(self) -> &'static [&'static str] {
        match self {
            Role::Custom => &[],
            Role::Family => &STANDARD_SECTIONS,
            Role::Physician => &[
                "demographics",
                "history",
                "medications",
                "allergies",
                "labs",
                "imaging",
            ],
            Role::Nurse => &["medications", "allergies", "labs"],
            Role::Pharmacist => &["medications", "allergies"],
            Role::Insurer => &["insurance"],
            Role::Researcher => &["history", "medications", "allergies", "labs", "imaging"],
            Role::Lab => &["labs"],
            Role::Emergency => &EMERGENCY_SECTIONS,
        }
    }
}

/// The emergency preset: what an emergency contact needs to treat the
/// patient (allergies, medications, history and conditions, demographics
/// with the patient's own emergency contacts). An emergency grant is an
/// ordinary grant whose statement carries a wait ([`GrantTerms::emergency_wait_ms`]).
pub const EMERGENCY_SECTIONS: [&str; 4] = ["allergies", "medications", "history", "demographics"];

/// Shortest emergency wait a statement may carry (ms). Waits are the
/// owner's choice; the portal offers hours, this floor only keeps a zero
/// (which would make the grant an ordinary one) out.
pub const MIN_EMERGENCY_WAIT_MS: u64 = 1_000;
/// Longest emergency wait (ms): 90 days.
pub const MAX_EMERGENCY_WAIT_MS: u64 = 90 * 24 * 3600 * 1000;

/// Format version of a grant statement that carries `emergency{wait}`
/// (version 1: an ordinary grant, byte for byte as before).
const EMERGENCY_GRANT: u8 = 2;

/// A 16-byte random grant id.
pub type GrantId = [u8; 16];

/// Who a grant is for and on what terms.
#[derive(Clone, Debug)]
pub struct GrantTerms {
    /// The grantee's public identity (checked out of band by fingerprint).
    pub grantee: PublicIdentity,
    /// Role preset the grant was made under.
    pub role: Role,
    /// First record version the grantee may read (0: all history).
    pub from_version: u64,
    /// Expiry on the SRS clock (ms since the Unix epoch), if any.
    pub expires_at: Option<u64>,
    /// Per-owner sequence number (monotone, for ordering and audit).
    pub sequence: u64,
    /// `Some(wait)`: an emergency grant, dormant at the SRS until the
    /// grantee activates it and then `wait` ms pass (or the owner approves).
    pub emergency_wait_ms: Option<u64>,
}

impl GrantTerms {
    /// All history, no expiry; set the other fields with `..` to narrow it.
    pub fn new(grantee: &PublicIdentity, role: Role, sequence: u64) -> GrantTerms {
        GrantTerms {
            grantee: grantee.clone(),
            role,
            from_version: 0,
            expires_at: None,
            sequence,
            emergency_wait_ms: None,
        }
    }
}

/// A verified, owner-signed grant statement.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    /// Grant id.
    pub grant_id: GrantId,
    /// Per-owner sequence number.
    pub sequence: u64,
    /// The record owner (signer).
    pub owner: PublicIdentity,
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    /// The epoch the shares belong to.
    pub epoch: EpochId,
    /// `A`, the section key of that epoch.
    pub section_key: Point,
    /// `B2 = b2·G`.
    pub b2_commitment: Point,
    /// The grantee.
    pub grantee: PublicIdentity,
    /// The role preset.
    pub role: Role,
    /// First readable version.
    pub from_version: u64,
    /// Expiry (SRS clock, ms), if any.
    pub expires_at: Option<u64>,
    /// The wait of an emergency grant (format 2), ms; `None`: ordinary.
    pub emergency_wait_ms: Option<u64>,
    /// Hash of the `b1` envelope.
    pub b1_envelope_hash: [u8; 32],
    /// Hash of the `b2` envelope.
    pub b2_envelope_hash: [u8; 32],
    bytes: Vec<u8>,
}

impl fmt::Debug for VerifiedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedGrant")
            .field("grant_id", &hex::encode(self.grant_id))
            .field("record", &self.record)
            .field("section", &self.section)
            .field("grantee", &self.grantee.id())
            .field("role", &self.role)
            .field("from_version", &self.from_version)
            .field("expires_at", &self.expires_at)
            .field("emergency_wait_ms", &self.emergency_wait_ms)
            .finish()
    }
}

/// A grant as issued by the owner: statement and both envelopes.
#[derive(Clone, Debug)]
pub struct IssuedGrant {
    /// The signed statement.
    pub statement: VerifiedGrant,
    /// `b1`, sealed to the grantee (delivered through the relay).
    pub b1_envelope: Envelope,
    /// `b2`, sealed to the SRS (sent to the SRS directly).
    pub b2_envelope: Envelope,
}

fn envelope_info(label: &str, grant_id: &GrantId, key: &SectionKey) -> Vec<u8> {
    length_prefixed(&[
        label.as_bytes(),
        grant_id,
        &key.record.0,
        &key.section.0,
        &key.epoch.0,
    ])
}

impl IssuedGrant {
    /// Grantee side of a grant handed over whole: [`VerifiedGrant::accept`]
    /// with its own `b1` envelope.
    pub fn accept(&self, grantee: &Identity, manifest_key: &Point) -> Result<GrantShare> {
        self.statement
            .accept(grantee, &self.b1_envelope, manifest_key)
    }
    /// SRS side: [`VerifiedGrant::accept_srs_share`] with its own `b2` envelope.
    pub fn accept_srs_share(&self, srs: &Identity) -> Result<SrsShare> {
        self.statement.accept_srs_share(srs, &self.b2_envelope)
    }
    /// Splits the section secret for `terms.grantee` and signs the statement.
    pub fn issue<R: CryptoRng + ?Sized>(
        owner: &Identity,
        key: &SectionKey,
        srs_encryption: &Point,
        terms: &GrantTerms,
        rng: &mut R,
    ) -> Result<IssuedGrant> {
        if let Some(wait) = terms.emergency_wait_ms {
            check_wait(wait)?;
        }
        let grant_id: GrantId = random_bytes(rng);
        // b1 = a − b2 must be non-zero; a zero would need b2 = a (negligible), retry.
        let (b1, b2) = loop {
            let b2 = SecretScalar::random(rng);
            if let Ok(b1) = key.secret().sub(&b2) {
                break (b1, b2);
            }
        };
        let b1_envelope = Envelope::seal_share(
            owner,
            &terms.grantee.encryption,
            &envelope_info(labels::ENVELOPE_B1, &grant_id, key),
            &b1,
            rng,
        )?;
        let b2_envelope = Envelope::seal_share(
            owner,
            srs_encryption,
            &envelope_info(labels::ENVELOPE_B2, &grant_id, key),
            &b2,
            rng,
        )?;
        let (section_key, b2_commitment) = (key.public(), b2.public());
        let mut w = match terms.emergency_wait_ms {
            None => Writer::object(Kind::Grant),
            Some(_) => Writer::object_version(Kind::Grant, EMERGENCY_GRANT),
        };
        w.raw(&grant_id)
            .u64(terms.sequence)
            .raw(&owner.public().to_bytes())
            .raw(&key.record.0)
            .raw(&key.section.0)
            .raw(&key.epoch.0)
            .raw(&section_key.to_bytes())
            .raw(&b2_commitment.to_bytes())
            .raw(&terms.grantee.to_bytes())
            .u8(terms.role as u8)
            .u64(terms.from_version)
            .u64(terms.expires_at.unwrap_or(0))
            .raw(&b1_envelope.hash())
            .raw(&b2_envelope.hash());
        if let Some(wait) = terms.emergency_wait_ms {
            w.u64(wait);
        }
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        // Built from what was just signed rather than decoded again: that
        // would verify the owner's own signature and decompress six points
        // (about a sixth of an issue in wasm). `b1 ≠ 0`, so `B2 ≠ A`.
        let statement = VerifiedGrant {
            grant_id,
            sequence: terms.sequence,
            owner: owner.public().clone(),
            record: key.record,
            section: key.section,
            epoch: key.epoch,
            section_key,
            b2_commitment,
            grantee: terms.grantee.clone(),
            role: terms.role,
            from_version: terms.from_version,
            // Encoded as 0, which decodes as no expiry.
            expires_at: terms.expires_at.filter(|t| *t != 0),
            emergency_wait_ms: terms.emergency_wait_ms,
            b1_envelope_hash: b1_envelope.hash(),
            b2_envelope_hash: b2_envelope.hash(),
            bytes: w.finish(),
        };
        Ok(IssuedGrant {
            statement,
            b1_envelope,
            b2_envelope,
        })
    }

    /// Re-issues a grant for a new epoch of the same section (rotation): same
    /// grantee, role, history policy and expiry; fresh shares and grant id.
    pub fn reissue<R: CryptoRng + ?Sized>(
        owner: &Identity,
        new_key: &SectionKey,
        srs_encryption: &Point,
        previous: &VerifiedGrant,
        sequence: u64,
        rng: &mut R,
    ) -> Result<IssuedGrant> {
        if previous.record != new_key.record || previous.section != new_key.section {
            return Err(Error::BindingMismatch("re-issue for another section"));
        }
        if previous.epoch == new_key.epoch {
            return Err(Error::InvalidState("re-issue needs a new epoch"));
        }
        let terms = GrantTerms {
            grantee: previous.grantee.clone(),
            role: previous.role,
            from_version: previous.from_version,
            expires_at: previous.expires_at,
            sequence,
            emergency_wait_ms: previous.emergency_wait_ms,
        };
        IssuedGrant::issue(owner, new_key, srs_encryption, &terms, rng)
    }
}

impl VerifiedGrant {
    /// Decodes and verifies the owner's signature and the structure.
    pub fn from_bytes(bytes: &[u8]) -> Result<VerifiedGrant> {
        let (mut r, format) = Reader::object_versions(bytes, Kind::Grant, EMERGENCY_GRANT)?;
        let grant_id = r.array()?;
        let sequence = r.u64()?;
        let owner = PublicIdentity::read(&mut r)?;
        let record = RecordId(r.array()?);
        let section = SectionId(r.array()?);
        let epoch = EpochId(r.array()?);
        let section_key = Point::from_bytes(r.take(POINT_LEN)?)?;
        let b2_commitment = Point::from_bytes(r.take(POINT_LEN)?)?;
        let grantee = PublicIdentity::read(&mut r)?;
        let role =
            Role::from_u8(r.u8()?).ok_or_else(|| malformed("grant statement", "unknown role"))?;
        let from_version = r.u64()?;
        let expires_at = match r.u64()? {
            0 => None,
            t => Some(t),
        };
        let b1_envelope_hash = r.array()?;
        let b2_envelope_hash = r.array()?;
        let emergency_wait_ms = if format == EMERGENCY_GRANT {
            let wait = r.u64()?;
            check_wait(wait)
                .map_err(|_| malformed("grant statement", "emergency wait out of range"))?;
            Some(wait)
        } else {
            None
        };
        owner.verify_rest(r)?;
        if b2_commitment == section_key {
            return Err(Error::GrantInconsistent);
        }
        Ok(VerifiedGrant {
            grant_id,
            sequence,
            owner,
            record,
            section,
            epoch,
            section_key,
            b2_commitment,
            grantee,
            role,
            from_version,
            expires_at,
            emergency_wait_ms,
            b1_envelope_hash,
            b2_envelope_hash,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `StatementHash` of the signed payload: the grant's content address
    /// (the relay keys inbox items by it, so no other statement can take the
    /// place of one the owner delivered).
    pub fn statement_hash(&self) -> [u8; 32] {
        crate::primitives::statement_hash(&self.bytes[..self.bytes.len() - SIGNATURE_LEN])
    }

    /// Whether this is an emergency grant (dormant until activated).
    pub fn is_emergency(&self) -> bool {
        self.emergency_wait_ms.is_some()
    }

    /// Whether the grant has expired at `now` (SRS clock, ms).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    fn info(&self, label: &str) -> Vec<u8> {
        length_prefixed(&[
            label.as_bytes(),
            &self.grant_id,
            &self.record.0,
            &self.section.0,
            &self.epoch.0,
        ])
    }

    /// Grantee side: opens `b1` and checks `b1·G + B2 == A`, where `A` must also
    /// be the one in the owner-signed manifest entry (`manifest_key`).
    pub fn accept(
        &self,
        grantee: &Identity,
        b1_envelope: &Envelope,
        manifest_key: &Point,
    ) -> Result<GrantShare> {
        if *grantee.public() != self.grantee {
            return Err(Error::BindingMismatch("grant is for another party"));
        }
        if b1_envelope.hash() != self.b1_envelope_hash {
            return Err(Error::BindingMismatch(
                "envelope is not the one the grant commits to",
            ));
        }
        if *manifest_key != self.section_key {
            return Err(Error::GrantInconsistent);
        }
        let b1 = b1_envelope.open_share(
            grantee,
            &self.owner.encryption,
            &self.info(labels::ENVELOPE_B1),
        )?;
        if b1.public() + self.b2_commitment != self.section_key.projective() {
            return Err(Error::GrantInconsistent);
        }
        Ok(GrantShare {
            grant: self.clone(),
            b1,
        })
    }

    /// SRS side: opens `b2` and checks `b2·G == B2`.
    pub fn accept_srs_share(&self, srs: &Identity, b2_envelope: &Envelope) -> Result<SrsShare> {
        if b2_envelope.hash() != self.b2_envelope_hash {
            return Err(Error::BindingMismatch(
                "envelope is not the one the grant commits to",
            ));
        }
        let b2 =
            b2_envelope.open_share(srs, &self.owner.encryption, &self.info(labels::ENVELOPE_B2))?;
        if b2.public() != self.b2_commitment {
            return Err(Error::GrantInconsistent);
        }
        Ok(SrsShare {
            grant_id: self.grant_id,
            b2,
        })
    }
}

fn check_wait(wait: u64) -> Result<()> {
    if (MIN_EMERGENCY_WAIT_MS..=MAX_EMERGENCY_WAIT_MS).contains(&wait) {
        Ok(())
    } else {
        Err(Error::InvalidState(
            "an emergency wait lies between one second and 90 days",
        ))
    }
}

/// The grantee's half of a grant: the statement and `b1`.
#[derive(Clone, Debug)]
pub struct GrantShare {
    /// The statement.
    pub grant: VerifiedGrant,
    pub(crate) b1: SecretScalar,
}

impl GrantShare {
    /// Restores a share saved by its holder (`b1` bytes), re-checking consistency.
    pub fn from_parts(grant: VerifiedGrant, b1_bytes: &[u8]) -> Result<GrantShare> {
        let b1 = SecretScalar::from_bytes(b1_bytes)?;
        if b1.public() + grant.b2_commitment != grant.section_key.projective() {
            return Err(Error::GrantInconsistent);
        }
        Ok(GrantShare { grant, b1 })
    }
    /// `b1` bytes, for the holder's own encrypted storage.
    pub fn b1_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.b1.to_bytes()
    }
}

/// The SRS's half of a grant: `b2`, verified against `B2`.
#[derive(Clone, Debug)]
pub struct SrsShare {
    /// The grant this share belongs to.
    pub grant_id: GrantId,
    pub(crate) b2: SecretScalar,
}

impl SrsShare {
    /// Restores a share from the SRS store, re-checking it against the grant.
    pub fn from_parts(grant: &VerifiedGrant, b2_bytes: &[u8]) -> Result<SrsShare> {
        let b2 = SecretScalar::from_bytes(b2_bytes)?;
        if b2.public() != grant.b2_commitment {
            return Err(Error::GrantInconsistent);
        }
        Ok(SrsShare {
            grant_id: grant.grant_id,
            b2,
        })
    }
    /// `b2` bytes, for the SRS store.
    pub fn b2_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.b2.to_bytes()
    }
}
