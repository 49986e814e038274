//! The relay ("the cloud"): untrusted storage of ciphertext blobs, signed
//! manifests and grant inboxes, plus forwarding of sealed re-encryption
//! requests to the SRS. It never holds an SRS share and learns no plaintext.
//!
//! Storage is the filesystem: every object is written to a temporary file,
//! fsynced, and published with a create-only link, so a crash leaves either
//! the whole object or nothing, and nothing is ever overwritten in place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::primitives::{os_rng, random_bytes};
use sesphr_client::token::{Purpose, RequestToken};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use warp::http::StatusCode;

use crate::error::ApiError;
use crate::now_ms;
use crate::srs::{hex_id, unhex};

/// The relay service state.
#[derive(Debug)]
pub struct Relay {
    root: PathBuf,
    /// Largest blob accepted, bytes.
    pub max_blob_bytes: u64,
    srs_url: String,
    http: reqwest::Client,
    manifest_lock: tokio::sync::Mutex<()>,
    replay_window_ms: u64,
    seen_tokens: Mutex<HashMap<[u8; 16], u64>>,
}

/// One item of a grantee's inbox (also the body of `POST /v1/inbox`).
#[derive(serde::Serialize, serde::Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboxItem {
    /// Owner-signed grant statement, hex.
    pub statement: String,
    /// HPKE envelope of `b1` to the grantee, hex.
    pub b1_envelope: String,
}

fn io(e: std::io::Error) -> ApiError {
    ApiError::internal(e)
}

/// Writes `bytes` to a fresh temporary file, fsyncs it, and links it to
/// `dest` only if `dest` does not exist. Returns `false` if it existed.
async fn publish(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<bool, ApiError> {
    let tmp = tmp_dir.join(hex::encode(random_bytes::<16, _>(&mut os_rng())));
    let mut f = tokio::fs::File::create(&tmp).await.map_err(io)?;
    let written = async {
        f.write_all(bytes).await?;
        f.sync_all().await
    }
    .await;
    drop(f);
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io(e));
    }
    link_create_only(&tmp, dest).await
}

/// Publishes a synced temporary file at `dest` unless `dest` exists.
async fn link_create_only(tmp: &Path, dest: &Path) -> Result<bool, ApiError> {
    let linked = tokio::fs::hard_link(tmp, dest).await;
    let _ = tokio::fs::remove_file(tmp).await;
    match linked {
        Ok(()) => {
            if let Some(parent) = dest.parent() {
                if let Ok(d) = tokio::fs::File::open(parent).await {
                    let _ = d.sync_all().await;
                }
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

impl Relay {
    /// Opens (creating) the relay's directories under `root`; removes
    /// temporary files a crash may have left (they were never published).
    pub fn open(
        root: PathBuf,
        max_blob_bytes: u64,
        srs_url: String,
        replay_window_ms: u64,
    ) -> Result<Relay, ApiError> {
        for d in ["blobs", "manifests", "inbox", "tmp"] {
            std::fs::create_dir_all(root.join(d)).map_err(io)?;
        }
        for e in std::fs::read_dir(root.join("tmp")).map_err(io)?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        Ok(Relay {
            root,
            max_blob_bytes,
            srs_url: srs_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(ApiError::internal)?,
            manifest_lock: tokio::sync::Mutex::new(()),
            replay_window_ms,
            seen_tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Where blobs live (served with HTTP Range by the static file filter).
    pub fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    fn token(
        &self,
        header: Option<&str>,
        purpose: Purpose,
        subject: &[u8],
    ) -> Result<RequestToken, ApiError> {
        let raw = header.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_required",
                "x-sesphr-token header required",
            )
        })?;
        let token = RequestToken::from_bytes(&unhex(raw, "token")?)?;
        let now = now_ms();
        token.check(purpose, subject, now, self.replay_window_ms)?;
        let mut seen = self
            .seen_tokens
            .lock()
            .map_err(|_| ApiError::internal("poisoned lock"))?;
        let horizon = now.saturating_sub(2 * self.replay_window_ms);
        seen.retain(|_, t| *t >= horizon);
        if seen.insert(token.nonce, now).is_some() {
            return Err(ApiError::forbidden("replay", "token already used"));
        }
        Ok(token)
    }

    /// `PUT /v1/blobs/{sha256}`: streams the body to disk (never buffering it
    /// whole), verifies its SHA-256 and length, and publishes it create-only.
    /// Requires an `UploadBlob` token over `sha256 ‖ u64 length`.
    pub async fn put_blob<S, B>(
        &self,
        hash: &str,
        token: Option<&str>,
        length: Option<u64>,
        body: S,
    ) -> Result<StatusCode, ApiError>
    where
        S: Stream<Item = Result<B, warp::Error>> + Unpin,
        B: Buf,
    {
        let hash = hex_id::<32>(hash)?;
        let length = length.ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "content-length required",
            )
        })?;
        if length > self.max_blob_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("blobs are limited to {} bytes", self.max_blob_bytes),
            ));
        }
        let subject = [hash.as_slice(), &length.to_be_bytes()].concat();
        self.token(token, Purpose::UploadBlob, &subject)?;
        let dest = self.blob_dir().join(hex::encode(hash));
        if tokio::fs::try_exists(&dest).await.map_err(io)? {
            return Ok(StatusCode::OK);
        }
        let tmp = self
            .root
            .join("tmp")
            .join(hex::encode(random_bytes::<16, _>(&mut os_rng())));
        let result = self.receive(&tmp, length, &hash, body).await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok(if link_create_only(&tmp, &dest).await? {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        })
    }

    async fn receive<S, B>(
        &self,
        tmp: &Path,
        length: u64,
        hash: &[u8; 32],
        mut body: S,
    ) -> Result<(), ApiError>
    where
        S: Stream<Item = Result<B, warp::Error>> + Unpin,
        B: Buf,
    {
        let mut file = tokio::fs::File::create(tmp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let mut chunk =
                chunk.map_err(|e| ApiError::bad_request("body_error", e.to_string()))?;
            while chunk.has_remaining() {
                let part = chunk.chunk();
                received += part.len() as u64;
                if received > length {
                    return Err(ApiError::bad_request(
                        "length_mismatch",
                        "body longer than content-length",
                    ));
                }
                hasher.update(part);
                file.write_all(part).await.map_err(io)?;
                let n = part.len();
                chunk.advance(n);
            }
        }
        if received != length {
            return Err(ApiError::bad_request(
                "length_mismatch",
                "body shorter than content-length",
            ));
        }
        if <[u8; 32]>::from(hasher.finalize()) != *hash {
            return Err(ApiError::bad_request(
                "hash_mismatch",
                "body does not hash to the blob id",
            ));
        }
        file.sync_all().await.map_err(io)?;
        Ok(())
    }

    fn manifest_dir(&self, record: &[u8; 32]) -> PathBuf {
        self.root.join("manifests").join(hex::encode(record))
    }

    async fn latest_version(&self, record: &[u8; 32]) -> Result<Option<u64>, ApiError> {
        let dir = self.manifest_dir(record);
        let mut rd = match tokio::fs::read_dir(&dir).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut latest = None;
        while let Some(e) = rd.next_entry().await.map_err(io)? {
            if let Some(v) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                latest = latest.max(Some(v));
            }
        }
        Ok(latest)
    }

    async fn read_manifest(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        match tokio::fs::read(self.manifest_dir(record).join(format!("{version:020}"))).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// `POST /v1/records/{record}/manifests`: accepts version `v + 1` only if
    /// it is signed by the record's owner and chains onto `v` (409 otherwise).
    pub async fn post_manifest(&self, record: &str, body: &[u8]) -> Result<u64, ApiError> {
        let record = hex_id::<32>(record)?;
        let m = VerifiedManifest::from_bytes(body)?;
        if m.record().0 != record {
            return Err(ApiError::bad_request(
                "record_mismatch",
                "manifest is for another record than the path",
            ));
        }
        let _guard = self.manifest_lock.lock().await;
        let latest = self.latest_version(&record).await?;
        if latest.unwrap_or(0) + 1 != m.version() {
            return Err(ApiError::conflict(
                "version_conflict",
                format!("latest version is {}", latest.unwrap_or(0)),
            ));
        }
        if let Some(v) = latest {
            let prev = self
                .read_manifest(&record, v)
                .await?
                .ok_or_else(|| ApiError::internal("manifest vanished"))?;
            let prev = VerifiedManifest::from_bytes(&prev).map_err(ApiError::internal)?;
            m.verify_successor(&prev)?;
        }
        let dir = self.manifest_dir(&record);
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        if !publish(
            &self.root.join("tmp"),
            &dir.join(format!("{:020}", m.version())),
            m.as_bytes(),
        )
        .await?
        {
            return Err(ApiError::conflict(
                "version_conflict",
                "version already exists",
            ));
        }
        Ok(m.version())
    }

    /// `GET /v1/records/{record}/manifests/{version|latest}`.
    pub async fn get_manifest(&self, record: &str, which: &str) -> Result<Vec<u8>, ApiError> {
        let record = hex_id::<32>(record)?;
        let version = if which == "latest" {
            self.latest_version(&record)
                .await?
                .ok_or_else(|| ApiError::not_found("no such record"))?
        } else {
            which.parse::<u64>().map_err(|_| {
                ApiError::bad_request("invalid_version", "version must be a number or 'latest'")
            })?
        };
        self.read_manifest(&record, version)
            .await?
            .ok_or_else(|| ApiError::not_found("no such manifest version"))
    }

    /// `POST /v1/inbox`: delivers an owner-signed grant statement and its `b1`
    /// envelope to the grantee's inbox.
    pub async fn post_inbox(&self, item: &InboxItem) -> Result<StatusCode, ApiError> {
        let grant = VerifiedGrant::from_bytes(&unhex(&item.statement, "statement")?)?;
        let envelope = sesphr_client::envelope::Envelope::from_bytes(&unhex(
            &item.b1_envelope,
            "b1Envelope",
        )?)?;
        if envelope.hash() != grant.b1_envelope_hash {
            return Err(ApiError::forbidden(
                "binding_mismatch",
                "envelope is not the one the grant commits to",
            ));
        }
        let dir = self.root.join("inbox").join(grant.grantee.id().to_hex());
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let json = serde_json::to_vec(item).map_err(ApiError::internal)?;
        let created = publish(
            &self.root.join("tmp"),
            &dir.join(hex::encode(grant.grant_id)),
            &json,
        )
        .await?;
        Ok(if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        })
    }

    /// `GET /v1/inbox`: the caller's inbox (token: `ReadInbox`).
    pub async fn get_inbox(&self, token: Option<&str>) -> Result<Vec<InboxItem>, ApiError> {
        let t = self.token(token, Purpose::ReadInbox, &[])?;
        let dir = self.root.join("inbox").join(t.party.id().to_hex());
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(&dir).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(e)),
        };
        while let Some(e) = rd.next_entry().await.map_err(io)? {
            let bytes = tokio::fs::read(e.path()).await.map_err(io)?;
            out.push(serde_json::from_slice(&bytes).map_err(ApiError::internal)?);
        }
        Ok(out)
    }

    /// `POST /v1/reencrypt`: forwards a sealed request to the SRS and its
    /// answer back; the relay can read neither.
    pub async fn forward_reencrypt(
        &self,
        body: bytes::Bytes,
    ) -> Result<(StatusCode, String, Vec<u8>), ApiError> {
        let resp = self
            .http
            .post(format!("{}/srs/v1/reencrypt", self.srs_url))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::BAD_GATEWAY, "srs_unreachable", e.to_string())
            })?;
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = resp.bytes().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "srs_unreachable", e.to_string())
        })?;
        Ok((status, ctype, bytes.to_vec()))
    }
}
