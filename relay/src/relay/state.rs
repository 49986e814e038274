//! Owner-private state at the relay (`/v1/state/{slot}`): a party's
//! contacts and outstanding invitations, each slot one encrypted object
//! (kind `0x19`, [`sesphr_client::owner_state`]) that only its owner can
//! open, stored in numbered versions by compare-and-swap, so two tabs or
//! two browsers never silently overwrite each other's edits.
//!
//! The relay reads the object's public header (owner, slot, version), checks
//! that the signer of the token is the owner and that the version is the
//! next one, and stores the bytes; it learns the slot name, the size and
//! when each version was written, never the contents.

use sesphr_client::owner_state::{check_slot, state_header, MAX_STATE};
use sesphr_client::token::Purpose;
use sha2::{Digest, Sha256};
use warp::http::StatusCode;

use super::Relay;
use crate::db::{DbError, Tx};
use crate::http::auth::check_token;
use crate::http::error::ApiError;

/// Most slots one owner may hold.
pub const MAX_SLOTS: u64 = 16;
/// Largest state object accepted (its plaintext cap plus the header and tag).
pub const MAX_STATE_BYTES: usize = MAX_STATE + 256;

/// The table (created with the relay's other tables).
pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS owner_state (owner BLOB NOT NULL, slot TEXT NOT NULL,
         version INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (owner, slot));";

/// What a compare-and-swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePut {
    /// Stored as the next version.
    Stored,
    /// The stored version is not the one before this (it is given).
    Conflict(u64),
    /// The owner already holds [`MAX_SLOTS`] other slots.
    OverQuota,
}

/// The stored bytes of `owner`'s `slot`, if any.
pub fn sql_get(tx: &mut dyn Tx, owner: &[u8; 32], slot: &str) -> Result<Option<Vec<u8>>, DbError> {
    tx.value(
        "SELECT bytes FROM owner_state WHERE owner = $1 AND slot = $2",
        &[owner, &slot],
    )
}

/// Stores `bytes` as `version` of `owner`'s `slot` if the stored version is
/// `version - 1` (none for version 1), in the caller's transaction (one
/// [`crate::db::Db::tx`]: the version read and the write are one decision,
/// across relay processes too).
pub fn sql_put(
    tx: &mut dyn Tx,
    owner: &[u8; 32],
    slot: &str,
    version: u64,
    bytes: &[u8],
) -> Result<StatePut, DbError> {
    let current: u64 = tx
        .value(
            "SELECT version FROM owner_state WHERE owner = $1 AND slot = $2",
            &[owner, &slot],
        )?
        .unwrap_or(0);
    if current + 1 != version {
        return Ok(StatePut::Conflict(current));
    }
    if current == 0 {
        let slots: u64 = tx
            .one(
                "SELECT COUNT(*) FROM owner_state WHERE owner = $1",
                &[owner],
            )?
            .get(0)?;
        if slots >= MAX_SLOTS {
            return Ok(StatePut::OverQuota);
        }
    }
    tx.exec(
        "INSERT INTO owner_state (owner, slot, version, bytes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (owner, slot) DO UPDATE SET version = excluded.version, bytes = excluded.bytes",
        &[owner, &slot, &version, &bytes],
    )?;
    Ok(StatePut::Stored)
}

fn slot_of(slot: &str) -> Result<(), ApiError> {
    check_slot(slot).map_err(|e| ApiError::bad_request("bad_state", e.to_string()))
}

impl Relay {
    /// `PUT /v1/state/{slot}`: stores the next version of the signer's
    /// state. The token (`PutState` over the SHA-256 of the body) is checked,
    /// the object's header must name the signer, this slot and exactly the
    /// stored version + 1 (else `409 version_conflict`), and the signer be
    /// registered and within its rate, before anything is written.
    pub async fn put_state(
        &self,
        slot: &str,
        body: crate::http::LaterBody,
        token: Option<&str>,
    ) -> Result<(StatusCode, u64), ApiError> {
        slot_of(slot)?;
        // Token, signer and its rate first; the body only then.
        let t = crate::http::auth::check_token_before_body(
            token,
            Purpose::PutState,
            |s| s.len() == 32,
            self.replay_window_ms,
        )?;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a state object is at most {MAX_STATE_BYTES} bytes"),
            )
        };
        if body.len() > MAX_STATE_BYTES as u64 {
            return Err(too_large());
        }
        self.writer(&t.party.id().0).await?;
        let body = body.read().await?;
        let digest: [u8; 32] = Sha256::digest(&body).into();
        crate::http::auth::subject_is(&t, &digest)?;
        let body = &body[..];
        if body.len() > MAX_STATE_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a state object is at most {MAX_STATE_BYTES} bytes"),
            ));
        }
        let h =
            state_header(body).map_err(|e| ApiError::bad_request("bad_state", e.to_string()))?;
        let owner = t.party.id();
        if h.owner != owner {
            return Err(ApiError::forbidden(
                "not_owner",
                "the state object is another party's",
            ));
        }
        if h.slot != slot {
            return Err(ApiError::bad_request(
                "bad_state",
                "the state object is for another slot",
            ));
        }
        self.spend(&t).await?;
        match self
            .store
            .state_put(owner.0, h.slot, h.version, body.to_vec())
            .await?
        {
            StatePut::Stored => Ok((
                if h.version == 1 {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                h.version,
            )),
            StatePut::Conflict(v) => Err(ApiError::conflict(
                "version_conflict",
                format!("latest version is {v}"),
            )),
            StatePut::OverQuota => Err(super::quota_left("state slots")),
        }
    }

    /// `GET /v1/state/{slot}`: the signer's latest state object (token
    /// `GetState` over the slot name); `404` if none.
    pub async fn get_state(&self, slot: &str, token: Option<&str>) -> Result<Vec<u8>, ApiError> {
        slot_of(slot)?;
        let t = check_token(
            token,
            Purpose::GetState,
            slot.as_bytes(),
            self.replay_window_ms,
        )?;
        self.spend(&t).await?;
        self.store
            .state_get(t.party.id().0, slot.to_string())
            .await?
            .ok_or_else(|| ApiError::not_found("no state in this slot"))
    }
}
