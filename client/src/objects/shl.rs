//! SMART Health Links (HL7 `smart-health-cards-and-links`, links
//! specification): the `shlink:/` payload and the files it points at, each a
//! JWE in compact serialization with `alg: dir`, `enc: A256GCM` (RFC 7516,
//! RFC 7518 §4.5 and §5.3) under the link key.
//!
//! A link is a *copy* outside the split-key scheme: the owner's browser
//! decrypts sections, re-encrypts them under a fresh [`LinkKey`] that lives
//! only in the URL fragment, and the relay stores only the JWE strings.
//!
//! These are the spec's formats, not SeSPHR objects, so they carry the
//! spec's own version (`v`, 1 when absent) rather than a SeSPHR brand; an
//! unknown `v` is [`Error::UnknownVersion`].

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use base64ct::{Base64UrlUnpadded, Encoding};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{malformed, Error, Result};
use crate::primitives::random_bytes;

/// The scheme prefix of an SHL payload.
pub const SHLINK_PREFIX: &str = "shlink:/";
/// `alg` of every SHL file: the link key is the content encryption key.
pub const JWE_ALG: &str = "dir";
/// `enc` of every SHL file.
pub const JWE_ENC: &str = "A256GCM";
/// Length of the base64url link key (32 bytes, unpadded).
pub const KEY_B64_LEN: usize = 43;
/// Longest `label` the spec allows, in characters.
pub const MAX_LABEL_CHARS: usize = 80;
/// Longest manifest `url` the spec allows, in characters.
pub const MAX_URL_CHARS: usize = 128;
/// Longest payload (the base64url after `shlink:/`) this implementation parses.
pub const MAX_PAYLOAD_B64: usize = 1024;
/// Largest JWE this implementation builds or opens (the relay's file limit).
pub const MAX_JWE_LEN: usize = 8 * 1024 * 1024;
/// Longest content type a JWE header may carry.
pub const MAX_CONTENT_TYPE: usize = 128;
/// The only payload version defined.
pub const SHL_VERSION: u8 = 1;

const OBJ_JWE: &str = "SHL file (JWE)";
const OBJ_PAYLOAD: &str = "SHL payload";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte link key: the JWE content encryption key, carried only in the
/// `shlink:/` payload (a URL fragment), never sent to a server.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> LinkKey {
        LinkKey(random_bytes(rng))
    }
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> LinkKey {
        LinkKey(bytes)
    }
    /// Parses the 43-character base64url form of the spec.
    pub fn from_base64url(text: &str) -> Result<LinkKey> {
        if text.len() != KEY_B64_LEN {
            return Err(malformed(OBJ_PAYLOAD, "key is not 43 base64url characters"));
        }
        let mut out = [0u8; 32];
        let n = Base64UrlUnpadded::decode(text, &mut out)
            .map_err(|_| malformed(OBJ_PAYLOAD, "key is not base64url"))?
            .len();
        if n != 32 {
            return Err(malformed(OBJ_PAYLOAD, "key is not 32 bytes"));
        }
        Ok(LinkKey(out))
    }
    /// The 43-character base64url form.
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(Base64UrlUnpadded::encode_string(&self.0))
    }
    /// The key bytes (for another AES-GCM engine).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for LinkKey {
    fn eq(&self, other: &LinkKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for LinkKey {}

impl core::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("LinkKey")
            .field(&crate::error::Redacted)
            .finish()
    }
}

/// base64url without padding (RFC 7515 §2), as JOSE and SHL use it.
pub fn b64url_encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Strict base64url decoding (no padding, canonical trailing bits).
pub fn b64url_decode(text: &str, object: &'static str) -> Result<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| malformed(object, "not base64url"))
}

// ---------------------------------------------------------------- JWE

/// The protected header we write. Field order is fixed by the struct, so the
/// header bytes (the AAD) are deterministic.
#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    enc: &'a str,
    cty: &'a str,
    /// `"DEF"` for a raw-DEFLATE plaintext, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    zip: Option<&'a str>,
}

/// The `zip` value of a compressed file (raw DEFLATE, RFC 7516 §4.1.3).
pub const JWE_ZIP: &str = "DEF";

/// The protected header we accept: any other member is ignored; `zip` must
/// be `"DEF"` if present (the plaintext is then raw DEFLATE, which the
/// caller inflates: this crate carries no inflater), `crit` is refused (we
/// know no extensions).
#[derive(Deserialize)]
struct HeaderIn {
    alg: Option<String>,
    enc: Option<String>,
    cty: Option<String>,
    zip: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

/// An opened SHL file.
#[derive(Clone, PartialEq, Eq)]
pub struct JweContents {
    /// The header's `cty` (e.g. `application/fhir+json`).
    pub content_type: String,
    /// The decrypted file, as the JWE carried it: raw DEFLATE when
    /// `deflated`.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The header said `zip: "DEF"`: `plaintext` is to be inflated (with
    /// a bound on its inflated size) before use.
    pub deflated: bool,
}

impl core::fmt::Debug for JweContents {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JweContents")
            .field("content_type", &self.content_type)
            .field("plaintext", &crate::error::Redacted)
            .field("deflated", &self.deflated)
            .finish()
    }
}

fn check_content_type(ct: &str) -> Result<()> {
    if ct.is_empty() || ct.len() > MAX_CONTENT_TYPE || !ct.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(OBJ_JWE, "content type is not a short media type"));
    }
    Ok(())
}

/// Encrypts `plaintext` as a compact JWE (`dir`, `A256GCM`, `cty` =
/// `content_type`, no `zip`) under `key` with a random 96-bit IV.
pub fn jwe_encrypt<R: CryptoRng + ?Sized>(
    key: &LinkKey,
    content_type: &str,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<String> {
    jwe_encrypt_with_iv(key, content_type, plaintext, random_bytes(rng))
}

/// [`jwe_encrypt`] with a chosen IV (known-answer tests only: an IV MUST NOT
/// repeat under one key).
pub fn jwe_encrypt_with_iv(
    key: &LinkKey,
    content_type: &str,
    plaintext: &[u8],
    iv: [u8; IV_LEN],
) -> Result<String> {
    encrypt(key, content_type, plaintext, iv, None)
}

/// [`jwe_encrypt`] of a file its caller compressed: `deflated` is the raw
/// DEFLATE of the file, and the header says `zip: "DEF"`.
pub fn jwe_encrypt_deflated<R: CryptoRng + ?Sized>(
    key: &LinkKey,
    content_type: &str,
    deflated: &[u8],
    rng: &mut R,
) -> Result<String> {
    encrypt(
        key,
        content_type,
        deflated,
        random_bytes(rng),
        Some(JWE_ZIP),
    )
}

fn encrypt(
    key: &LinkKey,
    content_type: &str,
    plaintext: &[u8],
    iv: [u8; IV_LEN],
    zip: Option<&str>,
) -> Result<String> {
    check_content_type(content_type)?;
    if plaintext.len() > MAX_JWE_LEN {
        return Err(Error::TooLarge("SHL file"));
    }
    let header = serde_json::to_vec(&HeaderOut {
        alg: JWE_ALG,
        enc: JWE_ENC,
        cty: content_type,
        zip,
    })
    .map_err(|_| malformed(OBJ_JWE, "header does not serialize"))?;
    let header_b64 = b64url_encode(&header);
    let mut buf = plaintext.to_vec();
    let tag = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.0))
        .encrypt_inout_detached(
            &Nonce::from(iv),
            header_b64.as_bytes(),
            buf.as_mut_slice().into(),
        )
        .map_err(|_| Error::TooLarge("SHL file"))?;
    let out = format!(
        "{header_b64}..{}.{}.{}",
        b64url_encode(&iv),
        b64url_encode(&buf),
        b64url_encode(&tag)
    );
    if out.len() > MAX_JWE_LEN {
        return Err(Error::TooLarge("SHL file"));
    }
    Ok(out)
}

/// The `cty` of a compact JWE, from its protected header, without
/// decrypting (unauthenticated: for display and routing only).
pub fn jwe_peek_content_type(jwe: &str) -> Result<String> {
    let (header, _) = parse_header(jwe)?;
    header
        .cty
        .ok_or_else(|| malformed(OBJ_JWE, "header has no cty"))
}

fn parse_header(jwe: &str) -> Result<(HeaderIn, &str)> {
    if jwe.len() > MAX_JWE_LEN {
        return Err(Error::TooLarge("SHL file"));
    }
    let header_b64 = jwe
        .split('.')
        .next()
        .ok_or_else(|| malformed(OBJ_JWE, "empty"))?;
    let header_bytes = b64url_decode(header_b64, OBJ_JWE)?;
    let header: HeaderIn = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed(OBJ_JWE, "protected header is not a JSON object"))?;
    Ok((header, header_b64))
}

/// A compact JWE that has the shape of an SHL file, not yet decrypted.
struct ParsedJwe<'a> {
    content_type: String,
    header_b64: &'a str,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
    deflated: bool,
}

fn parse_jwe(jwe: &str) -> Result<ParsedJwe<'_>> {
    let (header, header_b64) = parse_header(jwe)?;
    let parts: Vec<&str> = jwe.split('.').collect();
    let [_, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(malformed(OBJ_JWE, "not five compact parts"));
    };
    if header.alg.as_deref() != Some(JWE_ALG) {
        return Err(malformed(OBJ_JWE, "alg is not dir"));
    }
    if header.enc.as_deref() != Some(JWE_ENC) {
        return Err(malformed(OBJ_JWE, "enc is not A256GCM"));
    }
    let deflated = match &header.zip {
        None => false,
        Some(serde_json::Value::String(z)) if z == JWE_ZIP => true,
        Some(_) => return Err(malformed(OBJ_JWE, "zip is not DEF")),
    };
    if header.crit.is_some() {
        return Err(malformed(OBJ_JWE, "crit is not supported"));
    }
    let content_type = header
        .cty
        .ok_or_else(|| malformed(OBJ_JWE, "header has no cty"))?;
    check_content_type(&content_type)?;
    if !encrypted_key.is_empty() {
        return Err(malformed(OBJ_JWE, "encrypted key is not empty (alg dir)"));
    }
    let iv: [u8; IV_LEN] = b64url_decode(iv, OBJ_JWE)?
        .try_into()
        .map_err(|_| malformed(OBJ_JWE, "IV is not 96 bits"))?;
    let tag: [u8; TAG_LEN] = b64url_decode(tag, OBJ_JWE)?
        .try_into()
        .map_err(|_| malformed(OBJ_JWE, "tag is not 128 bits"))?;
    Ok(ParsedJwe {
        content_type,
        header_b64,
        iv,
        ciphertext: b64url_decode(ciphertext, OBJ_JWE)?,
        tag,
        deflated,
    })
}

/// Checks that `jwe` has the shape of an SHL file (every rule of
/// [`jwe_decrypt`] but the tag, which needs the key) and returns its `cty`:
/// what a server holding no key can check.
pub fn jwe_check(jwe: &str) -> Result<String> {
    Ok(parse_jwe(jwe)?.content_type)
}

/// Opens a compact JWE under `key`. The header MUST say `alg: dir`, `enc:
/// A256GCM`, carry a `cty`, have no `crit` and no `zip` but `"DEF"` (then
/// [`JweContents::deflated`]: this crate does not inflate); the encrypted key
/// MUST be empty, the IV 96 bits, the tag 128 bits. Any failure of the tag
/// (wrong key, altered header, IV, ciphertext or tag) is
/// [`Error::DecryptionFailed`].
pub fn jwe_decrypt(key: &LinkKey, jwe: &str) -> Result<JweContents> {
    let p = parse_jwe(jwe)?;
    let mut buf = Zeroizing::new(p.ciphertext);
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.0))
        .decrypt_inout_detached(
            &Nonce::from(p.iv),
            p.header_b64.as_bytes(),
            buf.as_mut_slice().into(),
            &Tag::from(p.tag),
        )
        .map_err(|_| Error::DecryptionFailed)?;
    Ok(JweContents {
        content_type: p.content_type,
        plaintext: buf,
        deflated: p.deflated,
    })
}

// ---------------------------------------------------------------- payload

/// The flags of a link (`flag`, a string of the letters in this order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShlFlags {
    /// `L`: long-term, the content may change and may be polled.
    pub long_term: bool,
    /// `P`: a passcode is required at the manifest.
    pub passcode: bool,
    /// `U`: the url is a single file, fetched directly (GET with
    /// `recipient`); never with `P`.
    pub direct_file: bool,
}

impl ShlFlags {
    fn to_flag(self) -> String {
        let mut s = String::new();
        if self.long_term {
            s.push('L');
        }
        if self.passcode {
            s.push('P');
        }
        if self.direct_file {
            s.push('U');
        }
        s
    }
    fn parse(flag: &str) -> Result<ShlFlags> {
        let mut f = ShlFlags::default();
        for c in flag.chars() {
            let slot = match c {
                'L' => &mut f.long_term,
                'P' => &mut f.passcode,
                'U' => &mut f.direct_file,
                _ => return Err(malformed(OBJ_PAYLOAD, "unknown flag")),
            };
            if *slot {
                return Err(malformed(OBJ_PAYLOAD, "repeated flag"));
            }
            *slot = true;
        }
        f.check()?;
        Ok(f)
    }
    fn check(self) -> Result<()> {
        if self.passcode && self.direct_file {
            return Err(malformed(OBJ_PAYLOAD, "flag U cannot be combined with P"));
        }
        Ok(())
    }
}

/// A `shlink:/` payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShlPayload {
    /// The manifest URL (`https://…`; `http://` is accepted for loopback tests).
    pub url: String,
    /// The link key.
    pub key: LinkKey,
    /// Expiry, seconds since the Unix epoch.
    pub exp: Option<u64>,
    /// Flags.
    pub flags: ShlFlags,
    /// A short description (at most 80 characters).
    pub label: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PayloadJson {
    url: String,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<serde_json::Value>,
}

impl ShlPayload {
    fn check(&self) -> Result<()> {
        let u = self.url.as_str();
        if u.chars().count() > MAX_URL_CHARS {
            return Err(malformed(OBJ_PAYLOAD, "url longer than 128 characters"));
        }
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(malformed(OBJ_PAYLOAD, "url is not http(s)"));
        }
        if let Some(l) = &self.label {
            if l.chars().count() > MAX_LABEL_CHARS {
                return Err(malformed(OBJ_PAYLOAD, "label longer than 80 characters"));
            }
        }
        self.flags.check()
    }

    /// The `shlink:/…` string (no viewer prefix).
    pub fn encode(&self) -> Result<Zeroizing<String>> {
        self.check()?;
        let flag = self.flags.to_flag();
        let json = Zeroizing::new(
            serde_json::to_vec(&PayloadJson {
                url: self.url.clone(),
                key: self.key.to_base64url().to_string(),
                exp: self.exp.map(|e| e as f64),
                flag: (!flag.is_empty()).then_some(flag),
                label: self.label.clone(),
                v: Some(serde_json::Value::from(SHL_VERSION)),
            })
            .map_err(|_| malformed(OBJ_PAYLOAD, "does not serialize"))?,
        );
        Ok(Zeroizing::new(format!(
            "{SHLINK_PREFIX}{}",
            b64url_encode(&json)
        )))
    }

    /// Parses `shlink:/…`, or a viewer URL whose fragment is `shlink:/…`
    /// (`https://viewer.example/#shlink:/…`).
    pub fn decode(text: &str) -> Result<ShlPayload> {
        let text = text.trim();
        let link = match text.find('#') {
            Some(i) => &text[i + 1..],
            None => text,
        };
        let b64 = link
            .strip_prefix(SHLINK_PREFIX)
            .ok_or_else(|| malformed(OBJ_PAYLOAD, "does not start with shlink:/"))?;
        if b64.len() > MAX_PAYLOAD_B64 {
            return Err(Error::TooLarge("SHL payload"));
        }
        let json = Zeroizing::new(b64url_decode(b64, OBJ_PAYLOAD)?);
        let p: PayloadJson = serde_json::from_slice(&json)
            .map_err(|_| malformed(OBJ_PAYLOAD, "not the payload JSON object"))?;
        match &p.v {
            None => {}
            Some(v) => match v.as_u64() {
                Some(1) => {}
                Some(n) => {
                    return Err(Error::UnknownVersion {
                        object: OBJ_PAYLOAD,
                        version: u8::try_from(n).unwrap_or(u8::MAX),
                    })
                }
                None => return Err(malformed(OBJ_PAYLOAD, "v is not an integer")),
            },
        }
        let exp = match p.exp {
            None => None,
            Some(e) if (0.0..9.0e15).contains(&e) => Some(e.floor() as u64),
            Some(_) => return Err(malformed(OBJ_PAYLOAD, "exp is not a time")),
        };
        let payload = ShlPayload {
            key: LinkKey::from_base64url(&p.key)?,
            url: p.url,
            exp,
            flags: ShlFlags::parse(p.flag.as_deref().unwrap_or(""))?,
            label: p.label,
        };
        payload.check()?;
        Ok(payload)
    }
}

/// Longest note an owner key carries (what the owner's browser needs to
/// refresh the link: which record and sections it covers).
pub const MAX_OWNER_NOTE: usize = 2048;
const OBJ_OWNER_KEY: &str = "link key for its owner";

/// What an owner's sealed link key holds once opened: the link key and the
/// owner's note about the link.
pub struct OwnerKeyContents {
    /// The link key.
    pub key: LinkKey,
    /// The owner's note (the portal keeps JSON: record id and section names).
    pub note: Zeroizing<Vec<u8>>,
}

fn owner_key_cipher(seed: &crate::secret::Seed, link_id: &[u8; 32]) -> Aes256Gcm {
    use crate::primitives::{hkdf_expand, hkdf_extract, labels};
    let prk = hkdf_extract(labels::SHL_OWNER_KEY.as_bytes(), seed.expose());
    let k = hkdf_expand(&prk, labels::SHL_OWNER_KEY, &[link_id]);
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*k))
}

/// Seals a link's key and `note` for its owner, so the owner's browser can
/// refresh a long-term link later without the key ever reaching a server in
/// clear: `SPHR 0x22 0x01 ‖ nonce[12] ‖ u32 len ‖ AES-256-GCM(K, nonce,
/// key ‖ note, aad = the 18 bytes before the length)`, where
/// `K = Expand(Extract("SeSPHR-v1/shl-owner-key", seed), "SeSPHR-v1/shl-owner-key", [link id])`.
/// Only the seed's holder can make or open one, and one sealed for another
/// link does not open (the key is per link id).
pub fn seal_owner_key<R: CryptoRng + ?Sized>(
    seed: &crate::secret::Seed,
    link_id: &[u8; 32],
    key: &LinkKey,
    note: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    seal_owner_key_with_nonce(seed, link_id, key, note, random_bytes(rng))
}

/// [`seal_owner_key`] with a given nonce (known-answer vectors only: a
/// nonce must never repeat under one key).
pub fn seal_owner_key_with_nonce(
    seed: &crate::secret::Seed,
    link_id: &[u8; 32],
    key: &LinkKey,
    note: &[u8],
    nonce: [u8; IV_LEN],
) -> Result<Vec<u8>> {
    use crate::primitives::codec::{Kind, Writer};
    if note.len() > MAX_OWNER_NOTE {
        return Err(Error::TooLarge("link note"));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(32 + note.len() + TAG_LEN));
    buf.extend_from_slice(key.expose());
    buf.extend_from_slice(note);
    let mut w = Writer::object(Kind::ShlOwnerKey);
    w.raw(&nonce);
    let aad = w.as_slice().to_vec();
    let tag = owner_key_cipher(seed, link_id)
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, buf.as_mut_slice().into())
        .map_err(|_| Error::TooLarge("link note"))?;
    buf.extend_from_slice(&tag);
    w.bytes(&buf)?;
    Ok(w.finish())
}

/// Opens what [`seal_owner_key`] made for link `link_id`. Anything else (a
/// relay's substitute, another link's, another seed's) is
/// `DecryptionFailed` or `Malformed`.
pub fn open_owner_key(
    seed: &crate::secret::Seed,
    link_id: &[u8; 32],
    sealed: &[u8],
) -> Result<OwnerKeyContents> {
    use crate::primitives::codec::{Kind, Reader};
    let mut r = Reader::object(sealed, Kind::ShlOwnerKey)?;
    let nonce: [u8; IV_LEN] = r.array()?;
    let aad = r.consumed().to_vec();
    let ct = r.bytes(32 + MAX_OWNER_NOTE + TAG_LEN)?;
    r.finish()?;
    if ct.len() < 32 + TAG_LEN {
        return Err(malformed(OBJ_OWNER_KEY, "too short"));
    }
    let (body, tag) = ct.split_at(ct.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| malformed(OBJ_OWNER_KEY, "too short"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    owner_key_cipher(seed, link_id)
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            &aad,
            buf.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .map_err(|_| Error::DecryptionFailed)?;
    let mut k = [0u8; 32];
    k.copy_from_slice(&buf[..32]);
    let key = LinkKey::from_bytes(k);
    k.zeroize();
    Ok(OwnerKeyContents {
        key,
        note: Zeroizing::new(buf[32..].to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;

    /// Known answer computed with an independent engine (Node 20 `crypto`,
    /// OpenSSL AES-256-GCM) from the bytes below: key 0x00..0x1f, IV
    /// 0x00..0x0b, header `{"alg":"dir","enc":"A256GCM","cty":"application/fhir+json"}`
    /// base64url as the AAD, plaintext `{"resourceType":"Patient"}`.
    const KAT_KEY: [u8; 32] = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            k[i] = i as u8;
            i += 1;
        }
        k
    };
    const KAT_IV: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const KAT_PLAINTEXT: &[u8] = br#"{"resourceType":"Patient"}"#;
    const KAT_JWE: &str = include_str!("shl_kat.txt");

    fn key() -> LinkKey {
        LinkKey::from_bytes(KAT_KEY)
    }

    #[test]
    fn jwe_known_answer() {
        let jwe =
            jwe_encrypt_with_iv(&key(), "application/fhir+json", KAT_PLAINTEXT, KAT_IV).unwrap();
        assert_eq!(jwe, KAT_JWE.trim());
        let opened = jwe_decrypt(&key(), KAT_JWE.trim()).unwrap();
        assert_eq!(opened.content_type, "application/fhir+json");
        assert_eq!(opened.plaintext.as_slice(), KAT_PLAINTEXT);
        assert_eq!(
            jwe_peek_content_type(&jwe).unwrap(),
            "application/fhir+json"
        );
    }

    #[test]
    fn jwe_round_trip_random_iv() {
        let k = LinkKey::generate(&mut os_rng());
        let a = jwe_encrypt(&k, "text/plain", b"hello", &mut os_rng()).unwrap();
        let b = jwe_encrypt(&k, "text/plain", b"hello", &mut os_rng()).unwrap();
        assert_ne!(a, b, "fresh IV each time");
        assert_eq!(jwe_decrypt(&k, &a).unwrap().plaintext.as_slice(), b"hello");
        let empty = jwe_encrypt(&k, "text/plain", b"", &mut os_rng()).unwrap();
        assert!(jwe_decrypt(&k, &empty).unwrap().plaintext.is_empty());
    }

    fn with_part(jwe: &str, i: usize, new: &str) -> String {
        let mut p: Vec<String> = jwe.split('.').map(String::from).collect();
        p[i] = new.to_string();
        p.join(".")
    }

    fn flip(b64: &str) -> String {
        let mut bytes = b64url_decode(b64, "t").unwrap();
        bytes[0] ^= 1;
        b64url_encode(&bytes)
    }

    #[test]
    fn jwe_tamper_kit() {
        let good = KAT_JWE.trim();
        let parts: Vec<&str> = good.split('.').collect();
        let other_header = b64url_encode(br#"{"alg":"dir","enc":"A256GCM","cty":"text/plain"}"#);
        let cases: Vec<(String, &str)> = vec![
            (with_part(good, 4, &flip(parts[4])), "decryption_failed"),
            (with_part(good, 3, &flip(parts[3])), "decryption_failed"),
            (with_part(good, 2, &flip(parts[2])), "decryption_failed"),
            (with_part(good, 0, &other_header), "decryption_failed"),
            (with_part(good, 1, "AAAA"), "malformed"),
            (with_part(good, 2, "AAAA"), "malformed"),
            (with_part(good, 4, "AAAA"), "malformed"),
            (with_part(good, 3, "*"), "malformed"),
            (format!("{good}.x"), "malformed"),
            (parts[..4].join("."), "malformed"),
            (String::new(), "malformed"),
            (
                with_part(
                    good,
                    0,
                    &b64url_encode(br#"{"alg":"A256KW","enc":"A256GCM","cty":"a/b"}"#),
                ),
                "malformed",
            ),
            (
                with_part(
                    good,
                    0,
                    &b64url_encode(br#"{"alg":"dir","enc":"A128GCM","cty":"a/b"}"#),
                ),
                "malformed",
            ),
            (
                with_part(
                    good,
                    0,
                    &b64url_encode(br#"{"alg":"dir","enc":"A256GCM","cty":"a/b","zip":"GZ"}"#),
                ),
                "malformed",
            ),
            (
                with_part(
                    good,
                    0,
                    &b64url_encode(br#"{"alg":"dir","enc":"A256GCM","cty":"a/b","zip":1}"#),
                ),
                "malformed",
            ),
            (
                with_part(good, 0, &b64url_encode(br#"{"alg":"dir","enc":"A256GCM"}"#)),
                "malformed",
            ),
            (with_part(good, 0, &b64url_encode(b"[1]")), "malformed"),
        ];
        for (jwe, code) in cases {
            assert_eq!(
                jwe_decrypt(&key(), &jwe).err().map(|e| e.code()),
                Some(code),
                "{jwe}"
            );
        }
        let wrong = LinkKey::from_bytes([7; 32]);
        assert_eq!(
            jwe_decrypt(&wrong, good).err().map(|e| e.code()),
            Some("decryption_failed")
        );
        // `zip: "DEF"` is taken, named in the header (under the tag), and
        // handed back still deflated; a file without it is not.
        let z = jwe_encrypt_deflated(&key(), "a/b", b"\x01\x02", &mut os_rng()).unwrap();
        let header = b64url_decode(z.split('.').next().unwrap(), OBJ_JWE).unwrap();
        assert_eq!(
            header.as_slice(),
            br#"{"alg":"dir","enc":"A256GCM","cty":"a/b","zip":"DEF"}"#
        );
        assert_eq!(jwe_check(&z).unwrap(), "a/b");
        let opened = jwe_decrypt(&key(), &z).unwrap();
        assert!(opened.deflated);
        assert_eq!(opened.plaintext.as_slice(), b"\x01\x02");
        assert!(!jwe_decrypt(&key(), good).unwrap().deflated);
        let stripped = with_part(
            &z,
            0,
            &b64url_encode(br#"{"alg":"dir","enc":"A256GCM","cty":"a/b"}"#),
        );
        assert_eq!(
            jwe_decrypt(&key(), &stripped).err().map(|e| e.code()),
            Some("decryption_failed"),
            "the zip member is under the tag"
        );
        assert_eq!(
            jwe_encrypt(&key(), "bad type", b"", &mut os_rng())
                .err()
                .map(|e| e.code()),
            Some("malformed")
        );
    }

    fn sample() -> ShlPayload {
        ShlPayload {
            url: "https://relay.example/shl/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM".into(),
            key: key(),
            exp: Some(1_900_000_000),
            flags: ShlFlags {
                long_term: true,
                passcode: true,
                direct_file: false,
            },
            label: Some("Allergies for Dr. Bob".into()),
        }
    }

    #[test]
    fn payload_round_trips_with_and_without_viewer() {
        let p = sample();
        let s = p.encode().unwrap();
        assert!(s.starts_with("shlink:/"));
        assert_eq!(ShlPayload::decode(&s).unwrap(), p);
        let viewer = format!("https://viewer.example/open#{}", s.as_str());
        assert_eq!(ShlPayload::decode(&viewer).unwrap(), p);
        let json = b64url_decode(&s["shlink:/".len()..], "t").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["flag"], "LP");
        assert_eq!(v["v"], 1);
        assert_eq!(v["key"], "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
        assert_eq!(v["exp"], 1_900_000_000.0);
    }

    fn enc(json: &str) -> String {
        format!("shlink:/{}", b64url_encode(json.as_bytes()))
    }

    #[test]
    fn payload_kit() {
        let k = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let u = "https://r.example/shl/x";
        let ok = enc(&format!(r#"{{"url":"{u}","key":"{k}"}}"#));
        let p = ShlPayload::decode(&ok).unwrap();
        assert_eq!(p.flags, ShlFlags::default());
        assert_eq!(p.exp, None);
        let cases = [
            (
                format!(r#"{{"url":"{u}","key":"{k}","v":2}}"#),
                "unknown_version",
            ),
            (
                format!(r#"{{"url":"{u}","key":"{k}","flag":"PU"}}"#),
                "malformed",
            ),
            (
                format!(r#"{{"url":"{u}","key":"{k}","flag":"X"}}"#),
                "malformed",
            ),
            (
                format!(r#"{{"url":"{u}","key":"{k}","flag":"LL"}}"#),
                "malformed",
            ),
            (format!(r#"{{"url":"{u}","key":"{k}A"}}"#), "malformed"),
            (
                format!(r#"{{"url":"{u}","key":"{}"}}"#, &k[..42]),
                "malformed",
            ),
            (format!(r#"{{"url":"ftp://x","key":"{k}"}}"#), "malformed"),
            (
                format!(r#"{{"url":"{u}","key":"{k}","exp":-1}}"#),
                "malformed",
            ),
            (
                format!(
                    r#"{{"url":"{u}","key":"{k}","label":"{}"}}"#,
                    "a".repeat(81)
                ),
                "malformed",
            ),
            (format!(r#"{{"key":"{k}"}}"#), "malformed"),
        ];
        for (json, code) in cases {
            assert_eq!(
                ShlPayload::decode(&enc(&json)).err().map(|e| e.code()),
                Some(code),
                "{json}"
            );
        }
        for bad in ["", "shlink:", "shlink:/***", "https://v.example/#nope"] {
            assert_eq!(
                ShlPayload::decode(bad).err().map(|e| e.code()),
                Some("malformed"),
                "{bad}"
            );
        }
        let huge = format!("shlink:/{}", "A".repeat(MAX_PAYLOAD_B64 + 1));
        assert_eq!(
            ShlPayload::decode(&huge).err().map(|e| e.code()),
            Some("too_large")
        );
    }

    #[test]
    fn key_is_redacted_and_strict() {
        let k = LinkKey::from_bytes([0xab; 32]);
        assert!(format!("{k:?}").contains("redacted"));
        assert!(!format!("{k:?}").to_lowercase().contains("ab"));
        assert_eq!(LinkKey::from_base64url(&k.to_base64url()).unwrap(), k);
        // 43 characters whose last one carries non-zero padding bits.
        let mut s = k.to_base64url().to_string();
        s.pop();
        s.push('9');
        assert!(LinkKey::from_base64url(&s).is_err());
    }

    #[test]
    fn owner_key_opens_only_for_its_seed_and_link() {
        use crate::secret::Seed;
        let seed = Seed::from_bytes(&[7; 32]).unwrap();
        let other = Seed::from_bytes(&[8; 32]).unwrap();
        let (id, id2) = ([1u8; 32], [2u8; 32]);
        let k = LinkKey::generate(&mut os_rng());
        let sealed = seal_owner_key(&seed, &id, &k, b"{\"s\":1}", &mut os_rng()).unwrap();
        assert_eq!(&sealed[..6], b"SPHR\x22\x01");
        let opened = open_owner_key(&seed, &id, &sealed).unwrap();
        assert!(opened.key == k);
        assert_eq!(opened.note.as_slice(), b"{\"s\":1}");
        assert!(matches!(
            open_owner_key(&seed, &id2, &sealed),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            open_owner_key(&other, &id, &sealed),
            Err(Error::DecryptionFailed)
        ));
        for at in [6, 10, 20, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open_owner_key(&seed, &id, &bad).is_err(), "byte {at}");
        }
        assert!(open_owner_key(&seed, &id, &sealed[..sealed.len() - 1]).is_err());
        let big = vec![b'x'; MAX_OWNER_NOTE + 1];
        assert!(matches!(
            seal_owner_key(&seed, &id, &k, &big, &mut os_rng()),
            Err(Error::TooLarge(_))
        ));
        let a = seal_owner_key(&seed, &id, &k, b"", &mut os_rng()).unwrap();
        let b = seal_owner_key(&seed, &id, &k, b"", &mut os_rng()).unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!format!("{:?}", opened.key).contains("07"));
    }
}
