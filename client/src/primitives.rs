//! The primitives of the protocol, named after the spec: `hash`, `h2s`,
//! `hkdf_extract`/`hkdf_expand`, point and scalar codecs, statement signing.
//!
//! Every hash, KDF and transcript input is a label `SeSPHR-v1/<purpose>`
//! followed by length-prefixed fields (`u32` big-endian length, then bytes).
//! (The sealed request's HPKE `info` and exporter context are bare labels:
//! RFC 9180's labeled KDF frames them itself.)

use hkdf::Hkdf;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::group::{Group, GroupEncoding};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::sec1::{FromSec1Point, ToSec1Point};
use p256::hash2curve::{hash_to_scalar, ExpandMsgXmd};
use p256::{AffinePoint, NistP256, NonZeroScalar, ProjectivePoint, Scalar};
use rand_core::CryptoRng;
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
}

/// Length of a compressed SEC1 point.
pub const POINT_LEN: usize = 33;
/// Length of a scalar.
pub const SCALAR_LEN: usize = 32;
/// Length of a fixed `r‖s` signature.
pub const SIGNATURE_LEN: usize = 64;

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

/// Fills `N` bytes from the given CSPRNG.
pub fn random_bytes<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// The operating system's (or the browser's) CSPRNG.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A validated P-256 point: on the curve and never the identity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Point(ProjectivePoint);

impl Point {
    /// The generator `G`.
    pub fn generator() -> Point {
        Point(ProjectivePoint::GENERATOR)
    }
    /// `k·G` for a non-zero scalar (never the identity).
    pub fn mul_base(k: &NonZeroScalar) -> Point {
        Point(ProjectivePoint::GENERATOR * k.as_ref())
    }
    /// Wraps a projective point, refusing the identity.
    pub fn from_projective(p: ProjectivePoint) -> Result<Point> {
        if bool::from(p.is_identity()) {
            Err(Error::InvalidPoint)
        } else {
            Ok(Point(p))
        }
    }
    /// The inner projective point.
    pub fn projective(&self) -> ProjectivePoint {
        self.0
    }
    /// `k·self`, refusing an identity result.
    pub fn mul(&self, k: &Scalar) -> Result<Point> {
        Point::from_projective(self.0 * k)
    }
    /// 33-byte compressed SEC1 encoding.
    pub fn to_bytes(&self) -> [u8; POINT_LEN] {
        let mut out = [0u8; POINT_LEN];
        out.copy_from_slice(&self.0.to_affine().to_bytes());
        out
    }
    /// The affine x-coordinate (the ECDH shared secret convention).
    pub fn x(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.0.to_affine().x());
        out
    }
    /// 65-byte uncompressed SEC1 encoding (HPKE's `SerializePublicKey`).
    pub fn to_uncompressed(&self) -> Vec<u8> {
        self.0.to_affine().to_sec1_point(false).as_bytes().to_vec()
    }
    /// Decodes exactly 33 compressed bytes; validates the point fully.
    pub fn from_bytes(bytes: &[u8]) -> Result<Point> {
        if bytes.len() != POINT_LEN || !(bytes[0] == 0x02 || bytes[0] == 0x03) {
            return Err(Error::InvalidPoint);
        }
        let affine = AffinePoint::from_sec1_bytes(bytes).map_err(|_| Error::InvalidPoint)?;
        Point::from_projective(affine.into())
    }
}

impl core::fmt::Debug for Point {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Point({})", hex::encode(self.to_bytes()))
    }
}

impl core::ops::Add for Point {
    type Output = ProjectivePoint;
    fn add(self, rhs: Point) -> ProjectivePoint {
        self.0 + rhs.0
    }
}

/// Decodes a canonical, non-zero 32-byte big-endian scalar.
pub fn scalar_from_bytes(bytes: &[u8]) -> Result<NonZeroScalar> {
    let arr: [u8; SCALAR_LEN] = bytes.try_into().map_err(|_| Error::InvalidScalar)?;
    let s: Option<Scalar> = Scalar::from_repr(arr.into()).into();
    let s = s.ok_or(Error::InvalidScalar)?;
    Option::from(NonZeroScalar::new(s)).ok_or(Error::InvalidScalar)
}

/// Decodes a canonical scalar that may be zero (proof response `s`).
pub fn any_scalar_from_bytes(bytes: &[u8]) -> Result<Scalar> {
    let arr: [u8; SCALAR_LEN] = bytes.try_into().map_err(|_| Error::InvalidScalar)?;
    Option::from(Scalar::from_repr(arr.into())).ok_or(Error::InvalidScalar)
}

/// Encodes a scalar as 32 big-endian bytes.
pub fn scalar_to_bytes(s: &Scalar) -> [u8; SCALAR_LEN] {
    s.to_repr().into()
}

/// The message actually signed for a statement: the signature label, then the
/// statement payload (which starts with its brand, kind and version: the type tag).
pub fn signed_message(payload: &[u8]) -> Vec<u8> {
    length_prefixed(&[labels::SIGNATURE.as_bytes(), payload])
}

/// Signs a statement payload: ECDSA P-256/SHA-256 (RFC 6979), low-S, `r‖s`.
pub fn sign_statement(key: &SigningKey, payload: &[u8]) -> [u8; SIGNATURE_LEN] {
    use p256::ecdsa::signature::Signer;
    let sig: Signature = key.sign(&signed_message(payload));
    let mut out = [0u8; SIGNATURE_LEN];
    out.copy_from_slice(&sig.normalize_s().to_bytes());
    out
}

/// Verifies a statement signature; rejects malformed and high-S signatures.
pub fn verify_statement(key: &VerifyingKey, payload: &[u8], sig: &[u8]) -> Result<()> {
    verify_message(key, &signed_message(payload), sig)
}

/// ECDSA P-256/SHA-256 verification of `msg` under our policy: exactly 64
/// bytes `r‖s`, both in `[1, n)`, and low S.
pub fn verify_message(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> Result<()> {
    use p256::ecdsa::signature::Verifier;
    use p256::elliptic_curve::scalar::IsHigh;
    let sig = Signature::from_slice(sig).map_err(|_| Error::BadSignature)?;
    if bool::from(sig.s().is_high()) {
        return Err(Error::BadSignature);
    }
    key.verify(msg, &sig).map_err(|_| Error::BadSignature)
}

/// Decodes a 33-byte compressed ECDSA verifying key (validated point).
pub fn verifying_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey> {
    let p = Point::from_bytes(bytes)?;
    VerifyingKey::from_affine(p.projective().to_affine()).map_err(|_| Error::InvalidPoint)
}

/// Encodes a verifying key as 33 compressed bytes.
pub fn verifying_key_to_bytes(key: &VerifyingKey) -> [u8; POINT_LEN] {
    let mut out = [0u8; POINT_LEN];
    out.copy_from_slice(key.to_sec1_point(true).as_bytes());
    out
}

/// Hash of a signed statement's payload (e.g. the manifest hash).
pub fn statement_hash(payload: &[u8]) -> [u8; 32] {
    hash(labels::STATEMENT, &[payload])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_codec_rejects_bad_encodings() {
        let g = Point::generator();
        let bytes = g.to_bytes();
        assert_eq!(Point::from_bytes(&bytes).expect("valid"), g);
        assert_eq!(Point::from_bytes(&[0u8; 33]), Err(Error::InvalidPoint));
        assert_eq!(Point::from_bytes(&[0u8; 1]), Err(Error::InvalidPoint));
        assert_eq!(
            Point::from_bytes(&g.to_uncompressed()),
            Err(Error::InvalidPoint)
        );
        let mut off_curve = bytes;
        off_curve[32] ^= 1;
        // Either not on the curve or a different valid point: never the same point.
        assert_ne!(Point::from_bytes(&off_curve).ok(), Some(g));
        let mut x_too_big = [0xffu8; 33];
        x_too_big[0] = 0x02;
        assert_eq!(Point::from_bytes(&x_too_big), Err(Error::InvalidPoint));
    }

    #[test]
    fn scalar_codec_rejects_zero_and_overflow() {
        assert_eq!(
            scalar_from_bytes(&[0u8; 32]).err(),
            Some(Error::InvalidScalar)
        );
        assert_eq!(
            scalar_from_bytes(&[0xffu8; 32]).err(),
            Some(Error::InvalidScalar)
        );
        let one = {
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        };
        assert!(scalar_from_bytes(&one).is_ok());
    }

    #[test]
    fn signatures_are_low_s_and_domain_separated() {
        let key = SigningKey::from_slice(&[7u8; 32]).expect("key");
        let sig = sign_statement(&key, b"payload");
        verify_statement(key.verifying_key(), b"payload", &sig).expect("verifies");
        assert_eq!(
            verify_statement(key.verifying_key(), b"other", &sig),
            Err(Error::BadSignature)
        );
        // The high-S twin of a valid signature is refused.
        let parsed = Signature::from_slice(&sig).expect("sig");
        let high =
            Signature::from_scalars(parsed.r().to_bytes(), (-*parsed.s()).to_bytes()).expect("sig");
        assert_eq!(
            verify_statement(key.verifying_key(), b"payload", &high.to_bytes()),
            Err(Error::BadSignature)
        );
    }
}
