//! The relay ("the cloud"): untrusted storage of ciphertext blobs, signed
//! manifests and grant inboxes, plus forwarding of sealed re-encryption
//! requests to the SRS. It never holds an SRS share and learns no plaintext.
//! Storage is behind [`RelayStore`](crate::relay_store::RelayStore).

use std::sync::Arc;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sesphr_client::content::ObjectHasher;
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::token::{Purpose, RequestToken};
use warp::http::StatusCode;

use crate::error::ApiError;
use crate::error::{hex_id, unhex};
use crate::relay_store::{BlobSink, ByteStream, RelayStore, StoreError};

/// The relay service state.
pub struct Relay {
    store: Arc<dyn RelayStore>,
    /// Largest blob accepted, bytes.
    pub max_blob_bytes: u64,
    srs_url: String,
    http: reqwest::Client,
    manifest_lock: tokio::sync::Mutex<()>,
    replay_window_ms: u64,
    seen_tokens: crate::auth::ReplaySet,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("srs_url", &self.srs_url)
            .finish_non_exhaustive()
    }
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

/// A blob (or a byte range of it) ready to stream back.
pub struct BlobRead {
    /// 200 or 206.
    pub status: StatusCode,
    /// `Content-Range`, for 206.
    pub content_range: Option<String>,
    /// Bytes that will be streamed.
    pub length: u64,
    /// The bytes.
    pub body: ByteStream,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

/// Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range against `len`.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && end < len).then_some((start, end))
}

impl Relay {
    /// The relay over `store`, forwarding re-encryption requests to `srs_url`.
    pub fn new(
        store: Arc<dyn RelayStore>,
        max_blob_bytes: u64,
        srs_url: String,
        replay_window_ms: u64,
    ) -> Result<Relay, ApiError> {
        Ok(Relay {
            store,
            max_blob_bytes,
            srs_url: srs_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(ApiError::internal)?,
            manifest_lock: tokio::sync::Mutex::new(()),
            replay_window_ms,
            seen_tokens: crate::auth::ReplaySet::new(replay_window_ms, []),
        })
    }

    fn token(
        &self,
        header: Option<&str>,
        purpose: Purpose,
        subject: &[u8],
    ) -> Result<RequestToken, ApiError> {
        crate::auth::verify_token(
            header,
            purpose,
            subject,
            self.replay_window_ms,
            |nonce, now, _| self.seen_tokens.spend(nonce, now),
        )
    }

    /// `PUT /v1/blobs/{id}`: streams the body to the store (never
    /// buffering it whole), verifies that it is a section blob or a chunk
    /// index whose content address ([`sesphr_client::content`]) is `id` and
    /// whose length is the declared one, and publishes it create-only.
    /// Requires an `UploadBlob` token over `id ‖ u64 length`; the first
    /// uploader owns the blob (may delete it).
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
        let token = self.token(token, Purpose::UploadBlob, &subject)?;
        if self.store.blob_len(&hash).await?.is_some() {
            return Ok(StatusCode::OK);
        }
        let mut sink = self.store.create_blob(&hash).await?;
        if let Err(e) = receive(sink.as_mut(), length, &hash, body).await {
            sink.abort().await?;
            return Err(e);
        }
        // The owner record first: a blob is never visible without its owner.
        self.store
            .set_blob_owner(&hash, &token.party.id().0)
            .await?;
        Ok(if sink.commit().await? {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        })
    }

    /// `GET /v1/blobs/{id}`, with an optional single HTTP `Range`.
    pub async fn get_blob(&self, hash: &str, range: Option<&str>) -> Result<BlobRead, ApiError> {
        let hash = hex_id::<32>(hash)?;
        let len = self
            .store
            .blob_len(&hash)
            .await?
            .ok_or_else(|| ApiError::not_found("no such blob"))?;
        let (status, start, end) = match range {
            None => (StatusCode::OK, 0, len),
            Some(r) => match parse_range(r, len) {
                Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
                None => {
                    return Err(ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "bad_range",
                        format!("blob is {len} bytes; one range of it can be asked for"),
                    ))
                }
            },
        };
        let body = self
            .store
            .read_blob(&hash, start, end - start)
            .await?
            .ok_or_else(|| ApiError::not_found("no such blob"))?;
        Ok(BlobRead {
            status,
            content_range: (status == StatusCode::PARTIAL_CONTENT)
                .then(|| format!("bytes {start}-{}/{len}", end - 1)),
            length: end - start,
            body,
        })
    }

    /// `DELETE /v1/blobs/{id}`: only the blob's owner (its first uploader),
    /// with a `DeleteBlob` token over the blob id.
    pub async fn delete_blob(&self, hash: &str, token: Option<&str>) -> Result<(), ApiError> {
        let hash = hex_id::<32>(hash)?;
        let token = self.token(token, Purpose::DeleteBlob, &hash)?;
        match self.store.blob_owner(&hash).await? {
            None => Err(ApiError::not_found("no such blob")),
            Some(owner) if owner != token.party.id().0 => Err(ApiError::forbidden(
                "not_owner",
                "only the blob's uploader may delete it",
            )),
            Some(_) => {
                self.store.delete_blob(&hash).await?;
                Ok(())
            }
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
        let latest = self.store.latest_manifest(&record).await?;
        if latest.unwrap_or(0) + 1 != m.version() {
            return Err(ApiError::conflict(
                "version_conflict",
                format!("latest version is {}", latest.unwrap_or(0)),
            ));
        }
        if let Some(v) = latest {
            let prev = self
                .store
                .manifest(&record, v)
                .await?
                .ok_or_else(|| ApiError::internal("manifest vanished"))?;
            let prev = VerifiedManifest::from_bytes(&prev).map_err(ApiError::internal)?;
            m.verify_successor(&prev)?;
        }
        if !self
            .store
            .create_manifest(&record, m.version(), m.as_bytes())
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
            self.store
                .latest_manifest(&record)
                .await?
                .ok_or_else(|| ApiError::not_found("no such record"))?
        } else {
            which.parse::<u64>().map_err(|_| {
                ApiError::bad_request("invalid_version", "version must be a number or 'latest'")
            })?
        };
        self.store
            .manifest(&record, version)
            .await?
            .ok_or_else(|| ApiError::not_found("no such manifest version"))
    }

    /// `POST /v1/inbox`: delivers an owner-signed grant statement and its `b1`
    /// envelope (which must be the one the statement commits to) to the
    /// grantee's inbox.
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
        let json = serde_json::to_vec(item).map_err(ApiError::internal)?;
        let created = self
            .store
            .put_inbox(&grant.grantee.id().0, &grant.grant_id, &json)
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
        self.store
            .inbox(&t.party.id().0)
            .await?
            .iter()
            .map(|b| serde_json::from_slice(b).map_err(ApiError::internal))
            .collect()
    }

    /// `POST /v1/reencrypt`: forwards a sealed request to the SRS and its
    /// answer back; the relay can read neither.
    pub async fn forward_reencrypt(
        &self,
        body: bytes::Bytes,
    ) -> Result<(StatusCode, String, Vec<u8>), ApiError> {
        let unreachable = |e: reqwest::Error| {
            ApiError::new(StatusCode::BAD_GATEWAY, "srs_unreachable", e.to_string())
        };
        let resp = self
            .http
            .post(format!("{}/srs/v1/reencrypt", self.srs_url))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        Ok((status, ctype, bytes.to_vec()))
    }
}

async fn receive<S, B>(
    sink: &mut dyn BlobSink,
    length: u64,
    hash: &[u8; 32],
    mut body: S,
) -> Result<(), ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let mut hasher = ObjectHasher::new(length);
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::bad_request("body_error", e.to_string()))?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            received += part.len() as u64;
            if received > length {
                return Err(ApiError::bad_request(
                    "length_mismatch",
                    "body longer than content-length",
                ));
            }
            hasher.update(part)?;
            sink.write(part).await?;
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
    if hasher.finish()?.1 != *hash {
        return Err(ApiError::bad_request(
            "hash_mismatch",
            "the body's content address is not the blob id",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-0", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-0", 0), None);
        assert_eq!(parse_range("bytes=-0", 100), None);
    }
}
