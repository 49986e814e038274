//! The primitive layer: hashing and key derivation ([`hash`]), the group
//! ([`group`]), statement signatures ([`sign`]), the object codec, the
//! Merkle trees, the DLEQ proof and the secret newtypes. Nothing here knows
//! a protocol object; everything above is built from these.

pub(crate) mod codec;
pub mod dleq;
mod group;
mod hash;
pub mod merkle;
pub mod order;
pub mod secret;
mod sign;

use rand_core::CryptoRng;

pub use group::{
    any_scalar_from_bytes, scalar_from_bytes, scalar_to_bytes, Point, POINT_LEN, SCALAR_LEN,
};
pub use hash::{
    h2s, hash, hash_to_scalar_raw, hkdf_expand, hkdf_extract, labels, length_prefixed,
    statement_hash,
};
pub use sign::{
    sign_statement, signed_message, verify_message, verify_statement, verifying_key_from_bytes,
    verifying_key_to_bytes, SIGNATURE_LEN,
};

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

#[cfg(test)]
mod tests {
    use p256::ecdsa::{Signature, SigningKey};

    use super::*;
    use crate::error::Error;

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
