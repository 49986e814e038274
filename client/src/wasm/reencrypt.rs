//! Re-encryption requests and answers on the one-grant path ([`GrantShare`]):
//! the signed request, its HPKE seal to the SRS, and the checked answer.
//! (The reader flow, `SectionRead`, runs the same steps over every grant.)

use wasm_bindgen::prelude::*;

use super::{now_ms, to_u64, DataKey, GrantShare, Identity, PublicIdentity, VerifiedManifest};
use crate::envelope::{self, AnswerKey};
use crate::primitives::os_rng;
use crate::reencrypt::{ReencryptAnswer, ReencryptRequest};

#[wasm_bindgen]
impl GrantShare {
    /// A signed re-encryption request for `version` of the record.
    pub fn request(&self, grantee: &Identity, version: f64) -> Result<Vec<u8>, JsValue> {
        let r = ReencryptRequest::new(
            &grantee.0,
            &self.0.grant,
            to_u64(version, "version")?,
            now_ms(),
            &mut os_rng(),
        )?;
        Ok(r.as_bytes().to_vec())
    }
    /// Verifies the SRS answer (signature, DLEQ proof, audit receipt, and that
    /// its signed head is this manifest and not older than `highWater`, the
    /// reader's highest version seen) and derives the data key of the section
    /// body in `manifest`.
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(
        &self,
        answer: &[u8],
        srs: &PublicIdentity,
        request: &[u8],
        manifest: &VerifiedManifest,
        high_water: f64,
    ) -> Result<DataKey, JsValue> {
        let req = ReencryptRequest::from_bytes(request)?;
        let m = &manifest.0;
        let a = ReencryptAnswer::verify(answer, &srs.0, &req, &self.0.grant, m)?;
        a.head.check_manifest(m, to_u64(high_water, "highWater")?)?;
        Ok(DataKey(self.0.data_key(m, &a)?))
    }
}

/// A request sealed to the SRS, and the key its answer comes back under.
#[wasm_bindgen]
pub struct SealedRequest {
    sealed: Vec<u8>,
    key: AnswerKey,
}

#[wasm_bindgen]
impl SealedRequest {
    /// Seals a signed request to the SRS's encryption key, so the relay that
    /// forwards it learns nothing.
    #[wasm_bindgen(constructor)]
    pub fn new(srs: &PublicIdentity, request: &[u8]) -> Result<SealedRequest, JsValue> {
        let (sealed, key) = envelope::seal_request(&srs.0.encryption, request, &mut os_rng())?;
        Ok(SealedRequest { sealed, key })
    }
    /// The bytes to send.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.sealed.clone()
    }
    /// Opens the SRS's sealed answer.
    #[wasm_bindgen(js_name = openAnswer)]
    pub fn open_answer(&self, sealed_answer: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.key.open_answer(sealed_answer)?.to_vec())
    }
}
