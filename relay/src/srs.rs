//! The SRS (Setup and Re-encryption Server): public-key directory, grants
//! and their `b2` shares, manifest heads, re-encryption with proofs, revocation
//! and the audit log. It never holds a blob and never sees `b1`.
//!
//! Shared state lives in [`Srs`]: the SRS identity (its signing and HPKE
//! keys), the store, and the audit tree's leaf hashes (rebuilt from the store
//! at start). Every handler is synchronous and runs on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sesphr_client::audit::{AuditEntry, Decision, InclusionReceipt, MemoryLog};
use sesphr_client::envelope::{self, Envelope};
use sesphr_client::grant::{SrsShare, VerifiedGrant};
use sesphr_client::identity::{DirectoryEntry, Identity};
use sesphr_client::manifest::{SignedHead, VerifiedManifest};
use sesphr_client::primitives::{hkdf_expand, hkdf_extract, os_rng, random_bytes};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest, VerifiedRequest};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::token::{Purpose, RequestToken};
use warp::http::StatusCode;
use zeroize::Zeroizing;

use crate::audit_writer::AuditWriter;
use crate::error::{hex_id, unhex, ApiError};
use crate::now_ms;
use crate::srs_store::{Cas, SrsStore};

const STORE_KEY_LABEL: &str = "SeSPHR-v1/srs-store-key";
/// Size at which a verification cache starts over.
const CACHE_LIMIT: usize = 1 << 16;

/// Objects whose signatures were checked, by key.
type Cache<K, V> = Mutex<HashMap<K, Arc<V>>>;

/// What a request that passed every check re-encrypts with.
type Cleared = (VerifiedRequest, SrsShare, Arc<VerifiedManifest>);

/// Looks `key` up in a verification cache, computing and keeping it if absent.
fn cached<K: std::hash::Hash + Eq, V>(
    cache: &Cache<K, V>,
    key: K,
    make: impl FnOnce() -> Result<V, ApiError>,
) -> Result<Arc<V>, ApiError> {
    if let Some(v) = cache
        .lock()
        .map_err(|_| internal("poisoned cache"))?
        .get(&key)
    {
        return Ok(v.clone());
    }
    let v = Arc::new(make()?);
    let mut c = cache.lock().map_err(|_| internal("poisoned cache"))?;
    if c.len() >= CACHE_LIMIT {
        c.clear();
    }
    c.insert(key, v.clone());
    Ok(v)
}

/// The SRS service state.
pub struct Srs {
    identity: Arc<Identity>,
    store_key: Zeroizing<[u8; 32]>,
    store: Arc<dyn SrsStore>,
    log: Arc<Mutex<MemoryLog>>,
    writer: AuditWriter,
    /// Request nonces of the replay window (the durable copy is committed
    /// with each request's audit entry).
    nonces: crate::auth::ReplaySet,
    /// Grant statements already verified (statements never change; whether
    /// a grant is revoked is read from the store on every request).
    verified_grants: Cache<[u8; 16], VerifiedGrant>,
    /// Manifests already verified, by record and version (stored manifests
    /// never change).
    verified_manifests: Cache<([u8; 32], u64), VerifiedManifest>,
    /// Replay window for request timestamps and nonces (ms).
    pub replay_window_ms: u64,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srs")
            .field("id", &self.identity.id())
            .finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

/// JSON view of the SRS's public identity (pinned by clients out of band).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SrsInfo {
    /// Signing key ‖ encryption key, hex (66 bytes).
    pub public_key: String,
    /// Party id, hex.
    pub id: String,
    /// Fingerprint to compare out of band.
    pub fingerprint: String,
}

/// Body of `POST /srs/v1/grants`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantUpload {
    /// Owner-signed grant statement, hex.
    pub statement: String,
    /// HPKE envelope of `b2` to the SRS, hex.
    pub b2_envelope: String,
}

/// One grant in the owner's listing.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantListing {
    /// Statement, hex.
    pub statement: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A consistency proof between two sizes of the audit log.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyListing {
    /// RFC 9162 consistency path, hex hashes.
    pub path: Vec<String>,
    /// Signed tree head of the larger size, hex.
    pub tree_head: String,
}

/// The owner's view of a record's audit log.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditListing {
    /// `(index, entry hex)` pairs.
    pub entries: Vec<(u64, String)>,
    /// Signed tree head over the whole log, hex.
    pub tree_head: String,
}

impl Srs {
    /// Starts the SRS with its identity and store; rebuilds the audit tree.
    pub fn new(
        identity: Identity,
        store: Arc<dyn SrsStore>,
        replay_window_ms: u64,
    ) -> Result<Srs, ApiError> {
        let prk = hkdf_extract(
            STORE_KEY_LABEL.as_bytes(),
            identity.seed().to_bytes().as_ref(),
        );
        let store_key = hkdf_expand(&prk, STORE_KEY_LABEL, &[]);
        let entries = store.audit_entries().map_err(internal)?;
        let log = Arc::new(Mutex::new(MemoryLog::from_entries(
            entries.iter().map(Vec::as_slice),
        )));
        let identity = Arc::new(identity);
        let forget = 2 * replay_window_ms;
        let nonces = crate::auth::ReplaySet::new(
            replay_window_ms,
            store
                .nonces_since(now_ms().saturating_sub(forget))
                .map_err(internal)?,
        );
        let writer = AuditWriter::start(identity.clone(), store.clone(), log.clone(), forget)
            .map_err(internal)?;
        Ok(Srs {
            identity,
            store_key,
            store,
            log,
            writer,
            nonces,
            verified_grants: Mutex::new(HashMap::new()),
            verified_manifests: Mutex::new(HashMap::new()),
            replay_window_ms,
        })
    }

    /// The SRS identity's public view.
    pub fn info(&self) -> SrsInfo {
        let p = self.identity.public();
        SrsInfo {
            public_key: hex::encode(p.to_bytes()),
            id: p.id().to_hex(),
            fingerprint: p.fingerprint(),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.store_key))
    }

    fn seal_b2(&self, grant_id: &[u8; 16], share: &SrsShare) -> Result<Vec<u8>, ApiError> {
        let nonce: [u8; 12] = random_bytes(&mut os_rng());
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: share.b2_bytes().as_ref(),
                    aad: grant_id,
                },
            )
            .map_err(|_| ApiError::internal("sealing a share failed"))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    fn open_b2(&self, grant: &VerifiedGrant, sealed: &[u8]) -> Result<SrsShare, ApiError> {
        if sealed.len() < 12 {
            return Err(internal("stored share too short"));
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(internal)?;
        let b2 = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ct,
                        aad: &grant.grant_id,
                    },
                )
                .map_err(|_| internal("stored share does not open"))?,
        );
        SrsShare::from_parts(grant, &b2).map_err(internal)
    }

    fn require_party(&self, id: &[u8; 32]) -> Result<(), ApiError> {
        match self.store.directory(id).map_err(internal)? {
            Some(_) => Ok(()),
            None => Err(ApiError::forbidden(
                "unknown_party",
                "party is not registered in the directory",
            )),
        }
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
            |nonce, now, forget| self.store.use_nonce(nonce, now, forget).map_err(internal),
        )
    }

    /// `POST /srs/v1/directory`: registers a self-signed directory entry.
    pub fn register(&self, body: &[u8]) -> Result<(StatusCode, String), ApiError> {
        let entry = DirectoryEntry::from_bytes(body)?;
        let id = entry.public.id();
        let created = self
            .store
            .put_directory(&id.0, entry.as_bytes())
            .map_err(internal)?;
        Ok((
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            id.to_hex(),
        ))
    }

    /// `GET /srs/v1/directory/{id}`.
    pub fn lookup(&self, id: &str) -> Result<Vec<u8>, ApiError> {
        self.store
            .directory(&hex_id(id)?)
            .map_err(internal)?
            .ok_or_else(|| ApiError::not_found("no such party"))
    }

    fn head(&self, record: &[u8; 32]) -> Result<Option<SignedHead>, ApiError> {
        let Some((version, hash)) = self.store.latest_head(record).map_err(internal)? else {
            return Ok(None);
        };
        Ok(Some(SignedHead::sign(
            &self.identity,
            sesphr_client::record::RecordId(*record),
            version,
            hash,
            now_ms(),
        )))
    }

    /// `POST /srs/v1/heads`: witnesses the owner's next manifest (version + 1,
    /// chained onto the previous) and returns the signed head.
    pub fn post_head(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let m = VerifiedManifest::from_bytes(body)?;
        let owner = m.owner.id();
        self.require_party(&owner.0)?;
        let record = m.record().0;
        if let Some((_, prev)) = self.store.latest_manifest(&record).map_err(internal)? {
            let prev = VerifiedManifest::from_bytes(&prev).map_err(internal)?;
            if m.version() != prev.version() + 1 {
                return Err(ApiError::conflict(
                    "version_conflict",
                    format!("latest version is {}", prev.version()),
                ));
            }
            m.verify_successor(&prev)?;
        }
        match self
            .store
            .insert_manifest(&record, m.version(), &owner.0, &m.hash(), m.as_bytes())
            .map_err(internal)?
        {
            Cas::Stored => {}
            Cas::Conflict(v) => {
                return Err(ApiError::conflict(
                    "version_conflict",
                    format!("latest version is {}", v.unwrap_or(0)),
                ))
            }
        }
        Ok(
            SignedHead::sign(&self.identity, m.record(), m.version(), m.hash(), now_ms())
                .as_bytes()
                .to_vec(),
        )
    }

    /// `GET /srs/v1/heads/{record}`: the signed latest head.
    pub fn get_head(&self, record: &str) -> Result<Vec<u8>, ApiError> {
        self.head(&hex_id(record)?)?
            .map(|h| h.as_bytes().to_vec())
            .ok_or_else(|| ApiError::not_found("no head for this record"))
    }

    /// `POST /srs/v1/grants`: stores an owner-signed grant and its `b2` share,
    /// checked against `B2`. A grant id is accepted once, ever.
    pub fn post_grant(&self, upload: &GrantUpload) -> Result<String, ApiError> {
        let grant = VerifiedGrant::from_bytes(&unhex(&upload.statement, "statement")?)?;
        let envelope = Envelope::from_bytes(&unhex(&upload.b2_envelope, "b2Envelope")?)?;
        let owner = grant.owner.id();
        self.require_party(&owner.0)?;
        match self.store.record_owner(&grant.record.0).map_err(internal)? {
            Some(o) if o == owner.0 => {}
            Some(_) => {
                return Err(ApiError::forbidden(
                    "not_owner",
                    "the record belongs to another party",
                ))
            }
            None => {
                return Err(ApiError::conflict(
                    "no_head",
                    "register the record's manifest head first",
                ))
            }
        }
        let share = grant.accept_srs_share(&self.identity, &envelope)?;
        let sealed = self.seal_b2(&grant.grant_id, &share)?;
        if !self
            .store
            .insert_grant(&grant.grant_id, &grant.record.0, grant.as_bytes(), &sealed)
            .map_err(internal)?
        {
            return Err(ApiError::conflict(
                "grant_id_used",
                "this grant id was already used",
            ));
        }
        tracing::info!(grant = %hex::encode(grant.grant_id), record = %grant.record.to_hex(), "grant stored");
        Ok(hex::encode(grant.grant_id))
    }

    /// `GET /srs/v1/records/{record}/grants`: the owner's grant list (token: `ListGrants`).
    pub fn list_grants(
        &self,
        record: &str,
        token: Option<&str>,
    ) -> Result<Vec<GrantListing>, ApiError> {
        let record = hex_id::<32>(record)?;
        self.owner_token(&record, token, Purpose::ListGrants)?;
        Ok(self
            .store
            .grants_for_record(&record)
            .map_err(internal)?
            .into_iter()
            .map(|g| GrantListing {
                statement: hex::encode(g.statement),
                revoked: g.sealed_b2.is_none(),
            })
            .collect())
    }

    fn owner_token(
        &self,
        record: &[u8; 32],
        token: Option<&str>,
        purpose: Purpose,
    ) -> Result<(), ApiError> {
        let t = self.token(token, purpose, record)?;
        match self.store.record_owner(record).map_err(internal)? {
            Some(o) if o == t.party.id().0 => Ok(()),
            _ => Err(ApiError::forbidden(
                "not_owner",
                "only the record's owner may do this",
            )),
        }
    }

    /// Appends to the audit log durably and returns the inclusion receipt.
    fn audit(
        &self,
        entry: AuditEntry,
        nonce: Option<([u8; 16], u64)>,
    ) -> Result<InclusionReceipt, ApiError> {
        self.writer.append(entry, nonce)
    }

    fn verified_grant(
        &self,
        statement: &[u8],
        id: &[u8; 16],
    ) -> Result<Arc<VerifiedGrant>, ApiError> {
        cached(&self.verified_grants, *id, || {
            VerifiedGrant::from_bytes(statement).map_err(internal)
        })
    }

    fn verified_manifest(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<Arc<VerifiedManifest>>, ApiError> {
        let key = (*record, version);
        let Some(bytes) = self.store.manifest(record, version).map_err(internal)? else {
            return Ok(None);
        };
        cached(&self.verified_manifests, key, || {
            VerifiedManifest::from_bytes(&bytes).map_err(internal)
        })
        .map(Some)
    }

    /// `POST /srs/v1/reencrypt`: a sealed, grantee-signed request in; the
    /// sealed answer out. Every decision is appended to the audit log before
    /// the answer leaves.
    pub fn reencrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        let (plain, answer_key) = envelope::open_request(&self.identity, sealed)?;
        let request = ReencryptRequest::from_bytes(&plain)?;
        let now = now_ms();
        let Some(row) = self.store.grant(&request.grant_id).map_err(internal)? else {
            // Audited too, but under zero ids: who asked, and for which record,
            // is unproven (no grant to check against), so it must not show in
            // any owner's listing.
            let entry = AuditEntry {
                timestamp: now,
                grant_id: request.grant_id,
                grantee: sesphr_client::identity::PartyId([0; 32]),
                record: sesphr_client::record::RecordId([0; 32]),
                section: sesphr_client::record::SectionId([0; 32]),
                version: request.version,
                decision: Decision::UnknownGrant,
            };
            self.audit(entry, None)?;
            return Err(ApiError::forbidden("unknown_grant", "no such grant"));
        };
        let grant = self.verified_grant(&row.statement, &request.grant_id)?;
        let mut spent = None;
        let decision = self.decide(&grant, &request, row.sealed_b2.as_deref(), now, &mut spent)?;
        let outcome = match decision {
            Ok((verified, share, manifest)) => {
                srs_reencrypt(&share, &grant, &verified, &manifest, now, &mut os_rng())
            }
            Err(d) => Err(d),
        };
        let decision = outcome.as_ref().err().copied().unwrap_or(Decision::Allowed);
        let receipt = self.audit(request.audit_entry(&grant, now, decision), spent)?;
        tracing::info!(grant = %hex::encode(grant.grant_id), version = request.version, decision = decision.code(), "re-encryption");
        let re = outcome.map_err(|d| {
            ApiError::forbidden(d.code(), format!("re-encryption refused: {}", d.code()))
        })?;
        let head = self
            .head(&grant.record.0)?
            .ok_or_else(|| internal("record without head"))?;
        let answer = ReencryptAnswer {
            grant_id: grant.grant_id,
            nonce: request.nonce,
            p2: re.p2,
            proof: re.proof,
            receipt,
            head,
        }
        .sign(&self.identity)
        .map_err(internal)?;
        Ok(answer_key.seal_answer(&answer)?)
    }

    /// The state checks, in order: signature, timestamp window, nonce,
    /// revoked, expired, owner-signed manifest of the requested version. Store
    /// failures are internal errors, never a decision.
    /// The nonce of a request that passed the signature and time checks is
    /// spent (`spent`), and made durable with the request's audit entry.
    fn decide(
        &self,
        grant: &VerifiedGrant,
        request: &ReencryptRequest,
        sealed_b2: Option<&[u8]>,
        now: u64,
        spent: &mut Option<([u8; 16], u64)>,
    ) -> Result<Result<Cleared, Decision>, ApiError> {
        let Ok(verified) = request.verify(grant) else {
            return Ok(Err(Decision::BadSignature));
        };
        if request.timestamp.abs_diff(now) > self.replay_window_ms {
            return Ok(Err(Decision::Replay));
        }
        if !self.nonces.spend(&request.nonce, now)? {
            return Ok(Err(Decision::Replay));
        }
        *spent = Some((request.nonce, now));
        let Some(sealed_b2) = sealed_b2 else {
            return Ok(Err(Decision::Revoked));
        };
        if grant.is_expired(now) {
            return Ok(Err(Decision::Expired));
        }
        let Some(manifest) = self.verified_manifest(&grant.record.0, request.version)? else {
            return Ok(Err(Decision::NotInManifest));
        };
        Ok(Ok((verified, self.open_b2(grant, sealed_b2)?, manifest)))
    }

    /// `POST /srs/v1/revocations`: deletes `b2`, tombstones the grant durably,
    /// then returns the signed receipt. A repeated revocation of a revoked
    /// grant gets its own receipt (the deletion it attests already holds).
    pub fn revoke(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let grant_id = Revocation::peek_grant_id(body)?;
        let row = self
            .store
            .grant(&grant_id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::not_found("no such grant"))?;
        let grant = VerifiedGrant::from_bytes(&row.statement).map_err(internal)?;
        let revocation = Revocation::verify(body, &grant)?;
        let receipt = RevocationReceipt::sign(&self.identity, &revocation, now_ms());
        if row.sealed_b2.is_none() {
            // Already deleted and tombstoned: the state this receipt attests holds.
            return Ok(receipt.as_bytes().to_vec());
        }
        self.store
            .revoke(&grant_id, revocation.as_bytes(), receipt.as_bytes())
            .map_err(internal)?;
        tracing::info!(grant = %hex::encode(grant_id), "grant revoked");
        Ok(receipt.as_bytes().to_vec())
    }

    /// `GET /srs/v1/audit/consistency/{first}/{second}`: proof that the log of
    /// size `second` extends the log of size `first`, with the signed head of
    /// size `second`. Public: it reveals only hashes.
    pub fn consistency(&self, first: u64, second: u64) -> Result<ConsistencyListing, ApiError> {
        let log = self
            .log
            .lock()
            .map_err(|_| internal("poisoned audit lock"))?;
        let (path, head) = log
            .consistency(&self.identity, first, second, now_ms())
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_range",
                    format!("need 0 < first <= second <= {}", log.len()),
                )
            })?;
        Ok(ConsistencyListing {
            path: path.iter().map(hex::encode).collect(),
            tree_head: hex::encode(head.as_bytes()),
        })
    }

    /// `GET /srs/v1/records/{record}/audit`: the owner's audit entries and the
    /// signed tree head (token: `ReadAudit`).
    pub fn read_audit(&self, record: &str, token: Option<&str>) -> Result<AuditListing, ApiError> {
        let record = hex_id::<32>(record)?;
        self.owner_token(&record, token, Purpose::ReadAudit)?;
        let entries = self.store.audit_for_record(&record).map_err(internal)?;
        let head = self
            .log
            .lock()
            .map_err(|_| internal("poisoned audit lock"))?
            .head(&self.identity, now_ms());
        Ok(AuditListing {
            entries: entries
                .into_iter()
                .map(|(i, e)| (i, hex::encode(e)))
                .collect(),
            tree_head: hex::encode(head.as_bytes()),
        })
    }
}
