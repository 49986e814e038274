//! A model of emergency access (break-glass), checked over every
//! interleaving up to a bound: one emergency grant, its grantee who
//! activates it and asks for re-encryption, the owner who approves or
//! denies (possibly on a stale listing: an older activation), an attacker
//! who replays earlier activations and decisions, the SRS clock ticking,
//! and revocation; and the relay in the middle, which may withhold an
//! activation and deliver it later, or drop an owner's decision and answer
//! it with a receipt the SRS signed for another one.
//!
//! The SRS's decisions are the core's own state machine
//! ([`sesphr_client::emergency::EmergencyTrack`], the code
//! `relay/src/srs/emergency.rs` runs), wrapped in the same checks in the
//! same order (revoked, a spent nonce, the stored activation, the
//! decision's activation hash). The properties are judged against a ghost
//! history that records only what the grantee and the owner did, never
//! what the SRS concluded, so a wrong SRS rule shows as a violation.
//! Seeded bugs ([`EmergencyBugs`]) change the SRS's wrapping, and each must
//! be caught.

use sesphr_client::emergency::{EmergencyTrack, Verdict};
use stateright::{Model, Property};

/// Deliberate SRS bugs, each off as implemented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmergencyBugs {
    /// The SRS answers as soon as the grant is activated and not denied,
    /// without waiting.
    pub answers_without_wait: bool,
    /// The SRS does not store a denial.
    pub ignores_denial: bool,
    /// The SRS applies a decision to the latest activation whatever
    /// activation it names (an approval of an old one opens a new one).
    pub decision_not_bound: bool,
    /// The SRS spends an activation's nonce only when it takes it (the rule
    /// before the model check found it): an activation refused while
    /// another waits, delivered again after a denial, starts a new wait.
    pub refused_activation_not_spent: bool,
    /// The SRS takes an activation whatever decision it follows (the rule
    /// before activations named the latest decision): one signed before a
    /// denial, withheld by the relay and delivered after it, starts a wait.
    pub follows_unchecked: bool,
    /// The owner's client takes any SRS-signed receipt of the same verdict
    /// as the one for the decision it sent (not bound to that decision).
    pub receipt_not_bound: bool,
}

/// The bound.
#[derive(Clone, Debug)]
pub struct EmergencyConfig {
    /// The grant's wait, in clock ticks.
    pub wait: u8,
    /// Ticks the SRS clock may advance.
    pub max_clock: u8,
    /// Activations the grantee may sign.
    pub max_activations: u8,
    /// Decisions the owner may sign.
    pub max_decisions: u8,
    /// Re-encryption requests.
    pub max_requests: u8,
    /// The relay in the middle: withheld activations, dropped decisions
    /// answered with another decision's receipt.
    pub relay: bool,
    /// Seeded bugs.
    pub bugs: EmergencyBugs,
}

impl EmergencyConfig {
    /// The bound of the check: a wait of 2 ticks, time to pass it twice.
    pub fn check_bound() -> EmergencyConfig {
        EmergencyConfig {
            wait: 2,
            max_clock: 5,
            max_activations: 3,
            max_decisions: 3,
            max_requests: 3,
            relay: false,
            bugs: EmergencyBugs::default(),
        }
    }

    /// The bound with the relay in the middle (fewer requests and a
    /// shorter clock, so the larger state space stays quick).
    pub fn relay_bound() -> EmergencyConfig {
        EmergencyConfig {
            wait: 2,
            max_clock: 4,
            max_activations: 3,
            max_decisions: 3,
            max_requests: 1,
            relay: true,
            bugs: EmergencyBugs::default(),
        }
    }
}

/// The SRS's stored track (the core's [`EmergencyTrack`], its activation
/// hash standing for the activation's index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Track {
    /// Index of the latest activation stored.
    pub activation: u8,
    /// SRS clock when it arrived.
    pub activated_at: u8,
    /// The owner's verdict stored on it.
    pub verdict: Option<bool>,
}

impl Track {
    fn core(self) -> EmergencyTrack {
        EmergencyTrack {
            activation: [self.activation; 32],
            activated_at: self.activated_at as u64,
            verdict: self
                .verdict
                .map(|a| if a { Verdict::Approve } else { Verdict::Deny }),
        }
    }
    fn from_core(t: &EmergencyTrack) -> Track {
        Track {
            activation: t.activation[0],
            activated_at: t.activated_at as u8,
            verdict: t.verdict.map(|v| v == Verdict::Approve),
        }
    }
}

/// What the grantee and the owner did, as they did it (the ghost the
/// properties are judged against).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// The grantee's latest activation the SRS took: (index, clock).
    pub current: Option<(u8, u8)>,
    /// The owner approved that activation.
    pub approved: bool,
    /// The owner denied that activation.
    pub denied: bool,
}

/// The state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmergencyWorld {
    /// SRS clock, ticks.
    pub clock: u8,
    /// The SRS's track.
    pub track: Option<Track>,
    /// Activation nonces the SRS spent (bit per activation index).
    pub spent: u64,
    /// Activations signed so far (their indices are 0..).
    pub activations: u8,
    /// Decisions signed: (activation index, approve).
    pub decisions: Vec<(u8, bool)>,
    /// Requests made.
    pub requests: u8,
    /// The grant is revoked.
    pub revoked: bool,
    /// The ghost history.
    pub ghost: Ghost,
    /// An answer came before the wait without the owner's approval.
    pub answered_early: bool,
    /// An answer came after the owner denied the current activation.
    pub answered_after_denial: bool,
    /// An answer came after the wait with no approval (non-vacuity).
    pub answered_after_wait: bool,
    /// An answer came before the wait, after an approval (non-vacuity).
    pub answered_on_approval: bool,
    /// A new activation after a denial was answered after its wait.
    pub answered_after_reactivation: bool,
    /// A denial happened before the current activation.
    pub denied_before: bool,
    /// Per activation signed: (the SRS decision count it follows, as the
    /// grantee's signed view showed it; the owner decisions made when it
    /// was signed).
    pub signed: Vec<(u8, u8)>,
    /// Decisions the SRS took (what the next activation must follow).
    pub srs_decisions: u8,
    /// Decision indices the SRS signed a receipt for, with their verdict.
    pub receipts: Vec<(u8, bool)>,
    /// Activations the SRS recorded a denial of (bit per index).
    pub srs_denied: u64,
    /// Activations the SRS stored at some point (bit per index): with the
    /// relay, the owner decides only on those (it signs decisions on what
    /// an SRS-signed view listed).
    pub listed: u64,
    /// Activations the owner's client shows as denied (bit per index): it
    /// took a receipt for a denial of them.
    pub owner_sees_denied: u64,
}

/// An action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EmergencyAction {
    /// The SRS clock advances one tick.
    Tick,
    /// The grantee signs and sends a new activation.
    Activate,
    /// The attacker (relay) sends an earlier activation again.
    ReplayActivation(u8),
    /// The owner signs a decision on activation `0` (the one its listing
    /// showed: the latest or an older one), approve or deny.
    Decide(u8, bool),
    /// The attacker sends an earlier decision again.
    ReplayDecision(u8),
    /// The grantee signs a new activation; the relay withholds it (it may
    /// deliver it later: [`EmergencyAction::ReplayActivation`]).
    Withhold,
    /// The owner signs a decision on activation `0`; the relay drops it
    /// (the SRS never sees it, though the relay may send it later) and
    /// answers with the latest receipt the SRS signed, if any.
    DecideDropped(u8, bool),
    /// The grantee asks for re-encryption.
    Request,
    /// The owner revokes the grant.
    Revoke,
}

/// The model.
#[derive(Clone, Debug)]
pub struct EmergencyModel {
    /// Bound and bugs.
    pub cfg: EmergencyConfig,
}

impl EmergencyModel {
    /// The SRS taking an activation (fresh or replayed) with index `i`;
    /// whether it stored it.
    fn srs_activate(&self, s: &mut EmergencyWorld, i: u8) -> bool {
        if s.revoked || s.spent & (1 << i) != 0 {
            return false;
        }
        if s.track.is_some_and(|t| t.activation == i) {
            return false;
        }
        let core = s.track.map(Track::core);
        // Decision `c` (1-based count of those the SRS took) hashes to
        // `[c; 32]`; none is all zero, as on the wire.
        let named = [s.signed[i as usize].0; 32];
        let latest = (s.srs_decisions > 0).then_some([s.srs_decisions; 32]);
        let taken =
            EmergencyTrack::activate(core.as_ref(), self.cfg.wait as u64, [i; 32], s.clock as u64)
                .and_then(|t| {
                    if self.cfg.bugs.follows_unchecked {
                        return Ok(t);
                    }
                    EmergencyTrack::check_follows(&named, latest.as_ref()).map(|()| t)
                });
        match taken {
            Ok(t) => {
                s.spent |= 1 << i;
                s.listed |= 1 << i;
                s.track = Some(Track::from_core(&t));
                true
            }
            Err(_) => {
                // Spent though refused, so it is never taken later.
                if !self.cfg.bugs.refused_activation_not_spent {
                    s.spent |= 1 << i;
                }
                false
            }
        }
    }

    /// The SRS taking a decision on activation `i`; whether it took it
    /// (and signed a receipt of it).
    fn srs_decide(&self, s: &mut EmergencyWorld, i: u8, approve: bool) -> bool {
        if s.revoked {
            return false;
        }
        let Some(stored) = s.track else {
            return false;
        };
        let named = if self.cfg.bugs.decision_not_bound {
            stored.activation
        } else {
            i
        };
        let verdict = if approve {
            Verdict::Approve
        } else {
            Verdict::Deny
        };
        if let Ok(t) = EmergencyTrack::decide(Some(&stored.core()), &[named; 32], verdict) {
            if !approve && self.cfg.bugs.ignores_denial {
                return false;
            }
            s.track = Some(Track::from_core(&t));
            s.srs_decisions += 1;
            if !approve {
                s.srs_denied |= 1 << t.activation[0];
            }
            return true;
        }
        false
    }

    /// Whether the SRS answers a request now.
    fn srs_answers(&self, s: &EmergencyWorld) -> bool {
        if s.revoked {
            return false;
        }
        let core = s.track.map(Track::core);
        if self.cfg.bugs.answers_without_wait {
            return s.track.is_some_and(|t| t.verdict != Some(false));
        }
        EmergencyTrack::answers(core.as_ref(), self.cfg.wait as u64, s.clock as u64)
    }

    /// Runs `actions` from the initial state (`None` if one is not enabled).
    pub fn run(&self, actions: &[EmergencyAction]) -> Option<EmergencyWorld> {
        let mut s = self.init_states().pop()?;
        for a in actions {
            s = self.next_state(&s, a.clone())?;
        }
        Some(s)
    }
}

impl Model for EmergencyModel {
    type State = EmergencyWorld;
    type Action = EmergencyAction;

    fn init_states(&self) -> Vec<EmergencyWorld> {
        vec![EmergencyWorld {
            clock: 0,
            track: None,
            spent: 0,
            activations: 0,
            decisions: Vec::new(),
            requests: 0,
            revoked: false,
            ghost: Ghost {
                current: None,
                approved: false,
                denied: false,
            },
            answered_early: false,
            answered_after_denial: false,
            answered_after_wait: false,
            answered_on_approval: false,
            answered_after_reactivation: false,
            denied_before: false,
            signed: Vec::new(),
            srs_decisions: 0,
            receipts: Vec::new(),
            srs_denied: 0,
            listed: 0,
            owner_sees_denied: 0,
        }]
    }

    fn actions(&self, s: &EmergencyWorld, out: &mut Vec<EmergencyAction>) {
        let cfg = &self.cfg;
        if s.clock < cfg.max_clock {
            out.push(EmergencyAction::Tick);
        }
        if s.activations < cfg.max_activations {
            out.push(EmergencyAction::Activate);
            if cfg.relay {
                out.push(EmergencyAction::Withhold);
            }
        }
        for i in 0..s.activations {
            out.push(EmergencyAction::ReplayActivation(i));
        }
        if (s.decisions.len() as u8) < cfg.max_decisions {
            for i in (0..s.activations).filter(|i| !cfg.relay || s.listed & (1 << i) != 0) {
                out.push(EmergencyAction::Decide(i, true));
                out.push(EmergencyAction::Decide(i, false));
                if cfg.relay {
                    out.push(EmergencyAction::DecideDropped(i, false));
                }
            }
        }
        for d in 0..s.decisions.len() as u8 {
            out.push(EmergencyAction::ReplayDecision(d));
        }
        if s.requests < cfg.max_requests {
            out.push(EmergencyAction::Request);
        }
        if !s.revoked {
            out.push(EmergencyAction::Revoke);
        }
    }

    fn next_state(&self, s: &EmergencyWorld, a: EmergencyAction) -> Option<EmergencyWorld> {
        let mut n = s.clone();
        match a {
            EmergencyAction::Tick => n.clock += 1,
            EmergencyAction::Activate => {
                let i = n.activations;
                n.activations += 1;
                n.signed.push((n.srs_decisions, n.decisions.len() as u8));
                if self.srs_activate(&mut n, i) {
                    if n.ghost.denied {
                        n.denied_before = true;
                    }
                    n.ghost = Ghost {
                        current: Some((i, n.clock)),
                        approved: false,
                        denied: false,
                    };
                }
            }
            EmergencyAction::ReplayActivation(i) => {
                // A delivery the relay chose. The ghost moves only for an
                // activation delivered late but still the grantee's live
                // request: never taken before, and signed after the last
                // decision on record (a recorded decision cancels every
                // activation asked before it).
                let fresh = n.spent & (1 << i) == 0 && n.signed[i as usize].0 == n.srs_decisions;
                if self.srs_activate(&mut n, i) && fresh {
                    if n.ghost.denied {
                        n.denied_before = true;
                    }
                    n.ghost = Ghost {
                        current: Some((i, n.clock)),
                        approved: false,
                        denied: false,
                    };
                }
            }
            EmergencyAction::Withhold => {
                n.activations += 1;
                n.signed.push((n.srs_decisions, n.decisions.len() as u8));
            }
            EmergencyAction::DecideDropped(i, approve) => {
                let d = n.decisions.len() as u8;
                n.decisions.push((i, approve));
                // The relay answers with the latest receipt the SRS signed.
                // The client takes it only if it names this decision (it
                // cannot: the SRS never saw it), or, with the bug, any
                // receipt of the same verdict.
                if let Some(&(r, verdict)) = n.receipts.last() {
                    let taken = r == d || (self.cfg.bugs.receipt_not_bound && verdict == approve);
                    if taken && !approve {
                        n.owner_sees_denied |= 1 << i;
                        if n.ghost.current.is_some_and(|(c, _)| c == i) {
                            n.ghost.denied = true;
                        }
                    }
                }
            }
            EmergencyAction::Decide(i, approve) => {
                let d = n.decisions.len() as u8;
                n.decisions.push((i, approve));
                if n.ghost.current.is_some_and(|(c, _)| c == i) {
                    if approve {
                        n.ghost.approved = true;
                    } else {
                        n.ghost.denied = true;
                    }
                }
                if self.srs_decide(&mut n, i, approve) {
                    n.receipts.push((d, approve));
                    if !approve {
                        n.owner_sees_denied |= 1 << i;
                    }
                }
            }
            EmergencyAction::ReplayDecision(d) => {
                let (i, approve) = n.decisions[d as usize];
                if self.srs_decide(&mut n, i, approve) {
                    n.receipts.push((d, approve));
                }
            }
            EmergencyAction::Request => {
                n.requests += 1;
                if self.srs_answers(&n) {
                    let g = n.ghost;
                    let waited = g
                        .current
                        .is_some_and(|(_, at)| n.clock >= at.saturating_add(self.cfg.wait));
                    if !(g.current.is_some() && (g.approved || waited)) {
                        n.answered_early = true;
                    }
                    if g.denied {
                        n.answered_after_denial = true;
                    }
                    if waited && !g.approved {
                        n.answered_after_wait = true;
                        if n.denied_before {
                            n.answered_after_reactivation = true;
                        }
                    }
                    if g.approved && !waited {
                        n.answered_on_approval = true;
                    }
                }
            }
            EmergencyAction::Revoke => n.revoked = true,
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(NO_ANSWER_BEFORE_WAIT, |_, s: &EmergencyWorld| {
                !s.answered_early
            }),
            Property::always(NO_ANSWER_AFTER_DENIAL, |_, s: &EmergencyWorld| {
                !s.answered_after_denial
            }),
            Property::always(OWNER_SEES_ONLY_RECORDED_DENIALS, |_, s: &EmergencyWorld| {
                s.owner_sees_denied & !s.srs_denied == 0
            }),
            Property::sometimes(SOME_ANSWER_AFTER_WAIT, |_, s: &EmergencyWorld| {
                s.answered_after_wait
            }),
            Property::sometimes(SOME_ANSWER_ON_APPROVAL, |_, s: &EmergencyWorld| {
                s.answered_on_approval
            }),
            Property::sometimes(SOME_ANSWER_AFTER_REACTIVATION, |_, s: &EmergencyWorld| {
                s.answered_after_reactivation
            }),
        ]
    }
}

/// No emergency answer before the wait of the grantee's current
/// activation has passed, unless the owner approved that activation.
pub const NO_ANSWER_BEFORE_WAIT: &str =
    "no emergency answer before the wait unless the owner approved";
/// No emergency answer after the owner denied the current activation
/// (until a new activation by the grantee, and its wait or an approval).
pub const NO_ANSWER_AFTER_DENIAL: &str = "no emergency answer after a denial";
/// The owner's client shows an activation as denied only if the SRS
/// recorded that denial (the relay cannot fake one).
pub const OWNER_SEES_ONLY_RECORDED_DENIALS: &str =
    "the owner sees a denial only if the SRS recorded it";
/// Non-vacuity: an answer after the wait passed unapproved.
pub const SOME_ANSWER_AFTER_WAIT: &str = "an emergency answer after the wait";
/// Non-vacuity: an approval opens access before the wait.
pub const SOME_ANSWER_ON_APPROVAL: &str = "an emergency answer on approval";
/// Non-vacuity: a new activation after a denial opens after its wait.
pub const SOME_ANSWER_AFTER_REACTIVATION: &str = "an emergency answer after a re-activation";
