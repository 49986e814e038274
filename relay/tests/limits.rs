//! Connection limits: a slowloris client, a stalled upload, a body that
//! trickles in, a flood of idle connections and 1,100 slow strangers cannot
//! take the server down; it keeps serving health checks and authorized
//! traffic.
#![cfg(test)]

use sesphr_testkit::deploy::*;

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

/// Whether `/healthz` answers within `within`, asking again after each
/// unanswered try: a server that is held answers none of them, while one
/// that is busy for a moment (1,100 connections cut off at their deadline
/// and reconnecting at once, on 2 cores shared with other tests) answers a
/// later one.
async fn healthy_within(base: &str, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if healthy(base).await {
            return true;
        }
    }
    false
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
    let client = client(&server.base).await;
    let uploader = party(&client).await;
    let body = opaque_blob(7, 1_000_000);
    let hash = hex::encode(blob_id(&body));
    let subject = [
        blob_id(&body).as_slice(),
        &(body.len() as u64).to_be_bytes(),
    ]
    .concat();
    let token = sesphr_client::token::RequestToken::sign(
        &uploader,
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
    assert_eq!(
        hex::encode(client.put_blob(&uploader, &body).await.unwrap()),
        hash
    );
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

/// A connection from a given loopback address (all of 127.0.0.0/8 is
/// loopback on Linux), so tests can be many client hosts.
async fn connect_from(ip: [u8; 4], base: &str) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((ip, 0)))?;
    socket.connect(addr(base).parse().unwrap()).await
}

/// The head of a manifest POST whose body will trickle in.
fn slow_post(record: &str) -> String {
    format!(
        "POST /v1/records/{record}/manifests HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.limits.body_grace = Duration::from_secs(1);
        c.limits.body_min_rate = 1024;
    })
    .await;
    let mut slow = TcpStream::connect(addr(&server.base)).await.unwrap();
    slow.write_all(slow_post(&"7".repeat(64)).as_bytes())
        .await
        .unwrap();
    // One byte every 200 ms: never idle, far below the minimum rate.
    let start = Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if slow.write_all(b"x").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still open after 10 s"
        );
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("body_timeout"), "{reply}");
    assert!(healthy(&server.base).await);
    server.stop().await;
}

/// 1,100 strangers, each sending a request body one byte at a time, from
/// eleven addresses: each address holds at most its cap of connections, each
/// trickling body is cut off at its deadline, and through all of it health
/// checks and an owner's authorized writes are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_hundred_slow_clients_cannot_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.limits.max_connections = 1024;
        c.limits.max_connections_per_ip = 64;
        c.limits.body_grace = Duration::from_secs(4);
    })
    .await;
    let client = client(&server.base).await;
    let (_, mut record) = patient(&client).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let record_hex = "8".repeat(64);
    let mut attackers = Vec::new();
    for i in 0..1_100u32 {
        let ip = [127, 0, 0, 2 + (i % 11) as u8];
        let (base, head, stop) = (server.base.clone(), slow_post(&record_hex), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut held = 0u32;
            // Each attacker reconnects whenever it is cut off.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut c) = connect_from(ip, &base).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                if c.write_all(head.as_bytes()).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                held += 1;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if c.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            }
            held
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // For longer than the body deadline, the server keeps serving.
    let started = Instant::now();
    let mut checks = 0;
    let mut writes = 0;
    while started.elapsed() < Duration::from_secs(8) {
        assert!(
            healthy_within(&server.base, Duration::from_secs(3)).await,
            "health unanswered for 3 s, {:?} into the attack",
            started.elapsed()
        );
        checks += 1;
        if checks % 4 == 0 {
            let body = format!("written under attack {writes}");
            record.write(&[("notes", body.as_bytes())]).await.unwrap();
            writes += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut connections = 0;
    for a in attackers {
        connections += a.await.unwrap();
    }
    assert!(writes >= 5, "{writes} writes");
    // Cut off and back: attackers had to reconnect.
    assert!(connections > 1_100 / 2, "{connections} connections");
    assert_eq!(
        record.read("notes").await.unwrap(),
        format!("written under attack {}", writes - 1).into_bytes()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.limits.max_connections = 200;
        c.limits.max_connections_per_ip = 16;
        c.limits.header_timeout = Duration::from_secs(30);
    })
    .await;
    let mut held = Vec::new();
    let mut closed = 0;
    for _ in 0..100 {
        let mut c = connect_from([127, 0, 0, 9], &server.base).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = [0u8; 16];
    for c in &mut held {
        // Closed: an end of stream, or a reset (the request was unread).
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), c.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 100 - 16, "the rest are closed at once");
    assert!(healthy(&server.base).await, "other addresses are served");
    drop(held);
    server.stop().await;
}
