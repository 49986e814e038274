//! Statement signatures: ECDSA P-256/SHA-256 (RFC 6979), low S, `r‖s`,
//! over `lp("SeSPHR-v1/signature") ‖ lp(payload)`.
//!
//! Two engines check a signature: RustCrypto's `p256` (the browser's and
//! the portable path) and, in a native build with the `aws-lc` feature (the
//! servers), AWS-LC's assembly, about five times faster. Both see the same
//! bytes after the same policy checks (64 bytes, `r` and `s` in `[1, n)`,
//! low S), and ECDSA verification is a deterministic predicate of
//! `(key, message, r, s)`, so they accept and refuse the same inputs;
//! `tests::engines_agree` and the Wycheproof suite (`tests/standards.rs`)
//! check that. Signing stays on `p256` everywhere: RFC 6979 nonces make
//! the bytes the vectors pin, and AWS-LC signs with random nonces.

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
    let sig = policy_checked(sig)?;
    #[cfg(all(feature = "aws-lc", not(target_arch = "wasm32")))]
    return verify_aws_lc(key, msg, &sig);
    #[cfg(not(all(feature = "aws-lc", not(target_arch = "wasm32"))))]
    verify_portable(key, msg, &sig)
}

/// The policy before any curve work: exactly 64 bytes, `r` and `s` in
/// `[1, n)` (`Signature::from_slice`), and low S.
fn policy_checked(sig: &[u8]) -> Result<Signature> {
    use p256::elliptic_curve::scalar::IsHigh;
    let sig = Signature::from_slice(sig).map_err(|_| Error::BadSignature)?;
    if bool::from(sig.s().is_high()) {
        return Err(Error::BadSignature);
    }
    Ok(sig)
}

/// ECDSA verification by `p256` (variable time: every input is public).
/// With `aws-lc` on, only the engine comparison tests call it.
#[cfg_attr(all(feature = "aws-lc", not(target_arch = "wasm32")), allow(dead_code))]
fn verify_portable(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> Result<()> {
    use p256::ecdsa::signature::Verifier;
    key.verify(msg, sig).map_err(|_| Error::BadSignature)
}

/// ECDSA verification by AWS-LC: the key as its 65-byte uncompressed
/// encoding (an affine point already, so no inversion), the signature as
/// the fixed `r‖s` it was given.
#[cfg(all(feature = "aws-lc", not(target_arch = "wasm32")))]
fn verify_aws_lc(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> Result<()> {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    let point = key.to_sec1_point(false);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_bytes())
        .verify(msg, &sig.to_bytes())
        .map_err(|_| Error::BadSignature)
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

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;

    /// Both engines decide alike on valid signatures, on every single-bit
    /// change of message and signature, and on another key.
    #[test]
    fn engines_agree() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        for len in [0usize, 1, 55, 64, 300] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sig = policy_checked(&sign_statement(&key, &payload)).unwrap();
            let msg = signed_message(&payload);
            let mut cases = vec![(msg.clone(), sig.to_bytes().to_vec(), key.verifying_key())];
            cases.push((msg.clone(), sig.to_bytes().to_vec(), other.verifying_key()));
            for bit in (0..64 * 8).step_by(13) {
                let mut bad = sig.to_bytes().to_vec();
                bad[bit / 8] ^= 1 << (bit % 8);
                cases.push((msg.clone(), bad, key.verifying_key()));
            }
            for bit in (0..msg.len() * 8).step_by(29) {
                let mut bad = msg.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                cases.push((bad, sig.to_bytes().to_vec(), key.verifying_key()));
            }
            let mut accepted = 0;
            for (m, s, k) in cases {
                let portable = policy_checked(&s).and_then(|s| verify_portable(k, &m, &s));
                #[cfg(all(feature = "aws-lc", not(target_arch = "wasm32")))]
                {
                    let aws = policy_checked(&s).and_then(|s| verify_aws_lc(k, &m, &s));
                    assert_eq!(portable.is_ok(), aws.is_ok(), "len {len}");
                }
                assert_eq!(verify_message(k, &m, &s).is_ok(), portable.is_ok());
                accepted += usize::from(portable.is_ok());
            }
            assert_eq!(accepted, 1, "only the untouched signature verifies");
        }
    }

    /// Both engines decide alike on every Wycheproof ECDSA P-256/SHA-256
    /// case (valid, invalid and high-S alike).
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn engines_agree_on_wycheproof() {
        let set = wycheproof::ecdsa::TestSet::load(
            wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        )
        .unwrap();
        let mut compared = 0;
        for g in &set.test_groups {
            let Ok(key) = VerifyingKey::from_sec1_bytes(&g.key.key) else {
                continue;
            };
            for t in &g.tests {
                let portable =
                    policy_checked(&t.sig).and_then(|s| verify_portable(&key, &t.msg, &s));
                let chosen = verify_message(&key, &t.msg, &t.sig);
                assert_eq!(portable.is_ok(), chosen.is_ok(), "tc {}", t.tc_id);
                #[cfg(feature = "aws-lc")]
                {
                    let aws = policy_checked(&t.sig).and_then(|s| verify_aws_lc(&key, &t.msg, &s));
                    assert_eq!(portable.is_ok(), aws.is_ok(), "tc {}", t.tc_id);
                }
                compared += 1;
            }
        }
        assert!(compared > 100, "{compared}");
    }
}
