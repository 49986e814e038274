//! The browser's WebCrypto as an asynchronous AES-256-GCM chunk engine.
//!
//! The framing (nonces, AAD, order, chunk-root checks) stays in Rust; this
//! module only runs the per-chunk AES-GCM call on `crypto.subtle`.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use super::stream::JsJob;
use super::{arg, from_js, js_error};

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    if crypto.is_undefined() {
        return Err(js_error("webcrypto_unavailable", "crypto is not available"));
    }
    let subtle = Reflect::get(&crypto, &"subtle".into())?;
    if subtle.is_undefined() {
        return Err(js_error(
            "webcrypto_unavailable",
            "crypto.subtle is not available (insecure context): use the built-in engine",
        ));
    }
    Ok(subtle.unchecked_into())
}

/// Whether `crypto.subtle` exists here (absent on plain http to non-localhost).
#[wasm_bindgen(js_name = webCryptoAvailable)]
pub fn web_crypto_available() -> bool {
    subtle().is_ok()
}

/// Imports a raw AES-256 key into WebCrypto, non-extractable.
pub fn web_crypto_import_key(key: &[u8; 32]) -> Result<js_sys::Promise, JsValue> {
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let raw = Uint8Array::from(key.as_slice());
    let promise = subtle()?.import_key_with_str("raw", &raw, "AES-GCM", false, &usages);
    raw.fill(0, 0, 32);
    promise
}

fn params(job: &JsJob) -> Result<Object, JsValue> {
    let p = Object::new();
    Reflect::set(&p, &"name".into(), &"AES-GCM".into())?;
    Reflect::set(&p, &"iv".into(), &Uint8Array::from(job.nonce.as_slice()))?;
    Reflect::set(
        &p,
        &"additionalData".into(),
        &Uint8Array::from(job.aad.as_slice()),
    )?;
    Reflect::set(&p, &"tagLength".into(), &JsValue::from(128))?;
    Ok(p)
}

/// Seals a prepared job's plaintext with WebCrypto: `ciphertext ‖ tag`.
#[wasm_bindgen(js_name = webCryptoSeal)]
pub async fn web_crypto_seal(key: CryptoKey, job: JsValue) -> Result<Uint8Array, JsValue> {
    let job: JsJob = from_js(job, "job")?;
    let pt = job
        .plaintext
        .as_ref()
        .ok_or_else(|| arg("job has no plaintext (use a job from prepare())"))?;
    let promise = subtle()?.encrypt_with_object_and_u8_array(&params(&job)?, &key, pt)?;
    let out = JsFuture::from(promise).await?;
    Ok(Uint8Array::new(&out))
}

/// Opens a sealed chunk with WebCrypto for a job from `check()`.
#[wasm_bindgen(js_name = webCryptoOpen)]
pub async fn web_crypto_open(
    key: CryptoKey,
    job: JsValue,
    sealed: Vec<u8>,
) -> Result<Uint8Array, JsValue> {
    let job: JsJob = from_js(job, "job")?;
    let promise = subtle()?.decrypt_with_object_and_u8_array(&params(&job)?, &key, &sealed)?;
    let out = JsFuture::from(promise)
        .await
        .map_err(|_| js_error("decryption_failed", "decryption failed"))?;
    Ok(Uint8Array::new(&out))
}
