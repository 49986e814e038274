//! JavaScript bindings (wasm-bindgen): a thin layer over the protocol core,
//! one module per core module it binds.
//!
//! Bytes travel as `Uint8Array`, ids as lower-case hex strings, integers as
//! JS numbers (safe integers only), and plain data as plain objects.
//! Verified objects are classes (`VerifiedManifest`, `VerifiedGrant`,
//! `SignedHead`, `ManifestChain`, `SharedRecord`, …): each is checked once,
//! when it is built, and every later call takes it by reference, so nothing
//! is verified twice and nothing passed in is consumed. No function takes an
//! array of these classes (wasm-bindgen would move and null each element);
//! lists are built incrementally (`chain.push(m)`, `restore.addManifest(m)`).
//!
//! Every failure is thrown as the class registered with [`set_error_class`]
//! (the npm package registers its `SesphrError`), constructed as
//! `new Class(code, message)`, with the stable `code` of
//! [`crate::Error::code`] (argument errors use `invalid_argument`). Before a
//! class is registered, or if its constructor throws, the error is a plain
//! `Error` named `SesphrError` with the same `code`.

mod access_request;
mod attachment;
mod audit;
mod emergency;
mod grant;
mod identity;
mod invitation;
mod manifest;
mod owner;
mod placement;
mod reader;
mod record;
mod reencrypt;
mod revocation;
mod shard;
mod shl;
mod stream;
mod token;
mod vault;
mod webcrypto;

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::identity::PublicIdentity as CorePublic;

pub use access_request::{
    open_access_refusal, open_access_requests, seal_access_refusal, seal_access_request,
};
pub use attachment::{
    attachment_header_length, AttachmentDecryptor, AttachmentEncryptor, AttachmentKey,
};
pub use audit::{describe_audit_entry, AuditListingCheck};
pub use emergency::{
    emergency_clock_slack_ms, emergency_sections, token_nonce, EmergencyActivation,
    EmergencyDecision, EmergencyView,
};
pub use grant::{issue_grant, role_sections, standard_sections, GrantShare, VerifiedGrant};
pub use identity::{verify_directory_entry, Identity, PublicIdentity};
pub use invitation::{
    accept_invitation, acceptance_invitation_id, create_invitation, mail_kind, open_acceptance,
    open_invitation, open_name_card, open_state, safety_number, seal_name_card, seal_state,
    state_header_of,
};
pub use manifest::{ManifestChain, SignedHead, VerifiedManifest};
pub use owner::{OwnerRecord, RecordRestore};
pub use placement::{placement_plan, placement_signature};
pub use reader::{readable_version, Inbox, InboxItem, SectionRead, SharedRecord};
pub use record::{new_epoch_id, new_record, section_id, DataKey, SectionKey};
pub use reencrypt::SealedRequest;
pub use revocation::Revocation;
pub use shard::{
    check_shard_plan, PlacementKey, ShardDecoder, ShardEncoder, ShardIndex, ShardPlan,
};
pub use shl::{
    shl_body_hash, shl_decode_payload, shl_encode_payload, ShlLink, ShlLinkKey, ShlOwnerKey,
};
pub use stream::{blob_header_length, SectionDecryptor, SectionEncryptor};
pub use token::sign_token;
pub use vault::wrapped_seed_cost;
pub use webcrypto::{
    web_crypto_available, web_crypto_import_key, web_crypto_open, web_crypto_seal,
};

// ---------------------------------------------------------------- errors

thread_local! {
    /// The JS class errors are thrown as (`new Class(code, message)`).
    static ERROR_CLASS: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Registers the class every error is thrown as: it is called as
/// `new errorClass(code, message)`. The npm package registers its
/// `SesphrError` in `init()`. `undefined` restores the default (a plain
/// `Error` named `SesphrError` with a `code`).
#[wasm_bindgen(js_name = setErrorClass)]
pub fn set_error_class(class: Option<js_sys::Function>) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = class);
}

/// Builds the thrown error: the registered class, or a plain `Error` with
/// `name = "SesphrError"`, and the stable `code`.
pub(crate) fn js_error(code: &str, message: &str) -> JsValue {
    let class = ERROR_CLASS.with(|c| c.borrow().clone());
    if let Some(class) = class {
        let args = js_sys::Array::of2(&code.into(), &message.into());
        if let Ok(e) = js_sys::Reflect::construct(&class, &args) {
            return e;
        }
    }
    let e = js_sys::Error::new(message);
    e.set_name("SesphrError");
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

/// `js_error` with numeric details set on the error (`found`, `known`, …).
pub(crate) fn js_error_with(code: &str, message: &str, details: &[(&str, u64)]) -> JsValue {
    let e = js_error(code, message);
    for (k, v) in details {
        let _ = js_sys::Reflect::set(&e, &(*k).into(), &(*v as f64).into());
    }
    e
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        let message = e.to_string();
        match e {
            Error::Stale { found, known } => {
                js_error_with(e.code(), &message, &[("found", found), ("known", known)])
            }
            Error::BeforeFromVersion {
                version,
                from_version,
            } => js_error_with(
                e.code(),
                &message,
                &[("version", version), ("fromVersion", from_version)],
            ),
            Error::AuditIncomplete { listed, known } => {
                js_error_with(e.code(), &message, &[("listed", listed), ("known", known)])
            }
            Error::AuditFork {
                ref kept,
                ref served,
            } => {
                // The evidence: both signed heads, as bytes anyone can check
                // against the SRS key.
                let err = js_error(e.code(), &message);
                for (k, head) in [("keptHead", kept), ("servedHead", served)] {
                    let bytes = js_sys::Uint8Array::from(head.as_bytes());
                    let _ = js_sys::Reflect::set(&err, &k.into(), &bytes.into());
                }
                err
            }
            _ => js_error(e.code(), &message),
        }
    }
}

// ---------------------------------------------------------------- helpers

fn arg(message: &str) -> JsValue {
    js_error("invalid_argument", message)
}

fn to_u64(v: f64, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(arg(&format!("{what} must be a non-negative safe integer")))
    }
}

/// A section id from its hex (`invalid_argument` otherwise).
fn section(id: &str) -> Result<crate::record::SectionId, JsValue> {
    Ok(crate::record::SectionId(hex32(id, "sectionId")?))
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], JsValue> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| arg(&format!("{what} must be 64 hex characters")))?;
    Ok(out)
}

fn hex16(s: &str, what: &str) -> Result<[u8; 16], JsValue> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| arg(&format!("{what} must be 32 hex characters")))?;
    Ok(out)
}

fn digest32(d: &[u8]) -> Result<[u8; 32], JsValue> {
    d.try_into().map_err(|_| arg("a digest is 32 bytes"))
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| arg(&e.to_string()))
}

fn from_js<T: for<'de> Deserialize<'de>>(v: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| arg(&format!("{what}: {e}")))
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A public identity as a plain object: `{id, fingerprint, publicKey}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartyView {
    id: String,
    fingerprint: String,
    public_key: ByteBuf,
}

fn party_view(p: &CorePublic) -> PartyView {
    PartyView {
        id: p.id().to_hex(),
        fingerprint: p.fingerprint(),
        public_key: ByteBuf::from(p.to_bytes().to_vec()),
    }
}
