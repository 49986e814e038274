//! The checks behind SeSPHR's fuzz targets, which live in the test-support
//! crate (`sesphr_testkit::fuzz`) so the stable corpus replays run exactly
//! the same ones.

pub use sesphr_testkit::fuzz::{client, relay};
