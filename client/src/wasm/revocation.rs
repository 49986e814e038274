//! Revocations: signed by the owner, sent to the SRS directly, effective
//! once the SRS's signed receipt verifies.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{now_ms, to_js, Identity, PublicIdentity, VerifiedGrant};
use crate::revocation::{Revocation as CoreRevocation, RevocationReceipt};

/// A signed revocation of one grant, waiting for the SRS's receipt.
#[wasm_bindgen]
pub struct Revocation(CoreRevocation);

#[wasm_bindgen]
impl Revocation {
    /// Signs a revocation of `grant` (owner side, now); send `bytes` to the
    /// SRS directly.
    pub fn sign(owner: &Identity, grant: &VerifiedGrant) -> Result<Revocation, JsValue> {
        Ok(Revocation(CoreRevocation::sign(
            &owner.0,
            &grant.0,
            now_ms(),
        )?))
    }
    /// The signed bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    /// Verifies the SRS's receipt for this revocation against the pinned SRS
    /// identity: only then is the revocation effective. Returns `{grantId,
    /// timestamp}`.
    #[wasm_bindgen(js_name = acceptReceipt)]
    pub fn accept_receipt(&self, receipt: &[u8], srs: &PublicIdentity) -> Result<JsValue, JsValue> {
        let r = RevocationReceipt::verify(receipt, &srs.0, &self.0)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ReceiptView {
            grant_id: String,
            timestamp: f64,
        }
        to_js(&ReceiptView {
            grant_id: hex::encode(r.grant_id),
            timestamp: r.timestamp as f64,
        })
    }
}
