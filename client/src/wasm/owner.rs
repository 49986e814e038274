//! The owner's record state ([`OwnerRecord`]) and how it is rebuilt from
//! the servers' copies, checked against the SRS's head ([`RecordRestore`]).

use js_sys::{Object, Reflect};
use serde::Serialize;
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::grant::{grant_view, GrantView, Issued, JsTerms};
use super::manifest::{entry_js, freshness, JsEntry};
use super::{
    arg, from_js, hex16, section, to_js, to_u64, DataKey, Identity, PublicIdentity, SectionKey,
    SignedHead, VerifiedGrant, VerifiedManifest,
};
use crate::grant::VerifiedGrant as CoreGrant;
use crate::manifest::{SignedHead as CoreHead, VerifiedManifest as CoreManifest};
use crate::owner::OwnerRecord as CoreRecord;
use crate::policy::{Rotation, RotationReason};
use crate::primitives::os_rng;
use crate::record::SectionId;

/// One of the owner's records: its sections, epochs, live grants, the
/// manifest chain and how much of it the SRS witnessed. Holds no I/O:
/// publish what its methods return, then report back (`published`,
/// `witnessed`, `revoked`).
#[wasm_bindgen]
pub struct OwnerRecord(CoreRecord);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SectionView {
    section_id: String,
    epoch_id: Option<String>,
    entry: Option<JsEntry>,
    pending_rotation: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveGrant {
    #[serde(flatten)]
    view: GrantView,
    statement: ByteBuf,
}

fn reason(r: RotationReason) -> &'static str {
    match r {
        RotationReason::Revoked => "revoked",
        RotationReason::Expired => "expired",
        RotationReason::FromNowGrant => "fromNowGrant",
        RotationReason::Requested => "requested",
    }
}

fn reissued(rotation: Option<Rotation>) -> Vec<Issued> {
    rotation
        .into_iter()
        .flat_map(|r| r.reissued)
        .map(|g| Issued::from_core(&g))
        .collect()
}

/// Gathers what the servers hold of one record (the relay's manifests, the
/// SRS's grant list and head) and rebuilds the owner's state from it with
/// `build`, checking the relay's chain against the head exactly as a reader
/// does. Add the manifests in version order, from 1.
#[wasm_bindgen]
pub struct RecordRestore {
    index: u32,
    manifests: Vec<CoreManifest>,
    grants: Vec<(CoreGrant, bool)>,
    head: Option<CoreHead>,
    high_water: u64,
}

#[wasm_bindgen]
impl RecordRestore {
    /// An empty restore of the owner's `index`-th record.
    #[wasm_bindgen(constructor)]
    pub fn new(index: u32) -> RecordRestore {
        RecordRestore {
            index,
            manifests: Vec::new(),
            grants: Vec::new(),
            head: None,
            high_water: 0,
        }
    }
    /// The relay's manifest of the next version.
    #[wasm_bindgen(js_name = addManifest)]
    pub fn add_manifest(&mut self, manifest: &VerifiedManifest) {
        self.manifests.push(manifest.0.clone());
    }
    /// One row of the SRS's grant list.
    #[wasm_bindgen(js_name = addGrant)]
    pub fn add_grant(&mut self, grant: &VerifiedGrant, revoked: bool) {
        self.grants.push((grant.0.clone(), revoked));
    }
    /// The SRS's signed head of the record (leave unset if it has none).
    #[wasm_bindgen(js_name = setHead)]
    pub fn set_head(&mut self, head: &SignedHead) {
        self.head = Some(head.0.clone());
    }
    /// The highest version this owner saw the SRS witness (persisted).
    #[wasm_bindgen(js_name = setHighWater)]
    pub fn set_high_water(&mut self, high_water: f64) -> Result<(), JsValue> {
        self.high_water = to_u64(high_water, "highWater")?;
        Ok(())
    }
    /// Rebuilds the record at time `now`. A relay behind the SRS's head (or
    /// a head older than the high-water mark) is `stale`, and the message
    /// says which server is behind; another manifest at the head's version
    /// is `binding_mismatch`; versions past the head are kept as
    /// unwitnessed, to be pushed to the SRS.
    pub fn build(&self, owner: &Identity, now: f64) -> Result<OwnerRecord, JsValue> {
        let relay = self.manifests.last().map_or(0, CoreManifest::version);
        CoreRecord::restore(
            &owner.0,
            self.index,
            &self.manifests,
            &self.grants,
            self.head.as_ref(),
            self.high_water,
            to_u64(now, "now")?,
        )
        .map(OwnerRecord)
        .map_err(|e| {
            freshness(
                e,
                relay,
                self.head.as_ref().map(|h| h.version),
                self.high_water,
            )
        })
    }
}

#[wasm_bindgen]
impl OwnerRecord {
    /// The owner's `index`-th record, empty (indices start at 0).
    #[wasm_bindgen(constructor)]
    pub fn new(owner: &Identity, index: u32) -> OwnerRecord {
        OwnerRecord(CoreRecord::new(&owner.0, index))
    }
    /// The record's index among the owner's records.
    #[wasm_bindgen(getter)]
    pub fn index(&self) -> u32 {
        self.0.index()
    }
    /// The record id (hex).
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.0.record().to_hex()
    }
    /// The version the next manifest will have.
    #[wasm_bindgen(getter, js_name = nextVersion)]
    pub fn next_version(&self) -> f64 {
        self.0.next_version() as f64
    }
    /// The highest version the SRS has witnessed (0: none).
    #[wasm_bindgen(getter, js_name = witnessedVersion)]
    pub fn witnessed_version(&self) -> f64 {
        self.0.witnessed_version() as f64
    }
    /// Published versions the SRS has not witnessed yet, oldest first: push
    /// each to the SRS (in order) before publishing another.
    pub fn unwitnessed(&self) -> Vec<VerifiedManifest> {
        self.0
            .unwitnessed()
            .cloned()
            .map(VerifiedManifest)
            .collect()
    }
    /// Records the SRS's signed head for a published version (checked as a
    /// reader checks one); a head past this state's latest is `stale`
    /// (another device wrote: restore before writing again).
    pub fn witnessed(&mut self, head: &SignedHead) -> Result<(), JsValue> {
        Ok(self.0.witnessed(&head.0)?)
    }
    /// The opaque id of section `name` in this record (hex).
    #[wasm_bindgen(js_name = sectionId)]
    pub fn section_id(&self, owner: &Identity, name: &str) -> String {
        SectionId::derive(owner.0.seed(), &self.0.record(), name).to_hex()
    }
    /// Every known section: `[{sectionId, epochId, entry, pendingRotation}]`.
    pub fn sections(&self) -> Result<JsValue, JsValue> {
        let v: Vec<SectionView> = self
            .0
            .sections()
            .map(|(id, entry)| SectionView {
                section_id: id.to_hex(),
                epoch_id: self.0.epoch(&id).map(|e| e.to_hex()),
                entry: entry.map(JsEntry::from_core),
                pending_rotation: self.0.pending_rotation(&id).map(reason),
            })
            .collect();
        to_js(&v)
    }
    /// The entries of the versions at which a section's body changed, oldest
    /// first (open one with `dataKeyAt(owner, sectionId, writtenAtVersion)`).
    pub fn history(&self, section_id: &str) -> Result<JsValue, JsValue> {
        let v: Vec<JsEntry> = self
            .0
            .history(&section(section_id)?)
            .into_iter()
            .map(JsEntry::from_core)
            .collect();
        to_js(&v)
    }
    /// The entry a section had at record `version`.
    #[wasm_bindgen(js_name = entryAt)]
    pub fn entry_at(&self, section_id: &str, version: f64) -> Result<JsValue, JsValue> {
        let v = to_u64(version, "version")?;
        let m = self
            .0
            .chain()
            .and_then(|c| c.get(v))
            .ok_or_else(|| arg("no such published version"))?;
        entry_js(m.entry(&section(section_id)?)?)
    }
    /// The live grants of every section (as `VerifiedGrant.view()`
    /// describes them, plus `statement`).
    pub fn grants(&self) -> Result<JsValue, JsValue> {
        let v: Vec<LiveGrant> = self
            .0
            .grants()
            .map(|g| LiveGrant {
                view: grant_view(g),
                statement: ByteBuf::from(g.as_bytes().to_vec()),
            })
            .collect();
        to_js(&v)
    }
    /// One live grant (hex id), or undefined.
    #[wasm_bindgen(js_name = liveGrant)]
    pub fn live_grant(&self, grant_id: &str) -> Result<Option<VerifiedGrant>, JsValue> {
        let id = hex16(grant_id, "grantId")?;
        Ok(self
            .0
            .grants()
            .find(|g| g.grant_id == id)
            .cloned()
            .map(VerifiedGrant))
    }
    /// The key for writing a section at the next version, at time `now`
    /// (grants expired by then are dropped and force a rotation):
    /// `{key: SectionKey, reissued: [issued grant]}` (a rotation re-issues
    /// the live grants: deliver each like a new grant).
    #[wasm_bindgen(js_name = keyForWrite)]
    pub fn key_for_write(
        &mut self,
        owner: &Identity,
        srs: &PublicIdentity,
        section_id: &str,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        let (key, rotation) = self.0.key_for_write(
            &owner.0,
            &srs.0.encryption,
            section(section_id)?,
            to_u64(now, "now")?,
            &mut os_rng(),
        )?;
        let out = Object::new();
        Reflect::set(&out, &"key".into(), &SectionKey(key).into())?;
        Reflect::set(&out, &"reissued".into(), &to_js(&reissued(rotation))?)?;
        Ok(out.into())
    }
    /// Records the manifest entry (from `SectionEncryptor.finish()`) of a
    /// section written for the next version.
    #[wasm_bindgen(js_name = setEntry)]
    pub fn set_entry(&mut self, entry: JsValue) -> Result<(), JsValue> {
        let e: JsEntry = from_js(entry, "entry")?;
        Ok(self.0.set_entry(e.to_core()?)?)
    }
    /// The audit tree head the next manifest records (after a restore, the
    /// one the newest manifest recorded, not yet verified), or undefined.
    #[wasm_bindgen(getter, js_name = auditHead)]
    pub fn audit_head(&self) -> Option<Vec<u8>> {
        self.0.audit_head().map(<[u8]>::to_vec)
    }
    /// Sets the audit tree head the next manifest records: the latest one
    /// the owner verified.
    #[wasm_bindgen(js_name = setAuditHead)]
    pub fn set_audit_head(&mut self, head: Option<Vec<u8>>) {
        self.0.set_audit_head(head);
    }
    /// Signs the next manifest; call `published` once the relay stored it.
    #[wasm_bindgen(js_name = signManifest)]
    pub fn sign_manifest(&self, owner: &Identity, now: f64) -> Result<VerifiedManifest, JsValue> {
        Ok(VerifiedManifest(
            self.0.sign_manifest(&owner.0, to_u64(now, "now")?)?,
        ))
    }
    /// Makes a manifest the relay stored the latest (unwitnessed until
    /// `witnessed`).
    pub fn published(&mut self, manifest: &VerifiedManifest) -> Result<(), JsValue> {
        Ok(self.0.published(manifest.0.clone())?)
    }
    /// Grants a section at time `now`: `terms` is `{grantee, role,
    /// fromVersion, expiresAt?}` (an expiry not after `now` is
    /// `invalid_state`). Returns `{grant, reissued}`: deliver the re-issued
    /// grants first.
    pub fn grant(
        &mut self,
        owner: &Identity,
        srs: &PublicIdentity,
        section_id: &str,
        terms: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        let terms = from_js::<JsTerms>(terms, "terms")?.to_core()?;
        let (issued, rotation) = self.0.grant(
            &owner.0,
            &srs.0.encryption,
            section(section_id)?,
            &terms,
            to_u64(now, "now")?,
            &mut os_rng(),
        )?;
        #[derive(Serialize)]
        struct Out {
            grant: Issued,
            reissued: Vec<Issued>,
        }
        to_js(&Out {
            grant: Issued::from_core(&issued),
            reissued: reissued(rotation),
        })
    }
    /// Records the SRS's verified revocation receipt for a grant (hex id):
    /// the section rotates at its next write.
    pub fn revoked(&mut self, grant_id: &str) -> Result<(), JsValue> {
        Ok(self.0.revoked(&hex16(grant_id, "grantId")?)?)
    }
    /// Rotates a section to a fresh epoch at its next write.
    pub fn rotate(&mut self, section_id: &str) -> Result<(), JsValue> {
        Ok(self.0.rotate(&section(section_id)?)?)
    }
    /// The owner's data key for a section's current body.
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(&self, owner: &Identity, section_id: &str) -> Result<DataKey, JsValue> {
        Ok(DataKey(self.0.data_key(&owner.0, &section(section_id)?)?))
    }
    /// The owner's data key for the body a section had at record `version`.
    #[wasm_bindgen(js_name = dataKeyAt)]
    pub fn data_key_at(
        &self,
        owner: &Identity,
        section_id: &str,
        version: f64,
    ) -> Result<DataKey, JsValue> {
        Ok(DataKey(self.0.data_key_at(
            &owner.0,
            &section(section_id)?,
            to_u64(version, "version")?,
        )?))
    }
}
