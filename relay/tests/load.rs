//! Load: many concurrent clients against the real binary for a while, doing
//! a realistic mix — reads (re-encryption through the relay, then the blob),
//! uploads and new grants — with zero errors allowed, the server's peak RSS
//! bounded, and p50/p99 per operation reported.
//!
//! CI runs 48 clients for 4 s. The full run (docs/benchmarks.md):
//! `SESPHR_LOAD_CLIENTS=200 SESPHR_LOAD_SECS=60 cargo test --release -p sesphr-relay --test load -- --nocapture`.
#![cfg(test)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sesphr_client::grant::Role;
use sesphr_client::identity::PublicIdentity;
use sesphr_client::reader::SharedRecord;
use sesphr_client::record::SectionId;
use sesphr_native::{Client, PatientRecord, Reader};
use sesphr_testkit::deploy::*;

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
    client: Client,
    /// Readers of one section, each used by one client at a time.
    readers: Vec<tokio::sync::Mutex<(Reader, SharedRecord)>>,
    section: SectionId,
    /// Owners who grant during the run (each owner's state is used by one
    /// client at a time, as in a browser).
    owners: Vec<tokio::sync::Mutex<PatientRecord>>,
    grantees: Vec<PublicIdentity>,
}

/// A full read through the reader flow: latest manifest, head, the
/// re-encryption through the relay, the blob, decryption.
async fn read(s: &Shared, k: usize) -> Result<(), String> {
    let mut guard = s.readers[k % s.readers.len()].lock().await;
    let (reader, shared) = &mut *guard;
    let shared = shared.clone();
    reader
        .read(&shared, &s.section)
        .await
        .map(drop)
        .map_err(|e| format!("read: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realistic_mix_under_load_has_no_errors_and_bounded_memory() {
    let clients = env("SESPHR_LOAD_CLIENTS", 48) as usize;
    let secs = env("SESPHR_LOAD_SECS", 4);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    let mut child = spawn(bin, "serve", dir.path(), port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let client = client(&base).await;

    // One patient with a 64 KiB section read by 8 readers; 16 other owners
    // grant it to 16 more parties during the run.
    let (_, mut record) = patient(&client).await;
    let body = vec![0x5au8; 64 * 1024];
    record.write(&[("labs", body.as_slice())]).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..8 {
        let r = reader(&client).await;
        record
            .share(r.identity().public(), &["labs"], Role::Lab, false, None)
            .await
            .unwrap();
        let shared = r.shared_with_me().await.unwrap().remove(0);
        readers.push(tokio::sync::Mutex::new((r, shared)));
    }
    let mut grantees = Vec::new();
    for _ in 0..16 {
        grantees.push(party(&client).await.public().clone());
    }
    let mut owners = Vec::new();
    for _ in 0..16 {
        let (_, mut p) = patient(&client).await;
        p.write(&[("labs", b"HbA1c 6.1%".as_slice())])
            .await
            .unwrap();
        owners.push(tokio::sync::Mutex::new(p));
    }
    let shared = Arc::new(Shared {
        client: client.clone(),
        readers,
        section: record.section_id("labs"),
        owners,
        grantees,
    });
    let stats = Arc::new(Mutex::new(Stats::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);

    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (s, stats) = (shared.clone(), stats.clone());
            tokio::spawn(async move {
                let uploader = party(&s.client).await;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    let op = (c * 7 + n * 13) % 20;
                    let t = Instant::now();
                    let result = match op {
                        // 15% uploads of 16 KiB.
                        0..=2 => {
                            let b = opaque_blob((c * 1_000_000 + n) as u64, 16 * 1024);
                            s.client
                                .put_blob(&uploader, &b)
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("upload: {e}"))
                        }
                        // 5% new grants, by 16 owners.
                        3 => {
                            let to = s.grantees[(c + n) % s.grantees.len()].clone();
                            s.owners[c % s.owners.len()]
                                .lock()
                                .await
                                .share(&to, &["labs"], Role::Lab, false, None)
                                .await
                                .map(drop)
                                .map_err(|e| format!("grant: {e}"))
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
