//! The relay with its blobs in an S3 bucket (a real SeaweedFS started per
//! test): the end-to-end flow, uploads checked as they stream (a wrong
//! address or a client that goes away leaves nothing in the bucket), two
//! relays on one bucket uploading the same blob at once, and the binary
//! started with `--blob-store s3://…` (refusing to start without its
//! bucket).
#![cfg(test)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use sesphr_client::grant::Role;
use sesphr_native::Reader;
use sesphr_testkit::deploy::*;
use sesphr_testkit::seaweed::{SeaweedFs, SECRET_KEY};
use tokio::io::AsyncWriteExt;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

/// The bucket as a plain client, to look behind the relay.
fn raw(sw: &SeaweedFs) -> Arc<dyn ObjectStore> {
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(&sw.bucket);
    for (k, v) in sw.options() {
        b = b.with_config(k.parse().unwrap(), v);
    }
    Arc::new(b.build().unwrap())
}

/// Keys under `prefix` in the bucket.
async fn keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let p = object_store::path::Path::from(prefix);
    let all: Vec<_> = store.list(Some(&p)).try_collect().await.unwrap();
    let mut k: Vec<String> = all.into_iter().map(|m| m.location.to_string()).collect();
    k.sort();
    k
}

/// No temporary object and no multipart upload in progress, after giving
/// background aborts a moment.
async fn nothing_pending(sw: &SeaweedFs, store: &dyn ObjectStore, prefix: &str) {
    for _ in 0..100 {
        if keys(store, &format!("{prefix}/tmp")).await.is_empty()
            && sw.uploads_in_progress().await == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "left behind: {:?}, {} uploads in progress",
        keys(store, &format!("{prefix}/tmp")).await,
        sw.uploads_in_progress().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_read_revoke_rotate_with_blobs_in_a_bucket() {
    let sw = SeaweedFs::start().await;
    let url = sw.url("relay");
    let d = deploy(move |c| c.blob_store = url).await;
    let (client, mut record) = (d.client, d.record);
    let store = raw(&sw);
    let mut physician = reader(&client).await;
    // A section large enough for a multipart upload, and small ones.
    let scan: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 251) as u8).collect();
    record
        .write(&[
            ("history", b"asthma since 2009".as_slice()),
            ("imaging", scan.as_slice()),
            ("labs", b"HbA1c 6.1%".as_slice()),
        ])
        .await
        .unwrap();
    let doc = physician.identity().public().clone();
    let g_hist = record
        .share(&doc, &["history"], Role::Physician, false, None)
        .await
        .unwrap()[0]
        .statement
        .grant_id;
    record
        .share(&doc, &["imaging", "labs"], Role::Physician, false, None)
        .await
        .unwrap();
    let mine = physician.shared_with_me().await.unwrap().remove(0);
    let (hist, img, labs) = (
        record.section_id("history"),
        record.section_id("imaging"),
        record.section_id("labs"),
    );
    assert_eq!(
        physician.read(&mine, &hist).await.unwrap(),
        b"asthma since 2009"
    );
    assert!(physician.read(&mine, &img).await.unwrap() == scan);
    assert_eq!(physician.read(&mine, &labs).await.unwrap(), b"HbA1c 6.1%");
    // The blobs are objects in the bucket, none are files.
    let stored = keys(store.as_ref(), "relay/blobs").await;
    assert!(stored.len() >= 3, "{stored:?}");
    assert!(!d.dir.path().join("relay/blobs").exists());
    nothing_pending(&sw, store.as_ref(), "relay").await;

    // Revoke history; rewrite labs; the old version stays readable.
    record.revoke(&g_hist).await.unwrap();
    assert_eq!(
        physician.read(&mine, &hist).await.unwrap_err().code(),
        "revoked"
    );
    record
        .write(&[("labs", b"HbA1c 5.8%".as_slice())])
        .await
        .unwrap();
    let mine = physician.shared_with_me().await.unwrap().remove(0);
    assert_eq!(physician.read(&mine, &labs).await.unwrap(), b"HbA1c 5.8%");
    assert_eq!(
        physician.read_version(&mine, &labs, Some(2)).await.unwrap(),
        b"HbA1c 6.1%"
    );
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_address_or_a_vanished_client_leaves_nothing_in_the_bucket() {
    let sw = SeaweedFs::start().await;
    let url = sw.url("r");
    let d = deploy(move |c| c.blob_store = url).await;
    let store = raw(&sw);
    let who = d.patient.identity();
    // 20 MiB: past one part, so the multipart path is the one refused.
    let good = opaque_blob(7, 20 << 20);
    let id = blob_id(&good);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    let path = format!("/v1/blobs/{}", hex::encode(id));
    let resp = d
        .api
        .http
        .put(format!("{}{path}", d.api.base))
        .header("x-sesphr-token", upload_token(who, &id, n as u64))
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code_of(&resp.bytes().await.unwrap()), "hash_mismatch");
    assert!(keys(store.as_ref(), "r/blobs").await.is_empty());
    nothing_pending(&sw, store.as_ref(), "r").await;

    // A client that sends half the body and goes away.
    let mut conn = tokio::net::TcpStream::connect(d.server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {n}\r\nx-sesphr-token: {}\r\n\r\n",
        upload_token(who, &id, n as u64)
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&good[..n / 2]).await.unwrap();
    conn.flush().await.unwrap();
    // Past one part, so a multipart upload is in progress before the drop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(conn);
    assert_eq!(
        d.client.blob(&id).await.unwrap_err().status(),
        Some(404),
        "nothing half-written is visible"
    );
    nothing_pending(&sw, store.as_ref(), "r").await;
    assert!(keys(store.as_ref(), "r/blobs").await.is_empty());

    // The whole body then goes through, and reads back by ranges.
    assert_eq!(d.client.put_blob(who, &good).await.unwrap(), id);
    assert_eq!(keys(store.as_ref(), "r/blobs").await.len(), 1);
    let r = d
        .api
        .http
        .get(format!("{}{path}", d.api.base))
        .header("range", "bytes=8388600-8388620")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), &good[8388600..=8388620]);
    assert!(d.client.blob(&id).await.unwrap() == good);
    // Deleted by its uploader: gone from the bucket.
    d.client.delete_blob(who, &id).await.unwrap();
    assert!(keys(store.as_ref(), "r/blobs").await.is_empty());
    assert_eq!(d.client.blob(&id).await.unwrap_err().status(), Some(404));
    nothing_pending(&sw, store.as_ref(), "r").await;
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_bucket_upload_the_same_blob_at_once() {
    let sw = SeaweedFs::start().await;
    let store = raw(&sw);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ua, ub) = (sw.url("shared"), sw.url("shared"));
    let a = Server::start_with(da.path(), move |c| c.blob_store = ua).await;
    let b = Server::start_with(db.path(), move |c| c.blob_store = ub).await;
    let (ca, cb) = (client(&a.base).await, client(&b.base).await);
    let who = party(&ca).await;
    cb.register(&who).await.unwrap();
    for (round, (seed, len)) in [(1u64, 40_000u64), (2, 24 << 20)].into_iter().enumerate() {
        let blob = opaque_blob(seed, len);
        let id = blob_id(&blob);
        let send = |base: String| {
            let (blob, token) = (blob.clone(), upload_token(&who, &id, blob.len() as u64));
            async move {
                reqwest::Client::new()
                    .put(format!("{base}/v1/blobs/{}", hex::encode(id)))
                    .header("x-sesphr-token", token)
                    .body(blob)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let (sa, sb) = tokio::join!(send(a.base.clone()), send(b.base.clone()));
        let mut statuses = [sa, sb];
        statuses.sort();
        // Each relay's own metadata takes the blob as new; in the bucket
        // one publish wins (201) and the other finds the object there
        // (200), at its create-only publish or before it started.
        assert_eq!(statuses, [200, 201]);
        let objects = keys(store.as_ref(), "shared/blobs").await;
        let key = format!("shared/blobs/{}", hex::encode(id));
        assert_eq!(objects.iter().filter(|k| **k == key).count(), 1);
        assert_eq!(objects.len(), round + 1, "{objects:?}");
        assert!(ca.blob(&id).await.unwrap() == blob);
        assert!(cb.blob(&id).await.unwrap() == blob);
        nothing_pending(&sw, store.as_ref(), "shared").await;
    }
    assert_eq!(keys(store.as_ref(), "shared/blobs").await.len(), 2);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_from_a_bucket_and_refuses_to_start_without_it() {
    let sw = SeaweedFs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--blob-store", &format!("s3://{}/bin", sw.bucket)])
        .envs(sw.env())
        .env("SESPHR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let c = client(&base).await;
    let who = party(&c).await;
    let blob = opaque_blob(9, 12 << 20);
    let id = c.put_blob(&who, &blob).await.unwrap();
    assert!(c.blob(&id).await.unwrap() == blob);
    let store = raw(&sw);
    assert_eq!(
        keys(store.as_ref(), "bin/blobs").await,
        vec![format!("bin/blobs/{}", hex::encode(id))]
    );
    let (patient, mut record) = patient(&c).await;
    let (doctor, _) = share_written(
        &c,
        &mut record,
        &[("notes", b"kept in a bucket".as_slice())],
        Role::Physician,
    )
    .await;
    let _ = patient;
    let mut doc = Reader::new(c.clone(), doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &record.section_id("notes"))
            .await
            .unwrap(),
        b"kept in a bucket"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A bucket that is not there: the relay says so and exits.
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--blob-store", "s3://no-such-bucket"])
        .envs(sw.env())
        .env("SESPHR_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("cannot start"), "{err}");
    assert!(err.contains("s3://no-such-bucket"), "{err}");
    assert!(!err.contains(SECRET_KEY), "{err}");
    // Nor when the service is down.
    let mut sw = sw;
    let bucket = sw.bucket.clone();
    let env = sw.env();
    sw.kill();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--blob-store", &format!("s3://{bucket}/bin")])
        .envs(env)
        .env("SESPHR_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains(&format!("s3://{bucket}/bin")), "{err}");
    assert!(!err.contains(SECRET_KEY), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
