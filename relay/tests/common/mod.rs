//! Test harness: real servers on loopback (port 0), a real HTTP client, and
//! the native protocol core playing patient and readers.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use sesphr_client::capsule::{Capsule, DataKey, KeyContext};
use sesphr_client::content::object_id;
use sesphr_client::envelope::{seal_request, Envelope};
use sesphr_client::grant::{GrantShare, GrantTerms, IssuedGrant, Role, VerifiedGrant};
use sesphr_client::identity::{Identity, PublicIdentity};
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::policy::{Rotation, SectionState};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{RecordId, RecordNonce, SectionId};
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::stream::{
    decrypt_body, encrypt_body, padme, BlobHeader, ChunkIndex, DEFAULT_CHUNK_LOG2, HEADER_LEN,
};
use sesphr_client::token::{Purpose, RequestToken};

pub fn now() -> u64 {
    sesphr_relay::now_ms()
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
        epoch: sesphr_client::record::EpochId(id(3)),
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

/// A running server (relay + SRS in one process) on a loopback port.
pub struct Server {
    pub base: String,
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(data: &Path) -> Server {
        Self::start_with(data, |_| {}).await
    }

    pub async fn start_with(data: &Path, tweak: impl FnOnce(&mut sesphr_relay::Config)) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = sesphr_relay::Config::new(data.to_path_buf());
        config.www_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www");
        tweak(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sesphr_relay::run(
                listener,
                async move {
                    let _ = rx.await;
                },
                config,
            )
            .await
            .unwrap();
        });
        let s = Server {
            base,
            data: data.to_path_buf(),
            stop: Some(tx),
            task: Some(task),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/healthz", s.base)).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
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

/// An HTTP error as the servers report it.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiErr {
    pub status: u16,
    pub code: String,
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

async fn check(resp: reqwest::Response) -> Result<Vec<u8>, ApiErr> {
    let status = resp.status();
    let body = resp.bytes().await.unwrap().to_vec();
    if status.is_success() {
        Ok(body)
    } else {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("error body is not JSON: {status}"));
        Err(ApiErr {
            status: status.as_u16(),
            code: v["code"].as_str().unwrap().to_string(),
        })
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    pub async fn post(&self, path: &str, ctype: &str, body: Vec<u8>) -> Result<Vec<u8>, ApiErr> {
        check(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&RequestToken>) -> Result<Vec<u8>, ApiErr> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("x-sesphr-token", hex::encode(t.as_bytes()));
        }
        check(req.send().await.unwrap()).await
    }

    pub async fn srs_public(&self) -> PublicIdentity {
        let info: serde_json::Value =
            serde_json::from_slice(&self.get("/srs/v1/info", None).await.unwrap()).unwrap();
        PublicIdentity::from_bytes(&hex::decode(info["publicKey"].as_str().unwrap()).unwrap())
            .unwrap()
    }

    pub async fn register(&self, id: &Identity) {
        self.post(
            "/srs/v1/directory",
            "application/octet-stream",
            id.directory_entry(now()).as_bytes().to_vec(),
        )
        .await
        .unwrap();
    }

    pub async fn upload(&self, uploader: &Identity, bytes: &[u8]) -> Result<String, ApiErr> {
        let hash = blob_id(bytes);
        let subject = [hash.as_slice(), &(bytes.len() as u64).to_be_bytes()].concat();
        let token = RequestToken::sign(
            uploader,
            Purpose::UploadBlob,
            &subject,
            now(),
            &mut os_rng(),
        )
        .unwrap();
        check(
            self.http
                .put(format!("{}/v1/blobs/{}", self.base, hex::encode(hash)))
                .header("x-sesphr-token", hex::encode(token.as_bytes()))
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap(),
        )
        .await?;
        Ok(hex::encode(hash))
    }

    pub async fn blob(&self, id: &[u8; 32]) -> Vec<u8> {
        self.get(&format!("/v1/blobs/{}", hex::encode(id)), None)
            .await
            .unwrap()
    }

    pub async fn inbox(&self, who: &Identity) -> Vec<(VerifiedGrant, Envelope)> {
        let t = RequestToken::sign(who, Purpose::ReadInbox, &[], now(), &mut os_rng()).unwrap();
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(&self.get("/v1/inbox", Some(&t)).await.unwrap()).unwrap();
        items
            .iter()
            .map(|i| {
                (
                    VerifiedGrant::from_bytes(
                        &hex::decode(i["statement"].as_str().unwrap()).unwrap(),
                    )
                    .unwrap(),
                    Envelope::from_bytes(&hex::decode(i["b1Envelope"].as_str().unwrap()).unwrap())
                        .unwrap(),
                )
            })
            .collect()
    }
}

/// The patient: identity, record, per-section state; writes through the API.
pub struct Patient {
    pub id: Identity,
    pub record: RecordId,
    pub nonce: RecordNonce,
    pub sections: Vec<(String, SectionState, Option<ManifestEntry>)>,
    pub manifests: Vec<VerifiedManifest>,
    pub srs: PublicIdentity,
    pub sequence: u64,
}

impl Patient {
    pub async fn new(api: &Api) -> Patient {
        let id = Identity::generate().unwrap();
        api.register(&id).await;
        let (record, nonce) = RecordId::generate(&id.id(), &mut os_rng());
        Patient {
            id,
            record,
            nonce,
            sections: Vec::new(),
            manifests: Vec::new(),
            srs: api.srs_public().await,
            sequence: 0,
        }
    }

    pub fn section_id(&self, name: &str) -> SectionId {
        SectionId::derive(self.id.seed(), &self.record, name)
    }

    fn state(&mut self, name: &str) -> usize {
        if let Some(i) = self.sections.iter().position(|s| s.0 == name) {
            return i;
        }
        let st = SectionState::new(self.record, self.section_id(name), &mut os_rng());
        self.sections.push((name.to_string(), st, None));
        self.sections.len() - 1
    }

    pub fn version(&self) -> u64 {
        self.manifests.last().map_or(0, |m| m.version())
    }

    async fn deliver(&self, api: &Api, g: &IssuedGrant) {
        let b2 = serde_json::json!({ "statement": hex::encode(g.statement.as_bytes()), "b2Envelope": hex::encode(g.b2_envelope.to_bytes()) });
        api.post(
            "/srs/v1/grants",
            "application/json",
            serde_json::to_vec(&b2).unwrap(),
        )
        .await
        .unwrap();
        let b1 = serde_json::json!({ "statement": hex::encode(g.statement.as_bytes()), "b1Envelope": hex::encode(g.b1_envelope.to_bytes()) });
        api.post(
            "/v1/inbox",
            "application/json",
            serde_json::to_vec(&b1).unwrap(),
        )
        .await
        .unwrap();
    }

    async fn deliver_rotation(&self, api: &Api, r: Option<Rotation>) {
        for g in r.into_iter().flat_map(|r| r.reissued) {
            self.deliver(api, &g).await;
        }
    }

    /// Writes sections at the next version: encrypt, upload blob and index,
    /// sign the manifest, publish it at the relay and its head at the SRS.
    pub async fn write(&mut self, api: &Api, updates: &[(&str, &[u8])]) -> VerifiedManifest {
        let version = self.version() + 1;
        for (name, body) in updates {
            let i = self.state(name);
            let mut seq = self.sequence;
            let (key, rotation) = self.sections[i]
                .1
                .key_for_write(&self.id, &self.srs.encryption, &mut seq, &mut os_rng())
                .unwrap();
            self.sequence = seq;
            self.deliver_rotation(api, rotation).await;
            let (capsule, dk) = Capsule::encapsulate(&key, version, &mut os_rng()).unwrap();
            let ctx = KeyContext::for_key(&key, version);
            let (blob, sealed) =
                encrypt_body(capsule, &dk, &ctx, body, DEFAULT_CHUNK_LOG2).unwrap();
            assert_eq!(
                api.upload(&self.id, &blob).await.unwrap(),
                hex::encode(sealed.blob_id())
            );
            assert_eq!(
                api.upload(&self.id, &sealed.index.to_bytes())
                    .await
                    .unwrap(),
                hex::encode(sealed.index_id)
            );
            self.sections[i].2 = Some(ManifestEntry::for_body(key.public(), &sealed));
        }
        let m = ManifestContent {
            record: self.record,
            record_nonce: self.nonce,
            version,
            previous: self.manifests.last().map_or([0; 32], |m| m.hash()),
            created_at: now(),
            entries: self.sections.iter().filter_map(|s| s.2.clone()).collect(),
        }
        .sign(&self.id)
        .unwrap();
        api.post(
            &format!("/v1/records/{}/manifests", self.record.to_hex()),
            "application/octet-stream",
            m.as_bytes().to_vec(),
        )
        .await
        .unwrap();
        let head = api
            .post(
                "/srs/v1/heads",
                "application/octet-stream",
                m.as_bytes().to_vec(),
            )
            .await
            .unwrap();
        let head = SignedHead::from_bytes(&head, &self.srs).unwrap();
        head.check_manifest(&m, 0).unwrap();
        self.manifests.push(m.clone());
        m
    }

    pub async fn grant(
        &mut self,
        api: &Api,
        name: &str,
        to: &PublicIdentity,
        role: Role,
        from_version: u64,
    ) -> IssuedGrant {
        self.grant_until(api, name, to, role, from_version, None)
            .await
    }

    pub async fn grant_until(
        &mut self,
        api: &Api,
        name: &str,
        to: &PublicIdentity,
        role: Role,
        from_version: u64,
        expires_at: Option<u64>,
    ) -> IssuedGrant {
        let i = self.state(name);
        let terms = GrantTerms {
            grantee: to.clone(),
            role,
            from_version,
            expires_at,
            sequence: 0,
        };
        let mut seq = self.sequence;
        let (issued, rotation) = self.sections[i]
            .1
            .grant(
                &self.id,
                &self.srs.encryption,
                &terms,
                &mut seq,
                &mut os_rng(),
            )
            .unwrap();
        self.sequence = seq;
        self.deliver_rotation(api, rotation).await;
        self.deliver(api, &issued).await;
        issued
    }

    /// Revokes at the SRS; effective only on its signed receipt.
    pub async fn revoke(
        &mut self,
        api: &Api,
        grant: &VerifiedGrant,
    ) -> Result<RevocationReceipt, ApiErr> {
        let rev = Revocation::sign(&self.id, grant, now()).unwrap();
        let receipt = api
            .post(
                "/srs/v1/revocations",
                "application/octet-stream",
                rev.as_bytes().to_vec(),
            )
            .await?;
        let receipt = RevocationReceipt::verify(&receipt, &self.srs, &rev).unwrap();
        for s in &mut self.sections {
            let _ = s.1.revoked(&grant.grant_id);
        }
        Ok(receipt)
    }
}

/// Why a read failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadErr {
    /// The servers refused (status, code).
    Api(ApiErr),
    /// The client detected something wrong (protocol error code).
    Client(&'static str),
}

/// A reader (physician, insurer, …) with its accepted grants.
pub struct Reader {
    pub id: Identity,
    pub shares: Vec<GrantShare>,
    pub high_water: u64,
}

impl Reader {
    pub async fn new(api: &Api) -> Reader {
        let id = Identity::generate().unwrap();
        api.register(&id).await;
        Reader {
            id,
            shares: Vec::new(),
            high_water: 0,
        }
    }

    /// Accepts every grant in the inbox not yet accepted (checking each
    /// against the owner-signed manifest at the relay).
    pub async fn sync_inbox(&mut self, api: &Api) {
        for (g, env) in api.inbox(&self.id).await {
            if self.shares.iter().any(|s| s.grant.grant_id == g.grant_id) {
                continue;
            }
            let m = latest_manifest(api, &g.record).await.unwrap();
            m.expect_owner(&g.owner).unwrap();
            // A grant for an epoch the manifest does not show yet (from-now):
            // check against the statement's own A; the SRS enforces the rest.
            let a = match m.entry(&g.section) {
                Ok(e) if e.epoch == g.epoch => e.section_key,
                _ => g.section_key,
            };
            self.shares.push(g.accept(&self.id, &env, &a).unwrap());
        }
    }

    pub fn share_for(&self, section: &SectionId) -> Vec<&GrantShare> {
        self.shares
            .iter()
            .filter(|s| s.grant.section == *section)
            .collect()
    }

    /// Reads a section of a manifest end to end through the relay.
    pub async fn read_with(
        &mut self,
        api: &Api,
        share: &GrantShare,
        manifest: &VerifiedManifest,
        srs: &PublicIdentity,
    ) -> Result<Vec<u8>, ReadErr> {
        let req = ReencryptRequest::new(
            &self.id,
            &share.grant,
            manifest.version(),
            now(),
            &mut os_rng(),
        )
        .unwrap();
        let (sealed, key) = seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
        let answer = api
            .post("/v1/reencrypt", "application/octet-stream", sealed)
            .await
            .map_err(ReadErr::Api)?;
        let answer = key
            .open_answer(&answer)
            .map_err(|e| ReadErr::Client(e.code()))?;
        let answer = ReencryptAnswer::verify(&answer, srs, &req, &share.grant, manifest)
            .map_err(|e| ReadErr::Client(e.code()))?;
        answer
            .head
            .check_manifest(manifest, self.high_water)
            .map_err(|e| ReadErr::Client(e.code()))?;
        self.high_water = self.high_water.max(answer.head.version);
        let dk: DataKey = share
            .data_key(manifest, &answer)
            .map_err(|e| ReadErr::Client(e.code()))?;
        let entry = manifest
            .entry(&share.grant.section)
            .map_err(|e| ReadErr::Client(e.code()))?;
        let blob = api.blob(&entry.blob_id()).await;
        let index = ChunkIndex::from_bytes(&api.blob(&entry.index_id).await)
            .map_err(|e| ReadErr::Client(e.code()))?;
        let header = sesphr_client::stream::BlobHeader::from_prefix(&blob)
            .map_err(|e| ReadErr::Client(e.code()))?;
        index
            .verify(&header, &entry.chunk_root)
            .map_err(|e| ReadErr::Client(e.code()))?;
        decrypt_body(&blob, &dk, &entry.chunk_root)
            .map(|b| b.to_vec())
            .map_err(|e| ReadErr::Client(e.code()))
    }

    /// Reads the latest version of a section.
    pub async fn read(
        &mut self,
        api: &Api,
        record: &RecordId,
        section: &SectionId,
        srs: &PublicIdentity,
    ) -> Result<Vec<u8>, ReadErr> {
        let m = latest_manifest(api, record).await.map_err(ReadErr::Api)?;
        let shares: Vec<GrantShare> = self.share_for(section).into_iter().cloned().collect();
        let mut last = Err(ReadErr::Client("no_grant"));
        for s in shares.iter().rev() {
            last = self.read_with(api, s, &m, srs).await;
            if last.is_ok() {
                return last;
            }
        }
        last
    }
}

pub async fn latest_manifest(api: &Api, record: &RecordId) -> Result<VerifiedManifest, ApiErr> {
    let bytes = api
        .get(
            &format!("/v1/records/{}/manifests/latest", record.to_hex()),
            None,
        )
        .await?;
    Ok(VerifiedManifest::from_bytes(&bytes).unwrap())
}

pub fn status(e: &ReadErr) -> StatusCode {
    match e {
        ReadErr::Api(a) => StatusCode::from_u16(a.status).unwrap(),
        ReadErr::Client(_) => StatusCode::OK,
    }
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

/// A running deployment with a registered patient: the common start of the
/// end-to-end tests.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub server: Server,
    pub api: Api,
    pub patient: Patient,
    pub srs: PublicIdentity,
}

pub async fn deploy(tweak: impl FnOnce(&mut sesphr_relay::Config)) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), tweak).await;
    let api = Api::new(&server.base);
    let patient = Patient::new(&api).await;
    let srs = patient.srs.clone();
    Deployment {
        dir,
        server,
        api,
        patient,
        srs,
    }
}
