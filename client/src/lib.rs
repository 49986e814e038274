#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
pub mod capsule;
pub mod codec;
pub mod content;
pub mod dleq;
pub mod envelope;
pub mod error;
pub mod grant;
pub mod identity;
pub mod manifest;
pub mod merkle;
pub mod owner;
pub mod policy;
pub mod primitives;
pub mod record;
pub mod reencrypt;
pub mod revocation;
pub mod secret;
pub mod stream;
pub mod token;
pub mod vault;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod wasm;

pub use error::{Error, Result};
