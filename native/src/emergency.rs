//! Emergency access from the native client: the grantee activates an
//! emergency grant and reads its state; the owner lists activations and
//! approves or denies them. (The bytes are the core's
//! `sesphr_client::emergency`; the SRS keeps the state.)

use sesphr_client::emergency::{EmergencyActivation, EmergencyDecision, Verdict};
use sesphr_client::emergency_view::{EmergencyReceipt, EmergencyView};
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::identity::Identity;
use sesphr_client::primitives::os_rng;
use sesphr_client::record::RecordId;
use sesphr_client::token::{Purpose, RequestToken};

use crate::client::{Client, Error, Result};
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
    /// The SRS-signed view (kind `0x20`) this answer came with, hex (a
    /// listing's rows share their listing's).
    #[serde(default)]
    pub view: Option<String>,
    /// A decision's SRS-signed receipt (kind `0x21`), hex.
    #[serde(default)]
    pub receipt: Option<String>,
}

#[derive(serde::Deserialize)]
struct Listing {
    view: String,
    grants: Vec<EmergencyStatus>,
}

fn unhex(field: &Option<String>) -> Result<Vec<u8>> {
    field
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| {
            sesphr_client::Error::BindingMismatch("the SRS's answer is not signed").into()
        })
}

/// Checks a plain row against the signed view's entry of its grant: a
/// relay that rewrote the JSON is caught here (`binding_mismatch`).
fn agrees(row: &EmergencyStatus, view: &EmergencyView) -> Result<()> {
    let e = hex::decode(&row.grant_id)
        .ok()
        .and_then(|g| <[u8; 16]>::try_from(g).ok())
        .and_then(|g| view.entry(&g))
        .ok_or(sesphr_client::Error::BindingMismatch(
            "a row the signed view does not list",
        ))?;
    let activation = match &row.activation {
        Some(h) => Some(
            EmergencyActivation::stored(
                &hex::decode(h).map_err(|e| Error::Network(e.to_string()))?,
            )?
            .hash,
        ),
        None => None,
    };
    let a = e.activation;
    if row.state != e.state.name()
        || row.approved != e.approved
        || row.wait_ms != e.wait_ms
        || activation != a.map(|a| a.hash)
        || row.activated_at != a.map(|a| a.activated_at)
        || (row.state == "waiting") != row.opens_at.is_some()
        || row
            .opens_at
            .is_some_and(|o| Some(o) != a.map(|a| a.opens_at))
        || row.now != view.now
    {
        return Err(sesphr_client::Error::BindingMismatch(
            "the plain answer disagrees with the SRS's signed view",
        )
        .into());
    }
    Ok(())
}

fn signed_token(who: &Identity, purpose: Purpose, subject: &[u8]) -> Result<RequestToken> {
    Ok(RequestToken::sign(
        who,
        purpose,
        subject,
        now_ms(),
        &mut os_rng(),
    )?)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Network(e.to_string()))
}

impl Client {
    /// Posts raw activation bytes (the grantee's, or a replay), unverified.
    pub async fn post_activation(&self, bytes: &[u8]) -> Result<EmergencyStatus> {
        parse(
            &self
                .post("/srs/v1/emergency/activations", OCTETS, bytes.to_vec())
                .await?
                .ok()?,
        )
    }

    /// Posts raw decision bytes, unverified.
    pub async fn post_emergency_decision(&self, bytes: &[u8]) -> Result<EmergencyStatus> {
        parse(
            &self
                .post("/srs/v1/emergency/decisions", OCTETS, bytes.to_vec())
                .await?
                .ok()?,
        )
    }

    /// Grantee side: signs and posts an activation of `grant` following
    /// the grant's latest decision (read from its verified status); its
    /// bytes and the state the SRS answers with, verified (its signed view
    /// bound to the activation's nonce).
    pub async fn activate_emergency(
        &self,
        grantee: &Identity,
        grant: &VerifiedGrant,
    ) -> Result<(EmergencyActivation, EmergencyStatus)> {
        let (_, view) = self.verified_status(grantee, grant).await?;
        let follows = view
            .entry(&grant.grant_id)
            .and_then(|e| e.last_decision)
            .unwrap_or([0; 32]);
        let a = EmergencyActivation::sign(grantee, grant, follows, now_ms(), &mut os_rng())?;
        let status = self.post_activation(a.as_bytes()).await?;
        let view = EmergencyView::verify(
            &unhex(&status.view)?,
            self.srs(),
            &grant.record,
            &grantee.id(),
            &a.nonce,
        )?;
        agrees(&status, &view)?;
        Ok((a, status))
    }

    /// Owner side: every live emergency grant of `record` with its state,
    /// verified: the SRS-signed view (pinned key, this owner, the listing
    /// token's nonce) lists exactly these rows, and agrees with each.
    pub async fn emergency_listing(
        &self,
        owner: &Identity,
        record: &RecordId,
    ) -> Result<Vec<EmergencyStatus>> {
        Ok(self.verified_listing(owner, record).await?.0)
    }

    /// [`Client::emergency_listing`] with the verified view itself.
    pub async fn verified_listing(
        &self,
        owner: &Identity,
        record: &RecordId,
    ) -> Result<(Vec<EmergencyStatus>, EmergencyView)> {
        let t = signed_token(owner, Purpose::ListEmergency, &record.0)?;
        let listing: Listing = parse(
            &self
                .get(
                    &format!("/srs/v1/records/{}/emergency", record.to_hex()),
                    Some(hex::encode(t.as_bytes())),
                )
                .await?,
        )?;
        let view = EmergencyView::verify(
            &hex::decode(&listing.view).map_err(|e| Error::Network(e.to_string()))?,
            self.srs(),
            record,
            &owner.id(),
            &t.nonce,
        )?;
        // One row per listed grant: a row twice could stand in for a hidden one.
        let rows: std::collections::BTreeSet<Vec<u8>> = listing
            .grants
            .iter()
            .filter_map(|r| hex::decode(&r.grant_id).ok())
            .collect();
        if listing.grants.len() != view.entries.len() || rows.len() != listing.grants.len() {
            return Err(sesphr_client::Error::BindingMismatch(
                "the plain listing has other rows than the SRS's signed view",
            )
            .into());
        }
        for row in &listing.grants {
            agrees(row, &view)?;
        }
        Ok((listing.grants, view))
    }

    /// The state of one emergency grant (its grantee or owner asks),
    /// verified against its SRS-signed view.
    pub async fn emergency_status(
        &self,
        who: &Identity,
        grant: &VerifiedGrant,
    ) -> Result<EmergencyStatus> {
        Ok(self.verified_status(who, grant).await?.0)
    }

    /// [`Client::emergency_status`] with the verified view itself.
    pub async fn verified_status(
        &self,
        who: &Identity,
        grant: &VerifiedGrant,
    ) -> Result<(EmergencyStatus, EmergencyView)> {
        let subject = [&grant.record.0[..], &grant.grant_id[..]].concat();
        let t = signed_token(who, Purpose::EmergencyStatus, &subject)?;
        let status: EmergencyStatus = parse(
            &self
                .get(
                    &format!(
                        "/srs/v1/records/{}/emergency/{}",
                        grant.record.to_hex(),
                        hex::encode(grant.grant_id)
                    ),
                    Some(hex::encode(t.as_bytes())),
                )
                .await?,
        )?;
        let view = EmergencyView::verify(
            &unhex(&status.view)?,
            self.srs(),
            &grant.record,
            &who.id(),
            &t.nonce,
        )?;
        let entry = view
            .entry(&grant.grant_id)
            .ok_or(sesphr_client::Error::BindingMismatch(
                "the signed view does not list the grant",
            ))?;
        entry.check_grant(grant)?;
        agrees(&status, &view)?;
        Ok((status, view))
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
        let status = self.post_emergency_decision(d.as_bytes()).await?;
        // Effective only on the SRS's signed receipt of exactly this decision.
        EmergencyReceipt::verify(&unhex(&status.receipt)?, self.srs(), &d)?;
        let view = EmergencyView::verify(
            &unhex(&status.view)?,
            self.srs(),
            &grant.record,
            &owner.id(),
            &d.nonce,
        )?;
        agrees(&status, &view)?;
        Ok(status)
    }
}
