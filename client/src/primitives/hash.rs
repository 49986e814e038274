//! Hashing and key derivation, named after the spec: `H` ([`hash`]), `H2S`
//! ([`h2s`]), `Extract` / `Expand` ([`hkdf_extract`], [`hkdf_expand`]) and
//! `StatementHash` ([`statement_hash`]), with every label a `const`.
//!
//! Every hash, KDF and transcript input is a label `SeSPHR-v1/<purpose>`
//! followed by length-prefixed fields (`u32` big-endian length, then bytes).
//! (The sealed request's HPKE `info` and exporter context are bare labels:
//! RFC 9180's labeled KDF frames them itself.)

use hkdf::Hkdf;
use p256::hash2curve::{hash_to_scalar, ExpandMsgXmd};
use p256::{NistP256, NonZeroScalar, Scalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Labels: every hash, KDF, signature and transcript input is domain separated.
pub mod labels {
    /// Signing key derivation from a party seed.
    pub const IDENTITY_SIGN: &str = "SeSPHR-v1/identity/sign";
    /// Encryption key derivation from a party seed.
    pub const IDENTITY_ENC: &str = "SeSPHR-v1/identity/enc";
    /// Section-id HMAC key derivation from the owner seed.
    pub const SECTION_ID_KEY: &str = "SeSPHR-v1/section-id-key";
    /// Party id from the two public keys.
    pub const PARTY_ID: &str = "SeSPHR-v1/party-id";
    /// Human fingerprint of a party.
    pub const FINGERPRINT: &str = "SeSPHR-v1/fingerprint";
    /// Record id from owner id and random nonce.
    pub const RECORD: &str = "SeSPHR-v1/record";
    /// The owner's deterministic record nonces (so a restored seed finds its records).
    pub const RECORD_NONCE: &str = "SeSPHR-v1/record-nonce";
    /// Section secret `a`.
    pub const SECTION_SECRET: &str = "SeSPHR-v1/section-secret";
    /// Data encryption key.
    pub const DEK: &str = "SeSPHR-v1/dek";
    /// Key commitment.
    pub const KEY_COMMIT: &str = "SeSPHR-v1/key-commit";
    /// Expand label: the key that seals a sharded entry's placement.
    pub const PLACEMENT: &str = "SeSPHR-v1/placement";
    /// Blob header hash (the AAD of every chunk).
    pub const BLOB_HEADER: &str = "SeSPHR-v1/blob-header";
    /// Hash of a signed statement's payload (manifest hash, grant hash, ...).
    pub const STATEMENT: &str = "SeSPHR-v1/statement";
    /// Prefix of every signed message.
    pub const SIGNATURE: &str = "SeSPHR-v1/signature";
    /// HPKE info for the grantee's share.
    pub const ENVELOPE_B1: &str = "SeSPHR-v1/envelope/b1";
    /// HPKE info for the SRS's share.
    pub const ENVELOPE_B2: &str = "SeSPHR-v1/envelope/b2";
    /// Hash of an envelope (committed in the grant).
    pub const ENVELOPE_HASH: &str = "SeSPHR-v1/envelope-hash";
    /// DLEQ proof nonce.
    pub const DLEQ_NONCE: &str = "SeSPHR-v1/dleq/nonce";
    /// DLEQ challenge.
    pub const DLEQ_CHALLENGE: &str = "SeSPHR-v1/dleq/challenge";
    /// HPKE info for a request sealed to the SRS.
    pub const SEALED_REQUEST: &str = "SeSPHR-v1/sealed-request";
    /// HPKE exporter context for the answer key.
    pub const SEALED_ANSWER: &str = "SeSPHR-v1/sealed-answer";
    /// HKDF-Extract salt of an attachment's file key.
    pub const ATTACHMENT_KEY: &str = "SeSPHR-v1/attachment-key";
    /// Expand label: an attachment's AES-256-GCM key.
    pub const ATTACHMENT_DEK: &str = "SeSPHR-v1/attachment/dek";
    /// Expand label: an attachment's key commitment.
    pub const ATTACHMENT_KEY_COMMIT: &str = "SeSPHR-v1/attachment/key-commit";
    /// Expand label: the key that seals a sharded attachment's placement.
    pub const ATTACHMENT_PLACEMENT: &str = "SeSPHR-v1/attachment/placement";
    /// `H`: attachment header hash (the AAD of its chunks).
    pub const ATTACHMENT_HEADER: &str = "SeSPHR-v1/attachment-header";
    /// `H`: digest of the `(index, leaf)` pairs of an audit listing (an audit mark).
    pub const AUDIT_LISTING: &str = "SeSPHR-v1/audit-listing";
    /// HPKE info of mail: a message sealed to a party through the relay.
    pub const MAIL: &str = "SeSPHR-v1/mail";
    /// An invitation's id, from its secret.
    pub const INVITATION_ID: &str = "SeSPHR-v1/invitation/id";
    /// An invitation's MAC key, from its secret (HKDF).
    pub const INVITATION_MAC: &str = "SeSPHR-v1/invitation/mac";
    /// An invitation's HPKE private key, from its secret (H2S).
    pub const INVITATION_HPKE: &str = "SeSPHR-v1/invitation/hpke";
    /// HPKE info of an acceptance (with the invitation id).
    pub const INVITATION_ACCEPT: &str = "SeSPHR-v1/invitation/accept";
    /// Owner-private state's AES-256-GCM key, from the seed (HKDF).
    pub const OWNER_STATE: &str = "SeSPHR-v1/owner-state";
    /// One party's half of a safety number.
    pub const SAFETY_NUMBER: &str = "SeSPHR-v1/safety-number";
    /// HKDF salt and Expand label of the key that keeps a SMART Health
    /// Link's key for its owner.
    pub const SHL_OWNER_KEY: &str = "SeSPHR-v1/shl-owner-key";
}

/// Writes `label` and `fields`, each with a `u32` big-endian length prefix.
fn absorb(hasher: &mut Sha256, label: &str, fields: &[&[u8]]) {
    for part in core::iter::once(label.as_bytes()).chain(fields.iter().copied()) {
        hasher.update((part.len() as u32).to_be_bytes());
        hasher.update(part);
    }
}

/// Encodes fields as `u32` length-prefixed bytes (used as hash-to-scalar input).
pub fn length_prefixed(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// `H(label, fields...)`: SHA-256 over the length-prefixed label and fields.
pub fn hash(label: &str, fields: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    absorb(&mut h, label, fields);
    h.finalize().into()
}

/// `H2S(label, fields...)`: RFC 9380 `hash_to_field` into the P-256 scalar
/// field (expand_message_xmd with SHA-256, 48 bytes, DST = `label`).
///
/// Fails only in the negligible case of a zero result.
pub fn h2s(label: &str, fields: &[&[u8]]) -> Result<NonZeroScalar> {
    let msg = Zeroizing::new(length_prefixed(fields));
    let s = hash_to_scalar_raw(&[&msg], label.as_bytes())?;
    Option::from(NonZeroScalar::new(s)).ok_or(Error::InvalidScalar)
}

/// RFC 9380 `hash_to_field(msg, 1)` for the P-256 scalar field with
/// `expand_message_xmd(SHA-256)`, `L = 48`: the plain standard primitive
/// under [`h2s`] (checked against RFC 9497's test vectors).
pub fn hash_to_scalar_raw(msg: &[&[u8]], dst: &[u8]) -> Result<Scalar> {
    hash_to_scalar::<NistP256, ExpandMsgXmd<Sha256>, p256::elliptic_curve::consts::U48>(msg, &[dst])
        .map_err(|_| Error::InvalidScalar)
}

/// `HKDF-Extract(salt, ikm)` with SHA-256.
pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
}

/// `HKDF-Expand(prk, info)` to 32 bytes, where `info` is the length-prefixed
/// `label` and `fields`.
pub fn hkdf_expand(prk: &Hkdf<Sha256>, label: &str, fields: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut info = length_prefixed(&[label.as_bytes()]);
    info.extend_from_slice(&length_prefixed(fields));
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = prk.expand(&info, out.as_mut());
    out
}

/// Hash of a signed statement's payload (e.g. the manifest hash).
pub fn statement_hash(payload: &[u8]) -> [u8; 32] {
    hash(labels::STATEMENT, &[payload])
}
