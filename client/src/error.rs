//! The one error type of the protocol core, with stable codes for JS and HTTP.

use core::fmt;

/// The kind of serialized object a decoding error is about.
pub type ObjectName = &'static str;

/// Every way a protocol operation can fail.
///
/// Messages never contain secret material. Decryption failures of any kind
/// (wrong key, bad tag, failed key commitment, bad envelope) are one opaque
/// variant so they cannot serve as an oracle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes do not parse as the named object (too short, bad length, bad field).
    #[error("malformed {object}: {reason}")]
    Malformed {
        /// The object being decoded.
        object: ObjectName,
        /// What was wrong, without secret data.
        reason: &'static str,
    },
    /// The brand is right but the format version is not one we understand.
    #[error("unsupported {object} format version {version}")]
    UnknownVersion {
        /// The object being decoded.
        object: ObjectName,
        /// The version byte found.
        version: u8,
    },
    /// The bytes are a different kind of SeSPHR object than expected.
    #[error("expected a {expected}, found object kind {found:#04x}")]
    WrongKind {
        /// The object that was expected.
        expected: ObjectName,
        /// The kind byte found.
        found: u8,
    },
    /// A point is not a valid compressed, non-identity P-256 point.
    #[error("invalid curve point")]
    InvalidPoint,
    /// A scalar is not canonical or is zero.
    #[error("invalid scalar")]
    InvalidScalar,
    /// A signature does not verify, is malformed, or has a high S.
    #[error("signature verification failed")]
    BadSignature,
    /// Authenticated decryption failed (includes a failed key commitment).
    #[error("decryption failed")]
    DecryptionFailed,
    /// A ciphertext chunk does not match the owner-signed chunk root.
    #[error("content does not match the signed chunk root")]
    ContentMismatch,
    /// A stream ended before its final chunk.
    #[error("stream truncated")]
    Truncated,
    /// Data follows the final chunk of a stream.
    #[error("data after the final chunk")]
    TrailingData,
    /// A stream or builder was used out of order.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The chunk size is not one of the allowed sizes.
    #[error("unsupported chunk size")]
    UnsupportedChunkSize,
    /// Two objects that must refer to the same record, section, epoch, key or
    /// version do not.
    #[error("binding mismatch: {0}")]
    BindingMismatch(&'static str),
    /// A manifest does not chain onto its predecessor.
    #[error("manifest chain broken: {0}")]
    ChainBroken(&'static str),
    /// A manifest is older than one already seen.
    #[error("stale manifest: version {found} is older than {known}")]
    Stale {
        /// Version offered.
        found: u64,
        /// Highest version known.
        known: u64,
    },
    /// A grant's shares do not add up to the section key (`b1·G + B2 ≠ A`).
    #[error("grant shares are inconsistent with the section key")]
    GrantInconsistent,
    /// A DLEQ proof or an audit receipt does not verify.
    #[error("proof verification failed")]
    BadProof,
    /// The section is not present in the manifest.
    #[error("no such section in this manifest")]
    NoSuchSection,
    /// The grant does not allow this version (history policy).
    #[error("version {version} is before the grant's from_version {from_version}")]
    BeforeFromVersion {
        /// The version asked for.
        version: u64,
        /// The first version the grant allows.
        from_version: u64,
    },
    /// A length or count exceeds what the format allows.
    #[error("{0} too large")]
    TooLarge(&'static str),
}

impl Error {
    /// A stable, machine-readable code for this error (used by JS and HTTP).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed { .. } => "malformed",
            Error::UnknownVersion { .. } => "unknown_version",
            Error::WrongKind { .. } => "wrong_kind",
            Error::InvalidPoint => "invalid_point",
            Error::InvalidScalar => "invalid_scalar",
            Error::BadSignature => "bad_signature",
            Error::DecryptionFailed => "decryption_failed",
            Error::ContentMismatch => "content_mismatch",
            Error::Truncated => "truncated",
            Error::TrailingData => "trailing_data",
            Error::InvalidState(_) => "invalid_state",
            Error::UnsupportedChunkSize => "unsupported_chunk_size",
            Error::BindingMismatch(_) => "binding_mismatch",
            Error::ChainBroken(_) => "chain_broken",
            Error::Stale { .. } => "stale",
            Error::GrantInconsistent => "grant_inconsistent",
            Error::BadProof => "bad_proof",
            Error::NoSuchSection => "no_such_section",
            Error::BeforeFromVersion { .. } => "before_from_version",
            Error::TooLarge(_) => "too_large",
        }
    }
}

/// Result alias for the protocol core.
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) fn malformed(object: ObjectName, reason: &'static str) -> Error {
    Error::Malformed { object, reason }
}

/// Display helper used by redacting `Debug` impls.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
