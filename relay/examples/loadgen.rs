//! Load generator for the relay and SRS (numbers for docs/benchmarks.md).
//!
//! `cargo run --release -p sesphr-relay --example loadgen -- blob URL MIB`
//!   uploads and downloads one blob of MIB MiB, printing MB/s;
//! `cargo run --release -p sesphr-relay --example loadgen -- reencrypt URL N CONCURRENCY`
//!   sets up a record and a grant, then sends N re-encryption requests
//!   through the relay, printing requests/s and latency percentiles;
//! `... -- reencrypt-rate URL RATE SECONDS` sends them open-loop at RATE per
//!   second instead (latency at a given load, not at saturation);
//! `... -- growth URL MIB MAX_GRANTS` prints markdown tables: grant and revoke
//!   latency against the section's size (1 KiB and MIB MiB) and against the
//!   number of grants the SRS already holds (1 … MAX_GRANTS), and a reader's
//!   first-open latency against the number of sections in the manifest;
//! `... -- make-blob FILE MIB` writes a well-formed section blob of about MIB
//!   MiB (a real header, pseudo-random sealed chunks) for curl and nginx;
//! `... -- put-args FILE` prints `ID TOKEN` for uploading FILE with curl
//!   (`curl -T FILE -H "x-sesphr-token: TOKEN" URL/v1/blobs/ID`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;

use std::sync::Arc;
use std::time::Instant;

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::ReencryptRequest;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("blob") => blob(&args[2], args[3].parse().unwrap()).await,
        Some("reencrypt") => {
            reencrypt(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap()).await
        }
        Some("reencrypt-rate") => {
            let (rate, secs): (f64, f64) = (args[3].parse().unwrap(), args[4].parse().unwrap());
            reencrypt_rate(&args[2], rate, secs).await
        }
        Some("make-blob") => make_blob(&args[2], args[3].parse().unwrap()),
        Some("put-args") => put_args(&args[2]),
        Some("growth") => growth(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap()).await,
        _ => eprintln!(
            "usage: loadgen blob URL MIB | reencrypt URL N CONCURRENCY | reencrypt-rate URL RATE SECONDS | growth URL MIB MAX_GRANTS | make-blob FILE MIB | put-args FILE"
        ),
    }
}

async fn blob(url: &str, mib: usize) {
    let api = Api::new(url);
    let who = Identity::generate().unwrap();
    let data = opaque_blob(1, (mib as u64) << 20);
    let t = Instant::now();
    let id = api.upload(&who, &data).await.unwrap();
    let up = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut resp = api
        .http
        .get(format!("{url}/v1/blobs/{id}"))
        .send()
        .await
        .unwrap();
    let mut n = 0usize;
    while let Some(c) = resp.chunk().await.unwrap() {
        n += c.len();
    }
    let down = t.elapsed().as_secs_f64();
    assert_eq!(n, data.len());
    let mb = data.len() as f64 / 1e6;
    println!(
        "{{\"blob_mib\":{mib},\"upload_mb_s\":{:.1},\"download_mb_s\":{:.1}}}",
        mb / up,
        mb / down
    );
}

fn make_blob(file: &str, mib: u64) {
    use std::io::Write;
    let header = opaque_header(1, mib << 20);
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).unwrap());
    out.write_all(&header.to_bytes()).unwrap();
    let (mut left, mut state) = (header.blob_len() - header.to_bytes().len() as u64, 1u64);
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        fill_pseudo_random(&mut state, &mut buf[..n]);
        out.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
}

fn put_args(file: &str) {
    use std::io::Read;
    let mut f = std::fs::File::open(file).unwrap();
    let len = f.metadata().unwrap().len();
    let mut hasher = sesphr_client::content::ObjectHasher::new(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]).unwrap();
    }
    let hash = hasher.finish().unwrap().1;
    let who = Identity::generate().unwrap();
    let subject = [hash.as_slice(), &len.to_be_bytes()].concat();
    let token = sesphr_client::token::RequestToken::sign(
        &who,
        sesphr_client::token::Purpose::UploadBlob,
        &subject,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    println!("{} {}", hex::encode(hash), hex::encode(token.as_bytes()));
}

/// A record, a grant and `n` sealed requests ready to send.
async fn prepared(url: &str, n: usize) -> Vec<Vec<u8>> {
    let api = Api::new(url);
    let mut patient = Patient::new(&api).await;
    let srs = patient.srs.clone();
    let mut reader = Reader::new(&api).await;
    let m = patient
        .write(&api, &[("labs", b"HbA1c 6.1%".as_slice())])
        .await;
    patient
        .grant(&api, "labs", reader.id.public(), Role::Lab, 0)
        .await;
    reader.sync_inbox(&api).await;
    let share = Arc::new(reader.shares[0].clone());
    let reader = Arc::new(reader.id);
    // Requests are built (signed, sealed) before timing: the servers are measured.
    (0..n)
        .map(|_| {
            let req =
                ReencryptRequest::new(&reader, &share.grant, m.version(), now(), &mut os_rng())
                    .unwrap();
            seal_request(&srs.encryption, req.as_bytes(), &mut os_rng())
                .unwrap()
                .0
        })
        .collect()
}

/// The relay's forwarding route, or with `SESPHR_LOADGEN_SRS_DIRECT=1` the
/// SRS's own (to measure what the relay's hop costs).
fn reencrypt_endpoint(url: &str) -> String {
    if std::env::var_os("SESPHR_LOADGEN_SRS_DIRECT").is_some() {
        format!("{url}/srs/v1/reencrypt")
    } else {
        format!("{url}/v1/reencrypt")
    }
}

/// Sends one sealed request; its latency in ms (a refusal stops the run).
async fn timed_reencrypt(http: &reqwest::Client, endpoint: &str, body: Vec<u8>) -> f64 {
    let t = Instant::now();
    let r = http
        .post(endpoint)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.bytes().await.unwrap();
    t.elapsed().as_secs_f64() * 1000.0
}

/// p50 and p99 of latencies in ms.
fn p50_p99(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    (pct(0.5), pct(0.99))
}

async fn reencrypt_rate(url: &str, rate: f64, secs: f64) {
    let n = (rate * secs) as usize;
    let requests = prepared(url, n).await;
    let http = reqwest::Client::new();
    let endpoint = reencrypt_endpoint(url);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, body) in requests.into_iter().enumerate() {
        let due = start + std::time::Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, endpoint) = (http.clone(), endpoint.clone());
        tasks.push(tokio::spawn(async move {
            timed_reencrypt(&http, &endpoint, body).await
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let took = start.elapsed().as_secs_f64();
    let (p50, p99) = p50_p99(lat);
    println!(
        "{{\"offered_req_per_s\":{rate},\"achieved_req_per_s\":{:.0},\"p50_ms\":{p50:.2},\"p99_ms\":{p99:.2}}}",
        n as f64 / took,
    );
}

async fn reencrypt(url: &str, n: usize, concurrency: usize) {
    let requests = prepared(url, n).await;
    let queue = Arc::new(tokio::sync::Mutex::new(requests));
    let endpoint = reencrypt_endpoint(url);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (queue, endpoint) = (queue.clone(), endpoint.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    break;
                };
                lat.push(timed_reencrypt(&http, &endpoint, body).await);
            }
            lat
        }));
    }
    let mut lat: Vec<f64> = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let (p50, p99) = p50_p99(lat);
    println!(
        "{{\"requests\":{n},\"concurrency\":{concurrency},\"req_per_s\":{:.0},\"p50_ms\":{p50:.2},\"p99_ms\":{p99:.2}}}",
        n as f64 / secs,
    );
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median latency of `n` grants of `section` to fresh readers, then of
/// revoking them (each: issue, deliver to SRS and inbox / sign, receipt).
async fn grant_and_revoke(api: &Api, patient: &mut Patient, section: &str, n: usize) -> (f64, f64) {
    let mut readers = Vec::new();
    for _ in 0..n {
        readers.push(Reader::new(api).await);
    }
    let mut grants = Vec::new();
    let mut g_ms = Vec::new();
    for r in &readers {
        let t = Instant::now();
        let g = patient
            .grant(api, section, r.id.public(), Role::Custom, 0)
            .await;
        g_ms.push(t.elapsed().as_secs_f64() * 1e3);
        grants.push(g);
    }
    let mut r_ms = Vec::new();
    for g in &grants {
        let t = Instant::now();
        patient.revoke(api, &g.statement).await.unwrap();
        r_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (median_ms(g_ms), median_ms(r_ms))
}

async fn growth(url: &str, mib: usize, max_grants: usize) {
    let api = Api::new(url);
    let mut patient = Patient::new(&api).await;
    let samples = 15;
    let small = vec![1u8; 1024];
    let large: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    patient
        .write(
            &api,
            &[("small", small.as_slice()), ("large", large.as_slice())],
        )
        .await;
    drop(large);
    println!("| section size | grant (median ms) | revoke (median ms) |\n| --- | --- | --- |");
    for (label, section) in [
        ("1 KiB".to_string(), "small"),
        (format!("{mib} MiB"), "large"),
    ] {
        let (g, r) = grant_and_revoke(&api, &mut patient, section, samples).await;
        println!("| {label} | {g:.2} | {r:.2} |");
    }

    println!("\n| grants already held by the SRS | grant (median ms) | revoke (median ms) |\n| --- | --- | --- |");
    let mut held = 0usize;
    let mut target = 1usize;
    let bulk = Reader::new(&api).await;
    while target <= max_grants {
        while held < target {
            patient
                .grant(&api, "small", bulk.id.public(), Role::Custom, 0)
                .await;
            held += 1;
        }
        let (g, r) = grant_and_revoke(&api, &mut patient, "small", samples).await;
        println!("| {held} | {g:.2} | {r:.2} |");
        held += samples;
        target *= 10;
    }

    println!("\n| sections in the manifest | first open: manifest, re-encryption, decrypt one section (median ms) |\n| --- | --- |");
    for sections in [1usize, 8, 32, 128] {
        let mut owner = Patient::new(&api).await;
        let names: Vec<String> = (0..sections).map(|i| format!("s{i}")).collect();
        let body = vec![7u8; 1024];
        let updates: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), body.as_slice()))
            .collect();
        owner.write(&api, &updates).await;
        let mut reader = Reader::new(&api).await;
        owner
            .grant(&api, "s0", reader.id.public(), Role::Custom, 0)
            .await;
        reader.sync_inbox(&api).await;
        let (record, section, srs) = (owner.record, owner.section_id("s0"), owner.srs.clone());
        let mut ms = Vec::new();
        for _ in 0..samples {
            // A fresh reader state each time: nothing cached but the grant.
            reader.high_water = 0;
            let t = Instant::now();
            let body = reader.read(&api, &record, &section, &srs).await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(body.len(), 1024);
        }
        println!("| {sections} | {:.2} |", median_ms(ms));
    }
}
