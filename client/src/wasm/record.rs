//! Records, sections and epochs; the owner's section keys and the data key
//! of one body.

use serde::Serialize;
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::{hex32, to_js, to_u64, web_crypto_import_key, Identity};
use crate::capsule::{Capsule, DataKey as CoreDataKey};
use crate::primitives::{os_rng, Point};
use crate::record::{EpochId, RecordId, SectionId, SectionKey as CoreSectionKey};

/// A new record of `owner` with a random nonce: `{recordId, recordNonce}`.
#[wasm_bindgen(js_name = newRecord)]
pub fn new_record(owner: &Identity) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct NewRecord {
        record_id: String,
        record_nonce: ByteBuf,
    }
    let (id, nonce) = RecordId::generate(&owner.0.id(), &mut os_rng());
    to_js(&NewRecord {
        record_id: id.to_hex(),
        record_nonce: ByteBuf::from(nonce.to_vec()),
    })
}

/// The opaque id of section `name` in a record (hex).
#[wasm_bindgen(js_name = sectionId)]
pub fn section_id(owner: &Identity, record_id: &str, name: &str) -> Result<String, JsValue> {
    Ok(SectionId::derive(
        owner.0.seed(),
        &RecordId(hex32(record_id, "recordId")?),
        name,
    )
    .to_hex())
}

/// A fresh random epoch id (hex).
#[wasm_bindgen(js_name = newEpochId)]
pub fn new_epoch_id() -> String {
    EpochId::generate(&mut os_rng()).to_hex()
}

/// The owner's key for one section in one epoch.
#[wasm_bindgen]
pub struct SectionKey(pub(crate) CoreSectionKey);

#[wasm_bindgen]
impl SectionKey {
    /// Derives the section key from the owner's seed.
    #[wasm_bindgen(constructor)]
    pub fn new(
        owner: &Identity,
        record_id: &str,
        section_id: &str,
        epoch_id: &str,
    ) -> Result<SectionKey, JsValue> {
        Ok(SectionKey(CoreSectionKey::for_owner(
            &owner.0,
            RecordId(hex32(record_id, "recordId")?),
            SectionId(hex32(section_id, "sectionId")?),
            EpochId(hex32(epoch_id, "epochId")?),
        )?))
    }
    /// `A = a·G` (33 bytes), published in the manifest.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
    /// Owner side: the data key of a body from its capsule (`Z = a·E`).
    #[wasm_bindgen(js_name = openAsOwner)]
    pub fn open_as_owner(
        &self,
        capsule: &[u8],
        written_at_version: f64,
    ) -> Result<DataKey, JsValue> {
        let c = Capsule(Point::from_bytes(capsule)?);
        Ok(DataKey(c.open_as_owner(
            &self.0,
            to_u64(written_at_version, "writtenAtVersion")?,
        )?))
    }
}

/// A section version's data key (kept inside wasm; never readable from JS).
#[wasm_bindgen]
pub struct DataKey(pub(crate) CoreDataKey);

#[wasm_bindgen]
impl DataKey {
    /// Imports the key into WebCrypto as a non-extractable AES-GCM `CryptoKey`.
    #[wasm_bindgen(js_name = importWebCryptoKey)]
    pub fn import_web_crypto_key(&self) -> Result<js_sys::Promise, JsValue> {
        web_crypto_import_key(self.0.dek.expose())
    }
}
