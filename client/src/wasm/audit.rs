//! The SRS's audit log, as its owner reads it: entries decoded, and the
//! owner's checks of a listing ([`AuditListingCheck`], the core's
//! `audit_check` flow).

use serde::Serialize;
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::{hex32, to_js, to_u64, PublicIdentity};
use crate::audit::{AuditEntry, InclusionReceipt, ReceiptBundle, MAX_BUNDLE};
use crate::audit_check::{AuditCheck, AuditMark, ListingCheck};
use crate::envelope::Envelope;
use crate::error::Error;
use crate::merkle::Hash;
use crate::primitives::os_rng;
use crate::record::RecordId;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    timestamp: f64,
    grant_id: String,
    grantee_id: String,
    record_id: String,
    section_id: String,
    version: f64,
    request: String,
    decision: &'static str,
    /// `ordinary`, or `BTG` for emergency access (HL7 PurposeOfUse).
    purpose: &'static str,
}

fn entry_view(e: &AuditEntry) -> EntryView {
    EntryView {
        timestamp: e.timestamp as f64,
        grant_id: hex::encode(e.grant_id),
        grantee_id: e.grantee.to_hex(),
        record_id: e.record.to_hex(),
        section_id: e.section.to_hex(),
        version: e.version as f64,
        request: hex::encode(e.request),
        decision: e.decision.code(),
        purpose: e.purpose.code(),
    }
}

/// Decodes one audit log entry: `{timestamp, grantId, granteeId, recordId,
/// sectionId, version, request, decision, purpose}` (`request` is the hash
/// of the request decided on; `decision` is `allowed` or the refusal code;
/// `purpose` is `BTG` for emergency access, else `ordinary`).
/// Decoding is not verifying: [`AuditListingCheck`] checks a listing.
#[wasm_bindgen(js_name = describeAuditEntry)]
pub fn describe_audit_entry(entry: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&entry_view(&AuditEntry::from_bytes(entry)?))
}

fn hashes(path: &[u8]) -> Result<Vec<Hash>, JsValue> {
    if !path.len().is_multiple_of(32) || path.len() > 64 * 32 {
        return Err(super::arg(
            "an audit path is at most 64 hashes of 32 bytes, concatenated",
        ));
    }
    Ok(path
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

enum Step {
    Head(AuditCheck),
    Listing(ListingCheck),
    Done,
}

/// The owner's check of one audit listing, in the order the steps must run:
/// `new` (the listing's signed head against the kept one: a smaller head is
/// `stale`, the same size with another root `audit_fork`);
/// `consistencyNeeded()` → `[first, second]` to fetch, then
/// `acceptConsistency(path, treeHead)` (`audit_fork` if it does not link the
/// heads); `verifiedHead()` → the head's bytes to keep; `addEntry` per listed
/// entry (`bad_proof` for an entry not in the verified tree,
/// `binding_mismatch` for another record's); `finish(mark)` → the entries
/// and the record's mark to keep (`audit_incomplete` if an entry the last
/// verified listing showed is missing). Out of order: `invalid_state`.
#[wasm_bindgen]
pub struct AuditListingCheck {
    step: Step,
    record: RecordId,
}

/// Seals the receipts a reader got about `recordId` (each from
/// `SectionRead.receipts()`, verified again here under the pinned SRS) to
/// the record's owner, as mail: the bytes to post. 1 to 32 receipts.
#[wasm_bindgen(js_name = sealReceipts)]
pub fn seal_receipts(
    owner: &PublicIdentity,
    srs: &PublicIdentity,
    record_id: &str,
    receipts: Vec<js_sys::Uint8Array>,
) -> Result<Vec<u8>, JsValue> {
    if receipts.is_empty() || receipts.len() > MAX_BUNDLE {
        return Err(super::arg("a bundle holds 1 to 32 receipts"));
    }
    let bundle = ReceiptBundle {
        record: RecordId(hex32(record_id, "recordId")?),
        receipts: receipts
            .iter()
            .map(|r| InclusionReceipt::from_bytes(&r.to_vec(), &srs.0))
            .collect::<crate::Result<_>>()?,
    };
    let plain = zeroize::Zeroizing::new(bundle.to_bytes()?);
    Ok(Envelope::seal_mail(&owner.0.encryption, &plain, &mut os_rng())?.to_bytes())
}

/// The id of mail at the relay: the SHA-256 of its sealed bytes (what the
/// `sendMail` token's subject names after the recipient).
#[wasm_bindgen(js_name = mailId)]
pub fn mail_id(sealed: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(sealed).to_vec()
}

/// Receipts a reader forwarded, opened from mail: hand them to the audit
/// check of their record (`AuditListingCheck.addReceipts`), which checks
/// under the pinned SRS those its listing does not hold.
#[wasm_bindgen]
pub struct ReceiptMail {
    bundle: ReceiptBundle,
    srs: crate::identity::PublicIdentity,
}

#[wasm_bindgen]
impl ReceiptMail {
    /// Opens mail sealed to `me` that holds a receipt bundle
    /// (`decryption_failed` for mail to someone else or damaged;
    /// `wrong_kind` for mail of another kind; `malformed`,
    /// `binding_mismatch` for a bundle that does not decode). The receipts
    /// are claims until the audit check needs them: one its listing holds
    /// costs nothing, any other is checked under `srs` (a forged one is
    /// ignored).
    pub fn open(
        me: &super::Identity,
        srs: &PublicIdentity,
        mail: &[u8],
    ) -> Result<ReceiptMail, JsValue> {
        let plain = Envelope::from_bytes(mail)?.open_mail(&me.0)?;
        Ok(ReceiptMail {
            bundle: ReceiptBundle::claimed(&plain)?,
            srs: srs.0.clone(),
        })
    }
    /// The record the receipts are about.
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.bundle.record.to_hex()
    }
    /// How many receipts.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> u32 {
        self.bundle.receipts.len() as u32
    }
}

#[wasm_bindgen]
impl AuditListingCheck {
    /// Starts checking a listing of `recordId` whose signed tree head is
    /// `treeHead`, against the pinned SRS and the head this owner kept from
    /// its last check (`undefined` the first time).
    #[wasm_bindgen(constructor)]
    pub fn new(
        srs: &PublicIdentity,
        record_id: &str,
        tree_head: &[u8],
        kept: Option<Vec<u8>>,
    ) -> Result<AuditListingCheck, JsValue> {
        let record = RecordId(hex32(record_id, "recordId")?);
        let check = AuditCheck::new(&srs.0, tree_head, kept.as_deref())?;
        Ok(AuditListingCheck {
            step: Step::Head(check),
            record,
        })
    }

    /// Fails with `stale` unless the listing's head was signed within ten
    /// minutes of `now` (ms, the owner's clock): a listing replayed by
    /// whoever forwards it is refused even at the kept head's size.
    #[wasm_bindgen(js_name = checkFresh)]
    pub fn check_fresh(&self, now: f64) -> Result<(), JsValue> {
        match &self.step {
            Step::Head(c) => Ok(c.check_fresh(to_u64(now, "now")?, crate::owner::HEAD_MAX_AGE_MS)?),
            _ => Err(Error::InvalidState("the head is already verified").into()),
        }
    }

    /// `[first, second]` of the consistency proof to fetch, or `undefined`.
    #[wasm_bindgen(js_name = consistencyNeeded)]
    pub fn consistency_needed(&self) -> Result<JsValue, JsValue> {
        match &self.step {
            Step::Head(c) => match c.consistency_needed() {
                Some((a, b)) => to_js(&[a as f64, b as f64]),
                None => Ok(JsValue::UNDEFINED),
            },
            _ => Ok(JsValue::UNDEFINED),
        }
    }

    /// Checks the consistency proof (`path`: its hashes concatenated) and
    /// the signed head it came with.
    #[wasm_bindgen(js_name = acceptConsistency)]
    pub fn accept_consistency(&mut self, path: &[u8], tree_head: &[u8]) -> Result<(), JsValue> {
        let path = hashes(path)?;
        match &mut self.step {
            Step::Head(c) => Ok(c.accept_consistency(&path, tree_head)?),
            _ => Err(Error::InvalidState("the head is already verified").into()),
        }
    }

    /// The verified head's bytes (keep them for the next check); entries
    /// may be added from now on.
    #[wasm_bindgen(js_name = verifiedHead)]
    pub fn verified_head(&mut self) -> Result<Vec<u8>, JsValue> {
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::Head(c) => {
                let head = c.verified()?;
                let bytes = head.head().as_bytes().to_vec();
                self.step = Step::Listing(head.listing(self.record));
                Ok(bytes)
            }
            other => {
                self.step = other;
                Err(Error::InvalidState("the head is already verified").into())
            }
        }
    }

    /// Names the owner's grants of the record before the entries are added
    /// (from their owner-signed statements): `emergency` and `ordinary`
    /// grant ids (hex). An entry about an emergency grant must be filed as
    /// emergency access (`BTG`, format 3), one about an ordinary grant must
    /// not (`binding_mismatch` at `addEntry`).
    #[wasm_bindgen(js_name = grantPurposes)]
    pub fn grant_purposes(
        &mut self,
        emergency: Vec<String>,
        ordinary: Vec<String>,
    ) -> Result<(), JsValue> {
        let id = |h: &String| {
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| super::arg("grant id is 16 bytes of hex"))
        };
        let mut grants = Vec::new();
        for g in &emergency {
            grants.push((id(g)?, true));
        }
        for g in &ordinary {
            grants.push((id(g)?, false));
        }
        match &mut self.step {
            Step::Listing(l) => {
                l.grants(grants);
                Ok(())
            }
            _ => Err(Error::InvalidState("verify the head before naming grants").into()),
        }
    }

    /// Checks one listed entry and its audit path (hashes concatenated).
    #[wasm_bindgen(js_name = addEntry)]
    pub fn add_entry(&mut self, index: f64, entry: &[u8], path: &[u8]) -> Result<(), JsValue> {
        let index = to_u64(index, "index")?;
        let path = hashes(path)?;
        match &mut self.step {
            Step::Listing(l) => Ok(l.add(index, entry, &path)?),
            _ => Err(Error::InvalidState("verify the head before adding entries").into()),
        }
    }

    /// Adds receipts readers forwarded about this record (opened from mail
    /// read *before* the listing was fetched): each must be in the listing
    /// (`audit_incomplete` at `finish`), unless it is newer than its head
    /// (`stale`). Another record's: `binding_mismatch`.
    #[wasm_bindgen(js_name = addReceipts)]
    pub fn add_receipts(&mut self, mail: &ReceiptMail) -> Result<(), JsValue> {
        match &mut self.step {
            Step::Listing(l) => {
                for r in &mail.bundle.receipts {
                    l.add_claimed_receipt(r.clone(), &mail.srs)?;
                }
                Ok(())
            }
            _ => Err(Error::InvalidState("verify the head before adding receipts").into()),
        }
    }

    /// Ends the check against the record's kept mark (`undefined` the first
    /// time): `{entries: [{index, …entry}], treeSize, head, mark}`, with
    /// `head` and `mark` the bytes to keep.
    pub fn finish(&mut self, mark: Option<Vec<u8>>) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            index: f64,
            #[serde(flatten)]
            entry: EntryView,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out {
            entries: Vec<Row>,
            tree_size: f64,
            head: ByteBuf,
            mark: ByteBuf,
            receipts: f64,
        }
        let kept = mark.as_deref().map(AuditMark::from_bytes).transpose()?;
        let Step::Listing(l) = std::mem::replace(&mut self.step, Step::Done) else {
            return Err(Error::InvalidState("verify the head before finishing").into());
        };
        let v = l.finish(kept.as_ref())?;
        to_js(&Out {
            entries: v
                .entries
                .iter()
                .map(|(i, e)| Row {
                    index: *i as f64,
                    entry: entry_view(e),
                })
                .collect(),
            tree_size: v.head.head().tree_size as f64,
            receipts: v.receipts as f64,
            head: ByteBuf::from(v.head.head().as_bytes().to_vec()),
            mark: ByteBuf::from(v.mark.to_bytes()),
        })
    }
}
