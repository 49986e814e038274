//! Load: many concurrent clients against the real binary for a while, doing
//! a realistic mix — reads (re-encryption through the relay, then the blob),
//! uploads and new grants — with zero errors allowed, the server's peak RSS
//! bounded, and p50/p99 per operation reported.
//!
//! CI runs 48 clients for 4 s. The full run (docs/benchmarks.md):
//! `SESPHR_LOAD_CLIENTS=200 SESPHR_LOAD_SECS=60 cargo test --release -p sesphr-relay --test load -- --nocapture`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod procs;
use common::*;
use procs::*;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::{GrantShare, Role};
use sesphr_client::identity::{Identity, PublicIdentity};
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::ReencryptRequest;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Stats {
    read: Vec<Duration>,
    upload: Vec<Duration>,
    grant: Vec<Duration>,
    errors: Vec<String>,
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Shared {
    api: Api,
    srs: PublicIdentity,
    readers: Vec<(Identity, GrantShare)>,
    blob_id: [u8; 32],
    /// Owners who grant during the run (each owner's state is used by one
    /// client at a time, as in a browser).
    owners: Vec<tokio::sync::Mutex<Patient>>,
    grantees: Vec<PublicIdentity>,
}

async fn read(s: &Shared, k: usize) -> Result<(), String> {
    let (who, share) = &s.readers[k % s.readers.len()];
    let m = latest_manifest(&s.api, &share.grant.record)
        .await
        .map_err(|e| format!("manifest: {e:?}"))?;
    let req = ReencryptRequest::new(who, &share.grant, m.version(), now(), &mut os_rng())
        .map_err(|e| e.to_string())?;
    let (sealed, _key) = seal_request(&s.srs.encryption, req.as_bytes(), &mut os_rng())
        .map_err(|e| e.to_string())?;
    s.api
        .post("/v1/reencrypt", "application/octet-stream", sealed)
        .await
        .map_err(|e| format!("reencrypt: {e:?}"))?;
    s.api
        .get(&format!("/v1/blobs/{}", hex::encode(s.blob_id)), None)
        .await
        .map_err(|e| format!("blob: {e:?}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realistic_mix_under_load_has_no_errors_and_bounded_memory() {
    let clients = env("SESPHR_LOAD_CLIENTS", 48) as usize;
    let secs = env("SESPHR_LOAD_SECS", 4);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let api = Api::new(&base);

    // One patient with a 64 KiB section read by 8 readers; 16 other owners
    // grant it to 16 more parties during the run.
    let mut patient = Patient::new(&api).await;
    let srs = patient.srs.clone();
    let body = vec![0x5au8; 64 * 1024];
    let m = patient.write(&api, &[("labs", body.as_slice())]).await;
    let mut readers = Vec::new();
    for _ in 0..8 {
        let mut r = Reader::new(&api).await;
        patient
            .grant(&api, "labs", r.id.public(), Role::Lab, 0)
            .await;
        r.sync_inbox(&api).await;
        let share = r.shares[0].clone();
        readers.push((r.id, share));
    }
    let mut grantees = Vec::new();
    for _ in 0..16 {
        grantees.push(Reader::new(&api).await.id.public().clone());
    }
    let mut owners = Vec::new();
    for _ in 0..16 {
        let mut p = Patient::new(&api).await;
        p.write(&api, &[("labs", b"HbA1c 6.1%".as_slice())]).await;
        owners.push(tokio::sync::Mutex::new(p));
    }
    let shared = Arc::new(Shared {
        api: Api::new(&base),
        srs,
        readers,
        blob_id: m.entry(&patient.section_id("labs")).unwrap().blob_id(),
        owners,
        grantees,
    });
    let stats = Arc::new(Mutex::new(Stats::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);

    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (s, stats) = (shared.clone(), stats.clone());
            tokio::spawn(async move {
                let uploader = Identity::generate().unwrap();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    let op = (c * 7 + n * 13) % 20;
                    let t = Instant::now();
                    let result = match op {
                        // 15% uploads of 16 KiB.
                        0..=2 => {
                            let b = opaque_blob((c * 1_000_000 + n) as u64, 16 * 1024);
                            s.api
                                .upload(&uploader, &b)
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("upload: {e:?}"))
                        }
                        // 5% new grants, by 16 owners.
                        3 => {
                            let to = s.grantees[(c + n) % s.grantees.len()].clone();
                            s.owners[c % s.owners.len()]
                                .lock()
                                .await
                                .grant(&s.api, "labs", &to, Role::Lab, 0)
                                .await;
                            Ok(())
                        }
                        // 80% reads.
                        _ => read(&s, c + n).await,
                    };
                    let took = t.elapsed();
                    let mut st = stats.lock().unwrap();
                    match (result, op) {
                        (Err(e), _) => st.errors.push(e),
                        (Ok(()), 0..=2) => st.upload.push(took),
                        (Ok(()), 3) => st.grant.push(took),
                        (Ok(()), _) => st.read.push(took),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rss_mib = peak_rss_kib(child.id()) as f64 / 1024.0;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut st = Arc::try_unwrap(stats).ok().unwrap().into_inner().unwrap();
    let total = st.read.len() + st.upload.len() + st.grant.len();
    println!(
        "{{\"clients\":{clients},\"seconds\":{secs},\"ops\":{total},\"ops_per_s\":{:.0},\"errors\":{},\
\"read_p50_ms\":{:.1},\"read_p99_ms\":{:.1},\"reads\":{},\"upload_p50_ms\":{:.1},\"upload_p99_ms\":{:.1},\"uploads\":{},\
\"grant_p50_ms\":{:.1},\"grant_p99_ms\":{:.1},\"grants\":{},\"server_peak_rss_mib\":{rss_mib:.1}}}",
        total as f64 / secs as f64,
        st.errors.len(),
        pct(&mut st.read, 0.5),
        pct(&mut st.read, 0.99),
        st.read.len(),
        pct(&mut st.upload, 0.5),
        pct(&mut st.upload, 0.99),
        st.upload.len(),
        pct(&mut st.grant, 0.5),
        pct(&mut st.grant, 0.99),
        st.grant.len(),
    );
    assert!(
        st.errors.is_empty(),
        "{} errors, first: {:?}",
        st.errors.len(),
        st.errors.first()
    );
    assert!(!st.read.is_empty() && !st.upload.is_empty() && !st.grant.is_empty());
    assert!(rss_mib < 512.0, "server peak RSS {rss_mib:.0} MiB");
}
