//! Access requests: a requester's signed request sealed to a record's owner
//! as mail, the owner's rule for which to show, and the signed refusal
//! mailed back. Which SeSPHR object a mail holds is `mailKind` (wasm/invitation.rs), so each
//! mail reader leaves other kinds to their own readers.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{
    from_js, hex32, now_ms, party_view, to_js, to_u64, Identity, PartyView, PublicIdentity,
};
use crate::access_request::{pending_requests, AccessAsk, AccessRefusal, AccessRequest};
use crate::envelope::Envelope;
use crate::grant::Role;
use crate::primitives::os_rng;
use crate::record::RecordId;

/// What a request asks, as JS passes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsAsk {
    record_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    sections: Vec<String>,
    #[serde(default)]
    reason: String,
    ttl_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestView {
    id: String,
    requester: PartyView,
    record_id: Option<String>,
    role: &'static str,
    sections: Vec<String>,
    reason: String,
    created_at: f64,
    expires_at: f64,
}

fn view(r: &AccessRequest) -> RequestView {
    RequestView {
        id: hex::encode(r.hash()),
        requester: party_view(&r.requester),
        record_id: (r.record.0 != [0; 32]).then(|| r.record.to_hex()),
        role: r.role.name(),
        sections: r.sections.clone(),
        reason: r.reason.clone(),
        created_at: r.created_at as f64,
        expires_at: r.expires_at as f64,
    }
}

/// Signs an access request to `owner` (`ask`: `{recordId?, role?, sections,
/// reason, ttlMs}`) and seals it to the owner as mail. Returns `{id (the
/// request's hash, hex), sealed}`: post `sealed` to the owner's mail.
#[wasm_bindgen(js_name = sealAccessRequest)]
pub fn seal_access_request(
    me: &Identity,
    owner: &PublicIdentity,
    ask: JsValue,
) -> Result<JsValue, JsValue> {
    let a = from_js::<JsAsk>(ask, "ask")?;
    let role = match a.role.as_deref() {
        None => Role::Custom,
        Some(r) => Role::from_name(r).ok_or_else(|| super::arg("unknown role"))?,
    };
    let record = match a.record_id.as_deref() {
        Some(r) => RecordId(hex32(r, "recordId")?),
        None => RecordId([0; 32]),
    };
    let req = AccessRequest::sign(
        &me.0,
        &AccessAsk {
            owner: owner.0.id(),
            record,
            role,
            sections: &a.sections,
            reason: &a.reason,
            now: now_ms(),
            ttl_ms: to_u64(a.ttl_ms, "ttlMs")?,
        },
        &mut os_rng(),
    )?;
    let sealed =
        Envelope::seal_mail(&owner.0.encryption, req.as_bytes(), &mut os_rng())?.to_bytes();
    #[derive(Serialize)]
    struct Out {
        id: String,
        #[serde(with = "serde_bytes")]
        sealed: Vec<u8>,
    }
    to_js(&Out {
        id: hex::encode(req.hash()),
        sealed,
    })
}

/// Owner side: opens access-request mails (`[{id, sealed}]`, as the relay
/// lists them) and applies the owner's rule: verified, addressed to `me`,
/// unexpired at now, no repeat, at most 3 per requester. Returns `{pending:
/// [{mailId, request: {id, requester, recordId, role, sections, reason,
/// createdAt, expiresAt}}], junk: [mailId]}` (junk: what does not verify,
/// expired, repeats and the excess: delete it).
#[wasm_bindgen(js_name = openAccessRequests)]
pub fn open_access_requests(me: &Identity, mails: JsValue) -> Result<JsValue, JsValue> {
    #[derive(Deserialize)]
    struct Mail {
        id: String,
        sealed: String,
    }
    let mails: Vec<Mail> = from_js(mails, "mails")?;
    let mut junk = Vec::new();
    let mut ok: Vec<(String, AccessRequest)> = Vec::new();
    for m in mails {
        let opened = hex::decode(&m.sealed)
            .ok()
            .and_then(|b| Envelope::from_bytes(&b).ok())
            .and_then(|e| e.open_mail(&me.0).ok())
            .and_then(|p| AccessRequest::from_bytes(&p, &me.0.id()).ok());
        match opened {
            Some(r) => ok.push((m.id, r)),
            None => junk.push(m.id),
        }
    }
    let requests: Vec<AccessRequest> = ok.iter().map(|(_, r)| r.clone()).collect();
    let (kept, dropped) = pending_requests(&requests, now_ms());
    junk.extend(dropped.iter().map(|&i| ok[i].0.clone()));
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Pending {
        mail_id: String,
        request: RequestView,
    }
    #[derive(Serialize)]
    struct Out {
        pending: Vec<Pending>,
        junk: Vec<String>,
    }
    to_js(&Out {
        pending: kept
            .iter()
            .map(|&i| Pending {
                mail_id: ok[i].0.clone(),
                request: view(&ok[i].1),
            })
            .collect(),
        junk,
    })
}

/// Owner side: a signed refusal of the request in `sealed` (the mail it
/// came in), sealed back to its requester. Returns `{requesterId, sealed}`.
#[wasm_bindgen(js_name = sealAccessRefusal)]
pub fn seal_access_refusal(me: &Identity, sealed: &[u8]) -> Result<JsValue, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&me.0)?;
    let request = AccessRequest::from_bytes(&plain, &me.0.id())?;
    let refusal = AccessRefusal::sign(&me.0, &request, now_ms())?;
    let out = Envelope::seal_mail(
        &request.requester.encryption,
        refusal.as_bytes(),
        &mut os_rng(),
    )?
    .to_bytes();
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        requester_id: String,
        #[serde(with = "serde_bytes")]
        sealed: Vec<u8>,
    }
    to_js(&Out {
        requester_id: request.requester.id().to_hex(),
        sealed: out,
    })
}

/// Requester side: opens a refusal mailed to `me`: `{requestId, owner,
/// timestamp}` (the owner's signature checked; match `requestId` and
/// `owner.id` with a request this party sent).
#[wasm_bindgen(js_name = openAccessRefusal)]
pub fn open_access_refusal(me: &Identity, sealed: &[u8]) -> Result<JsValue, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&me.0)?;
    let r = AccessRefusal::from_bytes(&plain, &me.0.id())?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        request_id: String,
        owner: PartyView,
        timestamp: f64,
    }
    to_js(&Out {
        request_id: hex::encode(r.request),
        owner: party_view(&r.owner),
        timestamp: r.timestamp as f64,
    })
}
