//! The multi-process deployment: relay and SRS processes of the real binary
//! behind one front origin ([`sesphr_testkit::cluster`]), their metrics and
//! health on the operator's port, a SIGKILLed relay mid-upload, a relay in
//! front of several SRS URLs failing over, and the 2-relay / 2-SRS
//! deployment on the shared backends.
#![cfg(test)]

use sesphr_client::grant::Role;
use sesphr_native::Reader;
use sesphr_testkit::cluster::Cluster;
use sesphr_testkit::deploy::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn scrape(base: &str) -> String {
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    text
}

/// The sum of the samples of `name` whose labels include every `labels`
/// pair (text exposition format).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest),
                None => (series, ""),
            };
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Writes, shares and reads through `base`: the e2e flow of one record.
/// The record's id, the patient's and the doctor's (to look for in logs and
/// metrics).
async fn flow(base: &str) -> Vec<String> {
    let client = client(base).await;
    let (patient, mut record) = patient(&client).await;
    let notes = [("notes", b"through the origin".as_slice())];
    let (doctor, _) = share_written(&client, &mut record, &notes, Role::Physician).await;
    let ids = vec![
        record.record().to_hex(),
        hex::encode(patient.identity().public().id().0),
        hex::encode(doctor.public().id().0),
    ];
    let mut doc = Reader::new(client.clone(), doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    let sec = record.section_id("notes");
    assert_eq!(
        doc.read(&shared, &sec).await.unwrap(),
        b"through the origin"
    );
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_one_srs_behind_the_origin_with_metrics_and_health() {
    let mut c = Cluster::builder(bin())
        .metrics()
        .log("info")
        .relay_args(&["--log-format", "json"])
        .srs_args(&["--log-format", "json"])
        .start()
        .await;
    let origin = c.origin();
    let relay_ops = c.relay(0).metrics_base().unwrap();
    let srs_ops = c.srs(0).metrics_base().unwrap();
    let ids = flow(&origin).await;
    assert!(c.origin_connections(0) > 0);

    // The relay counted the requests by route template, timed them and
    // its store operations, and its forwards to the SRS.
    let relay = scrape(&relay_ops).await;
    let requests = |route: &str, method: &str, status: &str| {
        sample(
            &relay,
            "sesphr_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert!(requests("/v1/blobs/{id}", "PUT", "201") >= 2.0, "{relay}");
    assert!(requests("/v1/records/{record}/manifests", "POST", "201") >= 1.0);
    assert!(requests("/v1/reencrypt", "POST", "200") >= 1.0);
    assert!(requests("/srs/v1/grants", "POST", "201") >= 1.0);
    assert!(
        sample(
            &relay,
            "sesphr_http_request_duration_seconds_count",
            &[("route", "/v1/reencrypt")]
        ) >= 1.0
    );
    for op in [
        "claim_blob",
        "create_blob",
        "blob_commit",
        "put_manifest",
        "use_nonce",
    ] {
        assert!(
            sample(
                &relay,
                "sesphr_store_operation_duration_seconds_count",
                &[
                    ("store", "relay"),
                    ("backend", "files+sqlite"),
                    ("operation", op)
                ]
            ) >= 1.0,
            "store operation {op} timed"
        );
    }
    assert!(
        sample(
            &relay,
            "sesphr_srs_peer_requests_total",
            &[("outcome", "ok")]
        ) >= 1.0
    );
    assert!(sample(&relay, "process_resident_memory_bytes", &[]) > 0.0);

    // The SRS: its routes, its group commits, its store.
    let srs = scrape(&srs_ops).await;
    assert!(
        sample(
            &srs,
            "sesphr_http_requests_total",
            &[("route", "/srs/v1/reencrypt"), ("status", "200")]
        ) >= 1.0
    );
    assert!(sample(&srs, "sesphr_srs_audit_batch_entries_count", &[]) >= 1.0);
    assert!(sample(&srs, "sesphr_srs_audit_batch_entries_sum", &[]) >= 1.0);
    assert!(
        sample(
            &srs,
            "sesphr_store_operation_duration_seconds_count",
            &[
                ("store", "srs"),
                ("backend", "sqlite"),
                ("operation", "append_audit_batch")
            ]
        ) >= 1.0
    );
    // No identifier of a record or party in any series.
    for id in &ids {
        assert!(!relay.contains(id.as_str()) && !srs.contains(id.as_str()));
    }

    // Both processes log one JSON object per line, a line per request
    // with its route template, and no record or party id in those lines.
    for log in [c.relay(0).log(), c.srs(0).log()] {
        let mut routes = Vec::new();
        for line in log.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["target"] == "sesphr::request" {
                routes.push(v["route"].as_str().unwrap().to_string());
                for id in &ids {
                    assert!(!line.contains(id.as_str()), "an id in {line}");
                }
            }
        }
        assert!(
            routes.iter().any(|r| r == "/v1/reencrypt")
                || routes.iter().any(|r| r == "/srs/v1/reencrypt"),
            "{routes:?}"
        );
    }

    // The public port has no metrics; it has health.
    let (status, _) = get(&format!("{origin}/metrics")).await;
    assert_eq!(status, 404);
    let (status, body) = get(&format!("{origin}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["checks"]["relay_store"], "ok");
    assert_eq!(body["checks"]["srs"], "ok");
    let (status, body) = get(&format!("{srs_ops}/readyz")).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"srs_store\":\"ok\""), "{body}");

    // Without its SRS the relay is alive but not ready, and ready again
    // once the SRS is back.
    c.kill_srs(0);
    let (status, _) = get(&format!("{relay_ops}/healthz")).await;
    assert_eq!(status, 200);
    let (status, body) = get(&format!("{relay_ops}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["srs"], "unreachable");
    assert_eq!(body["checks"]["relay_store"], "ok");
    c.restart_srs(0).await;
    let (status, _) = get(&format!("{relay_ops}/readyz")).await;
    assert_eq!(status, 200);
    flow(&origin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_upload_behind_the_origin_restarts_with_nothing_half_written() {
    let mut c = Cluster::builder(bin()).start().await;
    let origin = c.origin();
    let client = client(&origin).await;
    let (patient, mut record) = patient(&client).await;
    let history = [("history", b"committed before the crash".as_slice())];
    let (doctor, _) = share_written(&client, &mut record, &history, Role::Physician).await;

    // Half of a 4 MiB upload through the origin, then SIGKILL the relay.
    let blob = opaque_blob(0x5e, 4 << 20);
    let hash = blob_id(&blob);
    let addr = origin.trim_start_matches("http://");
    let conn = half_upload(addr, patient.identity(), &blob).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.kill_relay(0);
    drop(conn);
    // While it is down the origin has no relay to hand connections to.
    assert!(reqwest::get(format!("{origin}/healthz")).await.is_err());

    c.restart_relay(0).await;
    let client = sesphr_testkit::deploy::client(&origin).await;
    assert_eq!(client.blob(&hash).await.unwrap_err().status(), Some(404));
    assert!(std::fs::read_dir(c.relay(0).data.join("relay/tmp"))
        .unwrap()
        .next()
        .is_none());
    let mut doc = Reader::new(client.clone(), doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &record.section_id("history"))
            .await
            .unwrap(),
        b"committed before the crash"
    );
    assert_eq!(
        client.put_blob(patient.identity(), &blob).await.unwrap(),
        hash
    );
    assert_eq!(client.blob(&hash).await.unwrap().len(), blob.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_skips_an_srs_it_cannot_connect_to() {
    // The first SRS URL has nothing listening: every request the relay
    // sends there fails to connect and moves on to the live SRS.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let c = Cluster::builder(bin())
        .metrics()
        .extra_srs_urls(&[&dead])
        .start()
        .await;
    flow(&c.origin()).await;
    let ops = c.relay(0).metrics_base().unwrap();
    let relay = scrape(&ops).await;
    assert!(
        sample(
            &relay,
            "sesphr_srs_peer_requests_total",
            &[("outcome", "failover")]
        ) >= 1.0,
        "{relay}"
    );
    assert_eq!(
        sample(
            &relay,
            "sesphr_srs_peer_requests_total",
            &[("outcome", "error")]
        ),
        0.0
    );
    // One of two SRS reachable: degraded, still ready.
    let (status, body) = get(&format!("{ops}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"srs\":\"degraded\""), "{body}");
}

/// An SRS that takes a request and hangs up without answering, as one
/// killed while it works: `(its URL, requests it received)`.
async fn hang_up_srs() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            if conn.read(&mut buf).await.is_ok_and(|n| n > 0) {
                s.fetch_add(1, Ordering::SeqCst);
            }
            drop(conn);
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_may_have_reached_an_srs_is_never_sent_again() {
    use sesphr_relay::relay::peer::{HttpPeer, SrsPeer};
    use std::sync::atomic::Ordering;
    let c = Cluster::builder(bin()).start().await;
    let live = c.srs(0).base();
    let (broken, seen) = hang_up_srs().await;
    let peer = HttpPeer::new(&format!("{broken}, {live}")).unwrap();
    assert_eq!(peer.len(), 2);
    // The first request goes to the broken SRS, which received it: a
    // re-encryption is not re-sent to the live one (its nonce is
    // single-use), the relay answers 502.
    let e = peer
        .reencrypt(bytes::Bytes::from_static(b"not a sealed request"))
        .await
        .unwrap_err();
    assert_eq!((e.status.as_u16(), e.code), (502, "srs_unreachable"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // The broken SRS is now skipped: the next goes to the live one, which
    // refuses the garbage itself.
    let f = peer
        .reencrypt(bytes::Bytes::from_static(b"not a sealed request"))
        .await
        .unwrap();
    assert_eq!(f.status.as_u16(), 400);
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // A GET that broke is safe to send again: it moves on at once.
    let (broken, seen) = hang_up_srs().await;
    let peer = HttpPeer::new(&format!("{broken},{live}")).unwrap();
    let f = peer
        .forward(
            warp::http::Method::GET,
            "/srs/v1/info",
            None,
            None,
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(f.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(HttpPeer::new("ftp://x").is_err());
    assert!(HttpPeer::new(&format!("{live},")).is_err());
}

/// The deployment: 2 relays on one bucket and 2 SRS processes on
/// one database behind one origin, each killed with SIGKILL and restarted,
/// the e2e flow through the origin all along. Needs the shared backends: see
/// [`sesphr_testkit::cluster::shared_backends`] for how to switch it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_two_srs_on_shared_backends_survive_sigkill() {
    let backends = sesphr_testkit::cluster::shared_backends().await;
    let relay_args: Vec<&str> = backends.relay_args.iter().map(String::as_str).collect();
    let srs_args: Vec<&str> = backends.srs_args.iter().map(String::as_str).collect();
    let mut c = Cluster::builder(bin())
        .env(&backends.env)
        .relays(2)
        .srs(2)
        .relay_args(&relay_args)
        .srs_args(&srs_args)
        .metrics()
        .start()
        .await;
    let origin = c.origin();
    // Both SRS processes are one SRS: one identity.
    let info = |b: String| async move { get(&format!("{b}/srs/v1/info")).await.1 };
    assert_eq!(info(c.srs(0).base()).await, info(c.srs(1).base()).await);
    flow(&origin).await;
    flow(&origin).await;
    assert!(c.origin_connections(0) > 0 && c.origin_connections(1) > 0);

    // Any one process down: the deployment still serves the whole flow.
    for (relay, n) in [(true, 0), (false, 1), (true, 1), (false, 0)] {
        if relay {
            c.kill_relay(n);
        } else {
            c.kill_srs(n);
        }
        flow(&origin).await;
        if relay {
            c.restart_relay(n).await;
        } else {
            c.restart_srs(n).await;
        }
    }

    // A record written through one relay is read through the other.
    let client0 = client(&c.relay(0).base()).await;
    let (_, mut record) = patient(&client0).await;
    let notes = [("notes", b"one bucket".as_slice())];
    let (doctor, _) = share_written(&client0, &mut record, &notes, Role::Physician).await;
    let client1 = client(&c.relay(1).base()).await;
    let mut doc = Reader::new(client1, doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &record.section_id("notes"))
            .await
            .unwrap(),
        b"one bucket"
    );
    // The audit log took the reads since the last restarts. Which SRS
    // process appended depends on the relays' failover timing (a restarted
    // process starts its counters again); two processes appending to one
    // tree concurrently is proven in srs_pg.rs.
    let mut batches = 0.0;
    for n in 0..2 {
        let m = scrape(&c.srs(n).metrics_base().unwrap()).await;
        batches += sample(&m, "sesphr_srs_audit_batch_entries_count", &[]);
    }
    assert!(batches >= 1.0, "no audit batch since the restarts");
}
