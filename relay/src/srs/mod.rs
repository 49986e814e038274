//! The SRS (Setup and Re-encryption Server): public-key directory, grants
//! and their `b2` shares, manifest heads, re-encryption with proofs,
//! revocation and the audit log. It never holds a blob and never sees `b1`.
//!
//! Shared state lives in [`Srs`]: the SRS identity (its signing and HPKE
//! keys), the share vault, the store, the audit tree's leaf hashes (rebuilt
//! from the store at start), verification caches and rate limits. Every
//! handler is synchronous, runs on the blocking pool, and authorizes a
//! request completely before it writes anything durable.
//!
//! Several SRS processes may share one PostgreSQL database ([`store`] says
//! how each guarantee holds across them); the audit tree in memory is
//! caught up with the database before it signs a tree head or a proof.
//!
//! Modules: [`routes`] (one warp filter per route), [`store`] (the durable
//! state behind a trait; SQLite or PostgreSQL), [`audit_writer`] (group commit of the
//! audit log), [`shares`] (`b2` at rest), [`identity`] (the SRS seed file),
//! [`export`] (the whole audit log for an auditor).

pub mod audit_writer;
pub mod emergency;
pub mod export;
pub mod identity;
pub mod routes;
pub mod shares;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use sesphr_client::audit::{Decision, MemoryLog, SignedTreeHead};
use sesphr_client::envelope::{self, Envelope};
use sesphr_client::grant::{SrsShare, VerifiedGrant};
use sesphr_client::identity::{DirectoryEntry, Identity};
use sesphr_client::manifest::{SignedHead, VerifiedManifest};
use sesphr_client::merkle::Hash;
use sesphr_client::primitives::os_rng;
use sesphr_client::record::RecordId;
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptRequest, VerifiedRequest};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::token::{Purpose, RequestToken};
use warp::http::StatusCode;

use crate::config::Quotas;
use crate::http::auth::{check_token, spend_token, ReplaySet};
use crate::http::error::{hex_id, unhex, ApiError};
use crate::http::limits::RateLimiter;
use crate::http::Peer;
use crate::now_ms;
use audit_writer::{AuditWriter, Outcome};
use shares::ShareVault;
use store::{AuditWrite, Cas, GrantInsert, SrsStore};

/// Size at which a verification cache starts over.
const CACHE_LIMIT: usize = 1 << 16;
/// Refused requests kept in memory for inspection (never in the audit log).
const UNATTRIBUTED_KEPT: usize = 1024;

/// Objects whose signatures were checked, by key.
type Cache<K, V> = Mutex<HashMap<K, Arc<V>>>;

/// What a request that passed every check re-encrypts with.
type Cleared = (SrsShare, Arc<VerifiedManifest>);

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

/// Re-encryption requests refused before anything about them was proven
/// (no such grant, a signature that does not verify, a replay): they are
/// attributable to nobody, so they never enter the audit log, where they
/// would appear to come from the grantee they name. The SRS counts them and
/// keeps the latest few in memory, for operators.
#[derive(Clone, Debug, Default)]
pub struct Unattributed {
    /// Refusals by decision, since start.
    pub counts: HashMap<&'static str, u64>,
    /// The latest refusals: (SRS time, decision, grant id claimed).
    pub recent: VecDeque<(u64, &'static str, [u8; 16])>,
}

/// The SRS service state.
pub struct Srs {
    identity: Arc<Identity>,
    vault: ShareVault,
    store: Arc<dyn SrsStore>,
    log: Arc<Mutex<MemoryLog>>,
    writer: AuditWriter,
    /// Request nonces of the replay window seen by this process: a filter
    /// in front of the database, whose copy (committed with each request's
    /// audit entry) is what refuses a replay to another process.
    nonces: ReplaySet,
    /// Grant statements already verified, by record and id (statements
    /// never change; whether a grant is revoked is read from the store on
    /// every request).
    verified_grants: Cache<([u8; 32], [u8; 16]), VerifiedGrant>,
    /// Manifests already verified, by record and version (stored manifests
    /// never change).
    verified_manifests: Cache<([u8; 32], u64), VerifiedManifest>,
    /// Writes per party (registrations, heads, grants, revocations).
    writes: RateLimiter,
    /// Re-encryption requests per grantee.
    reads: RateLimiter,
    /// New registrations per client address (a registration is self-signed
    /// by a key anyone can make, so the party cannot be the key).
    registrations: RateLimiter,
    unattributed: Mutex<Unattributed>,
    /// The clock emergency waits run on ([`emergency::system_clock`]).
    emergency_clock: emergency::Clock,
    /// Serializes changes of emergency tracks (read, check, write: the
    /// write side) against re-encryptions on emergency grants, which hold
    /// the read side from their state check through their audit entry, so
    /// a denial never lands between a read's check and its answer.
    emergency_lock: RwLock<()>,
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

fn not_owner() -> ApiError {
    ApiError::forbidden("not_owner", "only the record's owner may do this")
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

/// A proof about the audit log: a consistency proof between two sizes, or
/// the inclusion proof of one past entry.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofListing {
    /// RFC 9162 consistency or audit path, hex hashes.
    pub path: Vec<String>,
    /// Signed tree head of the (larger) size the path leads to, hex.
    pub tree_head: String,
}

/// The owner's view of a record's audit log.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditListing {
    /// `(index, entry hex)` pairs, in log order.
    pub entries: Vec<(u64, String)>,
    /// The audit path of each entry (same order) under `tree_head`.
    pub paths: Vec<Vec<String>>,
    /// Signed tree head the entries are listed under, hex.
    pub tree_head: String,
}

impl Srs {
    /// Starts the SRS with its identity and store; rebuilds the audit tree.
    pub fn new(
        identity: Identity,
        store: Arc<dyn SrsStore>,
        replay_window_ms: u64,
        quotas: Quotas,
    ) -> Result<Srs, ApiError> {
        // Clients bound an emergency view's opening by this much slack.
        if replay_window_ms > sesphr_client::emergency::MAX_REPLAY_WINDOW_MS {
            return Err(ApiError::internal(
                "the replay window is longer than emergency views allow (5 minutes)",
            ));
        }
        let entries = store.audit_entries().map_err(internal)?;
        // A store whose entries do not chain is not the log this SRS wrote:
        // answering on top of it would sign heads over a tampered history.
        let log = MemoryLog::from_entries(entries.iter().map(Vec::as_slice)).map_err(|e| {
            ApiError::internal(format!("the stored audit log does not check out: {e}"))
        })?;
        let log = Arc::new(Mutex::new(log));
        let vault = ShareVault::new(&identity);
        let identity = Arc::new(identity);
        let forget = 2 * replay_window_ms;
        let nonces = ReplaySet::new(
            replay_window_ms,
            store
                .nonces_since(now_ms().saturating_sub(forget))
                .map_err(internal)?,
        );
        let writer = AuditWriter::start(identity.clone(), store.clone(), log.clone(), forget)
            .map_err(internal)?;
        Ok(Srs {
            identity,
            vault,
            store,
            log,
            writer,
            nonces,
            verified_grants: Mutex::new(HashMap::new()),
            verified_manifests: Mutex::new(HashMap::new()),
            writes: RateLimiter::new(quotas.writes_per_sec, quotas.write_burst),
            reads: RateLimiter::new(quotas.reads_per_sec, quotas.read_burst),
            registrations: RateLimiter::new(quotas.writes_per_sec, quotas.write_burst),
            unattributed: Mutex::new(Unattributed::default()),
            emergency_clock: emergency::system_clock(),
            emergency_lock: RwLock::new(()),
            replay_window_ms,
        })
    }

    /// Opens the store at `at` and starts the SRS on it ([`Srs::new`]), on
    /// a thread of its own: the blocking PostgreSQL client runs a runtime
    /// of its own, which may not start on a thread that drives async tasks.
    pub fn open(
        identity: Identity,
        at: &crate::db::DbLocation,
        wrap: impl FnOnce(Arc<dyn SrsStore>) -> Arc<dyn SrsStore> + Send,
        replay_window_ms: u64,
        quotas: Quotas,
    ) -> Result<Srs, crate::config::StartError> {
        use crate::config::StartError;
        std::thread::scope(|s| {
            s.spawn(move || {
                let store =
                    store::SqlStore::open(at).map_err(|e| StartError::Setup(e.to_string()))?;
                Srs::new(identity, wrap(Arc::new(store)), replay_window_ms, quotas)
                    .map_err(|e| StartError::Setup(e.message))
            })
            .join()
            .unwrap_or_else(|_| Err(StartError::Setup("the SRS start panicked".into())))
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

    /// Counts of re-encryption requests refused unattributed, and the latest
    /// few (for operators and tests).
    pub fn unattributed(&self) -> Result<Unattributed, ApiError> {
        Ok(self
            .unattributed
            .lock()
            .map_err(|_| internal("poisoned lock"))?
            .clone())
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

    /// `POST /srs/v1/directory`: registers a self-signed directory entry
    /// (new registrations are rate-limited per client address).
    pub fn register(&self, peer: Peer, body: &[u8]) -> Result<(StatusCode, String), ApiError> {
        let entry = DirectoryEntry::from_bytes(body)?;
        let id = entry.public.id();
        if self.store.directory(&id.0).map_err(internal)?.is_some() {
            return Ok((StatusCode::OK, id.to_hex()));
        }
        self.registrations.take(&peer.key(), now_ms())?;
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
            RecordId(*record),
            version,
            hash,
            now_ms(),
        )))
    }

    /// `POST /srs/v1/heads`: witnesses the owner's next manifest (version + 1,
    /// chained onto the previous) and returns `201` with its signed head.
    /// A manifest already witnessed at its version (a retry after a lost
    /// reply) returns `200` with the latest head, so the owner can push every
    /// version the SRS missed without knowing which it has.
    pub fn post_head(&self, body: &[u8]) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let m = VerifiedManifest::from_bytes(body)?;
        let owner = m.owner.id();
        self.require_party(&owner.0)?;
        let record = m.record().0;
        if let Some(done) = self.witnessed_again(&m)? {
            return Ok(done);
        }
        self.writes.take(&owner.0, now_ms())?;
        if let Some((_, prev)) = self.store.latest_manifest(&record).map_err(internal)? {
            let prev = VerifiedManifest::from_bytes(&prev).map_err(internal)?;
            if m.version() != prev.version() + 1 {
                return Err(version_conflict(prev.version()));
            }
            m.verify_successor(&prev)?;
        } else if m.version() != 1 {
            return Err(version_conflict(0));
        }
        match self
            .store
            .insert_manifest(&record, m.version(), &owner.0, &m.hash(), m.as_bytes())
            .map_err(internal)?
        {
            Cas::Stored => {}
            Cas::Conflict(v) => {
                // A racing identical registration won: this one is a retry.
                if let Some(done) = self.witnessed_again(&m)? {
                    return Ok(done);
                }
                return Err(version_conflict(v.unwrap_or(0)));
            }
        }
        let head = SignedHead::sign(&self.identity, m.record(), m.version(), m.hash(), now_ms());
        Ok((StatusCode::CREATED, head.as_bytes().to_vec()))
    }

    /// `200` and the latest head if exactly this manifest is already stored.
    fn witnessed_again(
        &self,
        m: &VerifiedManifest,
    ) -> Result<Option<(StatusCode, Vec<u8>)>, ApiError> {
        let record = m.record().0;
        if self
            .store
            .manifest_hash(&record, m.version())
            .map_err(internal)?
            != Some(m.hash())
        {
            return Ok(None);
        }
        let head = self
            .head(&record)?
            .ok_or_else(|| internal("stored manifest without head"))?;
        Ok(Some((StatusCode::OK, head.as_bytes().to_vec())))
    }

    /// `GET /srs/v1/heads/{record}`: the signed latest head.
    pub fn get_head(&self, record: &str) -> Result<Vec<u8>, ApiError> {
        self.head(&hex_id(record)?)?
            .map(|h| h.as_bytes().to_vec())
            .ok_or_else(|| ApiError::not_found("no head for this record"))
    }

    /// `POST /srs/v1/grants`: stores an owner-signed grant and its `b2` share,
    /// checked against `B2`, under `(record, grant id)`; a record's grant id
    /// is accepted once, ever (`201`), and the same statement again is a
    /// retry (`200`).
    pub fn post_grant(&self, upload: &GrantUpload) -> Result<(StatusCode, String), ApiError> {
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
        let now = now_ms();
        if grant.is_expired(now) {
            return Err(ApiError::bad_request(
                "already_expired",
                "the grant's expiry is not in the future (SRS clock)",
            ));
        }
        let share = grant.accept_srs_share(&self.identity, &envelope)?;
        self.writes.take(&owner.0, now)?;
        let sealed = self.vault.seal(&grant.grant_id, &share)?;
        let id = hex::encode(grant.grant_id);
        match self
            .store
            .insert_grant(&grant.grant_id, &grant.record.0, grant.as_bytes(), &sealed)
            .map_err(internal)?
        {
            GrantInsert::Stored => {
                tracing::info!(grant = %id, record = %grant.record.to_hex(), "grant stored");
                Ok((StatusCode::CREATED, id))
            }
            GrantInsert::Same => Ok((StatusCode::OK, id)),
            GrantInsert::Taken => Err(ApiError::conflict(
                "grant_id_used",
                "this record already used this grant id",
            )),
        }
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

    /// Checks an owner's token for `record`: signature, purpose, subject and
    /// time, then that the signer owns the record, and only then spends the
    /// nonce (durably), so a stranger's token writes nothing.
    fn owner_token(
        &self,
        record: &[u8; 32],
        token: Option<&str>,
        purpose: Purpose,
    ) -> Result<RequestToken, ApiError> {
        let t = check_token(token, purpose, record, self.replay_window_ms)?;
        match self.store.record_owner(record).map_err(internal)? {
            Some(o) if o == t.party.id().0 => {}
            _ => return Err(not_owner()),
        }
        spend_token(&t, self.replay_window_ms, |nonce, now, forget| {
            self.store.use_nonce(nonce, now, forget).map_err(internal)
        })?;
        Ok(t)
    }

    /// The audit tree, caught up with the entries other SRS processes on
    /// the same database appended: what every signed tree head and proof
    /// of this process is made from.
    fn synced_log(&self) -> Result<std::sync::MutexGuard<'_, MemoryLog>, ApiError> {
        let mut log = self
            .log
            .lock()
            .map_err(|_| internal("poisoned audit lock"))?;
        audit_writer::catch_up(self.store.as_ref(), &mut log).map_err(internal)?;
        Ok(log)
    }

    fn verified_grant(
        &self,
        record: &[u8; 32],
        statement: &[u8],
        id: &[u8; 16],
    ) -> Result<Arc<VerifiedGrant>, ApiError> {
        cached(&self.verified_grants, (*record, *id), || {
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

    /// Counts a refusal that proves nothing about who asked, and refuses.
    fn unattributed_refusal(&self, decision: Decision, grant_id: [u8; 16]) -> ApiError {
        if let Ok(mut u) = self.unattributed.lock() {
            *u.counts.entry(decision.code()).or_default() += 1;
            if u.recent.len() >= UNATTRIBUTED_KEPT {
                u.recent.pop_front();
            }
            u.recent.push_back((now_ms(), decision.code(), grant_id));
        }
        tracing::debug!(
            decision = decision.code(),
            "unattributed re-encryption request refused"
        );
        refusal(decision)
    }

    /// `POST /srs/v1/reencrypt`: a sealed, grantee-signed request in; the
    /// sealed answer out.
    ///
    /// Only a proven request is audited: one whose grant exists and whose
    /// grantee signed it, fresh (timestamp within the window, nonce unseen).
    /// Its decision (`revoked`, `expired`, `not_in_manifest`,
    /// `before_from_version`, or the answer) is appended under the grant's
    /// own record before the reply leaves. Anything less proves nothing
    /// about who asked (the relay may replay a sealed request, anyone may
    /// name any grant id) and is refused without an audit entry
    /// ([`Unattributed`]).
    pub fn reencrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        let (plain, answer_key) = envelope::open_request(&self.identity, sealed)?;
        let request = ReencryptRequest::from_bytes(&plain)?;
        let now = now_ms();
        let Some(row) = self
            .store
            .grant(&request.record.0, &request.grant_id)
            .map_err(internal)?
        else {
            return Err(self.unattributed_refusal(Decision::UnknownGrant, request.grant_id));
        };
        let grant = self.verified_grant(&request.record.0, &row.statement, &request.grant_id)?;
        let Ok(verified) = request.verify(&grant) else {
            return Err(self.unattributed_refusal(Decision::BadSignature, request.grant_id));
        };
        if request.timestamp.abs_diff(now) > self.replay_window_ms
            || !self.nonces.spend(&request.nonce, now)?
        {
            return Err(self.unattributed_refusal(Decision::Replay, request.grant_id));
        }
        // Proven from here on: the grantee asked, now.
        self.reads.take(&grant.grantee.id().0, now)?;
        // An emergency grant's state is checked and the answer audited
        // under the read side of the emergency lock: a decision (the write
        // side) comes wholly before or wholly after this answer.
        let _emergency = match grant.emergency_wait_ms {
            Some(_) => Some(
                self.emergency_lock
                    .read()
                    .map_err(|_| internal("poisoned emergency lock"))?,
            ),
            None => None,
        };
        // Decided, then audited in the transaction that checks again that
        // an answer's grant still answers: a revocation or an emergency
        // change (in any process) that came first makes it decide again.
        let mut sealed_b2 = row.sealed_b2;
        let mut again = 0;
        let (outcome, decision, receipt) = loop {
            let emergency_now = self.emergency_now();
            let outcome = self
                .decide(&grant, &verified, sealed_b2.as_deref(), now)?
                .and_then(|(share, manifest)| {
                    srs_reencrypt(&share, &grant, &verified, &manifest, now, &mut os_rng())
                });
            let decision = outcome.as_ref().err().copied().unwrap_or(Decision::Allowed);
            let write = AuditWrite {
                nonce: Some((request.nonce, now)),
                answers: outcome.is_ok().then(|| store::Answers {
                    record: grant.record.0,
                    grant_id: grant.grant_id,
                    emergency: grant.emergency_wait_ms.map(|w| (w, emergency_now)),
                }),
            };
            match self
                .writer
                .append(verified.audit_entry(&grant, now, decision), write)?
            {
                Outcome::Stored(receipt) => break (outcome, decision, *receipt),
                Outcome::Replay => {
                    return Err(self.unattributed_refusal(Decision::Replay, request.grant_id))
                }
                Outcome::Moved if again < 4 => {
                    again += 1;
                    sealed_b2 = self
                        .store
                        .grant(&request.record.0, &request.grant_id)
                        .map_err(internal)?
                        .and_then(|r| r.sealed_b2);
                }
                Outcome::Moved => return Err(internal("the grant kept changing")),
            }
        };
        tracing::info!(grant = %hex::encode(grant.grant_id), version = request.version, decision = decision.code(), "re-encryption");
        let re = outcome.map_err(refusal)?;
        let head = self
            .head(&grant.record.0)?
            .ok_or_else(|| internal("record without head"))?;
        let answer = re
            .answer(receipt, head)
            .sign(&self.identity)
            .map_err(internal)?;
        Ok(answer_key.seal_answer(&answer)?)
    }

    /// The state checks of a proven request, in order: revoked, expired,
    /// an emergency grant not open (dormant, waiting or denied), an
    /// owner-signed manifest of the requested version. Store failures are
    /// internal errors, never a decision.
    fn decide(
        &self,
        grant: &VerifiedGrant,
        request: &VerifiedRequest,
        sealed_b2: Option<&[u8]>,
        now: u64,
    ) -> Result<Result<Cleared, Decision>, ApiError> {
        let Some(sealed_b2) = sealed_b2 else {
            return Ok(Err(Decision::Revoked));
        };
        if grant.is_expired(now) {
            return Ok(Err(Decision::Expired));
        }
        if let Some(dormant_or_waiting) = self.emergency_refusal(grant)? {
            return Ok(Err(dormant_or_waiting));
        }
        let Some(manifest) = self.verified_manifest(&grant.record.0, request.version)? else {
            return Ok(Err(Decision::NotInManifest));
        };
        Ok(Ok((self.vault.open(grant, sealed_b2)?, manifest)))
    }

    /// `POST /srs/v1/revocations`: deletes `b2`, tombstones the grant durably,
    /// then returns the signed receipt. A repeated revocation of a revoked
    /// grant gets its own receipt (the deletion it attests already holds).
    pub fn revoke(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let (grant_id, record) = Revocation::peek_grant_id(body)?;
        let row = self
            .store
            .grant(&record.0, &grant_id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::not_found("no such grant"))?;
        let grant = VerifiedGrant::from_bytes(&row.statement).map_err(internal)?;
        let revocation = Revocation::verify(body, &grant)?;
        let receipt = RevocationReceipt::sign(&self.identity, &revocation, now_ms());
        if row.sealed_b2.is_none() {
            // Already deleted and tombstoned: the state this receipt attests holds.
            return Ok(receipt.as_bytes().to_vec());
        }
        self.writes.take(&grant.owner.id().0, now_ms())?;
        self.store
            .revoke(
                &record.0,
                &grant_id,
                revocation.as_bytes(),
                receipt.as_bytes(),
            )
            .map_err(internal)?;
        tracing::info!(grant = %hex::encode(grant_id), "grant revoked");
        Ok(receipt.as_bytes().to_vec())
    }

    /// `GET /srs/v1/audit/consistency/{first}/{second}`: proof that the log of
    /// size `second` extends the log of size `first`, with the signed head of
    /// size `second`. Public: it reveals only hashes.
    pub fn consistency(&self, first: &str, second: &str) -> Result<ProofListing, ApiError> {
        self.proof(
            first,
            second,
            "0 < first <= second",
            |log, first, second| log.consistency(&self.identity, first, second, now_ms()),
        )
    }

    /// `GET /srs/v1/audit/inclusion/{index}/{tree_size}`: the audit path of
    /// entry `index` in the log of its first `tree_size` entries, with the
    /// signed head of that size. Public: it reveals only hashes (the entry
    /// itself is the asker's).
    pub fn inclusion(&self, index: &str, tree_size: &str) -> Result<ProofListing, ApiError> {
        self.proof(index, tree_size, "index < tree_size", |log, index, size| {
            Ok((
                log.inclusion_path(index, size)?,
                log.head_at(&self.identity, size, now_ms())?,
            ))
        })
    }

    /// A proof over two decimal sizes of the log, with its signed head; any
    /// bad number or range is `400 invalid_range` (`need`: the rule).
    fn proof(
        &self,
        a: &str,
        b: &str,
        need: &str,
        make: impl FnOnce(&MemoryLog, u64, u64) -> sesphr_client::Result<(Vec<Hash>, SignedTreeHead)>,
    ) -> Result<ProofListing, ApiError> {
        let log = self.synced_log()?;
        let range = || {
            ApiError::bad_request(
                "invalid_range",
                format!("need decimal {need} <= {}", log.len()),
            )
        };
        let (a, b) = (
            a.parse().map_err(|_| range())?,
            b.parse().map_err(|_| range())?,
        );
        let (path, head) = make(&log, a, b).map_err(|_| range())?;
        Ok(ProofListing {
            path: path.iter().map(hex::encode).collect(),
            tree_head: hex::encode(head.as_bytes()),
        })
    }

    /// `GET /srs/v1/records/{record}/audit`: the owner's audit entries, each
    /// with its audit path, under one signed tree head (token: `ReadAudit`).
    ///
    /// The size is fixed first and the entries read after: every entry below
    /// it is committed (the tree grows only after a commit), so none of them
    /// is missed; entries appended meanwhile are left for the next listing.
    pub fn read_audit(&self, record: &str, token: Option<&str>) -> Result<AuditListing, ApiError> {
        let record = hex_id::<32>(record)?;
        self.owner_token(&record, token, Purpose::ReadAudit)?;
        let size = self.synced_log()?.len() as u64;
        let entries = self.store.audit_for_record(&record).map_err(internal)?;
        let log = self
            .log
            .lock()
            .map_err(|_| internal("poisoned audit lock"))?;
        let head = log
            .head_at(&self.identity, size, now_ms())
            .map_err(internal)?;
        let mut listed = Vec::new();
        let mut paths = Vec::new();
        for (i, e) in entries.into_iter().filter(|&(i, _)| i < size) {
            let path = log.inclusion_path(i, size).map_err(internal)?;
            listed.push((i, hex::encode(e)));
            paths.push(path.iter().map(hex::encode).collect());
        }
        Ok(AuditListing {
            entries: listed,
            paths,
            tree_head: hex::encode(head.as_bytes()),
        })
    }
}

fn version_conflict(latest: u64) -> ApiError {
    ApiError::conflict("version_conflict", format!("latest version is {latest}"))
}

fn refusal(d: Decision) -> ApiError {
    ApiError::forbidden(d.code(), format!("re-encryption refused: {}", d.code()))
}
