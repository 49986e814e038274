//! SMART Health Links: the link key, the files (compact JWE, `dir` +
//! `A256GCM`) and the `shlink:/` payload. The key exists only in the
//! payload, which belongs in a URL fragment; only JWE strings go to a server.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::Identity;
use super::{from_js, to_js, to_u64};
use crate::primitives::os_rng;
use crate::shl::{
    jwe_decrypt, jwe_encrypt, jwe_encrypt_deflated, open_owner_key, seal_owner_key, LinkKey,
    ShlFlags, ShlPayload,
};

/// A link key (32 random bytes): encrypts and opens the link's files.
#[wasm_bindgen]
pub struct ShlLinkKey(LinkKey);

#[wasm_bindgen]
impl ShlLinkKey {
    /// A fresh random key.
    pub fn generate() -> ShlLinkKey {
        ShlLinkKey(LinkKey::generate(&mut os_rng()))
    }
    /// Encrypts one file as a compact JWE (`alg: dir`, `enc: A256GCM`, `cty`
    /// = `contentType`, random IV). Throws `malformed` for a content type
    /// that is not a short media type, `too_large` past 8 MiB.
    #[wasm_bindgen(js_name = encryptFile)]
    pub fn encrypt_file(&self, content_type: &str, plaintext: &[u8]) -> Result<String, JsValue> {
        Ok(jwe_encrypt(
            &self.0,
            content_type,
            plaintext,
            &mut os_rng(),
        )?)
    }
    /// [`ShlLinkKey::encrypt_file`] of a file the caller compressed:
    /// `deflated` is its raw DEFLATE (`CompressionStream("deflate-raw")`),
    /// and the header says `zip: "DEF"`.
    #[wasm_bindgen(js_name = encryptDeflatedFile)]
    pub fn encrypt_deflated_file(
        &self,
        content_type: &str,
        deflated: &[u8],
    ) -> Result<String, JsValue> {
        Ok(jwe_encrypt_deflated(
            &self.0,
            content_type,
            deflated,
            &mut os_rng(),
        )?)
    }
    /// Opens a compact JWE: `{contentType, plaintext: Uint8Array, deflated:
    /// boolean}` (`deflated`: the header said `zip: "DEF"` and `plaintext`
    /// is raw DEFLATE, for the caller to inflate within a bound). Throws
    /// `decryption_failed` for any failed tag (wrong key, altered header,
    /// IV, ciphertext or tag) and `malformed` for a JWE that is not `dir` +
    /// `A256GCM`, or has a `zip` other than `"DEF"`.
    #[wasm_bindgen(js_name = decryptFile)]
    pub fn decrypt_file(&self, jwe: &str) -> Result<JsValue, JsValue> {
        let opened = jwe_decrypt(&self.0, jwe)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Opened<'a> {
            content_type: &'a str,
            plaintext: &'a serde_bytes::Bytes,
            deflated: bool,
        }
        to_js(&Opened {
            content_type: &opened.content_type,
            plaintext: serde_bytes::Bytes::new(&opened.plaintext),
            deflated: opened.deflated,
        })
    }
    /// Seals this key and `note` for `owner` (under a key from the owner's
    /// seed and `linkId`, 32 bytes): what the relay keeps so the owner's
    /// browser can refresh a long-term link. Only the owner opens it.
    #[wasm_bindgen(js_name = sealForOwner)]
    pub fn seal_for_owner(
        &self,
        owner: &Identity,
        link_id: &[u8],
        note: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        let id = super::digest32(link_id).map_err(|_| super::arg("a link id is 32 bytes"))?;
        Ok(seal_owner_key(
            owner.0.seed(),
            &id,
            &self.0,
            note,
            &mut os_rng(),
        )?)
    }
    /// Opens what `sealForOwner` made for `linkId`: throws
    /// `decryption_failed` for one another party (a relay) made, or one of
    /// another link.
    #[wasm_bindgen(js_name = openForOwner)]
    pub fn open_for_owner(
        owner: &Identity,
        link_id: &[u8],
        sealed: &[u8],
    ) -> Result<ShlOwnerKey, JsValue> {
        let id = super::digest32(link_id).map_err(|_| super::arg("a link id is 32 bytes"))?;
        let opened = open_owner_key(owner.0.seed(), &id, sealed)?;
        Ok(ShlOwnerKey {
            key: opened.key,
            note: opened.note,
        })
    }
}

/// A link key opened by its owner, with the owner's note.
#[wasm_bindgen]
pub struct ShlOwnerKey {
    key: LinkKey,
    note: zeroize::Zeroizing<Vec<u8>>,
}

#[wasm_bindgen]
impl ShlOwnerKey {
    /// The link key (a new handle each call).
    pub fn key(&self) -> ShlLinkKey {
        ShlLinkKey(self.key.clone())
    }
    /// The owner's note.
    #[wasm_bindgen(getter)]
    pub fn note(&self) -> Vec<u8> {
        self.note.to_vec()
    }
}

/// SHA-256 of `bytes` (what the `putLink` token's subject names after the
/// link id; WebCrypto is absent outside secure contexts).
#[wasm_bindgen(js_name = shlBodyHash)]
pub fn shl_body_hash(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).to_vec()
}

/// A decoded `shlink:/` payload.
#[wasm_bindgen]
pub struct ShlLink(ShlPayload);

#[wasm_bindgen]
impl ShlLink {
    /// The manifest URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.0.url.clone()
    }
    /// Expiry, seconds since the Unix epoch, or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn exp(&self) -> Option<f64> {
        self.0.exp.map(|e| e as f64)
    }
    /// The flag letters (`L`, `P`, `U`, in that order; may be empty).
    #[wasm_bindgen(getter)]
    pub fn flag(&self) -> String {
        let f = self.0.flags;
        [(f.long_term, 'L'), (f.passcode, 'P'), (f.direct_file, 'U')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| c)
            .collect()
    }
    /// The label, or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn label(&self) -> Option<String> {
        self.0.label.clone()
    }
    /// The link key (a new handle each call).
    pub fn key(&self) -> ShlLinkKey {
        ShlLinkKey(self.0.key.clone())
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PayloadOptions {
    exp: Option<f64>,
    flag: Option<String>,
    label: Option<String>,
}

/// Builds the `shlink:/…` string for `url` and `key`; `options` is
/// `{exp?, flag?, label?}` (`exp` in seconds, `flag` letters from `LPU`,
/// `label` at most 80 characters). Throws `malformed` for a payload the
/// specification does not allow (`U` with `P`, a long label or url).
#[wasm_bindgen(js_name = shlEncodePayload)]
pub fn shl_encode_payload(
    url: &str,
    key: &ShlLinkKey,
    options: JsValue,
) -> Result<String, JsValue> {
    let o: PayloadOptions = if options.is_undefined() || options.is_null() {
        PayloadOptions::default()
    } else {
        from_js(options, "options")?
    };
    let flag = o.flag.unwrap_or_default();
    let flags = ShlFlags {
        long_term: flag.contains('L'),
        passcode: flag.contains('P'),
        direct_file: flag.contains('U'),
    };
    if flag.chars().any(|c| !"LPU".contains(c)) {
        return Err(super::arg("flag letters are L, P and U"));
    }
    let p = ShlPayload {
        url: url.to_string(),
        key: key.0.clone(),
        exp: o.exp.map(|e| to_u64(e, "exp")).transpose()?,
        flags,
        label: o.label,
    };
    Ok(p.encode()?.to_string())
}

/// Parses `shlink:/…` or a viewer URL whose fragment is one. Throws
/// `malformed` or `unknown_version` (`v` other than 1).
#[wasm_bindgen(js_name = shlDecodePayload)]
pub fn shl_decode_payload(text: &str) -> Result<ShlLink, JsValue> {
    Ok(ShlLink(ShlPayload::decode(text)?))
}
