//! SeSPHR's test support, one crate that every test suite depends on:
//!
//! - [`rng`]: the deterministic RNG of the known-answer vectors;
//! - [`world`]: a whole deployment in memory, driven by the product's owner
//!   and reader flows;
//! - [`deploy`]: the real servers on loopback, the native client, raw HTTP;
//! - [`cluster`]: several relay and SRS processes of the real binary behind
//!   one front origin, each killable and restartable;
//! - [`mitm`]: a relay that lies or lags, in front of the real servers;
//! - [`pg`]: a real PostgreSQL database per test;
//! - [`seaweed`]: SeaweedFS, the real S3 service of the blob tests;
//! - [`fuzz`]: the checks behind every fuzz target, their seeds and the
//!   corpus replay, shared by `cargo fuzz` and the stable test suites.

pub mod cluster;
pub mod deploy;
pub mod fuzz;
pub mod mitm;
pub mod pg;
pub mod rng;
pub mod seaweed;
pub mod world;

pub use rng::TestRng;
