//! Emergency access against the real servers, with the SRS's emergency
//! clock under the test's control (no real waiting): an emergency grant is
//! dormant until its grantee activates it, answers only after the wait or
//! the owner's approval, never after a denial until a new activation and
//! its wait, and every decision on it is audited as `BTG`. Bad input
//! (another party's activation, a replay, a revoked grant, a stranger's
//! decision) gets a typed error and changes nothing.
#![cfg(test)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sesphr_client::audit::{Decision, PurposeOfUse};
use sesphr_client::emergency::{EmergencyActivation, EmergencyDecision, Verdict};
use sesphr_client::emergency_view::{EmergencyReceipt, EmergencyView, ViewState};
use sesphr_client::grant::{GrantTerms, Role, VerifiedGrant, EMERGENCY_SECTIONS};
use sesphr_client::primitives::os_rng;
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_native::{Error, Reader};
use sesphr_testkit::deploy::*;

const HOUR: u64 = 3_600_000;

/// A manual clock the SRS's emergency waits run on.
fn manual_clock() -> (Arc<AtomicU64>, sesphr_relay::EmergencyClock) {
    let t = Arc::new(AtomicU64::new(now()));
    let c = t.clone();
    (
        t,
        sesphr_relay::EmergencyClock(Arc::new(move || c.load(Ordering::SeqCst))),
    )
}

/// The decision a read was refused with.
fn refusal(e: Error) -> String {
    match e {
        Error::Protocol(sesphr_client::Error::Refused(d)) => d.code().to_string(),
        e => format!("{}: {e}", e.code()),
    }
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> String {
    r.expect_err("must be refused").code().to_string()
}

async fn read_allergies(contact: &mut Reader) -> Result<Vec<u8>, Error> {
    let shared = contact.shared_with_me().await?;
    let s = &shared[0];
    let (section, _) = s
        .sections()
        .find(|(_, items)| !items.is_empty())
        .expect("a section");
    let section = *section;
    contact.read(s, &section).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_grant_answers_only_after_the_wait_or_an_approval_and_never_after_a_denial() {
    let (clock, emergency_clock) = manual_clock();
    let d = deploy(|c| c.test_only_emergency_clock = Some(emergency_clock)).await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    record
        .write(&[("allergies", b"penicillin".as_slice())])
        .await
        .unwrap();
    let mut contact = reader(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(24 * HOUR),
        ..GrantTerms::new(contact.identity().public(), Role::Emergency, 0)
    };
    let issued = record.share_on(&["allergies"], &terms).await.unwrap();
    let grant: VerifiedGrant = issued[0].statement.clone();
    assert!(grant.is_emergency());
    assert_eq!(
        grant.as_bytes()[5],
        2,
        "an emergency statement is grant format 2"
    );

    // Dormant: no answer, filed as emergency access.
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "emergency_dormant"
    );
    let listed = client
        .emergency_listing(patient.identity(), &record.record())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "dormant");

    // Someone else (even the owner) cannot activate it.
    let stranger = party(&client).await;
    let theirs = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(stranger.public(), Role::Emergency, 0)
    };
    let other = record.share_on(&["allergies"], &theirs).await.unwrap();
    let forged = EmergencyActivation::sign(
        &stranger,
        &other[0].statement,
        [0; 32],
        now(),
        &mut os_rng(),
    )
    .unwrap();
    // Re-pointed at the contact's grant and signed by the stranger.
    let mut bytes = forged.as_bytes().to_vec();
    bytes[6..22].copy_from_slice(&grant.grant_id);
    bytes[54..86].copy_from_slice(&grant.statement_hash());
    // (follows, at 86..118, is all zero in both: neither grant was decided on)
    let sig_at = bytes.len() - 64;
    let sig = stranger.sign(&bytes[..sig_at]);
    bytes[sig_at..].copy_from_slice(&sig);
    assert_eq!(code(client.post_activation(&bytes).await), "not_grantee");
    assert_eq!(
        client
            .emergency_status(contact.identity(), &grant)
            .await
            .unwrap()
            .state,
        "dormant",
        "nothing changed"
    );
    // An ordinary grant cannot be activated.
    let plain = record
        .share(stranger.public(), &["allergies"], Role::Family, false, None)
        .await
        .unwrap();
    let mut plain_bytes = forged.as_bytes().to_vec();
    plain_bytes[6..22].copy_from_slice(&plain[0].statement.grant_id);
    assert_eq!(
        code(client.post_activation(&plain_bytes).await),
        "not_emergency"
    );

    // The contact activates: the wait starts on the SRS clock, the owner sees it at once.
    let (activation, status) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    assert_eq!(status.state, "waiting");
    assert_eq!(
        status.opens_at,
        Some(status.activated_at.unwrap() + 24 * HOUR)
    );
    // A replay of the same activation, and a second one while waiting.
    assert_eq!(
        code(client.post_activation(activation.as_bytes()).await),
        "replay"
    );
    assert_eq!(
        code(client.activate_emergency(contact.identity(), &grant).await),
        "already_activated"
    );
    let listed = client
        .emergency_listing(patient.identity(), &record.record())
        .await
        .unwrap();
    let pending = listed
        .iter()
        .find(|l| l.grant_id == hex::encode(grant.grant_id))
        .unwrap();
    assert_eq!(pending.state, "waiting");
    EmergencyActivation::verify(
        &hex::decode(pending.activation.as_ref().unwrap()).unwrap(),
        &grant,
    )
    .unwrap();

    // Before the wait: refused, also a minute before it ends.
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "emergency_waiting"
    );
    clock.fetch_add(24 * HOUR - 60_000, Ordering::SeqCst);
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "emergency_waiting"
    );
    // The wait passes with no denial: answered.
    clock.fetch_add(60_000, Ordering::SeqCst);
    assert_eq!(read_allergies(&mut contact).await.unwrap(), b"penicillin");

    // Approve/deny by anyone but the owner: refused, nothing changed.
    let by_contact = EmergencyDecision::sign(
        patient.identity(),
        &grant,
        &activation,
        Verdict::Deny,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let mut not_owner = by_contact.as_bytes().to_vec();
    let sig_at = not_owner.len() - 64;
    let forged_sig = contact.identity().sign(&not_owner[..sig_at]);
    not_owner[sig_at..].copy_from_slice(&forged_sig);
    assert_eq!(
        code(client.post_emergency_decision(&not_owner).await),
        "not_owner"
    );
    assert_eq!(read_allergies(&mut contact).await.unwrap(), b"penicillin");

    // The owner denies: closed, even long after; a replayed decision is refused.
    let denied = client
        .decide_emergency(patient.identity(), &grant, pending, Verdict::Deny)
        .await
        .unwrap();
    assert_eq!(denied.state, "denied");
    clock.fetch_add(1000 * HOUR, Ordering::SeqCst);
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "emergency_dormant"
    );
    assert_eq!(
        code(client.post_emergency_decision(by_contact.as_bytes()).await),
        "already_decided"
    );

    // A new activation starts a new wait; the owner approves it at once.
    let (_, again) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    assert_eq!(again.state, "waiting");
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "emergency_waiting"
    );
    let approved = client
        .decide_emergency(patient.identity(), &grant, &again, Verdict::Approve)
        .await
        .unwrap();
    assert_eq!((approved.state.as_str(), approved.approved), ("open", true));
    assert_eq!(read_allergies(&mut contact).await.unwrap(), b"penicillin");

    // Every decision on the emergency grant is in the owner's audit as BTG;
    // the ordinary grant's are not.
    let audit = record.audit().await.unwrap();
    let emergency: Vec<_> = audit
        .iter()
        .filter(|(_, e)| e.grant_id == grant.grant_id)
        .map(|(_, e)| (e.decision, e.purpose))
        .collect();
    assert_eq!(
        emergency,
        vec![
            (Decision::EmergencyDormant, PurposeOfUse::Emergency),
            (Decision::EmergencyWaiting, PurposeOfUse::Emergency),
            (Decision::EmergencyWaiting, PurposeOfUse::Emergency),
            (Decision::Allowed, PurposeOfUse::Emergency),
            (Decision::Allowed, PurposeOfUse::Emergency),
            (Decision::EmergencyDormant, PurposeOfUse::Emergency),
            (Decision::EmergencyWaiting, PurposeOfUse::Emergency),
            (Decision::Allowed, PurposeOfUse::Emergency),
        ]
    );
    assert!(audit
        .iter()
        .filter(|(_, e)| e.grant_id != grant.grant_id)
        .all(|(_, e)| e.purpose == PurposeOfUse::Ordinary));

    // Revocation treats it like any grant: refused, and it cannot be
    // activated again; the owner's listing drops it.
    record.revoke(&grant.grant_id).await.unwrap();
    assert_eq!(
        refusal(read_allergies(&mut contact).await.unwrap_err()),
        "revoked"
    );
    assert_eq!(
        code(client.activate_emergency(contact.identity(), &grant).await),
        "revoked"
    );
    assert!(client
        .emergency_listing(patient.identity(), &record.record())
        .await
        .unwrap()
        .iter()
        .all(|l| l.grant_id != hex::encode(grant.grant_id)));
    assert_eq!(EMERGENCY_SECTIONS, Role::Emergency.sections());
}

/// Hostile bytes at the emergency routes: typed 4xx JSON, never a panic,
/// and no state (the grant stays dormant); tokens of the wrong purpose or
/// signer are refused before anything is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_and_tokens_at_the_emergency_routes_are_typed_refusals() {
    let d = deploy(|_| {}).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let contact = party(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(contact.public(), Role::Emergency, 0)
    };
    let grant = record.share_on(&["allergies"], &terms).await.unwrap()[0]
        .statement
        .clone();
    let good = EmergencyActivation::sign(&contact, &grant, [0; 32], now(), &mut os_rng()).unwrap();
    let octets = "application/octet-stream";
    for route in [
        "/srs/v1/emergency/activations",
        "/srs/v1/emergency/decisions",
    ] {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"SPHR".to_vec(),
            vec![0xff; 200],
            grant.as_bytes().to_vec(),
        ];
        for cut in [7, 30, 100, good.as_bytes().len() - 1] {
            cases.push(good.as_bytes()[..cut].to_vec());
        }
        let mut long = good.as_bytes().to_vec();
        long.push(0);
        cases.push(long);
        for body in cases {
            let e = api.post(route, octets, body.clone()).await.unwrap_err();
            assert!(
                (400..500).contains(&e.status),
                "{route} {} bytes: {e:?}",
                body.len()
            );
        }
        // The wrong content type is refused before the body is read.
        let e = api
            .post(route, "application/json", good.as_bytes().to_vec())
            .await
            .unwrap_err();
        assert_eq!(e.status, 415);
    }
    // An activation posted as a decision is the wrong kind.
    let e = api
        .post(
            "/srs/v1/emergency/decisions",
            octets,
            good.as_bytes().to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "wrong_kind"));
    // Listing: no token, another purpose, a stranger's token.
    let list = format!("/srs/v1/records/{}/emergency", record.record().to_hex());
    assert_eq!(api.get(&list, None).await.unwrap_err().status, 401);
    let wrong = RequestToken::sign(
        patient.identity(),
        Purpose::ListGrants,
        &record.record().0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        api.get(&list, Some(&wrong)).await.unwrap_err().code,
        "binding_mismatch"
    );
    let stranger = RequestToken::sign(
        &contact,
        Purpose::ListEmergency,
        &record.record().0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        api.get(&list, Some(&stranger)).await.unwrap_err().code,
        "not_owner"
    );
    // A bad grant id in the status route.
    let status = format!("/srs/v1/records/{}/emergency/zz", record.record().to_hex());
    assert_eq!(api.get(&status, None).await.unwrap_err().code, "invalid_id");
    // Nothing changed: still dormant.
    assert_eq!(
        client
            .emergency_status(&contact, &grant)
            .await
            .unwrap()
            .state,
        "dormant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_refused_by_the_rate_limit_is_spent_and_cannot_be_delivered_later() {
    let d = deploy(|c| {
        c.quotas.writes_per_sec = 0.001;
        c.quotas.write_burst = 40;
    })
    .await;
    let (client, mut record) = (d.client, d.record);
    let contact = party(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(contact.public(), Role::Emergency, 0)
    };
    let grant = record.share_on(&["allergies"], &terms).await.unwrap()[0]
        .statement
        .clone();
    // The grantee's budget is spent by activations (the first starts the
    // wait, the rest are refused by the state) until one is answered 429.
    let mut limited = None;
    for _ in 0..60 {
        let a = EmergencyActivation::sign(&contact, &grant, [0; 32], now(), &mut os_rng()).unwrap();
        match client.post_activation(a.as_bytes()).await {
            Err(e) if e.code() == "rate_limited" => {
                limited = Some(a);
                break;
            }
            _ => {}
        }
    }
    let withheld = limited.expect("the grantee's writes are rate limited");
    // Delivered again later (a relay that withheld it): a replay, not a
    // second chance once the budget refills.
    assert_eq!(
        code(client.post_activation(withheld.as_bytes()).await),
        "replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_activation_and_decision_is_kept_in_the_append_only_history() {
    let d = deploy(|_| {}).await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    let contact = reader(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(contact.identity().public(), Role::Emergency, 0)
    };
    let grant = record.share_on(&["allergies"], &terms).await.unwrap()[0]
        .statement
        .clone();
    let (first, waiting) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    client
        .decide_emergency(patient.identity(), &grant, &waiting, Verdict::Deny)
        .await
        .unwrap();
    let (second, _) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    let db = rusqlite::Connection::open(d.dir.path().join("srs/srs.sqlite3")).unwrap();
    let history: Vec<(i64, Vec<u8>)> = db
        .prepare("SELECT kind, signed FROM emergency_history WHERE grant_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([&grant.grant_id[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The denied activation and the denial are kept though the track row
    // now holds only the second activation.
    assert_eq!(
        history.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        vec![1, 2, 1]
    );
    assert_eq!(history[0].1, first.as_bytes());
    assert_eq!(history[2].1, second.as_bytes());
    let decision = EmergencyDecision::verify(&history[1].1, &grant).unwrap();
    assert_eq!(decision.verdict, Verdict::Deny);
    let tracks: i64 = db
        .query_row("SELECT COUNT(*) FROM emergency", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tracks, 1);
}

#[derive(serde::Deserialize)]
struct RawAnswer {
    view: String,
    receipt: Option<String>,
}

/// The SRS signs every emergency answer with its pinned identity key,
/// bound to the requester and the nonce of the request answered (an old
/// view replayed for a new request is refused), and a decision's answer
/// carries a receipt naming exactly that decision and the state it led to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_emergency_answer_is_signed_by_the_srs_and_bound_to_its_request() {
    let d = deploy(|_| {}).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let srs = client.srs().clone();
    let contact = party(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(contact.public(), Role::Emergency, 0)
    };
    let grant = record.share_on(&["allergies"], &terms).await.unwrap()[0]
        .statement
        .clone();
    let rec = record.record();
    // The owner's listing: signed, for this owner and this token's nonce.
    let list = format!("/srs/v1/records/{}/emergency", rec.to_hex());
    let t = RequestToken::sign(
        patient.identity(),
        Purpose::ListEmergency,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let body: RawAnswer = serde_json::from_slice(&api.get(&list, Some(&t)).await.unwrap()).unwrap();
    let old = hex::decode(&body.view).unwrap();
    let v = EmergencyView::verify(&old, &srs, &rec, &patient.identity().id(), &t.nonce).unwrap();
    assert_eq!(v.entries.len(), 1);
    assert_eq!(v.entries[0].state, ViewState::Dormant);
    v.entries[0].check_grant(&grant).unwrap();
    // Replayed for a later request (another nonce), or shown to the grantee: refused.
    let t2 = RequestToken::sign(
        patient.identity(),
        Purpose::ListEmergency,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        EmergencyView::verify(&old, &srs, &rec, &patient.identity().id(), &t2.nonce)
            .unwrap_err()
            .code(),
        "binding_mismatch"
    );
    assert_eq!(
        EmergencyView::verify(&old, &srs, &rec, &contact.id(), &t.nonce)
            .unwrap_err()
            .code(),
        "binding_mismatch"
    );

    // The activation's answer: a view for the grantee bound to its nonce.
    let a = EmergencyActivation::sign(&contact, &grant, [0; 32], now(), &mut os_rng()).unwrap();
    let body: RawAnswer = serde_json::from_slice(
        &api.post(
            "/srs/v1/emergency/activations",
            "application/octet-stream",
            a.as_bytes().to_vec(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let v = EmergencyView::verify(
        &hex::decode(&body.view).unwrap(),
        &srs,
        &rec,
        &contact.id(),
        &a.nonce,
    )
    .unwrap();
    let e = v.entry(&grant.grant_id).unwrap();
    assert_eq!(e.state, ViewState::Waiting);
    e.check_activation(&a).unwrap();
    let act = e.activation.unwrap();
    assert_eq!(act.opens_at, act.activated_at + HOUR);
    assert!(act.opens_at + sesphr_client::emergency::MAX_REPLAY_WINDOW_MS >= a.timestamp + HOUR);

    // The denial's answer: a receipt of exactly this decision, state denied.
    let deny = EmergencyDecision::sign(
        patient.identity(),
        &grant,
        &a,
        Verdict::Deny,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let body: RawAnswer = serde_json::from_slice(
        &api.post(
            "/srs/v1/emergency/decisions",
            "application/octet-stream",
            deny.as_bytes().to_vec(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let receipt = hex::decode(body.receipt.expect("a receipt")).unwrap();
    let r = EmergencyReceipt::verify(&receipt, &srs, &deny).unwrap();
    assert_eq!((r.state, r.decision), (ViewState::Denied, deny.hash()));
    // Not a receipt of another decision, nor under another key.
    let approve = EmergencyDecision::sign(
        patient.identity(),
        &grant,
        &a,
        Verdict::Approve,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        EmergencyReceipt::verify(&receipt, &srs, &approve)
            .unwrap_err()
            .code(),
        "binding_mismatch"
    );
    assert_eq!(
        EmergencyReceipt::verify(&receipt, contact.public(), &deny)
            .unwrap_err()
            .code(),
        "bad_signature"
    );
    // The grantee's status now names the denial as the latest decision.
    let (status, v) = client.verified_status(&contact, &grant).await.unwrap();
    assert_eq!(status.state, "denied");
    assert_eq!(
        v.entry(&grant.grant_id).unwrap().last_decision,
        Some(deny.hash())
    );
}

/// An activation names the latest decision it follows: one signed before a
/// denial (withheld by a relay) is refused after it, typed, and changes
/// nothing; an activation of format 1 (which names none) is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_signed_before_a_denial_cannot_be_delivered_after_it() {
    let d = deploy(|_| {}).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let contact = reader(&client).await;
    let terms = GrantTerms {
        emergency_wait_ms: Some(HOUR),
        ..GrantTerms::new(contact.identity().public(), Role::Emergency, 0)
    };
    let grant = record.share_on(&["allergies"], &terms).await.unwrap()[0]
        .statement
        .clone();
    let (_, waiting) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    // Signed while the first one waits (so it follows no decision), withheld.
    let withheld =
        EmergencyActivation::sign(contact.identity(), &grant, [0; 32], now(), &mut os_rng())
            .unwrap();
    client
        .decide_emergency(patient.identity(), &grant, &waiting, Verdict::Deny)
        .await
        .unwrap();
    let e = api
        .post(
            "/srs/v1/emergency/activations",
            "application/octet-stream",
            withheld.as_bytes().to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (409, "stale_activation"));
    assert_eq!(
        client
            .emergency_status(contact.identity(), &grant)
            .await
            .unwrap()
            .state,
        "denied"
    );
    // Format 1 (no `follows`): unknown version, before anything is read.
    let mut v1 = withheld.as_bytes()[..86].to_vec();
    v1[5] = 1;
    v1.extend_from_slice(&withheld.as_bytes()[118..]);
    let e = api
        .post(
            "/srs/v1/emergency/activations",
            "application/octet-stream",
            v1,
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "unknown_version"));
    // Following the denial (as the client does from the signed status): taken.
    let (again, status) = client
        .activate_emergency(contact.identity(), &grant)
        .await
        .unwrap();
    assert_eq!(status.state, "waiting");
    assert_ne!(again.follows, [0; 32]);
}
