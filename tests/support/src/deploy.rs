//! The loopback deployment: the real servers (in this process, or the real
//! binary as a child process), the native client against them, and raw HTTP
//! for the hostile inputs no client would send.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sesphr_client::capsule::Capsule;
use sesphr_client::content::object_id;
use sesphr_client::grant::{IssuedGrant, Role};
use sesphr_client::identity::Identity;
use sesphr_client::record::{EpochId, RecordId, SectionId};
use sesphr_client::stream::{padme, BlobHeader, DEFAULT_CHUNK_LOG2, HEADER_LEN};
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_native::{Client, Patient, PatientRecord, Reader};

/// The servers' clock.
pub fn now() -> u64 {
    sesphr_relay::now_ms()
}

/// A running server (relay + SRS in one process, or as configured) on a
/// loopback port of this process.
///
/// In the scaled pass of the test run (`SESPHR_TEST_SCALED=1`, with
/// `SESPHR_TEST_S3` and `SESPHR_PG_URL`: scripts/test.sh runs the
/// end-to-end and hostile suites a second time that way), each server is
/// two instances behind one front origin that hands each connection to
/// the next, both on the run's SeaweedFS bucket (a key prefix of their
/// own) and on one PostgreSQL database, speaking as one SRS (the second
/// has the first's seed), each answering one request per connection, so
/// that consecutive requests of one client alternate between them. Both are named after the data directory, so a
/// server started again on it finds its state.
pub struct Server {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Its data directory.
    pub data: PathBuf,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    origin: Option<crate::cluster::Origin>,
    scaled: Option<Scaled>,
}

/// Where a scaled server keeps its state.
#[derive(Clone)]
struct Scaled {
    blobs: sesphr_relay::relay::blobs::BlobStoreUrl,
    db: String,
}

/// Whether this run is the scaled pass (see [`Server`]).
pub fn is_scaled() -> bool {
    std::env::var("SESPHR_TEST_SCALED").is_ok_and(|v| v == "1")
}

fn scaled_backends(data: &Path) -> Option<Scaled> {
    use sha2::Digest;
    if !is_scaled() {
        return None;
    }
    let s3 = std::env::var("SESPHR_TEST_S3").expect(
        "SESPHR_TEST_S3 (`endpoint bucket`: scripts/test.sh starts SeaweedFS for the scaled pass)",
    );
    let (endpoint, bucket) = s3
        .split_once(' ')
        .expect("SESPHR_TEST_S3 is `endpoint bucket`");
    let path = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    let key = hex::encode(&sha2::Sha256::digest(path.as_os_str().as_encoded_bytes())[..8]);
    Some(Scaled {
        blobs: sesphr_relay::relay::blobs::BlobStoreUrl::S3 {
            bucket: bucket.to_owned(),
            prefix: format!("t{key}"),
            options: crate::seaweed::options(endpoint),
        },
        db: crate::pg::shared_database(&format!("s_{key}")),
    })
}

/// Serves `config` on `listener` until the sender fires.
fn serve_on(
    listener: tokio::net::TcpListener,
    config: sesphr_relay::Config,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let prepared = sesphr_relay::server::prepare(config).unwrap();
    let task = tokio::spawn(sesphr_relay::server::serve(
        listener,
        prepared,
        async move {
            let _ = rx.await;
        },
    ));
    (tx, task)
}

impl Server {
    /// `serve` over `data` with the default configuration.
    pub async fn start(data: &Path) -> Server {
        Self::start_with(data, |_| {}).await
    }

    /// `serve` over `data`, the configuration adjusted by `tweak`. With
    /// `SESPHR_TEST_LOG` set (a tracing filter), the server logs to stderr.
    pub async fn start_with(data: &Path, tweak: impl FnOnce(&mut sesphr_relay::Config)) -> Server {
        if let Ok(filter) = std::env::var("SESPHR_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let mut config = sesphr_relay::Config::new(data.to_path_buf());
        config.www_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www");
        tweak(&mut config);
        let scaled = scaled_backends(data);
        let mut s = Server {
            base: String::new(),
            data: data.to_path_buf(),
            stop: Vec::new(),
            tasks: Vec::new(),
            origin: None,
            scaled: scaled.clone(),
        };
        let Some(sc) = scaled else {
            let listener = bind().await.unwrap();
            s.base = format!("http://{}", listener.local_addr().unwrap());
            // As `run` does: file locations name the address served.
            config.public_url.get_or_insert_with(|| s.base.clone());
            let (tx, task) = serve_on(listener, config);
            s.stop.push(tx);
            s.tasks.push(task);
            wait_up(&s.base).await;
            return s;
        };
        let at = sesphr_relay::db::DbLocation::Postgres(sc.db);
        config.blob_store = sc.blobs;
        config.relay_db = Some(at.clone());
        config.srs_db = Some(at);
        // One request per connection: the origin balances connections, so
        // every request goes to the next instance.
        config.limits.keep_alive = false;
        let listeners = [bind().await.unwrap(), bind().await.unwrap()];
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let origin = crate::cluster::Origin::start(addrs).await;
        s.base = format!("http://{}", origin.addr);
        s.origin = Some(origin);
        config.public_url.get_or_insert_with(|| s.base.clone());
        let mut second = config.clone();
        second.data_dir = data.join("peer");
        let [first_listener, second_listener] = listeners;
        let (tx, task) = serve_on(first_listener, config);
        s.stop.push(tx);
        s.tasks.push(task);
        // One SRS: the second instance gets the first one's seed.
        let seed = data.join("srs/identity.seed");
        let copy = second.data_dir.join("srs/identity.seed");
        if seed.is_file() && !copy.is_file() {
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(&seed, &copy).unwrap();
        }
        let (tx, task) = serve_on(second_listener, second);
        s.stop.push(tx);
        s.tasks.push(task);
        wait_up(&s.base).await;
        s
    }

    /// Graceful stop: in-flight requests finish.
    pub async fn stop(mut self) {
        for tx in self.stop.drain(..) {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            t.await.unwrap();
        }
        if let Some(o) = self.origin.take() {
            if std::env::var_os("SESPHR_TEST_SCALED_COUNTS").is_some() {
                eprintln!("scaled: connections per instance {:?}", o.counts);
            }
            o.task.abort();
        }
    }

    /// The rows of `table` in the state of `service` (`relay` or `srs`):
    /// its SQLite file, or its schema in the scaled pass's database.
    pub fn rows(&self, service: &str, table: &str) -> i64 {
        match &self.scaled {
            Some(sc) => crate::pg::count(&sc.db, &format!("{service}.{table}")),
            None => {
                let file = match service {
                    "relay" => self.data.join("relay/meta.sqlite3"),
                    "srs" => self.data.join("srs/srs.sqlite3"),
                    other => panic!("no service {other}"),
                };
                let c = rusqlite::Connection::open(file).unwrap();
                c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .unwrap()
            }
        }
    }

    /// How many instances serve behind [`Server::base`] (2 in the scaled
    /// pass).
    pub fn instances(&self) -> usize {
        self.tasks.len()
    }

    /// The SRS's database URL in the scaled pass (for `audit export
    /// --srs-db`); `None`: the SQLite file in the data directory.
    pub fn srs_db(&self) -> Option<&str> {
        self.scaled.as_ref().map(|s| s.db.as_str())
    }

    /// Partial uploads the relay keeps: files in `relay/tmp`, or in the
    /// scaled pass temporary objects (`<prefix>/tmp/…`) in the bucket.
    pub async fn temporaries(&self) -> usize {
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        match &self.scaled {
            None => std::fs::read_dir(self.data.join("relay/tmp"))
                .unwrap()
                .count(),
            Some(sc) => {
                let sesphr_relay::relay::blobs::BlobStoreUrl::S3 {
                    bucket,
                    prefix,
                    options,
                } = &sc.blobs
                else {
                    unreachable!("a scaled server is on a bucket")
                };
                let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse().unwrap(), v);
                }
                let store = b.build().unwrap();
                let tmp = object_store::path::Path::from(format!("{prefix}/tmp"));
                store.list(Some(&tmp)).count().await
            }
        }
    }
}

/// Waits until a server answers `/healthz`.
pub async fn wait_up(base: &str) {
    for _ in 0..500 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server at {base} did not come up");
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `sesphr-relay` binary as a child process: `args` after the
/// subcommand (`serve`, `relay` or `srs`), listening on `port` over `data`.
pub fn spawn(
    bin: &Path,
    command: &str,
    data: &Path,
    port: u16,
    args: &[&str],
) -> std::process::Child {
    std::process::Command::new(bin)
        .args([
            command,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--www-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www"))
        .args(args)
        .env("SESPHR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// An HTTP refusal: status and code.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiErr {
    /// HTTP status.
    pub status: u16,
    /// The server's stable code.
    pub code: String,
}

/// Raw HTTP against a server, for what no client would send.
pub struct Api {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The base URL.
    pub base: String,
}

async fn check(resp: reqwest::Response) -> Result<Vec<u8>, ApiErr> {
    let status = resp.status();
    let body = resp.bytes().await.unwrap().to_vec();
    if status.is_success() {
        return Ok(body);
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("error body is not JSON: {status}"));
    Err(ApiErr {
        status: status.as_u16(),
        code: v["code"].as_str().unwrap().to_string(),
    })
}

impl Api {
    /// Raw HTTP to `base`.
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }
    /// `POST` a body of content type `ctype`.
    pub async fn post(&self, path: &str, ctype: &str, body: Vec<u8>) -> Result<Vec<u8>, ApiErr> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        check(resp).await
    }
    /// `POST` a JSON value.
    pub async fn post_json(&self, path: &str, v: &serde_json::Value) -> Result<Vec<u8>, ApiErr> {
        self.post(path, "application/json", serde_json::to_vec(v).unwrap())
            .await
    }
    /// `GET`, with a request token if given.
    pub async fn get(&self, path: &str, token: Option<&RequestToken>) -> Result<Vec<u8>, ApiErr> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("x-sesphr-token", hex::encode(t.as_bytes()));
        }
        check(req.send().await.unwrap()).await
    }
    /// `POST` a JSON value with a request token.
    pub async fn post_json_token(
        &self,
        path: &str,
        token: &RequestToken,
        v: &serde_json::Value,
    ) -> Result<Vec<u8>, ApiErr> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-sesphr-token", hex::encode(token.as_bytes()))
            .body(serde_json::to_vec(v).unwrap());
        check(req.send().await.unwrap()).await
    }
    /// A request with a method, an optional token and body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&RequestToken>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ApiErr> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(t) = token {
            req = req.header("x-sesphr-token", hex::encode(t.as_bytes()));
        }
        check(req.send().await.unwrap()).await
    }
}

/// A request token `who` signs now for `purpose` over `subject`.
pub fn signed(who: &Identity, purpose: Purpose, subject: &[u8]) -> RequestToken {
    RequestToken::sign(
        who,
        purpose,
        subject,
        now(),
        &mut sesphr_client::primitives::os_rng(),
    )
    .unwrap()
}

/// The `code` of a JSON error body (`""` if it has none).
pub fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default()["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

impl Api {
    /// Raw HTTP to `base` from the local address `local` (another loopback
    /// address is another client to the server's per-address limits).
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Api {
        Api {
            http: reqwest::Client::builder()
                .local_address(local)
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }
    /// Any request: `method` on `path`, with a token if given and a body
    /// of the given content type if given; the status and body whatever
    /// the status.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&RequestToken>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, Vec<u8>) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("x-sesphr-token", hex::encode(t.as_bytes()));
        }
        if let Some((ctype, b)) = body {
            req = req.header("content-type", ctype).body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

/// A native client on `base`, pinning the SRS it finds.
pub async fn client(base: &str) -> Client {
    Client::connect(base, None).await.unwrap()
}

/// A new identity, registered.
pub async fn party(client: &Client) -> Identity {
    let id = Identity::generate().unwrap();
    client.register(&id).await.unwrap();
    id
}

/// A registered reader.
pub async fn reader(client: &Client) -> Reader {
    Reader::new(client.clone(), party(client).await)
}

/// A registered patient with a new record.
pub async fn patient(client: &Client) -> (Patient, PatientRecord) {
    let p = Patient::new(client.clone(), party(client).await);
    let rec = p.create_record().await.unwrap();
    (p, rec)
}

/// Writes `sections` to `record` and shares them all, for all history and
/// without expiry, under `role`, with a new party registered at `client`:
/// the common start of the tests of a grant. That party, and its grants in
/// the order of `sections`.
pub async fn share_written(
    client: &Client,
    record: &mut PatientRecord,
    sections: &[(&str, &[u8])],
    role: Role,
) -> (Identity, Vec<IssuedGrant>) {
    let grantee = party(client).await;
    record.write(sections).await.unwrap();
    let names: Vec<&str> = sections.iter().map(|(name, _)| *name).collect();
    let grants = record
        .share(grantee.public(), &names, role, false, None)
        .await
        .unwrap();
    (grantee, grants)
}

/// A running deployment with a registered patient and a record: the
/// common start of the end-to-end tests.
pub struct Deployment {
    /// The data directory (kept until the deployment drops).
    pub dir: tempfile::TempDir,
    /// The server.
    pub server: Server,
    /// Raw HTTP to it.
    pub api: Api,
    /// The native client.
    pub client: Client,
    /// The patient.
    pub patient: Patient,
    /// The patient's record 0.
    pub record: PatientRecord,
}

/// Starts a deployment, the configuration adjusted by `tweak`.
pub async fn deploy(tweak: impl FnOnce(&mut sesphr_relay::Config)) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), tweak).await;
    let api = Api::new(&server.base);
    let client = client(&server.base).await;
    let (patient, record) = patient(&client).await;
    Deployment {
        dir,
        server,
        api,
        client,
        patient,
        record,
    }
}

/// The header of a well-formed blob for a `body_len`-byte body (64 KiB
/// chunks), its ids drawn from `seed`.
pub fn opaque_header(seed: u64, body_len: u64) -> BlobHeader {
    let id = |k: u8| {
        let mut b = [k; 32];
        b[..8].copy_from_slice(&seed.to_be_bytes());
        b
    };
    BlobHeader {
        chunk_log2: DEFAULT_CHUNK_LOG2,
        record: RecordId(id(1)),
        section: SectionId(id(2)),
        epoch: EpochId(id(3)),
        version: 1,
        capsule: Capsule(sesphr_client::primitives::Point::generator()),
        key_commitment: id(4),
        padded_len: padme(body_len + 8),
    }
}

/// Fills `out` with xorshift bytes from `state` (never zero).
pub fn fill_pseudo_random(state: &mut u64, out: &mut [u8]) {
    for piece in out.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        piece.copy_from_slice(&state.to_le_bytes()[..piece.len()]);
    }
}

/// A well-formed section blob for a `body_len`-byte body whose sealed chunks
/// are pseudo-random bytes from `seed`: the relay checks a blob's framing
/// and content address, never what the ciphertext says.
pub fn opaque_blob(seed: u64, body_len: u64) -> Vec<u8> {
    let header = opaque_header(seed, body_len);
    let mut blob = header.to_bytes();
    blob.resize(header.blob_len() as usize, 0);
    let mut state = seed | 1;
    fill_pseudo_random(&mut state, &mut blob[HEADER_LEN..]);
    blob
}

/// The hex request token `who` signs to upload the blob `id` of `len`
/// bytes (`x-sesphr-token`).
pub fn upload_token(who: &Identity, id: &[u8; 32], len: u64) -> String {
    let subject = [id.as_slice(), &len.to_be_bytes()].concat();
    hex::encode(signed(who, Purpose::UploadBlob, &subject).as_bytes())
}

/// Sends the head and the first half of `who`'s upload of `blob` to the
/// server at `addr` (`host:port`) on a raw connection, and returns that
/// connection: an upload in progress, to kill a server under.
pub async fn half_upload(addr: &str, who: &Identity, blob: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let hash = blob_id(blob);
    let token = upload_token(who, &hash, blob.len() as u64);
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nx-sesphr-token: {token}\r\n\r\n",
        hex::encode(hash),
        blob.len(),
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&blob[..blob.len() / 2]).await.unwrap();
    conn.flush().await.unwrap();
    conn
}

/// A JSON array of hex hashes (an audit path in an SRS answer).
pub fn hashes(v: &serde_json::Value) -> Vec<[u8; 32]> {
    v.as_array()
        .expect("an array of hashes")
        .iter()
        .map(|h| {
            hex::decode(h.as_str().expect("a hex hash"))
                .expect("hex")
                .try_into()
                .expect("32 bytes")
        })
        .collect()
}

/// The relay address of a section blob or chunk index.
pub fn blob_id(bytes: &[u8]) -> [u8; 32] {
    object_id(bytes).expect("a section blob or a chunk index")
}

/// Sends only a request head on a raw connection and returns the response
/// text: for requests the server must refuse before reading their body.
pub async fn raw_head(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}
