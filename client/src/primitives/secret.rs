//! Secret newtypes: zeroized on drop, redacted in `Debug`, never `Display`.

use core::fmt;
use p256::{NonZeroScalar, Scalar};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::primitives::{random_bytes, scalar_from_bytes, scalar_to_bytes, Point};

/// `Debug` that names the type and prints nothing of its value.
macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name))
                    .field(&crate::error::Redacted)
                    .finish()
            }
        }
    };
}

/// A party's 32-byte master seed. Everything the party owns derives from it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 32]);

impl Seed {
    /// Length of a seed in bytes.
    pub const LEN: usize = 32;

    /// A fresh random seed.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Seed {
        Seed(random_bytes(rng))
    }
    /// Wraps seed bytes (e.g. restored from a backup).
    pub fn from_bytes(bytes: &[u8]) -> Result<Seed> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| crate::error::malformed("seed", "must be 32 bytes"))?;
        Ok(Seed(arr))
    }
    /// The seed bytes (for backup), in a zeroizing buffer.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

redacted_debug!(Seed);

impl PartialEq for Seed {
    fn eq(&self, other: &Seed) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// A secret non-zero scalar (section secret `a`, share `b1`/`b2`, private key).
#[derive(Clone)]
pub struct SecretScalar(NonZeroScalar);

impl SecretScalar {
    /// A fresh random non-zero scalar.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretScalar {
        SecretScalar(<NonZeroScalar as p256::elliptic_curve::Generate>::generate_from_rng(rng))
    }
    /// Decodes a canonical non-zero scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretScalar> {
        scalar_from_bytes(bytes).map(SecretScalar)
    }
    /// Big-endian bytes, in a zeroizing buffer.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(scalar_to_bytes(self.0.as_ref()))
    }
    /// The public point `self·G`.
    pub fn public(&self) -> Point {
        Point::mul_base(&self.0)
    }
    /// `self·P`.
    pub fn mul(&self, p: &Point) -> Result<Point> {
        p.mul(self.0.as_ref())
    }
    pub(crate) fn from_nonzero(s: NonZeroScalar) -> SecretScalar {
        SecretScalar(s)
    }
    pub(crate) fn scalar(&self) -> &Scalar {
        self.0.as_ref()
    }
    /// `self − other`, refusing zero.
    pub(crate) fn sub(&self, other: &SecretScalar) -> Result<SecretScalar> {
        let d: Scalar = *self.0.as_ref() - other.0.as_ref();
        Option::from(NonZeroScalar::new(d))
            .map(SecretScalar)
            .ok_or(Error::InvalidScalar)
    }
}

impl Drop for SecretScalar {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretScalar {}

redacted_debug!(SecretScalar);

/// A 256-bit symmetric key (a section version's DEK).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; 32]);

impl SymmetricKey {
    pub(crate) fn new(bytes: [u8; 32]) -> SymmetricKey {
        SymmetricKey(bytes)
    }
    /// Wraps raw key bytes (e.g. a key from another AES-GCM engine's test).
    pub fn from_bytes(bytes: [u8; 32]) -> SymmetricKey {
        SymmetricKey(bytes)
    }
    /// The key bytes, for handing to a crypto engine (e.g. WebCrypto `importKey`).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

redacted_debug!(SymmetricKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let seed = Seed::from_bytes(&[0xab; 32]).expect("seed");
        let s = SecretScalar::from_bytes(&[0x11; 32]).expect("scalar");
        let k = SymmetricKey::new([0xcd; 32]);
        for text in [format!("{seed:?}"), format!("{s:?}"), format!("{k:?}")] {
            assert!(text.contains("redacted"), "{text}");
            assert!(!text.to_lowercase().contains("ab"), "{text}");
            assert!(!text.contains("11"), "{text}");
            assert!(!text.to_lowercase().contains("cd"), "{text}");
        }
    }
}
