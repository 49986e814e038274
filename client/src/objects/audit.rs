//! The SRS audit log: an RFC 9162 Merkle log of every re-encryption decision,
//! with SRS-signed tree heads and inclusion receipts.

use std::collections::HashMap;

use crate::error::{malformed, Error, Result};
use crate::grant::GrantId;
use crate::identity::{Identity, PartyId, PublicIdentity};
use crate::merkle::{self, Hash};
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
use crate::primitives::order;
use crate::record::{RecordId, SectionId};

wire_enum! {
    /// Why the SRS answered or refused.
    pub enum Decision (names: code, from_code) {
        /// Re-encryption performed.
        Allowed = 0 => "allowed",
        /// Request signature invalid.
        BadSignature = 1 => "bad_signature",
        /// Nonce already seen or timestamp outside the window.
        Replay = 2 => "replay",
        /// Grant revoked (tombstoned).
        Revoked = 3 => "revoked",
        /// Grant expired.
        Expired = 4 => "expired",
        /// Grant unknown.
        UnknownGrant = 5 => "unknown_grant",
        /// No owner-signed manifest entry matches the grant.
        NotInManifest = 6 => "not_in_manifest",
        /// Version before the grant's `from_version`.
        BeforeFromVersion = 7 => "before_from_version",
        /// An emergency grant not activated (or its activation denied).
        EmergencyDormant = 8 => "emergency_dormant",
        /// An emergency grant activated, its wait not over, not approved.
        EmergencyWaiting = 9 => "emergency_waiting",
    }
}

wire_enum! {
    /// Purpose of use an entry is filed under (HL7 v3 `PurposeOfUse`).
    pub enum PurposeOfUse (names: code, from_code) {
        /// An ordinary grant (format 1 and 2 entries carry no purpose).
        Ordinary = 0 => "ordinary",
        /// Emergency access on an emergency grant: HL7 `BTG` (break the glass).
        Emergency = 1 => "BTG",
    }
}

/// Where an entry stands in its record's chain: each entry about a record
/// commits to the one before it about the same record, so a listing of a
/// record's entries shows it left none out between the first and the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordLink {
    /// How many entries about this record the log held before this one.
    pub seq: u64,
    /// Leaf hash of the previous entry about this record; zeros for `seq` 0.
    pub prev: Hash,
}

impl RecordLink {
    /// The link of a record's first entry.
    pub const FIRST: RecordLink = RecordLink {
        seq: 0,
        prev: [0; 32],
    };
}

/// Format version of entries with a [`RecordLink`] (version 1: without).
const LINKED_ENTRY: u8 = 2;
/// Format version of linked entries with a purpose of use: written for
/// emergency grants only, so every other entry keeps its bytes.
const PURPOSE_ENTRY: u8 = 3;

/// One audit log entry: a decision on a request whose grantee signature
/// the SRS verified, filed under the grant's own record and section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// SRS clock, ms.
    pub timestamp: u64,
    /// The grant asked under.
    pub grant_id: GrantId,
    /// Who asked.
    pub grantee: PartyId,
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    /// The record version.
    pub version: u64,
    /// `StatementHash` of the request's signed payload: the receipt of an
    /// answer names the very request it answers.
    pub request: [u8; 32],
    /// The decision.
    pub decision: Decision,
    /// The entry's place in its record's chain (format 2). `None`: an
    /// entry written before chains (format 1); the SRS links every entry it
    /// appends ([`MemoryLog::link`]).
    pub link: Option<RecordLink>,
    /// The purpose of use: `Emergency` (format 3) for every decision on an
    /// emergency grant, `Ordinary` otherwise.
    pub purpose: PurposeOfUse,
}

impl AuditEntry {
    /// Encodes the entry (the Merkle leaf data): format 3 for an emergency
    /// purpose, format 2 with its link, format 1 without. Format 3 always
    /// carries a link: the SRS links every entry before it stores or hashes
    /// it ([`MemoryLog::link`]); an emergency entry not yet linked encodes
    /// with the first link, a placeholder `link` replaces.
    pub fn to_bytes(&self) -> Vec<u8> {
        let version = match (self.purpose, self.link) {
            (PurposeOfUse::Emergency, _) => PURPOSE_ENTRY,
            (PurposeOfUse::Ordinary, Some(_)) => LINKED_ENTRY,
            (PurposeOfUse::Ordinary, None) => 1,
        };
        let mut w = Writer::object_version(Kind::AuditEntry, version);
        w.u64(self.timestamp)
            .raw(&self.grant_id)
            .raw(&self.grantee.0)
            .raw(&self.record.0)
            .raw(&self.section.0)
            .u64(self.version)
            .raw(&self.request)
            .u8(self.decision as u8);
        if version == PURPOSE_ENTRY {
            w.u8(self.purpose as u8);
        }
        if version >= LINKED_ENTRY {
            let link = self.link.unwrap_or(RecordLink::FIRST);
            w.u64(link.seq).raw(&link.prev);
        }
        w.finish()
    }
    /// Decodes any of the three formats.
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditEntry> {
        let (mut r, format) = Reader::object_versions(bytes, Kind::AuditEntry, PURPOSE_ENTRY)?;
        let mut e = AuditEntry {
            timestamp: r.u64()?,
            grant_id: r.array()?,
            grantee: PartyId(r.array()?),
            record: RecordId(r.array()?),
            section: SectionId(r.array()?),
            version: r.u64()?,
            request: r.array()?,
            decision: Decision::from_u8(r.u8()?)
                .ok_or_else(|| malformed("audit entry", "unknown decision"))?,
            link: None,
            purpose: PurposeOfUse::Ordinary,
        };
        if format == PURPOSE_ENTRY {
            e.purpose = match PurposeOfUse::from_u8(r.u8()?) {
                Some(PurposeOfUse::Emergency) => PurposeOfUse::Emergency,
                // Format 3 exists for a purpose other than ordinary.
                _ => return Err(malformed("audit entry", "unknown purpose of use")),
            };
        }
        if format >= LINKED_ENTRY {
            let link = RecordLink {
                seq: r.u64()?,
                prev: r.array()?,
            };
            if (link.seq == 0) != (link.prev == [0; 32]) {
                return Err(malformed(
                    "audit entry",
                    "the previous entry's hash must be zero exactly for a record's first entry",
                ));
            }
            e.link = Some(link);
        }
        r.finish()?;
        Ok(e)
    }
    /// The Merkle leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_bytes())
    }
}

/// An SRS-signed audit tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// Number of entries.
    pub tree_size: u64,
    /// Merkle root.
    pub root: Hash,
    /// SRS clock, ms.
    pub timestamp: u64,
    bytes: Vec<u8>,
}

impl SignedTreeHead {
    /// Signs a tree head (SRS side).
    pub fn sign(srs: &Identity, tree_size: u64, root: Hash, timestamp: u64) -> SignedTreeHead {
        let mut w = Writer::object(Kind::TreeHead);
        w.u64(tree_size).raw(&root).u64(timestamp);
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        SignedTreeHead {
            tree_size,
            root,
            timestamp,
            bytes: w.finish(),
        }
    }
    /// Decodes and verifies against the pinned SRS key.
    pub fn from_bytes(bytes: &[u8], srs: &PublicIdentity) -> Result<SignedTreeHead> {
        let mut r = Reader::object(bytes, Kind::TreeHead)?;
        let tree_size = r.u64()?;
        let root = r.array()?;
        let timestamp = r.u64()?;
        srs.verify_rest(r)?;
        Ok(SignedTreeHead {
            tree_size,
            root,
            timestamp,
            bytes: bytes.to_vec(),
        })
    }
    /// Decodes a head without checking its signature: a claim, to be
    /// checked with [`SignedTreeHead::from_bytes`] before it is relied on.
    pub fn claimed(bytes: &[u8]) -> Result<SignedTreeHead> {
        let mut r = Reader::object(bytes, Kind::TreeHead)?;
        let tree_size = r.u64()?;
        let root = r.array()?;
        let timestamp = r.u64()?;
        r.take(crate::primitives::SIGNATURE_LEN)?;
        r.finish()?;
        Ok(SignedTreeHead {
            tree_size,
            root,
            timestamp,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks, with an RFC 9162 consistency proof, that `newer` extends this
    /// head: the log only grew, nothing seen before was rewritten.
    pub fn verify_extension(&self, newer: &SignedTreeHead, path: &[Hash]) -> Result<()> {
        merkle::verify_consistency(
            self.tree_size,
            newer.tree_size,
            &self.root,
            &newer.root,
            path,
        )
    }
}

/// Proof that an entry is in the log under a signed tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionReceipt {
    /// Position of the entry.
    pub index: u64,
    /// The entry.
    pub entry: AuditEntry,
    /// Audit path.
    pub path: Vec<Hash>,
    /// The signed head the path leads to.
    pub head: SignedTreeHead,
}

/// Longest audit path accepted (trees up to 2^64 entries).
const MAX_PATH: usize = 64;

impl InclusionReceipt {
    pub(crate) fn write(&self, w: &mut Writer) -> Result<()> {
        w.u64(self.index);
        w.bytes(&self.entry.to_bytes())?;
        w.u8(self.path.len() as u8);
        for h in &self.path {
            w.raw(h);
        }
        w.bytes(self.head.as_bytes())?;
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>, srs: &PublicIdentity) -> Result<InclusionReceipt> {
        let receipt = InclusionReceipt::read_claimed(r)?;
        receipt.verify_under(srs)?;
        Ok(receipt)
    }

    /// Reads a receipt without checking its head's signature or its path.
    pub(crate) fn read_claimed(r: &mut Reader<'_>) -> Result<InclusionReceipt> {
        let index = r.u64()?;
        let entry = AuditEntry::from_bytes(r.bytes(1024)?)?;
        let n = r.u8()? as usize;
        if n > MAX_PATH {
            return Err(malformed("receipt", "audit path too long"));
        }
        let path = (0..n).map(|_| r.array()).collect::<Result<Vec<_>>>()?;
        let head = SignedTreeHead::claimed(r.bytes(1024)?)?;
        Ok(InclusionReceipt {
            index,
            entry,
            path,
            head,
        })
    }

    /// Checks the head's signature under the pinned SRS key, then the path.
    pub fn verify_under(&self, srs: &PublicIdentity) -> Result<()> {
        SignedTreeHead::from_bytes(self.head.as_bytes(), srs)?;
        self.verify()
    }

    /// Encodes the receipt alone (its fields as in an answer; no header).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.write(&mut w)?;
        Ok(w.finish())
    }

    /// Decodes a receipt encoded by [`InclusionReceipt::to_bytes`],
    /// verifying its head under the pinned SRS key and its audit path.
    pub fn from_bytes(bytes: &[u8], srs: &PublicIdentity) -> Result<InclusionReceipt> {
        let mut r = Reader::fields(bytes, Kind::ReceiptBundle);
        let receipt = InclusionReceipt::read(&mut r, srs)?;
        r.finish()?;
        Ok(receipt)
    }

    /// Checks the audit path against the (already verified) signed head.
    pub fn verify(&self) -> Result<()> {
        merkle::verify_inclusion(
            &self.entry.leaf_hash(),
            self.index,
            self.head.tree_size,
            &self.path,
            &self.head.root,
        )
    }
}

/// Most receipts one bundle carries (a bundle fits in one mail).
pub const MAX_BUNDLE: usize = 32;

/// Receipts a reader forwards to a record's owner (kind `0x15`), sealed in
/// mail: the inclusion receipts of answers it got about one record, so an
/// SRS that answered a read but left it out of the owner's listing is
/// caught. Believed for the SRS's signatures alone; who forwarded it does
/// not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptBundle {
    /// The record every receipt is about.
    pub record: RecordId,
    /// The receipts, each verified under the pinned SRS key.
    pub receipts: Vec<InclusionReceipt>,
}

impl ReceiptBundle {
    /// Encodes: `SPHR 15 01 ‖ record ‖ u8 n ‖ n × receipt` (each as in an
    /// answer: index, `lp(entry)`, path, `lp(tree head)`). 1 to
    /// [`MAX_BUNDLE`] receipts, all about `record` (else `binding_mismatch`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.receipts.is_empty() || self.receipts.len() > MAX_BUNDLE {
            return Err(malformed("receipt bundle", "1 to 32 receipts"));
        }
        if self.receipts.iter().any(|r| r.entry.record != self.record) {
            return Err(Error::BindingMismatch(
                "a receipt in the bundle is about another record",
            ));
        }
        let mut w = Writer::object(Kind::ReceiptBundle);
        w.raw(&self.record.0).u8(self.receipts.len() as u8);
        for receipt in &self.receipts {
            receipt.write(&mut w)?;
        }
        Ok(w.finish())
    }

    /// Decodes, verifying every receipt under the pinned SRS key
    /// (`bad_signature`, `bad_proof`) and that each is about the bundle's
    /// record (`binding_mismatch`).
    pub fn from_bytes(bytes: &[u8], srs: &PublicIdentity) -> Result<ReceiptBundle> {
        let bundle = ReceiptBundle::claimed(bytes)?;
        for receipt in &bundle.receipts {
            receipt.verify_under(srs)?;
        }
        Ok(bundle)
    }

    /// Decodes the framing and the record binding only: the receipts are
    /// claims. The owner's check verifies a claim's signature and path only
    /// where it matters, for a receipt its listing does not already hold
    /// ([`crate::audit_check::ListingCheck::add_claimed_receipt`]).
    pub fn claimed(bytes: &[u8]) -> Result<ReceiptBundle> {
        let mut r = Reader::object(bytes, Kind::ReceiptBundle)?;
        let record = RecordId(r.array()?);
        let n = r.u8()? as usize;
        if n == 0 || n > MAX_BUNDLE {
            return Err(malformed("receipt bundle", "1 to 32 receipts"));
        }
        let mut receipts = Vec::with_capacity(n);
        for _ in 0..n {
            let receipt = InclusionReceipt::read_claimed(&mut r)?;
            if receipt.entry.record != record {
                return Err(Error::BindingMismatch(
                    "a receipt in the bundle is about another record",
                ));
            }
            receipts.push(receipt);
        }
        r.finish()?;
        Ok(ReceiptBundle { record, receipts })
    }
}

/// The audit tree in memory: every complete subtree's hash
/// ([`merkle::Tree`]), for receipts, roots, inclusion proofs of past
/// entries and consistency proofs between past sizes, and the link the next
/// entry about each record takes. The SRS keeps the entries durably and
/// rebuilds this at start.
#[derive(Debug, Default)]
pub struct MemoryLog {
    tree: merkle::Tree,
    chains: Chains,
}

/// The link the next entry about each record takes.
#[derive(Debug, Default)]
struct Chains {
    next: HashMap<RecordId, RecordLink>,
    /// Whether a linked entry was seen: the log is past its upgrade.
    linked: bool,
}

impl Chains {
    fn next(&self, record: &RecordId) -> RecordLink {
        self.next.get(record).copied().unwrap_or(RecordLink::FIRST)
    }
    /// Files `entry` (leaf `leaf`) at the end of its record's chain. A
    /// format-1 entry (written before chains, so only before any linked
    /// one) counts, and is linked to, but carries no link to check; a
    /// format-2 entry must carry the expected one.
    fn push(&mut self, entry: &AuditEntry, leaf: Hash) -> Result<()> {
        let next = self.next(&entry.record);
        match entry.link {
            Some(l) if l != next => {
                return Err(Error::ChainBroken(
                    "an audit entry does not follow its record's previous entry",
                ))
            }
            Some(_) => self.linked = true,
            None if self.linked => {
                return Err(Error::ChainBroken(
                    "an unlinked audit entry follows linked ones",
                ))
            }
            None => {}
        }
        self.next.insert(
            entry.record,
            RecordLink {
                seq: next.seq + 1,
                prev: leaf,
            },
        );
        Ok(())
    }
}

impl MemoryLog {
    /// Rebuilds the tree and the chains from stored entries (encoded
    /// [`AuditEntry`] bytes), checking every link (`chain_broken`: the
    /// store does not hold the log the SRS wrote).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<MemoryLog> {
        let mut log = MemoryLog::default();
        for bytes in entries {
            log.push_stored(bytes)?;
        }
        Ok(log)
    }

    /// Appends an entry already stored (by another SRS process on the same
    /// database), checking its link, signing nothing (`chain_broken`: it
    /// does not follow its record's previous entry).
    pub fn push_stored(&mut self, bytes: &[u8]) -> Result<()> {
        let entry = AuditEntry::from_bytes(bytes)?;
        let leaf = merkle::leaf_hash(bytes);
        self.chains.push(&entry, leaf)?;
        self.tree.push(leaf);
        Ok(())
    }

    /// Links a batch of entries about to be appended in this order: each
    /// gets the place after its record's last entry (in the log, or earlier
    /// in the batch). The SRS links before it stores, so the stored bytes
    /// are the leaves.
    pub fn link(&self, batch: &mut [AuditEntry]) {
        let mut ahead: HashMap<RecordId, RecordLink> = HashMap::new();
        for entry in batch {
            let link = ahead
                .get(&entry.record)
                .copied()
                .unwrap_or_else(|| self.chains.next(&entry.record));
            entry.link = Some(link);
            ahead.insert(
                entry.record,
                RecordLink {
                    seq: link.seq + 1,
                    prev: entry.leaf_hash(),
                },
            );
        }
    }

    /// Appends an entry (linked here if it carries no link; one linked
    /// elsewhere must be next in its record's chain, else `chain_broken`)
    /// and returns its receipt under a freshly signed head.
    pub fn append(&mut self, srs: &Identity, mut entry: AuditEntry) -> Result<InclusionReceipt> {
        if entry.link.is_none() {
            entry.link = Some(self.chains.next(&entry.record));
        }
        let leaf = entry.leaf_hash();
        self.chains.push(&entry, leaf)?;
        let index = self.tree.size();
        self.tree.push(leaf);
        let size = self.tree.size();
        let path = self.tree.inclusion_proof(index, size)?;
        let head = SignedTreeHead::sign(srs, size, self.tree.root_at(size)?, entry.timestamp);
        Ok(InclusionReceipt {
            index,
            path,
            entry,
            head,
        })
    }

    /// A signed head of the whole log.
    pub fn head(&self, srs: &Identity, timestamp: u64) -> Result<SignedTreeHead> {
        self.head_at(srs, self.tree.size(), timestamp)
    }

    /// A signed head of the log's first `size` entries (`bad_proof` past
    /// the end).
    pub fn head_at(&self, srs: &Identity, size: u64, timestamp: u64) -> Result<SignedTreeHead> {
        Ok(SignedTreeHead::sign(
            srs,
            size,
            self.tree.root_at(size)?,
            timestamp,
        ))
    }

    /// The consistency proof from size `first` to size `second`, with a signed
    /// head of size `second`.
    pub fn consistency(
        &self,
        srs: &Identity,
        first: u64,
        second: u64,
        timestamp: u64,
    ) -> Result<(Vec<Hash>, SignedTreeHead)> {
        let path = self.tree.consistency_proof(first, second)?;
        Ok((path, self.head_at(srs, second, timestamp)?))
    }

    /// The audit path of entry `index` in the log of its first `size`
    /// entries (`bad_proof` unless `index < size ≤ len`).
    pub fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.tree.inclusion_proof(index, size)
    }

    /// The tree hash of the whole log (what a signed head of its size
    /// carries).
    pub fn root(&self) -> Result<Hash> {
        self.tree.root_at(self.tree.size())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.tree.size() as usize
    }
    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }
}

/// Most entries and heads an export may announce before it is read (the
/// reader never allocates from an announced count).
const MAX_EXPORT_HEADS: u32 = 1 << 16;

/// An audit log exported for an auditor (kind `0x14`): the SRS's public
/// identity, every entry from index 0 in order, and signed tree heads (the
/// SRS's head of the whole export first; an auditor may add heads it
/// collected elsewhere, from receipts or from owners). Not signed as a
/// whole: the heads are what the SRS signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditExport {
    /// The SRS whose log this is.
    pub srs: PublicIdentity,
    /// Encoded entries, index 0 first.
    pub entries: Vec<Vec<u8>>,
    /// Encoded signed tree heads.
    pub heads: Vec<Vec<u8>>,
}

/// What [`AuditExport::verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedExport {
    /// Entries checked (the whole log up to its largest head).
    pub entries: u64,
    /// Every head, verified, by increasing tree size.
    pub heads: Vec<SignedTreeHead>,
    /// Entries per decision code, in decision order.
    pub decisions: Vec<(&'static str, u64)>,
}

/// Where in an export a check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportPart {
    /// The framing or the SRS identity.
    Header,
    /// The entry at this index.
    Entry(u64),
    /// The head at this position in the export's list.
    Head(usize),
}

/// An export that does not check out: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {error}", match .part {
    ExportPart::Header => "export".to_string(),
    ExportPart::Entry(i) => format!("entry {i}"),
    ExportPart::Head(i) => format!("head {i}"),
})]
pub struct ExportFailure {
    /// Where.
    pub part: ExportPart,
    /// Why (a stable code).
    pub error: Error,
}

impl AuditExport {
    /// Encodes: `SPHR 14 01 ‖ srs (66) ‖ u64 n ‖ n × lp(entry) ‖ u32 h ‖ h × lp(head)`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::object(Kind::AuditExport);
        w.raw(&self.srs.to_bytes()).u64(self.entries.len() as u64);
        for e in &self.entries {
            w.bytes(e)?;
        }
        let h = u32::try_from(self.heads.len()).map_err(|_| Error::TooLarge("heads"))?;
        w.u32(h);
        for head in &self.heads {
            w.bytes(head)?;
        }
        Ok(w.finish())
    }

    /// Decodes the framing only (entries and heads are checked by
    /// [`AuditExport::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditExport> {
        let mut r = Reader::object(bytes, Kind::AuditExport)?;
        let srs = PublicIdentity::from_bytes(r.take(66)?)?;
        let n = r.u64()?;
        // Each entry takes at least its 4-byte prefix: an announced count
        // the bytes cannot hold is refused before anything is allocated.
        if n > (r.remaining() / 4) as u64 {
            return Err(malformed("audit export", "truncated"));
        }
        let entries = (0..n)
            .map(|_| r.bytes(1024).map(<[u8]>::to_vec))
            .collect::<Result<Vec<_>>>()?;
        let h = r.u32()?;
        if h > MAX_EXPORT_HEADS {
            return Err(malformed("audit export", "too many heads"));
        }
        let heads = (0..h)
            .map(|_| r.bytes(1024).map(<[u8]>::to_vec))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(AuditExport {
            srs,
            entries,
            heads,
        })
    }

    /// Checks the export from its first entry to its largest head, against
    /// `pinned` (the SRS key the auditor trusts; `None`: the embedded one,
    /// whose fingerprint the auditor must then compare out of band):
    /// every entry decodes and follows its record's previous entry (`chain_broken`);
    /// every head verifies under the key; every head's
    /// root is the root of that many entries (so every pair of heads is
    /// consistent, and a head of the same size with another root is caught);
    /// and some head covers every entry (entries past the largest head are
    /// signed by nothing). The first failure is returned with its place.
    pub fn verify(
        &self,
        pinned: Option<&PublicIdentity>,
    ) -> core::result::Result<VerifiedExport, ExportFailure> {
        let at = |part: ExportPart| move |error: Error| ExportFailure { part, error };
        let srs = match pinned {
            Some(p) if p != &self.srs => {
                return Err(at(ExportPart::Header)(Error::BindingMismatch(
                    "the export is another SRS's log",
                )))
            }
            _ => &self.srs,
        };
        let mut tree = merkle::Tree::default();
        let mut chains = Chains::default();
        let mut counts = [0u64; 8];
        for (i, e) in self.entries.iter().enumerate() {
            let entry = AuditEntry::from_bytes(e).map_err(at(ExportPart::Entry(i as u64)))?;
            let leaf = merkle::leaf_hash(e);
            chains
                .push(&entry, leaf)
                .map_err(at(ExportPart::Entry(i as u64)))?;
            counts[entry.decision as usize] += 1;
            tree.push(leaf);
        }
        let mut heads = Vec::with_capacity(self.heads.len());
        for (i, h) in self.heads.iter().enumerate() {
            let head = SignedTreeHead::from_bytes(h, srs).map_err(at(ExportPart::Head(i)))?;
            if head.tree_size > tree.size() {
                return Err(at(ExportPart::Head(i))(Error::Stale {
                    found: tree.size(),
                    known: head.tree_size,
                }));
            }
            if tree
                .root_at(head.tree_size)
                .map_err(at(ExportPart::Head(i)))?
                != head.root
            {
                return Err(at(ExportPart::Head(i))(Error::BadProof));
            }
            heads.push(head);
        }
        order::sort_by_key(&mut heads, |h| order::key([&order::ascending(h.tree_size)]));
        if heads.last().map(|h| h.tree_size) != Some(tree.size()) {
            return Err(at(ExportPart::Header)(malformed(
                "audit export",
                "no signed head covers every entry",
            )));
        }
        let decisions = (0u8..8)
            .filter_map(|d| Decision::from_u8(d).map(|d| (d.code(), counts[d as usize])))
            .collect();
        Ok(VerifiedExport {
            entries: tree.size(),
            heads,
            decisions,
        })
    }
}
