#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

// The layers, bottom up: each imports only the ones below it.
pub mod error;
mod flows;
mod objects;
pub mod primitives;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod wasm;

pub use flows::{audit_check, holders, invitation_use, owner, placement, policy, reader};
pub use objects::{
    access_request, attachment, audit, capsule, content, emergency, emergency_view, envelope,
    grant, identity, invitation, mail, manifest, owner_state, record, reencrypt, revocation, shard,
    shl, stream, token, vault,
};
pub use primitives::{dleq, merkle, secret};

// The surface most callers need, at the root.
pub use flows::owner::OwnerRecord;
pub use flows::reader::{Inbox, InboxItem, OpenedSection, Reply, SectionRead, SharedRecord};
pub use objects::grant::{GrantTerms, IssuedGrant, Role, VerifiedGrant};
pub use objects::identity::{Identity, PartyId, PublicIdentity};
pub use objects::manifest::{ManifestChain, ManifestEntry, SignedHead, VerifiedManifest};
pub use objects::record::{RecordId, SectionId};
pub use primitives::os_rng;

pub use error::{Error, Result};
