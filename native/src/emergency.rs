//! Emergency access from the native client: the grantee activates an
//! emergency grant and reads its state; the owner lists activations and
//! approves or denies them. (The bytes are the core's
//! `sesphr_client::emergency`; the SRS keeps the state.)

use sesphr_client::emergency::{EmergencyActivation, EmergencyDecision, Verdict};
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::record::RecordId;
use sesphr_client::token::Purpose;

use crate::client::{token, Client, Error, Result};
use crate::now_ms;

const OCTETS: &str = "application/octet-stream";

/// One emergency grant's state as the SRS reports it (its emergency clock, ms).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyStatus {
    /// The grant, hex.
    pub grant_id: String,
    /// `dormant`, `waiting`, `open` or `denied`.
    pub state: String,
    /// The owner-signed wait, ms.
    pub wait_ms: u64,
    /// The latest activation's bytes, hex.
    pub activation: Option<String>,
    /// When it arrived.
    pub activated_at: Option<u64>,
    /// When the wait ends (`waiting`).
    pub opens_at: Option<u64>,
    /// Whether the owner approved (`open`).
    pub approved: bool,
    /// The SRS's emergency clock when it answered.
    pub now: u64,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Network(e.to_string()))
}

impl Client {
    /// Posts raw activation bytes (the grantee's, or a replay).
    pub async fn post_activation(&self, bytes: &[u8]) -> Result<EmergencyStatus> {
        parse(
            &self
                .post("/srs/v1/emergency/activations", OCTETS, bytes.to_vec())
                .await?
                .ok()?,
        )
    }

    /// Posts raw decision bytes.
    pub async fn post_emergency_decision(&self, bytes: &[u8]) -> Result<EmergencyStatus> {
        parse(
            &self
                .post("/srs/v1/emergency/decisions", OCTETS, bytes.to_vec())
                .await?
                .ok()?,
        )
    }

    /// Grantee side: signs and posts an activation of `grant`; its bytes
    /// and the state the SRS answers with.
    pub async fn activate_emergency(
        &self,
        grantee: &Identity,
        grant: &VerifiedGrant,
    ) -> Result<(EmergencyActivation, EmergencyStatus)> {
        let a = EmergencyActivation::sign(grantee, grant, now_ms(), &mut os_rng())?;
        let status = self.post_activation(a.as_bytes()).await?;
        Ok((a, status))
    }

    /// Owner side: every live emergency grant of `record` with its state.
    pub async fn emergency_listing(
        &self,
        owner: &Identity,
        record: &RecordId,
    ) -> Result<Vec<EmergencyStatus>> {
        let t = token(owner, Purpose::ListEmergency, &record.0)?;
        parse(
            &self
                .get(
                    &format!("/srs/v1/records/{}/emergency", record.to_hex()),
                    Some(t),
                )
                .await?,
        )
    }

    /// The state of one emergency grant (its grantee or owner asks).
    pub async fn emergency_status(
        &self,
        who: &Identity,
        grant: &VerifiedGrant,
    ) -> Result<EmergencyStatus> {
        let subject = [&grant.record.0[..], &grant.grant_id[..]].concat();
        let t = token(who, Purpose::EmergencyStatus, &subject)?;
        parse(
            &self
                .get(
                    &format!(
                        "/srs/v1/records/{}/emergency/{}",
                        grant.record.to_hex(),
                        hex::encode(grant.grant_id)
                    ),
                    Some(t),
                )
                .await?,
        )
    }

    /// Owner side: approves or denies the activation `status` lists, after
    /// checking the grantee signed it for this grant.
    pub async fn decide_emergency(
        &self,
        owner: &Identity,
        grant: &VerifiedGrant,
        status: &EmergencyStatus,
        verdict: Verdict,
    ) -> Result<EmergencyStatus> {
        let bytes = status
            .activation
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .ok_or(sesphr_client::Error::InvalidState("nothing activated"))?;
        let activation = EmergencyActivation::verify(&bytes, grant)?;
        let d =
            EmergencyDecision::sign(owner, grant, &activation, verdict, now_ms(), &mut os_rng())?;
        self.post_emergency_decision(d.as_bytes()).await
    }
}
