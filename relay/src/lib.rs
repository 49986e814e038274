//! SeSPHR's servers, one crate, two services that share only wire types:
//!
//! - the **relay** ([`relay`]): untrusted storage of ciphertext blobs (streamed,
//!   content-addressed, with HTTP Range), owner-signed manifests
//!   (compare-and-swap on the version), grant inboxes, and forwarding of sealed
//!   re-encryption requests to the SRS; it also serves the portal;
//! - the **SRS** ([`srs`]): directory, grants with their `b2` shares, manifest
//!   heads, re-encryption with DLEQ proofs, revocation, and the audit log.
//!
//! [`server::run`] serves either or both on a listener until a shutdown
//! future resolves.

pub mod audit_writer;
pub mod auth;
pub mod error;
pub mod identity;
pub mod listener;
pub mod relay;
pub mod relay_store;
pub mod server;
pub mod srs;
pub mod srs_store;

pub use listener::Limits;
pub use server::{run, Config, Services};

/// Milliseconds since the Unix epoch (the servers' clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
