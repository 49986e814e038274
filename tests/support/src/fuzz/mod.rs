//! The checks behind SeSPHR's fuzz targets: [`client`] for every decoder and
//! verifier of `sesphr-client`, [`relay`] for the JSON bodies the servers
//! parse; [`replay`] runs the committed corpus through them on stable, so
//! `cargo test` runs exactly these checks over `fuzz/corpus/`.

pub mod client;
pub mod relay;
pub mod replay;
