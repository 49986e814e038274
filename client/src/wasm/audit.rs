//! The SRS's audit log, as its owner reads it.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::to_js;
use crate::audit::AuditEntry;

/// Decodes one audit log entry: `{timestamp, grantId, granteeId, recordId,
/// sectionId, version, request, decision}` (`request` is the hash of the
/// request decided on; `decision` is `allowed` or the refusal code).
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
        request: String,
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
        request: hex::encode(e.request),
        decision: e.decision.code(),
    })
}
