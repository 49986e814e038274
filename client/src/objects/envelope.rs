//! HPKE (RFC 9180) envelopes: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//! AES-256-GCM. Key shares travel in auth-mode envelopes from the owner;
//! re-encryption requests travel to the SRS in base mode (the request itself is
//! signed), and the answer comes back under a key exported from the same context.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{hash, labels, Point};
use crate::secret::{SecretScalar, SymmetricKey};

/// The HPKE KEM.
pub type HpkeKem = hpke::kem::DhP256HkdfSha256;
/// The HPKE KDF.
pub type HpkeKdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD.
pub type HpkeAead = hpke::aead::AesGcm256;

/// `Nenc` of DHKEM(P-256): an uncompressed point.
pub const ENC_LEN: usize = 65;
/// Largest HPKE ciphertext accepted in an object.
pub const MAX_SEALED_LEN: usize = 64 * 1024;

type PrivKey = <HpkeKem as hpke::Kem>::PrivateKey;
type PubKey = <HpkeKem as hpke::Kem>::PublicKey;
type Encapped = <HpkeKem as hpke::Kem>::EncappedKey;

fn private_key(s: &SecretScalar) -> Result<PrivKey> {
    PrivKey::from_bytes(s.to_bytes().as_ref()).map_err(|_| Error::InvalidScalar)
}

fn public_key(p: &Point) -> Result<PubKey> {
    PubKey::from_bytes(&p.to_uncompressed()).map_err(|_| Error::InvalidPoint)
}

/// An HPKE envelope: `enc ‖ ciphertext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    enc: [u8; ENC_LEN],
    ciphertext: Vec<u8>,
}

impl Envelope {
    /// Encodes: object header, `enc` (65 bytes), length-prefixed ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::Envelope);
        w.raw(&self.enc);
        w.u32(self.ciphertext.len() as u32).raw(&self.ciphertext);
        w.finish()
    }
    /// Decodes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope> {
        let mut r = Reader::object(bytes, Kind::Envelope)?;
        let enc = r.array()?;
        let ciphertext = r.bytes(MAX_SEALED_LEN)?.to_vec();
        r.finish()?;
        Ok(Envelope { enc, ciphertext })
    }
    /// `H("SeSPHR-v1/envelope-hash", envelope)`, committed in grant statements.
    pub fn hash(&self) -> [u8; 32] {
        hash(labels::ENVELOPE_HASH, &[&self.to_bytes()])
    }

    /// Seals a key share from `sender` to `recipient` (HPKE auth mode).
    pub fn seal_share<R: CryptoRng + ?Sized>(
        sender: &Identity,
        recipient: &Point,
        info: &[u8],
        share: &SecretScalar,
        rng: &mut R,
    ) -> Result<Envelope> {
        let sk = private_key(sender.encryption_secret())?;
        let pk = public_key(&sender.public().encryption)?;
        let mode = OpModeS::Auth((sk, pk));
        Envelope::seal(&mode, recipient, info, share.to_bytes().as_ref(), rng)
    }

    /// HPKE single-shot seal of `plaintext` to `recipient` (empty AAD).
    fn seal<R: CryptoRng + ?Sized>(
        mode: &OpModeS<HpkeKem>,
        recipient: &Point,
        info: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Envelope> {
        let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<HpkeAead, HpkeKdf, HpkeKem>(
            mode,
            &public_key(recipient)?,
            info,
            plaintext,
            &[],
            &mut RngAdapter(rng),
        )
        .map_err(|_| Error::InvalidPoint)?;
        let mut enc_bytes = [0u8; ENC_LEN];
        enc_bytes.copy_from_slice(&enc.to_bytes());
        Ok(Envelope {
            enc: enc_bytes,
            ciphertext,
        })
    }

    /// Opens a key share sealed by the party whose encryption key is `sender`.
    pub fn open_share(
        &self,
        recipient: &Identity,
        sender: &Point,
        info: &[u8],
    ) -> Result<SecretScalar> {
        let encapped = Encapped::from_bytes(&self.enc).map_err(|_| Error::DecryptionFailed)?;
        let mode = OpModeR::Auth(public_key(sender)?);
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<HpkeAead, HpkeKdf, HpkeKem>(
                &mode,
                &private_key(recipient.encryption_secret())?,
                &encapped,
                info,
                &self.ciphertext,
                &[],
            )
            .map_err(|_| Error::DecryptionFailed)?,
        );
        SecretScalar::from_bytes(&plaintext).map_err(|_| Error::DecryptionFailed)
    }
}

/// Mail: a message sealed to a party (HPKE base mode, info
/// `SeSPHR-v1/mail`) that the relay keeps in the party's mailbox. The relay
/// learns who sent it (the sender signs the post), to whom, when and its
/// size, never its content. The content is a SeSPHR object whose own checks
/// say whether to believe it (a receipt bundle: the SRS's signatures).
impl Envelope {
    /// Seals `message` to the party whose encryption key is `recipient`.
    pub fn seal_mail<R: CryptoRng + ?Sized>(
        recipient: &Point,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Envelope> {
        if message.len() + 16 > MAX_SEALED_LEN {
            return Err(Error::TooLarge("mail"));
        }
        Envelope::seal(
            &OpModeS::Base,
            recipient,
            labels::MAIL.as_bytes(),
            message,
            rng,
        )
    }

    /// Opens mail sealed to `recipient` (`decryption_failed` otherwise).
    pub fn open_mail(&self, recipient: &Identity) -> Result<Zeroizing<Vec<u8>>> {
        self.open_base(recipient.encryption_secret(), labels::MAIL.as_bytes())
    }

    /// HPKE base-mode seal of `message` to `recipient` under `info` (an
    /// invitation's acceptance, sealed to the key its secret derives).
    pub(crate) fn seal_base<R: CryptoRng + ?Sized>(
        recipient: &Point,
        info: &[u8],
        message: &[u8],
        rng: &mut R,
    ) -> Result<Envelope> {
        if message.len() + 16 > MAX_SEALED_LEN {
            return Err(Error::TooLarge("sealed message"));
        }
        Envelope::seal(&OpModeS::Base, recipient, info, message, rng)
    }

    /// Opens a base-mode envelope with the private key `sk` (`decryption_failed` otherwise).
    pub(crate) fn open_base(&self, sk: &SecretScalar, info: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let encapped = Encapped::from_bytes(&self.enc).map_err(|_| Error::DecryptionFailed)?;
        hpke::single_shot_open::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeR::Base,
            &private_key(sk)?,
            &encapped,
            info,
            &self.ciphertext,
            &[],
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
    }
}

/// The key with which the SRS seals its answer to one sealed request.
#[derive(Debug)]
pub struct AnswerKey(SymmetricKey);

impl AnswerKey {
    fn from_export(bytes: &[u8; 32]) -> AnswerKey {
        AnswerKey(SymmetricKey::new(*bytes))
    }
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0.expose()))
    }
    /// Seals an answer (the key is used exactly once, so the nonce is zero).
    pub fn seal_answer(&self, answer: &[u8]) -> Result<Vec<u8>> {
        let ct = self
            .cipher()
            .encrypt(&Nonce::from([0u8; 12]), answer)
            .map_err(|_| Error::TooLarge("answer"))?;
        let mut w = Writer::object(Kind::SealedAnswer);
        w.bytes(&ct)?;
        Ok(w.finish())
    }
    /// Opens a sealed answer.
    pub fn open_answer(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut r = Reader::object(sealed, Kind::SealedAnswer)?;
        let ct = r.bytes(MAX_SEALED_LEN)?;
        r.finish()?;
        self.cipher()
            .decrypt(&Nonce::from([0u8; 12]), ct)
            .map(Zeroizing::new)
            .map_err(|_| Error::DecryptionFailed)
    }
}

/// Seals a request to the SRS (HPKE base mode); returns the sealed bytes and
/// the key the answer will be sealed under.
pub fn seal_request<R: CryptoRng + ?Sized>(
    srs: &Point,
    request: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, AnswerKey)> {
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<HpkeAead, HpkeKdf, HpkeKem>(
        &OpModeS::Base,
        &public_key(srs)?,
        labels::SEALED_REQUEST.as_bytes(),
        &mut RngAdapter(rng),
    )
    .map_err(|_| Error::InvalidPoint)?;
    let ct = ctx
        .seal(request, &[])
        .map_err(|_| Error::TooLarge("request"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    ctx.export(labels::SEALED_ANSWER.as_bytes(), key.as_mut())
        .map_err(|_| Error::InvalidState("hpke export"))?;
    let mut w = Writer::object(Kind::SealedRequest);
    w.raw(&enc.to_bytes());
    w.bytes(&ct)?;
    Ok((w.finish(), AnswerKey::from_export(&key)))
}

/// SRS side: opens a sealed request; returns it and the answer key.
pub fn open_request(srs: &Identity, sealed: &[u8]) -> Result<(Zeroizing<Vec<u8>>, AnswerKey)> {
    let mut r = Reader::object(sealed, Kind::SealedRequest)?;
    let enc: [u8; ENC_LEN] = r.array()?;
    let ct = r.bytes(MAX_SEALED_LEN)?;
    r.finish()?;
    let encapped = Encapped::from_bytes(&enc).map_err(|_| Error::DecryptionFailed)?;
    let mut ctx = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
        &OpModeR::Base,
        &private_key(srs.encryption_secret())?,
        &encapped,
        labels::SEALED_REQUEST.as_bytes(),
    )
    .map_err(|_| Error::DecryptionFailed)?;
    let pt = Zeroizing::new(ctx.open(ct, &[]).map_err(|_| Error::DecryptionFailed)?);
    let mut key = Zeroizing::new([0u8; 32]);
    ctx.export(labels::SEALED_ANSWER.as_bytes(), key.as_mut())
        .map_err(|_| Error::InvalidState("hpke export"))?;
    Ok((pt, AnswerKey::from_export(&key)))
}

/// Lets `?Sized` RNGs be passed where the `hpke` crate wants a sized one.
struct RngAdapter<'a, R: ?Sized>(&'a mut R);

impl<R: CryptoRng + ?Sized> rand_core::TryRng for RngAdapter<'_, R> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRng + ?Sized> rand_core::TryCryptoRng for RngAdapter<'_, R> {}
