//! The sharded-placement model: over every interleaving of the bound, with
//! honest, corrupting, dropping and hiding relays, no relay ever holds k
//! shards of a section, a saved write reached `happy` relays and a read
//! succeeds while k good shards can be served; each reachability check is
//! reached; and each seeded client bug is caught (a repair that ignores the
//! sealed record, by a relay that denies what it holds).

use std::collections::BTreeSet;

use sesphr_model::shards::*;
use stateright::{Checker, HasDiscoveries, Model};

use Behaviour::{Corrupt, Dropper, Hider, Honest};

fn check(cfg: ShardConfig, stop_at: Option<&'static str>) -> (usize, Vec<&'static str>) {
    let mut b = ShardModel { cfg: cfg.clone() }.checker().threads(2);
    if let Some(name) = stop_at {
        b = b.finish_when(HasDiscoveries::AnyOf(BTreeSet::from([name])));
    }
    let c = b.spawn_bfs().join();
    for (name, path) in c.discoveries() {
        if !name.starts_with("a ") || stop_at == Some(name) {
            println!("{name}: {:?}", path.into_actions());
        }
    }
    (
        c.unique_state_count(),
        c.discoveries().into_keys().collect(),
    )
}

const SAFETY: [&str; 3] = [NO_RELAY_HOLDS_K, SAVED_ON_HAPPY, READ_WHILE_SERVABLE];

#[test]
fn placement_holds_with_independent_faulty_relays() {
    for (cfg, reach) in [
        (
            ShardConfig::pool_of_4([Honest; 4]),
            vec![
                SOME_SPARE_USED,
                SOME_REPAIR_RESTORED,
                SOME_READ_WITH_RELAYS_DOWN,
            ],
        ),
        (
            ShardConfig::pool_of_4([Corrupt, Honest, Honest, Honest]),
            vec![
                SOME_SPARE_USED,
                SOME_REPAIR_RESTORED,
                SOME_READ_PAST_CORRUPT,
            ],
        ),
        (
            ShardConfig::pool_of_4([Honest, Dropper, Honest, Honest]),
            vec![SOME_SPARE_USED, SOME_READ_WITH_RELAYS_DOWN],
        ),
        (
            ShardConfig::pool_of_4([Corrupt, Dropper, Honest, Honest]),
            vec![SOME_SPARE_USED, SOME_READ_PAST_CORRUPT],
        ),
        (
            ShardConfig::pool_of_4([Honest, Honest, Honest, Hider]),
            vec![SOME_SPARE_USED, SOME_REPAIR_RESTORED],
        ),
        (
            ShardConfig::pool_of_4([Hider, Honest, Honest, Honest]),
            vec![SOME_SPARE_USED, SOME_REPAIR_RESTORED],
        ),
        (
            ShardConfig {
                max_down: 3,
                max_repairs: 3,
                ..ShardConfig::pool_of_4([Honest; 4])
            },
            vec![SOME_SPARE_USED, SOME_REPAIR_RESTORED],
        ),
    ] {
        let relays = cfg.relays.clone();
        let (states, found) = check(cfg, None);
        println!("shards model {relays:?}: {states} states, discoveries {found:?}");
        assert!(
            states > 1000,
            "{relays:?}: the bound explores {states} states"
        );
        for p in SAFETY {
            assert!(!found.contains(&p), "{relays:?}: {p} violated");
        }
        for p in reach {
            assert!(found.contains(&p), "{relays:?}: {p} not reached");
        }
    }
}

/// Two spares (a pool of 5): about 2 million states, 8 s in a debug build.
#[test]
#[ignore = "about 8 s; run with --ignored"]
fn placement_holds_over_a_pool_of_5() {
    let cfg = ShardConfig {
        relays: vec![Honest; 5],
        ..ShardConfig::pool_of_4([Honest; 4])
    };
    let (states, found) = check(cfg, None);
    println!("shards model, pool of 5: {states} states, discoveries {found:?}");
    for p in SAFETY {
        assert!(!found.contains(&p), "{p} violated");
    }
    assert!(found.contains(&SOME_REPAIR_RESTORED));
}

/// The survey bugs are caught where the survey alone keeps the invariant:
/// a repair of a format 1 placement, which records no pool (as a repair
/// that ignores the record). With the record they do no harm to it.
#[test]
fn seeded_placement_bugs_are_caught() {
    let cases = [
        (
            ShardBugs {
                survey_first_holder_only: true,
                repair_ignores_record: true,
                ..Default::default()
            },
            [Honest; 4],
            NO_RELAY_HOLDS_K,
        ),
        (
            ShardBugs {
                survey_ignores_partial: true,
                repair_ignores_record: true,
                ..Default::default()
            },
            [Honest; 4],
            NO_RELAY_HOLDS_K,
        ),
        (
            ShardBugs {
                survey_silence_is_empty: true,
                repair_ignores_record: true,
                ..Default::default()
            },
            [Honest; 4],
            NO_RELAY_HOLDS_K,
        ),
        (
            ShardBugs {
                read_first_holder_only: true,
                ..Default::default()
            },
            [Corrupt, Honest, Honest, Honest],
            READ_WHILE_SERVABLE,
        ),
        (
            ShardBugs {
                repair_ignores_record: true,
                ..Default::default()
            },
            [Honest, Honest, Honest, Hider],
            NO_RELAY_HOLDS_K,
        ),
    ];
    for (bugs, relays, property) in cases {
        let cfg = ShardConfig {
            bugs,
            ..ShardConfig::pool_of_4(relays)
        };
        let (_, found) = check(cfg, Some(property));
        assert!(
            found.contains(&property),
            "{bugs:?} not caught by {property}"
        );
    }
}

/// The counterexample the survey rule before the check allowed, replayed
/// against the fixed rule: refused. Both run without the sealed record,
/// which refuses it sooner (the spare's record has shard 0, not shard 2).
#[test]
fn the_first_holder_counterexample_is_refused_now() {
    use ShardAction::*;
    let trace = [
        Put {
            shard: 0,
            stored: true,
            index: true,
            acked: true,
        },
        Put {
            shard: 1,
            stored: true,
            index: true,
            acked: true,
        },
        Put {
            shard: 2,
            stored: true,
            index: true,
            acked: true,
        },
        StoreEnd,
        Down(2),
        RepairStart,
        RepairPut {
            stored: true,
            index: true,
            acked: true,
        },
        Up(2),
        Lose(0),
        RepairStart,
        RepairPut {
            stored: false,
            index: false,
            acked: false,
        },
        RepairPut {
            stored: true,
            index: true,
            acked: true,
        },
    ];
    let buggy = ShardModel {
        cfg: ShardConfig {
            bugs: ShardBugs {
                survey_first_holder_only: true,
                repair_ignores_record: true,
                ..Default::default()
            },
            ..ShardConfig::pool_of_4([Honest; 4])
        },
    };
    let end = buggy.run(&trace).expect("the trace runs with the bug");
    assert_eq!(end.relays[3].body.count_ones(), 2, "{end:?}");
    let fixed = ShardModel {
        cfg: ShardConfig {
            bugs: ShardBugs {
                repair_ignores_record: true,
                ..Default::default()
            },
            ..ShardConfig::pool_of_4([Honest; 4])
        },
    };
    let recorded = ShardModel {
        cfg: ShardConfig::pool_of_4([Honest; 4]),
    };
    assert!(
        recorded.run(&trace[..7]).is_none(),
        "the record refuses relay 3 shard 2"
    );
    // The fixed survey sees relay 3 holding shard 2: the repair of shard 0
    // has no second relay to go to after relay 0 refuses.
    assert!(fixed.run(&trace).is_none());
    let end = fixed.run(&trace[..11]).expect("the prefix runs");
    assert!(
        end.relays.iter().all(|r| r.body.count_ones() < 2),
        "{end:?}"
    );
}
