//! SeSPHR's native client: the core's owner and reader flows
//! (`sesphr_client::owner`, `sesphr_client::reader`) driven over HTTP, as
//! the npm package drives them in the browser. It adds only I/O: which
//! request to send comes from the flows, and so does every check of what
//! comes back. The tests, the model's conformance tests and the load
//! generator use it; section bodies are raw bytes (the npm package's section
//! documents are a layer above, see `docs/protocol.md`).
//!
//! - [`Client`]: one deployment (relay and SRS behind one base URL, the SRS
//!   identity pinned at [`Client::connect`]), and its routes one method each.
//! - [`Patient`] / [`PatientRecord`]: the owner's records: write, share,
//!   revoke, rotate, read back, history, audit; writes that survive a lost
//!   request ([`PatientRecord::reconcile`]).
//! - [`Reader`]: what was shared with a party, and reading it (any version
//!   the grants cover).

mod client;
mod emergency;
mod owner;
mod reader;

pub use client::{Client, Error, Result};
pub use emergency::EmergencyStatus;
pub use owner::{Patient, PatientRecord, Written};
pub use reader::Reader;

/// Milliseconds since the Unix epoch (the client's clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
