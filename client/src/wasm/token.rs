//! Request tokens: how a party authorizes one server action (the
//! `x-sesphr-token` header) without a bearer secret.

use wasm_bindgen::prelude::*;

use super::{arg, to_u64, Identity};
use crate::primitives::os_rng;
use crate::token::{Purpose, RequestToken};

/// A signed request token for the servers' `x-sesphr-token` header (send its
/// hex). `purpose` is `uploadBlob` (subject: content address ‖ u64 length),
/// `readInbox` (empty), `listGrants` / `readAudit` (record id bytes),
/// `deleteBlob` (content address), `clearInbox` (the item id: its grant
/// statement's hash), `sendMail` (recipient ‖ mail id), `readMail` (empty),
/// `clearMail` (mail id), `putLink` (link id ‖ SHA-256 of the body),
/// `listLinks` (empty), `revokeLink` (link id), `listEmergency` (record id)
/// or `emergencyStatus` (record id ‖ grant id).
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
        "clearInbox" => Purpose::ClearInbox,
        "sendMail" => Purpose::SendMail,
        "readMail" => Purpose::ReadMail,
        "clearMail" => Purpose::ClearMail,
        "putLink" => Purpose::PutLink,
        "listLinks" => Purpose::ListLinks,
        "revokeLink" => Purpose::RevokeLink,
        "putState" => Purpose::PutState,
        "getState" => Purpose::GetState,
        "listEmergency" => Purpose::ListEmergency,
        "emergencyStatus" => Purpose::EmergencyStatus,
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
