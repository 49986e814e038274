//! Emergency access (break-glass, after Bitwarden's emergency access): an
//! emergency grant is an ordinary grant whose owner-signed statement carries
//! `emergency{wait}` (grant format 2). The SRS holds it dormant; the
//! grantee's signed [`EmergencyActivation`] starts the wait on the SRS
//! clock; the owner's signed [`EmergencyDecision`] approves (ends the wait)
//! or denies (closes it: the grant needs a new activation). The SRS answers
//! re-encryption requests on it only while it is [`EmergencyState::Open`],
//! and files every decision about it under purpose of use `BTG`.
//!
//! [`EmergencyTrack`] is the state machine itself, with no I/O: the SRS
//! stores it, the model check runs it.

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::grant::{GrantId, VerifiedGrant};
use crate::identity::Identity;
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
use crate::primitives::{random_bytes, statement_hash, SIGNATURE_LEN};
use crate::record::RecordId;

/// Grant id and record named by an activation or a decision, unverified
/// (to look the grant up first).
fn peek(bytes: &[u8], kind: Kind) -> Result<(GrantId, RecordId)> {
    let mut r = Reader::object(bytes, kind)?;
    Ok((r.array()?, RecordId(r.array()?)))
}

/// A reader of activation bytes of the current format only: format 1
/// (which names no decision it follows) is `unknown_version`.
fn activation_reader(bytes: &[u8]) -> Result<Reader<'_>> {
    let (r, version) =
        Reader::object_versions(bytes, Kind::EmergencyActivation, ACTIVATION_VERSION)?;
    if version != ACTIVATION_VERSION {
        return Err(Error::UnknownVersion {
            object: Kind::EmergencyActivation.name(),
            version,
        });
    }
    Ok(r)
}

/// A grantee-signed activation of an emergency grant (kind `0x1c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyActivation {
    /// The grant activated.
    pub grant_id: GrantId,
    /// Its record.
    pub record: RecordId,
    /// `StatementHash` of the grant statement (exactly that grant).
    pub grant_hash: [u8; 32],
    /// Hash of the grant's latest owner decision this activation follows
    /// ([`EmergencyDecision::hash`]; all zero: none). The SRS takes it only
    /// while that is still the grant's latest decision, so an activation
    /// signed before a denial and withheld cannot start a wait after it.
    pub follows: [u8; 32],
    /// Grantee's clock, ms (the SRS takes it only within its replay window).
    pub timestamp: u64,
    /// Random nonce (the SRS spends it: a replay is refused).
    pub nonce: [u8; 16],
    bytes: Vec<u8>,
    payload_len: usize,
}

/// The format version of activations: 2 names the decision it follows
/// (format 1, without it, is refused: `unknown_version`).
pub const ACTIVATION_VERSION: u8 = 2;

/// The most an SRS's replay window may be for the emergency clock checks
/// (ms): the SRS refuses to start with a longer one, and a client takes a
/// view's `opens_at` only if it is no earlier than the activation's
/// grantee-signed time plus the wait minus this.
pub const MAX_REPLAY_WINDOW_MS: u64 = 5 * 60 * 1000;

/// What an SRS re-reads of activation bytes it verified before storing
/// them (shape only): their hash, the decision they follow, the grantee's
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredActivation {
    /// [`EmergencyActivation::hash`].
    pub hash: [u8; 32],
    /// [`EmergencyActivation::follows`].
    pub follows: [u8; 32],
    /// [`EmergencyActivation::timestamp`].
    pub timestamp: u64,
}

impl EmergencyActivation {
    /// Signs an activation of `grant` (grantee side).
    /// `follows`: the grant's latest decision as the SRS's signed view
    /// shows it (all zero: none).
    pub fn sign<R: CryptoRng + ?Sized>(
        grantee: &Identity,
        grant: &VerifiedGrant,
        follows: [u8; 32],
        timestamp: u64,
        rng: &mut R,
    ) -> Result<EmergencyActivation> {
        if *grantee.public() != grant.grantee {
            return Err(Error::BindingMismatch("grant is for another party"));
        }
        if !grant.is_emergency() {
            return Err(Error::InvalidState("not an emergency grant"));
        }
        let nonce: [u8; 16] = random_bytes(rng);
        let mut w = Writer::object_version(Kind::EmergencyActivation, ACTIVATION_VERSION);
        w.raw(&grant.grant_id)
            .raw(&grant.record.0)
            .raw(&grant.statement_hash())
            .raw(&follows)
            .u64(timestamp)
            .raw(&nonce);
        let sig = grantee.sign(w.as_slice());
        w.raw(&sig);
        EmergencyActivation::verify(&w.finish(), grant)
    }

    /// Decodes and verifies against the grant it activates: the grant's
    /// grantee signed it, for exactly this statement, and the grant is an
    /// emergency grant (SRS and owner side).
    pub fn verify(bytes: &[u8], grant: &VerifiedGrant) -> Result<EmergencyActivation> {
        let mut r = activation_reader(bytes)?;
        let grant_id: GrantId = r.array()?;
        let record = RecordId(r.array()?);
        let grant_hash: [u8; 32] = r.array()?;
        let follows = r.array()?;
        let timestamp = r.u64()?;
        let nonce = r.array()?;
        let payload = r.consumed();
        let payload_len = payload.len();
        let sig = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        if grant_id != grant.grant_id
            || record != grant.record
            || grant_hash != grant.statement_hash()
        {
            return Err(Error::BindingMismatch("activation is for another grant"));
        }
        if !grant.is_emergency() {
            return Err(Error::InvalidState("not an emergency grant"));
        }
        grant.grantee.verify(payload, sig)?;
        Ok(EmergencyActivation {
            grant_id,
            record,
            grant_hash,
            follows,
            timestamp,
            nonce,
            bytes: bytes.to_vec(),
            payload_len,
        })
    }

    /// Grant and record ids named by activation bytes, unverified.
    pub fn peek_grant_id(bytes: &[u8]) -> Result<(GrantId, RecordId)> {
        let mut r = activation_reader(bytes)?;
        Ok((r.array()?, RecordId(r.array()?)))
    }

    /// What an SRS re-reads of activation bytes it verified before storing
    /// them, checking only their shape (format 1, stored before format 2,
    /// follows nothing).
    pub fn stored(bytes: &[u8]) -> Result<StoredActivation> {
        let (mut r, version) =
            Reader::object_versions(bytes, Kind::EmergencyActivation, ACTIVATION_VERSION)?;
        r.take(16 + 32 + 32)?;
        let follows = if version >= 2 { r.array()? } else { [0; 32] };
        let timestamp = r.u64()?;
        r.take(16)?;
        let payload = r.consumed();
        r.take(SIGNATURE_LEN)?;
        r.finish()?;
        Ok(StoredActivation {
            hash: statement_hash(payload),
            follows,
            timestamp,
        })
    }

    /// [`EmergencyActivation::hash`] of activation bytes verified before
    /// (an SRS re-reading what it stored), checking only their shape.
    pub fn payload_hash(bytes: &[u8]) -> Result<[u8; 32]> {
        Ok(EmergencyActivation::stored(bytes)?.hash)
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `StatementHash` of the signed payload: what a decision names.
    pub fn hash(&self) -> [u8; 32] {
        statement_hash(&self.bytes[..self.payload_len])
    }
}

wire_enum! {
    /// The owner's answer to an activation.
    pub enum Verdict (names: name, from_name) {
        /// Opens access now (ends the wait).
        Approve = 1 => "approve",
        /// Closes access; the grant needs a new activation.
        Deny = 2 => "deny",
    }
}

/// An owner-signed decision on one activation (kind `0x1d`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyDecision {
    /// The grant.
    pub grant_id: GrantId,
    /// Its record.
    pub record: RecordId,
    /// Hash of the activation decided on ([`EmergencyActivation::hash`]).
    pub activation: [u8; 32],
    /// Approve or deny.
    pub verdict: Verdict,
    /// Owner's clock, ms.
    pub timestamp: u64,
    /// Random nonce (spent at the SRS).
    pub nonce: [u8; 16],
    bytes: Vec<u8>,
}

impl EmergencyDecision {
    /// Signs a decision on `activation` of `grant` (owner side).
    pub fn sign<R: CryptoRng + ?Sized>(
        owner: &Identity,
        grant: &VerifiedGrant,
        activation: &EmergencyActivation,
        verdict: Verdict,
        timestamp: u64,
        rng: &mut R,
    ) -> Result<EmergencyDecision> {
        if *owner.public() != grant.owner {
            return Err(Error::BindingMismatch(
                "only the grant's owner can decide on it",
            ));
        }
        let nonce: [u8; 16] = random_bytes(rng);
        let mut w = Writer::object(Kind::EmergencyDecision);
        w.raw(&grant.grant_id)
            .raw(&grant.record.0)
            .raw(&activation.hash())
            .u8(verdict as u8)
            .u64(timestamp)
            .raw(&nonce);
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        EmergencyDecision::verify(&w.finish(), grant)
    }

    /// Decodes and verifies against the grant: signed by its owner, for it.
    /// (Which activation it names is the SRS's to check against its state.)
    pub fn verify(bytes: &[u8], grant: &VerifiedGrant) -> Result<EmergencyDecision> {
        let mut r = Reader::object(bytes, Kind::EmergencyDecision)?;
        let grant_id: GrantId = r.array()?;
        let record = RecordId(r.array()?);
        let activation = r.array()?;
        let verdict = Verdict::from_u8(r.u8()?)
            .ok_or_else(|| crate::error::malformed("emergency decision", "unknown verdict"))?;
        let timestamp = r.u64()?;
        let nonce = r.array()?;
        let payload = r.consumed();
        let sig = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        if grant_id != grant.grant_id || record != grant.record {
            return Err(Error::BindingMismatch("decision is for another grant"));
        }
        grant.owner.verify(payload, sig)?;
        Ok(EmergencyDecision {
            grant_id,
            record,
            activation,
            verdict,
            timestamp,
            nonce,
            bytes: bytes.to_vec(),
        })
    }

    /// Grant and record ids named by decision bytes, unverified.
    pub fn peek_grant_id(bytes: &[u8]) -> Result<(GrantId, RecordId)> {
        peek(bytes, Kind::EmergencyDecision)
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `StatementHash` of the signed payload: what a later activation
    /// follows and the SRS's receipt names.
    pub fn hash(&self) -> [u8; 32] {
        statement_hash(&self.bytes[..self.bytes.len() - SIGNATURE_LEN])
    }

    /// [`EmergencyDecision::hash`] of decision bytes verified before (an
    /// SRS re-reading what it stored), checking only their shape.
    pub fn payload_hash(bytes: &[u8]) -> Result<[u8; 32]> {
        let mut r = Reader::object(bytes, Kind::EmergencyDecision)?;
        r.take(16 + 32 + 32 + 1 + 8 + 16)?;
        let payload = r.consumed();
        r.take(SIGNATURE_LEN)?;
        r.finish()?;
        Ok(statement_hash(payload))
    }
}

/// Where an emergency grant stands at a moment of the SRS clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmergencyState {
    /// Never activated since it was granted (or since its last denial:
    /// see [`EmergencyState::Denied`]).
    Dormant,
    /// Activated; the wait runs until `opens_at` unless the owner decides.
    Waiting {
        /// SRS clock when the activation arrived.
        activated_at: u64,
        /// SRS clock when the wait ends.
        opens_at: u64,
    },
    /// Answerable: the wait passed with no denial, or the owner approved.
    Open {
        /// SRS clock when the activation arrived.
        activated_at: u64,
        /// `true`: the owner approved; `false`: the wait passed.
        approved: bool,
    },
    /// The owner denied the last activation; a new one starts a new wait.
    Denied {
        /// SRS clock when the denied activation arrived.
        activated_at: u64,
    },
}

impl EmergencyState {
    /// Stable lower-case name (`dormant`, `waiting`, `open`, `denied`).
    pub fn name(&self) -> &'static str {
        match self {
            EmergencyState::Dormant => "dormant",
            EmergencyState::Waiting { .. } => "waiting",
            EmergencyState::Open { .. } => "open",
            EmergencyState::Denied { .. } => "denied",
        }
    }
}

/// The latest activation of one emergency grant and the owner's decision
/// on it, as the SRS keeps them: the whole state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyTrack {
    /// Hash of the latest activation.
    pub activation: [u8; 32],
    /// SRS clock when it arrived.
    pub activated_at: u64,
    /// The owner's verdict on it, if any.
    pub verdict: Option<Verdict>,
}

/// Why the SRS refuses an activation or a decision (its state, not the
/// bytes: those fail [`EmergencyActivation::verify`] first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An activation arrives while the last one is waiting or open.
    AlreadyActivated,
    /// A decision while there is no activation to decide on.
    NotActivated,
    /// A decision names another activation than the latest.
    ActivationMismatch,
    /// A decision on an activation already decided the same way or denied.
    AlreadyDecided,
    /// An activation follows another decision than the grant's latest (it
    /// was signed before a decision it never saw).
    StaleActivation,
}

impl Refusal {
    /// The stable code servers answer with.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::AlreadyActivated => "already_activated",
            Refusal::NotActivated => "not_activated",
            Refusal::ActivationMismatch => "activation_mismatch",
            Refusal::AlreadyDecided => "already_decided",
            Refusal::StaleActivation => "stale_activation",
        }
    }
}

impl EmergencyTrack {
    /// The state of a grant with wait `wait_ms` and this track (`None`:
    /// never activated) at `now`.
    pub fn state(track: Option<&EmergencyTrack>, wait_ms: u64, now: u64) -> EmergencyState {
        let Some(t) = track else {
            return EmergencyState::Dormant;
        };
        let activated_at = t.activated_at;
        match t.verdict {
            Some(Verdict::Deny) => EmergencyState::Denied { activated_at },
            Some(Verdict::Approve) => EmergencyState::Open {
                activated_at,
                approved: true,
            },
            None => {
                let opens_at = activated_at.saturating_add(wait_ms);
                if now >= opens_at {
                    EmergencyState::Open {
                        activated_at,
                        approved: false,
                    }
                } else {
                    EmergencyState::Waiting {
                        activated_at,
                        opens_at,
                    }
                }
            }
        }
    }

    /// Whether the SRS may answer at `now`.
    pub fn answers(track: Option<&EmergencyTrack>, wait_ms: u64, now: u64) -> bool {
        matches!(
            EmergencyTrack::state(track, wait_ms, now),
            EmergencyState::Open { .. }
        )
    }

    /// The track after a (verified, fresh) activation with hash `activation`
    /// at `now`: allowed from dormant or denied only.
    pub fn activate(
        track: Option<&EmergencyTrack>,
        wait_ms: u64,
        activation: [u8; 32],
        now: u64,
    ) -> core::result::Result<EmergencyTrack, Refusal> {
        match EmergencyTrack::state(track, wait_ms, now) {
            EmergencyState::Dormant | EmergencyState::Denied { .. } => Ok(EmergencyTrack {
                activation,
                activated_at: now,
                verdict: None,
            }),
            EmergencyState::Waiting { .. } | EmergencyState::Open { .. } => {
                Err(Refusal::AlreadyActivated)
            }
        }
    }

    /// Whether an activation that `follows` a decision may be taken when
    /// the grant's latest decision is `latest` (`None`: none yet, which an
    /// activation names as all zero).
    pub fn check_follows(
        follows: &[u8; 32],
        latest: Option<&[u8; 32]>,
    ) -> core::result::Result<(), Refusal> {
        if follows == latest.unwrap_or(&[0; 32]) {
            Ok(())
        } else {
            Err(Refusal::StaleActivation)
        }
    }

    /// The track after a (verified, fresh) owner decision on `activation`.
    /// Approve: while waiting. Deny: while waiting or open (the owner may
    /// close an access the wait opened).
    pub fn decide(
        track: Option<&EmergencyTrack>,
        activation: &[u8; 32],
        verdict: Verdict,
    ) -> core::result::Result<EmergencyTrack, Refusal> {
        let Some(t) = track else {
            return Err(Refusal::NotActivated);
        };
        if t.activation != *activation {
            return Err(Refusal::ActivationMismatch);
        }
        match (t.verdict, verdict) {
            (Some(Verdict::Deny), _) | (Some(Verdict::Approve), Verdict::Approve) => {
                Err(Refusal::AlreadyDecided)
            }
            _ => Ok(EmergencyTrack {
                verdict: Some(verdict),
                ..t.clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{GrantTerms, IssuedGrant, Role, MAX_EMERGENCY_WAIT_MS as MAX_WAIT};
    use crate::primitives::os_rng;
    use crate::record::{EpochId, SectionId, SectionKey};
    use crate::secret::Seed;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    fn grant(owner: &Identity, grantee: &Identity, wait: Option<u64>) -> VerifiedGrant {
        let srs = party(9);
        let key = SectionKey::for_owner(
            owner,
            RecordId([1; 32]),
            SectionId([2; 32]),
            EpochId([3; 32]),
        )
        .unwrap();
        let terms = GrantTerms {
            emergency_wait_ms: wait,
            ..GrantTerms::new(grantee.public(), Role::Emergency, 1)
        };
        IssuedGrant::issue(owner, &key, &srs.public().encryption, &terms, &mut os_rng())
            .unwrap()
            .statement
    }

    #[test]
    fn activation_and_decision_bind_their_signers_and_grant() {
        let (owner, contact, other) = (party(1), party(2), party(3));
        let g = grant(&owner, &contact, Some(3_600_000));
        let a = EmergencyActivation::sign(&contact, &g, [0; 32], 10, &mut os_rng()).unwrap();
        assert_eq!(EmergencyActivation::verify(a.as_bytes(), &g).unwrap(), a);
        assert_eq!(
            EmergencyActivation::payload_hash(a.as_bytes()).unwrap(),
            a.hash()
        );
        assert_eq!(
            EmergencyActivation::peek_grant_id(a.as_bytes()).unwrap(),
            (g.grant_id, g.record)
        );
        // Someone else: refused before signing, and a forged signature fails.
        assert!(EmergencyActivation::sign(&other, &g, [0; 32], 10, &mut os_rng()).is_err());
        let theirs = grant(&owner, &other, Some(3_600_000));
        let forged =
            EmergencyActivation::sign(&other, &theirs, [0; 32], 10, &mut os_rng()).unwrap();
        assert!(EmergencyActivation::verify(forged.as_bytes(), &g).is_err());
        // An ordinary grant cannot be activated.
        let plain = grant(&owner, &contact, None);
        assert_eq!(
            EmergencyActivation::sign(&contact, &plain, [0; 32], 10, &mut os_rng())
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        // Tamper with any byte: rejected whole.
        for i in 0..a.as_bytes().len() {
            let mut bad = a.as_bytes().to_vec();
            bad[i] ^= 1;
            assert!(EmergencyActivation::verify(&bad, &g).is_err(), "byte {i}");
        }
        let d = EmergencyDecision::sign(&owner, &g, &a, Verdict::Deny, 11, &mut os_rng()).unwrap();
        assert_eq!(EmergencyDecision::verify(d.as_bytes(), &g).unwrap(), d);
        assert_eq!(d.activation, a.hash());
        assert!(
            EmergencyDecision::sign(&contact, &g, &a, Verdict::Approve, 11, &mut os_rng()).is_err()
        );
        for i in 0..d.as_bytes().len() {
            let mut bad = d.as_bytes().to_vec();
            bad[i] ^= 1;
            assert!(EmergencyDecision::verify(&bad, &g).is_err(), "byte {i}");
        }
    }

    #[test]
    fn an_emergency_statement_cannot_be_tampered_with_or_downgraded() {
        let (owner, contact) = (party(1), party(2));
        let g = grant(&owner, &contact, Some(86_400_000));
        let bytes = g.as_bytes().to_vec();
        assert_eq!((bytes.len(), bytes[5]), (477, 2));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(VerifiedGrant::from_bytes(&bad).is_err(), "byte {i}");
        }
        // Relabelled format 1 (an ordinary grant): the wait is trailing bytes.
        let mut ordinary = bytes.clone();
        ordinary[5] = 1;
        assert_eq!(
            VerifiedGrant::from_bytes(&ordinary).unwrap_err().code(),
            "malformed"
        );
        // The wait cut off, relabelled: the signature no longer covers it.
        let mut cut = [&bytes[..405], &bytes[413..]].concat();
        cut[5] = 1;
        assert_eq!(
            VerifiedGrant::from_bytes(&cut).unwrap_err().code(),
            "bad_signature"
        );
        // Out-of-range waits are refused when issuing.
        for wait in [0, 999, MAX_WAIT + 1] {
            let terms = GrantTerms {
                emergency_wait_ms: Some(wait),
                ..GrantTerms::new(contact.public(), Role::Emergency, 1)
            };
            let key = SectionKey::for_owner(
                &owner,
                RecordId([1; 32]),
                SectionId([2; 32]),
                EpochId([3; 32]),
            )
            .unwrap();
            assert!(IssuedGrant::issue(
                &owner,
                &key,
                &party(9).public().encryption,
                &terms,
                &mut os_rng()
            )
            .is_err());
        }
    }

    #[test]
    fn the_state_machine_opens_only_after_the_wait_or_an_approval() {
        let wait = 1000;
        assert_eq!(
            EmergencyTrack::state(None, wait, 5),
            EmergencyState::Dormant
        );
        let t = EmergencyTrack::activate(None, wait, [1; 32], 100).unwrap();
        assert!(!EmergencyTrack::answers(Some(&t), wait, 1099));
        assert!(EmergencyTrack::answers(Some(&t), wait, 1100));
        assert_eq!(
            EmergencyTrack::activate(Some(&t), wait, [2; 32], 200),
            Err(Refusal::AlreadyActivated)
        );
        let approved = EmergencyTrack::decide(Some(&t), &[1; 32], Verdict::Approve).unwrap();
        assert!(EmergencyTrack::answers(Some(&approved), wait, 101));
        assert_eq!(
            EmergencyTrack::decide(Some(&t), &[9; 32], Verdict::Approve),
            Err(Refusal::ActivationMismatch)
        );
        let denied = EmergencyTrack::decide(Some(&approved), &[1; 32], Verdict::Deny).unwrap();
        assert!(!EmergencyTrack::answers(Some(&denied), wait, u64::MAX));
        assert_eq!(
            EmergencyTrack::decide(Some(&denied), &[1; 32], Verdict::Approve),
            Err(Refusal::AlreadyDecided)
        );
        assert_eq!(
            EmergencyTrack::decide(None, &[1; 32], Verdict::Deny),
            Err(Refusal::NotActivated)
        );
        // A new activation after a denial waits again.
        let again = EmergencyTrack::activate(Some(&denied), wait, [3; 32], 5000).unwrap();
        assert!(!EmergencyTrack::answers(Some(&again), wait, 5999));
        assert!(EmergencyTrack::answers(Some(&again), wait, 6000));
    }
}
