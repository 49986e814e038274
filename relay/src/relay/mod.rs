//! The relay ("the cloud"): untrusted storage of ciphertext blobs, signed
//! manifests and grant inboxes, plus forwarding of sealed re-encryption
//! requests (and, in a two-process deployment, every SRS route) to the SRS.
//! It never holds an SRS share and learns no plaintext.
//!
//! Every write is by a party the SRS directory knows, within that party's
//! rate and quota, and authorized completely (token, signature, ownership)
//! before anything durable is written.
//!
//! Modules: [`routes`] (warp filters, with the portal's static files),
//! [`store`] (the durable state behind a trait), [`directory`] (registered
//! parties, asked of the SRS), [`peer`] (how the SRS is reached), [`shl`]
//! (SMART Health Links).

pub mod blobs;
pub mod directory;
pub mod peer;
pub mod routes;
pub mod shl;
pub mod state;
pub mod store;

use std::sync::Arc;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sesphr_client::content::ObjectHasher;
use sesphr_client::envelope::Envelope;
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::reader::InboxItem as VerifiedItem;
use sesphr_client::token::{Purpose, RequestToken};
use sha2::{Digest, Sha256};
use warp::http::StatusCode;

use crate::config::Quotas;
use crate::http::auth::{check_token, spend_token};
use crate::http::error::{hex_id, unhex, ApiError};
use crate::http::limits::RateLimiter;
use crate::now_ms;
use directory::Directory;
use peer::{Forwarded, SrsPeer};
use store::{
    BlobSink, ByteStream, Claim, InboxPut, InboxRow, Mailbox, ManifestPut, RelayStore, StoreError,
};

/// The relay service state.
pub struct Relay {
    store: Arc<dyn RelayStore>,
    /// Largest blob accepted, bytes.
    pub max_blob_bytes: u64,
    peer: Arc<dyn SrsPeer>,
    directory: Directory,
    quotas: Quotas,
    writes: RateLimiter,
    /// Manifest requests per SMART Health Link (each may cost an Argon2id
    /// hash), keyed by link id.
    link_requests: RateLimiter,
    /// Passcode hashes computed at once, over all links (each is 19 MiB
    /// and a core for a while): as many as the machine has cores.
    passcode_hashes: std::sync::Arc<tokio::sync::Semaphore>,
    /// Passcode hashes per link owner over all of its links, keyed by owner.
    owner_hashes: RateLimiter,
    /// SHL manifest and direct requests per client address and link, in
    /// front of `link_requests`.
    link_clients: RateLimiter,
    /// SHL file requests per client address.
    file_clients: RateLimiter,
    /// The reverse proxy whose `X-Forwarded-For` names the client
    /// (`--trusted-proxy`); none by default.
    trusted_proxy: Option<std::net::IpAddr>,
    replay_window_ms: u64,
    /// What the portal is told to shard over (`GET /v1/config`).
    sharding: Option<crate::config::Sharding>,
    /// Public base URL: the prefix of SHL file locations.
    public_url: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// The body of `POST /v1/inbox`.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboxItem {
    /// Owner-signed grant statement, hex.
    pub statement: String,
    /// HPKE envelope of `b1` to the grantee, hex.
    pub b1_envelope: String,
}

/// One item of `GET /v1/inbox`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxListing {
    /// The item's id (the statement's hash), hex: what `DELETE` names.
    pub id: String,
    /// Owner-signed grant statement, hex.
    pub statement: String,
    /// HPKE envelope of `b1` to the grantee, hex.
    pub b1_envelope: String,
}

/// Largest mail accepted (sealed bytes): a bundle of 32 receipts with long
/// paths fits with room to spare.
pub const MAX_MAIL_BYTES: usize = 48 * 1024;
/// Most mail one `GET /v1/mail` returns (bounds the answer to about 24 MiB of JSON).
pub const MAIL_PAGE: usize = 256;

/// The body of `POST /v1/mail` (with a `SendMail` token).
#[derive(serde::Serialize, serde::Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MailItem {
    /// The recipient's party id, hex.
    pub recipient: String,
    /// The sealed mail (an HPKE envelope), hex.
    pub sealed: String,
}

/// Mail as stored: who posted it, and what.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredMail {
    sender: String,
    sealed: String,
}

/// One item of `GET /v1/mail`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailListing {
    /// The mail's id (its SHA-256), hex: what `DELETE` names.
    pub id: String,
    /// Who posted it (the token's signer), hex.
    pub sender: String,
    /// The sealed mail, hex.
    pub sealed: String,
    /// Its arrival number in this mailbox: `?after=` it asks for the next page.
    pub seq: u64,
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

fn quota_left(what: &str) -> ApiError {
    ApiError::quota(format!("{what}: this party's quota is used up"))
}

impl Relay {
    /// The relay over `store`, forwarding to (and asking the directory of)
    /// the SRS `peer`.
    pub fn new(
        store: Arc<dyn RelayStore>,
        max_blob_bytes: u64,
        peer: Arc<dyn SrsPeer>,
        replay_window_ms: u64,
        quotas: Quotas,
    ) -> Result<Relay, ApiError> {
        Ok(Relay {
            store,
            max_blob_bytes,
            directory: Directory::new(peer.clone()),
            peer,
            quotas,
            writes: RateLimiter::new(quotas.writes_per_sec, quotas.write_burst),
            link_requests: RateLimiter::new(shl::LINK_REQUESTS_PER_SEC, shl::LINK_REQUEST_BURST),
            passcode_hashes: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            owner_hashes: RateLimiter::new(shl::OWNER_HASHES_PER_SEC, shl::OWNER_HASH_BURST),
            link_clients: RateLimiter::capped(
                shl::CLIENT_REQUESTS_PER_SEC,
                shl::CLIENT_REQUEST_BURST,
                shl::CLIENT_BUCKETS,
            ),
            file_clients: RateLimiter::capped(
                shl::CLIENT_FILES_PER_SEC,
                shl::CLIENT_FILE_BURST,
                shl::CLIENT_BUCKETS,
            ),
            trusted_proxy: None,
            replay_window_ms,
            public_url: "http://localhost".into(),
            sharding: None,
        })
    }

    /// Tells clients to shard over these relays (`GET /v1/config`).
    pub fn with_sharding(mut self, sharding: Option<crate::config::Sharding>) -> Relay {
        self.sharding = sharding;
        self
    }

    /// `GET /v1/config`: what a client of this deployment needs before it
    /// writes: the relays to shard over (none: blobs are stored whole here).
    pub fn client_config(&self) -> serde_json::Value {
        match &self.sharding {
            Some(s) => serde_json::json!({ "shards": s }),
            None => serde_json::json!({ "shards": null }),
        }
    }

    /// The relay's public base URL (scheme, host, port, no trailing `/`),
    /// the prefix of the SHL file locations it hands out: configured
    /// (`--public-url`), never taken from a request's headers.
    pub fn with_public_url(mut self, url: &str) -> Relay {
        self.public_url = url.trim_end_matches('/').to_string();
        self
    }

    /// Takes the client address of public SMART Health Link requests from
    /// `X-Forwarded-For` when the connection comes from `proxy` (and only
    /// then).
    pub fn with_trusted_proxy(mut self, proxy: Option<std::net::IpAddr>) -> Relay {
        self.trusted_proxy = proxy;
        self
    }

    /// The client of a request: its peer, or what the trusted proxy says
    /// ([`crate::http::client_addr`]).
    pub fn client(
        &self,
        peer: crate::http::Peer,
        forwarded_for: Option<&str>,
    ) -> crate::http::Peer {
        crate::http::client_addr(peer, forwarded_for, self.trusted_proxy)
    }

    /// The public base URL ([`Relay::with_public_url`]).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// A write by `party`: registered, and within its write rate.
    async fn writer(&self, party: &[u8; 32]) -> Result<(), ApiError> {
        self.directory.require(party).await?;
        self.writes.take(party, now_ms())
    }

    /// Spends an authorized token's nonce durably.
    async fn spend(&self, token: &RequestToken) -> Result<(), ApiError> {
        let now = now_ms();
        let forget = now.saturating_sub(2 * self.replay_window_ms);
        let fresh = self.store.use_nonce(&token.nonce, now, forget).await?;
        spend_token(token, self.replay_window_ms, |_, _, _| Ok(fresh))
    }

    /// `PUT /v1/blobs/{id}`: streams the body to the store (never
    /// buffering it whole), verifies that it is a section blob or a chunk
    /// index whose content address ([`sesphr_client::content`]) is `id` and
    /// whose length is the declared one, and publishes it create-only.
    /// Requires an `UploadBlob` token over `id ‖ u64 length` by a registered
    /// party within its rate and storage quota; the first uploader owns the
    /// blob (may delete it), for good.
    pub async fn put_blob<S, B>(
        &self,
        hash: &str,
        token: Option<&str>,
        length: Option<u64>,
        body: S,
    ) -> Result<StatusCode, ApiError>
    where
        S: Stream<Item = Result<B, ApiError>> + Unpin,
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
        let token = check_token(token, Purpose::UploadBlob, &subject, self.replay_window_ms)?;
        let party = token.party.id().0;
        self.writer(&party).await?;
        if self.store.blob_len(&hash).await?.is_some() {
            self.spend(&token).await?;
            return Ok(StatusCode::OK);
        }
        if self.store.blob_owner(&hash).await?.is_none()
            && self.store.usage(&party).await?.saturating_add(length) > self.quotas.stored_bytes
        {
            return Err(quota_left("stored bytes"));
        }
        self.spend(&token).await?;
        let mut sink = self.store.create_blob(&hash).await?;
        if let Err(e) = receive(sink.as_mut(), length, &hash, body).await {
            sink.abort().await?;
            return Err(e);
        }
        // The owner record first: a blob is never visible without its owner.
        if self
            .store
            .claim_blob(&hash, &party, length, self.quotas.stored_bytes)
            .await?
            == Claim::OverQuota
        {
            sink.abort().await?;
            return Err(quota_left("stored bytes"));
        }
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

    /// `DELETE /v1/blobs/{id}`: only the blob's owner (its first uploader,
    /// for good: a re-upload by anyone after a delete does not change it),
    /// with a `DeleteBlob` token over the blob id.
    pub async fn delete_blob(&self, hash: &str, token: Option<&str>) -> Result<(), ApiError> {
        let hash = hex_id::<32>(hash)?;
        let token = check_token(token, Purpose::DeleteBlob, &hash, self.replay_window_ms)?;
        match self.store.blob_owner(&hash).await? {
            None => return Err(ApiError::not_found("no such blob")),
            Some(owner) if owner != token.party.id().0 => {
                return Err(ApiError::forbidden(
                    "not_owner",
                    "only the blob's uploader may delete it",
                ))
            }
            Some(_) => {}
        }
        self.writes.take(&token.party.id().0, now_ms())?;
        self.spend(&token).await?;
        if !self.store.delete_blob(&hash).await? {
            return Err(ApiError::not_found("no such blob"));
        }
        Ok(())
    }

    /// `POST /v1/records/{record}/manifests`: accepts version `v + 1` only if
    /// it is signed by the record's owner (who is registered) and chains onto
    /// `v` (`201`); exactly the stored bytes again are a retry (`200`);
    /// anything else is `409 version_conflict`.
    pub async fn post_manifest(
        &self,
        record: &str,
        body: &[u8],
    ) -> Result<(StatusCode, u64), ApiError> {
        let record = hex_id::<32>(record)?;
        let m = VerifiedManifest::from_bytes(body)?;
        if m.record().0 != record {
            return Err(ApiError::bad_request(
                "record_mismatch",
                "manifest is for another record than the path",
            ));
        }
        let owner = m.owner.id().0;
        self.writer(&owner).await?;
        let latest = self.store.latest_manifest(&record).await?;
        if let Some(v) = latest.filter(|&v| v + 1 == m.version()) {
            let prev = self
                .store
                .manifest(&record, v)
                .await?
                .ok_or_else(|| ApiError::internal("manifest vanished"))?;
            let prev = VerifiedManifest::from_bytes(&prev).map_err(ApiError::internal)?;
            m.verify_successor(&prev)?;
        }
        match self
            .store
            .put_manifest(
                &record,
                m.version(),
                &owner,
                m.as_bytes(),
                self.quotas.records,
            )
            .await?
        {
            ManifestPut::New => Ok((StatusCode::CREATED, m.version())),
            ManifestPut::Same => Ok((StatusCode::OK, m.version())),
            ManifestPut::Conflict(v) => Err(ApiError::conflict(
                "version_conflict",
                format!("latest version is {v}"),
            )),
            ManifestPut::OverQuota => Err(quota_left("records")),
        }
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
    /// grantee's inbox. The signer must be registered and own the record
    /// (its manifests here are signed by the signer), within its rate and
    /// the inbox caps. Items are keyed by the statement's hash, so nothing
    /// anyone else posts can take the place of what the owner delivered.
    pub async fn post_inbox(&self, item: &InboxItem) -> Result<StatusCode, ApiError> {
        let verified = VerifiedItem::from_bytes(
            &unhex(&item.statement, "statement")?,
            &unhex(&item.b1_envelope, "b1Envelope")?,
        )?;
        let grant = verified.grant();
        let sender = grant.owner.id().0;
        self.writer(&sender).await?;
        match self.store.record_owner(&grant.record.0).await? {
            Some(owner) if owner == sender => {}
            Some(_) => {
                return Err(ApiError::forbidden(
                    "not_owner",
                    "only the record's owner may share it",
                ))
            }
            None => {
                return Err(ApiError::conflict(
                    "no_record",
                    "the relay holds no manifest of this record",
                ))
            }
        }
        let json = serde_json::to_vec(item).map_err(ApiError::internal)?;
        let row = InboxRow {
            mailbox: Mailbox::Grants,
            grantee: &grant.grantee.id().0,
            id: &verified.id(),
            sender: &sender,
            bytes: &json,
        };
        self.put_item(row).await
    }

    /// Stores an item within the per-sender and per-box caps.
    async fn put_item(&self, row: InboxRow<'_>) -> Result<StatusCode, ApiError> {
        let mailbox = row.mailbox;
        let (per_sender, total) = match mailbox {
            Mailbox::Grants => (self.quotas.inbox_per_sender, self.quotas.inbox_total),
            Mailbox::Mail => (self.quotas.mail_per_sender, self.quotas.mail_total),
        };
        match self.store.put_inbox(row, per_sender, total).await? {
            InboxPut::New => Ok(StatusCode::CREATED),
            InboxPut::Existing => Ok(StatusCode::OK),
            InboxPut::SenderFull if mailbox == Mailbox::Mail => {
                Err(quota_left("mail from this sender to this party"))
            }
            InboxPut::SenderFull => Err(quota_left("items from this sender in the inbox")),
            InboxPut::InboxFull if mailbox == Mailbox::Mail => {
                Err(ApiError::quota("the recipient's mailbox is full"))
            }
            InboxPut::InboxFull => Err(ApiError::quota("the grantee's inbox is full")),
        }
    }

    /// `POST /v1/mail`: stores mail sealed to a registered party. The token
    /// (`SendMail` over `recipient ‖ SHA-256(sealed)`) names the sender,
    /// who must be registered and within its rate; the relay checks only
    /// that the mail is an envelope of at most 64 KiB, never what it says.
    /// Keyed by its hash, so a retry stores it once.
    pub async fn post_mail(
        &self,
        body: crate::http::LaterBody,
        token: Option<&str>,
    ) -> Result<StatusCode, ApiError> {
        // Token (signature, purpose, time), sender registered and within
        // its rate before the body is read; the subject in full after.
        let t = crate::http::auth::check_token_before_body(
            token,
            Purpose::SendMail,
            |s| s.len() == 64,
            self.replay_window_ms,
        )?;
        let sender = t.party.id().0;
        self.writer(&sender).await?;
        let body = body.read().await?;
        let item: MailItem = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
        let recipient = hex_id::<32>(&item.recipient)?;
        let sealed = unhex(&item.sealed, "sealed")?;
        if sealed.len() > MAX_MAIL_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("mail is at most {MAX_MAIL_BYTES} bytes"),
            ));
        }
        Envelope::from_bytes(&sealed)
            .map_err(|e| ApiError::bad_request(e.code(), format!("sealed: {e}")))?;
        let id: [u8; 32] = Sha256::digest(&sealed).into();
        let mut subject = recipient.to_vec();
        subject.extend_from_slice(&id);
        crate::http::auth::subject_is(&t, &subject)?;
        self.directory.require(&recipient).await?;
        self.spend(&t).await?;
        let stored = StoredMail {
            sender: hex::encode(sender),
            sealed: item.sealed.clone(),
        };
        let json = serde_json::to_vec(&stored).map_err(ApiError::internal)?;
        self.put_item(InboxRow {
            mailbox: Mailbox::Mail,
            grantee: &recipient,
            id: &id,
            sender: &sender,
            bytes: &json,
        })
        .await
    }

    /// `GET /v1/mail?after=<seq>`: the caller's oldest [`MAIL_PAGE`] items
    /// that arrived after `seq` (default 0: from the start), in arrival order
    /// (token: `ReadMail`). Each carries its `seq`: the last one's asks for
    /// the next page, so mail a reader keeps never hides what came later.
    pub async fn get_mail(
        &self,
        after: Option<&str>,
        token: Option<&str>,
    ) -> Result<Vec<MailListing>, ApiError> {
        let after = match after {
            None => 0,
            Some(a) => a.parse::<u64>().map_err(|_| {
                ApiError::bad_request("invalid_argument", "after must be a mail's seq number")
            })?,
        };
        let t = check_token(token, Purpose::ReadMail, &[], self.replay_window_ms)?;
        self.spend(&t).await?;
        self.store
            .mail_page(&t.party.id().0, after, MAIL_PAGE)
            .await?
            .into_iter()
            .map(|(seq, id, b)| {
                let item: StoredMail = serde_json::from_slice(&b).map_err(ApiError::internal)?;
                Ok(MailListing {
                    id: hex::encode(id),
                    sender: item.sender,
                    sealed: item.sealed,
                    seq,
                })
            })
            .collect()
    }

    /// `DELETE /v1/mail/{id}`: removes mail from the caller's own box
    /// (token: `ClearMail` over the id).
    pub async fn delete_mail(&self, id: &str, token: Option<&str>) -> Result<(), ApiError> {
        self.delete_item(Mailbox::Mail, Purpose::ClearMail, id, token)
            .await
    }

    /// `GET /v1/inbox`: the caller's inbox (token: `ReadInbox`).
    pub async fn get_inbox(&self, token: Option<&str>) -> Result<Vec<InboxListing>, ApiError> {
        let t = check_token(token, Purpose::ReadInbox, &[], self.replay_window_ms)?;
        self.spend(&t).await?;
        self.store
            .inbox(Mailbox::Grants, &t.party.id().0, usize::MAX)
            .await?
            .into_iter()
            .map(|(id, b)| {
                let item: InboxItem = serde_json::from_slice(&b).map_err(ApiError::internal)?;
                Ok(InboxListing {
                    id: hex::encode(id),
                    statement: item.statement,
                    b1_envelope: item.b1_envelope,
                })
            })
            .collect()
    }

    /// `DELETE /v1/inbox/{id}`: removes an item from the caller's own inbox
    /// (token: `ClearInbox` over the item id).
    pub async fn delete_inbox(&self, id: &str, token: Option<&str>) -> Result<(), ApiError> {
        self.delete_item(Mailbox::Grants, Purpose::ClearInbox, id, token)
            .await
    }

    async fn delete_item(
        &self,
        mailbox: Mailbox,
        purpose: Purpose,
        id: &str,
        token: Option<&str>,
    ) -> Result<(), ApiError> {
        let id = hex_id::<32>(id)?;
        let t = check_token(token, purpose, &id, self.replay_window_ms)?;
        let owner = t.party.id().0;
        self.writes.take(&owner, now_ms())?;
        self.spend(&t).await?;
        if self.store.delete_inbox(mailbox, &owner, &id).await? {
            Ok(())
        } else {
            Err(ApiError::not_found(match mailbox {
                Mailbox::Grants => "no such inbox item",
                Mailbox::Mail => "no such mail",
            }))
        }
    }

    /// `POST /v1/reencrypt`: forwards a sealed request to the SRS and its
    /// answer back unchanged; the relay can read neither.
    pub async fn reencrypt(&self, sealed: bytes::Bytes) -> Result<Forwarded, ApiError> {
        self.peer.reencrypt(sealed).await
    }
}

async fn receive<S, B>(
    sink: &mut dyn BlobSink,
    length: u64,
    hash: &[u8; 32],
    mut body: S,
) -> Result<(), ApiError>
where
    S: Stream<Item = Result<B, ApiError>> + Unpin,
    B: Buf,
{
    let mut hasher = ObjectHasher::new(length);
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk?;
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
