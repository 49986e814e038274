//! The owner's audit check, written once: before a listing of a record's
//! audit entries is shown, the SRS's signed tree head must extend the last
//! one this owner verified (an RFC 9162 consistency proof between them),
//! every listed entry must be in the verified tree (an inclusion proof
//! each), the listing must be the record's whole chain of entries (each
//! entry links to the one before it about the same record), every receipt a
//! reader forwarded must be in it, and the entries an earlier verified
//! listing showed must all still be there ([`AuditMark`]).
//!
//! A driver runs it as: [`AuditCheck::new`] with the listing's head and the
//! kept head; if [`AuditCheck::consistency_needed`] names two sizes, fetch
//! that proof and pass it to [`AuditCheck::accept_consistency`];
//! [`AuditCheck::verified`] gives the [`VerifiedTreeHead`] to keep; then
//! [`VerifiedTreeHead::listing`], [`ListingCheck::add`] per entry,
//! [`ListingCheck::add_receipt`] per forwarded receipt (read from the mail
//! *before* the listing was asked for) and [`ListingCheck::finish`] with the
//! record's kept mark.
//!
//! What this catches and what it cannot: `docs/protocol.md`, "Audit log",
//! the owner's checks.

use crate::audit::{AuditEntry, InclusionReceipt, PurposeOfUse, SignedTreeHead};
use crate::error::{malformed, Error, Result};
use crate::grant::GrantId;
use crate::identity::PublicIdentity;
use crate::merkle::{self, Hash};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{hash, labels};
use crate::record::RecordId;

fn fork(kept: &SignedTreeHead, served: &SignedTreeHead) -> Error {
    Error::AuditFork {
        kept: Box::new(kept.clone()),
        served: Box::new(served.clone()),
    }
}

/// One step of the check: the served head against the kept one.
#[derive(Debug)]
pub struct AuditCheck {
    kept: Option<SignedTreeHead>,
    served: SignedTreeHead,
    srs: PublicIdentity,
    /// Whether a consistency proof from `kept` to `served` is still owed.
    owed: bool,
}

impl AuditCheck {
    /// Verifies the served head (and the kept one, if any) against the pinned
    /// SRS key and compares them:
    /// a smaller served head → `stale {found: served size, known: kept size}`;
    /// the same size with another root → `audit_fork`.
    pub fn new(srs: &PublicIdentity, served: &[u8], kept: Option<&[u8]>) -> Result<AuditCheck> {
        let served = SignedTreeHead::from_bytes(served, srs)?;
        let kept = kept
            .map(|k| SignedTreeHead::from_bytes(k, srs))
            .transpose()?;
        let mut owed = false;
        if let Some(k) = &kept {
            if served.tree_size < k.tree_size {
                return Err(Error::Stale {
                    found: served.tree_size,
                    known: k.tree_size,
                });
            }
            if served.tree_size == k.tree_size && served.root != k.root {
                return Err(fork(k, &served));
            }
            owed = k.tree_size > 0 && served.tree_size > k.tree_size;
        }
        Ok(AuditCheck {
            kept,
            served,
            srs: srs.clone(),
            owed,
        })
    }

    /// Fails with `stale {found: head time, known: now}` unless the served
    /// head was signed within `max_age_ms` of `now` (both ms): a listing
    /// replayed by whoever forwards it (the relay, in front of the SRS) is
    /// refused even when its size equals the kept head's.
    pub fn check_fresh(&self, now: u64, max_age_ms: u64) -> Result<()> {
        if self.served.timestamp.abs_diff(now) > max_age_ms {
            return Err(Error::Stale {
                found: self.served.timestamp,
                known: now,
            });
        }
        Ok(())
    }

    /// `(first, second)` of the consistency proof to fetch, if one is owed
    /// (`GET /srs/v1/audit/consistency/{first}/{second}`).
    pub fn consistency_needed(&self) -> Option<(u64, u64)> {
        match (&self.kept, self.owed) {
            (Some(k), true) => Some((k.tree_size, self.served.tree_size)),
            _ => None,
        }
    }

    /// Checks the consistency proof and the head it came with: that head
    /// must be the served one (another root at the same size is a fork
    /// between the two the SRS served), and the path must link the kept
    /// head to it (else a fork between the kept and the served head).
    pub fn accept_consistency(&mut self, path: &[Hash], proof_head: &[u8]) -> Result<()> {
        let Some(kept) = self.kept.as_ref().filter(|_| self.owed) else {
            return Err(Error::InvalidState("no consistency proof is owed"));
        };
        let proof_head = SignedTreeHead::from_bytes(proof_head, &self.srs)?;
        if proof_head.tree_size != self.served.tree_size {
            return Err(Error::BindingMismatch(
                "the consistency proof is for another tree size",
            ));
        }
        if proof_head.root != self.served.root {
            return Err(fork(&self.served, &proof_head));
        }
        kept.verify_extension(&self.served, path)
            .map_err(|_| fork(kept, &self.served))?;
        self.owed = false;
        Ok(())
    }

    /// The served head, once it is known to extend the kept one (on first
    /// use, with nothing kept, it is taken as it is).
    pub fn verified(self) -> Result<VerifiedTreeHead> {
        if self.owed {
            return Err(Error::InvalidState("the consistency proof was not checked"));
        }
        Ok(VerifiedTreeHead(self.served))
    }
}

/// A signed tree head that extends every head this owner verified before:
/// the one to keep (its bytes) for the next check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTreeHead(SignedTreeHead);

impl VerifiedTreeHead {
    /// The signed head.
    pub fn head(&self) -> &SignedTreeHead {
        &self.0
    }

    /// Starts checking a listing of `record`'s entries under this head.
    pub fn listing(&self, record: RecordId) -> ListingCheck {
        ListingCheck {
            head: self.0.clone(),
            record,
            entries: Vec::new(),
            leaves: Vec::new(),
            receipts: Vec::new(),
            grants: Vec::new(),
        }
    }
}

/// A listing being checked, entry by entry.
#[derive(Debug)]
pub struct ListingCheck {
    head: SignedTreeHead,
    record: RecordId,
    entries: Vec<(u64, AuditEntry)>,
    leaves: Vec<(u64, Hash)>,
    /// Forwarded receipts, with the SRS key to check a claimed one against.
    receipts: Vec<(InclusionReceipt, Option<PublicIdentity>)>,
    /// The owner's grants of the record: id, and whether it is an
    /// emergency grant ([`ListingCheck::grants`]).
    grants: Vec<(GrantId, bool)>,
}

impl ListingCheck {
    /// Checks one listed entry: indices strictly increasing (`malformed`),
    /// an entry about this record (`binding_mismatch`), in the verified
    /// tree at `index` by the audit `path` (`bad_proof`), and next in the
    /// record's chain: the listing is the whole chain from the record's
    /// first entry, so an entry whose link counts more entries before it
    /// than were listed shows one was left out (`audit_incomplete`), and one
    /// linked to another predecessor shows a log that broke the chain
    /// (`chain_broken`). Entries written before chains (format 1) carry no
    /// link; they may only come first, and the first linked entry counts
    /// and names them.
    ///
    /// With the owner's grants known ([`ListingCheck::grants`]), an entry
    /// about an emergency grant must carry purpose `BTG` (format 3) and an
    /// entry about any other grant must not (`binding_mismatch`): the SRS
    /// filing emergency reads as ordinary ones, or the reverse, is a finding.
    pub fn add(&mut self, index: u64, entry: &[u8], path: &[Hash]) -> Result<()> {
        if self.leaves.last().is_some_and(|&(last, _)| index <= last) {
            return Err(malformed("audit listing", "indices not increasing"));
        }
        let decoded = AuditEntry::from_bytes(entry)?;
        if decoded.record != self.record {
            return Err(Error::BindingMismatch(
                "the audit listing holds another record's entry",
            ));
        }
        if let Some(&(_, emergency)) = self.grants.iter().find(|(g, _)| *g == decoded.grant_id) {
            let btg = decoded.purpose == PurposeOfUse::Emergency;
            if emergency && !btg {
                return Err(Error::BindingMismatch(
                    "an answer on an emergency grant is not filed as emergency access (BTG)",
                ));
            }
            if !emergency && btg {
                return Err(Error::BindingMismatch(
                    "an answer on an ordinary grant is filed as emergency access (BTG)",
                ));
            }
        }
        let leaf = merkle::leaf_hash(entry);
        merkle::verify_inclusion(&leaf, index, self.head.tree_size, path, &self.head.root)?;
        let listed = self.leaves.len() as u64;
        let linked_before = self.entries.last().is_some_and(|(_, e)| e.link.is_some());
        match decoded.link {
            Some(link) if link.seq > listed => {
                return Err(Error::AuditIncomplete {
                    listed,
                    known: link.seq,
                })
            }
            Some(link)
                if link.seq < listed
                    || link.prev != self.leaves.last().map_or([0; 32], |l| l.1) =>
            {
                return Err(Error::ChainBroken(
                    "two audit entries about this record claim the same place in its chain",
                ))
            }
            None if linked_before => {
                return Err(Error::ChainBroken(
                    "an unlinked audit entry follows a linked one",
                ))
            }
            _ => {}
        }
        self.leaves.push((index, leaf));
        self.entries.push((index, decoded));
        Ok(())
    }

    /// Names the owner's grants of the record (from its owner-signed
    /// statements: id, and whether it carries an emergency wait), before
    /// the entries are added: each entry's purpose is checked against its
    /// grant's kind. Grants not named are not checked.
    pub fn grants(&mut self, grants: impl IntoIterator<Item = (GrantId, bool)>) {
        self.grants.extend(grants);
    }

    /// Takes a receipt a reader forwarded (decoded and verified under the
    /// pinned SRS key, [`crate::audit::ReceiptBundle::from_bytes`]): at
    /// [`ListingCheck::finish`], its entry must be in this listing
    /// (`audit_incomplete`: the SRS answered a read it hid from the owner),
    /// unless its head is newer than the listing's (`stale`: the owner read
    /// its mail before it asked for the listing, so an honest SRS's listing
    /// covers every receipt in it). A receipt about another record is
    /// `binding_mismatch`.
    pub fn add_receipt(&mut self, receipt: InclusionReceipt) -> Result<()> {
        self.take_receipt(receipt, None)
    }

    /// Takes a forwarded receipt as a claim (from
    /// [`crate::audit::ReceiptBundle::claimed`]): one the listing holds needs
    /// no check at all; for any other, its head's signature under `srs` and
    /// its path are checked at [`ListingCheck::finish`], and a claim that
    /// fails them is ignored (anyone may post mail: it is no evidence of
    /// anything), while one that passes counts as in [`ListingCheck::add_receipt`].
    pub fn add_claimed_receipt(
        &mut self,
        receipt: InclusionReceipt,
        srs: &PublicIdentity,
    ) -> Result<()> {
        self.take_receipt(receipt, Some(srs.clone()))
    }

    fn take_receipt(
        &mut self,
        receipt: InclusionReceipt,
        check: Option<PublicIdentity>,
    ) -> Result<()> {
        if receipt.entry.record != self.record {
            return Err(Error::BindingMismatch(
                "the forwarded receipt is about another record",
            ));
        }
        self.receipts.push((receipt, check));
        Ok(())
    }

    /// Compares the listing with the record's mark from the last verified
    /// listing: below the mark's tree size the entries must be exactly those
    /// it counted (`audit_incomplete` if any is missing, or any appears
    /// that it did not show). Returns the entries and the new mark to keep.
    pub fn finish(self, kept: Option<&AuditMark>) -> Result<VerifiedListing> {
        let mut receipts = 0u64;
        for (receipt, check) in &self.receipts {
            let newer = receipt.head.tree_size > self.head.tree_size;
            let held = self
                .leaves
                .binary_search(&(receipt.index, receipt.entry.leaf_hash()))
                .is_ok();
            // A head of the listing's size with another root proves a split
            // view, if the SRS signed it: worth a signature check.
            let split = receipt.head.tree_size == self.head.tree_size
                && receipt.head.root != self.head.root;
            if held && !newer && !split {
                receipts += 1;
                continue;
            }
            // A claim counts only once the SRS's signature and the path hold.
            if check
                .as_ref()
                .is_some_and(|srs| receipt.verify_under(srs).is_err())
            {
                continue;
            }
            if split {
                return Err(fork(&self.head, &receipt.head));
            }
            if newer {
                return Err(Error::Stale {
                    found: self.head.tree_size,
                    known: receipt.head.tree_size,
                });
            }
            let listed = self.leaves.len() as u64;
            return Err(Error::AuditIncomplete {
                listed,
                known: receipt
                    .entry
                    .link
                    .map_or(listed, |l| l.seq)
                    .max(listed)
                    .saturating_add(1),
            });
        }
        if let Some(mark) = kept {
            if mark.record != self.record {
                return Err(Error::BindingMismatch("the audit mark is another record's"));
            }
            if mark.tree_size > self.head.tree_size {
                return Err(Error::Stale {
                    found: self.head.tree_size,
                    known: mark.tree_size,
                });
            }
            let below: Vec<(u64, Hash)> = self
                .leaves
                .iter()
                .copied()
                .filter(|&(i, _)| i < mark.tree_size)
                .collect();
            if below.len() as u64 != mark.count || listing_digest(&below) != mark.digest {
                return Err(Error::AuditIncomplete {
                    listed: below.len() as u64,
                    known: mark.count,
                });
            }
        }
        let mark = AuditMark {
            record: self.record,
            tree_size: self.head.tree_size,
            count: self.leaves.len() as u64,
            digest: listing_digest(&self.leaves),
        };
        Ok(VerifiedListing {
            entries: self.entries,
            mark,
            head: VerifiedTreeHead(self.head),
            receipts,
        })
    }
}

/// `H("SeSPHR-v1/audit-listing", u64(index) ‖ leaf, …)` over a listing's
/// entries in order.
fn listing_digest(leaves: &[(u64, Hash)]) -> Hash {
    let fields: Vec<[u8; 40]> = leaves
        .iter()
        .map(|(i, leaf)| {
            let mut f = [0u8; 40];
            f[..8].copy_from_slice(&i.to_be_bytes());
            f[8..].copy_from_slice(leaf);
            f
        })
        .collect();
    let refs: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
    hash(labels::AUDIT_LISTING, &refs)
}

/// A listing whose every entry is in the verified tree, about the record,
/// and consistent with the mark kept before.
#[derive(Debug)]
pub struct VerifiedListing {
    /// `(index, entry)` in log order.
    pub entries: Vec<(u64, AuditEntry)>,
    /// The mark to keep for the record's next listing.
    pub mark: AuditMark,
    /// The head the entries were checked under.
    pub head: VerifiedTreeHead,
    /// Forwarded receipts that the listing holds (claims that failed their
    /// check are not counted).
    pub receipts: u64,
}

/// What the owner verified of a record's audit listing, kept locally (kind
/// `0x13`, 86 bytes): the tree size of that listing, how many entries about
/// the record it showed, and a digest of their indices and leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditMark {
    /// The record.
    pub record: RecordId,
    /// The tree size the listing was verified under.
    pub tree_size: u64,
    /// Entries about the record below that size.
    pub count: u64,
    /// `H("SeSPHR-v1/audit-listing", …)` of their `(index, leaf)` pairs.
    pub digest: Hash,
}

impl AuditMark {
    /// Encodes: `SPHR 13 01 ‖ record ‖ u64 tree_size ‖ u64 count ‖ digest`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::AuditMark);
        w.raw(&self.record.0)
            .u64(self.tree_size)
            .u64(self.count)
            .raw(&self.digest);
        w.finish()
    }

    /// Decodes (a count above the tree size is `malformed`).
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditMark> {
        let mut r = Reader::object(bytes, Kind::AuditMark)?;
        let m = AuditMark {
            record: RecordId(r.array()?),
            tree_size: r.u64()?,
            count: r.u64()?,
            digest: r.array()?,
        };
        r.finish()?;
        if m.count > m.tree_size {
            return Err(malformed("audit mark", "more entries than the tree holds"));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Decision, MemoryLog};
    use crate::identity::{Identity, PartyId};
    use crate::record::SectionId;

    fn entry(record: u8, at: u64) -> AuditEntry {
        AuditEntry {
            timestamp: at,
            grant_id: [7; 16],
            grantee: PartyId([8; 32]),
            record: RecordId([record; 32]),
            section: SectionId([9; 32]),
            version: 1,
            request: [at as u8; 32],
            decision: Decision::Allowed,
            link: None,
            purpose: crate::audit::PurposeOfUse::Ordinary,
        }
    }

    /// A log of `n` entries alternating between records 1 and 2, each
    /// linked by the log, and their receipts.
    fn linked_log(srs: &Identity, n: u64) -> (MemoryLog, Vec<InclusionReceipt>) {
        let mut log = MemoryLog::default();
        let receipts = (0..n)
            .map(|i| log.append(srs, entry(1 + (i % 2) as u8, i)).unwrap())
            .collect();
        (log, receipts)
    }

    /// The same, linked: the entries as the log holds them.
    fn log(srs: &Identity, n: u64) -> (MemoryLog, Vec<AuditEntry>) {
        let (log, receipts) = linked_log(srs, n);
        (log, receipts.into_iter().map(|r| r.entry).collect())
    }

    /// A log written before chains (format-1 entries, no links): what the
    /// marks alone protect.
    fn legacy_log(n: u64) -> (MemoryLog, Vec<AuditEntry>) {
        let entries: Vec<AuditEntry> = (0..n).map(|i| entry(1 + (i % 2) as u8, i)).collect();
        let bytes: Vec<Vec<u8>> = entries.iter().map(AuditEntry::to_bytes).collect();
        let log = MemoryLog::from_entries(bytes.iter().map(Vec::as_slice)).unwrap();
        (log, entries)
    }

    /// The listing of record 1 at `size`, checked under `head`.
    fn list(
        log: &MemoryLog,
        entries: &[AuditEntry],
        head: &VerifiedTreeHead,
        mark: Option<&AuditMark>,
    ) -> Result<VerifiedListing> {
        let size = head.head().tree_size;
        let mut check = head.listing(RecordId([1; 32]));
        for (i, e) in entries.iter().enumerate().take(size as usize) {
            if e.record == RecordId([1; 32]) {
                let path = log.inclusion_path(i as u64, size).unwrap();
                check.add(i as u64, &e.to_bytes(), &path)?;
            }
        }
        check.finish(mark)
    }

    fn checked(
        srs: &Identity,
        log: &MemoryLog,
        size: u64,
        kept: Option<&[u8]>,
    ) -> Result<VerifiedTreeHead> {
        let served = log.head_at(srs, size, 1).unwrap();
        let mut check = AuditCheck::new(srs.public(), served.as_bytes(), kept)?;
        if let Some((a, b)) = check.consistency_needed() {
            let (path, head) = log.consistency(srs, a, b, 2).unwrap();
            check.accept_consistency(&path, head.as_bytes())?;
        }
        check.verified()
    }

    #[test]
    fn an_honest_log_verifies_across_every_pair_of_views() {
        let srs = Identity::generate().unwrap();
        let (log, entries) = log(&srs, 13);
        for first in 0..=13 {
            let a = checked(&srs, &log, first, None).unwrap();
            let la = list(&log, &entries, &a, None).unwrap();
            assert_eq!(la.entries.len(), first.div_ceil(2) as usize);
            for second in first..=13 {
                let b = checked(&srs, &log, second, Some(a.head().as_bytes())).unwrap();
                let lb = list(&log, &entries, &b, Some(&la.mark)).unwrap();
                assert_eq!(lb.mark.tree_size, second);
                assert_eq!(AuditMark::from_bytes(&lb.mark.to_bytes()).unwrap(), lb.mark);
            }
        }
    }

    #[test]
    fn a_smaller_head_is_stale_and_another_root_is_a_fork_with_both_heads() {
        let srs = Identity::generate().unwrap();
        let (log, entries) = log(&srs, 8);
        let kept = checked(&srs, &log, 6, None).unwrap();
        let e = checked(&srs, &log, 5, Some(kept.head().as_bytes())).unwrap_err();
        assert_eq!(e, Error::Stale { found: 5, known: 6 });

        // The same log with entry 2 rewritten: a fork at every size above 2.
        let mut rewritten = entries.clone();
        rewritten[2].decision = Decision::Revoked;
        rewritten.iter_mut().for_each(|e| e.link = None);
        let mut other = MemoryLog::default();
        for e in &rewritten {
            other.append(&srs, e.clone()).unwrap();
        }
        let same_size = checked(&srs, &other, 6, Some(kept.head().as_bytes())).unwrap_err();
        let bigger = checked(&srs, &other, 8, Some(kept.head().as_bytes())).unwrap_err();
        for e in [same_size, bigger] {
            assert_eq!(e.code(), "audit_fork");
            let Error::AuditFork { kept: k, served } = e else {
                unreachable!()
            };
            assert_eq!(k.as_bytes(), kept.head().as_bytes());
            // The evidence verifies under the SRS key alone.
            SignedTreeHead::from_bytes(served.as_bytes(), srs.public()).unwrap();
            assert_ne!(k.root, other.head_at(&srs, k.tree_size, 0).unwrap().root);
            assert!(served.tree_size >= k.tree_size);
        }
        // A proof whose head is not the served one: a fork between the two served.
        let served = log.head_at(&srs, 8, 1).unwrap();
        let mut check = AuditCheck::new(
            srs.public(),
            served.as_bytes(),
            Some(kept.head().as_bytes()),
        )
        .unwrap();
        let (path, forked) = other.consistency(&srs, 6, 8, 2).unwrap();
        assert_eq!(
            check
                .accept_consistency(&path, forked.as_bytes())
                .unwrap_err()
                .code(),
            "audit_fork"
        );
        // Without the proof, nothing is verified.
        let check = AuditCheck::new(
            srs.public(),
            served.as_bytes(),
            Some(kept.head().as_bytes()),
        )
        .unwrap();
        assert_eq!(check.verified().unwrap_err().code(), "invalid_state");
        // A head by another key is not evidence of anything.
        let liar = Identity::generate().unwrap();
        let forged = SignedTreeHead::sign(&liar, 9, [0; 32], 0);
        assert_eq!(
            AuditCheck::new(
                srs.public(),
                forged.as_bytes(),
                Some(kept.head().as_bytes())
            )
            .unwrap_err(),
            Error::BadSignature
        );
    }

    #[test]
    fn a_rewritten_foreign_or_reordered_entry_is_refused() {
        let srs = Identity::generate().unwrap();
        let (log, entries) = legacy_log(9);
        let head = checked(&srs, &log, 9, None).unwrap();
        let path = |i| log.inclusion_path(i, 9).unwrap();
        let mut rewritten = entries[4].clone();
        rewritten.decision = Decision::Expired;
        let mut c = head.listing(RecordId([1; 32]));
        assert_eq!(
            c.add(4, &rewritten.to_bytes(), &path(4)).unwrap_err(),
            Error::BadProof
        );
        assert_eq!(
            c.add(5, &entries[5].to_bytes(), &path(5))
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert_eq!(
            c.add(4, &entries[4].to_bytes(), &path(2)).unwrap_err(),
            Error::BadProof
        );
        c.add(4, &entries[4].to_bytes(), &path(4)).unwrap();
        assert_eq!(
            c.add(2, &entries[2].to_bytes(), &path(2))
                .unwrap_err()
                .code(),
            "malformed"
        );
        assert_eq!(
            c.add(4, &entries[4].to_bytes(), &path(4))
                .unwrap_err()
                .code(),
            "malformed"
        );
        // An index past the head.
        assert_eq!(
            c.add(9, &entries[4].to_bytes(), &path(4)).unwrap_err(),
            Error::BadProof
        );
    }

    #[test]
    fn an_entry_dropped_after_it_was_seen_or_hidden_before_is_incomplete() {
        // Unlinked entries: the marks alone (linked ones are caught sooner).
        let srs = Identity::generate().unwrap();
        let (log, entries) = legacy_log(10);
        let head = checked(&srs, &log, 7, None).unwrap();
        let seen = list(&log, &entries, &head, None).unwrap().mark;
        assert_eq!(seen.count, 4);
        let later = checked(&srs, &log, 10, Some(head.head().as_bytes())).unwrap();
        // Drop entry 2 (seen before), keep the head.
        let mut c = later.listing(RecordId([1; 32]));
        for i in [0u64, 4, 6, 8] {
            c.add(
                i,
                &entries[i as usize].to_bytes(),
                &log.inclusion_path(i, 10).unwrap(),
            )
            .unwrap();
        }
        assert_eq!(
            c.finish(Some(&seen)).unwrap_err(),
            Error::AuditIncomplete {
                listed: 3,
                known: 4
            }
        );
        // A listing that hid entry 2 the first time is caught when it appears.
        let mut c = head.listing(RecordId([1; 32]));
        for i in [0u64, 4, 6] {
            c.add(
                i,
                &entries[i as usize].to_bytes(),
                &log.inclusion_path(i, 7).unwrap(),
            )
            .unwrap();
        }
        let partial = c.finish(None).unwrap().mark;
        assert_eq!(
            list(&log, &entries, &later, Some(&partial)).unwrap_err(),
            Error::AuditIncomplete {
                listed: 4,
                known: 3
            }
        );
        // The honest later listing passes, and its mark is bound to the record.
        let ok = list(&log, &entries, &later, Some(&seen)).unwrap();
        let mut other = ok.mark.clone();
        other.record = RecordId([2; 32]);
        assert_eq!(
            list(&log, &entries, &later, Some(&other))
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        // A mark newer than the head is stale.
        assert_eq!(
            list(&log, &entries, &head, Some(&ok.mark)).unwrap_err(),
            Error::Stale {
                found: 7,
                known: 10
            }
        );
        let mut bad = ok.mark.to_bytes();
        bad[46..54].copy_from_slice(&11u64.to_be_bytes());
        assert_eq!(AuditMark::from_bytes(&bad).unwrap_err().code(), "malformed");
        assert_eq!(ok.mark.to_bytes().len(), 86);
    }

    /// Record 1's entries of `receipts` at `size`, but `skip`.
    fn listing_without(
        log: &MemoryLog,
        receipts: &[InclusionReceipt],
        head: &VerifiedTreeHead,
        skip: &[u64],
    ) -> Result<ListingCheck> {
        let size = head.head().tree_size;
        let mut c = head.listing(RecordId([1; 32]));
        for r in receipts.iter().take(size as usize) {
            if r.entry.record == RecordId([1; 32]) && !skip.contains(&r.index) {
                c.add(
                    r.index,
                    &r.entry.to_bytes(),
                    &log.inclusion_path(r.index, size).unwrap(),
                )?;
            }
        }
        Ok(c)
    }

    #[test]
    fn a_linked_listing_that_leaves_out_any_entry_but_the_last_is_incomplete() {
        let srs = Identity::generate().unwrap();
        let (log, receipts) = linked_log(&srs, 10);
        let head = checked(&srs, &log, 10, None).unwrap();
        // Record 1 holds entries 0, 2, 4, 6, 8: seqs 0 to 4.
        assert_eq!(receipts[8].entry.link.unwrap().seq, 4);
        assert_eq!(
            receipts[8].entry.link.unwrap().prev,
            receipts[6].entry.leaf_hash()
        );
        for (skip, listed, known) in [(0, 0, 1), (2, 1, 2), (4, 2, 3), (6, 3, 4)] {
            assert_eq!(
                listing_without(&log, &receipts, &head, &[skip]).unwrap_err(),
                Error::AuditIncomplete { listed, known },
                "entry {skip} left out"
            );
        }
        // The tail is what the chain cannot show: that takes a receipt.
        let tail = listing_without(&log, &receipts, &head, &[8]).unwrap();
        assert_eq!(tail.finish(None).unwrap().entries.len(), 4);
        let whole = listing_without(&log, &receipts, &head, &[]).unwrap();
        assert_eq!(whole.finish(None).unwrap().entries.len(), 5);
    }

    #[test]
    fn a_forwarded_receipt_the_listing_leaves_out_is_caught() {
        let srs = Identity::generate().unwrap();
        let (log, receipts) = linked_log(&srs, 10);
        let head = checked(&srs, &log, 10, None).unwrap();
        // The SRS hides the last read of record 1 (entry 8); its reader forwarded the receipt.
        let mut c = listing_without(&log, &receipts, &head, &[8]).unwrap();
        c.add_receipt(receipts[8].clone()).unwrap();
        assert_eq!(
            c.finish(None).unwrap_err(),
            Error::AuditIncomplete {
                listed: 4,
                known: 5
            }
        );
        // Receipts the listing holds pass; another record's is refused.
        let mut c = listing_without(&log, &receipts, &head, &[]).unwrap();
        for i in [0, 4, 8] {
            c.add_receipt(receipts[i].clone()).unwrap();
        }
        assert_eq!(
            c.add_receipt(receipts[3].clone()).unwrap_err().code(),
            "binding_mismatch"
        );
        assert_eq!(c.finish(None).unwrap().entries.len(), 5);
        // A listing older than a receipt's head: the SRS held back a newer log.
        let older = checked(&srs, &log, 7, None).unwrap();
        let mut c = listing_without(&log, &receipts, &older, &[]).unwrap();
        c.add_receipt(receipts[8].clone()).unwrap();
        assert_eq!(
            c.finish(None).unwrap_err(),
            Error::Stale { found: 7, known: 9 }
        );
        // A receipt of the same index with another entry (a forked log) is not in the listing.
        let mut forked = receipts[4].clone();
        forked.entry.decision = Decision::Revoked;
        let mut c = listing_without(&log, &receipts, &head, &[]).unwrap();
        c.add_receipt(forked).unwrap();
        assert_eq!(c.finish(None).unwrap_err().code(), "audit_incomplete");
    }

    #[test]
    fn legacy_entries_come_first_are_counted_and_may_not_follow_linked_ones() {
        let srs = Identity::generate().unwrap();
        let legacy: Vec<Vec<u8>> = (0..4).map(|i| entry(1, i).to_bytes()).collect();
        let mut log = MemoryLog::from_entries(legacy.iter().map(Vec::as_slice)).unwrap();
        let upgraded = log.append(&srs, entry(1, 4)).unwrap();
        let link = upgraded.entry.link.unwrap();
        assert_eq!(link.seq, 4);
        assert_eq!(link.prev, merkle::leaf_hash(&legacy[3]));
        let head = checked(&srs, &log, 5, None).unwrap();
        let all: Vec<(u64, Vec<u8>)> = legacy
            .iter()
            .cloned()
            .chain([upgraded.entry.to_bytes()])
            .enumerate()
            .map(|(i, b)| (i as u64, b))
            .collect();
        let run = |skip: Option<u64>, order: &[usize]| {
            let mut c = head.listing(RecordId([1; 32]));
            for &k in order {
                let (i, b) = &all[k];
                if Some(*i) != skip {
                    c.add(*i, b, &log.inclusion_path(*i, 5).unwrap())?;
                }
            }
            c.finish(None)
        };
        assert_eq!(run(None, &[0, 1, 2, 3, 4]).unwrap().entries.len(), 5);
        // A legacy entry left out is caught by the first linked one.
        assert_eq!(
            run(Some(1), &[0, 1, 2, 3, 4]).unwrap_err(),
            Error::AuditIncomplete {
                listed: 3,
                known: 4
            }
        );
        // Nor may a log hold an unlinked entry after a linked one.
        let mut after = legacy.clone();
        after.push(upgraded.entry.to_bytes());
        after.push(entry(1, 5).to_bytes());
        assert_eq!(
            MemoryLog::from_entries(after.iter().map(Vec::as_slice))
                .unwrap_err()
                .code(),
            "chain_broken"
        );
    }

    #[test]
    fn the_srs_links_a_batch_as_it_would_one_by_one_and_a_broken_store_is_refused() {
        let srs = Identity::generate().unwrap();
        let (mut log, entries) = log(&srs, 5);
        let mut batch: Vec<AuditEntry> = (5..11).map(|i| entry(1 + (i % 3) as u8, i)).collect();
        log.link(&mut batch);
        let (mut one_by_one, _) = self::log(&srs, 5);
        for e in &batch {
            let mut unlinked = e.clone();
            unlinked.link = None;
            assert_eq!(one_by_one.append(&srs, unlinked).unwrap().entry, *e);
        }
        for e in &batch {
            log.append(&srs, e.clone()).unwrap();
        }
        // An entry linked out of its place is refused, whoever appends it.
        let mut wrong = entry(1, 12);
        wrong.link = batch[0].link;
        assert_eq!(log.append(&srs, wrong).unwrap_err().code(), "chain_broken");
        // A store whose entries were reordered does not rebuild.
        let mut stored: Vec<Vec<u8>> = entries
            .iter()
            .chain(&batch)
            .map(AuditEntry::to_bytes)
            .collect();
        MemoryLog::from_entries(stored.iter().map(Vec::as_slice)).unwrap();
        stored.swap(0, 2);
        assert_eq!(
            MemoryLog::from_entries(stored.iter().map(Vec::as_slice))
                .unwrap_err()
                .code(),
            "chain_broken"
        );
        // Entries round-trip in both formats; a first entry with a previous hash is malformed.
        for e in entries.iter().chain([&entry(2, 3)]) {
            assert_eq!(AuditEntry::from_bytes(&e.to_bytes()).unwrap(), *e);
        }
        assert_eq!(entries[0].to_bytes().len(), 207);
        assert_eq!(entry(2, 3).to_bytes().len(), 167);
        let mut bad = entries[0].to_bytes();
        bad[206] = 1;
        assert_eq!(
            AuditEntry::from_bytes(&bad).unwrap_err().code(),
            "malformed"
        );
    }

    #[test]
    fn receipt_bundles_round_trip_and_hold_only_their_records_verified_receipts() {
        use crate::audit::ReceiptBundle;
        let srs = Identity::generate().unwrap();
        let (_, receipts) = linked_log(&srs, 6);
        let mine: Vec<InclusionReceipt> = receipts.iter().step_by(2).cloned().collect();
        let bundle = ReceiptBundle {
            record: RecordId([1; 32]),
            receipts: mine.clone(),
        };
        let bytes = bundle.to_bytes().unwrap();
        assert_eq!(
            ReceiptBundle::from_bytes(&bytes, srs.public()).unwrap(),
            bundle
        );
        // Under another SRS key, nothing verifies.
        let other = Identity::generate().unwrap();
        assert_eq!(
            ReceiptBundle::from_bytes(&bytes, other.public()).unwrap_err(),
            Error::BadSignature
        );
        // Another record's receipt, none, or too many are refused on both sides.
        let mut mixed = bundle.clone();
        mixed.receipts.push(receipts[1].clone());
        assert_eq!(mixed.to_bytes().unwrap_err().code(), "binding_mismatch");
        let mut forged = bytes.clone();
        forged[6..38].copy_from_slice(&[2; 32]);
        assert_eq!(
            ReceiptBundle::from_bytes(&forged, srs.public())
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        let empty = ReceiptBundle {
            record: RecordId([1; 32]),
            receipts: vec![],
        };
        assert_eq!(empty.to_bytes().unwrap_err().code(), "malformed");
        let mut zero = bytes[..39].to_vec();
        zero[38] = 0;
        assert_eq!(
            ReceiptBundle::from_bytes(&zero, srs.public())
                .unwrap_err()
                .code(),
            "malformed"
        );
        // An altered audit path is caught as the bundle is read.
        let mut tampered = bytes;
        let at = tampered.len() - 200;
        tampered[at] ^= 1;
        assert!(ReceiptBundle::from_bytes(&tampered, srs.public()).is_err());
    }

    #[test]
    fn a_claimed_receipt_costs_nothing_when_listed_and_counts_only_if_the_srs_signed_it() {
        use crate::audit::ReceiptBundle;
        let srs = Identity::generate().unwrap();
        let liar = Identity::generate().unwrap();
        let (log, receipts) = linked_log(&srs, 10);
        let head = checked(&srs, &log, 10, None).unwrap();
        let bundle = |r: &[InclusionReceipt]| {
            let bytes = ReceiptBundle {
                record: RecordId([1; 32]),
                receipts: r.to_vec(),
            }
            .to_bytes()
            .unwrap();
            ReceiptBundle::claimed(&bytes).unwrap().receipts
        };
        // A stranger's forgery (a head another key signed) of a read the
        // listing leaves out, and one "newer" than the listing: both ignored.
        let mut forged = receipts[8].clone();
        forged.head = SignedTreeHead::sign(&liar, 9, forged.head.root, 0);
        let mut newer = receipts[8].clone();
        newer.head = SignedTreeHead::sign(&liar, 99, [0; 32], 0);
        let mut c = listing_without(&log, &receipts, &head, &[8]).unwrap();
        for r in bundle(&[forged, newer]) {
            c.add_claimed_receipt(r, srs.public()).unwrap();
        }
        assert_eq!(c.finish(None).unwrap().entries.len(), 4);
        // The genuine one, as a claim, is checked and counts.
        let mut c = listing_without(&log, &receipts, &head, &[8]).unwrap();
        for r in bundle(&[receipts[0].clone(), receipts[8].clone()]) {
            c.add_claimed_receipt(r, srs.public()).unwrap();
        }
        assert_eq!(c.finish(None).unwrap_err().code(), "audit_incomplete");
        // A claim the listing holds passes with no check at all, even one
        // whose signature would fail (it shows nothing the listing does not).
        let mut held = receipts[4].clone();
        held.head = SignedTreeHead::sign(&liar, 5, held.head.root, 0);
        let mut c = listing_without(&log, &receipts, &head, &[]).unwrap();
        c.add_claimed_receipt(held, srs.public()).unwrap();
        assert_eq!(c.finish(None).unwrap().entries.len(), 5);
    }

    #[test]
    fn a_receipt_under_a_head_of_the_same_size_and_another_root_is_a_fork_and_old_heads_are_stale()
    {
        let srs = Identity::generate().unwrap();
        let (log, receipts) = linked_log(&srs, 10);
        let head = checked(&srs, &log, 10, None).unwrap();
        // A reader was shown another log of the same size (a split view).
        let mut split = receipts[8].clone();
        split.head = SignedTreeHead::sign(&srs, 10, [9; 32], 0);
        split.path = vec![];
        let mut c = listing_without(&log, &receipts, &head, &[]).unwrap();
        c.add_receipt(split.clone()).unwrap();
        assert_eq!(c.finish(None).unwrap_err().code(), "audit_fork");
        // As a claim its path fails under that root: ignored (no evidence).
        let mut c = listing_without(&log, &receipts, &head, &[]).unwrap();
        c.add_claimed_receipt(split, srs.public()).unwrap();
        let ok = c.finish(None).unwrap();
        assert_eq!(ok.receipts, 0, "an ignored claim is not counted");
        // Freshness: a served head signed long ago is a replay.
        let served = log.head_at(&srs, 10, 1_000).unwrap();
        let check = AuditCheck::new(srs.public(), served.as_bytes(), None).unwrap();
        check.check_fresh(1_000 + 60_000, 600_000).unwrap();
        assert_eq!(
            check.check_fresh(1_000 + 600_001, 600_000).unwrap_err(),
            Error::Stale {
                found: 1_000,
                known: 601_001
            }
        );
    }

    #[test]
    fn an_entry_whose_purpose_does_not_match_its_grant_is_a_finding() {
        use crate::audit::PurposeOfUse;
        let srs = Identity::generate().unwrap();
        // Two grants of record 1: [7; 16] (emergency) and [6; 16] (ordinary).
        let mut log = MemoryLog::default();
        let mut e1 = entry(1, 1);
        e1.purpose = PurposeOfUse::Emergency;
        let mut e2 = entry(1, 2);
        e2.grant_id = [6; 16];
        let entries: Vec<AuditEntry> = [e1, e2]
            .into_iter()
            .map(|e| log.append(&srs, e).unwrap().entry)
            .collect();
        let head = checked(&srs, &log, 2, None).unwrap();
        let run = |grants: &[(GrantId, bool)]| {
            let mut check = head.listing(RecordId([1; 32]));
            check.grants(grants.iter().copied());
            for (i, e) in entries.iter().enumerate() {
                let path = log.inclusion_path(i as u64, 2).unwrap();
                check.add(i as u64, &e.to_bytes(), &path)?;
            }
            check.finish(None)
        };
        // As the owner's grants say: BTG on the emergency grant only.
        assert_eq!(
            run(&[([7; 16], true), ([6; 16], false)])
                .unwrap()
                .entries
                .len(),
            2
        );
        assert_eq!(entries[0].to_bytes()[5], 3, "a BTG entry is format 3");
        // The emergency grant's answer as if it were ordinary, and an
        // ordinary grant's answer filed as BTG: both refused.
        assert_eq!(
            run(&[([7; 16], false)]).unwrap_err().code(),
            "binding_mismatch"
        );
        assert_eq!(
            run(&[([6; 16], true)]).unwrap_err().code(),
            "binding_mismatch"
        );
        // Grants the owner did not name are not judged.
        assert!(run(&[]).is_ok());
    }
}
