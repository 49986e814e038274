//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same checks the fuzz targets run (`sesphr_testkit::fuzz::client`), so
//! every `cargo test` exercises what the fuzzer found. Fails if a check fails
//! or if a target's corpus is missing or empty.
//!
//! With `SESPHR_FUZZ_SEEDS=<dir>`, `write_seed_corpus` writes the seed corpus
//! (valid objects made by the real client code) to `<dir>/<target>/`; this is
//! how `scripts/fuzz.sh` seeds the fuzzer.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_testkit::fuzz::{client, replay};

#[test]
fn corpus_replays_through_every_client_check() {
    replay::replay_all(client::TARGETS);
}

#[test]
fn every_client_fuzz_target_has_a_check() {
    replay::targets_match(client::TARGETS, |name| !name.starts_with("relay_"));
}

#[test]
fn seeds_pass_their_checks() {
    replay::seeds_pass(client::TARGETS, client::seeds());
}

#[test]
fn write_seed_corpus() {
    replay::write_seeds(client::seeds());
}
