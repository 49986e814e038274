//! Crash consistency: concurrent writers (blob uploads, manifest versions
//! with their SRS heads, grants, revocations) against the real binary, which
//! is killed with SIGKILL at a random moment, restarted on the same data
//! directory, and checked, round after round:
//!
//! - every acknowledged write is present and verifies;
//! - nothing unacknowledged is half-visible (a blob is absent or whole; a
//!   manifest version is absent or exactly what was sent; the chain verifies);
//! - every acknowledged revocation still refuses, and every acknowledged grant
//!   not revoked still re-encrypts.
//!
//! `SESPHR_CRASH_ROUNDS` sets the number of rounds (CI: 6; the full run in
//! docs/operations.md: 100). `SESPHR_CRASH_SEED` replays a run.
//!
//! The same rounds run against one `serve` process and against a cluster
//! (`sesphr_testkit::cluster`: separate relay and SRS processes behind one
//! origin), where each round kills one process chosen at random.
#![cfg(test)]

use sesphr_testkit::deploy::{blob_id, free_port, now, opaque_blob, wait_up};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesphr_client::content::object_id;
use sesphr_client::envelope::seal_request;
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, VerifiedManifest};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_client::revocation::Revocation;
use sesphr_client::stream::{seal_section, DEFAULT_CHUNK_LOG2};
use sesphr_client::token::{Purpose, RequestToken};

/// The real binary over `data`, on `port`, with no rate limit or quota (the
/// writers here write as fast as they can; limits are tested elsewhere).
fn spawn(data: &std::path::Path, port: u16) -> std::process::Child {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    sesphr_testkit::deploy::spawn(bin, "serve", data, port, &["--unlimited"])
}

/// What the servers acknowledged, and what they may or may not have kept.
#[derive(Default)]
struct Ledger {
    blobs: Vec<(String, [u8; 32])>,
    unsure_blobs: Vec<(String, [u8; 32], usize)>,
    manifests: Vec<VerifiedManifest>,
    unsure_manifest: Option<VerifiedManifest>,
    heads: u64,
    grants: Vec<IssuedGrant>,
    revoked: Vec<IssuedGrant>,
}

/// A tiny deterministic RNG for timing and sizes (the crypto uses the OS RNG).
struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Http {
    client: reqwest::Client,
    base: String,
}

/// A request's outcome: acknowledged, refused (the server answered no), or
/// unknown (the connection failed: the write may or may not have happened).
enum Outcome {
    Ack(Vec<u8>),
    Refused(u16, String),
    Unknown,
}

impl Http {
    async fn send(&self, req: reqwest::RequestBuilder) -> Outcome {
        let Ok(resp) = req.timeout(Duration::from_secs(5)).send().await else {
            return Outcome::Unknown;
        };
        let status = resp.status().as_u16();
        let Ok(body) = resp.bytes().await else {
            return Outcome::Unknown;
        };
        if status < 300 {
            return Outcome::Ack(body.to_vec());
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let code = v["code"].as_str().unwrap_or("").to_string();
        if status == 502 && code == "srs_unreachable" {
            // The relay could not tell whether its SRS (killed) did it.
            return Outcome::Unknown;
        }
        Outcome::Refused(status, code)
    }
    async fn post(&self, path: &str, ctype: &str, body: Vec<u8>) -> Outcome {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", ctype)
                .body(body),
        )
        .await
    }
    async fn post_octets(&self, path: &str, body: Vec<u8>) -> Outcome {
        self.post(path, "application/octet-stream", body).await
    }
    async fn put_blob(&self, who: &Identity, bytes: &[u8]) -> Outcome {
        let hash = blob_id(bytes);
        let subject = [hash.as_slice(), &(bytes.len() as u64).to_be_bytes()].concat();
        let t =
            RequestToken::sign(who, Purpose::UploadBlob, &subject, now(), &mut os_rng()).unwrap();
        self.send(
            self.client
                .put(format!("{}/v1/blobs/{}", self.base, hex::encode(hash)))
                .header("x-sesphr-token", hex::encode(t.as_bytes()))
                .body(bytes.to_vec()),
        )
        .await
    }
    async fn get(&self, path: &str) -> Outcome {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }
}

fn json_grant(g: &IssuedGrant) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "statement": hex::encode(g.statement.as_bytes()),
        "b2Envelope": hex::encode(g.b2_envelope.to_bytes()),
    }))
    .unwrap()
}

/// The owner's fixed section: one body whose entry every manifest carries,
/// so every grant of its epoch can be exercised at any version.
struct Setup {
    owner: Identity,
    reader: Identity,
    srs_enc: sesphr_client::primitives::Point,
    srs_pub: sesphr_client::identity::PublicIdentity,
    record: RecordId,
    nonce: [u8; 16],
    key: SectionKey,
    entry: ManifestEntry,
}

async fn writers(
    http: Arc<Http>,
    s: Arc<Setup>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let uploads = |k: u64| {
        let (http, s, ledger, stop) = (http.clone(), s.clone(), ledger.clone(), stop.clone());
        async move {
            let mut rng = Xorshift(seed ^ (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            while !stop.load(Ordering::Relaxed) {
                let bytes = opaque_blob(rng.next(), rng.below(256 * 1024));
                let len = bytes.len();
                let hash = blob_id(&bytes);
                let id = hex::encode(hash);
                match http.put_blob(&s.owner, &bytes).await {
                    Outcome::Ack(_) => ledger.lock().unwrap().blobs.push((id, hash)),
                    Outcome::Unknown => {
                        ledger.lock().unwrap().unsure_blobs.push((id, hash, len));
                        return;
                    }
                    Outcome::Refused(st, code) => panic!("upload refused: {st} {code}"),
                }
            }
        }
    };
    let manifests = {
        let (http, s, ledger, stop) = (http.clone(), s.clone(), ledger.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let prev = ledger.lock().unwrap().manifests.last().cloned();
                let m = ManifestContent {
                    record: s.record,
                    record_nonce: s.nonce,
                    version: prev.as_ref().map_or(1, |p| p.version() + 1),
                    previous: prev.as_ref().map_or([0; 32], |p| p.hash()),
                    created_at: now(),
                    entries: vec![s.entry.clone()],
                    audit_head: None,
                }
                .sign(&s.owner)
                .unwrap();
                let path = format!("/v1/records/{}/manifests", s.record.to_hex());
                match http.post_octets(&path, m.as_bytes().to_vec()).await {
                    Outcome::Ack(_) => ledger.lock().unwrap().manifests.push(m.clone()),
                    Outcome::Unknown => {
                        ledger.lock().unwrap().unsure_manifest = Some(m);
                        return;
                    }
                    Outcome::Refused(st, code) => panic!("manifest refused: {st} {code}"),
                }
                match http
                    .post_octets("/srs/v1/heads", m.as_bytes().to_vec())
                    .await
                {
                    Outcome::Ack(_) => ledger.lock().unwrap().heads = m.version(),
                    Outcome::Unknown => return,
                    Outcome::Refused(st, code) => panic!("head refused: {st} {code}"),
                }
            }
        }
    };
    let grants = {
        let (http, s, ledger, stop) = (http.clone(), s.clone(), ledger.clone(), stop.clone());
        async move {
            let mut rng = Xorshift(seed ^ 0xabcdef);
            let mut sequence = 1_000_000 * (seed % 1000);
            while !stop.load(Ordering::Relaxed) {
                let live: Vec<IssuedGrant> = {
                    let l = ledger.lock().unwrap();
                    l.grants
                        .iter()
                        .filter(|g| {
                            !l.revoked
                                .iter()
                                .any(|r| r.statement.grant_id == g.statement.grant_id)
                        })
                        .cloned()
                        .collect()
                };
                if !live.is_empty() && rng.below(3) == 0 {
                    let g = &live[rng.below(live.len() as u64) as usize];
                    let rev = Revocation::sign(&s.owner, &g.statement, now()).unwrap();
                    match http
                        .post_octets("/srs/v1/revocations", rev.as_bytes().to_vec())
                        .await
                    {
                        Outcome::Ack(_) => ledger.lock().unwrap().revoked.push(g.clone()),
                        Outcome::Unknown => return,
                        Outcome::Refused(st, code) => panic!("revocation refused: {st} {code}"),
                    }
                } else {
                    sequence += 1;
                    let g = IssuedGrant::issue(
                        &s.owner,
                        &s.key,
                        &s.srs_enc,
                        &GrantTerms {
                            grantee: s.reader.public().clone(),
                            role: Role::Physician,
                            from_version: 0,
                            expires_at: None,
                            sequence,
                            emergency_wait_ms: None,
                        },
                        &mut os_rng(),
                    )
                    .unwrap();
                    match http
                        .post("/srs/v1/grants", "application/json", json_grant(&g))
                        .await
                    {
                        Outcome::Ack(_) => ledger.lock().unwrap().grants.push(g),
                        Outcome::Unknown => return,
                        Outcome::Refused(st, code) => panic!("grant refused: {st} {code}"),
                    }
                }
            }
        }
    };
    futures_util::join!(uploads(0), uploads(1), manifests, grants);
}

/// Asks for re-encryption under `g` at `version`: the status and code.
async fn reencrypt(http: &Http, s: &Setup, g: &IssuedGrant, version: u64) -> (u16, String) {
    let req =
        ReencryptRequest::new(&s.reader, &g.statement, version, now(), &mut os_rng()).unwrap();
    let (sealed, _) = seal_request(&s.srs_pub.encryption, req.as_bytes(), &mut os_rng()).unwrap();
    match http.post_octets("/v1/reencrypt", sealed).await {
        Outcome::Ack(_) => (200, String::new()),
        Outcome::Refused(st, code) => (st, code),
        Outcome::Unknown => panic!("the restarted server dropped a request"),
    }
}

async fn check(http: &Http, s: &Setup, ledger: &mut Ledger, data: &std::path::Path, round: usize) {
    // Blobs: acknowledged ones whole; unsure ones absent or whole.
    let unsure = std::mem::take(&mut ledger.unsure_blobs);
    let recent = ledger.blobs.len().saturating_sub(40);
    for (id, hash) in ledger.blobs[recent..].iter() {
        match http.get(&format!("/v1/blobs/{id}")).await {
            Outcome::Ack(b) => assert_eq!(
                object_id(&b).ok(),
                Some(*hash),
                "round {round}: blob {id} changed"
            ),
            _ => panic!("round {round}: acknowledged blob {id} lost"),
        }
    }
    for (id, hash, len) in unsure {
        match http.get(&format!("/v1/blobs/{id}")).await {
            Outcome::Ack(b) => {
                assert_eq!(b.len(), len, "round {round}: partial blob {id}");
                assert_eq!(object_id(&b).ok(), Some(hash));
                ledger.blobs.push((id, hash));
            }
            Outcome::Refused(404, _) => {}
            _ => panic!("round {round}: unexpected answer for unsure blob {id}"),
        }
    }
    // A relay on files keeps its partial uploads in relay/tmp; one on a
    // bucket has no such directory (its multipart parts are the bucket's).
    if let Ok(mut tmp) = std::fs::read_dir(data.join("relay/tmp")) {
        assert!(
            tmp.next().is_none(),
            "round {round}: temporary files survived the restart"
        );
    }
    // Manifests: the chain verifies, holds every acknowledged version exactly,
    // and an unsure version is absent or exactly what was sent.
    let rec = s.record.to_hex();
    let latest = match http
        .get(&format!("/v1/records/{rec}/manifests/latest"))
        .await
    {
        Outcome::Ack(b) => Some(VerifiedManifest::from_bytes(&b).unwrap()),
        Outcome::Refused(404, _) => None,
        _ => panic!("round {round}: manifest read failed"),
    };
    let acked = ledger.manifests.len() as u64;
    let latest_v = latest.as_ref().map_or(0, |m| m.version());
    assert!(
        latest_v >= acked,
        "round {round}: version {acked} was acknowledged, latest is {latest_v}"
    );
    if latest_v > acked {
        let extra = ledger
            .unsure_manifest
            .take()
            .expect("a version nobody wrote");
        assert_eq!(
            latest_v,
            acked + 1,
            "round {round}: more than one unacknowledged version"
        );
        assert_eq!(
            latest.as_ref().unwrap().as_bytes(),
            extra.as_bytes(),
            "round {round}: a different manifest at the unsure version"
        );
        ledger.manifests.push(extra);
    }
    ledger.unsure_manifest = None;
    let from = ledger.manifests.len().saturating_sub(5);
    for m in &ledger.manifests[from..] {
        match http
            .get(&format!("/v1/records/{rec}/manifests/{}", m.version()))
            .await
        {
            Outcome::Ack(b) => assert_eq!(
                b,
                m.as_bytes(),
                "round {round}: version {} changed",
                m.version()
            ),
            _ => panic!("round {round}: version {} lost", m.version()),
        }
    }
    for pair in ledger.manifests.windows(2) {
        pair[1].verify_successor(&pair[0]).unwrap();
    }
    // The SRS head: at least the last acknowledged one; make it current.
    let head = match http.get(&format!("/srs/v1/heads/{rec}")).await {
        Outcome::Ack(b) => {
            sesphr_client::manifest::SignedHead::from_bytes(&b, &s.srs_pub)
                .unwrap()
                .version
        }
        _ => 0,
    };
    assert!(
        head >= ledger.heads,
        "round {round}: head {} acknowledged, SRS has {head}",
        ledger.heads
    );
    if let Some(m) = ledger.manifests.last() {
        if head < m.version() {
            match http
                .post_octets("/srs/v1/heads", m.as_bytes().to_vec())
                .await
            {
                Outcome::Ack(_) => {}
                Outcome::Refused(st, code) => {
                    panic!("round {round}: head refused after restart: {st} {code}")
                }
                Outcome::Unknown => panic!("round {round}: head post failed"),
            }
        }
        ledger.heads = m.version();
    }
    // Grants and revocations, at the current version.
    let v = ledger.heads;
    if v == 0 {
        return;
    }
    let recent = ledger.revoked.len().saturating_sub(10);
    for g in &ledger.revoked[recent..] {
        assert_eq!(
            reencrypt(http, s, g, v).await,
            (403, "revoked".into()),
            "round {round}: a revocation was lost"
        );
    }
    let live: Vec<&IssuedGrant> = ledger
        .grants
        .iter()
        .filter(|g| {
            !ledger
                .revoked
                .iter()
                .any(|r| r.statement.grant_id == g.statement.grant_id)
        })
        .collect();
    let recent = live.len().saturating_sub(10);
    for g in &live[recent..] {
        let got = reencrypt(http, s, g, v).await;
        // A revocation whose receipt was lost in the crash may have landed.
        assert!(
            got.0 == 200 || got == (403, "revoked".into()),
            "round {round}: an acknowledged grant failed: {got:?}"
        );
    }
}

/// What the rounds kill and restart: one `serve` process (a new port at
/// each restart), or one process of a cluster at a time (the origin stays).
enum Target {
    One {
        dir: tempfile::TempDir,
        child: std::process::Child,
        port: u16,
    },
    Cluster(sesphr_testkit::cluster::Cluster),
}

impl Target {
    fn one() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(dir.path(), port);
        Target::One { dir, child, port }
    }
    fn base(&self) -> String {
        match self {
            Target::One { port, .. } => format!("http://127.0.0.1:{port}"),
            Target::Cluster(c) => c.origin(),
        }
    }
    /// The relay's data directory (the first relay's in a cluster).
    fn relay_data(&self) -> std::path::PathBuf {
        match self {
            Target::One { dir, .. } => dir.path().to_path_buf(),
            Target::Cluster(c) => c.relay(0).data.clone(),
        }
    }
    /// SIGKILLs one process (`pick` chooses it in a cluster).
    fn kill(&mut self, pick: u64) {
        match self {
            Target::One { child, .. } => {
                child.kill().unwrap();
                child.wait().unwrap();
            }
            Target::Cluster(c) => match Self::picked(c, pick) {
                (true, n) => {
                    eprintln!("crash harness: SIGKILL relay {n}");
                    c.kill_relay(n)
                }
                (false, n) => {
                    eprintln!("crash harness: SIGKILL SRS {n}");
                    c.kill_srs(n)
                }
            },
        }
    }
    /// A relay (`true`) or an SRS, and its index.
    fn picked(c: &sesphr_testkit::cluster::Cluster, pick: u64) -> (bool, usize) {
        let (relays, srs) = (c.relays(), c.srs_count());
        let n = (pick % (relays + srs) as u64) as usize;
        if n < relays {
            (true, n)
        } else {
            (false, n - relays)
        }
    }
    /// Starts what [`Target::kill`] killed again; returns once the
    /// deployment is ready.
    async fn restart(&mut self, pick: u64) {
        match self {
            Target::One { dir, child, port } => {
                *port = free_port();
                *child = spawn(dir.path(), *port);
                wait_up(&format!("http://127.0.0.1:{port}")).await;
            }
            Target::Cluster(c) => {
                match Self::picked(c, pick) {
                    (true, n) => c.restart_relay(n).await,
                    (false, n) => c.restart_srs(n).await,
                }
                // Every relay ready again (it reaches an SRS).
                for r in 0..c.relays() {
                    let url = format!("{}/readyz", c.relay(r).base());
                    for _ in 0..500 {
                        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }
    /// Stops what still runs (a cluster stops when it drops).
    fn stop(&mut self) {
        if let Target::One { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn rounds() -> usize {
    std::env::var("SESPHR_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_at_random_points() {
    crash_rounds(Target::one(), rounds()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_of_any_process_of_a_cluster() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    let cluster = sesphr_testkit::cluster::Cluster::builder(bin)
        .relay_args(&["--unlimited"])
        .srs_args(&["--unlimited"])
        .start()
        .await;
    crash_rounds(Target::Cluster(cluster), rounds()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_in_a_two_by_two_cluster() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    let backends = sesphr_testkit::cluster::shared_backends().await;
    let (mut relay_args, mut srs_args) = (backends.relay_args.clone(), backends.srs_args.clone());
    relay_args.push("--unlimited".into());
    srs_args.push("--unlimited".into());
    let relay_args: Vec<&str> = relay_args.iter().map(String::as_str).collect();
    let srs_args: Vec<&str> = srs_args.iter().map(String::as_str).collect();
    let cluster = sesphr_testkit::cluster::Cluster::builder(bin)
        .env(&backends.env)
        .relays(2)
        .srs(2)
        .relay_args(&relay_args)
        .srs_args(&srs_args)
        .start()
        .await;
    crash_rounds(Target::Cluster(cluster), rounds()).await;
}

async fn crash_rounds(mut target: Target, rounds: usize) {
    let seed: u64 = std::env::var("SESPHR_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now() | 1);
    eprintln!("crash harness: {rounds} rounds, SESPHR_CRASH_SEED={seed}");
    let mut rng = Xorshift(seed);

    // Start once to learn the SRS and register the parties.
    let base = target.base();
    wait_up(&base).await;
    let api = sesphr_testkit::deploy::Api::new(&base);
    let native = sesphr_testkit::deploy::client(&base).await;
    let srs_pub = native.srs().clone();
    let owner = sesphr_testkit::deploy::party(&native).await;
    let reader = sesphr_testkit::deploy::party(&native).await;
    let (record, nonce) = RecordId::generate(&owner.id(), &mut os_rng());
    let section = SectionId::derive(owner.seed(), &record, "history");
    let key =
        SectionKey::for_owner(&owner, record, section, EpochId::generate(&mut os_rng())).unwrap();
    let (blob, sealed, _) =
        seal_section(&key, 1, b"history", DEFAULT_CHUNK_LOG2, &mut os_rng()).unwrap();
    native.put_blob(&owner, &blob).await.unwrap();
    native
        .put_blob(&owner, &sealed.index.to_bytes())
        .await
        .unwrap();
    let entry = ManifestEntry::for_body(key.public(), &sealed);
    let setup = Arc::new(Setup {
        owner,
        reader,
        srs_enc: srs_pub.encryption,
        srs_pub,
        record,
        nonce,
        key,
        entry,
    });
    // Version 1 and its head first: the SRS takes grants only for a record
    // whose owner it has witnessed.
    let v1 = ManifestContent::first(record, nonce, now(), vec![setup.entry.clone()])
        .sign(&setup.owner)
        .unwrap();
    let rpath = format!("/v1/records/{}/manifests", record.to_hex());
    api.post(&rpath, "application/octet-stream", v1.as_bytes().to_vec())
        .await
        .unwrap();
    api.post(
        "/srs/v1/heads",
        "application/octet-stream",
        v1.as_bytes().to_vec(),
    )
    .await
    .unwrap();
    let mut ledger = Ledger {
        manifests: vec![v1],
        heads: 1,
        ..Ledger::default()
    };
    let mut kills_mid_write = 0;

    for round in 0..rounds {
        // A new client each round: no connection pooled before a kill.
        let client = reqwest::Client::new();
        let http = Arc::new(Http {
            client: client.clone(),
            base: target.base(),
        });
        let shared = Arc::new(Mutex::new(std::mem::take(&mut ledger)));
        let stop = Arc::new(AtomicBool::new(false));
        let work = tokio::spawn(writers(
            http.clone(),
            setup.clone(),
            shared.clone(),
            stop.clone(),
            seed ^ round as u64,
        ));
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        let pick = rng.next();
        target.kill(pick);
        stop.store(true, Ordering::Relaxed);
        work.await.unwrap();
        ledger = Arc::try_unwrap(shared).ok().unwrap().into_inner().unwrap();
        if !ledger.unsure_blobs.is_empty() || ledger.unsure_manifest.is_some() {
            kills_mid_write += 1;
        }

        target.restart(pick).await;
        let http = Http {
            client: reqwest::Client::new(),
            base: target.base(),
        };
        check(&http, &setup, &mut ledger, &target.relay_data(), round).await;
    }
    target.stop();
    eprintln!(
        "crash harness: {rounds} kills ({kills_mid_write} mid-write); acknowledged: {} blobs, {} manifest versions, {} grants, {} revocations; all intact",
        ledger.blobs.len(),
        ledger.manifests.len(),
        ledger.grants.len(),
        ledger.revoked.len()
    );
    assert!(
        ledger.blobs.len() >= rounds,
        "the writers hardly wrote anything"
    );
    assert!(!ledger.manifests.is_empty() && !ledger.grants.is_empty());
}
