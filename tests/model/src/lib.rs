//! An explicit-state model of SeSPHR's access control, checked with
//! [`stateright`] over every interleaving up to a bound, and used as the
//! oracle of the model-based tests that drive the real client and servers
//! (`tests/model/tests/`). The model, the properties and the bound are
//! described in `docs/verification.md`.

pub mod emergency;
pub mod model;
pub mod properties;
pub mod shards;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use stateright::{Checker, Expectation, HasDiscoveries, Model};

pub use model::{Action, Bugs, Config, Outcome, Party, Refusal, SeSphr, State, Verdict};

/// The result of an exhaustive breadth-first check.
#[derive(Debug)]
pub struct Report {
    /// Distinct states reached.
    pub unique_states: usize,
    /// States generated (with repeats).
    pub states: usize,
    /// Longest path explored.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Property name → the actions of the path to the discovery (a
    /// counterexample for an `always` property, an example for a
    /// `sometimes` one).
    pub discoveries: BTreeMap<&'static str, Vec<Action>>,
}

/// Checks every interleaving of `cfg`'s bound, on `threads` threads. With
/// `stop_at` set, stops as soon as that property has a discovery (for the
/// seeded-bug runs) instead of exploring the whole bound.
pub fn check(cfg: Config, threads: usize, stop_at: Option<&'static str>) -> Report {
    let start = Instant::now();
    let mut builder = SeSphr::new(cfg).checker().threads(threads);
    if let Some(name) = stop_at {
        builder = builder.finish_when(HasDiscoveries::AnyOf(BTreeSet::from([name])));
    }
    let checker = builder.spawn_bfs().join();
    let model = checker.model().clone();
    let discoveries = checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| {
            let actions = path.into_actions();
            let trimmed = model.discovery_prefix(name, &actions).unwrap_or(actions);
            (name, trimmed)
        })
        .collect();
    Report {
        unique_states: checker.unique_state_count(),
        states: checker.state_count(),
        max_depth: checker.max_depth(),
        elapsed: start.elapsed(),
        discoveries,
    }
}

impl SeSphr {
    /// Replays `actions` from the initial state and returns the shortest
    /// prefix that ends in a discovery of property `name` (a state violating
    /// an `always` property, or satisfying a `sometimes` one). The checker's
    /// paths can run past the discovery; this is the counterexample to show.
    pub fn discovery_prefix(&self, name: &str, actions: &[Action]) -> Option<Vec<Action>> {
        let property = self.properties().into_iter().find(|p| p.name == name)?;
        let found = |s: &State| match property.expectation {
            Expectation::Always | Expectation::Eventually => !(property.condition)(self, s),
            Expectation::Sometimes => (property.condition)(self, s),
        };
        let mut state = self.initial();
        if found(&state) {
            return Some(Vec::new());
        }
        for (i, a) in actions.iter().enumerate() {
            state = self.step(&state, a)?.0;
            if found(&state) {
                return Some(actions[..=i].to_vec());
            }
        }
        None
    }

    /// Replays `actions` from the initial state: every state and outcome, or
    /// `None` if one is not enabled.
    pub fn run(&self, actions: &[Action]) -> Option<(State, Vec<Outcome>)> {
        let mut state = self.initial();
        let mut outcomes = Vec::with_capacity(actions.len());
        for a in actions {
            let (next, outcome) = self.step(&state, a)?;
            state = next;
            outcomes.push(outcome);
        }
        Some((state, outcomes))
    }
}
