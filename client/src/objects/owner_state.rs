//! Owner-private state kept at the relay (kind `0x19`): a party's contacts
//! or outstanding invitations, encrypted under a key only its seed derives,
//! in numbered versions the relay stores by compare-and-swap.
//!
//! Bytes: owner party id (32) ‖ lp(slot) ‖ version u64 ‖ nonce (12) ‖
//! lp(AES-256-GCM ciphertext). The key is
//! `HKDF-Expand(HKDF-Extract("SeSPHR-v1/owner-state", seed), "SeSPHR-v1/owner-state", slot)`;
//! the AAD is every byte before the ciphertext's length, so the relay can
//! read (and must check) owner, slot and version, and can neither move a
//! state to another slot or version nor alter it. A relay can still serve
//! an older version: the client keeps the highest version it saw.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{malformed, Error, Result};
use crate::identity::{Identity, PartyId};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{hkdf_expand, hkdf_extract, labels, random_bytes};

/// Longest slot name.
pub const MAX_SLOT: usize = 32;
/// Largest state plaintext.
pub const MAX_STATE: usize = 256 * 1024;

/// A slot name: 1 to 32 of `a-z`, `0-9`, `-`.
pub fn check_slot(slot: &str) -> Result<()> {
    if slot.is_empty()
        || slot.len() > MAX_SLOT
        || !slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(malformed("owner state", "a slot is 1 to 32 of a-z, 0-9, -"));
    }
    Ok(())
}

/// What anyone (the relay) can read of a state object, checked for shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateHeader {
    /// Whose state.
    pub owner: PartyId,
    /// Which slot.
    pub slot: String,
    /// Its version (1 for the first).
    pub version: u64,
}

struct Parsed<'a> {
    header: StateHeader,
    aad: &'a [u8],
    nonce: [u8; 12],
    ciphertext: &'a [u8],
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    let mut r = Reader::object(bytes, Kind::OwnerState)?;
    let owner = PartyId(r.array()?);
    let slot = String::from_utf8(r.bytes(MAX_SLOT)?.to_vec())
        .map_err(|_| malformed("owner state", "slot not UTF-8"))?;
    check_slot(&slot)?;
    let version = r.u64()?;
    if version == 0 {
        return Err(malformed("owner state", "versions start at 1"));
    }
    let nonce = r.array()?;
    let aad = r.consumed();
    let ciphertext = r.bytes(MAX_STATE + 16)?;
    r.finish()?;
    Ok(Parsed {
        header: StateHeader {
            owner,
            slot,
            version,
        },
        aad,
        nonce,
        ciphertext,
    })
}

fn cipher(owner: &Identity, slot: &str) -> Aes256Gcm {
    let prk = hkdf_extract(labels::OWNER_STATE.as_bytes(), owner.seed().expose());
    let key = hkdf_expand(&prk, labels::OWNER_STATE, &[slot.as_bytes()]);
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// The header of a state object (for the relay: no key needed).
pub fn state_header(bytes: &[u8]) -> Result<StateHeader> {
    Ok(parse(bytes)?.header)
}

/// Encrypts `plaintext` as version `version` of `owner`'s `slot`.
pub fn seal_state<R: CryptoRng + ?Sized>(
    owner: &Identity,
    slot: &str,
    version: u64,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    check_slot(slot)?;
    if plaintext.len() > MAX_STATE {
        return Err(Error::TooLarge("owner state"));
    }
    if version == 0 {
        return Err(malformed("owner state", "versions start at 1"));
    }
    let nonce: [u8; 12] = random_bytes(rng);
    let mut w = Writer::object(Kind::OwnerState);
    w.raw(&owner.id().0);
    w.bytes(slot.as_bytes())?.u64(version).raw(&nonce);
    let ct = cipher(owner, slot)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: w.as_slice(),
            },
        )
        .map_err(|_| Error::TooLarge("owner state"))?;
    w.bytes(&ct)?;
    Ok(w.finish())
}

/// Opens a state object of `owner`'s `slot`: `(version, plaintext)`.
/// Another owner's or slot's state is `binding_mismatch`; any altered byte
/// `decryption_failed` (or `malformed`).
pub fn open_state(owner: &Identity, slot: &str, bytes: &[u8]) -> Result<(u64, Zeroizing<Vec<u8>>)> {
    let p = parse(bytes)?;
    if p.header.owner != owner.id() || p.header.slot != slot {
        return Err(Error::BindingMismatch("state of another owner or slot"));
    }
    let pt = cipher(owner, slot)
        .decrypt(
            &Nonce::from(p.nonce),
            Payload {
                msg: p.ciphertext,
                aad: p.aad,
            },
        )
        .map_err(|_| Error::DecryptionFailed)?;
    Ok((p.header.version, Zeroizing::new(pt)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;
    use crate::secret::Seed;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    #[test]
    fn state_round_trips_and_binds_owner_slot_and_version() {
        let (a, b) = (party(1), party(2));
        let s = seal_state(&a, "contacts", 3, b"{\"x\":1}", &mut os_rng()).unwrap();
        let h = state_header(&s).unwrap();
        assert_eq!(
            (h.owner, h.slot.as_str(), h.version),
            (a.id(), "contacts", 3)
        );
        let (v, pt) = open_state(&a, "contacts", &s).unwrap();
        assert_eq!((v, pt.as_slice()), (3, &b"{\"x\":1}"[..]));
        assert_eq!(
            open_state(&b, "contacts", &s).unwrap_err().code(),
            "binding_mismatch"
        );
        assert_eq!(
            open_state(&a, "invitations", &s).unwrap_err().code(),
            "binding_mismatch"
        );
        for i in 0..s.len() {
            let mut bad = s.clone();
            bad[i] ^= 0x04;
            assert!(open_state(&a, "contacts", &bad).is_err(), "byte {i}");
        }
        // The version is authenticated: relabelling it is refused.
        let mut relabelled = s.clone();
        let at = 6 + 32 + 4 + "contacts".len() + 7;
        relabelled[at] ^= 1;
        assert_eq!(state_header(&relabelled).unwrap().version, 2);
        assert_eq!(
            open_state(&a, "contacts", &relabelled).unwrap_err().code(),
            "decryption_failed"
        );
    }

    #[test]
    fn bad_slots_and_versions_are_refused() {
        let a = party(1);
        for slot in ["", "Contacts", "a b", &"x".repeat(33)] {
            assert!(seal_state(&a, slot, 1, b"", &mut os_rng()).is_err());
        }
        assert!(seal_state(&a, "x", 0, b"", &mut os_rng()).is_err());
        assert_eq!(
            seal_state(&a, "x", 1, &vec![0; MAX_STATE + 1], &mut os_rng())
                .unwrap_err()
                .code(),
            "too_large"
        );
    }
}
