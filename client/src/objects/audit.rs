//! The SRS audit log: an RFC 9162 Merkle log of every re-encryption decision,
//! with SRS-signed tree heads and inclusion receipts.

use crate::error::{malformed, Error, Result};
use crate::grant::GrantId;
use crate::identity::{Identity, PartyId, PublicIdentity};
use crate::merkle::{self, Hash};
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
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
    }
}

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
}

impl AuditEntry {
    /// Encodes the entry (the Merkle leaf data).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::AuditEntry);
        w.u64(self.timestamp)
            .raw(&self.grant_id)
            .raw(&self.grantee.0)
            .raw(&self.record.0)
            .raw(&self.section.0)
            .u64(self.version)
            .raw(&self.request)
            .u8(self.decision as u8);
        w.finish()
    }
    /// Decodes.
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditEntry> {
        let mut r = Reader::object(bytes, Kind::AuditEntry)?;
        let e = AuditEntry {
            timestamp: r.u64()?,
            grant_id: r.array()?,
            grantee: PartyId(r.array()?),
            record: RecordId(r.array()?),
            section: SectionId(r.array()?),
            version: r.u64()?,
            request: r.array()?,
            decision: Decision::from_u8(r.u8()?)
                .ok_or_else(|| malformed("audit entry", "unknown decision"))?,
        };
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
        let index = r.u64()?;
        let entry = AuditEntry::from_bytes(r.bytes(1024)?)?;
        let n = r.u8()? as usize;
        if n > MAX_PATH {
            return Err(malformed("receipt", "audit path too long"));
        }
        let path = (0..n).map(|_| r.array()).collect::<Result<Vec<_>>>()?;
        let head = SignedTreeHead::from_bytes(r.bytes(1024)?, srs)?;
        let receipt = InclusionReceipt {
            index,
            entry,
            path,
            head,
        };
        receipt.verify()?;
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

/// The audit tree in memory: every complete subtree's hash
/// ([`merkle::Tree`]), for receipts, roots, inclusion proofs of past
/// entries and consistency proofs between past sizes. The SRS keeps the
/// entries durably and rebuilds this at start.
#[derive(Debug, Default)]
pub struct MemoryLog {
    tree: merkle::Tree,
}

impl MemoryLog {
    /// Rebuilds the tree from stored entries (encoded [`AuditEntry`] bytes).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> MemoryLog {
        let mut log = MemoryLog::default();
        for e in entries {
            log.tree.push(merkle::leaf_hash(e));
        }
        log
    }

    /// Appends an entry and returns its receipt under a freshly signed head.
    pub fn append(&mut self, srs: &Identity, entry: AuditEntry) -> Result<InclusionReceipt> {
        let index = self.tree.size();
        self.tree.push(entry.leaf_hash());
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
    /// every entry decodes; every head verifies under the key; every head's
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
        let mut counts = [0u64; 8];
        for (i, e) in self.entries.iter().enumerate() {
            let entry = AuditEntry::from_bytes(e).map_err(at(ExportPart::Entry(i as u64)))?;
            counts[entry.decision as usize] += 1;
            tree.push(merkle::leaf_hash(e));
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
        heads.sort_by_key(|h| h.tree_size);
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
