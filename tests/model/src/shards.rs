//! A model of sharded placement (protocol.md, "Sharded placement"), checked
//! over every interleaving up to a bound: one section blob coded k-of-n,
//! stored over a pool of independent relays, each of which may go down,
//! come back, lose its data, and answer a put that was stored or not; then
//! repairs and reads. Each relay is its own attacker: one may serve
//! corrupted shards, acknowledge puts it never stores, or deny holding what
//! it keeps.
//!
//! Where a shard may go is the core's own bookkeeping
//! ([`sesphr_client::holders::Holders`], the code `client/js/shards.js`
//! runs for a store and a repair), driven the way `RelaySet.store` and
//! `RelaySet.repair` drive it: every first put of a store is sent before
//! any answer, a failed put hands its shard to `Holders::target`, and a
//! repair first surveys every relay. The read rule (every holder a locate
//! finds is a candidate; a relay that serves a bad piece is dropped and
//! another holder asked) is modelled, not run. The properties are judged
//! against what each relay physically holds, never against what the
//! client believes. A saved store seals the record of what each relay may
//! hold, and a repair never gives a relay a shard outside it, whatever the
//! relay says: so even a relay that hides what it keeps never collects k
//! shards. Seeded bugs ([`ShardBugs`]) replace a survey or read
//! rule with a weaker one, and each must be caught.

use sesphr_client::holders::Holders;
use stateright::{Model, Property};

/// How one relay behaves (all answer honestly to nothing but their own
/// interest; none can forge a shard the owner signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Stores what it is sent and answers truthfully (it may still go
    /// down, lose its data, or have an answer lost).
    Honest,
    /// Serves altered shard bytes (its indexes are the owner's).
    Corrupt,
    /// Acknowledges every put and stores nothing.
    Dropper,
    /// Keeps everything, and answers "absent" to every survey and locate.
    Hider,
}

/// Deliberate client bugs, each off as implemented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShardBugs {
    /// A repair's survey counts only the first holder it finds of each
    /// shard (the rule before the model check: `locate`'s `Promise.any`).
    pub survey_first_holder_only: bool,
    /// A repair's survey counts a shard as held only when it is whole (a
    /// relay with a shard but no index looks empty).
    pub survey_ignores_partial: bool,
    /// A repair's survey takes a relay that did not answer as empty.
    pub survey_silence_is_empty: bool,
    /// A read asks only the first holder found of each shard (the rule
    /// before the model check).
    pub read_first_holder_only: bool,
    /// A repair believes every survey answer and ignores the record the
    /// store sealed of what each relay may hold: the rule before the sealed
    /// pool record, and still the only one for a format 1 placement, which
    /// has none.
    pub repair_ignores_record: bool,
}

/// The bound.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Shards that decode.
    pub k: u8,
    /// Shards in all; shard `i` first goes to relay `i`.
    pub n: u8,
    /// Distinct relays a write needs.
    pub happy: u8,
    /// Each relay's behaviour (the pool's size).
    pub relays: Vec<Behaviour>,
    /// Times a relay may go down.
    pub max_down: u8,
    /// Times a relay may lose its data.
    pub max_lose: u8,
    /// Repairs the owner may run.
    pub max_repairs: u8,
    /// The seeded bugs.
    pub bugs: ShardBugs,
}

impl ShardConfig {
    /// 2-of-3 over 4 relays (one spare), `behaviours` for the relays.
    pub fn pool_of_4(relays: [Behaviour; 4]) -> ShardConfig {
        ShardConfig {
            k: 2,
            n: 3,
            happy: 3,
            relays: relays.to_vec(),
            max_down: 2,
            max_lose: 1,
            max_repairs: 2,
            bugs: ShardBugs::default(),
        }
    }
}

/// What the relays hold, physically: a bit per shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelayState {
    /// Shards whose bytes it stores.
    pub body: u16,
    /// Shards whose index it stores.
    pub index: u16,
    /// Answering.
    pub up: bool,
}

/// One shard's upload in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Upload {
    /// The shard.
    pub shard: u8,
    /// The relay its put is going to.
    pub relay: usize,
    /// Relays tried for it (a bit each).
    pub tried: u64,
}

/// Where the owner's client is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Storing: the puts in flight (one per shard still being placed).
    Storing {
        /// The core's bookkeeping.
        holders: Holders,
        /// Puts in flight.
        uploads: Vec<Upload>,
    },
    /// The write failed (fewer than `happy` relays): nothing to read.
    Failed,
    /// The write was saved.
    Saved,
    /// Repairing: the shards still to place, the current one first.
    Repairing {
        /// The core's bookkeeping, from the survey.
        holders: Holders,
        /// The shard being placed now and its put, then the rest.
        current: Option<Upload>,
        /// Shards still to place after it.
        queue: Vec<u8>,
    },
}

/// The state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShardWorld {
    /// The relays.
    pub relays: Vec<RelayState>,
    /// The owner's client.
    pub phase: Phase,
    /// Events used.
    pub downs: u8,
    /// Data losses used.
    pub losses: u8,
    /// Repairs started.
    pub repairs: u8,
    /// The write was saved while fewer than `happy` relays held a whole
    /// shard (counting a dropper's acknowledgement as its claim).
    pub saved_short: bool,
    /// A read failed while `k` shards were whole on relays that answer.
    pub read_failed_while_servable: bool,
    /// Reachability: a saved write that used a spare.
    pub spare_used: bool,
    /// Reachability: a repair that restored every shard after a loss.
    pub repair_restored: bool,
    /// Reachability: a read that succeeded with `n − k` relays down.
    pub read_with_relays_down: bool,
    /// Reachability: a read that succeeded although a relay served bad shards.
    pub read_past_corrupt: bool,
    /// Relays that acknowledged a put while holding the shard whole, or
    /// (a dropper) without storing it: a bit each.
    pub confirmed: u64,
    /// The record a saved store sealed in its placement: per relay, the
    /// shards it may hold (`Holders::slots`); empty before.
    pub record: Vec<u16>,
}

/// An action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShardAction {
    /// The put in flight of `shard` answers: `stored` whether the relay
    /// kept the shard (and `index` its index), `acked` whether the client
    /// hears it succeed.
    Put {
        /// The shard.
        shard: u8,
        /// The relay stored the shard's bytes.
        stored: bool,
        /// And its index.
        index: bool,
        /// The client heard a success.
        acked: bool,
    },
    /// Every put answered: the write is saved or fails.
    StoreEnd,
    /// Relay `r` goes down.
    Down(usize),
    /// Relay `r` comes back.
    Up(usize),
    /// Relay `r` loses everything it held.
    Lose(usize),
    /// The owner starts a repair (survey, decode).
    RepairStart,
    /// The current repair put answers (as [`ShardAction::Put`]).
    RepairPut {
        /// The relay stored the shard's bytes.
        stored: bool,
        /// And its index.
        index: bool,
        /// The client heard a success.
        acked: bool,
    },
    /// A reader reads the section.
    Read,
}

/// The model.
#[derive(Clone, Debug)]
pub struct ShardModel {
    /// Its bound.
    pub cfg: ShardConfig,
}

fn bit(i: u8) -> u16 {
    1 << i
}

impl ShardModel {
    fn behaviour(&self, r: usize) -> Behaviour {
        self.cfg.relays[r]
    }

    /// Shards whose genuine bytes and index an answering relay serves, and
    /// those a relay that answers lists but serves altered.
    fn servable(&self, s: &ShardWorld) -> (Vec<u16>, Vec<u16>) {
        let mut good = vec![0u16; s.relays.len()];
        let mut bad = vec![0u16; s.relays.len()];
        for (r, st) in s.relays.iter().enumerate() {
            if !st.up {
                continue;
            }
            // A locate asks a relay only for the shards its record names.
            let whole = st.body & st.index & s.record.get(r).copied().unwrap_or(u16::MAX);
            match self.behaviour(r) {
                Behaviour::Honest | Behaviour::Dropper => good[r] = whole,
                Behaviour::Corrupt => bad[r] = whole,
                Behaviour::Hider => {}
            }
        }
        (good, bad)
    }

    /// Whether the reader's rule decodes now: every holder a locate finds
    /// is a candidate, and a relay serving a bad piece is dropped.
    fn read_succeeds(&self, s: &ShardWorld) -> bool {
        let (good, bad) = self.servable(s);
        let k = u32::from(self.cfg.k);
        if self.cfg.bugs.read_first_holder_only {
            // Only the first holder of each shard is asked, and a relay that
            // answers first may be a bad one.
            let ok = (0..self.cfg.n)
                .filter(|&i| {
                    good.iter().any(|g| g & bit(i) != 0) && !bad.iter().any(|b| b & bit(i) != 0)
                })
                .count();
            return ok as u32 >= k;
        }
        good.iter().fold(0u16, |a, g| a | g).count_ones() >= k
    }

    fn whole_somewhere(&self, s: &ShardWorld) -> u16 {
        s.relays.iter().fold(0, |a, st| a | (st.body & st.index))
    }

    /// The survey a repair makes: what each relay says it holds.
    fn survey(&self, s: &ShardWorld) -> Option<Holders> {
        let cfg = &self.cfg;
        let mut h = Holders::unknown(cfg.k, cfg.n, cfg.relays.len()).ok()?;
        let mut first_seen = 0u16;
        for (r, st) in s.relays.iter().enumerate() {
            if !st.up {
                if cfg.bugs.survey_silence_is_empty {
                    h.observe(r, 0, 0).ok()?;
                }
                continue;
            }
            let (mut present, whole) = match self.behaviour(r) {
                Behaviour::Hider => (0, 0),
                _ => (st.body | st.index, st.body & st.index),
            };
            if cfg.bugs.survey_ignores_partial {
                present = whole;
            }
            if cfg.bugs.survey_first_holder_only {
                present &= !first_seen;
                first_seen |= present;
            }
            h.observe(r, present, whole & present).ok()?;
        }
        Some(h)
    }

    /// The next put of a repair: the first queued shard with a target.
    fn next_repair(holders: &mut Holders, queue: &mut Vec<u8>) -> Option<Upload> {
        while !queue.is_empty() {
            let shard = queue[0];
            if let Ok(Some(relay)) = holders.target(shard, 0) {
                holders.send(relay, shard).ok()?;
                queue.remove(0);
                return Some(Upload {
                    shard,
                    relay,
                    tried: 1 << relay,
                });
            }
            queue.remove(0);
        }
        None
    }

    /// A put's effect on the relay that answered.
    fn land(&self, s: &mut ShardWorld, u: Upload, stored: bool, index: bool, acked: bool) {
        let behaviour = self.behaviour(u.relay);
        let st = &mut s.relays[u.relay];
        if behaviour != Behaviour::Dropper {
            if stored {
                st.body |= bit(u.shard);
            }
            if stored && index {
                st.index |= bit(u.shard);
            }
        }
        let whole = st.body & st.index & bit(u.shard) != 0;
        if acked && (whole || behaviour == Behaviour::Dropper) {
            s.confirmed |= 1 << u.relay;
        }
    }

    /// Runs `actions` from the initial state (`None` if one is not enabled).
    pub fn run(&self, actions: &[ShardAction]) -> Option<ShardWorld> {
        let mut s = self.init_states().pop()?;
        for a in actions {
            let mut enabled = Vec::new();
            self.actions(&s, &mut enabled);
            if !enabled.contains(a) {
                return None;
            }
            s = self.next_state(&s, *a)?;
        }
        Some(s)
    }
}

impl Model for ShardModel {
    type State = ShardWorld;
    type Action = ShardAction;

    fn init_states(&self) -> Vec<ShardWorld> {
        let cfg = &self.cfg;
        // An invalid bound has no initial state (and so explores nothing).
        let Ok(mut holders) = Holders::new(cfg.k, cfg.n, cfg.relays.len()) else {
            return Vec::new();
        };
        // RelaySet.store sends every first put before any answer.
        let mut uploads = Vec::new();
        for i in 0..cfg.n {
            let relay = usize::from(i);
            if holders.send(relay, i).is_err() {
                return Vec::new();
            }
            uploads.push(Upload {
                shard: i,
                relay,
                tried: 1 << relay,
            });
        }
        vec![ShardWorld {
            relays: vec![
                RelayState {
                    body: 0,
                    index: 0,
                    up: true
                };
                cfg.relays.len()
            ],
            phase: Phase::Storing { holders, uploads },
            downs: 0,
            losses: 0,
            repairs: 0,
            saved_short: false,
            read_failed_while_servable: false,
            spare_used: false,
            repair_restored: false,
            read_with_relays_down: false,
            read_past_corrupt: false,
            confirmed: 0,
            record: Vec::new(),
        }]
    }

    fn actions(&self, s: &ShardWorld, out: &mut Vec<ShardAction>) {
        let cfg = &self.cfg;
        let outcomes = |up: bool| -> Vec<(bool, bool, bool)> {
            if up {
                // Stored whole and heard; refused; stored whole but the
                // answer lost; the shard stored and its index refused.
                vec![
                    (true, true, true),
                    (false, false, false),
                    (true, true, false),
                    (true, false, false),
                ]
            } else {
                vec![(false, false, false)]
            }
        };
        match &s.phase {
            Phase::Storing { uploads, .. } => {
                if uploads.is_empty() {
                    out.push(ShardAction::StoreEnd);
                }
                for u in uploads {
                    for (stored, index, acked) in outcomes(s.relays[u.relay].up) {
                        out.push(ShardAction::Put {
                            shard: u.shard,
                            stored,
                            index,
                            acked,
                        });
                    }
                }
            }
            Phase::Repairing { current, .. } => {
                if let Some(u) = current {
                    for (stored, index, acked) in outcomes(s.relays[u.relay].up) {
                        out.push(ShardAction::RepairPut {
                            stored,
                            index,
                            acked,
                        });
                    }
                }
            }
            Phase::Saved => {
                out.push(ShardAction::Read);
                if s.repairs < cfg.max_repairs {
                    out.push(ShardAction::RepairStart);
                }
            }
            Phase::Failed => {}
        }
        for (r, st) in s.relays.iter().enumerate() {
            if st.up && s.downs < cfg.max_down {
                out.push(ShardAction::Down(r));
            }
            if !st.up {
                out.push(ShardAction::Up(r));
            }
            if s.losses < cfg.max_lose && (st.body | st.index) != 0 {
                out.push(ShardAction::Lose(r));
            }
        }
    }

    fn next_state(&self, s: &ShardWorld, a: ShardAction) -> Option<ShardWorld> {
        let cfg = &self.cfg;
        let mut n = s.clone();
        match a {
            ShardAction::Put {
                shard,
                stored,
                index,
                acked,
            } => {
                let Phase::Storing { holders, uploads } = &mut n.phase else {
                    return None;
                };
                let at = uploads.iter().position(|u| u.shard == shard)?;
                let u = uploads[at];
                let (mut holders, mut uploads) = (holders.clone(), uploads.clone());
                self.land(&mut n, u, stored, index, acked);
                if acked {
                    holders.stored(u.relay, shard).ok()?;
                    uploads.remove(at);
                } else if let Some(r) = holders.target(shard, u.tried).ok()? {
                    holders.send(r, shard).ok()?;
                    uploads[at] = Upload {
                        shard,
                        relay: r,
                        tried: u.tried | 1 << r,
                    };
                } else {
                    uploads.remove(at);
                }
                n.phase = Phase::Storing { holders, uploads };
            }
            ShardAction::StoreEnd => {
                let Phase::Storing { holders, .. } = &n.phase else {
                    return None;
                };
                if holders.reached() >= usize::from(cfg.happy) {
                    // Judged at each acknowledgement: a relay may lose
                    // its data any time after.
                    if (n.confirmed.count_ones() as usize) < usize::from(cfg.happy) {
                        n.saved_short = true;
                    }
                    if holders.holds()[usize::from(cfg.n)..]
                        .iter()
                        .any(|h| *h != 0)
                    {
                        n.spare_used = true;
                    }
                    n.record = holders.slots().ok()?;
                    n.phase = Phase::Saved;
                } else {
                    n.phase = Phase::Failed;
                }
            }
            ShardAction::Down(r) => {
                n.relays[r].up = false;
                n.downs += 1;
            }
            ShardAction::Up(r) => n.relays[r].up = true,
            ShardAction::Lose(r) => {
                n.relays[r].body = 0;
                n.relays[r].index = 0;
                n.losses += 1;
            }
            ShardAction::RepairStart => {
                n.repairs += 1;
                let mut holders = self.survey(&n)?;
                if !cfg.bugs.repair_ignores_record {
                    for (r, m) in n.record.iter().enumerate() {
                        holders.restrict(r, *m).ok()?;
                    }
                }
                let mut queue = holders.missing();
                // The repair decodes the section first, by the read rule.
                if queue.is_empty() || !self.read_succeeds(&n) {
                    return Some(n);
                }
                let current = Self::next_repair(&mut holders, &mut queue);
                n.phase = Phase::Repairing {
                    holders,
                    current,
                    queue,
                };
                if let Phase::Repairing { current: None, .. } = n.phase {
                    n.phase = Phase::Saved;
                }
            }
            ShardAction::RepairPut {
                stored,
                index,
                acked,
            } => {
                let Phase::Repairing {
                    holders,
                    current: Some(u),
                    queue,
                } = &n.phase
                else {
                    return None;
                };
                let (mut holders, u, mut queue) = (holders.clone(), *u, queue.clone());
                self.land(&mut n, u, stored, index, acked);
                let current = if acked {
                    holders.stored(u.relay, u.shard).ok()?;
                    Self::next_repair(&mut holders, &mut queue)
                } else if let Some(r) = holders.target(u.shard, u.tried).ok()? {
                    holders.send(r, u.shard).ok()?;
                    Some(Upload {
                        shard: u.shard,
                        relay: r,
                        tried: u.tried | 1 << r,
                    })
                } else {
                    Self::next_repair(&mut holders, &mut queue)
                };
                if current.is_none() {
                    let all = (1u16 << cfg.n) - 1;
                    if n.losses > 0 && self.whole_somewhere(&n) == all {
                        n.repair_restored = true;
                    }
                    n.phase = Phase::Saved;
                } else {
                    n.phase = Phase::Repairing {
                        holders,
                        current,
                        queue,
                    };
                }
            }
            ShardAction::Read => {
                let (good, _) = self.servable(&n);
                let servable = good.iter().fold(0u16, |a, g| a | g).count_ones();
                let ok = self.read_succeeds(&n);
                if !ok && servable >= u32::from(cfg.k) {
                    n.read_failed_while_servable = true;
                }
                if ok {
                    let down = n.relays.iter().filter(|st| !st.up).count();
                    if down >= usize::from(cfg.n - cfg.k) {
                        n.read_with_relays_down = true;
                    }
                    let corrupt_listed = n.relays.iter().enumerate().any(|(r, st)| {
                        st.up && self.behaviour(r) == Behaviour::Corrupt && st.body & st.index != 0
                    });
                    if corrupt_listed {
                        n.read_past_corrupt = true;
                    }
                }
            }
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(NO_RELAY_HOLDS_K, |m: &ShardModel, s: &ShardWorld| {
                s.relays
                    .iter()
                    .all(|st| st.body.count_ones() < u32::from(m.cfg.k))
            }),
            Property::always(SAVED_ON_HAPPY, |_, s: &ShardWorld| !s.saved_short),
            Property::always(READ_WHILE_SERVABLE, |_, s: &ShardWorld| {
                !s.read_failed_while_servable
            }),
            Property::sometimes(SOME_SPARE_USED, |_, s: &ShardWorld| s.spare_used),
            Property::sometimes(SOME_REPAIR_RESTORED, |_, s: &ShardWorld| s.repair_restored),
            Property::sometimes(SOME_READ_WITH_RELAYS_DOWN, |_, s: &ShardWorld| {
                s.read_with_relays_down
            }),
            Property::sometimes(SOME_READ_PAST_CORRUPT, |_, s: &ShardWorld| {
                s.read_past_corrupt
            }),
        ]
    }
}

/// No relay ever stores `k` or more shards of the section, whatever
/// failed, answered late or lied.
pub const NO_RELAY_HOLDS_K: &str = "no relay ever holds k or more shards of a section";
/// A write is saved only with whole shards on `happy` distinct relays
/// (a relay that acknowledged a put it dropped counts as its claim).
pub const SAVED_ON_HAPPY: &str = "a saved write has whole shards on happy distinct relays";
/// A read fails only when fewer than `k` shards are whole on answering
/// relays that serve them unaltered.
pub const READ_WHILE_SERVABLE: &str = "a read succeeds while k good shards can be served";
/// Non-vacuity: a store handed a shard to the spare and was saved.
pub const SOME_SPARE_USED: &str = "a spare takes a shard";
/// Non-vacuity: a repair restored every shard after a relay lost its data.
pub const SOME_REPAIR_RESTORED: &str = "a repair restores every shard";
/// Non-vacuity: a read with `n − k` relays down.
pub const SOME_READ_WITH_RELAYS_DOWN: &str = "a read with n - k relays down";
/// Non-vacuity: a read while a corrupting relay lists a shard.
pub const SOME_READ_PAST_CORRUPT: &str = "a read past a corrupting relay";
