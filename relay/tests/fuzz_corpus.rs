//! Replays the committed fuzz corpus of the JSON request bodies
//! (`fuzz/corpus/relay_*/`) through the same checks the fuzz targets run
//! (`sesphr_testkit::fuzz::relay`). Fails if a check fails or if a target's
//! corpus is missing or empty. `SESPHR_FUZZ_SEEDS=<dir>` writes the seed
//! corpus (see `client/tests/fuzz_corpus.rs`).
#![cfg(test)]

use sesphr_testkit::fuzz::relay;

sesphr_testkit::corpus_tests!(relay::TARGETS, relay::seeds(), |name| name
    .starts_with("relay_"));
