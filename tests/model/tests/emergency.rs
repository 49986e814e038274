//! The emergency-access model: both safety properties hold over every
//! interleaving of the bound, each reachability check is reached, and each
//! seeded SRS bug is caught by the property it breaks.

use std::collections::BTreeSet;

use sesphr_model::emergency::*;
use stateright::{Checker, HasDiscoveries, Model};

fn check(bugs: EmergencyBugs, stop_at: Option<&'static str>) -> (usize, Vec<&'static str>) {
    check_in(EmergencyConfig::check_bound(), bugs, stop_at)
}

fn check_in(
    bound: EmergencyConfig,
    bugs: EmergencyBugs,
    stop_at: Option<&'static str>,
) -> (usize, Vec<&'static str>) {
    let cfg = EmergencyConfig { bugs, ..bound };
    let mut b = EmergencyModel { cfg }.checker().threads(1);
    if let Some(name) = stop_at {
        b = b.finish_when(HasDiscoveries::AnyOf(BTreeSet::from([name])));
    }
    let c = b.spawn_bfs().join();
    if bugs == EmergencyBugs::default() {
        for (name, path) in c.discoveries() {
            if !name.starts_with("an ") {
                println!("{name}: {:?}", path.into_actions());
            }
        }
    }
    let found = c.discoveries().into_keys().collect();
    (c.unique_state_count(), found)
}

#[test]
fn emergency_access_holds_its_properties_within_the_bound() {
    let (states, found) = check(EmergencyBugs::default(), None);
    println!("emergency model: {states} states, discoveries {found:?}");
    assert!(states > 1000, "the bound explores {states} states");
    assert!(!found.contains(&NO_ANSWER_BEFORE_WAIT), "{found:?}");
    assert!(!found.contains(&NO_ANSWER_AFTER_DENIAL), "{found:?}");
    for reachable in [
        SOME_ANSWER_AFTER_WAIT,
        SOME_ANSWER_ON_APPROVAL,
        SOME_ANSWER_AFTER_REACTIVATION,
    ] {
        assert!(found.contains(&reachable), "{reachable} not reached");
    }
}

#[test]
fn seeded_emergency_bugs_are_caught() {
    let cases = [
        (
            "SRS answers without waiting",
            EmergencyBugs {
                answers_without_wait: true,
                ..Default::default()
            },
            NO_ANSWER_BEFORE_WAIT,
        ),
        (
            "SRS ignores a denial",
            EmergencyBugs {
                ignores_denial: true,
                ..Default::default()
            },
            NO_ANSWER_AFTER_DENIAL,
        ),
        (
            "SRS applies an approval of an old activation to the new one",
            EmergencyBugs {
                decision_not_bound: true,
                ..Default::default()
            },
            NO_ANSWER_BEFORE_WAIT,
        ),
        (
            // Masked, since activations name the decision they follow, by
            // that rule: both defences off.
            "SRS spends a refused activation's nonce only when it takes one",
            EmergencyBugs {
                refused_activation_not_spent: true,
                follows_unchecked: true,
                ..Default::default()
            },
            NO_ANSWER_AFTER_DENIAL,
        ),
    ];
    for (name, bugs, property) in cases {
        let (_, found) = check(bugs, Some(property));
        assert!(
            found.contains(&property),
            "{name}: {property} not violated ({found:?})"
        );
    }
}

#[test]
fn a_concrete_emergency_trace() {
    use EmergencyAction::*;
    let m = EmergencyModel {
        cfg: EmergencyConfig::check_bound(),
    };
    // Activate, deny, wait past the wait: nothing. Re-activate, wait: answered.
    let s = m
        .run(&[Activate, Decide(0, false), Tick, Tick, Tick, Request])
        .unwrap();
    assert!(!s.answered_after_wait && s.requests == 1);
    let s = m
        .run(&[
            Activate,
            Decide(0, false),
            Activate,
            Tick,
            Request,
            Tick,
            Request,
        ])
        .unwrap();
    assert!(s.answered_after_reactivation);
    // A replayed activation after a denial changes nothing.
    let s = m
        .run(&[
            Activate,
            Decide(0, false),
            ReplayActivation(0),
            Tick,
            Tick,
            Request,
        ])
        .unwrap();
    assert!(!s.answered_after_wait);
    assert_eq!(s.track.unwrap().verdict, Some(false));
}

/// The relay in the middle: it withholds activations and delivers them
/// later, drops decisions and answers them with another decision's
/// receipt. Both safety properties still hold, and the owner never sees a
/// denial the SRS did not record; each defence, seeded off, is caught.
#[test]
fn the_relay_in_the_middle_cannot_revive_a_denied_request_or_fake_a_denial() {
    let (states, found) = check_in(
        EmergencyConfig::relay_bound(),
        EmergencyBugs::default(),
        None,
    );
    println!("emergency model with the relay: {states} states, discoveries {found:?}");
    assert!(states > 1000, "the bound explores {states} states");
    for safety in [
        NO_ANSWER_BEFORE_WAIT,
        NO_ANSWER_AFTER_DENIAL,
        OWNER_SEES_ONLY_RECORDED_DENIALS,
    ] {
        assert!(!found.contains(&safety), "{safety}: {found:?}");
    }
    assert!(found.contains(&SOME_ANSWER_AFTER_WAIT));
    let cases = [
        (
            "SRS takes an activation whatever decision it follows",
            EmergencyBugs {
                follows_unchecked: true,
                ..Default::default()
            },
            NO_ANSWER_AFTER_DENIAL,
        ),
        (
            "the owner's client takes a receipt of another decision",
            EmergencyBugs {
                receipt_not_bound: true,
                ..Default::default()
            },
            OWNER_SEES_ONLY_RECORDED_DENIALS,
        ),
    ];
    for (name, bugs, property) in cases {
        let (_, found) = check_in(EmergencyConfig::relay_bound(), bugs, Some(property));
        assert!(
            found.contains(&property),
            "{name}: {property} not violated ({found:?})"
        );
    }
    // The concrete trace the first defence stops: activation 1 is signed
    // while 0 waits and withheld; the owner denies 0; 1 is delivered.
    use EmergencyAction::*;
    let m = EmergencyModel {
        cfg: EmergencyConfig::relay_bound(),
    };
    let s = m
        .run(&[
            Activate,
            Withhold,
            Decide(0, false),
            ReplayActivation(1),
            Tick,
            Tick,
            Request,
        ])
        .unwrap();
    assert_eq!(
        s.track.unwrap().activation,
        0,
        "the late activation was refused"
    );
    assert!(!s.answered_after_denial);
}
