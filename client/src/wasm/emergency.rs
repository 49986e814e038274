//! Emergency access: the grantee's signed activation of an emergency grant
//! and the owner's signed approval or denial of one (sent to the SRS
//! directly), and the emergency preset.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{arg, now_ms, to_js, Identity, SharedRecord, VerifiedGrant};
use crate::emergency::{
    EmergencyActivation as CoreActivation, EmergencyDecision as CoreDecision, Verdict,
};
use crate::grant::EMERGENCY_SECTIONS;
use crate::primitives::os_rng;

/// The emergency preset's section names (allergies, medications, history,
/// demographics).
#[wasm_bindgen(js_name = emergencySections)]
pub fn emergency_sections() -> Vec<String> {
    EMERGENCY_SECTIONS.iter().map(|s| s.to_string()).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActivationView {
    grant_id: String,
    record_id: String,
    timestamp: f64,
    hash: String,
}

/// A grantee-signed activation of an emergency grant, verified against it.
#[wasm_bindgen]
pub struct EmergencyActivation(CoreActivation);

#[wasm_bindgen]
impl EmergencyActivation {
    /// Signs an activation of `grant` now (grantee side); post `bytes` to
    /// the SRS. `invalid_state` for an ordinary grant, `binding_mismatch`
    /// for a grant to someone else.
    pub fn sign(grantee: &Identity, grant: &VerifiedGrant) -> Result<EmergencyActivation, JsValue> {
        Ok(EmergencyActivation(CoreActivation::sign(
            &grantee.0,
            &grant.0,
            now_ms(),
            &mut os_rng(),
        )?))
    }
    /// Verifies activation bytes (an SRS listing's) against `grant`: its
    /// grantee signed them for exactly this statement.
    pub fn verify(bytes: &[u8], grant: &VerifiedGrant) -> Result<EmergencyActivation, JsValue> {
        Ok(EmergencyActivation(CoreActivation::verify(
            bytes, &grant.0,
        )?))
    }
    /// The signed bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    /// `{grantId, recordId, timestamp (grantee's clock), hash}`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&ActivationView {
            grant_id: hex::encode(self.0.grant_id),
            record_id: self.0.record.to_hex(),
            timestamp: self.0.timestamp as f64,
            hash: hex::encode(self.0.hash()),
        })
    }
}

/// Signs the owner's decision on `activation` of `grant` now: `verdict`
/// is `approve` or `deny`. Returns the bytes to post to the SRS.
#[wasm_bindgen(js_name = signEmergencyDecision)]
pub fn sign_emergency_decision(
    owner: &Identity,
    grant: &VerifiedGrant,
    activation: &EmergencyActivation,
    verdict: &str,
) -> Result<Vec<u8>, JsValue> {
    let verdict = Verdict::from_name(verdict).ok_or_else(|| arg("verdict is approve or deny"))?;
    Ok(CoreDecision::sign(
        &owner.0,
        &grant.0,
        &activation.0,
        verdict,
        now_ms(),
        &mut os_rng(),
    )?
    .as_bytes()
    .to_vec())
}

/// The emergency grant `grant_id` (hex) among a shared record's grants, to
/// sign its activation; `not_granted` if the record holds no such grant.
#[wasm_bindgen(js_name = emergencyGrant)]
pub fn emergency_grant(shared: &SharedRecord, grant_id: &str) -> Result<VerifiedGrant, JsValue> {
    shared
        .0
        .sections()
        .flat_map(|(_, items)| items.iter())
        .map(|i| i.grant())
        .find(|g| hex::encode(g.grant_id) == grant_id && g.is_emergency())
        .map(|g| VerifiedGrant(g.clone()))
        .ok_or_else(|| JsValue::from(crate::error::Error::NotGranted))
}
