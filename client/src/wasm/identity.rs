//! Identities: a party's seed and keys ([`Identity`]), public identities
//! ([`PublicIdentity`], e.g. the pinned SRS), directory entries.

use wasm_bindgen::prelude::*;

use super::{party_view, to_js, to_u64};
use crate::identity::{DirectoryEntry, Identity as CoreIdentity, PublicIdentity as CorePublic};
use crate::secret::Seed;

/// A party's identity (seed and keys), held inside wasm memory.
#[wasm_bindgen]
pub struct Identity(pub(crate) CoreIdentity);

#[wasm_bindgen]
impl Identity {
    /// A new identity from a fresh random seed (`crypto.getRandomValues`).
    pub fn generate() -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::generate()?))
    }
    /// Restores an identity from its 32-byte seed.
    #[wasm_bindgen(js_name = fromSeed)]
    pub fn from_seed(seed: &[u8]) -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::from_seed(Seed::from_bytes(seed)?)?))
    }
    /// The party id (hex).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.0.id().to_hex()
    }
    /// The 160-bit fingerprint to compare out of band.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.0.public().fingerprint()
    }
    /// Public identity: signing key ‖ encryption key (66 bytes).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
    /// The public identity as an object the other calls take.
    #[wasm_bindgen(getter)]
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity(self.0.public().clone())
    }
    /// The encryption public key alone (33 bytes).
    #[wasm_bindgen(getter, js_name = encryptionKey)]
    pub fn encryption_key(&self) -> Vec<u8> {
        self.0.public().encryption.to_bytes().to_vec()
    }
    /// The seed, for the owner's own backup (wrap it before storing it).
    #[wasm_bindgen(js_name = exportSeed)]
    pub fn export_seed(&self) -> Vec<u8> {
        self.0.seed().to_bytes().to_vec()
    }
    /// A self-signed directory entry for registration with the SRS.
    #[wasm_bindgen(js_name = directoryEntry)]
    pub fn directory_entry(&self, created_at: f64) -> Result<Vec<u8>, JsValue> {
        Ok(self
            .0
            .directory_entry(to_u64(created_at, "createdAt")?)
            .as_bytes()
            .to_vec())
    }
}

/// A validated public identity (both keys are points on the curve).
#[wasm_bindgen]
#[derive(Clone)]
pub struct PublicIdentity(pub(crate) CorePublic);

#[wasm_bindgen]
impl PublicIdentity {
    /// Decodes and validates a 66-byte public identity.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicIdentity, JsValue> {
        Ok(PublicIdentity(CorePublic::from_bytes(bytes)?))
    }
    /// The party id (hex).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.0.id().to_hex()
    }
    /// `{id, fingerprint, publicKey}`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&party_view(&self.0))
    }
}

/// Verifies a directory entry: `{id, fingerprint, publicKey, createdAt}`.
#[wasm_bindgen(js_name = verifyDirectoryEntry)]
pub fn verify_directory_entry(entry: &[u8]) -> Result<JsValue, JsValue> {
    let e = DirectoryEntry::from_bytes(entry)?;
    let obj = to_js(&party_view(&e.public))?;
    let _ = js_sys::Reflect::set(&obj, &"createdAt".into(), &(e.created_at as f64).into());
    Ok(obj)
}
