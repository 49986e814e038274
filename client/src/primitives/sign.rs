//! Statement signatures: ECDSA P-256/SHA-256 (RFC 6979), low S, `r‖s`,
//! over `lp("SeSPHR-v1/signature") ‖ lp(payload)`.

use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

use super::group::{Point, POINT_LEN};
use super::hash::{labels, length_prefixed};
use crate::error::{Error, Result};

/// Length of a fixed `r‖s` signature.
pub const SIGNATURE_LEN: usize = 64;

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
