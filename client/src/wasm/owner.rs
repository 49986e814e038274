//! Bindings for the owner's record state, the passphrase vault, request
//! tokens and audit entries.

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::{
    arg, from_js, grant_view, hex32, to_js, to_u64, DataKey, GrantView, Identity, Issued, JsEntry,
    JsTerms, SectionKey,
};
use crate::audit::AuditEntry;
use crate::grant::VerifiedGrant;
use crate::identity::Identity as CoreIdentity;
use crate::manifest::VerifiedManifest;
use crate::owner::OwnerRecord as CoreRecord;
use crate::policy::{Rotation, RotationReason};
use crate::primitives::{os_rng, Point};
use crate::record::SectionId;
use crate::token::{Purpose, RequestToken};
use crate::vault::{self, Cost};

/// Argon2id costs as a plain object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsCost {
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
}

#[wasm_bindgen]
impl Identity {
    /// The seed wrapped under `passphrase` (Argon2id + AES-256-GCM), for
    /// IndexedDB and backup files. `cost` (`{memoryKib, iterations, lanes}`)
    /// defaults to 64 MiB, 3 passes, 1 lane.
    pub fn wrap(&self, passphrase: &str, cost: JsValue) -> Result<Vec<u8>, JsValue> {
        let cost = if cost.is_undefined() || cost.is_null() {
            Cost::DEFAULT
        } else {
            let c: JsCost = from_js(cost, "cost")?;
            Cost {
                memory_kib: c.memory_kib,
                iterations: c.iterations,
                lanes: c.lanes,
            }
        };
        Ok(vault::wrap(self.0.seed(), passphrase, cost, &mut os_rng())?)
    }
    /// Opens a wrapped seed; a wrong passphrase throws `decryption_failed`.
    pub fn unwrap(wrapped: &[u8], passphrase: &str) -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::from_seed(vault::unwrap(
            wrapped, passphrase,
        )?)?))
    }
}

/// The Argon2id cost a wrapped seed asks for: `{memoryKib, iterations, lanes}`.
#[wasm_bindgen(js_name = wrappedSeedCost)]
pub fn wrapped_seed_cost(wrapped: &[u8]) -> Result<JsValue, JsValue> {
    let c = vault::cost_of(wrapped)?;
    to_js(&JsCost {
        memory_kib: c.memory_kib,
        iterations: c.iterations,
        lanes: c.lanes,
    })
}

/// A signed request token for the servers' `x-sesphr-token` header (send its
/// hex). `purpose` is `uploadBlob` (subject: SHA-256 ‖ u64 length),
/// `readInbox` (empty), `listGrants` / `readAudit` (record id bytes) or
/// `deleteBlob` (SHA-256).
#[wasm_bindgen(js_name = signToken)]
pub fn sign_token(
    party: &Identity,
    purpose: &str,
    subject: &[u8],
    now: f64,
) -> Result<Vec<u8>, JsValue> {
    let purpose = match purpose {
        "uploadBlob" => Purpose::UploadBlob,
        "readInbox" => Purpose::ReadInbox,
        "listGrants" => Purpose::ListGrants,
        "readAudit" => Purpose::ReadAudit,
        "deleteBlob" => Purpose::DeleteBlob,
        _ => return Err(arg("unknown token purpose")),
    };
    Ok(RequestToken::sign(
        &party.0,
        purpose,
        subject,
        to_u64(now, "now")?,
        &mut os_rng(),
    )?
    .as_bytes()
    .to_vec())
}

/// Decodes one audit log entry: `{timestamp, grantId, granteeId, recordId,
/// sectionId, version, decision}` (`decision` is `allowed` or the refusal code).
#[wasm_bindgen(js_name = describeAuditEntry)]
pub fn describe_audit_entry(entry: &[u8]) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct View {
        timestamp: f64,
        grant_id: String,
        grantee_id: String,
        record_id: String,
        section_id: String,
        version: f64,
        decision: &'static str,
    }
    let e = AuditEntry::from_bytes(entry)?;
    to_js(&View {
        timestamp: e.timestamp as f64,
        grant_id: hex::encode(e.grant_id),
        grantee_id: e.grantee.to_hex(),
        record_id: e.record.to_hex(),
        section_id: e.section.to_hex(),
        version: e.version as f64,
        decision: e.decision.code(),
    })
}

/// One of the owner's records: its sections, epochs, live grants and latest
/// manifest. Holds no I/O: publish what its methods return, then report back
/// (`published`, `revoked`).
#[wasm_bindgen]
pub struct OwnerRecord(CoreRecord);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsGrantRow {
    statement: ByteBuf,
    revoked: bool,
}

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

fn section(id: &str) -> Result<SectionId, JsValue> {
    Ok(SectionId(hex32(id, "sectionId")?))
}

#[wasm_bindgen]
impl OwnerRecord {
    /// The owner's `index`-th record, empty (indices start at 0).
    #[wasm_bindgen(constructor)]
    pub fn new(owner: &Identity, index: u32) -> OwnerRecord {
        OwnerRecord(CoreRecord::new(&owner.0, index))
    }
    /// Rebuilds the `index`-th record from the relay's manifest chain
    /// (`manifests`: every version from 1, as bytes) and the SRS grant list
    /// (`grants`: `[{statement, revoked}]`); `now` is the SRS clock.
    pub fn restore(
        owner: &Identity,
        index: u32,
        manifests: Array,
        grants: JsValue,
        now: f64,
    ) -> Result<OwnerRecord, JsValue> {
        let manifests = manifests
            .iter()
            .map(|m| VerifiedManifest::from_bytes(&Uint8Array::new(&m).to_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<JsGrantRow> = from_js(grants, "grants")?;
        let grants = rows
            .iter()
            .map(|r| Ok((VerifiedGrant::from_bytes(&r.statement)?, r.revoked)))
            .collect::<Result<Vec<_>, crate::Error>>()?;
        Ok(OwnerRecord(CoreRecord::restore(
            &owner.0,
            index,
            &manifests,
            &grants,
            to_u64(now, "now")?,
        )?))
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
    /// The latest published manifest's bytes, if any.
    #[wasm_bindgen(getter)]
    pub fn latest(&self) -> Option<Vec<u8>> {
        self.0.latest().map(|m| m.as_bytes().to_vec())
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
    /// The live grants of every section (as `verifyGrant` describes them,
    /// plus `statement`).
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
    /// The key for writing a section at the next version, at time `now`
    /// (grants expired by then are dropped and force a rotation):
    /// `{key: SectionKey, reissued: [issued grant]}` (a rotation re-issues
    /// the live grants: deliver each like a new grant).
    #[wasm_bindgen(js_name = keyForWrite)]
    pub fn key_for_write(
        &mut self,
        owner: &Identity,
        srs_encryption_key: &[u8],
        section_id: &str,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        let (key, rotation) = self.0.key_for_write(
            &owner.0,
            &Point::from_bytes(srs_encryption_key)?,
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
    /// Signs the next manifest; call `published` once the relay stored it.
    #[wasm_bindgen(js_name = signManifest)]
    pub fn sign_manifest(&self, owner: &Identity, now: f64) -> Result<Vec<u8>, JsValue> {
        Ok(self
            .0
            .sign_manifest(&owner.0, to_u64(now, "now")?)?
            .as_bytes()
            .to_vec())
    }
    /// Makes a stored manifest the latest.
    pub fn published(&mut self, manifest: &[u8]) -> Result<(), JsValue> {
        Ok(self.0.published(VerifiedManifest::from_bytes(manifest)?)?)
    }
    /// Grants a section: `terms` is `{grantee, role, fromVersion, expiresAt?}`.
    /// Returns `{grant, reissued}`: deliver the re-issued grants first.
    pub fn grant(
        &mut self,
        owner: &Identity,
        srs_encryption_key: &[u8],
        section_id: &str,
        terms: JsValue,
    ) -> Result<JsValue, JsValue> {
        let terms = from_js::<JsTerms>(terms, "terms")?.to_core()?;
        let (issued, rotation) = self.0.grant(
            &owner.0,
            &Point::from_bytes(srs_encryption_key)?,
            section(section_id)?,
            &terms,
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
        let mut id = [0u8; 16];
        hex::decode_to_slice(grant_id, &mut id)
            .map_err(|_| arg("grantId must be 32 hex characters"))?;
        Ok(self.0.revoked(&id)?)
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
}
