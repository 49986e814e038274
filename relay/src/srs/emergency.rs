//! Emergency access at the SRS: an emergency grant (an owner-signed grant
//! statement of format 2, carrying `emergency{wait}`) is stored like any
//! grant but held dormant. The grantee's signed activation starts its wait
//! on the SRS's emergency clock; the owner lists activations at once and
//! may approve (ends the wait) or deny (closes it until a new activation).
//! [`Srs::reencrypt`] answers on such a grant only while
//! [`EmergencyTrack::answers`], and files every decision about it under
//! purpose of use `BTG` (audit entry format 3).
//!
//! The state is one row per activated grant (`emergency` table): the
//! latest activation, when it arrived, and the owner's verdict on it.
//! Every change runs under one lock, after the signature, freshness and
//! authorization checks, so a refused activation or decision writes
//! nothing but (once proven: signed by its party, fresh) its spent nonce,
//! which is spent whether the state takes it or not: a grantee's activation
//! refused while another one waits can never start a wait later.

use std::sync::Arc;

use bytes::Bytes;
use sesphr_client::emergency::{
    EmergencyActivation, EmergencyDecision, EmergencyState, EmergencyTrack, Verdict,
};
use sesphr_client::emergency_view::{
    EmergencyReceipt, EmergencyView as SignedView, ViewActivation, ViewEntry, ViewState,
};
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::identity::PartyId;
use sesphr_client::record::RecordId;
use sesphr_client::token::Purpose;
use warp::http::StatusCode;
use warp::Filter;

use super::store::{lock_audit, GrantRow, SqlStore, StoreError};
use super::{internal, not_owner, Srs};
use crate::config::Limits;
use crate::db::{DbError, Tx};
use crate::http::auth::{check_token, spend_token};
use crate::http::error::{hex_id, ApiError};
use crate::http::{blocking, json, octet_body, token};
use crate::now_ms;

/// The table of emergency tracks (created with the SRS schema), and the
/// append-only history of every activation and decision the SRS took
/// (`kind` 1: an activation, 2: a decision; `signed`: its signed bytes;
/// `at`: SRS system clock, ms). The track row is replaced as the state
/// moves on; the history keeps what replaced it, written in the same
/// transaction, so an activation or denial is never lost from the record.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS emergency (record BLOB NOT NULL,
         grant_id BLOB NOT NULL, activation BLOB NOT NULL, activated_at INTEGER NOT NULL,
         verdict INTEGER, decision BLOB, PRIMARY KEY (record, grant_id));
     CREATE TABLE IF NOT EXISTS emergency_history (seq INTEGER PRIMARY KEY AUTOINCREMENT,
         record BLOB NOT NULL, grant_id BLOB NOT NULL, kind INTEGER NOT NULL,
         at INTEGER NOT NULL, signed BLOB NOT NULL);";

/// The clock emergency waits run on (ms since the Unix epoch).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock: what every deployment runs on.
pub fn system_clock() -> Clock {
    Arc::new(now_ms)
}

/// TEST ONLY: a clock that runs `factor` times faster than the system
/// clock from the moment it is made (an hour's wait passes in a second at
/// 3600), for end-to-end tests of the wait (`--test-only-emergency-clock-speedup`).
pub fn sped_up_clock(factor: u64) -> Clock {
    let start = now_ms();
    Arc::new(move || start + now_ms().saturating_sub(start).saturating_mul(factor))
}

/// A stored track: the activation bytes and the state machine's row.
#[derive(Debug, Clone)]
pub struct TrackRow {
    /// The latest activation, as the grantee signed it.
    pub activation: Vec<u8>,
    /// Its hash, its arrival (SRS clock) and the owner's verdict.
    pub track: EmergencyTrack,
    /// The owner's signed decision, if any.
    pub decision: Option<Vec<u8>>,
}

/// The durable emergency state.
pub trait EmergencyStore: Send + Sync {
    /// The track of one grant.
    fn track(&self, record: &[u8; 32], grant_id: &[u8; 16])
        -> Result<Option<TrackRow>, StoreError>;
    /// The grant's latest owner decision (its signed bytes), from the
    /// history: it outlives the track row a new activation replaces.
    fn last_decision(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores the track of one grant (replacing the previous one) and
    /// appends what moved it (the decision if the row has one, else the
    /// activation) to the history, atomically, under the audit log's lock,
    /// if the stored track is still `expected` (what the change was
    /// decided on); `false`, and nothing written, if another request (in
    /// any process) changed it first.
    fn put_track(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        expected: Option<&TrackRow>,
        row: &TrackRow,
    ) -> Result<bool, StoreError>;
}

/// The track of one grant, read in the caller's transaction.
pub(crate) fn read_track(
    tx: &mut dyn Tx,
    record: &[u8; 32],
    grant_id: &[u8; 16],
) -> Result<Option<TrackRow>, DbError> {
    let Some(r) = tx.row(
        "SELECT activation, activated_at, verdict, decision FROM emergency
         WHERE record = $1 AND grant_id = $2",
        &[record, grant_id],
    )?
    else {
        return Ok(None);
    };
    let activation: Vec<u8> = r.get(0)?;
    // The stored bytes were verified before they were stored; their hash
    // is recomputed from them, never stored apart from them.
    let hash = EmergencyActivation::payload_hash(&activation)
        .map_err(|e| DbError::new(format!("stored activation: {e}")))?;
    let verdict = match r.get::<Option<i64>>(2)? {
        None => None,
        Some(v) => Some(
            u8::try_from(v)
                .ok()
                .and_then(Verdict::from_u8)
                .ok_or_else(|| DbError::new("stored verdict unknown"))?,
        ),
    };
    Ok(Some(TrackRow {
        activation,
        track: EmergencyTrack {
            activation: hash,
            activated_at: r.get(1)?,
            verdict,
        },
        decision: r.get(3)?,
    }))
}

/// Whether two tracks are the same stored state.
fn same_track(a: Option<&TrackRow>, b: Option<&TrackRow>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.activation == b.activation && a.track == b.track && a.decision == b.decision
        }
        _ => false,
    }
}

impl EmergencyStore for SqlStore {
    fn track(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<TrackRow>, StoreError> {
        self.tx(|tx| read_track(tx, record, grant_id))
    }

    fn last_decision(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.tx(|tx| {
            tx.value(
                "SELECT signed FROM emergency_history WHERE record = $1 AND grant_id = $2
                 AND kind = 2 ORDER BY seq DESC LIMIT 1",
                &[record, grant_id],
            )
        })
    }

    fn put_track(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        expected: Option<&TrackRow>,
        row: &TrackRow,
    ) -> Result<bool, StoreError> {
        let (kind, signed) = match &row.decision {
            Some(d) => (2i64, d),
            None => (1i64, &row.activation),
        };
        let engine = self.engine();
        self.tx(|tx| {
            lock_audit(tx, engine)?;
            if !same_track(read_track(tx, record, grant_id)?.as_ref(), expected) {
                return Ok(false);
            }
            tx.exec(
                "INSERT INTO emergency (record, grant_id, activation, activated_at, verdict, decision)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (record, grant_id) DO UPDATE SET activation = excluded.activation,
                 activated_at = excluded.activated_at, verdict = excluded.verdict,
                 decision = excluded.decision",
                &[
                    record,
                    grant_id,
                    &row.activation,
                    &row.track.activated_at,
                    &row.track.verdict.map(|v| v as u8 as i64),
                    &row.decision,
                ],
            )?;
            tx.exec(
                "INSERT INTO emergency_history (record, grant_id, kind, at, signed)
                 VALUES ($1, $2, $3, $4, $5)",
                &[record, grant_id, &kind, &crate::now_ms(), signed],
            )?;
            Ok(true)
        })
    }
}

/// One emergency grant's state, as the owner's listing and the grantee's
/// status show it (times on the SRS's emergency clock, ms). Plain JSON for
/// reading; what a client relies on is the signed view beside it.
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyView {
    /// The grant, hex.
    pub grant_id: String,
    /// `dormant`, `waiting`, `open` or `denied`.
    pub state: &'static str,
    /// The wait the owner signed, ms.
    pub wait_ms: u64,
    /// The latest activation as the grantee signed it, hex (the owner
    /// verifies it against the grant, so the SRS cannot invent one).
    pub activation: Option<String>,
    /// When it arrived.
    pub activated_at: Option<u64>,
    /// When the wait ends (`waiting` only).
    pub opens_at: Option<u64>,
    /// Whether the owner approved (`open` only).
    pub approved: bool,
    /// The SRS's emergency clock now.
    pub now: u64,
}

/// A grantee's status, an activation's or a decision's answer: the grant's
/// state, the SRS-signed view of it (bound to the request answered) and,
/// for a decision, the SRS-signed receipt.
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyAnswer {
    /// The state, plain.
    #[serde(flatten)]
    pub state: EmergencyView,
    /// The `EmergencyView` (kind `0x20`) of this grant, hex.
    pub view: String,
    /// The `EmergencyReceipt` (kind `0x21`) of a decision, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// The owner's listing: every live emergency grant of the record, plain,
/// and the SRS-signed view of them all (bound to the listing token).
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyListing {
    /// The `EmergencyView` (kind `0x20`), hex.
    pub view: String,
    /// The grants, plain (with each latest activation's signed bytes).
    pub grants: Vec<EmergencyView>,
}

/// The signed view's entry of one grant (see `sesphr_client::emergency_view`).
fn entry(
    grant: &VerifiedGrant,
    row: Option<&TrackRow>,
    last_decision: Option<&[u8]>,
    now: u64,
) -> Result<ViewEntry, ApiError> {
    let wait = grant.emergency_wait_ms.unwrap_or(0);
    let state = EmergencyTrack::state(row.map(|r| &r.track), wait, now);
    let activation = match row {
        None => None,
        Some(r) => {
            let stored = EmergencyActivation::stored(&r.activation).map_err(internal)?;
            Some(ViewActivation {
                hash: stored.hash,
                timestamp: stored.timestamp,
                activated_at: r.track.activated_at,
                opens_at: r.track.activated_at.saturating_add(wait),
            })
        }
    };
    let last_decision = last_decision
        .map(EmergencyDecision::payload_hash)
        .transpose()
        .map_err(internal)?;
    let (state, approved) = match state {
        EmergencyState::Dormant => (ViewState::Dormant, false),
        EmergencyState::Waiting { .. } => (ViewState::Waiting, false),
        EmergencyState::Open { approved, .. } => (ViewState::Open, approved),
        EmergencyState::Denied { .. } => (ViewState::Denied, false),
    };
    Ok(ViewEntry {
        grant_id: grant.grant_id,
        state,
        approved,
        wait_ms: wait,
        activation,
        last_decision,
    })
}

fn view(grant: &VerifiedGrant, row: Option<&TrackRow>, now: u64) -> EmergencyView {
    let wait = grant.emergency_wait_ms.unwrap_or(0);
    let state = EmergencyTrack::state(row.map(|r| &r.track), wait, now);
    let (opens_at, approved) = match state {
        EmergencyState::Waiting { opens_at, .. } => (Some(opens_at), false),
        EmergencyState::Open { approved, .. } => (None, approved),
        _ => (None, false),
    };
    EmergencyView {
        grant_id: hex::encode(grant.grant_id),
        state: state.name(),
        wait_ms: wait,
        activation: row.map(|r| hex::encode(&r.activation)),
        activated_at: row.map(|r| r.track.activated_at),
        opens_at,
        approved,
        now,
    }
}

fn refused(r: sesphr_client::emergency::Refusal) -> ApiError {
    let message = match r {
        sesphr_client::emergency::Refusal::AlreadyActivated => {
            "this emergency grant is already activated (waiting or open)"
        }
        sesphr_client::emergency::Refusal::NotActivated => {
            "this emergency grant has no activation to decide on"
        }
        sesphr_client::emergency::Refusal::ActivationMismatch => {
            "the decision names another activation than the latest"
        }
        sesphr_client::emergency::Refusal::AlreadyDecided => {
            "this activation is already decided that way or denied"
        }
        sesphr_client::emergency::Refusal::StaleActivation => {
            "the activation follows another decision than the grant's latest: ask again"
        }
    };
    ApiError::conflict(r.code(), message)
}

fn replay() -> ApiError {
    ApiError::conflict(
        "replay",
        "this activation or decision was already used, or its time is outside the replay window",
    )
}

impl Srs {
    /// The SRS's emergency clock now.
    pub(crate) fn emergency_now(&self) -> u64 {
        (self.emergency_clock)()
    }

    /// Replaces the clock emergency waits run on (tests; see [`sped_up_clock`]).
    pub fn with_emergency_clock(mut self, clock: Clock) -> Srs {
        self.emergency_clock = clock;
        self
    }

    /// The signed view of `grants` (with their tracks) for `requester`'s
    /// request with `nonce`, at `now`.
    fn signed_view(
        &self,
        record: &[u8; 32],
        requester: &PartyId,
        nonce: [u8; 16],
        now: u64,
        grants: &[(&VerifiedGrant, Option<&TrackRow>)],
    ) -> Result<String, ApiError> {
        let mut entries = Vec::with_capacity(grants.len());
        for (g, row) in grants {
            let last = self
                .store
                .last_decision(record, &g.grant_id)
                .map_err(internal)?;
            entries.push(entry(g, *row, last.as_deref(), now)?);
        }
        let v = SignedView::sign(
            &self.identity,
            &RecordId(*record),
            requester,
            nonce,
            now,
            entries,
        )
        .map_err(internal)?;
        Ok(hex::encode(v.as_bytes()))
    }

    /// A live emergency grant's row and statement, or the typed refusal.
    fn live_emergency(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<(GrantRow, Arc<VerifiedGrant>), ApiError> {
        let row = self
            .store
            .grant(record, grant_id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::not_found("no such grant"))?;
        let grant = self.verified_grant(record, &row.statement, grant_id)?;
        if !grant.is_emergency() {
            return Err(ApiError::bad_request(
                "not_emergency",
                "this grant is not an emergency grant",
            ));
        }
        Ok((row, grant))
    }

    fn check_live(&self, row: &GrantRow, grant: &VerifiedGrant) -> Result<(), ApiError> {
        if row.sealed_b2.is_none() {
            return Err(ApiError::forbidden(
                "revoked",
                "this emergency grant was revoked",
            ));
        }
        if grant.is_expired(now_ms()) {
            return Err(ApiError::forbidden(
                "expired",
                "this emergency grant expired",
            ));
        }
        Ok(())
    }

    /// Spends a signed object's nonce if its timestamp is fresh.
    fn spend_fresh(&self, nonce: &[u8; 16], timestamp: u64) -> Result<(), ApiError> {
        let now = now_ms();
        if timestamp.abs_diff(now) > self.replay_window_ms
            || !self
                .store
                .use_nonce(nonce, now, now.saturating_sub(2 * self.replay_window_ms))
                .map_err(internal)?
        {
            return Err(replay());
        }
        Ok(())
    }

    /// `POST /srs/v1/emergency/activations`: the grantee's signed
    /// activation starts the wait (`201` with the grant's state). Refused
    /// whole: `404` no such grant, `400 not_emergency`, `403 not_grantee`
    /// (not signed by the grantee), `403 revoked`/`expired`, `409 replay`,
    /// `409 already_activated`, `409 stale_activation` (it follows another
    /// decision than the grant's latest). The answer carries the signed
    /// view bound to the activation's nonce.
    pub fn activate(&self, body: &[u8]) -> Result<EmergencyAnswer, ApiError> {
        let (grant_id, record) = EmergencyActivation::peek_grant_id(body)?;
        let (row, grant) = self.live_emergency(&record.0, &grant_id)?;
        let activation = EmergencyActivation::verify(body, &grant).map_err(|e| match e.code() {
            "bad_signature" => ApiError::forbidden(
                "not_grantee",
                "the activation is not signed by the grant's grantee",
            ),
            _ => ApiError::from(e),
        })?;
        self.check_live(&row, &grant)?;
        let _guard = self
            .emergency_lock
            .write()
            .map_err(|_| internal("poisoned emergency lock"))?;
        let wait = grant.emergency_wait_ms.unwrap_or(0);
        let mut spent = false;
        // Read, check, compare-and-swap: another process may move the
        // track between the read and the write; then the change is decided
        // again on what it wrote (its nonce stays spent once).
        let answer = loop {
            let stored = self.store.track(&record.0, &grant_id).map_err(internal)?;
            if stored
                .as_ref()
                .is_some_and(|t| t.track.activation == activation.hash())
            {
                return Err(replay());
            }
            let now = self.emergency_now();
            if !spent {
                // Spent even when the state or the rate limit refuses it: an
                // activation refused while another waits (or answered 429) must not
                // start a wait later (after a denial), when the relay delivers it
                // again. So the nonce is spent before the rate limit is asked.
                self.spend_fresh(&activation.nonce, activation.timestamp)?;
                spent = true;
                self.writes.take(&grant.grantee.id().0, now_ms())?;
            }
            let track = EmergencyTrack::activate(
                stored.as_ref().map(|t| &t.track),
                wait,
                activation.hash(),
                now,
            )
            .map_err(refused)?;
            // Signed before a decision it never saw (withheld by a relay, say):
            // refused, so it cannot start a wait after a denial.
            let latest = self
                .store
                .last_decision(&record.0, &grant_id)
                .map_err(internal)?
                .map(|d| EmergencyDecision::payload_hash(&d))
                .transpose()
                .map_err(internal)?;
            EmergencyTrack::check_follows(&activation.follows, latest.as_ref()).map_err(refused)?;
            let row = TrackRow {
                activation: activation.as_bytes().to_vec(),
                track,
                decision: None,
            };
            if let Some(answer) = self.keep_track(
                &grant,
                stored.as_ref(),
                row,
                &grant.grantee.id(),
                activation.nonce,
                now,
            )? {
                break answer;
            }
        };
        tracing::info!(grant = %hex::encode(grant_id), "emergency grant activated");
        Ok(answer)
    }

    /// Stores a grant's new track if the stored one is still `expected`
    /// and answers with its state and the view of it signed for `asker`'s
    /// request `nonce` (no receipt yet); `None` if the track moved.
    fn keep_track(
        &self,
        grant: &VerifiedGrant,
        expected: Option<&TrackRow>,
        row: TrackRow,
        asker: &PartyId,
        nonce: [u8; 16],
        now: u64,
    ) -> Result<Option<EmergencyAnswer>, ApiError> {
        if !self
            .store
            .put_track(&grant.record.0, &grant.grant_id, expected, &row)
            .map_err(internal)?
        {
            return Ok(None);
        }
        let signed =
            self.signed_view(&grant.record.0, asker, nonce, now, &[(grant, Some(&row))])?;
        Ok(Some(EmergencyAnswer {
            state: view(grant, Some(&row), now),
            view: signed,
            receipt: None,
        }))
    }

    /// `POST /srs/v1/emergency/decisions`: the owner's signed approval or
    /// denial of the latest activation (`200` with the new state). Refused
    /// whole: `404`, `400 not_emergency`, `403 not_owner`, `403 revoked`,
    /// `409 replay`, `409 not_activated`, `activation_mismatch`,
    /// `already_decided`. The answer carries the SRS-signed receipt naming
    /// the decision's hash and the state it led to, and the signed view
    /// bound to the decision's nonce.
    pub fn decide_emergency(&self, body: &[u8]) -> Result<EmergencyAnswer, ApiError> {
        let (grant_id, record) = EmergencyDecision::peek_grant_id(body)?;
        let (row, grant) = self.live_emergency(&record.0, &grant_id)?;
        let decision = EmergencyDecision::verify(body, &grant).map_err(|e| match e.code() {
            "bad_signature" => not_owner(),
            _ => ApiError::from(e),
        })?;
        self.check_live(&row, &grant)?;
        let _guard = self
            .emergency_lock
            .write()
            .map_err(|_| internal("poisoned emergency lock"))?;
        let mut spent = false;
        let (mut answer, now) = loop {
            let stored = self.store.track(&record.0, &grant_id).map_err(internal)?;
            if !spent {
                // Spent whatever the state or the rate limit says, as an
                // activation's is.
                self.spend_fresh(&decision.nonce, decision.timestamp)?;
                spent = true;
                self.writes.take(&grant.owner.id().0, now_ms())?;
            }
            let track = EmergencyTrack::decide(
                stored.as_ref().map(|t| &t.track),
                &decision.activation,
                decision.verdict,
            )
            .map_err(refused)?;
            let before = stored.ok_or_else(|| internal("decided without a track"))?;
            let row = TrackRow {
                activation: before.activation.clone(),
                track,
                decision: Some(decision.as_bytes().to_vec()),
            };
            let now = self.emergency_now();
            if let Some(answer) = self.keep_track(
                &grant,
                Some(&before),
                row,
                &grant.owner.id(),
                decision.nonce,
                now,
            )? {
                break (answer, now);
            }
        };
        tracing::info!(grant = %hex::encode(grant_id), verdict = decision.verdict.name(), "emergency decision");
        let receipt = EmergencyReceipt::sign(&self.identity, &decision, now);
        answer.receipt = Some(hex::encode(receipt.as_bytes()));
        Ok(answer)
    }

    /// `GET /srs/v1/records/{record}/emergency`: every live emergency grant
    /// of the record with its state (owner token `ListEmergency`), and the
    /// signed view of them all, bound to the token's nonce.
    pub fn list_emergency(
        &self,
        record: &str,
        token: Option<&str>,
    ) -> Result<EmergencyListing, ApiError> {
        let record = hex_id::<32>(record)?;
        let t = self.owner_token(&record, token, Purpose::ListEmergency)?;
        let now = self.emergency_now();
        let mut listed = Vec::new();
        for g in self.store.grants_for_record(&record).map_err(internal)? {
            if g.sealed_b2.is_none() {
                continue;
            }
            let grant = VerifiedGrant::from_bytes(&g.statement).map_err(internal)?;
            if !grant.is_emergency() {
                continue;
            }
            let track = self
                .store
                .track(&record, &grant.grant_id)
                .map_err(internal)?;
            listed.push((grant, track));
        }
        let pairs: Vec<_> = listed.iter().map(|(g, t)| (g, t.as_ref())).collect();
        let signed = self.signed_view(&record, &t.party.id(), t.nonce, now, &pairs)?;
        Ok(EmergencyListing {
            view: signed,
            grants: listed
                .iter()
                .map(|(g, t)| view(g, t.as_ref(), now))
                .collect(),
        })
    }

    /// `GET /srs/v1/records/{record}/emergency/{grant}`: one emergency
    /// grant's state, for its grantee (token `EmergencyStatus`, subject
    /// record ‖ grant id) or its owner (same token).
    pub fn emergency_status(
        &self,
        record: &str,
        grant: &str,
        token: Option<&str>,
    ) -> Result<EmergencyAnswer, ApiError> {
        let record = hex_id::<32>(record)?;
        let grant_id = hex_id::<16>(grant)?;
        let subject = [&record[..], &grant_id[..]].concat();
        let t = check_token(
            token,
            Purpose::EmergencyStatus,
            &subject,
            self.replay_window_ms,
        )?;
        let (row, grant) = self.live_emergency(&record, &grant_id)?;
        if t.party != grant.grantee && t.party != grant.owner {
            return Err(ApiError::forbidden(
                "not_grantee",
                "only the grant's grantee or owner may read its state",
            ));
        }
        spend_token(&t, self.replay_window_ms, |nonce, now, forget| {
            self.store.use_nonce(nonce, now, forget).map_err(internal)
        })?;
        self.check_live(&row, &grant)?;
        let track = self.store.track(&record, &grant_id).map_err(internal)?;
        let now = self.emergency_now();
        let signed = self.signed_view(
            &record,
            &t.party.id(),
            t.nonce,
            now,
            &[(&grant, track.as_ref())],
        )?;
        Ok(EmergencyAnswer {
            state: view(&grant, track.as_ref(), now),
            view: signed,
            receipt: None,
        })
    }

    /// For a proven re-encryption request on an emergency grant: the
    /// decision that refuses it, if the grant does not answer now.
    pub(crate) fn emergency_refusal(
        &self,
        grant: &VerifiedGrant,
    ) -> Result<Option<sesphr_client::audit::Decision>, ApiError> {
        use sesphr_client::audit::Decision;
        let Some(wait) = grant.emergency_wait_ms else {
            return Ok(None);
        };
        let track = self
            .store
            .track(&grant.record.0, &grant.grant_id)
            .map_err(internal)?;
        Ok(
            match EmergencyTrack::state(
                track.as_ref().map(|t| &t.track),
                wait,
                self.emergency_now(),
            ) {
                EmergencyState::Open { .. } => None,
                EmergencyState::Waiting { .. } => Some(Decision::EmergencyWaiting),
                EmergencyState::Dormant | EmergencyState::Denied { .. } => {
                    Some(Decision::EmergencyDormant)
                }
            },
        )
    }
}

type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

/// The emergency routes under `/srs/v1/`.
pub fn routes(srs: Arc<Srs>, limits: Limits) -> Route {
    let s = warp::any().map(move || srs.clone());
    let base = warp::path("srs").and(warp::path("v1"));
    let activate = base
        .and(warp::path!("emergency" / "activations"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::CREATED, &s.activate(&body)?)))
        });
    let decide = base
        .and(warp::path!("emergency" / "decisions"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.decide_emergency(&body)?)))
        });
    let list = base
        .and(warp::path!("records" / String / "emergency"))
        .and(warp::get())
        .and(token())
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.list_emergency(&r, t.as_deref())?)))
        });
    let status = base
        .and(warp::path!("records" / String / "emergency" / String))
        .and(warp::get())
        .and(token())
        .and(s)
        .and_then(|r: String, g: String, t: Option<String>, s: Arc<Srs>| {
            blocking(move || {
                Ok(json(
                    StatusCode::OK,
                    &s.emergency_status(&r, &g, t.as_deref())?,
                ))
            })
        });
    activate
        .or(decide)
        .unify()
        .or(list)
        .unify()
        .or(status)
        .unify()
        .boxed()
}
