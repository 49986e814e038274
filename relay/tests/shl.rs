//! SMART Health Links at the relay, as a hostile outsider would use them:
//! the manifest protocol exactly as the HL7 links specification states it
//! (recipient required, a lifetime limit on wrong passcodes that parallel
//! requests cannot exceed, `401 {remainingAttempts}`, `404` for expired and
//! revoked links, embedded files or short-lived locations), and owner-only
//! create, list and revoke.
#![cfg(test)]

use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::shl::{b64url_encode, jwe_decrypt, jwe_encrypt, seal_owner_key, LinkKey};
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_testkit::deploy::*;
use sha2::{Digest, Sha256};

fn new_id() -> ([u8; 32], String) {
    let id: [u8; 32] = sesphr_client::primitives::random_bytes(&mut os_rng());
    (id, b64url_encode(&id))
}

/// A raw request: status and JSON body.
async fn call(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: Option<&RequestToken>,
    body: Option<Vec<u8>>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| ("application/json", b));
    let (status, bytes) = api.raw(method, path, token, body).await;
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, v)
}

/// Puts a link for `owner`; returns the status and body.
async fn put(
    api: &Api,
    owner: &Identity,
    id: &([u8; 32], String),
    link: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(link).unwrap();
    let subject = [id.0.as_slice(), &Sha256::digest(&body)].concat();
    let t = signed(owner, Purpose::PutLink, &subject);
    call(
        api,
        reqwest::Method::PUT,
        &format!("/v1/shl/{}", id.1),
        Some(&t),
        Some(body),
    )
    .await
}

async fn manifest(api: &Api, id: &str, req: serde_json::Value) -> (u16, serde_json::Value) {
    call(
        api,
        reqwest::Method::POST,
        &format!("/v1/shl/{id}"),
        None,
        Some(serde_json::to_vec(&req).unwrap()),
    )
    .await
}

/// A manifest request sent again while the relay says to wait (`429`,
/// `503 busy`), as a patient viewer would.
async fn manifest_paced(api: &Api, id: &str, req: serde_json::Value) -> (u16, serde_json::Value) {
    for _ in 0..40 {
        let (s, v) = manifest(api, id, req.clone()).await;
        if s != 429 && s != 503 {
            return (s, v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!("the relay kept saying to wait");
}

async fn list(api: &Api, who: &Identity) -> (u16, serde_json::Value) {
    let t = signed(who, Purpose::ListLinks, &[]);
    call(api, reqwest::Method::GET, "/v1/shl", Some(&t), None).await
}

fn file(key: &LinkKey, text: &str) -> serde_json::Value {
    let jwe = jwe_encrypt(key, "application/fhir+json", text.as_bytes(), &mut os_rng()).unwrap();
    serde_json::json!({ "contentType": "application/fhir+json", "jwe": jwe })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_served_as_specified_and_logged_for_its_owner_only() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let (alice, mallory) = (party(client).await, party(client).await);
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let small = file(&key, r#"{"resourceType":"Bundle"}"#);
    let big = file(
        &key,
        &format!(r#"{{"resourceType":"Bundle","id":"{}"}}"#, "x".repeat(4000)),
    );
    let link = serde_json::json!({ "label": "for Dr. Bob", "files": [small, big] });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);

    // Recipient required; then a retrieval: the small file embedded, the big
    // one behind a location, both opening under the key.
    let (s, v) = manifest(api, &id.1, serde_json::json!({})).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("recipient_required")));
    let (s, v) = manifest(
        api,
        &id.1,
        // A number the specification does not say is an integer: taken as one.
        serde_json::json!({ "recipient": "Dr. Bob", "embeddedLengthMax": 1000.5 }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "finalized");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["contentType"], "application/fhir+json");
    let embedded = files[0]["embedded"].as_str().unwrap();
    assert!(files[0].get("location").is_none());
    assert_eq!(
        jwe_decrypt(&key, embedded).unwrap().plaintext.as_slice(),
        br#"{"resourceType":"Bundle"}"#
    );
    let location = files[1]["location"].as_str().unwrap();
    assert!(location.starts_with(&api.base), "{location}");
    let resp = api.http.get(location).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jose");
    let jwe = resp.text().await.unwrap();
    assert!(jwe_decrypt(&key, &jwe).is_ok());
    let (s, _) = call(api, reqwest::Method::GET, "/v1/shl-files/AAAA", None, None).await;
    assert_eq!(s, 404);

    // The owner's listing shows the retrieval; nobody else's does.
    let (s, v) = list(api, &alice).await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["id"], id.1.as_str());
    assert_eq!(v[0]["label"], "for Dr. Bob");
    assert_eq!(v[0]["files"], 2);
    assert_eq!(v[0]["retrievals"][0]["recipient"], "Dr. Bob");
    let (s, v) = list(api, &mallory).await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(0)));

    // Mallory cannot replace, revoke, or list with alice's token.
    assert_eq!(put(api, &mallory, &id, &link).await.0, 403);
    let t = signed(&mallory, Purpose::RevokeLink, &id.0);
    let path = format!("/v1/shl/{}", id.1);
    let (s, _) = call(api, reqwest::Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(s, 404);
    let t = signed(&alice, Purpose::ListLinks, &[]);
    let (s, _) = call(api, reqwest::Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(s, 403, "a token of another purpose");
    let (s, _) = call(api, reqwest::Method::DELETE, &path, None, None).await;
    assert_eq!(s, 401);
    assert_eq!(
        manifest(api, &id.1, serde_json::json!({"recipient": "x"}))
            .await
            .0,
        200
    );

    // Alice revokes: the manifest and the location are 404 from now on.
    let t = signed(&alice, Purpose::RevokeLink, &id.0);
    let (s, _) = call(api, reqwest::Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(s, 200);
    let (s, v) = manifest(api, &id.1, serde_json::json!({"recipient": "x"})).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")));
    assert_eq!(api.http.get(location).send().await.unwrap().status(), 404);
    let (_, v) = list(api, &alice).await;
    assert_eq!(v.as_array().map(Vec::len), Some(0));

    // Unknown and malformed ids are 404, never a panic.
    for bad in ["x", "%00", &"A".repeat(43), &"é".repeat(20)] {
        let (s, _) = manifest(api, bad, serde_json::json!({"recipient": "x"})).await;
        assert!(s == 404 || s == 400, "{bad}: {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passcodes_run_out_even_in_parallel_and_then_the_right_one_fails_too() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let link = serde_json::json!({
        "passcode": "1234", "maxAttempts": 5, "files": [file(&key, "{}")]
    });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);

    // The right passcode opens it and costs no attempt; a missing one is
    // asked for and costs none either (no attempt, no hash).
    let ok = serde_json::json!({ "recipient": "r", "passcode": "1234" });
    assert_eq!(manifest_paced(api, &id.1, ok.clone()).await.0, 200);
    for _ in 0..3 {
        let (s, v) = manifest_paced(api, &id.1, serde_json::json!({ "recipient": "r" })).await;
        assert_eq!((s, v["remainingAttempts"].as_u64()), (401, Some(5)));
        assert_eq!(v["code"], "passcode_required");
    }
    let (s, v) = manifest_paced(
        api,
        &id.1,
        serde_json::json!({ "recipient": "r", "passcode": "0000" }),
    )
    .await;
    assert_eq!((s, v["remainingAttempts"].as_u64()), (401, Some(4)));
    assert_eq!(v["code"], "wrong_passcode");
    let (s, v) = manifest_paced(
        api,
        &id.1,
        serde_json::json!({ "recipient": "r", "passcode": "0001" }),
    )
    .await;
    assert_eq!((s, v["remainingAttempts"].as_u64()), (401, Some(3)));

    // Twelve wrong attempts at once, then more one by one until the link is
    // used up: exactly three are ever counted as 401s (the others find the
    // link used up, or are told to wait and take nothing), and the right
    // passcode fails after.
    tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
    let wrong = serde_json::json!({ "recipient": "r", "passcode": "9999" });
    let answers =
        futures_util::future::join_all((0..12).map(|_| manifest(api, &id.1, wrong.clone()))).await;
    assert!(
        answers
            .iter()
            .all(|(s, _)| [401, 404, 429, 503].contains(s)),
        "{answers:?}"
    );
    let mut remaining: Vec<u64> = answers
        .iter()
        .filter(|(s, _)| *s == 401)
        .map(|(_, v)| v["remainingAttempts"].as_u64().unwrap())
        .collect();
    loop {
        let (s, v) = manifest_paced(api, &id.1, wrong.clone()).await;
        if s == 404 {
            break;
        }
        assert_eq!(s, 401, "{v}");
        remaining.push(v["remainingAttempts"].as_u64().unwrap());
    }
    remaining.sort_unstable();
    assert_eq!(remaining, vec![0, 1, 2], "{answers:?}");
    assert_eq!(manifest_paced(api, &id.1, ok).await.0, 404);
    let (_, v) = list(api, &alice).await;
    assert_eq!(v[0]["attemptsLeft"], 0);
    assert_eq!(v[0]["passcode"], true);

    // A flood on one link is cut off (each request may cost a hash); others are unaffected.
    let answers =
        futures_util::future::join_all((0..40).map(|_| manifest(api, &id.1, wrong.clone()))).await;
    assert!(answers
        .iter()
        .any(|(s, v)| *s == 429 && v["code"] == "rate_limited"));
    let other = new_id();
    let open = serde_json::json!({ "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &other, &open).await.0, 201);
    assert_eq!(
        manifest(api, &other.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_gets_on_a_passcode_link_never_touch_its_attempts() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let link = serde_json::json!({
        "passcode": "1234", "maxAttempts": 1, "files": [file(&key, "{}")]
    });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
    // A stranger (another address) floods `GET ?recipient=` while the
    // holder, with one attempt left, sends the right passcode: the GETs are
    // refused (a passcode link is never a direct one) and the holder always
    // gets in.
    let stranger = Api::from_address(&api.base, [127, 0, 0, 2].into());
    let path = format!("/v1/shl/{}?recipient=x", id.1);
    let get = || call(&stranger, reqwest::Method::GET, &path, None, None);
    let ok = serde_json::json!({ "recipient": "r", "passcode": "1234" });
    for _ in 0..3 {
        let gets = futures_util::future::join_all((0..6).map(|_| get()));
        let (answers, right) = tokio::join!(gets, manifest(api, &id.1, ok.clone()));
        assert!(
            answers
                .iter()
                .all(|(s, v)| (*s == 409 && v["code"] == "not_direct") || *s == 429),
            "{answers:?}"
        );
        assert!(answers.iter().any(|(s, _)| *s == 409), "{answers:?}");
        assert_eq!(right.0, 200, "{right:?}");
        // The link's own bucket (12 at once, 2 a second) refills.
        tokio::time::sleep(std::time::Duration::from_millis(3600)).await;
    }
    let (_, v) = list(api, &alice).await;
    assert_eq!(v[0]["attemptsLeft"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passcode_hashes_at_once_are_capped_and_the_refused_take_no_attempt() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let key = LinkKey::generate(&mut os_rng());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Three requests per core, six per link (one address's burst on one
    // link), each link another owner's: no address, link or owner bucket is
    // hit, only the global cap on hashes.
    let n = cores * 3;
    let mut links = Vec::new();
    for _ in 0..n.div_ceil(6) {
        let owner = party(client).await;
        let id = new_id();
        let link = serde_json::json!({ "passcode": "1234", "files": [file(&key, "{}")] });
        assert_eq!(put(api, &owner, &id, &link).await.0, 201);
        links.push((owner, id));
    }
    let ok = serde_json::json!({ "recipient": "r", "passcode": "1234" });
    let answers = futures_util::future::join_all(
        (0..n).map(|i| manifest(api, &links[i / 6].1 .1, ok.clone())),
    )
    .await;
    assert!(
        answers
            .iter()
            .all(|(s, v)| *s == 200 || (*s == 503 && v["code"] == "busy")),
        "{answers:?}"
    );
    assert!(answers.iter().any(|(s, _)| *s == 503), "{answers:?}");
    for (owner, id) in &links {
        assert_eq!(manifest_paced(api, &id.1, ok.clone()).await.0, 200);
        let (_, v) = list(api, owner).await;
        assert_eq!(v[0]["attemptsLeft"], 10, "a busy answer took no attempt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_oversized_and_malformed_links_are_refused() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());

    // An expiry in the past is refused; one a moment ahead expires into 404.
    let id = new_id();
    let past = serde_json::json!({ "expiresAt": now() - 1, "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &past).await.1["code"], "bad_link");
    // So is one past 100 years (or past what a signed 64-bit time holds).
    for far in [now() + 101 * 365 * 24 * 3600 * 1000, 1u64 << 63, u64::MAX] {
        let far = serde_json::json!({ "expiresAt": far, "files": [file(&key, "{}")] });
        let (s, v) = put(api, &alice, &id, &far).await;
        assert_eq!((s, v["code"].as_str()), (400, Some("bad_link")), "{v}");
    }
    let (s, _) = list(api, &alice).await;
    assert_eq!(s, 200);
    let soon = serde_json::json!({ "expiresAt": now() + 1500, "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &soon).await.0, 201);
    assert_eq!(
        manifest(api, &id.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(
        manifest(api, &id.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        404
    );

    // Refused, each storing nothing: a body over 9 MiB, a file that is not
    // a dir/A256GCM JWE, a contentType that is not its cty, no files, a
    // token over other bytes, an unregistered owner.
    let id = new_id();
    // Over 9 MiB: refused on its Content-Length, before the body is read
    // (headers only over a raw connection: a client still writing would see
    // its pipe closed).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = api.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let t = signed(
            &alice,
            Purpose::PutLink,
            &[id.0.as_slice(), &[0; 32]].concat(),
        );
        let head = format!(
            "PUT /v1/shl/{} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-sesphr-token: {}\r\ncontent-length: {}\r\n\r\n",
            id.1,
            hex::encode(t.as_bytes()),
            (9u64 << 20) + 1
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = tcp.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
    let not_jwe = serde_json::json!({ "files": [{ "contentType": "a/b", "jwe": "a.b.c.d.e" }] });
    assert_eq!(put(api, &alice, &id, &not_jwe).await.1["code"], "bad_jwe");
    let mut wrong_cty = file(&key, "{}");
    wrong_cty["contentType"] = "text/plain".into();
    let v = serde_json::json!({ "files": [wrong_cty] });
    assert_eq!(put(api, &alice, &id, &v).await.1["code"], "bad_jwe");
    let empty = serde_json::json!({ "files": [] });
    assert_eq!(put(api, &alice, &id, &empty).await.1["code"], "bad_link");
    let good = serde_json::json!({ "files": [file(&key, "{}")] });
    let subject = [id.0.as_slice(), &Sha256::digest(b"{}")].concat();
    let t = signed(&alice, Purpose::PutLink, &subject);
    let (s, _) = call(
        api,
        reqwest::Method::PUT,
        &format!("/v1/shl/{}", id.1),
        Some(&t),
        Some(serde_json::to_vec(&good).unwrap()),
    )
    .await;
    assert_eq!(s, 403);
    let stranger = Identity::generate().unwrap();
    assert_eq!(put(api, &stranger, &id, &good).await.0, 403);
    let (_, v) = list(api, &alice).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "only the expired link");
    assert_eq!(
        manifest(api, &id.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_link_is_refreshed_by_its_owner_only_and_keeps_its_terms() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let (alice, mallory) = (party(client).await, party(client).await);
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let sealed = seal_owner_key(alice.seed(), &id.0, &key, b"{}", &mut os_rng()).unwrap();
    let owner_key = b64url_encode(&sealed);

    // An ownerKey that is not a sealed link key is refused.
    let bad = serde_json::json!({ "files": [file(&key, "v1")], "ownerKey": "AAAA" });
    assert_eq!(put(api, &alice, &id, &bad).await.1["code"], "bad_link");
    // A link over the old 1 MiB cap (one 3 MiB file) is taken.
    let big = "x".repeat(3 << 20);
    let link = serde_json::json!({
        "files": [file(&key, &big)], "passcode": "4711", "maxAttempts": 5,
        "longTerm": true, "label": "live", "ownerKey": owner_key,
    });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
    let (s, v) = manifest(
        api,
        &id.1,
        serde_json::json!({"recipient": "r", "passcode": "0"}),
    )
    .await;
    assert_eq!((s, v["remainingAttempts"].as_u64()), (401, Some(4)));
    let (s, v) = manifest(
        api,
        &id.1,
        serde_json::json!({"recipient": "r", "passcode": "4711", "embeddedLengthMax": 0}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("can-change")));
    let old_location = v["files"][0]["location"].as_str().unwrap().to_string();

    // The listing gives the sealed key back as it was stored.
    let (_, v) = list(api, &alice).await;
    assert_eq!(v[0]["ownerKey"], owner_key.as_str());

    // A refresh carries files only; another owner's or an unknown one is refused.
    let with_terms =
        serde_json::json!({ "refresh": true, "files": [file(&key, "v2")], "passcode": "1" });
    assert_eq!(
        put(api, &alice, &id, &with_terms).await.1["code"],
        "bad_link"
    );
    let refresh = serde_json::json!({ "refresh": true, "files": [file(&key, "v2")] });
    assert_eq!(put(api, &mallory, &id, &refresh).await.0, 403);
    assert_eq!(put(api, &alice, &new_id(), &refresh).await.0, 404);
    let snapshot = new_id();
    let snap = serde_json::json!({ "files": [file(&key, "v1")] });
    assert_eq!(put(api, &alice, &snapshot, &snap).await.0, 201);
    assert_eq!(
        put(api, &alice, &snapshot, &refresh).await.0,
        404,
        "a finalized link never changes"
    );
    assert_eq!(put(api, &alice, &id, &refresh).await.0, 200);

    // The new file, under the same key; passcode, attempts, label, log and key kept.
    let (s, v) = manifest(
        api,
        &id.1,
        serde_json::json!({"recipient": "r2", "passcode": "4711"}),
    )
    .await;
    assert_eq!(s, 200);
    let jwe = v["files"][0]["embedded"].as_str().unwrap();
    assert_eq!(jwe_decrypt(&key, jwe).unwrap().plaintext.as_slice(), b"v2");
    assert_eq!(
        api.http.get(&old_location).send().await.unwrap().status(),
        404,
        "old locations stop"
    );
    let (_, v) = list(api, &alice).await;
    assert_eq!(v[0]["attemptsLeft"], 4);
    assert_eq!(v[0]["label"], "live");
    assert_eq!(v[0]["passcode"], true);
    assert_eq!(v[0]["ownerKey"], owner_key.as_str());
    assert_eq!(v[0]["retrievals"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_routes_answer_any_origin_and_locations_use_the_configured_url() {
    let d = deploy(|c| c.public_url = Some("https://phr.example.org".into())).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let link = serde_json::json!({ "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
    let url = format!("{}/v1/shl/{}", api.base, id.1);

    // A relay with a public (non-loopback) URL lets its viewer page reach
    // https origins only, not plain http on the visitor's machine.
    let view = api
        .http
        .get(format!("{}/view.html", api.base))
        .send()
        .await
        .unwrap();
    let csp = view.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("connect-src 'self' https:;"), "{csp}");
    assert!(
        !csp.contains("localhost") && !csp.contains("127.0.0.1"),
        "{csp}"
    );

    // The preflight a viewer on another origin sends first.
    let resp = api
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://viewer.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-allow-headers"], "content-type");

    // The manifest, a refusal of it, and the file all carry the header; the
    // location names the configured public URL, whatever Host said.
    let post = |body: serde_json::Value| {
        api.http
            .post(&url)
            .header("origin", "https://viewer.example")
            .header("host", "evil.example")
            .header("x-forwarded-proto", "http")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
    };
    let resp = post(serde_json::json!({})).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let resp = post(serde_json::json!({"recipient": "r", "embeddedLengthMax": 0}))
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let location = v["files"][0]["location"].as_str().unwrap();
    let prefix = "https://phr.example.org/v1/shl-files/";
    assert!(location.starts_with(prefix), "{location}");
    let local = format!("{}/v1/shl-files/{}", api.base, &location[prefix.len()..]);
    let resp = api.http.get(&local).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    // The owner's routes stay same-origin.
    let t = signed(&alice, Purpose::ListLinks, &[]);
    let resp = api
        .http
        .get(format!("{}/v1/shl", api.base))
        .header("x-sesphr-token", hex::encode(t.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retrieval_log_counts_per_recipient_and_a_flood_pushes_no_one_out() {
    use sesphr_relay::relay::store::{LocalStore, RelayStore, ShlLinkRow, SHL_RECIPIENTS_KEPT};
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("relay")).unwrap();
    let id = [7u8; 32];
    let row = ShlLinkRow {
        id,
        owner: [1; 32],
        passcode: None,
        attempts_left: 10,
        expires_at: None,
        long_term: false,
        direct: false,
        label: None,
        created: 1,
        files: vec![("a/b".into(), "x".into())],
        owner_key: None,
    };
    store.shl_put(row, 10).await.unwrap();
    let mut at = 10;
    let mut retrieve = |who: String| {
        at += 1;
        store.shl_retrieve(id, who, at, u64::MAX, 0)
    };
    // The doctor first; then a flood of one name; then a flood of made-up ones.
    assert!(retrieve("Dr. Bob".into()).await.unwrap().is_some());
    for _ in 0..3000 {
        retrieve("flood".into()).await.unwrap();
    }
    let extra = 7;
    for i in 0..(SHL_RECIPIENTS_KEPT - 2 + extra) {
        retrieve(format!("n{i}")).await.unwrap();
    }
    retrieve("Dr. Bob".into()).await.unwrap();
    let listed = store.shl_list([1; 32]).await.unwrap();
    let log = &listed[0].retrievals;
    assert_eq!(log.len() as i64, SHL_RECIPIENTS_KEPT);
    assert_eq!(
        log[0].recipient, "Dr. Bob",
        "the first recipient is still there"
    );
    assert_eq!((log[0].count, log[0].first, log[0].last), (2, 11, at));
    assert_eq!((log[1].recipient.as_str(), log[1].count), ("flood", 3000));
    let others = listed[0].other_recipients.as_ref().unwrap();
    assert_eq!(
        others.count, extra as u64,
        "names past the kept number, counted"
    );
}

#[tokio::test]
async fn an_owners_link_files_are_bounded_in_bytes() {
    use sesphr_relay::relay::store::{
        LocalStore, RelayStore, ShlLinkRow, ShlPut, SHL_BYTES_PER_OWNER,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("relay")).unwrap();
    let big = "x".repeat(9 << 20);
    let row = |id: u8, owner: u8| ShlLinkRow {
        id: [id; 32],
        owner: [owner; 32],
        passcode: None,
        attempts_left: 10,
        expires_at: None,
        long_term: true,
        direct: false,
        label: None,
        created: 1,
        files: vec![("a/b".into(), big.clone())],
        owner_key: None,
    };
    // Three 9 MiB links fit in 32 MiB; a fourth does not, for this owner only.
    for id in 1..=3 {
        assert_eq!(store.shl_put(row(id, 1), 256).await.unwrap(), ShlPut::New);
    }
    const { assert!(3 * (9 << 20) <= SHL_BYTES_PER_OWNER && 4 * (9 << 20) > SHL_BYTES_PER_OWNER) };
    assert_eq!(
        store.shl_put(row(4, 1), 256).await.unwrap(),
        ShlPut::OverQuota
    );
    assert_eq!(store.shl_put(row(5, 2), 256).await.unwrap(), ShlPut::New);
    // Replacing or refreshing a link counts its new files, not its old ones.
    assert_eq!(
        store.shl_put(row(1, 1), 256).await.unwrap(),
        ShlPut::Replaced
    );
    let files = vec![("a/b".to_string(), big.clone())];
    assert_eq!(
        store.shl_refresh([1; 32], [2; 32], files, 2).await.unwrap(),
        ShlPut::Replaced
    );
    let more = vec![("a/b".to_string(), "x".repeat(8 << 20)); 2];
    assert_eq!(
        store.shl_refresh([1; 32], [2; 32], more, 2).await.unwrap(),
        ShlPut::OverQuota
    );
    assert_eq!(store.shl_list([1; 32]).await.unwrap().len(), 3);
}

/// The status line a server answers to request `head` sent alone (its
/// body never sent), within two seconds: a server that waited for the
/// body would answer `408` only after its body deadline.
async fn answer_to_headers(api: &Api, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.replace("{addr}", addr).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("answered before the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    answer.lines().next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_large_put_costs_its_headers_only() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let id = new_id();
    let len = 9u64 << 20;
    let head_of = |token: Option<RequestToken>, path: &str, ctype: &str| {
        let t = token.map_or(String::new(), |t| {
            format!("x-sesphr-token: {}\r\n", hex::encode(t.as_bytes()))
        });
        format!(
            "PUT {path} HTTP/1.1\r\nhost: {{addr}}\r\ncontent-type: {ctype}\r\n{t}content-length: {len}\r\n\r\n"
        )
    };
    let link = format!("/v1/shl/{}", id.1);
    let json = "application/json";
    // No token; a token of an unregistered party; one for another link; one
    // of another purpose: each answered at once, the 9 MiB never read.
    let stranger = Identity::generate().unwrap();
    let other = [new_id().0.as_slice(), &[0; 32]].concat();
    let cases = [
        (None, "401"),
        (
            Some(signed(
                &stranger,
                Purpose::PutLink,
                &[id.0.as_slice(), &[0; 32]].concat(),
            )),
            "40",
        ),
        (Some(signed(&alice, Purpose::PutLink, &other)), "403"),
        (Some(signed(&alice, Purpose::ListLinks, &[])), "403"),
    ];
    for (t, want) in cases {
        let line = answer_to_headers(api, &head_of(t, &link, json)).await;
        assert!(line.starts_with(&format!("HTTP/1.1 {want}")), "{line}");
    }
    // The other token-authorised bodies the same: state and mail.
    let line = answer_to_headers(
        api,
        &head_of(None, "/v1/state/contacts", "application/octet-stream").replace(
            &format!("content-length: {len}"),
            &format!("content-length: {}", 1 << 20),
        ),
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    let mail = head_of(
        Some(signed(&stranger, Purpose::SendMail, &[0; 64])),
        "/v1/mail",
        json,
    )
    .replacen("PUT", "POST", 1)
    .replace(
        &format!("content-length: {len}"),
        &format!("content-length: {}", 1 << 20),
    );
    let line = answer_to_headers(api, &mail).await;
    assert!(line.starts_with("HTTP/1.1 40"), "{line}");
    assert!(!line.starts_with("HTTP/1.1 408"), "{line}");
    // The owner's own PUT is still read and stored.
    let key = LinkKey::generate(&mut os_rng());
    let link = serde_json::json!({ "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_flooding_a_link_does_not_lock_out_another() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let link = serde_json::json!({ "label": "Emergency card", "longTerm": true, "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
    // 127.0.0.2 floods the printed card's link; 127.0.0.1 (the paramedic)
    // opens it once a second all the while and is always served.
    let flooder = Api::from_address(&api.base, [127, 0, 0, 2].into());
    let req = serde_json::json!({ "recipient": "stranger" });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (stop, req, id) = (stop.clone(), req.clone(), id.1.clone());
        tokio::spawn(async move {
            let mut limited = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answers = futures_util::future::join_all(
                    (0..8).map(|_| manifest(&flooder, &id, req.clone())),
                )
                .await;
                limited += answers.iter().filter(|(s, _)| *s == 429).count();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            limited
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for i in 0..5 {
        let (s, v) = manifest(api, &id.1, serde_json::json!({ "recipient": "paramedic" })).await;
        assert_eq!(s, 200, "request {i}: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(flood.await.unwrap() > 20, "the flooder was limited");
    // The owner sees both, once each by name, with counts.
    let (_, v) = list(api, &alice).await;
    let log = v[0]["retrievals"].as_array().unwrap();
    let by = |who: &str| log.iter().find(|r| r["recipient"] == who).unwrap().clone();
    assert_eq!(by("paramedic")["count"], 5);
    assert!(by("stranger")["count"].as_u64().unwrap() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_and_no_one_else_does() {
    let d = deploy(|c| c.trusted_proxy = Some([127, 0, 0, 1].into())).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    let id = new_id();
    let link = serde_json::json!({ "files": [file(&key, "{}")] });
    assert_eq!(put(api, &alice, &id, &link).await.0, 201);
    let url = format!("{}/v1/shl/{}", api.base, id.1);
    let from = |http: &reqwest::Client, xff: &str| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("x-forwarded-for", xff)
            .body(r#"{"recipient":"r"}"#)
            .send()
    };
    // Through the proxy (127.0.0.1): a client it names is limited on its
    // own (the right-most entry; the left one is the client's word).
    let mut limited = 0;
    for _ in 0..8 {
        let s = from(&api.http, "6.6.6.6, 10.0.0.1").await.unwrap().status();
        limited += usize::from(s == 429);
    }
    assert_eq!(limited, 2, "burst of six, then limited");
    let s = from(&api.http, "10.0.0.1, 10.0.0.2")
        .await
        .unwrap()
        .status();
    assert_eq!(s, 200, "another client behind the proxy");
    // A proxy that adds its own header line: the client's own lines before
    // it buy nothing, whatever they say (a fresh link: its own bucket full).
    let id2 = new_id();
    assert_eq!(put(api, &alice, &id2, &link).await.0, 201);
    let url2 = format!("{}/v1/shl/{}", api.base, id2.1);
    let mut limited = 0;
    for i in 0..8 {
        let s = api
            .http
            .post(&url2)
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("10.9.0.{i}"))
            .header("x-forwarded-for", "10.0.0.3")
            .body(r#"{"recipient":"r"}"#)
            .send()
            .await
            .unwrap()
            .status();
        limited += usize::from(s == 429);
    }
    assert_eq!(
        limited, 2,
        "one client behind a proxy that adds its own line"
    );
    // Not from the proxy: the header is ignored, a new value each time
    // buys nothing.
    let other = Api::from_address(&api.base, [127, 0, 0, 2].into());
    let mut limited = 0;
    for i in 0..8 {
        let s = from(&other.http, &format!("10.1.0.{i}"))
            .await
            .unwrap()
            .status();
        limited += usize::from(s == 429);
    }
    assert!(limited >= 1, "{limited}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_direct_link_answers_a_direct_get() {
    let d = deploy(|_| {}).await;
    let (api, client) = (&d.api, &d.client);
    let alice = party(client).await;
    let key = LinkKey::generate(&mut os_rng());
    // A `U` link holds one file and no passcode.
    for bad in [
        serde_json::json!({ "direct": true, "files": [file(&key, "a"), file(&key, "b")] }),
        serde_json::json!({ "direct": true, "passcode": "1", "files": [file(&key, "a")] }),
    ] {
        let (s, v) = put(api, &alice, &new_id(), &bad).await;
        assert_eq!((s, v["code"].as_str()), (400, Some("bad_link")), "{v}");
    }
    let direct = new_id();
    let u = serde_json::json!({ "direct": true, "files": [file(&key, "direct")] });
    assert_eq!(put(api, &alice, &direct, &u).await.0, 201);
    let plain = new_id();
    let p = serde_json::json!({ "files": [file(&key, "plain")] });
    assert_eq!(put(api, &alice, &plain, &p).await.0, 201);
    let resp = api
        .http
        .get(format!(
            "{}/v1/shl/{}?recipient=Dr.%20Bob",
            api.base, direct.1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let jwe = resp.text().await.unwrap();
    assert_eq!(
        jwe_decrypt(&key, &jwe).unwrap().plaintext.as_slice(),
        b"direct"
    );
    let path = format!("/v1/shl/{}?recipient=x", plain.1);
    let (s, v) = call(api, reqwest::Method::GET, &path, None, None).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("not_direct")));
    // The manifest still serves both; the listing says which is direct.
    assert_eq!(
        manifest(api, &plain.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        200
    );
    assert_eq!(
        manifest(api, &direct.1, serde_json::json!({"recipient": "r"}))
            .await
            .0,
        200
    );
    let (_, v) = list(api, &alice).await;
    let flag = |id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap()["direct"]
            .clone()
    };
    assert_eq!(
        (flag(&direct.1), flag(&plain.1)),
        (true.into(), false.into())
    );
}
