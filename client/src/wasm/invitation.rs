//! Invitations, acceptances, name cards, safety numbers and owner-private
//! state (`crate::invitation`, `crate::owner_state`). Invitation bytes hold
//! the one-time secret: they belong in a URL fragment and the owner's
//! encrypted state only.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use super::{from_js, party_view, to_js, to_u64, Identity, PartyView, PublicIdentity};
use crate::envelope::Envelope;
use crate::invitation::{
    safety_number as core_safety_number, Acceptance, Invitation, InvitationSecret, InvitationTerms,
    NameCard,
};
use crate::owner_state::{open_state as core_open, seal_state as core_seal, state_header};
use crate::primitives::os_rng;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TermsIn {
    expires_at: f64,
    role: String,
    sections: Vec<String>,
    owner_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvitationView {
    id: String,
    owner: PartyView,
    expires_at: f64,
    role: String,
    sections: Vec<String>,
    owner_name: String,
}

fn view(inv: &Invitation) -> InvitationView {
    InvitationView {
        id: hex::encode(inv.id()),
        owner: party_view(&inv.owner),
        expires_at: inv.terms.expires_at as f64,
        role: inv.terms.role.clone(),
        sections: inv.terms.sections.clone(),
        owner_name: inv.terms.owner_name.clone(),
    }
}

/// Signs a new invitation with a fresh secret: `{bytes, secret, id, …terms}`
/// (`bytes` and `secret` are secret: fragment and encrypted state only).
#[wasm_bindgen(js_name = createInvitation)]
pub fn create_invitation(owner: &Identity, terms: JsValue) -> Result<JsValue, JsValue> {
    let t: TermsIn = from_js(terms, "invitation terms")?;
    let inv = Invitation::create(
        &owner.0,
        InvitationTerms {
            expires_at: to_u64(t.expires_at, "expiresAt")?,
            role: t.role,
            sections: t.sections,
            owner_name: t.owner_name,
        },
        &mut os_rng(),
    )?;
    // Serialized straight from the zeroized buffers: no other copy of `s`
    // is left in wasm memory.
    #[derive(Serialize)]
    struct Out<'a> {
        bytes: &'a serde_bytes::Bytes,
        secret: &'a serde_bytes::Bytes,
        #[serde(flatten)]
        view: &'a InvitationView,
    }
    let v = view(&inv);
    let secret = inv.secret.to_bytes();
    to_js(&Out {
        bytes: serde_bytes::Bytes::new(inv.as_bytes()),
        secret: serde_bytes::Bytes::new(secret.as_ref()),
        view: &v,
    })
}

/// Decodes an invitation and verifies its owner's signature:
/// `{id, owner: {id, fingerprint, publicKey}, expiresAt, role, sections, ownerName}`.
#[wasm_bindgen(js_name = openInvitation)]
pub fn open_invitation(bytes: Vec<u8>) -> Result<JsValue, JsValue> {
    // Owned, so the copy of `s` the call made in wasm memory is zeroized.
    let bytes = Zeroizing::new(bytes);
    to_js(&view(&Invitation::from_bytes(&bytes)?))
}

/// The acceptance of invitation `bytes` by `invitee` (signed, MACed under
/// the secret, sealed to its key), as mail sealed to the invitation's owner.
#[wasm_bindgen(js_name = acceptInvitation)]
pub fn accept_invitation(
    bytes: Vec<u8>,
    invitee: &Identity,
    name: &str,
    now: f64,
) -> Result<Vec<u8>, JsValue> {
    let bytes = Zeroizing::new(bytes);
    let inv = Invitation::from_bytes(&bytes)?;
    let acc = inv.accept(&invitee.0, name, to_u64(now, "now")?, &mut os_rng())?;
    Ok(Envelope::seal_mail(&inv.owner.encryption, acc.as_bytes(), &mut os_rng())?.to_bytes())
}

/// The kind byte of mail sealed to `me` when it holds, whole, a SeSPHR
/// object that travels in mail and is for `me` (`crate::mail::kind_of`:
/// receipt bundle `0x15`, acceptance `0x17`, name card `0x1a`, access
/// request `0x1e`, access refusal `0x1f`);
/// `undefined` for anything else that opens, a known prefix over junk
/// included. Throws `decryption_failed` for mail that does not open.
#[wasm_bindgen(js_name = mailKind)]
pub fn mail_kind(me: &Identity, sealed: &[u8]) -> Result<Option<u8>, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&me.0)?;
    Ok(crate::mail::kind_of(&plain, &me.0.id()).map(|k| k as u8))
}

/// The invitation id an acceptance in mail sealed to `me` answers (hex).
#[wasm_bindgen(js_name = acceptanceInvitationId)]
pub fn acceptance_invitation_id(me: &Identity, sealed: &[u8]) -> Result<String, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&me.0)?;
    Ok(hex::encode(Acceptance::from_bytes(&plain)?.invitation_id))
}

/// Opens an acceptance (mail sealed to `owner`) with the invitation's
/// secret and verifies its MAC and the invitee's signature:
/// `{invitee: {id, fingerprint, publicKey}, invitationId, acceptedAt, name}`.
#[wasm_bindgen(js_name = openAcceptance)]
pub fn open_acceptance(
    owner: &Identity,
    sealed: &[u8],
    secret: Vec<u8>,
) -> Result<JsValue, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&owner.0)?;
    let secret = InvitationSecret::from_bytes(&Zeroizing::new(secret))?;
    let v = Acceptance::from_bytes(&plain)?.open(&secret, &owner.0.id())?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        invitee: PartyView,
        invitation_id: String,
        accepted_at: f64,
        name: String,
    }
    to_js(&Out {
        invitee: party_view(&v.invitee),
        invitation_id: hex::encode(v.invitation_id),
        accepted_at: v.accepted_at as f64,
        name: v.name,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StandingIn {
    /// `open`, `used`, `cancelled` (absent: no such invitation).
    status: String,
    expires_at: f64,
    accepted_by: Option<String>,
    #[serde(default)]
    granted: bool,
}

/// The single-use rule ([`crate::invitation_use::decide`]): weighs a
/// verified acceptance by `invitee` (party id hex) claiming `acceptedAt`
/// against the owner's entry for its invitation (`{status, expiresAt,
/// acceptedBy?, granted?}` as kept in the owner state; `undefined`: none)
/// at the owner's time `now`. Returns `"take"` (mark it used, then grant),
/// `"resume"` (finish a half-done confirmation) or `"done"` (the same
/// person again: nothing more); throws `invitation_unknown`,
/// `invitation_expired` or `invitation_used` for a refusal.
#[wasm_bindgen(js_name = invitationUse)]
pub fn invitation_use(
    entry: JsValue,
    invitee: &str,
    accepted_at: f64,
    now: f64,
) -> Result<String, JsValue> {
    use crate::identity::PartyId;
    use crate::invitation_use::{decide, Entry, Standing, Use};
    let entry = if entry.is_undefined() || entry.is_null() {
        None
    } else {
        let e: StandingIn = from_js(entry, "invitation entry")?;
        let standing = match e.status.as_str() {
            "open" => Standing::Open,
            "cancelled" => Standing::Cancelled,
            "used" => Standing::Used {
                by: PartyId(super::hex32(
                    e.accepted_by.as_deref().unwrap_or_default(),
                    "acceptedBy",
                )?),
                granted: e.granted,
            },
            _ => {
                return Err(super::arg(
                    "an invitation's status is open, used or cancelled",
                ))
            }
        };
        Some(Entry {
            standing,
            expires_at: to_u64(e.expires_at, "expiresAt")?,
        })
    };
    let invitee = PartyId(super::hex32(invitee, "invitee")?);
    match decide(
        entry.as_ref(),
        &invitee,
        to_u64(accepted_at, "acceptedAt")?,
        to_u64(now, "now")?,
    ) {
        Use::Take => Ok("take".into()),
        Use::Resume => Ok("resume".into()),
        Use::Done => Ok("done".into()),
        Use::Refused(r) => Err(super::js_error(r.code(), r.message())),
    }
}

/// A name card (the name `owner` gives itself, for `grantee` alone), as
/// mail sealed to `grantee`.
#[wasm_bindgen(js_name = sealNameCard)]
pub fn seal_name_card(
    owner: &Identity,
    grantee: &PublicIdentity,
    name: &str,
    now: f64,
) -> Result<Vec<u8>, JsValue> {
    let card = NameCard::sign(&owner.0, &grantee.0.id(), name, to_u64(now, "now")?)?;
    Ok(Envelope::seal_mail(&grantee.0.encryption, card.as_bytes(), &mut os_rng())?.to_bytes())
}

/// Opens a name card from mail sealed to `me` and verifies it (signed by
/// its owner, for `me`): `{owner: {id, fingerprint, publicKey}, name, issuedAt}`.
#[wasm_bindgen(js_name = openNameCard)]
pub fn open_name_card(me: &Identity, sealed: &[u8]) -> Result<JsValue, JsValue> {
    let plain = Envelope::from_bytes(sealed)?.open_mail(&me.0)?;
    let card = NameCard::from_bytes(&plain)?;
    card.check_for(&me.0.id())?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        owner: PartyView,
        name: String,
        issued_at: f64,
    }
    to_js(&Out {
        owner: party_view(&card.owner),
        name: card.name,
        issued_at: card.issued_at as f64,
    })
}

/// The safety number of two public identities (66 bytes each): 60 digits
/// in twelve groups of five, the same whichever is first.
#[wasm_bindgen(js_name = safetyNumber)]
pub fn safety_number(a: &[u8], b: &[u8]) -> Result<String, JsValue> {
    let a = crate::identity::PublicIdentity::from_bytes(a)?;
    let b = crate::identity::PublicIdentity::from_bytes(b)?;
    Ok(core_safety_number(&a, &b))
}

/// Encrypts `plaintext` as version `version` of `owner`'s state `slot`.
#[wasm_bindgen(js_name = sealState)]
pub fn seal_state(
    owner: &Identity,
    slot: &str,
    version: f64,
    plaintext: &[u8],
) -> Result<Vec<u8>, JsValue> {
    Ok(core_seal(
        &owner.0,
        slot,
        to_u64(version, "version")?,
        plaintext,
        &mut os_rng(),
    )?)
}

/// Opens `owner`'s state `slot`: `{version, plaintext}`.
#[wasm_bindgen(js_name = openState)]
pub fn open_state(owner: &Identity, slot: &str, bytes: &[u8]) -> Result<JsValue, JsValue> {
    let (version, plaintext) = core_open(&owner.0, slot, bytes)?;
    #[derive(Serialize)]
    struct Out<'a> {
        version: f64,
        plaintext: &'a serde_bytes::Bytes,
    }
    to_js(&Out {
        version: version as f64,
        plaintext: serde_bytes::Bytes::new(&plaintext),
    })
}

/// What anyone can read of a state object: `{owner, slot, version}`.
#[wasm_bindgen(js_name = stateHeader)]
pub fn state_header_of(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let h = state_header(bytes)?;
    #[derive(Serialize)]
    struct Out {
        owner: String,
        slot: String,
        version: f64,
    }
    to_js(&Out {
        owner: h.owner.to_hex(),
        slot: h.slot,
        version: h.version as f64,
    })
}
