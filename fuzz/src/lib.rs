//! The checks behind SeSPHR's fuzz targets: [`client`] for every decoder and
//! verifier of `sesphr-client`, [`relay`] for the JSON bodies the servers
//! parse. The fuzz targets call them; the stable corpus replays
//! (`client/tests/fuzz_corpus.rs`, `relay/tests/fuzz_corpus.rs`) include the
//! same files, so `cargo test` runs exactly these checks over `fuzz/corpus/`.

pub mod client;
pub mod relay;
