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

use sesphr_testkit::fuzz::client;

sesphr_testkit::corpus_tests!(client::TARGETS, client::seeds(), |name| !name
    .starts_with("relay_"));
