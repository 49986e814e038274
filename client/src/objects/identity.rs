//! Party identities: a seed yields a signing key and an encryption key; the
//! party id is the hash of both public keys; directory entries are self-signed.

use core::fmt;
use p256::ecdsa::{SigningKey, VerifyingKey};

use crate::error::{Error, Result};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{
    self, h2s, hash, labels, sign_statement, verify_statement, verifying_key_from_bytes,
    verifying_key_to_bytes, Point, POINT_LEN, SIGNATURE_LEN,
};
use crate::secret::{SecretScalar, Seed};

/// A party id: `H("SeSPHR-v1/party-id", signing key, encryption key)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyId(pub [u8; 32]);

impl fmt::Debug for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartyId({})", hex::encode(self.0))
    }
}

impl PartyId {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The public half of an identity: what others need to verify and encrypt.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    /// ECDSA P-256 verifying key.
    pub signing: VerifyingKey,
    /// P-256 encryption (HPKE / ECDH) public key.
    pub encryption: Point,
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicIdentity")
            .field("id", &self.id())
            .finish()
    }
}

impl PublicIdentity {
    /// Encoded length: two compressed points.
    pub const LEN: usize = 2 * POINT_LEN;

    /// The party id.
    pub fn id(&self) -> PartyId {
        PartyId(hash(
            labels::PARTY_ID,
            &[&self.signing_bytes(), &self.encryption.to_bytes()],
        ))
    }

    /// A human fingerprint of 160 bits: 32 base32 characters in groups of four,
    /// for comparing out of band (read aloud, QR code).
    pub fn fingerprint(&self) -> String {
        let digest = hash(
            labels::FINGERPRINT,
            &[&self.signing_bytes(), &self.encryption.to_bytes()],
        );
        let chars = base32(&digest[..20]);
        chars
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The signing key as 33 compressed bytes.
    pub fn signing_bytes(&self) -> [u8; POINT_LEN] {
        verifying_key_to_bytes(&self.signing)
    }

    /// `signing ‖ encryption`, 66 bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..POINT_LEN].copy_from_slice(&self.signing_bytes());
        out[POINT_LEN..].copy_from_slice(&self.encryption.to_bytes());
        out
    }

    /// Decodes and validates both keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicIdentity> {
        if bytes.len() != Self::LEN {
            return Err(Error::InvalidPoint);
        }
        Ok(PublicIdentity {
            signing: verifying_key_from_bytes(&bytes[..POINT_LEN])?,
            encryption: Point::from_bytes(&bytes[POINT_LEN..])?,
        })
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PublicIdentity> {
        PublicIdentity::from_bytes(r.take(Self::LEN)?)
    }

    /// Verifies a statement signed by this party.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> Result<()> {
        verify_statement(&self.signing, payload, signature)
    }
    /// Ends the decoding of an object this key signs: what `r` has read is
    /// the payload, the signature over it follows, and nothing after that
    /// (`malformed`, `bad_signature`). Returns the payload.
    pub(crate) fn verify_rest<'a>(&self, mut r: Reader<'a>) -> Result<&'a [u8]> {
        let payload = r.consumed();
        let sig = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        self.verify(payload, sig)?;
        Ok(payload)
    }
}

/// RFC 4648 base32 (no padding), for fingerprints.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A party's full identity, derived from its seed. Holds secrets.
pub struct Identity {
    seed: Seed,
    signing: SigningKey,
    encryption: SecretScalar,
    public: PublicIdentity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.public.id())
            .field("secrets", &crate::error::Redacted)
            .finish()
    }
}

impl Identity {
    /// Derives both key pairs from the seed:
    /// `sk_sign = H2S("SeSPHR-v1/identity/sign", seed)`,
    /// `sk_enc = H2S("SeSPHR-v1/identity/enc", seed)`.
    pub fn from_seed(seed: Seed) -> Result<Identity> {
        let sk_sign = h2s(labels::IDENTITY_SIGN, &[seed.expose()])?;
        let sk_enc = SecretScalar::from_nonzero(h2s(labels::IDENTITY_ENC, &[seed.expose()])?);
        let signing = SigningKey::from(sk_sign);
        let public = PublicIdentity {
            signing: *signing.verifying_key(),
            encryption: sk_enc.public(),
        };
        Ok(Identity {
            seed,
            signing,
            encryption: sk_enc,
            public,
        })
    }

    /// A new identity from a fresh random seed.
    pub fn generate() -> Result<Identity> {
        Identity::from_seed(Seed::generate(&mut primitives::os_rng()))
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }
    /// The party id.
    pub fn id(&self) -> PartyId {
        self.public.id()
    }
    /// The seed (for backup and for deriving record secrets).
    pub fn seed(&self) -> &Seed {
        &self.seed
    }
    /// Signs a statement payload.
    pub fn sign(&self, payload: &[u8]) -> [u8; SIGNATURE_LEN] {
        sign_statement(&self.signing, payload)
    }
    pub(crate) fn encryption_secret(&self) -> &SecretScalar {
        &self.encryption
    }

    /// A self-signed directory entry for registration with the SRS.
    pub fn directory_entry(&self, created_at: u64) -> DirectoryEntry {
        let mut w = Writer::object(Kind::DirectoryEntry);
        w.raw(&self.public.to_bytes()).u64(created_at);
        let signature = self.sign(w.as_slice());
        w.raw(&signature);
        DirectoryEntry {
            public: self.public.clone(),
            created_at,
            bytes: w.finish(),
        }
    }
}

/// A verified, self-signed directory entry: `kind 0x0a`, public identity,
/// creation time (ms since the Unix epoch), signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The registered keys.
    pub public: PublicIdentity,
    /// Creation time claimed by the party.
    pub created_at: u64,
    bytes: Vec<u8>,
}

impl DirectoryEntry {
    /// Decodes and verifies the self-signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<DirectoryEntry> {
        let mut r = Reader::object(bytes, Kind::DirectoryEntry)?;
        let public = PublicIdentity::read(&mut r)?;
        let created_at = r.u64()?;
        public.verify_rest(r)?;
        Ok(DirectoryEntry {
            public,
            created_at,
            bytes: bytes.to_vec(),
        })
    }
    /// The encoded entry.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn identity_is_deterministic_and_fingerprint_long_enough() {
        let a = Identity::from_seed(Seed::from_bytes(&[1; 32]).expect("seed")).expect("id");
        let b = Identity::from_seed(Seed::from_bytes(&[1; 32]).expect("seed")).expect("id");
        assert_eq!(a.public(), b.public());
        let fp = a.public().fingerprint();
        assert_eq!(fp.len(), 32 + 7);
        assert_ne!(a.public().signing_bytes(), a.public().encryption.to_bytes());
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn directory_entry_round_trip_and_tamper() {
        let a = Identity::from_seed(Seed::from_bytes(&[2; 32]).expect("seed")).expect("id");
        let e = a.directory_entry(1_700_000_000_000);
        let back = DirectoryEntry::from_bytes(e.as_bytes()).expect("verifies");
        assert_eq!(back, e);
        let mut bad = e.as_bytes().to_vec();
        let last = bad.len() - 70;
        bad[last] ^= 1;
        assert!(DirectoryEntry::from_bytes(&bad).is_err());
    }
}
