//! Manifests ([`VerifiedManifest`]), chains of them ([`ManifestChain`]) and
//! the SRS's signed heads ([`SignedHead`]), with the freshness checks.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::{hex32, js_error_with, to_js, to_u64, PublicIdentity};
use crate::capsule::Capsule;
use crate::error::Error;
use crate::manifest::{
    ManifestChain as CoreChain, ManifestEntry, SignedHead as CoreHead,
    VerifiedManifest as CoreManifest,
};
use crate::primitives::Point;
use crate::record::{EpochId, SectionId};

/// A manifest entry as a plain object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsEntry {
    section_id: String,
    epoch_id: String,
    section_key: ByteBuf,
    capsule: ByteBuf,
    written_at_version: f64,
    chunk_root: String,
    blob_length: f64,
    /// Where the relay keeps the blob: derived from `chunk_root` on output,
    /// never read back.
    #[serde(skip_deserializing)]
    blob_id: String,
    index_id: String,
    /// A sharded body's sealed placement (`DataKey.openPlacement` reads it);
    /// absent for a body stored whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    placement: Option<ByteBuf>,
}

impl JsEntry {
    pub(crate) fn from_core(e: &ManifestEntry) -> JsEntry {
        JsEntry {
            section_id: e.section.to_hex(),
            epoch_id: e.epoch.to_hex(),
            section_key: ByteBuf::from(e.section_key.to_bytes().to_vec()),
            capsule: ByteBuf::from(e.capsule.0.to_bytes().to_vec()),
            written_at_version: e.written_at_version as f64,
            chunk_root: hex::encode(e.chunk_root),
            blob_length: e.blob_len as f64,
            blob_id: hex::encode(e.blob_id()),
            index_id: hex::encode(e.index_id),
            placement: e.placement.clone().map(ByteBuf::from),
        }
    }
    pub(crate) fn to_core(&self) -> Result<ManifestEntry, JsValue> {
        Ok(ManifestEntry {
            section: SectionId(hex32(&self.section_id, "sectionId")?),
            epoch: EpochId(hex32(&self.epoch_id, "epochId")?),
            section_key: Point::from_bytes(&self.section_key)?,
            capsule: Capsule(Point::from_bytes(&self.capsule)?),
            written_at_version: to_u64(self.written_at_version, "writtenAtVersion")?,
            chunk_root: hex32(&self.chunk_root, "chunkRoot")?,
            blob_len: to_u64(self.blob_length, "blobLength")?,
            index_id: hex32(&self.index_id, "indexId")?,
            placement: self.placement.as_ref().map(|p| p.to_vec()),
        })
    }
}

pub(crate) fn entry_js(e: &ManifestEntry) -> Result<JsValue, JsValue> {
    to_js(&JsEntry::from_core(e))
}

/// A manifest whose owner signature, record binding and structure were
/// checked (once, when it was built).
#[wasm_bindgen]
pub struct VerifiedManifest(pub(crate) CoreManifest);

#[wasm_bindgen]
impl VerifiedManifest {
    /// Decodes and verifies a manifest (signature by the embedded owner,
    /// record id bound to that owner, structure). Compare the owner with the
    /// one expected (`fromBytesOf`, `expectOwner`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<VerifiedManifest, JsValue> {
        Ok(VerifiedManifest(CoreManifest::from_bytes(bytes)?))
    }
    /// `fromBytes`, and the manifest must be signed by `owner`
    /// (`binding_mismatch`).
    #[wasm_bindgen(js_name = fromBytesOf)]
    pub fn from_bytes_of(
        bytes: &[u8],
        owner: &PublicIdentity,
    ) -> Result<VerifiedManifest, JsValue> {
        let m = CoreManifest::from_bytes(bytes)?;
        m.expect_owner(&owner.0)?;
        Ok(VerifiedManifest(m))
    }
    /// The record version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.0.version() as f64
    }
    /// The record id (hex).
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.0.record().to_hex()
    }
    /// The manifest's statement hash (hex): what heads and successors name.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> String {
        hex::encode(self.0.hash())
    }
    /// The owner (the signer, to whom the record id is bound).
    #[wasm_bindgen(getter)]
    pub fn owner(&self) -> PublicIdentity {
        PublicIdentity(self.0.owner.clone())
    }
    /// The statement hash of the previous version (hex); undefined at version 1.
    #[wasm_bindgen(getter)]
    pub fn previous(&self) -> Option<String> {
        let c = &self.0.content;
        (c.version > 1).then(|| hex::encode(c.previous))
    }
    /// The owner's clock when signed (informational).
    #[wasm_bindgen(getter, js_name = createdAt)]
    pub fn created_at(&self) -> f64 {
        self.0.content.created_at as f64
    }
    /// The signed bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    /// Every entry, as plain objects, by section id.
    #[wasm_bindgen(getter)]
    pub fn entries(&self) -> Result<JsValue, JsValue> {
        let v: Vec<JsEntry> = self
            .0
            .content
            .entries
            .iter()
            .map(JsEntry::from_core)
            .collect();
        to_js(&v)
    }
    /// The entry of a section (hex id), or `no_such_section`.
    pub fn entry(&self, section_id: &str) -> Result<JsValue, JsValue> {
        entry_js(self.0.entry(&SectionId(hex32(section_id, "sectionId")?))?)
    }
}

/// Consecutive manifests of one record, each the owner-signed successor of
/// the one before: a version below the SRS's head is fresh when such a
/// chain links it to the head.
#[wasm_bindgen]
pub struct ManifestChain(pub(crate) CoreChain);

#[wasm_bindgen]
impl ManifestChain {
    /// A chain of one manifest.
    #[wasm_bindgen(constructor)]
    pub fn new(first: &VerifiedManifest) -> ManifestChain {
        ManifestChain(CoreChain::new(first.0.clone()))
    }
    /// Appends the tip's successor (`chain_broken` otherwise).
    pub fn push(&mut self, next: &VerifiedManifest) -> Result<(), JsValue> {
        Ok(self.0.push(next.0.clone())?)
    }
}

/// An SRS-signed head `(record, version, manifest hash, time)`, verified
/// against the pinned SRS identity.
#[wasm_bindgen]
pub struct SignedHead(pub(crate) CoreHead);

#[wasm_bindgen]
impl SignedHead {
    /// Decodes and verifies a head against the pinned SRS identity.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8], srs: &PublicIdentity) -> Result<SignedHead, JsValue> {
        Ok(SignedHead(CoreHead::from_bytes(bytes, &srs.0)?))
    }
    /// The record id (hex).
    #[wasm_bindgen(getter, js_name = recordId)]
    pub fn record_id(&self) -> String {
        self.0.record.to_hex()
    }
    /// The latest version the SRS witnessed.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.0.version as f64
    }
    /// The SRS clock when it signed.
    #[wasm_bindgen(getter)]
    pub fn timestamp(&self) -> f64 {
        self.0.timestamp as f64
    }
}

/// What the freshness rules decided against, in plain words: a `stale`
/// error carries `found` and `known`, and the message says which server is
/// behind. `relay` is the relay's latest version (0: it has none), `head`
/// the SRS's head version (`None`: it has none), `high_water` the highest
/// witnessed version this device saw.
pub(crate) fn stale_error(relay: u64, head: Option<u64>, high_water: u64) -> JsValue {
    let (message, found, known) = match head {
        Some(h) if h < high_water => (
            format!(
                "The re-encryption server's latest version of this record ({h}) is older than \
                 version {high_water}, which this device already saw it witness: it may have been \
                 rolled back. Nothing is shown as current."
            ),
            h,
            high_water,
        ),
        Some(h) if relay == 0 => (
            format!(
                "The storage server has no copy of this record, but the re-encryption server \
                 witnessed version {h} of it. It may be out of date or hiding the record."
            ),
            0,
            h,
        ),
        Some(h) if relay < h => (
            format!(
                "The storage server is behind: it has version {relay} of this record, but the \
                 re-encryption server witnessed version {h}. It may be out of date or hiding the \
                 newest version, so nothing older is shown as current. Try again later."
            ),
            relay,
            h,
        ),
        None if high_water > 0 => (
            format!(
                "The re-encryption server has no version of this record, but this device saw it \
                 witness version {high_water}. Nothing is shown as current."
            ),
            0,
            high_water,
        ),
        _ => (
            "The re-encryption server's signed head is too old: check this device's clock."
                .to_string(),
            relay,
            head.unwrap_or(0),
        ),
    };
    js_error_with("stale", &message, &[("found", found), ("known", known)])
}

/// Rewrites a `stale` error of a freshness check in plain words (see
/// [`stale_error`]); any other error passes through.
pub(crate) fn freshness(e: Error, relay: u64, head: Option<u64>, high_water: u64) -> JsValue {
    match e {
        Error::Stale { .. } => stale_error(relay, head, high_water),
        e => e.into(),
    }
}
