//! The real binary as a process: SIGKILL in the middle of an upload, then a
//! restart on the same data directory; and the portal's static files.
#![cfg(test)]

use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_native::{Client, Reader};
use sesphr_testkit::deploy::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

/// The server as a process on a new port over `data`, and a client of it.
async fn serve(data: &std::path::Path) -> (std::process::Child, u16, Client) {
    let port = free_port();
    let child = spawn(bin(), "serve", data, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    (child, port, client(&base).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_leaves_committed_data_and_no_half_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, client) = serve(dir.path()).await;
    let (patient, mut record) = patient(&client).await;
    let history = [("history", b"committed before the crash".as_slice())];
    let (doctor, mut g) = share_written(&client, &mut record, &history, Role::Physician).await;
    let g = g.remove(0);

    // Start an upload of 4 MiB, send half of it on a raw connection, then kill -9.
    let blob = opaque_blob(0xab, 4 << 20);
    let hash = blob_id(&blob);
    let conn = half_upload(&format!("127.0.0.1:{port}"), patient.identity(), &blob).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    drop(conn);

    let (mut child, _, client) = serve(dir.path()).await;
    // Nothing half-written is visible, and the temporary file is gone.
    assert_eq!(client.blob(&hash).await.unwrap_err().status(), Some(404));
    assert!(std::fs::read_dir(dir.path().join("relay/tmp"))
        .unwrap()
        .next()
        .is_none());
    // Everything acknowledged is there.
    let hist = record.section_id("history");
    let mut doc = Reader::new(
        client.clone(),
        sesphr_testkit::world::identity_clone(&doctor),
    );
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &hist).await.unwrap(),
        b"committed before the crash"
    );
    let owner = sesphr_native::Patient::new(
        client.clone(),
        sesphr_testkit::world::identity_clone(patient.identity()),
    );
    let mut record = owner.open_record(0, 0).await.unwrap().unwrap();
    record.revoke(&g.statement.grant_id).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // ...including the revocation, acknowledged just before the second kill.
    let (mut child, _, client) = serve(dir.path()).await;
    let mut doc = Reader::new(client.clone(), doctor);
    assert_eq!(
        doc.read(&shared, &hist).await.unwrap_err().code(),
        "revoked"
    );
    // The upload can be done again, completely.
    assert_eq!(
        client.put_blob(patient.identity(), &blob).await.unwrap(),
        hash
    );
    assert_eq!(client.blob(&hash).await.unwrap().len(), blob.len());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_and_blobs_are_served_with_types_ranges_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let api = Api::new(&server.base);
    let client = client(&server.base).await;
    let who = party(&client).await;
    let data = opaque_blob(1, 100_000);
    let id = hex::encode(client.put_blob(&who, &data).await.unwrap());
    // Uploading the same content again is idempotent.
    assert_eq!(hex::encode(client.put_blob(&who, &data).await.unwrap()), id);
    let blob = format!("{}/v1/blobs/{id}", api.base);
    let range = |bytes: &str| api.http.get(&blob).header("range", bytes).send();
    let r = range("bytes=1000-1999").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000-1999/{}", data.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), data[1000..2000].to_vec());
    let r = range("bytes=-100").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        data[data.len() - 100..].to_vec()
    );
    let r = range(&format!("bytes={}-", data.len())).await.unwrap();
    assert_eq!(r.status(), 416);
    let r = api.http.get(&blob).send().await.unwrap();
    assert_eq!(
        r.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);

    // Only the uploader deletes, with a signed token; then the blob is gone.
    let delete = |who: &sesphr_client::identity::Identity| {
        let t = RequestToken::sign(
            who,
            Purpose::DeleteBlob,
            &hex::decode(&id).unwrap(),
            now(),
            &mut os_rng(),
        )
        .unwrap();
        api.http
            .delete(&blob)
            .header("x-sesphr-token", hex::encode(t.as_bytes()))
            .send()
    };
    let stranger = sesphr_client::identity::Identity::generate().unwrap();
    assert_eq!(delete(&stranger).await.unwrap().status(), 403);
    let r = api.http.delete(&blob).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(delete(&who).await.unwrap().status(), 200);
    assert_eq!(
        api.get(&format!("/v1/blobs/{id}"), None)
            .await
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(delete(&who).await.unwrap().status(), 404);
    let r = api.http.get(format!("{}/", api.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("'wasm-unsafe-eval'")
            && !csp.contains("'unsafe-eval'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = api
        .http
        .head(format!("{}/app.js", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}
