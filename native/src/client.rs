//! The deployment's HTTP routes, one method each, and the driver's error.

use sesphr_client::audit::Decision;
use sesphr_client::audit_check::{AuditCheck, VerifiedListing};
use sesphr_client::grant::IssuedGrant;
use sesphr_client::identity::{Identity, PartyId, PublicIdentity};
use sesphr_client::manifest::{ManifestChain, SignedHead, VerifiedManifest};
use sesphr_client::primitives::os_rng;
use sesphr_client::reader::{InboxItem, Reply};
use sesphr_client::record::RecordId;
use sesphr_client::token::{Purpose, RequestToken};

use crate::now_ms;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server refused: its status and stable code.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's stable code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The protocol core refused what it was given or found.
    #[error(transparent)]
    Protocol(#[from] sesphr_client::Error),
    /// A server could not be reached, or answered something that is not HTTP.
    #[error("network: {0}")]
    Network(String),
}

impl Error {
    /// The stable code: the server's, the core's, or `network`.
    pub fn code(&self) -> &str {
        match self {
            Error::Api { code, .. } => code,
            Error::Protocol(e) => e.code(),
            Error::Network(_) => "network",
        }
    }
    /// The HTTP status of a server's refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// Whether retrying the same request may succeed: the server could not
    /// be reached or failed (5xx), as opposed to refusing.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) => true,
            Error::Api { status, .. } => *status >= 500,
            Error::Protocol(_) => false,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Error {
        Error::Network(e.to_string())
    }
}

/// The driver's result.
pub type Result<T> = std::result::Result<T, Error>;

/// A connection to one deployment: the relay and the SRS behind one base
/// URL (the relay forwards the SRS routes in a two-process deployment), the
/// SRS's identity pinned.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    srs: PublicIdentity,
}

const OCTETS: &str = "application/octet-stream";

/// One response: status and body.
pub(crate) struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Response {
    /// The body of a success, else the server's error.
    pub(crate) fn ok(self) -> Result<Vec<u8>> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        Err(Error::Api {
            status: self.status,
            code: v["code"]
                .as_str()
                .map_or_else(|| format!("http_{}", self.status), str::to_string),
            message: v["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}

fn unhex(v: &serde_json::Value, what: &str) -> Result<Vec<u8>> {
    v[what]
        .as_str()
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| Error::Network(format!("the server's reply has no hex {what}")))
}

pub(crate) fn token(who: &Identity, purpose: Purpose, subject: &[u8]) -> Result<String> {
    let t = RequestToken::sign(who, purpose, subject, now_ms(), &mut os_rng())?;
    Ok(hex::encode(t.as_bytes()))
}

impl Client {
    /// Connects to the deployment at `base` and pins the SRS identity it
    /// reports, which must have `fingerprint` if given (`srs_mismatch`).
    pub async fn connect(base: &str, fingerprint: Option<&str>) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let base = base.trim_end_matches('/').to_string();
        let info = http.get(format!("{base}/srs/v1/info")).send().await?;
        let info = Response {
            status: info.status().as_u16(),
            body: info.bytes().await?.to_vec(),
        }
        .ok()?;
        let info: serde_json::Value =
            serde_json::from_slice(&info).map_err(|e| Error::Network(e.to_string()))?;
        let srs = PublicIdentity::from_bytes(&unhex(&info, "publicKey")?)?;
        if fingerprint.is_some_and(|f| f != srs.fingerprint()) {
            return Err(Error::Api {
                status: 0,
                code: "srs_mismatch".into(),
                message: "the SRS is not the pinned one".into(),
            });
        }
        Ok(Client { http, base, srs })
    }

    /// The pinned SRS identity.
    pub fn srs(&self) -> &PublicIdentity {
        &self.srs
    }
    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<String>,
    ) -> Result<Response> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((ctype, bytes)) = body {
            req = req.header("content-type", ctype).body(bytes);
        }
        if let Some(t) = token {
            req = req.header("x-sesphr-token", t);
        }
        let resp = req.send().await?;
        Ok(Response {
            status: resp.status().as_u16(),
            body: resp.bytes().await?.to_vec(),
        })
    }

    pub(crate) async fn get(&self, path: &str, token: Option<String>) -> Result<Vec<u8>> {
        self.send(reqwest::Method::GET, path, None, token)
            .await?
            .ok()
    }

    /// `GET` that maps `404` to `None`.
    async fn get_opt(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let r = self.send(reqwest::Method::GET, path, None, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        r.ok().map(Some)
    }

    pub(crate) async fn post(&self, path: &str, ctype: &str, body: Vec<u8>) -> Result<Response> {
        self.send(reqwest::Method::POST, path, Some((ctype, body)), None)
            .await
    }

    async fn post_json(&self, path: &str, v: &serde_json::Value) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(v).map_err(|e| Error::Network(e.to_string()))?;
        self.post(path, "application/json", body).await?.ok()
    }

    /// Publishes an identity in the SRS directory (idempotent).
    pub async fn register(&self, id: &Identity) -> Result<()> {
        let entry = id.directory_entry(now_ms());
        self.post("/srs/v1/directory", OCTETS, entry.as_bytes().to_vec())
            .await?
            .ok()
            .map(drop)
    }

    /// A party's public identity from the directory.
    pub async fn lookup(&self, party: &PartyId) -> Result<PublicIdentity> {
        let bytes = self
            .get(&format!("/srs/v1/directory/{}", party.to_hex()), None)
            .await?;
        let entry = sesphr_client::identity::DirectoryEntry::from_bytes(&bytes)?;
        if entry.public.id() != *party {
            return Err(sesphr_client::Error::BindingMismatch(
                "the directory answered for another party",
            )
            .into());
        }
        Ok(entry.public)
    }

    /// Stores a section blob or chunk index under its content address.
    pub async fn put_blob(&self, who: &Identity, bytes: &[u8]) -> Result<[u8; 32]> {
        let id = sesphr_client::content::object_id(bytes)?;
        let subject = [id.as_slice(), &(bytes.len() as u64).to_be_bytes()].concat();
        let t = token(who, Purpose::UploadBlob, &subject)?;
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/blobs/{}", hex::encode(id)),
            Some((OCTETS, bytes.to_vec())),
            Some(t),
        )
        .await?
        .ok()?;
        Ok(id)
    }

    /// A stored blob.
    pub async fn blob(&self, id: &[u8; 32]) -> Result<Vec<u8>> {
        self.get(&format!("/v1/blobs/{}", hex::encode(id)), None)
            .await
    }

    /// Deletes a blob one uploaded.
    pub async fn delete_blob(&self, who: &Identity, id: &[u8; 32]) -> Result<()> {
        self.delete(who, Purpose::DeleteBlob, "/v1/blobs", id).await
    }

    /// `DELETE {collection}/{id}` under a token for `purpose` and `id`.
    async fn delete(
        &self,
        who: &Identity,
        purpose: Purpose,
        collection: &str,
        id: &[u8; 32],
    ) -> Result<()> {
        let t = token(who, purpose, id)?;
        let path = format!("{collection}/{}", hex::encode(id));
        self.send(reqwest::Method::DELETE, &path, None, Some(t))
            .await?
            .ok()
            .map(drop)
    }

    /// A record's manifest of `version` (`None`: the latest), or `None` if
    /// the relay has none.
    pub async fn manifest(
        &self,
        record: &RecordId,
        version: Option<u64>,
    ) -> Result<Option<VerifiedManifest>> {
        let which = version.map_or_else(|| "latest".to_string(), |v| v.to_string());
        match self
            .get_opt(&format!(
                "/v1/records/{}/manifests/{which}",
                record.to_hex()
            ))
            .await?
        {
            Some(bytes) => Ok(Some(VerifiedManifest::from_bytes(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The verified chain of a record's manifests `from ..= tip`, where
    /// `tip` is already fetched.
    pub async fn chain_to(&self, from: u64, tip: VerifiedManifest) -> Result<ManifestChain> {
        let record = tip.record();
        let mut manifests = Vec::new();
        for v in from..tip.version() {
            manifests.push(
                self.manifest(&record, Some(v))
                    .await?
                    .ok_or_else(|| Error::Api {
                        status: 404,
                        code: "not_found".into(),
                        message: format!("the relay has no version {v}"),
                    })?,
            );
        }
        manifests.push(tip);
        Ok(ManifestChain::from_manifests(manifests)?)
    }

    /// Stores a manifest at the relay (`201` new, `200` already there).
    pub async fn post_manifest(&self, m: &VerifiedManifest) -> Result<()> {
        self.post(
            &format!("/v1/records/{}/manifests", m.record().to_hex()),
            OCTETS,
            m.as_bytes().to_vec(),
        )
        .await?
        .ok()
        .map(drop)
    }

    /// The SRS's signed latest head of a record, verified; `None` if it has none.
    pub async fn head(&self, record: &RecordId) -> Result<Option<SignedHead>> {
        match self
            .get_opt(&format!("/srs/v1/heads/{}", record.to_hex()))
            .await?
        {
            Some(bytes) => Ok(Some(SignedHead::from_bytes(&bytes, &self.srs)?)),
            None => Ok(None),
        }
    }

    /// Registers a manifest's head at the SRS; the head it returns, verified.
    pub async fn post_head(&self, m: &VerifiedManifest) -> Result<SignedHead> {
        let bytes = self
            .post("/srs/v1/heads", OCTETS, m.as_bytes().to_vec())
            .await?
            .ok()?;
        Ok(SignedHead::from_bytes(&bytes, &self.srs)?)
    }

    /// Delivers an issued grant: `b2` to the SRS, then `b1` to the grantee's inbox.
    pub async fn deliver(&self, g: &IssuedGrant) -> Result<()> {
        let statement = hex::encode(g.statement.as_bytes());
        self.post_json(
            "/srs/v1/grants",
            &serde_json::json!({ "statement": statement, "b2Envelope": hex::encode(g.b2_envelope.to_bytes()) }),
        )
        .await?;
        self.post_json(
            "/v1/inbox",
            &serde_json::json!({ "statement": statement, "b1Envelope": hex::encode(g.b1_envelope.to_bytes()) }),
        )
        .await
        .map(drop)
    }

    /// A party's inbox: each item's id and the item, verified (an item that
    /// does not verify is returned as its error, so it can be cleared).
    pub async fn inbox(
        &self,
        who: &Identity,
    ) -> Result<Vec<([u8; 32], sesphr_client::Result<InboxItem>)>> {
        let t = token(who, Purpose::ReadInbox, &[])?;
        let body = self.get("/v1/inbox", Some(t)).await?;
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| Error::Network(e.to_string()))?;
        items
            .iter()
            .map(|i| {
                let id: [u8; 32] = unhex(i, "id")?
                    .try_into()
                    .map_err(|_| Error::Network("an inbox id is not 32 bytes".into()))?;
                let item = InboxItem::from_bytes(&unhex(i, "statement")?, &unhex(i, "b1Envelope")?);
                Ok((id, item))
            })
            .collect()
    }

    /// Removes an item from one's own inbox.
    pub async fn clear_inbox(&self, who: &Identity, id: &[u8; 32]) -> Result<()> {
        self.delete(who, Purpose::ClearInbox, "/v1/inbox", id).await
    }

    /// Sends a sealed re-encryption request through the relay: the sealed
    /// answer, or the SRS's decision if it refused.
    pub async fn reencrypt(
        &self,
        sealed: Vec<u8>,
    ) -> Result<std::result::Result<Vec<u8>, Decision>> {
        let r = self.post("/v1/reencrypt", OCTETS, sealed).await?;
        if r.status == 403 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if let Some(d) = v["code"].as_str().and_then(Decision::from_code) {
                return Ok(Err(d));
            }
        }
        r.ok().map(Ok)
    }

    /// [`Client::reencrypt`] as the reader flow's [`Reply`], on `buf`.
    pub(crate) fn reply<'a>(answer: &'a std::result::Result<Vec<u8>, Decision>) -> Reply<'a> {
        match answer {
            Ok(bytes) => Reply::Answer(bytes),
            Err(d) => Reply::Refused(*d),
        }
    }

    /// The owner's grant list of a record from the SRS: `(statement, revoked)`.
    pub async fn grants(
        &self,
        owner: &Identity,
        record: &RecordId,
    ) -> Result<Vec<(sesphr_client::grant::VerifiedGrant, bool)>> {
        let t = token(owner, Purpose::ListGrants, &record.0)?;
        let body = self
            .get(
                &format!("/srs/v1/records/{}/grants", record.to_hex()),
                Some(t),
            )
            .await?;
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| Error::Network(e.to_string()))?;
        rows.iter()
            .map(|r| {
                let g = sesphr_client::grant::VerifiedGrant::from_bytes(&unhex(r, "statement")?)?;
                Ok((g, r["revoked"].as_bool().unwrap_or(false)))
            })
            .collect()
    }

    /// Posts a revocation to the SRS; its receipt's bytes.
    pub async fn revoke(&self, revocation: &[u8]) -> Result<Vec<u8>> {
        self.post("/srs/v1/revocations", OCTETS, revocation.to_vec())
            .await?
            .ok()
    }

    /// The owner's audit listing of a record, checked before it is
    /// returned: the signed tree head under the pinned SRS key, every
    /// entry's audit path under it, the record's chain of entries (none
    /// left out before the last; see `sesphr_client::audit_check`) and each
    /// entry's purpose against its grant's kind (`BTG` for emergency). No head
    /// is kept across calls here: a process that must notice a fork keeps
    /// [`VerifiedListing::head`] and checks the next one against it.
    pub async fn audit(&self, owner: &Identity, record: &RecordId) -> Result<VerifiedListing> {
        let t = token(owner, Purpose::ReadAudit, &record.0)?;
        let body = self
            .get(
                &format!("/srs/v1/records/{}/audit", record.to_hex()),
                Some(t),
            )
            .await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Network(e.to_string()))?;
        let malformed =
            || Error::Network("the audit listing is not one entry and one path per row".into());
        let (Some(entries), Some(paths)) = (v["entries"].as_array(), v["paths"].as_array()) else {
            return Err(malformed());
        };
        if entries.len() != paths.len() {
            return Err(malformed());
        }
        let head = AuditCheck::new(&self.srs, &unhex(&v, "treeHead")?, None)?.verified()?;
        let mut check = head.listing(*record);
        // Each entry's purpose against its grant's owner-signed kind: `BTG`
        // on an emergency grant, and only there.
        let grants = self.grants(owner, record).await?;
        check.grants(grants.iter().map(|(g, _)| (g.grant_id, g.is_emergency())));
        for (pair, path) in entries.iter().zip(paths) {
            let index = pair[0].as_u64().ok_or_else(malformed)?;
            let bytes = pair[1]
                .as_str()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(malformed)?;
            let path = path
                .as_array()
                .ok_or_else(malformed)?
                .iter()
                .map(|h| {
                    h.as_str()
                        .and_then(|s| hex::decode(s).ok())
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(malformed)
                })
                .collect::<Result<Vec<_>>>()?;
            check.add(index, &bytes, &path)?;
        }
        Ok(check.finish(None)?)
    }
}
