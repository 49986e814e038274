//! SMART Health Links at the relay: the owner's links (token-authorised
//! create, replace, list, revoke) and the public SHL manifest protocol
//! (HL7 links specification): `POST` with `recipient` and `passcode`, a
//! lifetime limit on wrong passcodes that holds under parallel requests,
//! expiry and revocation as `404`, files embedded or behind short-lived
//! locations, and every retrieval logged for the owner.
//!
//! The relay stores compact JWE strings only; the link key lives in the
//! `shlink:/` payload (a URL fragment) and never reaches it. It checks each
//! JWE's shape (`dir`, `A256GCM`, `zip` absent or `DEF`) but cannot open one.

use argon2::{Algorithm, Argon2, Params, Version};
use sesphr_client::primitives::{os_rng, random_bytes};
use sesphr_client::shl::{b64url_decode, b64url_encode, jwe_check, MAX_LABEL_CHARS};
use sesphr_client::token::Purpose;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::StatusCode;
use zeroize::Zeroizing;

use super::store::{ShlFileOut, ShlGate, ShlLinkRow, ShlListing, ShlPut};
use super::Relay;
use crate::http::auth::{check_token, check_token_before_body, subject_is};
use crate::http::error::ApiError;
use crate::http::{LaterBody, Peer};
use crate::now_ms;

/// Most links one owner may hold.
pub const MAX_LINKS: u64 = 256;
/// Most files one link may hold.
pub const MAX_FILES: usize = 32;
/// Wrong passcodes a link tolerates when its owner names no number.
pub const DEFAULT_ATTEMPTS: u32 = 10;
/// Most wrong passcodes an owner may allow.
pub const MAX_ATTEMPTS: u32 = 100;
/// How long a file location stays valid, ms.
pub const LOCATION_TTL_MS: u64 = 5 * 60 * 1000;
/// Longest recipient string accepted (and logged).
pub const MAX_RECIPIENT: usize = 256;
/// Longest passcode accepted.
pub const MAX_PASSCODE: usize = 128;
/// Manifest requests one link answers per second, sustained (each may cost
/// an Argon2id hash; a person opening a link needs a handful).
pub const LINK_REQUESTS_PER_SEC: f64 = 2.0;
/// Manifest requests one link answers at once.
pub const LINK_REQUEST_BURST: u32 = 12;
/// Manifest and direct requests one client address makes to one link per
/// second, sustained: half the link's own rate, so one address flooding
/// never keeps a link from the others (IPv6 addresses count by /64).
pub const CLIENT_REQUESTS_PER_SEC: f64 = 1.0;
/// Manifest and direct requests one client address makes to one link at
/// once (half the link's burst).
pub const CLIENT_REQUEST_BURST: u32 = 6;
/// File requests (`/v1/shl-files/…`) one client address makes per second,
/// sustained, over all links (a manifest names at most [`MAX_FILES`]).
pub const CLIENT_FILES_PER_SEC: f64 = 8.0;
/// File requests one client address makes at once.
pub const CLIENT_FILE_BURST: u32 = 64;
/// Client-address buckets kept per limiter (the least recently used go
/// past it, so a spray of addresses costs bounded memory).
pub const CLIENT_BUCKETS: usize = 1 << 16;
/// Passcode hashes one owner's links cost per second, sustained, all its
/// links together (an owner who knows its passcode gets its attempt back
/// each time, so attempts alone do not bound the hashes it can cause).
pub const OWNER_HASHES_PER_SEC: f64 = 4.0;
/// Passcode hashes one owner's links cost at once.
pub const OWNER_HASH_BURST: u32 = 16;
/// Largest `PUT /v1/shl/{id}` body: one file of the core's largest JWE
/// (8 MiB) and 1 MiB for the JSON and smaller files (the other routes keep
/// the 1 MiB cap).
pub const MAX_LINK_BODY: u64 = 9 << 20;
/// Longest sealed owner key accepted (the core's note limit and framing).
pub const MAX_OWNER_KEY: usize = 4096;
/// Latest expiry accepted: 100 years from now, ms (later is a mistake, and
/// the store keeps times as signed 64-bit integers).
pub const MAX_LINK_LIFE_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
/// Argon2id cost for passcodes (OWASP's 19 MiB, 2 passes).
const PASSCODE_KIB: u32 = 19 * 1024;
const PASSCODE_PASSES: u32 = 2;

/// One file of `PUT /v1/shl/{id}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShlFileIn {
    /// Its content type (MUST equal the JWE header's `cty`).
    pub content_type: String,
    /// The compact JWE.
    pub jwe: String,
}

/// The body of `PUT /v1/shl/{id}` (token `PutLink` over id ‖ SHA-256(body)).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShlLinkIn {
    /// The passcode, if the link needs one (sent once, kept only as a hash).
    #[serde(default)]
    pub passcode: Option<String>,
    /// Wrong passcodes tolerated (default [`DEFAULT_ATTEMPTS`]).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Expiry, ms since the Unix epoch.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// The `L` flag.
    #[serde(default)]
    pub long_term: bool,
    /// The `U` flag: exactly one file, no passcode, and the link answers
    /// `GET ?recipient=` with that file (no other link does).
    #[serde(default)]
    pub direct: bool,
    /// A label for the owner's listing (at most 80 characters).
    #[serde(default)]
    pub label: Option<String>,
    /// The files.
    pub files: Vec<ShlFileIn>,
    /// The link key sealed for its owner (`ShlOwnerKey`, base64url), kept
    /// so the owner's browser can refresh a long-term link; opaque here.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// Replace only the files of an existing live link (a long-term link
    /// refreshed): every other member must be absent.
    #[serde(default)]
    pub refresh: bool,
}

/// The body of the manifest request (the specification's names; other
/// members are ignored, as the specification allows extensions).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRequest {
    /// Who is retrieving (free text, logged for the owner).
    pub recipient: Option<String>,
    /// The passcode, for a `P` link.
    #[serde(default)]
    pub passcode: Option<String>,
    /// Largest JWE to embed; larger ones come as locations. Any JSON
    /// number: a fraction is cut off, a negative one embeds nothing.
    #[serde(default)]
    pub embedded_length_max: Option<f64>,
}

/// One file of the manifest answer.
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    /// The file's content type.
    pub content_type: String,
    /// A URL to `GET` the JWE from (valid [`LOCATION_TTL_MS`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The JWE itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
}

/// The manifest answer.
#[derive(serde::Serialize, Debug)]
pub struct Manifest {
    /// `finalized`, or `can-change` for a long-term link.
    pub status: &'static str,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// The per-address limiter key of `client` for `link` (or for all links):
/// an IPv4 address, or an IPv6 address's /64, then the link id's first 16
/// bytes.
pub fn client_key(client: Peer, link: Option<&[u8; 32]>) -> [u8; 32] {
    let mut k = [0u8; 32];
    match client.0 {
        Some(std::net::IpAddr::V4(a)) => k[..4].copy_from_slice(&a.octets()),
        Some(std::net::IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => k[..4].copy_from_slice(&v4.octets()),
            None => {
                k[4..12].copy_from_slice(&a.octets()[..8]);
                k[12] = 6;
            }
        },
        None => k[15] = 1,
    }
    if let Some(l) = link {
        k[16..].copy_from_slice(&l[..16]);
    }
    k
}

/// Parses a link id: 43 base64url characters of 32 bytes.
pub fn link_id(s: &str) -> Result<[u8; 32], ApiError> {
    if s.len() != 43 {
        return Err(ApiError::not_found("no such link"));
    }
    b64url_decode(s, "link id")
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| ApiError::not_found("no such link"))
}

fn passcode_hash(passcode: &str, salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>, ApiError> {
    let params =
        Params::new(PASSCODE_KIB, PASSCODE_PASSES, 1, Some(32)).map_err(ApiError::internal)?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passcode.as_bytes(), salt, out.as_mut())
        .map_err(ApiError::internal)?;
    Ok(out)
}

impl Relay {
    /// `PUT /v1/shl/{id}`: creates the signer's link, or replaces it (files,
    /// passcode, attempts, expiry, label; the retrieval log stays), or with
    /// `refresh` replaces only the files of a live one. The
    /// token (`PutLink` over `id ‖ SHA-256(body)`) is checked, the signer
    /// registered and within its rate, and every file's shape checked before
    /// anything is written.
    pub async fn put_link(
        &self,
        id: &str,
        body: LaterBody,
        token: Option<&str>,
    ) -> Result<StatusCode, ApiError> {
        let id = link_id(id)?;
        // Authorised before one byte of the (up to 9 MiB) body is read: the
        // token's signature, purpose, time and link id, the signer
        // registered and within its write rate. Only then the body, and
        // its hash against the token's.
        let t = check_token_before_body(
            token,
            Purpose::PutLink,
            |s| s.len() == 64 && s[..32] == id,
            self.replay_window_ms,
        )?;
        let owner = t.party.id().0;
        self.writer(&owner).await?;
        let body = body.read().await?;
        let mut subject = id.to_vec();
        subject.extend_from_slice(&Sha256::digest(&body));
        subject_is(&t, &subject)?;
        let link: ShlLinkIn = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
        if link.files.is_empty() || link.files.len() > MAX_FILES {
            return Err(ApiError::bad_request(
                "bad_link",
                format!("a link holds 1 to {MAX_FILES} files"),
            ));
        }
        for f in &link.files {
            let cty = jwe_check(&f.jwe)
                .map_err(|e| ApiError::bad_request("bad_jwe", format!("file: {e}")))?;
            if cty != f.content_type {
                return Err(ApiError::bad_request(
                    "bad_jwe",
                    "file: contentType is not the JWE's cty",
                ));
            }
        }
        if link
            .label
            .as_ref()
            .is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS)
        {
            return Err(ApiError::bad_request(
                "bad_link",
                "label longer than 80 characters",
            ));
        }
        let owner_key = match &link.owner_key {
            None => None,
            Some(k) => Some(
                b64url_decode(k, "owner key")
                    .ok()
                    .filter(|k| k.len() <= MAX_OWNER_KEY && k.starts_with(b"SPHR\x22\x01"))
                    .ok_or_else(|| {
                        ApiError::bad_request("bad_link", "ownerKey is not a sealed link key")
                    })?,
            ),
        };
        if link.refresh {
            let only_files = link.passcode.is_none()
                && link.max_attempts.is_none()
                && link.expires_at.is_none()
                && !link.long_term
                && !link.direct
                && link.label.is_none()
                && owner_key.is_none();
            if !only_files {
                return Err(ApiError::bad_request(
                    "bad_link",
                    "a refresh carries files only",
                ));
            }
            self.spend(&t).await?;
            let files = link
                .files
                .into_iter()
                .map(|f| (f.content_type, f.jwe))
                .collect();
            return match self.store.shl_refresh(owner, id, files, now_ms()).await? {
                ShlPut::Replaced => Ok(StatusCode::OK),
                ShlPut::OverQuota => Err(super::quota_left("link files (32 MiB)")),
                ShlPut::NotOwner => Err(ApiError::forbidden(
                    "not_owner",
                    "another party's link has this id",
                )),
                _ => Err(ApiError::not_found("no such live link of yours")),
            };
        }
        if link.direct && (link.files.len() != 1 || link.passcode.is_some()) {
            return Err(ApiError::bad_request(
                "bad_link",
                "a direct (U) link holds one file and no passcode",
            ));
        }
        let attempts = link.max_attempts.unwrap_or(DEFAULT_ATTEMPTS);
        if attempts == 0 || attempts > MAX_ATTEMPTS {
            return Err(ApiError::bad_request(
                "bad_link",
                format!("maxAttempts is 1 to {MAX_ATTEMPTS}"),
            ));
        }
        let now = now_ms();
        if link.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiError::bad_request(
                "bad_link",
                "expiresAt is in the past",
            ));
        }
        if link
            .expires_at
            .is_some_and(|e| e > now.saturating_add(MAX_LINK_LIFE_MS))
        {
            return Err(ApiError::bad_request(
                "bad_link",
                "expiresAt is more than 100 years away",
            ));
        }
        let passcode = match &link.passcode {
            None => None,
            Some(p) if p.is_empty() || p.len() > MAX_PASSCODE => {
                return Err(ApiError::bad_request(
                    "bad_link",
                    format!("a passcode is 1 to {MAX_PASSCODE} bytes"),
                ))
            }
            Some(p) => Some(p.clone()),
        };
        self.spend(&t).await?;
        let passcode = match passcode {
            None => None,
            Some(p) => {
                let p = Zeroizing::new(p);
                let salt: [u8; 16] = random_bytes(&mut os_rng());
                let hash = tokio::task::spawn_blocking(move || passcode_hash(&p, &salt))
                    .await
                    .map_err(ApiError::internal)??;
                Some((salt, *hash))
            }
        };
        let row = ShlLinkRow {
            id,
            owner,
            passcode,
            attempts_left: attempts,
            expires_at: link.expires_at,
            long_term: link.long_term,
            direct: link.direct,
            label: link.label,
            created: now,
            files: link
                .files
                .into_iter()
                .map(|f| (f.content_type, f.jwe))
                .collect(),
            owner_key,
        };
        match self.store.shl_put(row, MAX_LINKS).await? {
            ShlPut::New => Ok(StatusCode::CREATED),
            ShlPut::Replaced => Ok(StatusCode::OK),
            ShlPut::NotOwner => Err(ApiError::forbidden(
                "not_owner",
                "another party's link has this id",
            )),
            ShlPut::OverQuota => Err(super::quota_left("links (256, 32 MiB of files)")),
            ShlPut::Gone => Err(ApiError::not_found("no such link")),
        }
    }

    /// `GET /v1/shl`: the signer's links with their retrievals (token
    /// `ListLinks`).
    pub async fn list_links(&self, token: Option<&str>) -> Result<Vec<ShlListing>, ApiError> {
        let t = check_token(token, Purpose::ListLinks, &[], self.replay_window_ms)?;
        self.spend(&t).await?;
        Ok(self.store.shl_list(t.party.id().0).await?)
    }

    /// `DELETE /v1/shl/{id}`: revokes the signer's link (token `RevokeLink`
    /// over the id): its files and log are deleted; the next retrieval is
    /// `404`.
    pub async fn revoke_link(&self, id: &str, token: Option<&str>) -> Result<(), ApiError> {
        let id = link_id(id)?;
        let t = check_token(token, Purpose::RevokeLink, &id, self.replay_window_ms)?;
        let owner = t.party.id().0;
        self.writes.take(&owner, now_ms())?;
        self.spend(&t).await?;
        if self.store.shl_delete(owner, id).await? {
            Ok(())
        } else {
            Err(ApiError::not_found("no such link of yours"))
        }
    }

    /// `POST /v1/shl/{id}`: the SHL manifest. `recipient` is required; for a
    /// link with a passcode, a request without one is `401
    /// passcode_required` (with `remainingAttempts`, nothing taken); else one attempt is taken atomically before the
    /// passcode is checked and given back when it matches, so the wrong ones
    /// never exceed the limit; a wrong one is `401` with
    /// `remainingAttempts`. An unknown, expired, revoked or locked link is
    /// `404`. At most [`CLIENT_REQUEST_BURST`] then
    /// [`CLIENT_REQUESTS_PER_SEC`] per client address and link, checked
    /// first; at most [`LINK_REQUEST_BURST`] requests at once per link, then
    /// [`LINK_REQUESTS_PER_SEC`], and [`OWNER_HASH_BURST`] then
    /// [`OWNER_HASHES_PER_SEC`] passcode hashes over one owner's links
    /// (`429 rate_limited`); no more hashes at once than the machine has
    /// cores (`503 busy`). `base` is the absolute
    /// URL prefix of file locations.
    pub async fn link_manifest(
        &self,
        id: &str,
        req: ManifestRequest,
        base: &str,
        client: Peer,
    ) -> Result<Manifest, ApiError> {
        let id = link_id(id)?;
        let recipient = req
            .recipient
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("recipient_required", "recipient is required"))?;
        if recipient.len() > MAX_RECIPIENT {
            return Err(ApiError::bad_request(
                "bad_recipient",
                format!("recipient is at most {MAX_RECIPIENT} bytes"),
            ));
        }
        if req
            .passcode
            .as_ref()
            .is_some_and(|p| p.len() > MAX_PASSCODE)
        {
            return Err(ApiError::bad_request(
                "bad_passcode",
                format!("a passcode is at most {MAX_PASSCODE} bytes"),
            ));
        }
        let now = now_ms();
        // The client's own bucket first: one address flooding is stopped
        // before it spends the link's.
        self.link_clients
            .take(&client_key(client, Some(&id)), now)?;
        self.link_requests.take(&id, now)?;
        // No passcode sent: not an attempt (nothing taken, no hash spent).
        let take = req.passcode.is_some();
        // A hash is 19 MiB and a core for a while: no more at once than the
        // machine has cores, the others are told to come back.
        let _permit = if take {
            Some(
                self.passcode_hashes
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| {
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "busy",
                            "too many passcodes are being checked; try again in a moment",
                        )
                    })?,
            )
        } else {
            None
        };
        match self.store.shl_gate(id, now, take).await? {
            ShlGate::Gone => return Err(ApiError::not_found("no such link")),
            ShlGate::Open { .. } => {}
            ShlGate::Passcode { left, .. } if !take => {
                return Err(ApiError {
                    remaining_attempts: Some(left),
                    ..ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "passcode_required",
                        "this link needs a passcode",
                    )
                });
            }
            ShlGate::Passcode {
                owner,
                salt,
                hash,
                left,
            } => {
                if let Err(e) = self.owner_hashes.take(&owner, now) {
                    // Not an attempt: give back the one the gate took.
                    self.store.shl_refund(id).await?;
                    return Err(e);
                }
                let given = Zeroizing::new(req.passcode.unwrap_or_default());
                let computed = tokio::task::spawn_blocking(move || passcode_hash(&given, &salt))
                    .await
                    .map_err(ApiError::internal)??;
                if bool::from(computed.ct_eq(&hash)) {
                    self.store.shl_refund(id).await?;
                } else {
                    return Err(ApiError {
                        remaining_attempts: Some(left),
                        ..ApiError::new(
                            StatusCode::UNAUTHORIZED,
                            "wrong_passcode",
                            "the passcode is wrong",
                        )
                    });
                }
            }
        }
        // `as` saturates: negative to 0, past u64::MAX to u64::MAX.
        let embed_max = req.embedded_length_max.map_or(u64::MAX, |m| m as u64);
        let (long_term, files) = self
            .store
            .shl_retrieve(id, recipient, now, embed_max, now + LOCATION_TTL_MS)
            .await?
            .ok_or_else(|| ApiError::not_found("no such link"))?;
        Ok(Manifest {
            status: if long_term { "can-change" } else { "finalized" },
            files: files
                .into_iter()
                .map(|f| match f {
                    ShlFileOut::Embedded(content_type, jwe) => ManifestFile {
                        content_type,
                        location: None,
                        embedded: Some(jwe),
                    },
                    ShlFileOut::Location(content_type, token) => ManifestFile {
                        content_type,
                        location: Some(format!("{base}/v1/shl-files/{}", b64url_encode(&token))),
                        embedded: None,
                    },
                })
                .collect(),
        })
    }

    /// `GET /v1/shl/{id}?recipient=…`: a direct-file (`U`) link's file
    /// itself, as the specification has a viewer fetch one: only for a
    /// live link stored as `direct` (any other, a `P` link included, is
    /// `409 not_direct`; `U` and `P` never go together); `recipient`
    /// required and logged as for a manifest; the client's and the link's
    /// buckets as for a manifest.
    pub async fn link_direct(
        &self,
        id: &str,
        recipient: Option<String>,
        client: Peer,
    ) -> Result<String, ApiError> {
        let id = link_id(id)?;
        let recipient = recipient
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("recipient_required", "recipient is required"))?;
        if recipient.len() > MAX_RECIPIENT {
            return Err(ApiError::bad_request(
                "bad_recipient",
                format!("recipient is at most {MAX_RECIPIENT} bytes"),
            ));
        }
        let now = now_ms();
        self.link_clients
            .take(&client_key(client, Some(&id)), now)?;
        self.link_requests.take(&id, now)?;
        // Never an attempt: the gate takes none, so a flood of GETs cannot
        // make a concurrent right passcode find its link locked.
        match self.store.shl_gate(id, now, false).await? {
            ShlGate::Gone => return Err(ApiError::not_found("no such link")),
            ShlGate::Open { direct: true } => {}
            // Only a `U` link is fetched directly (a `P` link never is one).
            ShlGate::Open { direct: false } | ShlGate::Passcode { .. } => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_direct",
                    "this is not a direct-file (U) link: POST the manifest request",
                ));
            }
        }
        let (_, files) = self
            .store
            .shl_retrieve(id, recipient, now, u64::MAX, now + LOCATION_TTL_MS)
            .await?
            .ok_or_else(|| ApiError::not_found("no such link"))?;
        match files.into_iter().next() {
            Some(ShlFileOut::Embedded(_, jwe)) => Ok(jwe),
            _ => Err(ApiError::not_found("no such file")),
        }
    }

    /// `GET /v1/shl-files/{token}`: a file behind a location the manifest
    /// handed out, while the location is valid and the link live.
    pub async fn link_file(&self, token: &str, client: Peer) -> Result<String, ApiError> {
        self.file_clients
            .take(&client_key(client, None), now_ms())?;
        let token = link_id(token).map_err(|_| ApiError::not_found("no such file"))?;
        self.store
            .shl_location(token, now_ms())
            .await?
            .ok_or_else(|| ApiError::not_found("no such file, or its location expired"))
    }
}
