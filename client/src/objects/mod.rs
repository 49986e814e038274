//! The protocol objects: each one branded, versioned, and accepted only as
//! its verified type (`VerifiedManifest`, `VerifiedGrant`, …), built on the
//! primitive layer. Nothing here does I/O or holds a party's policy; the
//! flows above combine them.

pub mod access_request;
pub mod attachment;
pub mod audit;
pub mod capsule;
pub mod content;
pub mod emergency;
pub mod emergency_view;
pub mod envelope;
mod gf256;
pub mod grant;
pub mod identity;
pub mod invitation;
pub mod mail;
pub mod manifest;
pub mod owner_state;
pub mod record;
pub mod reencrypt;
pub mod revocation;
pub mod shard;
pub mod shl;
pub mod stream;
pub mod token;
pub mod vault;
