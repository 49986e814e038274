//! The record owner's flow: sections, epochs, live grants, the manifest
//! chain and how much of it the SRS has witnessed. Pure (no I/O): the
//! driver publishes what it returns and reports back.
//!
//! **Writing a version.** [`OwnerRecord::key_for_write`] per section (a
//! pending rotation re-issues the live grants: deliver them first), encrypt,
//! upload, [`OwnerRecord::set_entry`]; then [`OwnerRecord::sign_manifest`],
//! store it at the relay and report [`OwnerRecord::published`]; register it
//! at the SRS and report the signed head with [`OwnerRecord::witnessed`].
//! A version the relay stored but the SRS did not witness (a lost request,
//! an SRS outage) stays in [`OwnerRecord::unwitnessed`]: push those to the
//! SRS, in order, before the next version (registration is idempotent), so
//! one lost request never blocks the record.
//!
//! **Restoring.** The state is never the only copy of anything.
//! [`OwnerRecord::restore`] rebuilds it from the seed and what the servers
//! hold (the manifest chain at the relay, the owner's grant list at the SRS)
//! and checks the relay's chain against the SRS-signed head exactly as a
//! reader does: a relay that hides the newest version is `stale`, never
//! silently believed.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRng;

use crate::capsule::DataKey;
use crate::error::{Error, Result};
use crate::grant::{GrantId, GrantTerms, IssuedGrant, VerifiedGrant};
use crate::identity::Identity;
use crate::manifest::{
    ManifestChain, ManifestContent, ManifestEntry, SignedHead, VerifiedManifest,
};
use crate::policy::{Rotation, RotationReason, SectionState};
use crate::primitives::Point;
use crate::record::{EpochId, RecordId, RecordNonce, SectionId, SectionKey};

/// One record as its owner sees it.
#[derive(Debug)]
pub struct OwnerRecord {
    index: u32,
    record: RecordId,
    nonce: RecordNonce,
    sections: BTreeMap<SectionId, Owned>,
    /// Every published version, from 1.
    chain: Option<ManifestChain>,
    /// The highest version the SRS signed a head for.
    witnessed: u64,
    sequence: u64,
    /// The audit tree head the next manifest records (the latest one the
    /// owner verified; restored from the newest manifest carrying one).
    audit_head: Option<Vec<u8>>,
}

/// How old a head the owner accepts when restoring (SRS clock against the
/// owner's): a replayed old head is refused as `stale`. Twice the servers'
/// token window, for clock skew.
pub const HEAD_MAX_AGE_MS: u64 = 10 * 60 * 1000;

#[derive(Debug)]
struct Owned {
    state: SectionState,
    entry: Option<ManifestEntry>,
}

impl OwnerRecord {
    /// The owner's `index`-th record, empty.
    pub fn new(owner: &Identity, index: u32) -> OwnerRecord {
        let (record, nonce) = RecordId::for_index(owner.seed(), &owner.id(), index);
        OwnerRecord {
            index,
            record,
            nonce,
            sections: BTreeMap::new(),
            chain: None,
            witnessed: 0,
            sequence: 0,
            audit_head: None,
        }
    }

    /// Rebuilds the `index`-th record from the servers' copies: `manifests`
    /// is the whole chain (versions 1, 2, …, latest) from the relay, `grants`
    /// the owner's grant list from the SRS (statement, revoked), `head` the
    /// SRS's signed head of the record (`None` if it has none), `high_water`
    /// the highest version this owner saw witnessed before, and `now` the
    /// clock, for expiry and the head's age.
    ///
    /// Freshness, as a reader checks it: a head older than
    /// [`HEAD_MAX_AGE_MS`] or than `high_water` is `stale`; a relay whose
    /// chain ends before the head is `stale {found: relay's latest, known:
    /// head}` (the relay is behind); another manifest at the head's version
    /// is `binding_mismatch`. Versions after the head are owner-signed
    /// successors the SRS has not witnessed: they are kept as
    /// [`OwnerRecord::unwitnessed`], to be pushed to the SRS.
    ///
    /// Each section's current epoch is the newest epoch of a grant that no
    /// manifest has used yet (a `from-now` grant rotates at grant time), if
    /// the section was not written since, else the epoch of its latest
    /// manifest entry. Its live grants are the unrevoked grants of that
    /// epoch; a revoked one there means the next write must rotate.
    pub fn restore(
        owner: &Identity,
        index: u32,
        manifests: &[VerifiedManifest],
        grants: &[(VerifiedGrant, bool)],
        head: Option<&SignedHead>,
        high_water: u64,
        now: u64,
    ) -> Result<OwnerRecord> {
        let mut rec = OwnerRecord::new(owner, index);
        let mut used: BTreeSet<(SectionId, EpochId)> = BTreeSet::new();
        for (i, m) in manifests.iter().enumerate() {
            m.expect_owner(owner.public())?;
            if m.record() != rec.record {
                return Err(Error::BindingMismatch("manifest of another record"));
            }
            match i.checked_sub(1).map(|p| &manifests[p]) {
                Some(prev) => m.verify_successor(prev)?,
                None if m.version() != 1 => {
                    return Err(Error::ChainBroken(
                        "the manifest chain must start at version 1",
                    ))
                }
                None => {}
            }
            used.extend(m.content.entries.iter().map(|e| (e.section, e.epoch)));
        }
        let chain = match manifests {
            [] => None,
            _ => Some(ManifestChain::from_manifests(manifests.iter().cloned())?),
        };
        if let Some(head) = head {
            if head.timestamp.abs_diff(now) > HEAD_MAX_AGE_MS {
                return Err(Error::Stale {
                    found: head.timestamp,
                    known: now,
                });
            }
            match &chain {
                Some(c) => c.check_head(head, high_water)?,
                None => {
                    return Err(Error::Stale {
                        found: 0,
                        known: head.version,
                    })
                }
            }
            rec.witnessed = head.version;
        } else if high_water > 0 {
            // The SRS once witnessed this record and now claims no head.
            return Err(Error::Stale {
                found: 0,
                known: high_water,
            });
        }
        for (g, _) in grants {
            if g.record != rec.record || g.owner != *owner.public() {
                return Err(Error::BindingMismatch("grant of another record or owner"));
            }
            rec.sequence = rec.sequence.max(g.sequence);
        }
        let latest = manifests.last();
        // Filled by `extend`, not `collect`: a B-tree's `from_iter` sorts
        // through its own copy of the stable sort (about 20 KB of the browser
        // module per key type; `primitives::order`).
        let mut entries: BTreeMap<SectionId, &ManifestEntry> = BTreeMap::new();
        if let Some(m) = latest {
            entries.extend(m.content.entries.iter().map(|e| (e.section, e)));
        }
        let mut sections: BTreeSet<SectionId> = BTreeSet::new();
        sections.extend(
            entries
                .keys()
                .copied()
                .chain(grants.iter().map(|(g, _)| g.section)),
        );
        for section in sections {
            let of_section = || grants.iter().filter(move |(g, _)| g.section == section);
            let entry = entries.get(&section);
            let newest = |epoch: EpochId| {
                of_section()
                    .filter(|(g, _)| g.epoch == epoch)
                    .map(|(g, _)| g.sequence)
                    .max()
            };
            // An epoch no manifest used was opened by a from-now grant. It is
            // current only if the section was not written since: a later
            // write (at or after that grant's `from_version`) rotated past it,
            // and its re-issued grants are newer.
            let unpublished = of_section()
                .filter(|(g, _)| !used.contains(&(section, g.epoch)))
                .max_by_key(|(g, _)| g.sequence)
                .map(|(g, _)| g.epoch)
                .filter(|&epoch| {
                    entry.is_none_or(|e| {
                        of_section()
                            .any(|(g, _)| g.epoch == epoch && e.written_at_version < g.from_version)
                            && newest(e.epoch) < newest(epoch)
                    })
                });
            let Some(epoch) = unpublished.or_else(|| entry.map(|e| e.epoch)) else {
                continue;
            };
            let live: Vec<VerifiedGrant> = of_section()
                .filter(|(g, revoked)| g.epoch == epoch && !revoked)
                .map(|(g, _)| g.clone())
                .collect();
            let pending = of_section()
                .any(|(g, revoked)| g.epoch == epoch && *revoked)
                .then_some(RotationReason::Revoked);
            let mut state = SectionState::restore(rec.record, section, epoch, live, pending);
            state.expire(now);
            rec.sections.insert(
                section,
                Owned {
                    state,
                    entry: entries.get(&section).map(|e| (*e).clone()),
                },
            );
        }
        rec.audit_head = manifests
            .iter()
            .rev()
            .find_map(|m| m.content.audit_head.clone());
        rec.chain = chain;
        Ok(rec)
    }

    /// The audit tree head the next manifest will record: the one set last,
    /// or after a restore the one the newest manifest recorded (unverified
    /// here: its user checks it under the pinned SRS key and against the
    /// head it kept).
    pub fn audit_head(&self) -> Option<&[u8]> {
        self.audit_head.as_deref()
    }

    /// Sets the audit tree head the next manifest records (the latest one
    /// the owner verified).
    pub fn set_audit_head(&mut self, head: Option<Vec<u8>>) {
        self.audit_head = head;
    }

    /// The record's index among the owner's records.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// The record id.
    pub fn record(&self) -> RecordId {
        self.record
    }
    /// The latest published manifest.
    pub fn latest(&self) -> Option<&VerifiedManifest> {
        self.chain.as_ref().map(ManifestChain::tip)
    }
    /// Every published version, from 1.
    pub fn chain(&self) -> Option<&ManifestChain> {
        self.chain.as_ref()
    }
    /// The version the next manifest will have.
    pub fn next_version(&self) -> u64 {
        self.latest().map_or(1, |m| m.version() + 1)
    }
    /// The highest version the SRS has witnessed (0: none).
    pub fn witnessed_version(&self) -> u64 {
        self.witnessed
    }
    /// Published versions the SRS has not witnessed yet, oldest first: push
    /// each to the SRS before publishing another.
    pub fn unwitnessed(&self) -> impl Iterator<Item = &VerifiedManifest> {
        self.chain
            .iter()
            .flat_map(ManifestChain::iter)
            .filter(|m| m.version() > self.witnessed)
    }
    /// The versions at which a section's body changed, oldest first, with
    /// the entry of each (what [`OwnerRecord::data_key_at`] opens).
    pub fn history(&self, section: &SectionId) -> Vec<&ManifestEntry> {
        self.chain
            .iter()
            .flat_map(ManifestChain::iter)
            .filter_map(|m| {
                m.entry(section)
                    .ok()
                    .filter(|e| e.written_at_version == m.version())
            })
            .collect()
    }
    /// Sections the owner knows of, with their current manifest entry.
    pub fn sections(&self) -> impl Iterator<Item = (SectionId, Option<&ManifestEntry>)> {
        self.sections.iter().map(|(id, o)| (*id, o.entry.as_ref()))
    }
    /// The live grants of every section.
    pub fn grants(&self) -> impl Iterator<Item = &VerifiedGrant> {
        self.sections.values().flat_map(|o| o.state.grants())
    }
    /// A section's current epoch.
    pub fn epoch(&self, section: &SectionId) -> Option<EpochId> {
        self.sections.get(section).map(|o| o.state.epoch())
    }
    /// The highest grant sequence number used so far.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
    /// Whether a section must rotate at its next write, and why.
    pub fn pending_rotation(&self, section: &SectionId) -> Option<RotationReason> {
        self.sections
            .get(section)
            .and_then(|o| o.state.pending_rotation())
    }

    fn owned(&mut self, section: SectionId, rng: &mut (impl CryptoRng + ?Sized)) -> &mut Owned {
        let record = self.record;
        self.sections.entry(section).or_insert_with(|| Owned {
            state: SectionState::new(record, section, rng),
            entry: None,
        })
    }

    /// The key for writing `section` at the next version, at time `now`.
    /// Grants expired by then are dropped first, and a revocation, expiry or
    /// requested rotation rotates the section to a fresh epoch: send every
    /// re-issued grant's `b2` envelope to the SRS and `b1` envelope to its
    /// grantee.
    pub fn key_for_write<R: CryptoRng + ?Sized>(
        &mut self,
        owner: &Identity,
        srs_encryption: &Point,
        section: SectionId,
        now: u64,
        rng: &mut R,
    ) -> Result<(SectionKey, Option<Rotation>)> {
        let mut sequence = self.sequence;
        let owned = self.owned(section, rng);
        owned.state.expire(now);
        let out = owned
            .state
            .key_for_write(owner, srs_encryption, &mut sequence, rng);
        self.sequence = sequence;
        out
    }

    /// Records the entry of a section body written for the next version.
    pub fn set_entry(&mut self, entry: ManifestEntry) -> Result<()> {
        let next = self.next_version();
        let owned = self
            .sections
            .get_mut(&entry.section)
            .ok_or(Error::InvalidState("entry for a section never keyed"))?;
        if entry.epoch != owned.state.epoch() || entry.written_at_version != next {
            return Err(Error::BindingMismatch(
                "entry is not of the section's current epoch and next version",
            ));
        }
        owned.entry = Some(entry);
        Ok(())
    }

    /// Signs the next manifest over every section's current entry. Call
    /// [`OwnerRecord::published`] once the relay has stored it.
    pub fn sign_manifest(&self, owner: &Identity, now: u64) -> Result<VerifiedManifest> {
        ManifestContent {
            record: self.record,
            record_nonce: self.nonce,
            version: self.next_version(),
            previous: self.latest().map_or([0; 32], |m| m.hash()),
            created_at: now,
            entries: self
                .sections
                .values()
                .filter_map(|o| o.entry.clone())
                .collect(),
            audit_head: self.audit_head.clone(),
        }
        .sign(owner)
    }

    /// Makes `manifest` (signed by [`OwnerRecord::sign_manifest`] and stored
    /// by the relay) the latest; it is unwitnessed until
    /// [`OwnerRecord::witnessed`].
    pub fn published(&mut self, manifest: VerifiedManifest) -> Result<()> {
        if manifest.record() != self.record {
            return Err(Error::BindingMismatch("manifest of another record"));
        }
        match &mut self.chain {
            Some(chain) => chain.push(manifest),
            None if manifest.version() != 1 => Err(Error::ChainBroken(
                "the manifest chain must start at version 1",
            )),
            None => {
                self.chain = Some(ManifestChain::new(manifest));
                Ok(())
            }
        }
    }

    /// Records the SRS's signed head for a published version (checked as a
    /// reader checks one: see [`ManifestChain::check_head`]). A head past
    /// the latest version this state knows is `stale`: another device wrote,
    /// and the record must be restored before writing again.
    pub fn witnessed(&mut self, head: &SignedHead) -> Result<()> {
        let chain = self
            .chain
            .as_ref()
            .ok_or(Error::InvalidState("nothing published yet"))?;
        chain.check_head(head, self.witnessed)?;
        self.witnessed = head.version;
        Ok(())
    }

    /// Grants `section` at time `now`; a `from-now` grant (`from_version >
    /// 0`) rotates first. Deliver the rotation's re-issued grants and then
    /// the new one. An expiry at or before `now` is `invalid_state`.
    pub fn grant<R: CryptoRng + ?Sized>(
        &mut self,
        owner: &Identity,
        srs_encryption: &Point,
        section: SectionId,
        terms: &GrantTerms,
        now: u64,
        rng: &mut R,
    ) -> Result<(IssuedGrant, Option<Rotation>)> {
        if terms.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::InvalidState("the expiry is not in the future"));
        }
        let mut sequence = self.sequence;
        let out =
            self.owned(section, rng)
                .state
                .grant(owner, srs_encryption, terms, &mut sequence, rng);
        self.sequence = sequence;
        out
    }

    /// Records that the SRS acknowledged the revocation of `grant`.
    pub fn revoked(&mut self, grant: &GrantId) -> Result<()> {
        self.sections
            .values_mut()
            .find(|o| o.state.grants().iter().any(|g| g.grant_id == *grant))
            .ok_or(Error::InvalidState("no such live grant"))?
            .state
            .revoked(grant)
    }

    /// Rotates `section` at its next write even without a revocation.
    pub fn rotate(&mut self, section: &SectionId) -> Result<()> {
        self.sections
            .get_mut(section)
            .ok_or(Error::NoSuchSection)?
            .state
            .request_rotation();
        Ok(())
    }

    /// The owner's own data key for a section's current entry.
    pub fn data_key(&self, owner: &Identity, section: &SectionId) -> Result<DataKey> {
        let entry = self
            .sections
            .get(section)
            .and_then(|o| o.entry.as_ref())
            .ok_or(Error::NoSuchSection)?;
        self.open_entry(owner, entry)
    }

    /// The owner's data key for the body a section had at record `version`.
    pub fn data_key_at(
        &self,
        owner: &Identity,
        section: &SectionId,
        version: u64,
    ) -> Result<DataKey> {
        let m = self
            .chain
            .as_ref()
            .and_then(|c| c.get(version))
            .ok_or(Error::InvalidState("no such published version"))?;
        self.open_entry(owner, m.entry(section)?)
    }

    fn open_entry(&self, owner: &Identity, entry: &ManifestEntry) -> Result<DataKey> {
        let key = SectionKey::for_owner(owner, self.record, entry.section, entry.epoch)?;
        entry.capsule.open_as_owner(&key, entry.written_at_version)
    }
}
