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
pub struct Server {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Its data directory.
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = sesphr_relay::Config::new(data.to_path_buf());
        config.www_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www");
        tweak(&mut config);
        // As `run` does: file locations name the address served.
        config.public_url.get_or_insert_with(|| base.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let prepared = sesphr_relay::server::prepare(config).unwrap();
        let task = tokio::spawn(sesphr_relay::server::serve(
            listener,
            prepared,
            async move {
                let _ = rx.await;
            },
        ));
        let s = Server {
            base,
            data: data.to_path_buf(),
            stop: Some(tx),
            task: Some(task),
        };
        wait_up(&s.base).await;
        s
    }

    /// Graceful stop: in-flight requests finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
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
