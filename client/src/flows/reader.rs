//! The reader's flow: which inbox items to trust, which grant opens a section
//! version, the freshness and history rules, the re-encryption request and
//! the checks of the SRS's answer. Pure (no I/O): a driver fetches the inbox,
//! the manifests and the answers, and decrypts the body with the data key it
//! gets back.
//!
//! **Trust.** Anyone may post a grant statement into anyone's inbox; only the
//! record's owner can sign one that counts. An [`Inbox`] keeps the verified
//! items addressed to this reader; [`Inbox::record`] keeps, of those naming a
//! record, only the ones signed by the party the record id is bound to, as
//! the owner-signed manifest proves (`record_id = H(owner, nonce)`, checked
//! when the manifest is verified). Items by anyone else are set aside as
//! [`SharedRecord::foreign`], never merged, and can be cleared.
//!
//! **Which grant.** The candidates for a section version are the owner's
//! grants of the entry's epoch and section key whose `from_version` allows
//! the version, newest (highest sequence) first. A candidate whose `b1` does
//! not open or does not add up to `A` (`grant_inconsistent`) is skipped; each
//! remaining one is tried in turn until the SRS answers and the answer
//! verifies. If all fail, the error is the first answer that failed
//! verification, if any (it points at a lying server), else the newest
//! candidate's.
//!
//! **Freshness and history.** A read names a version of a [`ManifestChain`]
//! that runs from it to the relay's latest. The SRS's signed head in the
//! answer must be within the chain, be the chain's manifest of its version,
//! and not be older than the reader's high-water mark
//! ([`ManifestChain::check_head`]). So the latest version is read with a
//! chain of one, and an older version `v` with the owner-signed chain from
//! `v` to the head; `from_version` and the epochs still bound what is
//! readable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_core::CryptoRng;

use crate::audit::{Decision, InclusionReceipt};
use crate::capsule::DataKey;
use crate::envelope::{seal_request, AnswerKey, Envelope};
use crate::error::{Error, Result};
use crate::grant::{GrantShare, VerifiedGrant};
use crate::identity::{Identity, PublicIdentity};
use crate::manifest::{ManifestChain, ManifestEntry, SignedHead, VerifiedManifest};
use crate::primitives::{order, Point};
use crate::record::{RecordId, SectionId};
use crate::reencrypt::{ReencryptAnswer, ReencryptRequest};

/// One verified inbox item: an owner-signed grant statement and the `b1`
/// envelope it commits to.
#[derive(Clone, Debug)]
pub struct InboxItem {
    grant: VerifiedGrant,
    b1_envelope: Envelope,
}

impl InboxItem {
    /// Verifies the statement's signature and that the envelope is the one
    /// it commits to (`binding_mismatch` otherwise).
    pub fn from_bytes(statement: &[u8], b1_envelope: &[u8]) -> Result<InboxItem> {
        let grant = VerifiedGrant::from_bytes(statement)?;
        let b1_envelope = Envelope::from_bytes(b1_envelope)?;
        if b1_envelope.hash() != grant.b1_envelope_hash {
            return Err(Error::BindingMismatch(
                "envelope is not the one the grant commits to",
            ));
        }
        Ok(InboxItem { grant, b1_envelope })
    }
    /// The item's id: its statement's hash (the relay keys items by it).
    pub fn id(&self) -> [u8; 32] {
        self.grant.statement_hash()
    }
    /// The grant statement.
    pub fn grant(&self) -> &VerifiedGrant {
        &self.grant
    }
    /// The `b1` envelope.
    pub fn b1_envelope(&self) -> &Envelope {
        &self.b1_envelope
    }
}

/// A reader's inbox: the verified items addressed to this reader, by record.
/// Who owns each record is not known yet; [`Inbox::record`] learns it from
/// the record's manifest.
#[derive(Clone, Debug, Default)]
pub struct Inbox {
    records: BTreeMap<RecordId, Vec<InboxItem>>,
    ids: BTreeSet<[u8; 32]>,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Inbox {
        Inbox::default()
    }
    /// Adds an item if it is addressed to `me` and not already held; returns
    /// whether it was added (an item for another party is ignored).
    pub fn add(&mut self, me: &PublicIdentity, item: InboxItem) -> bool {
        if item.grant.grantee != *me || !self.ids.insert(item.id()) {
            return false;
        }
        self.records
            .entry(item.grant.record)
            .or_default()
            .push(item);
        true
    }
    /// The records items name, in id order.
    pub fn records(&self) -> impl Iterator<Item = RecordId> + '_ {
        self.records.keys().copied()
    }
    /// The grants of `manifest`'s record signed by its owner: the party the
    /// record id is bound to, which [`VerifiedManifest::from_bytes`] checked.
    /// Items naming the record but signed by anyone else are set aside as
    /// foreign. `not_granted` if the owner signed none.
    pub fn record(&self, manifest: &VerifiedManifest) -> Result<SharedRecord> {
        let mut sections: BTreeMap<SectionId, Vec<InboxItem>> = BTreeMap::new();
        let mut foreign = Vec::new();
        for item in self.records.get(&manifest.record()).into_iter().flatten() {
            if item.grant.owner == manifest.owner {
                sections
                    .entry(item.grant.section)
                    .or_default()
                    .push(item.clone());
            } else {
                foreign.push(item.id());
            }
        }
        if sections.is_empty() {
            return Err(Error::NotGranted);
        }
        for items in sections.values_mut() {
            order::sort_by_key(items, |i| {
                order::key([&order::descending(i.grant.sequence)])
            });
        }
        Ok(SharedRecord {
            record: manifest.record(),
            owner: manifest.owner.clone(),
            sections,
            foreign,
        })
    }
}

/// The grants of one record from its owner, by section.
#[derive(Clone, Debug)]
pub struct SharedRecord {
    record: RecordId,
    owner: PublicIdentity,
    /// Newest (highest sequence) first.
    sections: BTreeMap<SectionId, Vec<InboxItem>>,
    foreign: Vec<[u8; 32]>,
}

/// One readable body of a section, for a history listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionVersion {
    /// The record version the body was written at (read it at that version).
    pub version: u64,
    /// Whether one of the reader's grants covers it (epoch and `from_version`).
    pub readable: bool,
}

impl SharedRecord {
    /// The record.
    pub fn record(&self) -> RecordId {
        self.record
    }
    /// Its owner.
    pub fn owner(&self) -> &PublicIdentity {
        &self.owner
    }
    /// The shared sections with their grants, newest first.
    pub fn sections(&self) -> impl Iterator<Item = (&SectionId, &[InboxItem])> {
        self.sections.iter().map(|(s, items)| (s, items.as_slice()))
    }
    /// Ids of the inbox items that name this record but are signed by
    /// someone other than its owner: never used; the reader may clear them.
    pub fn foreign(&self) -> &[[u8; 32]] {
        &self.foreign
    }

    /// The bodies a section had along `chain`, oldest first, and whether
    /// this reader's grants cover each.
    pub fn history(&self, section: &SectionId, chain: &ManifestChain) -> Vec<SectionVersion> {
        let items = self.sections.get(section).map_or(&[][..], Vec::as_slice);
        chain
            .iter()
            .filter_map(|m| {
                m.entry(section)
                    .ok()
                    .filter(|e| e.written_at_version == m.version())
            })
            .map(|e| SectionVersion {
                version: e.written_at_version,
                readable: items.iter().any(|i| covers(&i.grant, e)),
            })
            .collect()
    }

    /// Starts reading `section` at record `version`, which `chain` must hold
    /// (the chain then runs from it to the relay's latest). `high_water` is
    /// the reader's highest version seen of this record. Fails early with
    /// `no_such_section`, `before_from_version` (shared from a later version
    /// on) or `not_granted` (no grant of this epoch: re-keyed without this
    /// reader), or with the error of the only candidate.
    pub fn read(
        &self,
        me: &Identity,
        section: &SectionId,
        chain: &ManifestChain,
        version: u64,
        high_water: u64,
    ) -> Result<SectionRead> {
        chain.first().expect_owner(&self.owner)?;
        if chain.record() != self.record {
            return Err(Error::BindingMismatch("manifest of another record"));
        }
        let target = chain
            .get(version)
            .ok_or(Error::InvalidState("the chain does not hold that version"))?;
        if chain.tip().version() < high_water {
            return Err(Error::Stale {
                found: chain.tip().version(),
                known: high_water,
            });
        }
        let entry = target.entry(section)?.clone();
        let items = self.sections.get(section).map_or(&[][..], Vec::as_slice);
        let mut shares = VecDeque::new();
        let mut errors = Vec::new();
        for item in items.iter().filter(|i| covers(&i.grant, &entry)) {
            match item.grant.accept(me, &item.b1_envelope, &entry.section_key) {
                Ok(share) => shares.push_back(share),
                Err(e) => errors.push(e),
            }
        }
        if shares.is_empty() {
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
            let later = items
                .iter()
                .map(|i| i.grant.from_version)
                .filter(|&f| f > entry.written_at_version)
                .min();
            return Err(match later {
                Some(from_version) => Error::BeforeFromVersion {
                    version: entry.written_at_version,
                    from_version,
                },
                None => Error::NotGranted,
            });
        }
        Ok(SectionRead {
            chain: chain.clone(),
            version,
            entry,
            high_water,
            shares,
            pending: None,
            errors,
            receipts: Vec::new(),
        })
    }
}

/// Whether a grant's terms cover a body: same epoch and key, and a
/// `from_version` at or before the version it was written at.
fn covers(grant: &VerifiedGrant, entry: &ManifestEntry) -> bool {
    grant.epoch == entry.epoch
        && grant.section_key == entry.section_key
        && grant.from_version <= entry.written_at_version
}

/// What the SRS sent back for a request.
#[derive(Clone, Copy, Debug)]
pub enum Reply<'a> {
    /// The sealed answer (HTTP 200).
    Answer(&'a [u8]),
    /// A refusal, with the SRS's decision (HTTP 403 and its code).
    Refused(Decision),
}

/// A section body opened by the reader.
#[derive(Debug)]
pub struct OpenedSection {
    /// The body's data key.
    pub data_key: DataKey,
    /// Its manifest entry (where the blob is, its chunk root).
    pub entry: ManifestEntry,
    /// The record version it was read at.
    pub version: u64,
    /// The SRS's signed head, which the chain was checked against.
    pub head: SignedHead,
}

/// One read of a section version in progress: the candidate grants, tried
/// newest first. Call [`SectionRead::next_request`], send what it returns,
/// hand the reply to [`SectionRead::answer`]; repeat until it opens the
/// section or [`SectionRead::next_request`] has no candidate left, then
/// report [`SectionRead::failure`].
#[derive(Debug)]
pub struct SectionRead {
    chain: ManifestChain,
    version: u64,
    entry: ManifestEntry,
    high_water: u64,
    shares: VecDeque<GrantShare>,
    pending: Option<(GrantShare, ReencryptRequest, AnswerKey)>,
    errors: Vec<Error>,
    receipts: Vec<InclusionReceipt>,
}

impl SectionRead {
    /// The audit receipts of every answer the SRS gave this read (verified;
    /// an answer whose key did not open the section counts too: the SRS
    /// answered it). The reader forwards them to the record's owner
    /// ([`crate::audit::ReceiptBundle`]).
    pub fn receipts(&self) -> &[InclusionReceipt] {
        &self.receipts
    }
    /// The manifest entry being read.
    pub fn entry(&self) -> &ManifestEntry {
        &self.entry
    }
    /// The record version being read.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The high-water mark after this read (raised by a verified head).
    pub fn high_water(&self) -> u64 {
        self.high_water
    }

    /// The next candidate's request, signed by `me` at `now` and sealed to
    /// the SRS (`srs_encryption`, pinned); `None` when every candidate was
    /// tried. Send it to the SRS (through the relay).
    pub fn next_request<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        srs_encryption: &Point,
        now: u64,
        rng: &mut R,
    ) -> Result<Option<Vec<u8>>> {
        let Some(share) = self.shares.pop_front() else {
            self.pending = None;
            return Ok(None);
        };
        let request = ReencryptRequest::new(me, &share.grant, self.version, now, rng)?;
        let (sealed, key) = seal_request(srs_encryption, request.as_bytes(), rng)?;
        self.pending = Some((share, request, key));
        Ok(Some(sealed))
    }

    /// Checks the reply to the last request against the pinned SRS identity.
    /// `Some` once the section opened; `None` if this candidate failed (the
    /// error is kept for [`SectionRead::failure`]): try the next one. An
    /// `Err` ends the read: the answer's head shows that the chain is not
    /// fresh (`stale`: the relay is behind or the record changed meanwhile;
    /// `binding_mismatch`: a fork), which no other grant would change.
    pub fn answer(
        &mut self,
        srs: &PublicIdentity,
        reply: Reply<'_>,
    ) -> Result<Option<OpenedSection>> {
        let (share, request, key) = self
            .pending
            .take()
            .ok_or(Error::InvalidState("no request is waiting for an answer"))?;
        let sealed = match reply {
            Reply::Refused(d) => {
                self.errors.push(Error::Refused(d));
                return Ok(None);
            }
            Reply::Answer(sealed) => sealed,
        };
        let target = self
            .chain
            .get(self.version)
            .ok_or(Error::InvalidState("the chain does not hold that version"))?;
        let answer = match key
            .open_answer(sealed)
            .and_then(|bytes| ReencryptAnswer::verify(&bytes, srs, &request, &share.grant, target))
        {
            Ok(a) => a,
            Err(e) => {
                self.errors.push(e);
                return Ok(None);
            }
        };
        self.receipts.push(answer.receipt.clone());
        self.chain.check_head(&answer.head, self.high_water)?;
        self.high_water = self.high_water.max(answer.head.version);
        match share.data_key(target, &answer) {
            Ok(data_key) => Ok(Some(OpenedSection {
                data_key,
                entry: self.entry.clone(),
                version: self.version,
                head: answer.head,
            })),
            Err(e) => {
                self.errors.push(e);
                Ok(None)
            }
        }
    }

    /// Why the read failed once every candidate was tried: the first answer
    /// that failed verification, if any, else the newest candidate's error.
    pub fn failure(&self) -> Error {
        self.errors
            .iter()
            .find(|e| e.is_verification_failure())
            .or_else(|| self.errors.first())
            .cloned()
            .unwrap_or(Error::NotGranted)
    }
}
