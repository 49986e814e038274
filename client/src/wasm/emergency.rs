//! Emergency access: the grantee's signed activation of an emergency grant
//! and the owner's signed approval or denial of one (sent to the SRS
//! directly), the SRS's signed views and receipts (verified against the
//! pinned SRS key), and the emergency preset.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{arg, now_ms, to_js, Identity, PublicIdentity, SharedRecord, VerifiedGrant};
use crate::emergency::{
    EmergencyActivation as CoreActivation, EmergencyDecision as CoreDecision, Verdict,
    MAX_REPLAY_WINDOW_MS,
};
use crate::emergency_view::{EmergencyReceipt, EmergencyView as CoreView};
use crate::grant::EMERGENCY_SECTIONS;
use crate::identity::PartyId;
use crate::primitives::os_rng;
use crate::record::RecordId;
use crate::token::RequestToken;

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
    follows: Option<String>,
}

/// A grantee-signed activation of an emergency grant, verified against it.
#[wasm_bindgen]
pub struct EmergencyActivation(CoreActivation);

#[wasm_bindgen]
impl EmergencyActivation {
    /// Signs an activation of `grant` now (grantee side) following the
    /// grant's latest decision `follows` (hex, from the verified status's
    /// `lastDecision`; `null`: none); post `bytes` to the SRS.
    /// `invalid_state` for an ordinary grant, `binding_mismatch` for a
    /// grant to someone else.
    pub fn sign(
        grantee: &Identity,
        grant: &VerifiedGrant,
        follows: Option<String>,
    ) -> Result<EmergencyActivation, JsValue> {
        let follows = match follows {
            None => [0; 32],
            Some(h) => hex32(&h, "follows")?,
        };
        Ok(EmergencyActivation(CoreActivation::sign(
            &grantee.0,
            &grant.0,
            follows,
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
    /// Its nonce (the SRS's view answering it is bound to it).
    #[wasm_bindgen(getter)]
    pub fn nonce(&self) -> Vec<u8> {
        self.0.nonce.to_vec()
    }
    /// `{grantId, recordId, timestamp (grantee's clock), hash, follows}`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&ActivationView {
            grant_id: hex::encode(self.0.grant_id),
            record_id: self.0.record.to_hex(),
            timestamp: self.0.timestamp as f64,
            hash: hex::encode(self.0.hash()),
            follows: (self.0.follows != [0; 32]).then(|| hex::encode(self.0.follows)),
        })
    }
}

fn hex32(h: &str, what: &'static str) -> Result<[u8; 32], JsValue> {
    hex::decode(h)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| arg(what))
}

/// The owner's signed decision on one activation, waiting for the SRS's
/// receipt: only a verified receipt makes it effective.
#[wasm_bindgen]
pub struct EmergencyDecision(CoreDecision);

#[wasm_bindgen]
impl EmergencyDecision {
    /// Signs the owner's decision on `activation` of `grant` now:
    /// `verdict` is `approve` or `deny`; post `bytes` to the SRS.
    pub fn sign(
        owner: &Identity,
        grant: &VerifiedGrant,
        activation: &EmergencyActivation,
        verdict: &str,
    ) -> Result<EmergencyDecision, JsValue> {
        let verdict =
            Verdict::from_name(verdict).ok_or_else(|| arg("verdict is approve or deny"))?;
        Ok(EmergencyDecision(CoreDecision::sign(
            &owner.0,
            &grant.0,
            &activation.0,
            verdict,
            now_ms(),
            &mut os_rng(),
        )?))
    }
    /// The signed bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    /// Its nonce (the SRS's view answering it is bound to it).
    #[wasm_bindgen(getter)]
    pub fn nonce(&self) -> Vec<u8> {
        self.0.nonce.to_vec()
    }
    /// Verifies the SRS's receipt for exactly this decision against the
    /// pinned SRS identity. Returns `{grantId, decision (hash hex), verdict,
    /// state, at}`.
    #[wasm_bindgen(js_name = acceptReceipt)]
    pub fn accept_receipt(&self, receipt: &[u8], srs: &PublicIdentity) -> Result<JsValue, JsValue> {
        let r = EmergencyReceipt::verify(receipt, &srs.0, &self.0)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ReceiptView {
            grant_id: String,
            decision: String,
            verdict: &'static str,
            state: &'static str,
            at: f64,
        }
        to_js(&ReceiptView {
            grant_id: hex::encode(r.grant_id),
            decision: hex::encode(r.decision),
            verdict: r.verdict.name(),
            state: r.state.name(),
            at: r.at as f64,
        })
    }
}

/// The nonce of signed token bytes (what the SRS's view answering the
/// request must be bound to).
#[wasm_bindgen(js_name = tokenNonce)]
pub fn token_nonce(token: &[u8]) -> Result<Vec<u8>, JsValue> {
    Ok(RequestToken::from_bytes(token)?.nonce.to_vec())
}

/// The most slack an SRS's clock checks allow, ms: a view's opening is
/// never earlier than the activation's signed time + wait − this.
#[wasm_bindgen(js_name = emergencyClockSlackMs)]
pub fn emergency_clock_slack_ms() -> f64 {
    MAX_REPLAY_WINDOW_MS as f64
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewActivationJs {
    hash: String,
    timestamp: f64,
    activated_at: f64,
    opens_at: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewEntryJs {
    grant_id: String,
    state: &'static str,
    approved: bool,
    wait_ms: f64,
    activation: Option<ViewActivationJs>,
    last_decision: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewJs {
    record_id: String,
    requester: String,
    now: f64,
    entries: Vec<ViewEntryJs>,
}

/// An SRS-signed view of emergency grants (kind `0x20`), verified: the
/// pinned SRS signed it for this record, requester and request nonce, and
/// every entry is consistent (including the lower bound on its opening).
#[wasm_bindgen]
pub struct EmergencyView(CoreView);

#[wasm_bindgen]
impl EmergencyView {
    /// Verifies view bytes against the pinned `srs`, the record (hex), the
    /// requester's party id (hex) and the nonce of the request sent
    /// (`bad_signature`, `binding_mismatch`, `malformed`).
    pub fn verify(
        bytes: &[u8],
        srs: &PublicIdentity,
        record_id: &str,
        requester: &str,
        nonce: &[u8],
    ) -> Result<EmergencyView, JsValue> {
        let record = RecordId(hex32(record_id, "record id")?);
        let who = PartyId(hex32(requester, "party id")?);
        let nonce: [u8; 16] = nonce.try_into().map_err(|_| arg("nonce is 16 bytes"))?;
        Ok(EmergencyView(CoreView::verify(
            bytes, &srs.0, &record, &who, &nonce,
        )?))
    }
    /// `{recordId, requester, now, entries: [{grantId, state, approved,
    /// waitMs, activation: {hash, timestamp, activatedAt, opensAt} | null,
    /// lastDecision | null}]}`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        let v = &self.0;
        to_js(&ViewJs {
            record_id: v.record.to_hex(),
            requester: v.requester.to_hex(),
            now: v.now as f64,
            entries: v
                .entries
                .iter()
                .map(|e| ViewEntryJs {
                    grant_id: hex::encode(e.grant_id),
                    state: e.state.name(),
                    approved: e.approved,
                    wait_ms: e.wait_ms as f64,
                    activation: e.activation.map(|a| ViewActivationJs {
                        hash: hex::encode(a.hash),
                        timestamp: a.timestamp as f64,
                        activated_at: a.activated_at as f64,
                        opens_at: a.opens_at as f64,
                    }),
                    last_decision: e.last_decision.map(hex::encode),
                })
                .collect(),
        })
    }
    /// Checks the entry of `grant`: listed, with the wait its owner signed
    /// (`binding_mismatch`).
    #[wasm_bindgen(js_name = checkGrant)]
    pub fn check_grant(&self, grant: &VerifiedGrant) -> Result<(), JsValue> {
        let e = self.0.entry(&grant.0.grant_id).ok_or_else(|| {
            JsValue::from(crate::error::Error::BindingMismatch(
                "the SRS's view does not list this grant",
            ))
        })?;
        Ok(e.check_grant(&grant.0)?)
    }
    /// Checks that `activation` (verified against its grant) is the one the
    /// view names for its grant (`binding_mismatch`).
    #[wasm_bindgen(js_name = checkActivation)]
    pub fn check_activation(&self, activation: &EmergencyActivation) -> Result<(), JsValue> {
        let e = self.0.entry(&activation.0.grant_id).ok_or_else(|| {
            JsValue::from(crate::error::Error::BindingMismatch(
                "the SRS's view does not list this grant",
            ))
        })?;
        Ok(e.check_activation(&activation.0)?)
    }
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
