//! SeSPHR's servers, one crate, two services that share only wire types and
//! the HTTP layer:
//!
//! - the **relay** ([`relay`]): untrusted storage of ciphertext blobs
//!   (streamed, content-addressed, with HTTP Range), owner-signed manifests
//!   (compare-and-swap on the version), grant inboxes, and forwarding of
//!   sealed re-encryption requests to the SRS; it also serves the portal;
//! - the **SRS** ([`srs`]): directory, grants with their `b2` shares,
//!   manifest heads, re-encryption with DLEQ proofs, revocation, and the
//!   audit log.
//!
//! Layers: [`config`] (what a process runs, its limits and quotas) →
//! [`http`] (errors, tokens, rate limits, the listener, body deadlines) and
//! [`db`] (one SQL layer over SQLite and PostgreSQL that both stores are
//! written against, with the spent nonces they share) and [`ops`]
//! (metrics, logs, health) → the two services, which never import each
//! other → [`server`], which composes the configured services and serves
//! them: [`server::run`] on a listener until a shutdown future resolves.

pub mod config;
pub mod db;
pub mod http;
pub mod migrate;
pub mod ops;
pub mod relay;
pub mod server;
pub mod srs;

pub use config::{Config, EmergencyClock, Limits, Quotas, Services, StartError};
pub use server::run;

/// Milliseconds since the Unix epoch (the servers' clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
