//! Replays the committed fuzz corpus of the JSON request bodies
//! (`fuzz/corpus/relay_*/`) through the same checks the fuzz targets run
//! (`sesphr_testkit::fuzz::relay`). Fails if a check fails or if a target's
//! corpus is missing or empty. `SESPHR_FUZZ_SEEDS=<dir>` writes the seed
//! corpus (see `client/tests/fuzz_corpus.rs`).
#![cfg(test)]

use sesphr_testkit::fuzz::{relay, replay};

#[test]
fn corpus_replays_through_every_relay_check() {
    replay::replay_all(relay::TARGETS);
}

#[test]
fn every_relay_fuzz_target_has_a_check() {
    replay::targets_match(relay::TARGETS, |name| name.starts_with("relay_"));
}

#[test]
fn seeds_pass_their_checks() {
    replay::seeds_pass(relay::TARGETS, relay::seeds());
}

#[test]
fn write_seed_corpus() {
    replay::write_seeds(relay::seeds());
}
