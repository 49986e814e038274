//! The owner's per-section epoch policy: when to rotate and whom to re-grant.
//!
//! Revocation and expiry always rotate the section to a fresh epoch before its
//! next write, and a `from-now` grant opens a new epoch at grant time, so the
//! history limit and forward secrecy are cryptographic, not just SRS policy.
//! No data is re-encrypted: new versions simply use the new epoch.

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::grant::{GrantId, GrantTerms, IssuedGrant, VerifiedGrant};
use crate::identity::Identity;
use crate::primitives::Point;
use crate::record::{EpochId, RecordId, SectionId, SectionKey};

/// Why a section must rotate before its next write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// A grant was revoked.
    Revoked,
    /// A grant expired.
    Expired,
    /// A `from-now` grant was made.
    FromNowGrant,
    /// The owner asked for a fresh epoch.
    Requested,
}

/// The owner's view of one section: its epoch, live grants and pending rotation.
#[derive(Clone, Debug)]
pub struct SectionState {
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    epoch: EpochId,
    grants: Vec<VerifiedGrant>,
    pending: Option<RotationReason>,
}

/// What a rotation produced: the new key and fresh grants for every remaining
/// grantee (send each `b2` envelope to the SRS, each `b1` envelope to its grantee).
#[derive(Debug)]
pub struct Rotation {
    /// The section key of the new epoch.
    pub key: SectionKey,
    /// Re-issued grants for the remaining grantees.
    pub reissued: Vec<IssuedGrant>,
}

impl SectionState {
    /// A new section in a fresh epoch, with no grants.
    pub fn new<R: CryptoRng + ?Sized>(
        record: RecordId,
        section: SectionId,
        rng: &mut R,
    ) -> SectionState {
        SectionState {
            record,
            section,
            epoch: EpochId::generate(rng),
            grants: Vec::new(),
            pending: None,
        }
    }
    /// A section rebuilt from what the servers hold: its current epoch, the
    /// live grants of that epoch, and whether a revocation still awaits the
    /// rotation of the next write (see `owner::OwnerRecord::restore`).
    pub fn restore(
        record: RecordId,
        section: SectionId,
        epoch: EpochId,
        grants: Vec<VerifiedGrant>,
        pending: Option<RotationReason>,
    ) -> SectionState {
        SectionState {
            record,
            section,
            epoch,
            grants,
            pending,
        }
    }
    /// The current epoch.
    pub fn epoch(&self) -> EpochId {
        self.epoch
    }
    /// Live grants of the current epoch.
    pub fn grants(&self) -> &[VerifiedGrant] {
        &self.grants
    }
    /// The pending rotation, if any.
    pub fn pending_rotation(&self) -> Option<RotationReason> {
        self.pending
    }
    /// The current section key.
    pub fn key(&self, owner: &Identity) -> Result<SectionKey> {
        SectionKey::for_owner(owner, self.record, self.section, self.epoch)
    }

    /// Grants the section. A grant with `from_version > 0` (`from-now`) first
    /// rotates to a new epoch, re-issuing the other live grants, so the new
    /// grantee cryptographically cannot read older versions.
    pub fn grant<R: CryptoRng + ?Sized>(
        &mut self,
        owner: &Identity,
        srs_encryption: &Point,
        terms: &GrantTerms,
        next_sequence: &mut u64,
        rng: &mut R,
    ) -> Result<(IssuedGrant, Option<Rotation>)> {
        let rotation = if terms.from_version > 0 {
            self.pending = Some(RotationReason::FromNowGrant);
            Some(self.rotate(owner, srs_encryption, next_sequence, rng)?)
        } else {
            None
        };
        let key = self.key(owner)?;
        let terms = GrantTerms {
            sequence: bump(next_sequence),
            ..terms.clone()
        };
        let issued = IssuedGrant::issue(owner, &key, srs_encryption, &terms, rng)?;
        self.grants.push(issued.statement.clone());
        Ok((issued, rotation))
    }

    /// Records that the SRS acknowledged a revocation; the next write rotates.
    pub fn revoked(&mut self, grant_id: &GrantId) -> Result<()> {
        let before = self.grants.len();
        self.grants.retain(|g| g.grant_id != *grant_id);
        if self.grants.len() == before {
            return Err(Error::InvalidState("no such live grant"));
        }
        self.pending = Some(RotationReason::Revoked);
        Ok(())
    }

    /// Rotates at the next write although nothing forces it (the owner
    /// suspects a grantee's device, say); a pending reason is kept.
    pub fn request_rotation(&mut self) {
        self.pending.get_or_insert(RotationReason::Requested);
    }

    /// Drops grants expired at `now` (SRS clock); if any, the next write rotates.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.grants.len();
        self.grants.retain(|g| !g.is_expired(now));
        let dropped = before - self.grants.len();
        if dropped > 0 {
            self.pending = Some(RotationReason::Expired);
        }
        dropped
    }

    /// The key to write the next version under: rotates first if a rotation is
    /// pending (returning the re-issued grants), else the current key.
    pub fn key_for_write<R: CryptoRng + ?Sized>(
        &mut self,
        owner: &Identity,
        srs_encryption: &Point,
        next_sequence: &mut u64,
        rng: &mut R,
    ) -> Result<(SectionKey, Option<Rotation>)> {
        if self.pending.is_some() {
            let rotation = self.rotate(owner, srs_encryption, next_sequence, rng)?;
            Ok((rotation.key.clone(), Some(rotation)))
        } else {
            Ok((self.key(owner)?, None))
        }
    }

    fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        owner: &Identity,
        srs_encryption: &Point,
        next_sequence: &mut u64,
        rng: &mut R,
    ) -> Result<Rotation> {
        self.epoch = EpochId::generate(rng);
        let key = self.key(owner)?;
        let mut reissued = Vec::with_capacity(self.grants.len());
        for g in &self.grants {
            reissued.push(IssuedGrant::reissue(
                owner,
                &key,
                srs_encryption,
                g,
                bump(next_sequence),
                rng,
            )?);
        }
        self.grants = reissued.iter().map(|g| g.statement.clone()).collect();
        self.pending = None;
        Ok(Rotation { key, reissued })
    }
}

fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}
