//! A party seed wrapped under a passphrase, for storage in the browser and
//! for backup key files.
//!
//! The key is Argon2id (RFC 9106) of the passphrase under a fresh random salt;
//! the seed is sealed with AES-256-GCM under that key, with the whole header
//! (cost parameters, salt, nonce) as associated data, so a file whose costs were
//! lowered does not open. A wrong passphrase and a damaged file fail alike,
//! with `decryption_failed`.
//!
//! ```text
//! SPHR 0x11 0x01 ‖ memory_kib u32 ‖ iterations u32 ‖ lanes u32 ‖ salt[16] ‖ nonce[12] ‖ ct[32 + 16]
//! ```

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{malformed, Error, Result};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::random_bytes;
use crate::secret::Seed;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Parallel lanes.
    pub lanes: u32,
}

impl Cost {
    /// The default: RFC 9106's second recommended option (64 MiB, 3 passes, 1 lane).
    pub const DEFAULT: Cost = Cost {
        memory_kib: 64 * 1024,
        iterations: 3,
        lanes: 1,
    };
    /// The cheapest cost a file may ask for (OWASP's minimum: 19 MiB, 2 passes).
    pub const MIN: Cost = Cost {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };
    /// The dearest cost a file may ask for: a hostile file cannot make the
    /// browser allocate more than 1 GiB or loop for minutes.
    pub const MAX: Cost = Cost {
        memory_kib: 1024 * 1024,
        iterations: 16,
        lanes: 4,
    };

    fn check(self) -> Result<Cost> {
        let within = |v: u32, lo: u32, hi: u32| (lo..=hi).contains(&v);
        if within(self.memory_kib, Self::MIN.memory_kib, Self::MAX.memory_kib)
            && within(self.iterations, Self::MIN.iterations, Self::MAX.iterations)
            && within(self.lanes, Self::MIN.lanes, Self::MAX.lanes)
        {
            Ok(self)
        } else {
            Err(malformed(
                "wrapped seed",
                "Argon2id cost outside the allowed range",
            ))
        }
    }

    fn derive(self, passphrase: &[u8], salt: &[u8; SALT_LEN]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .map_err(|_| malformed("wrapped seed", "bad Argon2id parameters"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|_| malformed("wrapped seed", "Argon2id refused the input"))?;
        Ok(key)
    }
}

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// Length of a wrapped seed in bytes.
pub const WRAPPED_LEN: usize = 6 + 12 + SALT_LEN + NONCE_LEN + Seed::LEN + 16;
/// The shortest passphrase accepted when wrapping.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Wraps `seed` under `passphrase` with a fresh salt and nonce.
pub fn wrap<R: CryptoRng + ?Sized>(
    seed: &Seed,
    passphrase: &str,
    cost: Cost,
    rng: &mut R,
) -> Result<Vec<u8>> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::InvalidState(
            "a passphrase needs at least 8 characters",
        ));
    }
    let cost = cost.check()?;
    let salt: [u8; SALT_LEN] = random_bytes(rng);
    let nonce: [u8; NONCE_LEN] = random_bytes(rng);
    let mut w = Writer::object(Kind::WrappedSeed);
    w.u32(cost.memory_kib)
        .u32(cost.iterations)
        .u32(cost.lanes)
        .raw(&salt)
        .raw(&nonce);
    let key = cost.derive(passphrase.as_bytes(), &salt)?;
    let ct = cipher(&key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: seed.to_bytes().as_slice(),
                aad: w.as_slice(),
            },
        )
        .map_err(|_| Error::TooLarge("seed"))?;
    w.raw(&ct);
    Ok(w.finish())
}

/// The cost a wrapped seed asks for (to tell the user how long opening takes).
pub fn cost_of(wrapped: &[u8]) -> Result<Cost> {
    Ok(parse(wrapped)?.0)
}

/// Opens a wrapped seed. A wrong passphrase is `DecryptionFailed`.
pub fn unwrap(wrapped: &[u8], passphrase: &str) -> Result<Seed> {
    let (cost, salt, nonce, aad, ct) = parse(wrapped)?;
    let key = cost.derive(passphrase.as_bytes(), &salt)?;
    let seed = Zeroizing::new(
        cipher(&key)
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map_err(|_| Error::DecryptionFailed)?,
    );
    Seed::from_bytes(&seed)
}

type Parsed<'a> = (Cost, [u8; SALT_LEN], [u8; NONCE_LEN], &'a [u8], &'a [u8]);

fn parse(wrapped: &[u8]) -> Result<Parsed<'_>> {
    let mut r = Reader::object(wrapped, Kind::WrappedSeed)?;
    let cost = Cost {
        memory_kib: r.u32()?,
        iterations: r.u32()?,
        lanes: r.u32()?,
    }
    .check()?;
    let salt = r.array()?;
    let nonce = r.array()?;
    let aad = r.consumed();
    let ct = r.take(Seed::LEN + 16)?;
    r.finish()?;
    Ok((cost, salt, nonce, aad, ct))
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;

    #[test]
    fn wraps_and_unwraps_and_refuses_everything_else() {
        let seed = Seed::from_bytes(&[9; 32]).unwrap();
        let w = wrap(&seed, "correct horse", Cost::MIN, &mut os_rng()).unwrap();
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(cost_of(&w).unwrap(), Cost::MIN);
        assert!(unwrap(&w, "correct horse").unwrap() == seed);
        assert_eq!(
            unwrap(&w, "correct horsE").err().map(|e| e.code()),
            Some("decryption_failed")
        );
        // Every byte of header and ciphertext is bound.
        for i in [6, 10, 14, 20, 36, 50, WRAPPED_LEN - 1] {
            let mut bad = w.clone();
            bad[i] ^= 1;
            assert!(unwrap(&bad, "correct horse").is_err(), "byte {i}");
        }
        assert_eq!(
            unwrap(&w[..w.len() - 1], "correct horse")
                .err()
                .map(|e| e.code()),
            Some("malformed")
        );
        // Two wraps of one seed share nothing (fresh salt and nonce).
        let w2 = wrap(&seed, "correct horse", Cost::MIN, &mut os_rng()).unwrap();
        assert_ne!(w[18..], w2[18..]);
    }

    #[test]
    fn refuses_weak_passphrases_and_hostile_costs() {
        let seed = Seed::from_bytes(&[1; 32]).unwrap();
        assert_eq!(
            wrap(&seed, "short", Cost::MIN, &mut os_rng())
                .err()
                .map(|e| e.code()),
            Some("invalid_state")
        );
        let mut w = wrap(&seed, "long enough", Cost::MIN, &mut os_rng()).unwrap();
        // Ask for 4 TiB of memory: refused before any work.
        w[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(cost_of(&w).err().map(|e| e.code()), Some("malformed"));
        // Ask for less than the minimum: refused too.
        w[6..10].copy_from_slice(&1024u32.to_be_bytes());
        assert_eq!(
            unwrap(&w, "long enough").err().map(|e| e.code()),
            Some("malformed")
        );
    }
}
