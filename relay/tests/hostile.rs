//! The hostile-input kit: one table of malformed, forged, replayed, stale,
//! misdirected, unauthorized and oversized requests, each with the status and
//! error code it must get; then races (duplicate uploads, concurrent manifest
//! writers), rates and quotas, and what a refused request may not write.
//! After all of it the server is healthy and every stored byte still
//! verifies.
#![cfg(test)]

use sesphr_testkit::deploy::*;

use std::time::Duration;

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{EpochId, SectionKey};
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_client::revocation::Revocation;
use sesphr_client::stream::ChunkIndex;
use sesphr_client::token::{Purpose, RequestToken};

/// How a case is sent.
#[allow(clippy::large_enum_variant)]
enum Send {
    /// Only a request head on a raw connection: for requests the server must
    /// refuse before reading a body (the body is never sent).
    Head(String),
    /// A complete request.
    Http {
        method: &'static str,
        path: String,
        content_type: Option<&'static str>,
        token: Option<Vec<u8>>,
        body: Vec<u8>,
    },
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    code: &'static str,
}

fn post(path: impl Into<String>, content_type: &'static str, body: Vec<u8>) -> Send {
    Send::Http {
        method: "POST",
        path: path.into(),
        content_type: Some(content_type),
        token: None,
        body,
    }
}

fn get(path: impl Into<String>, token: Option<&RequestToken>) -> Send {
    Send::Http {
        method: "GET",
        path: path.into(),
        content_type: None,
        token: token.map(|t| t.as_bytes().to_vec()),
        body: Vec::new(),
    }
}

fn bin(path: impl Into<String>, body: Vec<u8>) -> Send {
    post(path, "application/octet-stream", body)
}

fn json(path: impl Into<String>, v: serde_json::Value) -> Send {
    post(path, "application/json", serde_json::to_vec(&v).unwrap())
}

fn token(who: &Identity, purpose: Purpose, subject: &[u8], at: u64) -> RequestToken {
    RequestToken::sign(who, purpose, subject, at, &mut os_rng()).unwrap()
}

/// Sends a case; returns (status, code) with code "" for a success.
async fn run(api: &Api, send: &Send) -> (u16, String) {
    match send {
        Send::Head(head) => {
            let reply = raw_head(&api.base, head).await;
            let status: u16 = reply
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no status line in {reply:?}"));
            let code = reply
                .split("\"code\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string();
            (status, code)
        }
        Send::Http {
            method,
            path,
            content_type,
            token,
            body,
        } => {
            let mut req = api.http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", api.base),
            );
            if let Some(ct) = content_type {
                req = req.header("content-type", *ct);
            }
            if let Some(t) = token {
                req = req.header("x-sesphr-token", hex::encode(t));
            }
            let resp = req.body(body.clone()).send().await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap();
            if status < 400 {
                return (status, String::new());
            }
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("error body is not JSON: {status} {bytes:?}"));
            (status, v["code"].as_str().unwrap_or("").to_string())
        }
    }
}

fn sealed_request(
    srs: &sesphr_client::identity::PublicIdentity,
    signer: &Identity,
    grant: &IssuedGrant,
    version: u64,
    at: u64,
) -> Vec<u8> {
    let req = ReencryptRequest::new(signer, &grant.statement, version, at, &mut os_rng()).unwrap();
    seal_request(&srs.encryption, req.as_bytes(), &mut os_rng())
        .unwrap()
        .0
}

/// A grant `signer` issues over `record`'s section in a fresh epoch, to
/// `grantee`, delivered nowhere.
fn issue(
    signer: &Identity,
    record: sesphr_client::record::RecordId,
    section: sesphr_client::record::SectionId,
    srs: &sesphr_client::identity::PublicIdentity,
    grantee: &Identity,
) -> IssuedGrant {
    let key =
        SectionKey::for_owner(signer, record, section, EpochId::generate(&mut os_rng())).unwrap();
    let terms = GrantTerms {
        grantee: grantee.public().clone(),
        role: Role::Physician,
        from_version: 0,
        expires_at: None,
        sequence: 1,
        emergency_wait_ms: None,
    };
    IssuedGrant::issue(signer, &key, &srs.encryption, &terms, &mut os_rng()).unwrap()
}

/// A request whose signature does not verify (last signature byte flipped).
fn forged_request(
    srs: &sesphr_client::identity::PublicIdentity,
    signer: &Identity,
    grant: &IssuedGrant,
) -> Vec<u8> {
    let req = ReencryptRequest::new(signer, &grant.statement, 2, now(), &mut os_rng()).unwrap();
    let mut bytes = req.as_bytes().to_vec();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    seal_request(&srs.encryption, &bytes, &mut os_rng())
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_typed_refusal_and_harms_nothing() {
    let d = deploy(|c| c.max_blob_bytes = 64 * 1024).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let srs = client.srs().clone();
    let history = [("history", b"keep me".as_slice())];
    let (doctor, mut g) = share_written(&client, &mut record, &history, Role::Physician).await;
    let g = g.remove(0);
    let stranger = party(&client).await;
    let unregistered = Identity::generate().unwrap();
    let owner = patient.identity();
    let m = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();
    let g_revoked = record
        .share(
            stranger.public(),
            &["history"],
            Role::Physician,
            false,
            None,
        )
        .await
        .unwrap()
        .remove(0);
    record.revoke(&g_revoked.statement.grant_id).await.unwrap();
    let g_expiring = record
        .share(
            doctor.public(),
            &["history"],
            Role::Physician,
            false,
            Some(now() + 1_000),
        )
        .await
        .unwrap()
        .remove(0);
    let g_from_now = record
        .share(doctor.public(), &["history"], Role::Physician, true, None)
        .await
        .unwrap()
        .remove(0);
    let (rec, hist) = (record.record(), record.section_id("history"));
    let v = m.version();
    let rpath = format!("/v1/records/{}/manifests", rec.to_hex());
    let seven = hex::encode([7u8; 32]);

    // Objects to corrupt.
    let entry = doctor.directory_entry(now());
    let mut identity_point = entry.as_bytes().to_vec();
    identity_point[6..39].fill(0);
    let mut off_curve = entry.as_bytes().to_vec();
    off_curve[7..39].fill(0xff);
    let mut transplanted = stranger.directory_entry(now()).as_bytes().to_vec();
    let n = transplanted.len();
    transplanted[n - 64..].copy_from_slice(&entry.as_bytes()[n - 64..]);
    let mut manifest_identity_point = m.as_bytes().to_vec();
    let a_at = 6 + 66 + 32 + 16 + 8 + 32 + 8 + 4 + 32 + 32;
    manifest_identity_point[a_at..a_at + 33].fill(0);
    let mut forged_manifest = m.as_bytes().to_vec();
    let n = forged_manifest.len();
    forged_manifest[n - 1] ^= 1;
    // Manifests of records that are not the patient's, or by nobody known.
    let own_record = |who: &Identity| {
        let nonce = [9u8; 16];
        sesphr_client::manifest::ManifestContent::first(
            sesphr_client::record::RecordId::derive(&who.id(), &nonce),
            nonce,
            now(),
            Vec::new(),
        )
        .sign(who)
        .unwrap()
    };
    let foreign = own_record(&doctor);
    let nobodys = own_record(&unregistered);
    // Another manifest at the patient's existing latest version.
    let rival = sesphr_client::manifest::ManifestContent {
        created_at: m.content.created_at + 1,
        ..m.content.clone()
    }
    .sign(owner)
    .unwrap();
    // A grant the doctor signs over the patient's record; one over a record
    // the relay does not hold; one by an unregistered party.
    let not_owner = issue(&doctor, rec, hist, &srs, &stranger);
    let no_record = issue(&doctor, foreign.record(), hist, &srs, &stranger);
    let by_nobody = issue(&unregistered, nobodys.record(), hist, &srs, &stranger);
    // A genuine grant of the patient's, not yet delivered, and one whose
    // expiry is already past.
    let undelivered = issue(owner, rec, hist, &srs, &stranger);
    let key =
        SectionKey::for_owner(owner, rec, hist, record.state().epoch(&hist).unwrap()).unwrap();
    let past = IssuedGrant::issue(
        owner,
        &key,
        &srs.encryption,
        &GrantTerms {
            grantee: stranger.public().clone(),
            role: Role::Physician,
            from_version: 0,
            expires_at: Some(now() - 1),
            sequence: 99,
            emergency_wait_ms: None,
        },
        &mut os_rng(),
    )
    .unwrap();
    let mut unknown = g.clone();
    unknown.statement.grant_id = [0xee; 16];
    let used_token = token(&doctor, Purpose::ReadInbox, &[], now());
    let replayed_request = sealed_request(&srs, &doctor, &g, v, now());
    let small = opaque_blob(9, 1000);
    let small_id = blob_id(&small);
    let small_len = small.len() as u64;
    let mut longer = small.clone();
    longer.push(0);
    let small_index = ChunkIndex::from_blob(&small).unwrap().to_bytes();
    let upload_by = |who: &Identity, subject_len: u64, body: Vec<u8>, id: [u8; 32]| Send::Http {
        method: "PUT",
        path: format!("/v1/blobs/{}", hex::encode(id)),
        content_type: Some("application/octet-stream"),
        token: Some(
            token(
                who,
                Purpose::UploadBlob,
                &[id.as_slice(), &subject_len.to_be_bytes()].concat(),
                now(),
            )
            .as_bytes()
            .to_vec(),
        ),
        body,
    };
    let upload =
        |subject_len: u64, body: Vec<u8>, id: [u8; 32]| upload_by(owner, subject_len, body, id);
    let inbox_path = "/v1/inbox";
    let item = |g: &IssuedGrant| serde_json::json!({"statement": hex::encode(g.statement.as_bytes()), "b1Envelope": hex::encode(g.b1_envelope.to_bytes())});
    let srs_grant = |g: &IssuedGrant| serde_json::json!({"statement": hex::encode(g.statement.as_bytes()), "b2Envelope": hex::encode(g.b2_envelope.to_bytes())});
    let doctors_items = client.inbox(&doctor).await.unwrap();
    let an_item = hex::encode(doctors_items[0].0);
    let delete = |path: String, t: RequestToken| Send::Http {
        method: "DELETE",
        path,
        content_type: None,
        token: Some(t.as_bytes().to_vec()),
        body: Vec::new(),
    };

    // Revocations of the doctor's live grant that are not the owner's: a
    // flipped signature bit, the same statement signed by the grantee, one
    // naming another section, one naming a grant that does not exist. None
    // may revoke it: the request under `g` below is still served.
    let genuine = Revocation::sign(owner, &g.statement, now()).unwrap();
    let payload_len = genuine.as_bytes().len() - 64;
    let mut flipped_revocation = genuine.as_bytes().to_vec();
    flipped_revocation[payload_len] ^= 1;
    let resign = |who: &Identity, payload: &[u8]| [payload, &who.sign(payload)].concat();
    let by_grantee = resign(&doctor, &genuine.as_bytes()[..payload_len]);
    let mut other_section = genuine.as_bytes()[..payload_len].to_vec();
    other_section[6 + 16 + 32] ^= 1;
    let other_section = resign(owner, &other_section);
    let mut no_such_grant = genuine.as_bytes()[..payload_len].to_vec();
    no_such_grant[6..6 + 16].fill(0xdd);
    let no_such_grant = resign(owner, &no_such_grant);

    tokio::time::sleep(Duration::from_millis(1_100)).await; // g_expiring has expired

    let cases = vec![
        // Bodies: malformed, mistyped, oversized, mislabelled.
        Case { name: "JSON that does not parse", send: post("/srs/v1/grants", "application/json", b"{".to_vec()), status: 400, code: "malformed_json" },
        Case { name: "JSON with an unknown field", send: json("/srs/v1/grants", serde_json::json!({"statement": "00", "b2Envelope": "00", "admin": true})), status: 400, code: "malformed_json" },
        Case { name: "JSON with a mistyped field", send: json("/srs/v1/grants", serde_json::json!({"statement": 5, "b2Envelope": "00"})), status: 400, code: "malformed_json" },
        Case { name: "JSON field that is not hex", send: json(inbox_path, serde_json::json!({"statement": "zz", "b1Envelope": "00"})), status: 400, code: "malformed" },
        Case { name: "hex that is no object", send: json(inbox_path, serde_json::json!({"statement": "00ff", "b1Envelope": "00"})), status: 400, code: "malformed" },
        Case { name: "wrong content type for JSON", send: Send::Head("POST /srs/v1/grants HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n".into()), status: 415, code: "unsupported_media_type" },
        Case { name: "directory entry as text/plain", send: post("/srs/v1/directory", "text/plain", entry.as_bytes().to_vec()), status: 415, code: "unsupported_media_type" },
        Case { name: "manifest without a content type", send: Send::Head(format!("POST {rpath} HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n")), status: 415, code: "unsupported_media_type" },
        Case { name: "JSON sent as octets", send: post(inbox_path, "application/octet-stream", serde_json::to_vec(&item(&g)).unwrap()), status: 415, code: "unsupported_media_type" },
        Case { name: "object body over 1 MiB", send: Send::Head(format!("POST {rpath} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n", 2 << 20)), status: 413, code: "too_large" },
        Case { name: "object body without a length", send: Send::Head(format!("POST {rpath} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")), status: 411, code: "length_required" },
        Case { name: "blob over the configured limit", send: Send::Head(format!("PUT /v1/blobs/{seven} HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")), status: 413, code: "too_large" },
        Case { name: "a 10 GB blob", send: Send::Head(format!("PUT /v1/blobs/{seven} HTTP/1.1\r\nhost: x\r\ncontent-length: 10737418240\r\n\r\n")), status: 413, code: "too_large" },
        Case { name: "blob without a token", send: Send::Head(format!("PUT /v1/blobs/{seven} HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n")), status: 401, code: "token_required" },
        Case { name: "blob that does not hash to its id", send: upload(small_len, small.clone(), [7; 32]), status: 400, code: "hash_mismatch" },
        Case { name: "blob token for another length", send: upload(small_len + 1, small.clone(), small_id), status: 403, code: "binding_mismatch" },
        Case { name: "blob that is no SeSPHR object", send: upload(16, vec![0; 16], [7; 32]), status: 400, code: "malformed" },
        Case { name: "blob longer than its header says", send: upload(small_len + 1, longer, small_id), status: 400, code: "malformed" },
        Case { name: "a manifest stored as a blob", send: upload(m.as_bytes().len() as u64, m.as_bytes().to_vec(), [7; 32]), status: 400, code: "wrong_kind" },
        Case { name: "chunk index short of its leaf count", send: upload(small_index.len() as u64 - 32, small_index[..small_index.len() - 32].to_vec(), [7; 32]), status: 400, code: "malformed" },
        // Who may write.
        Case { name: "blob by an unregistered party", send: upload_by(&unregistered, small_len, small.clone(), small_id), status: 403, code: "unknown_party" },
        Case { name: "manifest by an unregistered owner", send: bin(format!("/v1/records/{}/manifests", nobodys.record().to_hex()), nobodys.as_bytes().to_vec()), status: 403, code: "unknown_party" },
        Case { name: "inbox item signed over another owner's record", send: json(inbox_path, item(&not_owner)), status: 403, code: "not_owner" },
        Case { name: "inbox item for a record the relay does not hold", send: json(inbox_path, item(&no_record)), status: 409, code: "no_record" },
        Case { name: "inbox item by an unregistered party", send: json(inbox_path, item(&by_nobody)), status: 403, code: "unknown_party" },
        Case { name: "inbox item delivered again (a retry)", send: json(inbox_path, item(&g)), status: 200, code: "" },
        Case { name: "inbox item removed with a token for another purpose", send: delete(format!("/v1/inbox/{an_item}"), token(&doctor, Purpose::DeleteBlob, &doctors_items[0].0, now())), status: 403, code: "binding_mismatch" },
        Case { name: "inbox item removed by someone else", send: delete(format!("/v1/inbox/{an_item}"), token(&stranger, Purpose::ClearInbox, &doctors_items[0].0, now())), status: 404, code: "not_found" },
        Case { name: "blob deleted by someone not its uploader", send: delete(format!("/v1/blobs/{}", hex::encode(m.entry(&hist).unwrap().blob_id())), token(&doctor, Purpose::DeleteBlob, &m.entry(&hist).unwrap().blob_id(), now())), status: 403, code: "not_owner" },
        // Points and encodings.
        Case { name: "directory entry with the identity point", send: bin("/srs/v1/directory", identity_point), status: 400, code: "invalid_point" },
        Case { name: "directory entry with a point off the curve", send: bin("/srs/v1/directory", off_curve), status: 400, code: "invalid_point" },
        Case { name: "manifest entry with the identity point", send: bin(rpath.clone(), manifest_identity_point), status: 400, code: "invalid_point" },
        Case { name: "truncated object", send: bin("/srs/v1/directory", entry.as_bytes()[..100].to_vec()), status: 400, code: "malformed" },
        Case { name: "object of another kind", send: bin("/srs/v1/directory", m.as_bytes().to_vec()), status: 400, code: "wrong_kind" },
        // Signatures.
        Case { name: "manifest with a flipped signature bit", send: bin(rpath.clone(), forged_manifest.clone()), status: 403, code: "bad_signature" },
        Case { name: "head for a forged manifest", send: bin("/srs/v1/heads", forged_manifest), status: 403, code: "bad_signature" },
        Case { name: "directory entry with another entry's signature", send: bin("/srs/v1/directory", transplanted), status: 403, code: "bad_signature" },
        Case { name: "manifest another party signs for this record", send: bin(rpath.clone(), foreign.as_bytes().to_vec()), status: 400, code: "record_mismatch" },
        Case { name: "manifest retried at its own version", send: bin(rpath.clone(), m.as_bytes().to_vec()), status: 200, code: "" },
        Case { name: "another manifest at an existing version", send: bin(rpath.clone(), rival.as_bytes().to_vec()), status: 409, code: "version_conflict" },
        Case { name: "head retried at its own version", send: bin("/srs/v1/heads", m.as_bytes().to_vec()), status: 200, code: "" },
        Case { name: "head of another manifest at an existing version", send: bin("/srs/v1/heads", rival.as_bytes().to_vec()), status: 409, code: "version_conflict" },
        // Tokens.
        Case { name: "token used the first time", send: get(inbox_path, Some(&used_token)), status: 200, code: "" },
        Case { name: "token replayed", send: get(inbox_path, Some(&used_token)), status: 403, code: "replay" },
        Case { name: "token an hour old", send: get(inbox_path, Some(&token(&doctor, Purpose::ReadInbox, &[], now() - 3_600_000))), status: 403, code: "stale" },
        Case { name: "token from the future", send: get(inbox_path, Some(&token(&doctor, Purpose::ReadInbox, &[], now() + 3_600_000))), status: 403, code: "stale" },
        Case { name: "token for another purpose", send: get(inbox_path, Some(&token(&doctor, Purpose::ReadAudit, &[], now()))), status: 403, code: "binding_mismatch" },
        Case { name: "token that is not hex", send: Send::Head("GET /v1/inbox HTTP/1.1\r\nhost: x\r\nx-sesphr-token: zz\r\n\r\n".into()), status: 400, code: "malformed" },
        Case { name: "grant list read by a reader", send: get(format!("/srs/v1/records/{}/grants", rec.to_hex()), Some(&token(&doctor, Purpose::ListGrants, &rec.0, now()))), status: 403, code: "not_owner" },
        Case { name: "audit read with a token for another record", send: get(format!("/srs/v1/records/{}/audit", rec.to_hex()), Some(&token(owner, Purpose::ReadAudit, &[1; 32], now()))), status: 403, code: "binding_mismatch" },
        // Grants.
        Case { name: "grant over another party's record", send: json("/srs/v1/grants", srs_grant(&not_owner)), status: 403, code: "not_owner" },
        Case { name: "grant delivered again to the SRS (a retry)", send: json("/srs/v1/grants", srs_grant(&g)), status: 200, code: "" },
        Case { name: "a revoked grant resubmitted", send: json("/srs/v1/grants", srs_grant(&g_revoked)), status: 409, code: "grant_id_used" },
        Case { name: "grant whose expiry is already past", send: json("/srs/v1/grants", srs_grant(&past)), status: 400, code: "already_expired" },
        Case { name: "grant delivered with another grant's envelope", send: json(inbox_path, serde_json::json!({"statement": hex::encode(g.statement.as_bytes()), "b1Envelope": hex::encode(g_revoked.b1_envelope.to_bytes())})), status: 403, code: "binding_mismatch" },
        Case { name: "grant with another grant's b2 envelope", send: json("/srs/v1/grants", serde_json::json!({"statement": hex::encode(undelivered.statement.as_bytes()), "b2Envelope": hex::encode(g.b2_envelope.to_bytes())})), status: 403, code: "binding_mismatch" },
        // Revocations that are not the owner's.
        Case { name: "revocation with a flipped signature bit", send: bin("/srs/v1/revocations", flipped_revocation), status: 403, code: "bad_signature" },
        Case { name: "revocation signed by the grantee", send: bin("/srs/v1/revocations", by_grantee), status: 403, code: "bad_signature" },
        Case { name: "revocation naming another section of the grant", send: bin("/srs/v1/revocations", other_section), status: 403, code: "binding_mismatch" },
        Case { name: "revocation of a grant that does not exist", send: bin("/srs/v1/revocations", no_such_grant), status: 404, code: "not_found" },
        // Re-encryption.
        Case { name: "request under an unknown grant", send: bin("/v1/reencrypt", sealed_request(&srs, &doctor, &unknown, v, now())), status: 403, code: "unknown_grant" },
        Case { name: "request under a revoked grant", send: bin("/v1/reencrypt", sealed_request(&srs, &stranger, &g_revoked, v, now())), status: 403, code: "revoked" },
        Case { name: "request under an expired grant", send: bin("/v1/reencrypt", sealed_request(&srs, &doctor, &g_expiring, v, now())), status: 403, code: "expired" },
        Case { name: "request for a version older than a from-now grant (its epoch is not there)", send: bin("/v1/reencrypt", sealed_request(&srs, &doctor, &g_from_now, v, now())), status: 403, code: "not_in_manifest" },
        Case { name: "request for a version not published", send: bin("/v1/reencrypt", sealed_request(&srs, &doctor, &g, 9, now())), status: 403, code: "not_in_manifest" },
        Case { name: "request with a forged signature", send: bin("/v1/reencrypt", forged_request(&srs, &doctor, &g)), status: 403, code: "bad_signature" },
        Case { name: "request an hour old", send: bin("/v1/reencrypt", sealed_request(&srs, &doctor, &g, v, now() - 3_600_000)), status: 403, code: "replay" },
        Case { name: "request sent the first time", send: bin("/v1/reencrypt", replayed_request.clone()), status: 200, code: "" },
        Case { name: "request replayed", send: bin("/v1/reencrypt", replayed_request), status: 403, code: "replay" },
        Case { name: "sealed request that is garbage", send: bin("/v1/reencrypt", b"SPHR\x0c\x01garbage".to_vec()), status: 400, code: "malformed" },
        // Ids and paths.
        Case { name: "dot-dot in a record id", send: get("/v1/records/..%2F..%2Fetc/manifests/latest", None), status: 400, code: "invalid_id" },
        Case { name: "encoded traversal as a blob id", send: get("/v1/blobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd", None), status: 400, code: "invalid_id" },
        Case { name: "unicode party id", send: get("/srs/v1/directory/%C3%A9t%C3%A9", None), status: 400, code: "invalid_id" },
        Case { name: "upper-case hex id", send: get(format!("/v1/records/{}/manifests/latest", "A".repeat(64)), None), status: 400, code: "invalid_id" },
        Case { name: "version that is not a number", send: get(format!("/v1/records/{}/manifests/-1", rec.to_hex()), None), status: 400, code: "invalid_version" },
        Case { name: "unknown route", send: get("/v1/nothing", None), status: 404, code: "not_found" },
        Case { name: "wrong method", send: Send::Http { method: "DELETE", path: "/srs/v1/info".into(), content_type: None, token: None, body: Vec::new() }, status: 405, code: "method_not_allowed" },
    ];

    let mut wrong = Vec::new();
    for case in &cases {
        let (status, code) = run(&api, &case.send).await;
        if (status, code.as_str()) != (case.status, case.code) {
            wrong.push(format!(
                "{}: got {status} {code:?}, want {} {:?}",
                case.name, case.status, case.code
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );

    // Races: the same blob uploaded eight times at once; eight writers of the
    // next manifest version at once.
    let body = opaque_blob(8, 5000);
    let uploads = (0..8).map(|_| client.put_blob(owner, &body));
    let ids = futures_util::future::join_all(uploads).await;
    assert!(
        ids.iter().all(|r| r.as_ref().ok() == Some(&blob_id(&body))),
        "{ids:?}"
    );
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let content = sesphr_client::manifest::ManifestContent {
                version: v + 1,
                previous: m.hash(),
                created_at: now() + i,
                ..m.content.clone()
            };
            content.sign(owner).unwrap()
        })
        .collect();
    let posts = writers
        .iter()
        .map(|w| api.post(&rpath, "application/octet-stream", w.as_bytes().to_vec()));
    let results = futures_util::future::join_all(posts).await;
    let won: Vec<usize> = (0..8).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| e.status == 409 && e.code == "version_conflict"));
    let latest = client.manifest(&rec, None).await.unwrap().unwrap();
    assert_eq!(latest.as_bytes(), writers[won[0]].as_bytes());
    // The owner's device reconciles: it refreshes and carries on.
    record.refresh().await.unwrap();
    record
        .write(&[("notes", b"after the race".as_slice())])
        .await
        .unwrap();

    // The server is healthy and nothing stored was harmed.
    api.get("/healthz", None).await.unwrap();
    let mut doc = sesphr_native::Reader::new(client.clone(), doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read_version(&shared, &hist, Some(v)).await.unwrap(),
        b"keep me"
    );
    assert_eq!(d.server.temporaries().await, 0, "no temporary files left");
    d.server.stop().await;
}

/// A party with a fresh record of its own.
async fn owner_of(
    client: &sesphr_native::Client,
) -> (sesphr_native::Patient, sesphr_native::PatientRecord) {
    patient(client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_rates_bound_what_one_party_writes() {
    let d = deploy(|c| {
        c.quotas.stored_bytes = 40_000;
        c.quotas.records = 2;
        c.quotas.inbox_per_sender = 3;
        c.quotas.inbox_total = 4;
    })
    .await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    let owner = patient.identity();
    // Storage: blobs count against their first uploader; over the quota the
    // upload is refused before its body is stored.
    let mut stored = 0;
    let refused = loop {
        let blob = opaque_blob(100 + stored, 5_000);
        match client.put_blob(owner, &blob).await {
            Ok(_) => stored += 1,
            Err(e) => break (e, blob_id(&blob)),
        }
    };
    assert_eq!(
        (refused.0.status(), refused.0.code()),
        (Some(413), "quota_exceeded")
    );
    assert!(stored >= 5, "{stored} blobs fit");
    assert!(!d
        .dir
        .path()
        .join("relay/blobs")
        .join(hex::encode(refused.1))
        .exists());
    // Records: a third record of one owner is refused.
    patient.create_record().await.unwrap();
    let e = patient.create_record().await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(413), "quota_exceeded"));
    // Inboxes: three items from one sender, four in all; the grantee clears
    // what it does not want, and deliveries go through again.
    let doctor = party(&client).await;
    let e = record
        .share(
            doctor.public(),
            &["a", "b", "c", "d"],
            Role::Custom,
            false,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(413), "quota_exceeded"));
    let items = client.inbox(&doctor).await.unwrap();
    assert_eq!(items.len(), 3);
    client.clear_inbox(&doctor, &items[0].0).await.unwrap();
    assert_eq!(
        client
            .clear_inbox(&doctor, &items[0].0)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    record
        .share(doctor.public(), &["e"], Role::Custom, false, None)
        .await
        .unwrap();
    let (_, mut other) = owner_of(&client).await;
    other.write(&[("x", b"x".as_slice())]).await.unwrap();
    other
        .share(doctor.public(), &["x"], Role::Custom, false, None)
        .await
        .unwrap();
    let e = other
        .share(doctor.public(), &["y"], Role::Custom, false, None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(413), "quota_exceeded"),
        "the inbox holds four in all"
    );
    d.server.stop().await;

    // Rates: a burst beyond the party's budget gets 429 with Retry-After.
    let server = Server::start_with(d.dir.path(), |c| {
        c.quotas.writes_per_sec = 1.0;
        c.quotas.write_burst = 5;
    })
    .await;
    let http = reqwest::Client::new();
    // Rate limits are per process: behind one origin each instance grants
    // its own burst (the scaled pass runs two, taking turns per request).
    let instances = server.instances() as u64;
    let mut limited = None;
    for i in 0..8 * instances {
        let blob = opaque_blob(900 + i, 100);
        let id = blob_id(&blob);
        let subject = [id.as_slice(), &(blob.len() as u64).to_be_bytes()].concat();
        let t = token(owner, Purpose::UploadBlob, &subject, now());
        let resp = http
            .put(format!("{}/v1/blobs/{}", server.base, hex::encode(id)))
            .header("x-sesphr-token", hex::encode(t.as_bytes()))
            .body(blob)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited = Some((i, resp.headers().get("retry-after").cloned()));
            break;
        }
    }
    let (at, retry) = limited.expect("the burst is limited");
    assert_eq!(at, 5 * instances);
    assert_eq!(retry.unwrap().to_str().unwrap(), "1");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_writes_nothing_durable() {
    let d = deploy(|_| {}).await;
    let stranger = party(&d.client).await;
    let unregistered = Identity::generate().unwrap();
    let rows = |service: &str, table: &str| d.server.rows(service, table);
    let before = (
        rows("srs", "nonces"),
        rows("relay", "nonces"),
        rows("relay", "blobs"),
    );
    let rec = d.record.record();
    let blob = opaque_blob(5, 1000);
    let id = blob_id(&blob);
    let subject = [id.as_slice(), &(blob.len() as u64).to_be_bytes()].concat();
    let refused = [
        get(
            format!("/srs/v1/records/{}/grants", rec.to_hex()),
            Some(&token(&stranger, Purpose::ListGrants, &rec.0, now())),
        ),
        get(
            format!("/srs/v1/records/{}/audit", rec.to_hex()),
            Some(&token(&stranger, Purpose::ReadAudit, &rec.0, now())),
        ),
        Send::Http {
            method: "PUT",
            path: format!("/v1/blobs/{}", hex::encode(id)),
            content_type: Some("application/octet-stream"),
            token: Some(
                token(&unregistered, Purpose::UploadBlob, &subject, now())
                    .as_bytes()
                    .to_vec(),
            ),
            body: blob.clone(),
        },
        Send::Http {
            method: "DELETE",
            path: format!("/v1/blobs/{}", hex::encode([3u8; 32])),
            content_type: None,
            token: Some(
                token(&stranger, Purpose::DeleteBlob, &[3u8; 32], now())
                    .as_bytes()
                    .to_vec(),
            ),
            body: Vec::new(),
        },
    ];
    for send in &refused {
        let (status, _) = run(&d.api, send).await;
        assert!(status >= 400, "refused");
    }
    let after = (
        rows("srs", "nonces"),
        rows("relay", "nonces"),
        rows("relay", "blobs"),
    );
    assert_eq!(
        before, after,
        "no nonce, no blob owner for a refused request"
    );
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_replayed_after_a_restart_is_refused_and_ownership_is_for_good() {
    let d = deploy(|_| {}).await;
    let owner = d.patient.identity();
    let stranger = party(&d.client).await;
    let blob = opaque_blob(77, 2_000);
    let id = d.client.put_blob(owner, &blob).await.unwrap();
    let delete = token(owner, Purpose::DeleteBlob, &id, now());
    let path = format!("/v1/blobs/{}", hex::encode(id));
    d.api
        .send(reqwest::Method::DELETE, &path, Some(&delete), Vec::new())
        .await
        .unwrap();
    d.server.stop().await;
    // After a restart the owner stores the blob again; a captured token
    // replayed now must not delete it.
    let server = Server::start(d.dir.path()).await;
    let api = Api::new(&server.base);
    let client = sesphr_testkit::deploy::client(&server.base).await;
    // A stranger who has the bytes may store them again: the owner stays.
    client.put_blob(&stranger, &blob).await.unwrap();
    let replay = api
        .send(reqwest::Method::DELETE, &path, Some(&delete), Vec::new())
        .await
        .unwrap_err();
    assert_eq!(
        replay,
        ApiErr {
            status: 403,
            code: "replay".into()
        }
    );
    assert_eq!(client.blob(&id).await.unwrap(), blob);
    assert_eq!(
        client.delete_blob(&stranger, &id).await.unwrap_err().code(),
        "not_owner"
    );
    client.delete_blob(owner, &id).await.unwrap();
    server.stop().await;
}

/// Grant ids are scoped to their record: a stranger who registers a grant of
/// their own record under the id the owner then uses takes nothing from the
/// owner's grant, and revoking either leaves the other serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_id_is_scoped_to_its_record() {
    let d = deploy(|_| {}).await;
    let client = &d.client;
    let mut record = d.record;
    let (stranger, mut own) = patient(client).await;
    own.write(&[("history", b"the stranger's".as_slice())])
        .await
        .unwrap();
    record
        .write(&[("history", b"the patient's".as_slice())])
        .await
        .unwrap();
    let mut doctor = reader(client).await;
    let id = [0x42u8; 16];
    let issue = |owner: &Identity, rec: &sesphr_native::PatientRecord| {
        let section = rec.section_id("history");
        let key = SectionKey::for_owner(
            owner,
            rec.record(),
            section,
            rec.state().epoch(&section).unwrap(),
        )
        .unwrap();
        let terms = GrantTerms::new(doctor.identity().public(), Role::Physician, 1_000);
        // The grant id is the first draw.
        let mut rng = sesphr_testkit::TestRng::starting_with(&id, "squat");
        IssuedGrant::issue(owner, &key, &client.srs().encryption, &terms, &mut rng).unwrap()
    };
    let squat = issue(stranger.identity(), &own);
    client.deliver(&squat).await.unwrap();
    let real = issue(d.patient.identity(), &record);
    assert_eq!(real.statement.grant_id, squat.statement.grant_id);
    client.deliver(&real).await.unwrap();

    let shared = doctor.shared_with_me().await.unwrap();
    assert_eq!(shared.len(), 2, "one shared record per owner");
    let of =
        |rec: sesphr_client::RecordId| shared.iter().find(|s| s.record() == rec).unwrap().clone();
    let (theirs, mine) = (of(own.record()), of(record.record()));
    let hist = record.section_id("history");
    assert_eq!(doctor.read(&mine, &hist).await.unwrap(), b"the patient's");
    assert_eq!(
        doctor
            .read(&theirs, &own.section_id("history"))
            .await
            .unwrap(),
        b"the stranger's"
    );
    // The stranger revokes its grant under that id: the patient's still serves.
    own.revoke(&id).await.unwrap();
    assert_eq!(
        doctor
            .read(&theirs, &own.section_id("history"))
            .await
            .unwrap_err()
            .code(),
        "revoked"
    );
    assert_eq!(doctor.read(&mine, &hist).await.unwrap(), b"the patient's");
    // And the patient's grant list names only the patient's grant.
    let grants = record.grants().await.unwrap();
    assert!(grants
        .iter()
        .all(|(g, _)| g.owner == *d.patient.identity().public()));
}
