//! Load generator for the relay and SRS (numbers for docs/benchmarks.md),
//! driving the servers with the native client (`sesphr-native`).
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
//! `... -- put-args URL FILE` registers a party and prints `ID TOKEN` for
//!   uploading FILE with curl (`curl -T FILE -H "x-sesphr-token: TOKEN" URL/v1/blobs/ID`).
//!
//! Against a server at saturation, start it with `--unlimited`: the
//! generator is a handful of parties.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_native::{Client, Patient, PatientRecord, Reader};
use sesphr_testkit::deploy::{fill_pseudo_random, now, opaque_blob, opaque_header};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Res<T>
where
    T::Err: Error + Send + Sync + 'static,
{
    Ok(args.get(i).ok_or("missing argument")?.parse()?)
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = || args.get(2).cloned().ok_or("missing URL");
    match args.get(1).map(String::as_str) {
        Some("blob") => blob(&url()?, arg(&args, 3)?).await,
        Some("reencrypt") => reencrypt(&url()?, arg(&args, 3)?, arg(&args, 4)?).await,
        Some("reencrypt-rate") => reencrypt_rate(&url()?, arg(&args, 3)?, arg(&args, 4)?).await,
        Some("make-blob") => make_blob(&url()?, arg(&args, 3)?),
        Some("put-args") => put_args(&url()?, args.get(3).ok_or("missing FILE")?).await,
        Some("growth") => growth(&url()?, arg(&args, 3)?, arg(&args, 4)?).await,
        _ => Err("usage: loadgen blob URL MIB | reencrypt URL N CONCURRENCY | reencrypt-rate URL RATE SECONDS | growth URL MIB MAX_GRANTS | make-blob FILE MIB | put-args URL FILE".into()),
    }
}

async fn party(client: &Client) -> Res<sesphr_client::identity::Identity> {
    let id = sesphr_client::identity::Identity::generate()?;
    client.register(&id).await?;
    Ok(id)
}

async fn patient(client: &Client) -> Res<PatientRecord> {
    Ok(Patient::new(client.clone(), party(client).await?)
        .create_record()
        .await?)
}

async fn blob(url: &str, mib: usize) -> Res<()> {
    let client = Client::connect(url, None).await?;
    let who = party(&client).await?;
    let data = opaque_blob(1, (mib as u64) << 20);
    let t = Instant::now();
    let id = client.put_blob(&who, &data).await?;
    let up = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut resp = reqwest::get(format!("{url}/v1/blobs/{}", hex::encode(id))).await?;
    let mut n = 0usize;
    while let Some(c) = resp.chunk().await? {
        n += c.len();
    }
    let down = t.elapsed().as_secs_f64();
    if n != data.len() {
        return Err("short download".into());
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "{{\"blob_mib\":{mib},\"upload_mb_s\":{:.1},\"download_mb_s\":{:.1}}}",
        mb / up,
        mb / down
    );
    Ok(())
}

fn make_blob(file: &str, mib: u64) -> Res<()> {
    use std::io::Write;
    let header = opaque_header(1, mib << 20);
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    out.write_all(&header.to_bytes())?;
    let (mut left, mut state) = (header.blob_len() - header.to_bytes().len() as u64, 1u64);
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        fill_pseudo_random(&mut state, &mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

async fn put_args(url: &str, file: &str) -> Res<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let mut hasher = sesphr_client::content::ObjectHasher::new(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n])?;
    }
    let hash = hasher.finish()?.1;
    let who = party(&Client::connect(url, None).await?).await?;
    let subject = [hash.as_slice(), &len.to_be_bytes()].concat();
    let token = sesphr_client::token::RequestToken::sign(
        &who,
        sesphr_client::token::Purpose::UploadBlob,
        &subject,
        now(),
        &mut os_rng(),
    )?;
    println!("{} {}", hex::encode(hash), hex::encode(token.as_bytes()));
    Ok(())
}

/// A record, a grant and `n` sealed requests ready to send.
async fn prepared(url: &str, n: usize) -> Res<Vec<Vec<u8>>> {
    let client = Client::connect(url, None).await?;
    let mut record = patient(&client).await?;
    let reader = party(&client).await?;
    record.write(&[("labs", b"HbA1c 6.1%".as_slice())]).await?;
    let grant = record
        .share(reader.public(), &["labs"], Role::Lab, false, None)
        .await?
        .remove(0)
        .statement;
    let (version, srs) = (record.version(), client.srs().encryption);
    // Requests are built (signed, sealed) before timing: the servers are measured.
    (0..n)
        .map(|_| {
            let req = ReencryptRequest::new(&reader, &grant, version, now(), &mut os_rng())?;
            Ok(seal_request(&srs, req.as_bytes(), &mut os_rng())?.0)
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
async fn timed_reencrypt(http: &reqwest::Client, endpoint: &str, body: Vec<u8>) -> Res<f64> {
    let t = Instant::now();
    let r = http
        .post(endpoint)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("refused: {}", r.status()).into());
    }
    r.bytes().await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// p50 and p99 of latencies in ms.
fn p50_p99(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (pct(0.5), pct(0.99))
}

/// Waits for the tasks sending `n` requests since `start`: the requests per
/// second, and the p50 and p99 of the latencies they measured.
async fn measured(
    start: Instant,
    n: usize,
    tasks: Vec<tokio::task::JoinHandle<Res<Vec<f64>>>>,
) -> Res<(f64, f64, f64)> {
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.extend(t.await??);
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let (p50, p99) = p50_p99(lat);
    Ok((rate, p50, p99))
}

async fn reencrypt_rate(url: &str, rate: f64, secs: f64) -> Res<()> {
    let n = (rate * secs) as usize;
    let requests = prepared(url, n).await?;
    let http = reqwest::Client::new();
    let endpoint = reencrypt_endpoint(url);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, body) in requests.into_iter().enumerate() {
        let due = start + std::time::Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, endpoint) = (http.clone(), endpoint.clone());
        tasks.push(tokio::spawn(async move {
            Ok(vec![timed_reencrypt(&http, &endpoint, body).await?])
        }));
    }
    let (achieved, p50, p99) = measured(start, n, tasks).await?;
    println!(
        "{{\"offered_req_per_s\":{rate},\"achieved_req_per_s\":{achieved:.0},\"p50_ms\":{p50:.2},\"p99_ms\":{p99:.2}}}"
    );
    Ok(())
}

async fn reencrypt(url: &str, n: usize, concurrency: usize) -> Res<()> {
    let requests = prepared(url, n).await?;
    let queue = Arc::new(tokio::sync::Mutex::new(requests));
    // With SESPHR_LOADGEN_SRS_ALSO=URL[,URL…] (other SRS processes on the
    // same database and seed), the clients take the endpoints in turn.
    let mut endpoints = vec![reencrypt_endpoint(url)];
    if let Ok(also) = std::env::var("SESPHR_LOADGEN_SRS_ALSO") {
        endpoints.extend(
            also.split(',')
                .filter(|u| !u.is_empty())
                .map(|u| format!("{u}/srs/v1/reencrypt")),
        );
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..concurrency {
        let (queue, endpoint) = (queue.clone(), endpoints[k % endpoints.len()].clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    break;
                };
                lat.push(timed_reencrypt(&http, &endpoint, body).await?);
            }
            Res::Ok(lat)
        }));
    }
    let (rate, p50, p99) = measured(start, n, tasks).await?;
    println!(
        "{{\"requests\":{n},\"concurrency\":{concurrency},\"req_per_s\":{rate:.0},\"p50_ms\":{p50:.2},\"p99_ms\":{p99:.2}}}"
    );
    Ok(())
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Median latency of `n` grants of `section` to fresh readers, then of
/// revoking them (each: issue, deliver to SRS and inbox / sign, receipt).
async fn grant_and_revoke(
    client: &Client,
    record: &mut PatientRecord,
    section: &str,
    n: usize,
) -> Res<(f64, f64)> {
    let mut readers = Vec::new();
    for _ in 0..n {
        readers.push(party(client).await?);
    }
    let mut grants = Vec::new();
    let mut g_ms = Vec::new();
    for r in &readers {
        let t = Instant::now();
        let g = record
            .share(r.public(), &[section], Role::Custom, false, None)
            .await?
            .remove(0);
        g_ms.push(t.elapsed().as_secs_f64() * 1e3);
        grants.push(g);
    }
    let mut r_ms = Vec::new();
    for g in &grants {
        let t = Instant::now();
        record.revoke(&g.statement.grant_id).await?;
        r_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median_ms(g_ms), median_ms(r_ms)))
}

async fn growth(url: &str, mib: usize, max_grants: usize) -> Res<()> {
    let client = Client::connect(url, None).await?;
    let mut record = patient(&client).await?;
    let samples = 15;
    let small = vec![1u8; 1024];
    let large: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    record
        .write(&[("small", small.as_slice()), ("large", large.as_slice())])
        .await?;
    drop(large);
    println!("| section size | grant (median ms) | revoke (median ms) |\n| --- | --- | --- |");
    for (label, section) in [
        ("1 KiB".to_string(), "small"),
        (format!("{mib} MiB"), "large"),
    ] {
        let (g, r) = grant_and_revoke(&client, &mut record, section, samples).await?;
        println!("| {label} | {g:.2} | {r:.2} |");
    }

    println!("\n| grants already held by the SRS | grant (median ms) | revoke (median ms) |\n| --- | --- | --- |");
    let mut held = 0usize;
    let mut target = 1usize;
    let bulk = party(&client).await?;
    while target <= max_grants {
        while held < target {
            record
                .share(bulk.public(), &["small"], Role::Custom, false, None)
                .await?;
            held += 1;
        }
        let (g, r) = grant_and_revoke(&client, &mut record, "small", samples).await?;
        println!("| {held} | {g:.2} | {r:.2} |");
        held += samples;
        target *= 10;
    }

    println!("\n| sections in the manifest | first open: manifest, head, re-encryption, decrypt one section (median ms) |\n| --- | --- |");
    for sections in [1usize, 8, 32, 128] {
        let mut owner = patient(&client).await?;
        let names: Vec<String> = (0..sections).map(|i| format!("s{i}")).collect();
        let body = vec![7u8; 1024];
        let updates: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), body.as_slice()))
            .collect();
        owner.write(&updates).await?;
        let identity = party(&client).await?;
        owner
            .share(identity.public(), &["s0"], Role::Custom, false, None)
            .await?;
        let mut reader = Reader::new(client.clone(), identity);
        let shared = reader.shared_with_me().await?.remove(0);
        let section = owner.section_id("s0");
        let mut ms = Vec::new();
        for _ in 0..samples {
            // A fresh reader state each time: nothing cached but the inbox.
            reader.high_water.clear();
            let t = Instant::now();
            let body = reader.read(&shared, &section).await?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            if body.len() != 1024 {
                return Err("wrong body".into());
            }
        }
        println!("| {sections} | {:.2} |", median_ms(ms));
    }
    Ok(())
}
