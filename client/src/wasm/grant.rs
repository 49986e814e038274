//! Grants: role presets, issuing ([`issue_grant`]), verified statements
//! ([`VerifiedGrant`]) and the grantee's half ([`GrantShare`]).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::VerifiedManifest;
use super::{arg, from_js, party_view, to_js, Identity, PartyView, PublicIdentity, SectionKey};
use crate::envelope::Envelope;
use crate::grant::{
    GrantShare as CoreShare, GrantTerms, IssuedGrant, Role, VerifiedGrant as CoreGrant,
    STANDARD_SECTIONS,
};
use crate::identity::PublicIdentity as CorePublic;
use crate::primitives::os_rng;

/// The standard section names.
#[wasm_bindgen(js_name = standardSections)]
pub fn standard_sections() -> Vec<String> {
    STANDARD_SECTIONS.iter().map(|s| s.to_string()).collect()
}

/// The sections of a role preset (`family`, `physician`, `nurse`,
/// `pharmacist`, `insurer`, `researcher`, `lab`, `custom`).
#[wasm_bindgen(js_name = roleSections)]
pub fn role_sections(role: &str) -> Result<Vec<String>, JsValue> {
    let role = Role::from_name(role).ok_or_else(|| arg("unknown role"))?;
    Ok(role.sections().iter().map(|s| s.to_string()).collect())
}

/// Grant terms as JS passes them: `{grantee (66 bytes), role, fromVersion,
/// expiresAt?, sequence?}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsTerms {
    grantee: ByteBuf,
    role: String,
    #[serde(default)]
    from_version: f64,
    #[serde(default)]
    expires_at: Option<f64>,
    #[serde(default)]
    sequence: f64,
    #[serde(default)]
    emergency_wait_ms: Option<f64>,
}

impl JsTerms {
    pub(crate) fn to_core(&self) -> Result<GrantTerms, JsValue> {
        Ok(GrantTerms {
            grantee: CorePublic::from_bytes(&self.grantee)?,
            role: Role::from_name(&self.role).ok_or_else(|| arg("unknown role"))?,
            from_version: super::to_u64(self.from_version, "fromVersion")?,
            expires_at: self
                .expires_at
                .map(|e| super::to_u64(e, "expiresAt"))
                .transpose()?,
            sequence: super::to_u64(self.sequence, "sequence")?,
            emergency_wait_ms: self
                .emergency_wait_ms
                .map(|w| super::to_u64(w, "emergencyWaitMs"))
                .transpose()?,
        })
    }
}

/// A verified grant statement as a plain object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrantView {
    grant_id: String,
    sequence: f64,
    owner: PartyView,
    record_id: String,
    section_id: String,
    epoch_id: String,
    grantee: PartyView,
    role: String,
    from_version: f64,
    expires_at: Option<f64>,
    /// The wait of an emergency grant, ms (`null`: an ordinary grant).
    emergency_wait_ms: Option<f64>,
    /// The statement's hash: the relay's id of the inbox item carrying it.
    item_id: String,
}

pub(crate) fn grant_view(g: &CoreGrant) -> GrantView {
    GrantView {
        grant_id: hex::encode(g.grant_id),
        sequence: g.sequence as f64,
        owner: party_view(&g.owner),
        record_id: g.record.to_hex(),
        section_id: g.section.to_hex(),
        epoch_id: g.epoch.to_hex(),
        grantee: party_view(&g.grantee),
        role: g.role.name().to_string(),
        from_version: g.from_version as f64,
        expires_at: g.expires_at.map(|t| t as f64),
        emergency_wait_ms: g.emergency_wait_ms.map(|t| t as f64),
        item_id: hex::encode(g.statement_hash()),
    }
}

/// An issued grant: the statement and `b1Envelope` go to the grantee
/// (through the relay), the statement and `b2Envelope` to the SRS.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Issued {
    grant_id: String,
    statement: ByteBuf,
    b1_envelope: ByteBuf,
    b2_envelope: ByteBuf,
}

impl Issued {
    pub(crate) fn from_core(g: &IssuedGrant) -> Issued {
        Issued {
            grant_id: hex::encode(g.statement.grant_id),
            statement: ByteBuf::from(g.statement.as_bytes().to_vec()),
            b1_envelope: ByteBuf::from(g.b1_envelope.to_bytes()),
            b2_envelope: ByteBuf::from(g.b2_envelope.to_bytes()),
        }
    }
}

/// Issues a grant of one section: `terms` is `{grantee (66-byte public key),
/// role, fromVersion, expiresAt?, sequence}`. Returns `{grantId, statement,
/// b1Envelope, b2Envelope}`. (`OwnerRecord.grant` does this with the
/// owner's epoch policy and sequence numbers.)
#[wasm_bindgen(js_name = issueGrant)]
pub fn issue_grant(
    owner: &Identity,
    key: &SectionKey,
    srs: &PublicIdentity,
    terms: JsValue,
) -> Result<JsValue, JsValue> {
    let terms = from_js::<JsTerms>(terms, "terms")?.to_core()?;
    let g = IssuedGrant::issue(&owner.0, &key.0, &srs.0.encryption, &terms, &mut os_rng())?;
    to_js(&Issued::from_core(&g))
}

/// A grant statement whose owner signature was checked (once).
#[wasm_bindgen]
pub struct VerifiedGrant(pub(crate) CoreGrant);

#[wasm_bindgen]
impl VerifiedGrant {
    /// Decodes and verifies a grant statement's owner signature.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(statement: &[u8]) -> Result<VerifiedGrant, JsValue> {
        Ok(VerifiedGrant(CoreGrant::from_bytes(statement)?))
    }
    /// The grant as a plain object: `{grantId, sequence, owner, recordId,
    /// sectionId, epochId, grantee, role, fromVersion, expiresAt, itemId}`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&grant_view(&self.0))
    }
}

/// The grantee's half of a grant (`b1`, checked against the section key),
/// held inside wasm. The reader flow (`SharedRecord.read`) builds these
/// itself; this is the one-grant path for callers that drive the
/// re-encryption themselves.
#[wasm_bindgen]
pub struct GrantShare(pub(crate) CoreShare);

#[wasm_bindgen]
impl GrantShare {
    /// Grantee side: opens `b1` and checks `b1·G + B2 == A` against the
    /// section key in the owner-signed manifest, which must be the grant
    /// owner's.
    #[wasm_bindgen(constructor)]
    pub fn new(
        grantee: &Identity,
        grant: &VerifiedGrant,
        b1_envelope: &[u8],
        manifest: &VerifiedManifest,
    ) -> Result<GrantShare, JsValue> {
        let m = &manifest.0;
        m.expect_owner(&grant.0.owner)?;
        let entry = m.entry(&grant.0.section)?;
        Ok(GrantShare(grant.0.accept(
            &grantee.0,
            &Envelope::from_bytes(b1_envelope)?,
            &entry.section_key,
        )?))
    }
}
