//! The SRS's signed answers about emergency grants. Every emergency answer
//! travels through the untrusted relay's `/srs/*` proxy, so none of it is
//! taken unsigned: the listing an owner reads and the state a grantee reads
//! are an [`EmergencyView`] (kind `0x20`), signed by the SRS's identity key
//! (the one clients pin, as for audit tree heads and revocation receipts)
//! and bound to the requester and the nonce of the request it answers (a
//! relay cannot replay an older view); an owner's approval or denial is
//! effective only on the SRS's signed [`EmergencyReceipt`] (kind `0x21`)
//! naming that decision's hash and the state it led to.
//!
//! A view is rejected whole when any entry is inconsistent: a state without
//! the activation it needs, an opening that does not follow from the
//! activation and the wait, or an opening earlier than the activation's
//! grantee-signed time plus the wait minus [`MAX_REPLAY_WINDOW_MS`] (so
//! not even the SRS can claim an earlier opening than the grantee's own
//! clock allows).

use crate::emergency::{EmergencyActivation, EmergencyDecision, Verdict, MAX_REPLAY_WINDOW_MS};
use crate::error::{malformed, Error, Result};
use crate::grant::{GrantId, VerifiedGrant};
use crate::identity::{Identity, PartyId, PublicIdentity};
use crate::primitives::codec::{wire_enum, Kind, Reader, Writer};
use crate::primitives::SIGNATURE_LEN;
use crate::record::RecordId;

wire_enum! {
    /// An emergency grant's state as the SRS states it.
    pub enum ViewState (names: name, from_name) {
        /// Never activated.
        Dormant = 1 => "dormant",
        /// Activated; the wait runs until `opens_at` unless the owner decides.
        Waiting = 2 => "waiting",
        /// Answerable: the wait passed or the owner approved.
        Open = 3 => "open",
        /// The owner denied the latest activation.
        Denied = 4 => "denied",
    }
}

/// The latest activation of a grant, as a view names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewActivation {
    /// [`EmergencyActivation::hash`].
    pub hash: [u8; 32],
    /// The grantee-signed time in it (grantee's clock, ms).
    pub timestamp: u64,
    /// SRS emergency clock when it arrived.
    pub activated_at: u64,
    /// SRS emergency clock when the wait ends (`activated_at + wait`).
    pub opens_at: u64,
}

/// One emergency grant in a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewEntry {
    /// The grant.
    pub grant_id: GrantId,
    /// Its state at the view's `now`.
    pub state: ViewState,
    /// `open` because the owner approved (not because the wait passed).
    pub approved: bool,
    /// The wait the grant carries, ms.
    pub wait_ms: u64,
    /// The latest activation (`None`: never activated).
    pub activation: Option<ViewActivation>,
    /// [`EmergencyDecision::hash`] of the grant's latest owner decision
    /// (`None`: none yet): what the next activation must follow.
    pub last_decision: Option<[u8; 32]>,
}

/// Encoded length of one entry.
pub const VIEW_ENTRY_LEN: usize = 16 + 1 + 1 + 8 + 32 + 8 + 8 + 8 + 32;
/// Most entries a view may carry.
pub const MAX_VIEW_ENTRIES: usize = 4096;
/// Length of a view's fixed part: header, record, requester, nonce, now, count.
const VIEW_HEAD_LEN: usize = 6 + 32 + 32 + 16 + 8 + 4;

const ZERO: [u8; 32] = [0; 32];

fn bad(reason: &'static str) -> Error {
    malformed(Kind::EmergencyView.name(), reason)
}

impl ViewEntry {
    fn write(&self, w: &mut Writer) {
        let a = self.activation.unwrap_or(ViewActivation {
            hash: ZERO,
            timestamp: 0,
            activated_at: 0,
            opens_at: 0,
        });
        w.raw(&self.grant_id)
            .u8(self.state as u8)
            .u8(self.approved as u8)
            .u64(self.wait_ms)
            .raw(&a.hash)
            .u64(a.timestamp)
            .u64(a.activated_at)
            .u64(a.opens_at)
            .raw(&self.last_decision.unwrap_or(ZERO));
    }

    fn read(r: &mut Reader<'_>) -> Result<ViewEntry> {
        let grant_id = r.array()?;
        let state = ViewState::from_u8(r.u8()?).ok_or_else(|| bad("unknown state"))?;
        let approved = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(bad("approved is 0 or 1")),
        };
        let wait_ms = r.u64()?;
        let hash: [u8; 32] = r.array()?;
        let (timestamp, activated_at, opens_at) = (r.u64()?, r.u64()?, r.u64()?);
        let decision: [u8; 32] = r.array()?;
        let activation = if hash == ZERO {
            if (timestamp, activated_at, opens_at) != (0, 0, 0) {
                return Err(bad("times without an activation"));
            }
            None
        } else {
            Some(ViewActivation {
                hash,
                timestamp,
                activated_at,
                opens_at,
            })
        };
        let e = ViewEntry {
            grant_id,
            state,
            approved,
            wait_ms,
            activation,
            last_decision: (decision != ZERO).then_some(decision),
        };
        Ok(e)
    }

    /// The consistency rules, at the view's `now` (see the module doc).
    fn check(&self, now: u64) -> Result<()> {
        if self.approved && self.state != ViewState::Open {
            return Err(bad("approved outside the open state"));
        }
        let Some(a) = self.activation else {
            return match self.state {
                ViewState::Dormant if self.last_decision.is_none() => Ok(()),
                _ => Err(bad("state needs an activation")),
            };
        };
        if a.opens_at != a.activated_at.saturating_add(self.wait_ms) {
            return Err(bad("opening is not activation plus wait"));
        }
        // The lower bound: no opening earlier than the grantee's own signed
        // time plus the wait, minus the most clock slack an SRS may allow.
        let earliest = a
            .timestamp
            .saturating_add(self.wait_ms)
            .saturating_sub(MAX_REPLAY_WINDOW_MS);
        if a.opens_at < earliest {
            return Err(bad("opening earlier than the signed activation allows"));
        }
        match self.state {
            ViewState::Dormant => Err(bad("dormant with an activation")),
            ViewState::Waiting if now < a.opens_at => Ok(()),
            ViewState::Waiting => Err(bad("waiting past the opening")),
            ViewState::Open if self.approved && self.last_decision.is_some() => Ok(()),
            ViewState::Open if !self.approved && now >= a.opens_at => Ok(()),
            ViewState::Open => Err(bad("open before the opening without an approval")),
            ViewState::Denied if self.last_decision.is_some() => Ok(()),
            ViewState::Denied => Err(bad("denied without a decision")),
        }
    }

    /// Checks this entry against the grant it names: the same grant and
    /// the wait its owner signed (`binding_mismatch`).
    pub fn check_grant(&self, grant: &VerifiedGrant) -> Result<()> {
        if self.grant_id != grant.grant_id || Some(self.wait_ms) != grant.emergency_wait_ms {
            return Err(Error::BindingMismatch(
                "the SRS's view names another grant or wait",
            ));
        }
        Ok(())
    }

    /// Checks that `activation` (verified against the grant) is the one
    /// this entry names, with the same grantee-signed time.
    pub fn check_activation(&self, activation: &EmergencyActivation) -> Result<()> {
        match self.activation {
            Some(a)
                if a.hash == activation.hash()
                    && a.timestamp == activation.timestamp
                    && activation.grant_id == self.grant_id =>
            {
                Ok(())
            }
            _ => Err(Error::BindingMismatch(
                "the activation is not the one the SRS's view names",
            )),
        }
    }
}

/// An SRS-signed view of emergency grants (kind `0x20`), verified: signed
/// by the pinned SRS, for this record, requester and request nonce, every
/// entry consistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyView {
    /// The record.
    pub record: RecordId,
    /// Who asked (the party whose signed request this answers).
    pub requester: PartyId,
    /// The nonce of the request this answers (a token's, or an activation's).
    pub nonce: [u8; 16],
    /// SRS emergency clock when it answered, ms.
    pub now: u64,
    /// The grants (the owner's listing: every live emergency grant of the
    /// record; a grantee's status: the one asked about).
    pub entries: Vec<ViewEntry>,
    bytes: Vec<u8>,
}

impl EmergencyView {
    /// Signs a view (SRS side). `invalid_state` if an entry breaks the
    /// rules a client checks, `too_large` past [`MAX_VIEW_ENTRIES`].
    pub fn sign(
        srs: &Identity,
        record: &RecordId,
        requester: &PartyId,
        nonce: [u8; 16],
        now: u64,
        entries: Vec<ViewEntry>,
    ) -> Result<EmergencyView> {
        if entries.len() > MAX_VIEW_ENTRIES {
            return Err(Error::TooLarge("emergency view"));
        }
        let mut w = Writer::object(Kind::EmergencyView);
        w.raw(&record.0)
            .raw(&requester.0)
            .raw(&nonce)
            .u64(now)
            .u32(entries.len() as u32);
        for e in &entries {
            e.check(now)
                .map_err(|_| Error::InvalidState("an emergency view entry breaks its rules"))?;
            e.write(&mut w);
        }
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        Ok(EmergencyView {
            record: *record,
            requester: *requester,
            nonce,
            now,
            entries,
            bytes: w.finish(),
        })
    }

    /// Decodes and verifies against the pinned SRS key, the record, the
    /// requester and the nonce of the request sent. Rejected whole on any
    /// mismatch (`bad_signature`, `binding_mismatch`, `malformed`).
    pub fn verify(
        bytes: &[u8],
        srs: &PublicIdentity,
        record: &RecordId,
        requester: &PartyId,
        nonce: &[u8; 16],
    ) -> Result<EmergencyView> {
        let mut r = Reader::object(bytes, Kind::EmergencyView)?;
        let rec = RecordId(r.array()?);
        let who = PartyId(r.array()?);
        let n: [u8; 16] = r.array()?;
        let now = r.u64()?;
        let count = r.u32()? as usize;
        if count > MAX_VIEW_ENTRIES
            || bytes.len() != VIEW_HEAD_LEN + count * VIEW_ENTRY_LEN + SIGNATURE_LEN
        {
            return Err(bad("length does not match the entry count"));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(ViewEntry::read(&mut r)?);
        }
        srs.verify_rest(r)?;
        if rec != *record || who != *requester || n != *nonce {
            return Err(Error::BindingMismatch(
                "the SRS's view answers another record, party or request",
            ));
        }
        for (i, e) in entries.iter().enumerate() {
            e.check(now)?;
            if entries[..i].iter().any(|o| o.grant_id == e.grant_id) {
                return Err(bad("a grant listed twice"));
            }
        }
        Ok(EmergencyView {
            record: rec,
            requester: who,
            nonce: n,
            now,
            entries,
            bytes: bytes.to_vec(),
        })
    }

    /// The entry of `grant_id`, if listed.
    pub fn entry(&self, grant_id: &GrantId) -> Option<&ViewEntry> {
        self.entries.iter().find(|e| e.grant_id == *grant_id)
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The SRS's signed receipt of an owner's decision (kind `0x21`): it took
/// the decision with this hash and the grant is now in `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyReceipt {
    /// The record.
    pub record: RecordId,
    /// The grant.
    pub grant_id: GrantId,
    /// [`EmergencyDecision::hash`] of the decision taken.
    pub decision: [u8; 32],
    /// Its verdict.
    pub verdict: Verdict,
    /// The grant's state after it (`open` for an approval, `denied` for a
    /// denial).
    pub state: ViewState,
    /// SRS emergency clock when it took it, ms.
    pub at: u64,
    bytes: Vec<u8>,
}

/// The state a verdict leads to.
fn state_after(verdict: Verdict) -> ViewState {
    match verdict {
        Verdict::Approve => ViewState::Open,
        Verdict::Deny => ViewState::Denied,
    }
}

impl EmergencyReceipt {
    /// Signs a receipt (SRS side), after the decision is durably stored.
    pub fn sign(srs: &Identity, decision: &EmergencyDecision, at: u64) -> EmergencyReceipt {
        let state = state_after(decision.verdict);
        let mut w = Writer::object(Kind::EmergencyReceipt);
        w.raw(&decision.record.0)
            .raw(&decision.grant_id)
            .raw(&decision.hash())
            .u8(decision.verdict as u8)
            .u8(state as u8)
            .u64(at);
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        EmergencyReceipt {
            record: decision.record,
            grant_id: decision.grant_id,
            decision: decision.hash(),
            verdict: decision.verdict,
            state,
            at,
            bytes: w.finish(),
        }
    }

    /// Decodes and verifies against the pinned SRS key and the decision
    /// sent: its grant, record, hash and verdict, and the state that verdict
    /// leads to. Rejected whole on any mismatch.
    pub fn verify(
        bytes: &[u8],
        srs: &PublicIdentity,
        decision: &EmergencyDecision,
    ) -> Result<EmergencyReceipt> {
        let mut r = Reader::object(bytes, Kind::EmergencyReceipt)?;
        let record = RecordId(r.array()?);
        let grant_id = r.array()?;
        let hash = r.array()?;
        let verdict = Verdict::from_u8(r.u8()?)
            .ok_or_else(|| malformed(Kind::EmergencyReceipt.name(), "unknown verdict"))?;
        let state = ViewState::from_u8(r.u8()?)
            .ok_or_else(|| malformed(Kind::EmergencyReceipt.name(), "unknown state"))?;
        let at = r.u64()?;
        srs.verify_rest(r)?;
        if record != decision.record
            || grant_id != decision.grant_id
            || hash != decision.hash()
            || verdict != decision.verdict
            || state != state_after(verdict)
        {
            return Err(Error::BindingMismatch(
                "the receipt is for another decision",
            ));
        }
        Ok(EmergencyReceipt {
            record,
            grant_id,
            decision: hash,
            verdict,
            state,
            at,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emergency::EmergencyActivation;
    use crate::grant::{GrantTerms, IssuedGrant, Role};
    use crate::primitives::os_rng;
    use crate::record::{EpochId, SectionId, SectionKey};
    use crate::secret::Seed;
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    const HOUR: u64 = 3_600_000;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    fn grant(owner: &Identity, grantee: &Identity, wait: u64) -> VerifiedGrant {
        let key = SectionKey::for_owner(
            owner,
            RecordId([1; 32]),
            SectionId([2; 32]),
            EpochId([3; 32]),
        )
        .unwrap();
        let terms = GrantTerms {
            emergency_wait_ms: Some(wait),
            ..GrantTerms::new(grantee.public(), Role::Emergency, 1)
        };
        IssuedGrant::issue(
            owner,
            &key,
            &party(9).public().encryption,
            &terms,
            &mut os_rng(),
        )
        .unwrap()
        .statement
    }

    fn waiting(g: &VerifiedGrant, a: &EmergencyActivation, at: u64) -> ViewEntry {
        let wait = g.emergency_wait_ms.unwrap();
        ViewEntry {
            grant_id: g.grant_id,
            state: ViewState::Waiting,
            approved: false,
            wait_ms: wait,
            activation: Some(ViewActivation {
                hash: a.hash(),
                timestamp: a.timestamp,
                activated_at: at,
                opens_at: at + wait,
            }),
            last_decision: None,
        }
    }

    #[test]
    fn a_view_binds_the_srs_record_requester_and_nonce_and_is_rejected_whole() {
        let (srs, owner, contact) = (party(9), party(1), party(2));
        let g = grant(&owner, &contact, 24 * HOUR);
        let t = 1_000_000_000;
        let a = EmergencyActivation::sign(&contact, &g, ZERO, t, &mut os_rng()).unwrap();
        let e = waiting(&g, &a, t + 5);
        let v =
            EmergencyView::sign(&srs, &g.record, &owner.id(), [7; 16], t + 10, vec![e]).unwrap();
        let ok =
            EmergencyView::verify(v.as_bytes(), srs.public(), &g.record, &owner.id(), &[7; 16])
                .unwrap();
        assert_eq!(ok, v);
        assert_eq!(v.as_bytes().len(), VIEW_HEAD_LEN + VIEW_ENTRY_LEN + 64);
        let entry = ok.entry(&g.grant_id).unwrap();
        entry.check_grant(&g).unwrap();
        entry.check_activation(&a).unwrap();
        // Another SRS key, record, requester or nonce (a replayed view).
        let wrong = |srs: &PublicIdentity, rec: RecordId, who: PartyId, n: [u8; 16]| {
            EmergencyView::verify(v.as_bytes(), srs, &rec, &who, &n)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            wrong(owner.public(), g.record, owner.id(), [7; 16]),
            "bad_signature"
        );
        assert_eq!(
            wrong(srs.public(), RecordId([4; 32]), owner.id(), [7; 16]),
            "binding_mismatch"
        );
        assert_eq!(
            wrong(srs.public(), g.record, contact.id(), [7; 16]),
            "binding_mismatch"
        );
        assert_eq!(
            wrong(srs.public(), g.record, owner.id(), [8; 16]),
            "binding_mismatch"
        );
        // Any byte changed: rejected whole.
        for i in 0..v.as_bytes().len() {
            let mut b = v.as_bytes().to_vec();
            b[i] ^= 1;
            assert!(
                EmergencyView::verify(&b, srs.public(), &g.record, &owner.id(), &[7; 16]).is_err(),
                "byte {i}"
            );
        }
        // Cut, extended, or an entry dropped (count and length disagree).
        let b = v.as_bytes();
        for bad in [&b[..b.len() - 1], &[b, &[0][..]].concat()[..]] {
            assert!(
                EmergencyView::verify(bad, srs.public(), &g.record, &owner.id(), &[7; 16]).is_err()
            );
        }
        // Another wait than the grant's, another activation.
        let other = grant(&owner, &contact, HOUR);
        assert_eq!(
            entry.check_grant(&other).unwrap_err().code(),
            "binding_mismatch"
        );
        let a2 = EmergencyActivation::sign(&contact, &g, ZERO, t, &mut os_rng()).unwrap();
        assert_eq!(
            entry.check_activation(&a2).unwrap_err().code(),
            "binding_mismatch"
        );
    }

    #[test]
    fn the_srs_cannot_sign_an_inconsistent_view_and_a_client_refuses_one() {
        let (srs, owner, contact) = (party(9), party(1), party(2));
        let g = grant(&owner, &contact, 24 * HOUR);
        let t = 1_000_000_000;
        let a = EmergencyActivation::sign(&contact, &g, ZERO, t, &mut os_rng()).unwrap();
        let base = waiting(&g, &a, t);
        let cases = [
            // Opening earlier than the grantee's signed time allows.
            ViewEntry {
                activation: Some(ViewActivation {
                    activated_at: t - 2 * MAX_REPLAY_WINDOW_MS,
                    opens_at: t - 2 * MAX_REPLAY_WINDOW_MS + 24 * HOUR,
                    ..base.activation.unwrap()
                }),
                ..base
            },
            // opensAt not activation + wait.
            ViewEntry {
                activation: Some(ViewActivation {
                    opens_at: t + HOUR,
                    ..base.activation.unwrap()
                }),
                ..base
            },
            // Dormant with an activation; open without approval before the opening.
            ViewEntry {
                state: ViewState::Dormant,
                ..base
            },
            ViewEntry {
                state: ViewState::Open,
                ..base
            },
            // Denied with no decision; approved but waiting.
            ViewEntry {
                state: ViewState::Denied,
                ..base
            },
            ViewEntry {
                approved: true,
                ..base
            },
            // Waiting with no activation.
            ViewEntry {
                activation: None,
                ..base
            },
        ];
        for (i, e) in cases.into_iter().enumerate() {
            assert_eq!(
                EmergencyView::sign(&srs, &g.record, &owner.id(), [1; 16], t + 1, vec![e])
                    .unwrap_err()
                    .code(),
                "invalid_state",
                "case {i}"
            );
        }
        // Waiting past the opening: refused too.
        assert!(EmergencyView::sign(
            &srs,
            &g.record,
            &owner.id(),
            [1; 16],
            t + 24 * HOUR,
            vec![base]
        )
        .is_err());
        // The same grant listed twice is refused by the client.
        let v = EmergencyView::sign(
            &srs,
            &g.record,
            &owner.id(),
            [1; 16],
            t + 1,
            vec![base, base],
        )
        .unwrap();
        assert_eq!(
            EmergencyView::verify(v.as_bytes(), srs.public(), &g.record, &owner.id(), &[1; 16])
                .unwrap_err()
                .code(),
            "malformed"
        );
    }

    #[test]
    fn a_receipt_names_the_decision_and_the_state_it_led_to() {
        let (srs, owner, contact) = (party(9), party(1), party(2));
        let g = grant(&owner, &contact, HOUR);
        let a = EmergencyActivation::sign(&contact, &g, ZERO, 10, &mut os_rng()).unwrap();
        let deny =
            EmergencyDecision::sign(&owner, &g, &a, Verdict::Deny, 11, &mut os_rng()).unwrap();
        let approve =
            EmergencyDecision::sign(&owner, &g, &a, Verdict::Approve, 11, &mut os_rng()).unwrap();
        let r = EmergencyReceipt::sign(&srs, &deny, 12);
        let ok = EmergencyReceipt::verify(r.as_bytes(), srs.public(), &deny).unwrap();
        assert_eq!((ok.state, ok.decision), (ViewState::Denied, deny.hash()));
        assert_eq!(r.as_bytes().len(), 6 + 32 + 16 + 32 + 1 + 1 + 8 + 64);
        // A receipt of another decision (the approval) is not the denial's.
        let other = EmergencyReceipt::sign(&srs, &approve, 12);
        assert_eq!(
            EmergencyReceipt::verify(other.as_bytes(), srs.public(), &deny)
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert_eq!(
            EmergencyReceipt::verify(r.as_bytes(), owner.public(), &deny)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        for i in 0..r.as_bytes().len() {
            let mut b = r.as_bytes().to_vec();
            b[i] ^= 1;
            assert!(
                EmergencyReceipt::verify(&b, srs.public(), &deny).is_err(),
                "byte {i}"
            );
        }
        // A "denied" state on an approval, re-signed by the SRS: refused.
        let mut w = Writer::object(Kind::EmergencyReceipt);
        w.raw(&approve.record.0)
            .raw(&approve.grant_id)
            .raw(&approve.hash())
            .u8(Verdict::Approve as u8)
            .u8(ViewState::Denied as u8)
            .u64(12);
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        assert!(EmergencyReceipt::verify(&w.finish(), srs.public(), &approve).is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any view the SRS can sign round-trips; any entry the client
        /// accepts obeys the lower bound on its opening.
        #[test]
        fn views_round_trip_and_keep_the_lower_bound(
            wait in 1_000u64..90 * 24 * HOUR,
            ts in 0u64..4_000_000_000_000,
            skew in 0u64..2 * MAX_REPLAY_WINDOW_MS,
            later in 0u64..2 * 24 * HOUR,
            n in 0usize..6,
            nonce in any::<[u8; 16]>(),
        ) {
            let srs = party(9);
            let at = ts.saturating_sub(skew);
            let now = at + later;
            let entries: Vec<ViewEntry> = (0..n)
                .map(|i| {
                    let opens_at = at + wait;
                    let state = if now < opens_at { ViewState::Waiting } else { ViewState::Open };
                    ViewEntry {
                        grant_id: [i as u8; 16],
                        state,
                        approved: false,
                        wait_ms: wait,
                        activation: Some(ViewActivation { hash: [i as u8 + 1; 32], timestamp: ts, activated_at: at, opens_at }),
                        last_decision: None,
                    }
                })
                .collect();
            let signed = EmergencyView::sign(&srs, &RecordId([3; 32]), &PartyId([4; 32]), nonce, now, entries.clone());
            if skew > MAX_REPLAY_WINDOW_MS && n > 0 {
                prop_assert!(signed.is_err());
            } else {
                let v = signed.unwrap();
                let back = EmergencyView::verify(v.as_bytes(), srs.public(), &RecordId([3; 32]), &PartyId([4; 32]), &nonce).unwrap();
                prop_assert_eq!(&back.entries, &entries);
                for e in &back.entries {
                    let a = e.activation.unwrap();
                    prop_assert!(a.opens_at + MAX_REPLAY_WINDOW_MS >= a.timestamp + e.wait_ms);
                }
            }
        }
    }
}
