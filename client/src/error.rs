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
    /// A manifest does not chain onto its predecessor, or an audit entry onto
    /// the previous entry about its record.
    #[error("chain broken: {0}")]
    ChainBroken(&'static str),
    /// A manifest, or an audit tree head, is older than one already seen
    /// (versions for manifests, tree sizes for audit heads and receipts).
    #[error("stale: {found} is older than {known} (a version, or an audit log's size)")]
    Stale {
        /// Version (or tree size) offered.
        found: u64,
        /// Highest version (or tree size) known.
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
    /// The SRS refused a re-encryption (its decision is the code).
    #[error("the re-encryption server refused: {}", .0.code())]
    Refused(crate::audit::Decision),
    /// None of the reader's grants covers this section version: the section
    /// was re-keyed without this reader, or was never shared with it.
    #[error("no grant of yours covers this version of the section")]
    NotGranted,
    /// Two audit tree heads, both validly signed by the pinned SRS, that do
    /// not describe one append-only log: the same size with another root,
    /// or a larger head that no consistency proof links to the earlier one.
    /// Both signed heads are the evidence (show them to anyone: each
    /// verifies under the SRS key alone).
    #[error(
        "the re-encryption server's audit log forked: its signed head of {} entries does not extend the signed head of {} entries it showed before",
        .served.tree_size,
        .kept.tree_size
    )]
    AuditFork {
        /// The head verified earlier (kept by this client).
        kept: Box<crate::audit::SignedTreeHead>,
        /// The head served now.
        served: Box<crate::audit::SignedTreeHead>,
    },
    /// An audit listing leaves out entries about the record: the record's
    /// chain counts more before a listed one, a reader's forwarded receipt
    /// is not in it, an earlier verified listing showed more below its tree
    /// size, or that listing left out some it now shows.
    #[error(
        "the audit listing shows {listed} accesses where its chain, a receipt or an earlier listing shows {known}"
    )]
    AuditIncomplete {
        /// Entries the listing shows (below the earlier listing's size, for a mark).
        listed: u64,
        /// Entries the chain, the receipt or the earlier listing shows.
        known: u64,
    },
}

/// The class of an [`Error`], without its details: one variant per stable
/// code. Unlike [`Error`] it is exhaustive, so a caller that maps errors
/// (the servers to HTTP statuses, the bindings to JS) names every case and
/// fails to compile when a class is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `malformed`
    Malformed,
    /// `unknown_version`
    UnknownVersion,
    /// `wrong_kind`
    WrongKind,
    /// `invalid_point`
    InvalidPoint,
    /// `invalid_scalar`
    InvalidScalar,
    /// `bad_signature`
    BadSignature,
    /// `decryption_failed`
    DecryptionFailed,
    /// `content_mismatch`
    ContentMismatch,
    /// `truncated`
    Truncated,
    /// `trailing_data`
    TrailingData,
    /// `invalid_state`
    InvalidState,
    /// `unsupported_chunk_size`
    UnsupportedChunkSize,
    /// `binding_mismatch`
    BindingMismatch,
    /// `chain_broken`
    ChainBroken,
    /// `stale`
    Stale,
    /// `grant_inconsistent`
    GrantInconsistent,
    /// `bad_proof`
    BadProof,
    /// `no_such_section`
    NoSuchSection,
    /// `before_from_version`
    BeforeFromVersion,
    /// `too_large`
    TooLarge,
    /// The SRS's decision code (`revoked`, `expired`, …)
    Refused,
    /// `not_granted`
    NotGranted,
    /// `audit_fork`
    AuditFork,
    /// `audit_incomplete`
    AuditIncomplete,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed { .. } => ErrorKind::Malformed,
            Error::UnknownVersion { .. } => ErrorKind::UnknownVersion,
            Error::WrongKind { .. } => ErrorKind::WrongKind,
            Error::InvalidPoint => ErrorKind::InvalidPoint,
            Error::InvalidScalar => ErrorKind::InvalidScalar,
            Error::BadSignature => ErrorKind::BadSignature,
            Error::DecryptionFailed => ErrorKind::DecryptionFailed,
            Error::ContentMismatch => ErrorKind::ContentMismatch,
            Error::Truncated => ErrorKind::Truncated,
            Error::TrailingData => ErrorKind::TrailingData,
            Error::InvalidState(_) => ErrorKind::InvalidState,
            Error::UnsupportedChunkSize => ErrorKind::UnsupportedChunkSize,
            Error::BindingMismatch(_) => ErrorKind::BindingMismatch,
            Error::ChainBroken(_) => ErrorKind::ChainBroken,
            Error::Stale { .. } => ErrorKind::Stale,
            Error::GrantInconsistent => ErrorKind::GrantInconsistent,
            Error::BadProof => ErrorKind::BadProof,
            Error::NoSuchSection => ErrorKind::NoSuchSection,
            Error::BeforeFromVersion { .. } => ErrorKind::BeforeFromVersion,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::Refused(_) => ErrorKind::Refused,
            Error::NotGranted => ErrorKind::NotGranted,
            Error::AuditFork { .. } => ErrorKind::AuditFork,
            Error::AuditIncomplete { .. } => ErrorKind::AuditIncomplete,
        }
    }

    /// A stable, machine-readable code for this error (used by JS and HTTP).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Refused(d) => d.code(),
            e => e.kind().code(),
        }
    }

    /// Whether this error says that something failed verification: bytes
    /// that do not parse, a signature, proof, key or binding that does not
    /// check out. A reader shows such an error rather than an ordinary
    /// refusal, since it points at a lying server or a forged object.
    pub fn is_verification_failure(&self) -> bool {
        !matches!(
            self.kind(),
            ErrorKind::Refused
                | ErrorKind::NotGranted
                | ErrorKind::NoSuchSection
                | ErrorKind::BeforeFromVersion
                | ErrorKind::InvalidState
                | ErrorKind::TooLarge
        )
    }
}

impl ErrorKind {
    /// The stable code (for [`ErrorKind::Refused`], `refused`; the error
    /// itself carries the decision's code).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::UnknownVersion => "unknown_version",
            ErrorKind::WrongKind => "wrong_kind",
            ErrorKind::InvalidPoint => "invalid_point",
            ErrorKind::InvalidScalar => "invalid_scalar",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::DecryptionFailed => "decryption_failed",
            ErrorKind::ContentMismatch => "content_mismatch",
            ErrorKind::Truncated => "truncated",
            ErrorKind::TrailingData => "trailing_data",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::UnsupportedChunkSize => "unsupported_chunk_size",
            ErrorKind::BindingMismatch => "binding_mismatch",
            ErrorKind::ChainBroken => "chain_broken",
            ErrorKind::Stale => "stale",
            ErrorKind::GrantInconsistent => "grant_inconsistent",
            ErrorKind::BadProof => "bad_proof",
            ErrorKind::NoSuchSection => "no_such_section",
            ErrorKind::BeforeFromVersion => "before_from_version",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Refused => "refused",
            ErrorKind::NotGranted => "not_granted",
            ErrorKind::AuditFork => "audit_fork",
            ErrorKind::AuditIncomplete => "audit_incomplete",
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
