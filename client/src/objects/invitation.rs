//! Invitations, acceptances, name cards and safety numbers: how a patient
//! brings someone with no identity yet into a lasting, revocable share.
//!
//! The owner makes a one-time secret `s` and signs an [`Invitation`] (its
//! own public identity, `s`, the expiry, the role and sections it means to
//! grant, the name it gives itself); the invitation travels in a link's URL
//! fragment only. `s` derives the invitation id, an HMAC key and an HPKE
//! key pair ([`InvitationSecret`]). The invitee answers with an
//! [`Acceptance`]: a body signed by the invitee's identity and MACed under
//! `s`'s key, HPKE-sealed to `s`'s public key, and posted as mail sealed to
//! the owner. The owner's browser, which keeps `s` in its encrypted state,
//! opens and verifies both before issuing ordinary grants. Single use and
//! expiry are the owner's to enforce (its invitation list, compare-and-swap
//! at the relay); this module gives it the verified facts.
//!
//! A [`NameCard`] is the name an owner gives itself, signed by the owner
//! and bound to one grantee; it travels sealed to the grantee in mail, so
//! no server sees it. [`safety_number`] is the number two parties compare
//! to verify each other's keys, the same on both sides.

use core::fmt;

use hkdf::hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{malformed, Error, Result};
use crate::identity::{Identity, PartyId, PublicIdentity};
use crate::objects::envelope::Envelope;
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{
    h2s, hash, hkdf_expand, hkdf_extract, labels, length_prefixed, random_bytes, Point,
};
use crate::secret::SecretScalar;

/// Longest name (an owner's own, an invitee's), in bytes of UTF-8.
pub const MAX_NAME: usize = 80;
/// Longest role name.
pub const MAX_ROLE: usize = 32;
/// Longest section name.
pub const MAX_SECTION: usize = 64;
/// Most sections an invitation names.
pub const MAX_SECTIONS: usize = 32;
/// Length of an acceptance's MAC tag.
pub const MAC_LEN: usize = 32;

/// A name as carried: valid UTF-8, one line, 1 to [`MAX_NAME`] bytes (or
/// empty where `optional`), with no character that is not shown as itself:
/// controls (Cc), format characters (Cf: bidi overrides and isolates,
/// zero-width joiners and spaces, soft hyphen, …), line and paragraph
/// separators (Zl, Zp). Such a character could make one name look like
/// another, or reorder the text shown around it.
fn check_name(name: &str, what: &'static str, optional: bool) -> Result<()> {
    if name.len() > MAX_NAME {
        return Err(Error::TooLarge(what));
    }
    if (!optional && name.trim().is_empty()) || name.chars().any(hidden) {
        return Err(malformed(what, "not a one-line name"));
    }
    Ok(())
}

/// Whether `c` is of general category Cc, Cf, Zl or Zp (Unicode 15.1; the
/// Cf ranges listed whole).
fn hidden(c: char) -> bool {
    const CF: [(u32, u32); 21] = [
        (0xAD, 0xAD),
        (0x600, 0x605),
        (0x61C, 0x61C),
        (0x6DD, 0x6DD),
        (0x70F, 0x70F),
        (0x890, 0x891),
        (0x8E2, 0x8E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let u = c as u32;
    c.is_control() || u == 0x2028 || u == 0x2029 || CF.iter().any(|&(a, b)| (a..=b).contains(&u))
}

fn text(bytes: &[u8], what: &'static str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed(what, "not UTF-8"))
}

/// The one-time invitation secret `s` (32 bytes), zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct InvitationSecret([u8; 32]);

impl fmt::Debug for InvitationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InvitationSecret")
            .field(&crate::error::Redacted)
            .finish()
    }
}

impl PartialEq for InvitationSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl InvitationSecret {
    /// A fresh random secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> InvitationSecret {
        InvitationSecret(random_bytes(rng))
    }
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<InvitationSecret> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| malformed("invitation secret", "must be 32 bytes"))?;
        Ok(InvitationSecret(arr))
    }
    /// The secret bytes (for the owner's encrypted invitation list).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }
    /// The invitation id: `H("SeSPHR-v1/invitation/id", s)`.
    pub fn id(&self) -> [u8; 32] {
        hash(labels::INVITATION_ID, &[&self.0])
    }
    /// The MAC key: `HKDF-Expand(HKDF-Extract("SeSPHR-v1/invitation/mac", s),
    /// "SeSPHR-v1/invitation/mac")`.
    fn mac_key(&self) -> Zeroizing<[u8; 32]> {
        let prk = hkdf_extract(labels::INVITATION_MAC.as_bytes(), &self.0);
        hkdf_expand(&prk, labels::INVITATION_MAC, &[])
    }
    /// The HPKE private key: `H2S("SeSPHR-v1/invitation/hpke", s)`.
    fn hpke_secret(&self) -> Result<SecretScalar> {
        Ok(SecretScalar::from_nonzero(h2s(
            labels::INVITATION_HPKE,
            &[&self.0],
        )?))
    }
    /// The HPKE public key acceptances are sealed to.
    pub fn hpke_public(&self) -> Result<Point> {
        Ok(self.hpke_secret()?.public())
    }
    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let key = self.mac_key();
        // HMAC takes a key of any length.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(payload);
        m.finalize().into_bytes().into()
    }
}

/// HPKE info of an acceptance: `lp("SeSPHR-v1/invitation/accept") ‖ lp(id)`.
fn accept_info(id: &[u8; 32]) -> Vec<u8> {
    length_prefixed(&[labels::INVITATION_ACCEPT.as_bytes(), id])
}

/// What an invitation offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationTerms {
    /// Expiry, ms since the Unix epoch.
    pub expires_at: u64,
    /// The role the grants will carry (`physician`, `family`, `custom`, …).
    pub role: String,
    /// The section names the owner means to grant.
    pub sections: Vec<String>,
    /// The name the owner gives itself (what the invitee will see).
    pub owner_name: String,
}

/// A verified, owner-signed invitation (kind `0x16`): owner's public
/// identity (66) ‖ `s` (32) ‖ expires_at u64 ‖ lp(role) ‖ u8 count ‖
/// lp(section)… ‖ lp(owner name) ‖ signature. Holds `s`: it belongs in a
/// URL fragment and the owner's encrypted state, never at a server.
#[derive(Clone, PartialEq)]
pub struct Invitation {
    /// The owner.
    pub owner: PublicIdentity,
    /// The secret.
    pub secret: InvitationSecret,
    /// What it offers.
    pub terms: InvitationTerms,
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("owner", &self.owner)
            .field("id", &hex::encode(self.id()))
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

impl Invitation {
    /// Signs an invitation of `owner` with a fresh secret.
    pub fn create<R: CryptoRng + ?Sized>(
        owner: &Identity,
        terms: InvitationTerms,
        rng: &mut R,
    ) -> Result<Invitation> {
        Invitation::create_with(owner, InvitationSecret::generate(rng), terms)
    }

    /// Signs an invitation with a given secret (known-answer vectors).
    pub fn create_with(
        owner: &Identity,
        secret: InvitationSecret,
        terms: InvitationTerms,
    ) -> Result<Invitation> {
        check_name(&terms.owner_name, "owner name", false)?;
        if terms.role.is_empty() || terms.role.len() > MAX_ROLE {
            return Err(malformed("invitation", "a role is 1 to 32 bytes"));
        }
        if terms.sections.is_empty() || terms.sections.len() > MAX_SECTIONS {
            return Err(malformed(
                "invitation",
                "an invitation names 1 to 32 sections",
            ));
        }
        if terms
            .sections
            .iter()
            .any(|s| s.is_empty() || s.len() > MAX_SECTION)
        {
            return Err(malformed("invitation", "a section name is 1 to 64 bytes"));
        }
        let mut w = Writer::object(Kind::Invitation);
        w.raw(&owner.public().to_bytes())
            .raw(&secret.0)
            .u64(terms.expires_at);
        w.bytes(terms.role.as_bytes())?
            .u8(terms.sections.len() as u8);
        for s in &terms.sections {
            w.bytes(s.as_bytes())?;
        }
        w.bytes(terms.owner_name.as_bytes())?;
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        Invitation::from_bytes(&Zeroizing::new(w.finish()))
    }

    /// Decodes and verifies the owner's signature and every field's bounds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Invitation> {
        let mut r = Reader::object(bytes, Kind::Invitation)?;
        let owner = PublicIdentity::read(&mut r)?;
        let secret = InvitationSecret(r.array()?);
        let expires_at = r.u64()?;
        let role = text(r.bytes(MAX_ROLE)?, "invitation role")?;
        let count = r.u8()? as usize;
        if count == 0 || count > MAX_SECTIONS || role.is_empty() {
            return Err(malformed("invitation", "no role, or not 1 to 32 sections"));
        }
        let mut sections = Vec::with_capacity(count);
        for _ in 0..count {
            let s = text(r.bytes(MAX_SECTION)?, "invitation section")?;
            if s.is_empty() {
                return Err(malformed("invitation", "an empty section name"));
            }
            sections.push(s);
        }
        let owner_name = text(r.bytes(MAX_NAME)?, "owner name")?;
        check_name(&owner_name, "owner name", false)?;
        owner.verify_rest(r)?;
        Ok(Invitation {
            owner,
            secret,
            terms: InvitationTerms {
                expires_at,
                role,
                sections,
                owner_name,
            },
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// The invitation id (public: what the owner's list and the acceptance name).
    pub fn id(&self) -> [u8; 32] {
        self.secret.id()
    }

    /// The signed bytes (secret: they hold `s`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The invitee's acceptance, signed by `invitee` at `accepted_at` with
    /// the name it gives itself (may be empty), MACed under `s`'s key and
    /// sealed to `s`'s public key. Refused once the invitation has expired
    /// (by the invitee's clock; the owner checks its own).
    pub fn accept<R: CryptoRng + ?Sized>(
        &self,
        invitee: &Identity,
        name: &str,
        accepted_at: u64,
        rng: &mut R,
    ) -> Result<Acceptance> {
        if accepted_at > self.terms.expires_at {
            return Err(Error::Stale {
                found: self.terms.expires_at,
                known: accepted_at,
            });
        }
        if invitee.id() == self.owner.id() {
            return Err(Error::BindingMismatch(
                "an invitation is for someone other than its owner",
            ));
        }
        check_name(name, "invitee name", true)?;
        let id = self.id();
        let mut w = Writer::object(Kind::AcceptanceBody);
        w.raw(&invitee.public().to_bytes())
            .raw(&self.owner.id().0)
            .raw(&id)
            .u64(accepted_at);
        w.bytes(name.as_bytes())?;
        let tag = self.secret.mac(w.as_slice());
        w.raw(&tag);
        let sig = invitee.sign(w.as_slice());
        w.raw(&sig);
        let body = Zeroizing::new(w.finish());
        let sealed =
            Envelope::seal_base(&self.secret.hpke_public()?, &accept_info(&id), &body, rng)?;
        let mut w = Writer::object(Kind::Acceptance);
        w.raw(&id);
        w.bytes(&sealed.to_bytes())?;
        Ok(Acceptance {
            invitation_id: id,
            bytes: w.finish(),
        })
    }
}

/// An acceptance as it travels (kind `0x17`): invitation id (32) ‖
/// lp(HPKE envelope of the body). Its id only says which secret opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The invitation it answers.
    pub invitation_id: [u8; 32],
    bytes: Vec<u8>,
}

/// An acceptance the owner opened and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAcceptance {
    /// The invitee's public identity (its signature verified).
    pub invitee: PublicIdentity,
    /// The invitation answered.
    pub invitation_id: [u8; 32],
    /// The invitee's clock when it accepted, ms.
    pub accepted_at: u64,
    /// The name the invitee gives itself (may be empty).
    pub name: String,
}

impl Acceptance {
    /// Decodes the outer object (nothing verified but its shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<Acceptance> {
        let mut r = Reader::object(bytes, Kind::Acceptance)?;
        let invitation_id = r.array()?;
        Envelope::from_bytes(r.bytes(crate::envelope::MAX_SEALED_LEN + 128)?)?;
        r.finish()?;
        Ok(Acceptance {
            invitation_id,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded acceptance.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Opens it with the invitation's secret and verifies, for the owner
    /// `owner`: the secret's id is the one named (`binding_mismatch`), the
    /// envelope opens (`decryption_failed`), the body names this owner and
    /// invitation (`binding_mismatch`), its MAC under `s`'s key holds
    /// (`bad_signature`), and the invitee's signature holds
    /// (`bad_signature`). Anything after the signature is `malformed`.
    pub fn open(&self, secret: &InvitationSecret, owner: &PartyId) -> Result<VerifiedAcceptance> {
        let id = secret.id();
        if !bool::from(id.ct_eq(&self.invitation_id)) {
            return Err(Error::BindingMismatch("acceptance of another invitation"));
        }
        let mut r = Reader::object(&self.bytes, Kind::Acceptance)?;
        r.take(32)?;
        let envelope = Envelope::from_bytes(r.bytes(crate::envelope::MAX_SEALED_LEN + 128)?)?;
        let body = envelope.open_base(&secret.hpke_secret()?, &accept_info(&id))?;
        let mut r = Reader::object(&body, Kind::AcceptanceBody)?;
        let invitee = PublicIdentity::read(&mut r)?;
        let owner_id: [u8; 32] = r.array()?;
        let body_id: [u8; 32] = r.array()?;
        let accepted_at = r.u64()?;
        let name = text(r.bytes(MAX_NAME)?, "invitee name")?;
        let macced = r.consumed().to_vec();
        let tag: [u8; MAC_LEN] = r.array()?;
        if owner_id != owner.0 || body_id != id {
            return Err(Error::BindingMismatch(
                "acceptance names another owner or invitation",
            ));
        }
        if !bool::from(secret.mac(&macced).ct_eq(&tag)) {
            return Err(Error::BadSignature);
        }
        invitee.verify_rest(r)?;
        check_name(&name, "invitee name", true)?;
        Ok(VerifiedAcceptance {
            invitee,
            invitation_id: id,
            accepted_at,
            name,
        })
    }
}

/// A verified name card (kind `0x1a`): owner's public identity (66) ‖
/// grantee party id (32) ‖ issued_at u64 ‖ lp(name) ‖ signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameCard {
    /// Who names itself.
    pub owner: PublicIdentity,
    /// The one party this card is for.
    pub grantee: PartyId,
    /// The owner's clock, ms (the newest card wins).
    pub issued_at: u64,
    /// The name.
    pub name: String,
    bytes: Vec<u8>,
}

impl NameCard {
    /// Signs `name` for `grantee`.
    pub fn sign(
        owner: &Identity,
        grantee: &PartyId,
        name: &str,
        issued_at: u64,
    ) -> Result<NameCard> {
        check_name(name, "name", false)?;
        let mut w = Writer::object(Kind::NameCard);
        w.raw(&owner.public().to_bytes())
            .raw(&grantee.0)
            .u64(issued_at);
        w.bytes(name.as_bytes())?;
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        NameCard::from_bytes(&w.finish())
    }

    /// Decodes and verifies the owner's signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<NameCard> {
        let mut r = Reader::object(bytes, Kind::NameCard)?;
        let owner = PublicIdentity::read(&mut r)?;
        let grantee = PartyId(r.array()?);
        let issued_at = r.u64()?;
        let name = text(r.bytes(MAX_NAME)?, "name")?;
        owner.verify_rest(r)?;
        check_name(&name, "name", false)?;
        Ok(NameCard {
            owner,
            grantee,
            issued_at,
            name,
            bytes: bytes.to_vec(),
        })
    }

    /// Checks that the card is for `grantee` (`binding_mismatch`).
    pub fn check_for(&self, grantee: &PartyId) -> Result<()> {
        if &self.grantee != grantee {
            return Err(Error::BindingMismatch("a name card for another party"));
        }
        Ok(())
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// One party's 30 digits: `H("SeSPHR-v1/safety-number", signing ‖ encryption)`,
/// its first 30 bytes read as six big-endian 40-bit numbers, each mod
/// 100000, written as five decimal digits.
fn half(p: &PublicIdentity) -> String {
    let d = hash(labels::SAFETY_NUMBER, &[&p.to_bytes()]);
    d[..30]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

/// The safety number of two parties: both halves, the smaller first (so it
/// is the same on both sides), 60 digits in twelve groups of five.
pub fn safety_number(a: &PublicIdentity, b: &PublicIdentity) -> String {
    let (x, y) = (half(a), half(b));
    let (first, second) = if x <= y { (x, y) } else { (y, x) };
    let all = first + &second;
    all.as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;
    use crate::secret::Seed;
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    fn terms() -> InvitationTerms {
        InvitationTerms {
            expires_at: 2_000_000,
            role: "physician".into(),
            sections: vec!["allergies".into(), "medications".into()],
            owner_name: "Alice Example".into(),
        }
    }

    fn setup() -> (Identity, Identity, Invitation, Acceptance) {
        let (alice, bob) = (party(1), party(2));
        let inv = Invitation::create(&alice, terms(), &mut os_rng()).unwrap();
        let acc = inv
            .accept(&bob, "Dr. Bob", 1_000_000, &mut os_rng())
            .unwrap();
        (alice, bob, inv, acc)
    }

    #[test]
    fn secret_mac_and_hash_states_are_wiped_on_drop() {
        // Compile-time: with `sha2`'s `zeroize` feature the SHA-256 state
        // (inside HMAC and HKDF too: the MAC under `s`'s key) is wiped on
        // drop, as are the secret and the keys derived from it.
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<sha2::Sha256>();
        wiped_on_drop::<InvitationSecret>();
        wiped_on_drop::<Zeroizing<[u8; 32]>>();
        let s = InvitationSecret::generate(&mut crate::primitives::os_rng());
        assert_ne!(*s.mac_key(), [0u8; 32]);
    }

    #[test]
    fn invitation_round_trip_and_acceptance_verifies() {
        let (alice, bob, inv, acc) = setup();
        let back = Invitation::from_bytes(inv.as_bytes()).unwrap();
        assert_eq!(back, inv);
        assert_eq!(back.terms, terms());
        let wire = Acceptance::from_bytes(acc.as_bytes()).unwrap();
        assert_eq!(wire.invitation_id, inv.id());
        let v = wire.open(&inv.secret, &alice.id()).unwrap();
        assert_eq!(v.invitee, *bob.public());
        assert_eq!(v.name, "Dr. Bob");
        assert_eq!(v.accepted_at, 1_000_000);
        // The secret never shows in Debug.
        let dbg = format!("{inv:?}");
        assert!(!dbg.contains(&hex::encode(inv.secret.to_bytes().as_ref())));
    }

    #[test]
    fn wrong_secret_wrong_owner_expired_and_self_are_refused() {
        let (alice, bob, inv, acc) = setup();
        let other = InvitationSecret::generate(&mut os_rng());
        assert_eq!(
            acc.open(&other, &alice.id()).unwrap_err().code(),
            "binding_mismatch"
        );
        assert_eq!(
            acc.open(&inv.secret, &bob.id()).unwrap_err().code(),
            "binding_mismatch"
        );
        assert_eq!(
            inv.accept(&bob, "", 2_000_001, &mut os_rng())
                .unwrap_err()
                .code(),
            "stale"
        );
        assert_eq!(
            inv.accept(&alice, "", 1, &mut os_rng()).unwrap_err().code(),
            "binding_mismatch"
        );
        // An acceptance relabelled with the other invitation's id does not open.
        let inv2 = Invitation::create(&alice, terms(), &mut os_rng()).unwrap();
        let mut relabelled = acc.as_bytes().to_vec();
        relabelled[6..38].copy_from_slice(&inv2.id());
        let relabelled = Acceptance::from_bytes(&relabelled).unwrap();
        assert!(relabelled.open(&inv2.secret, &alice.id()).is_err());
    }

    #[test]
    fn a_body_without_the_secret_fails_the_mac() {
        // Someone who knows the invitation's public key but not s (a relay
        // that saw no fragment cannot even know that) seals a body with a
        // forged tag: the MAC refuses it before the signature is looked at.
        let (alice, bob, inv, _) = setup();
        let id = inv.id();
        let mut w = Writer::object(Kind::AcceptanceBody);
        w.raw(&bob.public().to_bytes())
            .raw(&alice.id().0)
            .raw(&id)
            .u64(1);
        w.bytes(b"").unwrap();
        w.raw(&[0u8; 32]);
        let sig = bob.sign(w.as_slice());
        w.raw(&sig);
        let sealed = Envelope::seal_base(
            &inv.secret.hpke_public().unwrap(),
            &accept_info(&id),
            w.as_slice(),
            &mut os_rng(),
        )
        .unwrap();
        let mut o = Writer::object(Kind::Acceptance);
        o.raw(&id);
        o.bytes(&sealed.to_bytes()).unwrap();
        let forged = Acceptance::from_bytes(&o.finish()).unwrap();
        assert_eq!(
            forged.open(&inv.secret, &alice.id()).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn invitation_tampering_is_refused() {
        let (_, _, inv, _) = setup();
        let bytes = inv.as_bytes().to_vec();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(Invitation::from_bytes(&bad).is_err(), "byte {i}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Invitation::from_bytes(&long).is_err());
    }

    #[test]
    fn name_cards_verify_and_bind_the_grantee() {
        let (alice, bob) = (party(1), party(2));
        let card = NameCard::sign(&alice, &bob.id(), "Alice Example", 5).unwrap();
        let back = NameCard::from_bytes(card.as_bytes()).unwrap();
        assert_eq!(back, card);
        back.check_for(&bob.id()).unwrap();
        assert_eq!(
            back.check_for(&alice.id()).unwrap_err().code(),
            "binding_mismatch"
        );
        let bytes = card.as_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x80;
            assert!(NameCard::from_bytes(&bad).is_err(), "byte {i}");
        }
        assert!(NameCard::sign(&alice, &bob.id(), "", 5).is_err());
        assert!(NameCard::sign(&alice, &bob.id(), "a\nb", 5).is_err());
        assert!(NameCard::sign(&alice, &bob.id(), &"x".repeat(81), 5).is_err());
    }

    #[test]
    fn names_with_characters_not_shown_as_themselves_are_refused() {
        let (alice, bob) = (party(1), party(2));
        // Bidi overrides and isolates, zero-width characters, the soft
        // hyphen, line and paragraph separators, a BOM, tag characters.
        let hidden = "\u{202E}\u{202A}\u{2066}\u{2069}\u{200B}\u{200D}\u{200F}\u{00AD}\u{2028}\u{2029}\u{FEFF}\u{E0041}\u{061C}\u{0007}";
        for c in hidden.chars() {
            let name = format!("Alice{c}Example");
            let e = NameCard::sign(&alice, &bob.id(), &name, 5).unwrap_err();
            assert_eq!(e.code(), "malformed", "U+{:04X}", c as u32);
            let mut t = terms();
            t.owner_name = name.clone();
            assert!(Invitation::create(&alice, t, &mut os_rng()).is_err());
            let inv = Invitation::create(&alice, terms(), &mut os_rng()).unwrap();
            assert!(inv.accept(&bob, &name, 1, &mut os_rng()).is_err());
        }
        // Letters and marks of any script, and ordinary spaces, pass.
        for name in ["Zoë Ødegård", "محمد", "李小龍", "Dr. Anne-Marie O'Neil"] {
            NameCard::sign(&alice, &bob.id(), name, 5).unwrap();
        }
    }

    #[test]
    fn safety_numbers_agree_and_differ() {
        let (a, b, c) = (party(1), party(2), party(3));
        let ab = safety_number(a.public(), b.public());
        assert_eq!(ab, safety_number(b.public(), a.public()));
        assert_eq!(ab.len(), 60 + 11);
        assert!(ab
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit())));
        assert_ne!(ab, safety_number(a.public(), c.public()));
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_flipped_byte_of_an_acceptance_is_refused(at in 0usize..4096, bit in 0u8..8) {
            let (alice, _, inv, acc) = setup();
            let mut bad = acc.as_bytes().to_vec();
            let i = at % bad.len();
            bad[i] ^= 1 << bit;
            let outcome = Acceptance::from_bytes(&bad).and_then(|a| a.open(&inv.secret, &alice.id()));
            prop_assert!(outcome.is_err());
        }
    }
}
