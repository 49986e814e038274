//! Connection limits: a slowloris client, a stalled upload and a flood of
//! idle connections cannot take the server down; it keeps serving others.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or 10 s pass); returns what it sent.
async fn until_closed(conn: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept a stalled connection open for 10 s"),
        }
    }
    (String::from_utf8_lossy(&out).to_string(), start.elapsed())
}

async fn healthy(base: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    matches!(client.get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_stalled_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.limits.header_timeout = Duration::from_millis(500);
        c.limits.idle_timeout = Duration::from_millis(800);
    })
    .await;
    let api = Api::new(&server.base);

    // Slowloris: headers that never end.
    let mut slow = TcpStream::connect(addr(&server.base)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: ")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut slow).await;
    assert!(took < Duration::from_secs(5), "closed after {took:?}");

    // A stalled upload: the body stops after 100 of about 1,000,000 bytes.
    let patient = Patient::new(&api).await;
    let body = opaque_blob(7, 1_000_000);
    let hash = hex::encode(blob_id(&body));
    let subject = [
        blob_id(&body).as_slice(),
        &(body.len() as u64).to_be_bytes(),
    ]
    .concat();
    let token = sesphr_client::token::RequestToken::sign(
        &patient.id,
        sesphr_client::token::Purpose::UploadBlob,
        &subject,
        now(),
        &mut sesphr_client::primitives::os_rng(),
    )
    .unwrap();
    let mut stalled = TcpStream::connect(addr(&server.base)).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{hash} HTTP/1.1\r\nhost: x\r\nx-sesphr-token: {}\r\ncontent-length: {}\r\n\r\n",
        hex::encode(token.as_bytes()),
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body[..100]).await.unwrap();
    let (_, took) = until_closed(&mut stalled).await;
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // Nothing half-written is visible, and the server serves others.
    assert_eq!(
        api.get(&format!("/v1/blobs/{hash}"), None)
            .await
            .unwrap_err(),
        ApiErr {
            status: 404,
            code: "not_found".into()
        }
    );
    assert!(healthy(&server.base).await);
    // The same upload, sent whole, now succeeds.
    assert_eq!(api.upload(&patient.id, &body).await.unwrap(), hash);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_queues_clients_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.limits.max_connections = 4;
        c.limits.header_timeout = Duration::from_secs(30);
        c.limits.idle_timeout = Duration::from_secs(30);
    })
    .await;
    // Four idle connections take every slot (each sends a partial request).
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(addr(&server.base)).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth client waits in the backlog: not served, not refused.
    assert!(!healthy(&server.base).await);
    // Once the idle clients go, everyone is served again.
    drop(idle);
    let mut ok = false;
    for _ in 0..20 {
        if healthy(&server.base).await {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the server did not recover after the idle clients left");
    server.stop().await;
}
