//! The single-use rule of an invitation, written once: one invitation
//! secret yields at most one accepted grant set. The owner keeps, in its
//! encrypted owner state, where each invitation stands ([`Standing`]); a
//! verified acceptance is weighed against it ([`decide`]) both when the
//! acceptances are listed and inside the compare-and-swap that marks the
//! invitation used before any grant, so a second person's acceptance, a
//! replay, an expired or a cancelled invitation is refused with a stable
//! code ([`Refusal::code`]) and grants nothing. Pure: the npm package
//! drives it through wasm (`invitationUse`), over its own storage.

use crate::identity::PartyId;

/// Where an invitation stands in its owner's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Made, not yet used: an acceptance in time may take it.
    Open,
    /// Taken by one invitee (marked before any grant), granted or not yet.
    Used {
        /// The invitee it was marked used by.
        by: PartyId,
        /// Whether its grants were all issued.
        granted: bool,
    },
    /// Cancelled by the owner: it takes no acceptance.
    Cancelled,
}

/// An invitation as the owner keeps it: its standing and its expiry (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where it stands.
    pub standing: Standing,
    /// Its owner-signed expiry, ms since the Unix epoch.
    pub expires_at: u64,
}

/// Why an acceptance is refused (nothing is granted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The owner has no such invitation, or cancelled it: `invitation_unknown`.
    Unknown,
    /// It was accepted, or is weighed, after its expiry: `invitation_expired`.
    Expired,
    /// Someone else's acceptance already took it: `invitation_used`.
    Used,
}

impl Refusal {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Unknown => "invitation_unknown",
            Refusal::Expired => "invitation_expired",
            Refusal::Used => "invitation_used",
        }
    }
    /// What happened, in plain words.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unknown => "It answers no invitation of yours (or one you cancelled).",
            Refusal::Expired => "The invitation had expired when it was accepted.",
            Refusal::Used => "The invitation was already accepted by someone else.",
        }
    }
}

/// What to do with a verified acceptance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Open and in time: mark it used by this invitee (compare-and-swap),
    /// then grant its sections.
    Take,
    /// Marked used by this invitee, grants not all issued (a confirmation
    /// that stopped half way): finish it, granting only what is missing.
    Resume,
    /// Used by this invitee and granted: the same person again (a second
    /// click, a replay); nothing more is granted.
    Done,
    /// Refused: nothing is granted.
    Refused(Refusal),
}

/// Weighs a verified acceptance by `invitee`, which claims `accepted_at`
/// (ms), against the owner's `entry` for its invitation (`None`: no such
/// invitation) at the owner's time `now` (ms). The owner's clock decides
/// the expiry, and the invitee's claimed time must agree with it.
pub fn decide(entry: Option<&Entry>, invitee: &PartyId, accepted_at: u64, now: u64) -> Use {
    let Some(entry) = entry else {
        return Use::Refused(Refusal::Unknown);
    };
    match entry.standing {
        Standing::Cancelled => Use::Refused(Refusal::Unknown),
        Standing::Used { by, .. } if by != *invitee => Use::Refused(Refusal::Used),
        Standing::Used { granted: false, .. } => Use::Resume,
        Standing::Used { granted: true, .. } => Use::Done,
        Standing::Open if now > entry.expires_at || accepted_at > entry.expires_at => {
            Use::Refused(Refusal::Expired)
        }
        Standing::Open => Use::Take,
    }
}

impl Entry {
    /// The entry after `invitee`'s acceptance took it ([`Use::Take`]):
    /// used by that invitee, nothing granted yet.
    pub fn taken_by(self, invitee: PartyId) -> Entry {
        Entry {
            standing: Standing::Used {
                by: invitee,
                granted: false,
            },
            ..self
        }
    }
    /// The entry once its grants are all issued.
    pub fn granted(self) -> Entry {
        match self.standing {
            Standing::Used { by, .. } => Entry {
                standing: Standing::Used { by, granted: true },
                ..self
            },
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    const EXPIRES: u64 = 1_000_000;
    const ALICE: PartyId = PartyId([1; 32]);
    const BOB: PartyId = PartyId([2; 32]);

    fn open() -> Entry {
        Entry {
            standing: Standing::Open,
            expires_at: EXPIRES,
        }
    }

    #[test]
    fn an_open_invitation_in_time_is_taken_once_then_used() {
        assert_eq!(decide(Some(&open()), &ALICE, 10, 20), Use::Take);
        let taken = open().taken_by(ALICE);
        // Half done: the same invitee finishes it; anyone else is refused.
        assert_eq!(decide(Some(&taken), &ALICE, 10, 30), Use::Resume);
        assert_eq!(
            decide(Some(&taken), &BOB, 11, 30),
            Use::Refused(Refusal::Used)
        );
        let done = taken.granted();
        assert_eq!(decide(Some(&done), &ALICE, 10, 40), Use::Done);
        assert_eq!(
            decide(Some(&done), &BOB, 12, 40),
            Use::Refused(Refusal::Used)
        );
        // A half-done confirmation can be finished after the expiry; a used
        // one refuses others after it too.
        assert_eq!(decide(Some(&taken), &ALICE, 10, EXPIRES + 5), Use::Resume);
        assert_eq!(
            decide(Some(&done), &BOB, 10, EXPIRES + 5),
            Use::Refused(Refusal::Used)
        );
    }

    #[test]
    fn unknown_cancelled_and_expired_are_refused_with_their_codes() {
        assert_eq!(decide(None, &ALICE, 1, 2), Use::Refused(Refusal::Unknown));
        let cancelled = Entry {
            standing: Standing::Cancelled,
            ..open()
        };
        assert_eq!(
            decide(Some(&cancelled), &ALICE, 1, 2),
            Use::Refused(Refusal::Unknown)
        );
        // Past the expiry by the owner's clock, or by the invitee's claim.
        assert_eq!(
            decide(Some(&open()), &ALICE, 1, EXPIRES + 1),
            Use::Refused(Refusal::Expired)
        );
        assert_eq!(
            decide(Some(&open()), &ALICE, EXPIRES + 1, 2),
            Use::Refused(Refusal::Expired)
        );
        assert_eq!(decide(Some(&open()), &ALICE, EXPIRES, EXPIRES), Use::Take);
        assert_eq!(Refusal::Unknown.code(), "invitation_unknown");
        assert_eq!(Refusal::Expired.code(), "invitation_expired");
        assert_eq!(Refusal::Used.code(), "invitation_used");
        // Cancelling never un-uses: `granted` on an open entry changes nothing.
        assert_eq!(open().granted(), open());
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        /// Any order of acceptances by any invitees, replays included, each
        /// confirmed as the rule says (a take marks it, a resume or take
        /// finishes it): at most one invitee ever gets grants, and only
        /// once per take.
        #[test]
        fn one_invitation_yields_at_most_one_grant_set(
            events in proptest::collection::vec((0u8..4, 0u64..2_000_000, any::<bool>()), 0..40)
        ) {
            let mut entry = open();
            let mut granted_to: Option<PartyId> = None;
            let mut takes = 0;
            for (who, at, finishes) in events {
                let invitee = PartyId([who; 32]);
                match decide(Some(&entry), &invitee, at, at) {
                    Use::Take => {
                        takes += 1;
                        entry = entry.taken_by(invitee);
                        if finishes {
                            entry = entry.granted();
                        }
                    }
                    Use::Resume => {
                        prop_assert_eq!(entry.standing, Standing::Used { by: invitee, granted: false });
                        if finishes {
                            entry = entry.granted();
                        }
                    }
                    Use::Done => prop_assert_eq!(entry.standing, Standing::Used { by: invitee, granted: true }),
                    Use::Refused(_) => {}
                }
                if let Standing::Used { by, granted: true } = entry.standing {
                    prop_assert!(granted_to.is_none_or(|g| g == by));
                    granted_to = Some(by);
                }
            }
            prop_assert!(takes <= 1);
        }
    }
}
