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

/// The audit tree in memory: every leaf hash (for consistency proofs) and the
/// frontier (for O(log n) appends, roots and receipts). The SRS keeps the
/// entries durably and rebuilds this at start.
#[derive(Debug, Default)]
pub struct MemoryLog {
    leaves: Vec<Hash>,
    frontier: merkle::Frontier,
}

impl MemoryLog {
    /// Rebuilds the tree from stored entries (encoded [`AuditEntry`] bytes).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> MemoryLog {
        let mut log = MemoryLog::default();
        for e in entries {
            let leaf = merkle::leaf_hash(e);
            log.leaves.push(leaf);
            log.frontier.push(leaf);
        }
        log
    }

    /// Appends an entry and returns its receipt under a freshly signed head.
    pub fn append(&mut self, srs: &Identity, entry: AuditEntry) -> Result<InclusionReceipt> {
        let index = self.leaves.len() as u64;
        let leaf = entry.leaf_hash();
        self.leaves.push(leaf);
        let path = self.frontier.push(leaf);
        let head = SignedTreeHead::sign(
            srs,
            self.frontier.size(),
            self.frontier.root(),
            entry.timestamp,
        );
        Ok(InclusionReceipt {
            index,
            path,
            entry,
            head,
        })
    }

    /// A signed head of the whole log.
    pub fn head(&self, srs: &Identity, timestamp: u64) -> SignedTreeHead {
        SignedTreeHead::sign(srs, self.frontier.size(), self.frontier.root(), timestamp)
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
        if first == 0 || first > second || second > self.leaves.len() as u64 {
            return Err(Error::BadProof);
        }
        let prefix = &self.leaves[..second as usize];
        let path = merkle::consistency_proof(prefix, first as usize)?;
        Ok((
            path,
            SignedTreeHead::sign(srs, second, merkle::root(prefix), timestamp),
        ))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }
    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }
}
