//! Owner-private state at the relay (`/v1/state/{slot}`), as a hostile
//! outsider and as two tabs of one owner would use it: every check (token,
//! owner, slot, version) before anything is written, compare-and-swap
//! conflicts as `409 version_conflict`, nothing stored for a refused put.
#![cfg(test)]

use sesphr_client::identity::Identity;
use sesphr_client::owner_state::{open_state, seal_state};
use sesphr_client::primitives::os_rng;
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_testkit::deploy::*;
use sha2::{Digest, Sha256};

async fn call(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: Option<&RequestToken>,
    body: Option<Vec<u8>>,
) -> (u16, Vec<u8>) {
    let body = body.map(|b| ("application/octet-stream", b));
    api.raw(method, path, token, body).await
}

async fn put(api: &Api, signer: &Identity, slot: &str, body: &[u8]) -> (u16, String) {
    let t = signed(signer, Purpose::PutState, &Sha256::digest(body));
    let (s, b) = call(
        api,
        reqwest::Method::PUT,
        &format!("/v1/state/{slot}"),
        Some(&t),
        Some(body.to_vec()),
    )
    .await;
    (s, code_of(&b))
}

async fn get(api: &Api, signer: &Identity, slot: &str) -> (u16, Vec<u8>) {
    let t = signed(signer, Purpose::GetState, slot.as_bytes());
    call(
        api,
        reqwest::Method::GET,
        &format!("/v1/state/{slot}"),
        Some(&t),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_owner_only_versioned_and_refused_whole() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let (alice, mallory) = (party(client).await, party(client).await);
    assert_eq!(get(api, &alice, "contacts").await.0, 404);

    // Version 1, then 2: each the next one.
    let v1 = seal_state(&alice, "contacts", 1, b"[1]", &mut os_rng()).unwrap();
    assert_eq!(put(api, &alice, "contacts", &v1).await.0, 201);
    let v2 = seal_state(&alice, "contacts", 2, b"[1,2]", &mut os_rng()).unwrap();
    assert_eq!(put(api, &alice, "contacts", &v2).await.0, 200);

    // A second tab that read version 1 writes its own version 2: conflict,
    // nothing replaced. So does a replay of version 1, and a skipped version.
    let other_tab = seal_state(&alice, "contacts", 2, b"[1,3]", &mut os_rng()).unwrap();
    assert_eq!(
        put(api, &alice, "contacts", &other_tab).await,
        (409, "version_conflict".into())
    );
    assert_eq!(
        put(api, &alice, "contacts", &v1).await,
        (409, "version_conflict".into())
    );
    let skip = seal_state(&alice, "contacts", 9, b"[]", &mut os_rng()).unwrap();
    assert_eq!(
        put(api, &alice, "contacts", &skip).await,
        (409, "version_conflict".into())
    );
    let (s, stored) = get(api, &alice, "contacts").await;
    assert_eq!(s, 200);
    let (v, pt) = open_state(&alice, "contacts", &stored).unwrap();
    assert_eq!((v, pt.as_slice()), (2, &b"[1,2]"[..]));

    // Mallory cannot write Alice's state (her object under her token, or her
    // token over Alice's object), nor read it: each slot is the signer's own.
    let forged = seal_state(&mallory, "contacts", 3, b"[]", &mut os_rng()).unwrap();
    let mut relabelled = forged.clone();
    relabelled[6..38].copy_from_slice(&alice.id().0);
    assert_eq!(
        put(api, &mallory, "contacts", &relabelled).await,
        (403, "not_owner".into())
    );
    let v3 = seal_state(&alice, "contacts", 3, b"[]", &mut os_rng()).unwrap();
    assert_eq!(
        put(api, &mallory, "contacts", &v3).await,
        (403, "not_owner".into())
    );
    assert_eq!(get(api, &mallory, "contacts").await.0, 404);

    // A token over other bytes, no token, another slot's object, a bad slot,
    // junk: refused before anything is written.
    let t = signed(&alice, Purpose::PutState, &Sha256::digest(b"other"));
    let (s, b) = call(
        api,
        reqwest::Method::PUT,
        "/v1/state/contacts",
        Some(&t),
        Some(v3.clone()),
    )
    .await;
    assert_eq!((s, code_of(&b).as_str()), (403, "binding_mismatch"));
    let (s, _) = call(
        api,
        reqwest::Method::PUT,
        "/v1/state/contacts",
        None,
        Some(v3.clone()),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(
        put(api, &alice, "invitations", &v3).await,
        (400, "bad_state".into())
    );
    assert_eq!(
        put(api, &alice, "Bad_Slot", &v3).await,
        (400, "bad_state".into())
    );
    assert_eq!(
        put(api, &alice, "contacts", b"SPHR\x19\x01junk").await,
        (400, "bad_state".into())
    );
    // A read token for another slot does not read this one.
    let t = signed(&alice, Purpose::GetState, b"invitations");
    let (s, _) = call(
        api,
        reqwest::Method::GET,
        "/v1/state/contacts",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, 403);
    // Still version 2, and the valid version 3 goes in.
    let (_, stored) = get(api, &alice, "contacts").await;
    assert_eq!(open_state(&alice, "contacts", &stored).unwrap().0, 2);
    assert_eq!(put(api, &alice, "contacts", &v3).await.0, 200);
    // An unregistered party writes nothing.
    let stranger = Identity::generate().unwrap();
    let s1 = seal_state(&stranger, "contacts", 1, b"[]", &mut os_rng()).unwrap();
    let (s, _) = put(api, &stranger, "contacts", &s1).await;
    assert!(s == 403 || s == 404, "{s}");
    assert_eq!(get(api, &stranger, "contacts").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_writers_of_one_version_get_exactly_one_success() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| seal_state(&alice, "invitations", 1, &[i], &mut os_rng()).unwrap())
        .collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| put(api, &alice, "invitations", b)))
            .await;
    let ok = results.iter().filter(|r| r.0 == 201).count();
    let conflicts = results
        .iter()
        .filter(|r| r.0 == 409 && r.1 == "version_conflict")
        .count();
    assert_eq!((ok, conflicts), (1, 5), "{results:?}");
}
