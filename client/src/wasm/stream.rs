//! Section bodies as chunked streams: the encryptor and the decryptor, with
//! the jobs an external AES-GCM engine (WebCrypto) runs.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::manifest::JsEntry;
use super::{
    arg, digest32, from_js, hex32, to_js, to_u64, web_crypto_import_key, DataKey, SectionKey,
};
use crate::capsule::DataKey as CoreDataKey;
use crate::manifest::ManifestEntry;
use crate::primitives::{os_rng, Point};
use crate::stream::{
    self, ChunkIndex, ChunkJob as CoreJob, RustAesGcm, StreamDecryptor, StreamEncryptor,
};

/// One AES-256-GCM call for an engine: `{index, last, nonce, aad, plaintext?}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsJob {
    index: f64,
    last: bool,
    pub(crate) nonce: ByteBuf,
    pub(crate) aad: ByteBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) plaintext: Option<ByteBuf>,
}

impl JsJob {
    pub(crate) fn from_core(job: &CoreJob, plaintext: Option<&[u8]>) -> JsJob {
        JsJob {
            index: job.index as f64,
            last: job.last,
            nonce: ByteBuf::from(job.nonce.to_vec()),
            aad: ByteBuf::from(job.aad.to_vec()),
            plaintext: plaintext.map(|p| ByteBuf::from(p.to_vec())),
        }
    }
    pub(crate) fn to_core(&self) -> Result<CoreJob, JsValue> {
        Ok(CoreJob {
            index: to_u64(self.index, "job.index")?,
            last: self.last,
            nonce: self
                .nonce
                .as_slice()
                .try_into()
                .map_err(|_| arg("job.nonce must be 12 bytes"))?,
            aad: self
                .aad
                .as_slice()
                .try_into()
                .map_err(|_| arg("job.aad must be 32 bytes"))?,
        })
    }
}

/// A chunk frame as JS sees it: the job plus `{prefix?, bodyStart, bodyEnd, padding}`.
pub(crate) fn frame_to_js(f: stream::ChunkFrame) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Frame {
        #[serde(flatten)]
        job: JsJob,
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix: Option<ByteBuf>,
        body_start: f64,
        body_end: f64,
        padding: f64,
    }
    to_js(&Frame {
        job: JsJob::from_core(&f.job, None),
        prefix: f.prefix.map(|p| ByteBuf::from(p.to_vec())),
        body_start: f.body.0 as f64,
        body_end: f.body.1 as f64,
        padding: f.padding as f64,
    })
}

/// Encrypts one section body chunk by chunk (owner side).
#[wasm_bindgen]
pub struct SectionEncryptor {
    inner: StreamEncryptor,
    key: CoreDataKey,
    engine: RustAesGcm,
    section_key: Point,
}

impl SectionEncryptor {
    pub(crate) fn data_key(&self) -> &CoreDataKey {
        &self.key
    }
}

#[wasm_bindgen]
impl SectionEncryptor {
    /// Starts encrypting a body of exactly `bodyLength` bytes for record
    /// version `version`; `chunkLog2` is 14, 16 (default), 18 or 20.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &SectionKey,
        version: f64,
        body_length: f64,
        chunk_log2: Option<u8>,
    ) -> Result<SectionEncryptor, JsValue> {
        let version = to_u64(version, "version")?;
        let (inner, dk) = StreamEncryptor::for_section(
            &key.0,
            version,
            to_u64(body_length, "bodyLength")?,
            chunk_log2.unwrap_or(stream::DEFAULT_CHUNK_LOG2),
            &mut os_rng(),
        )?;
        Ok(SectionEncryptor {
            inner,
            engine: RustAesGcm::new(&dk.dek),
            key: dk,
            section_key: key.0.public(),
        })
    }
    /// The blob header: the first bytes of the blob.
    pub fn header(&self) -> Vec<u8> {
        self.inner.header_bytes().to_vec()
    }
    /// Number of chunks.
    #[wasm_bindgen(getter, js_name = chunkCount)]
    pub fn chunk_count(&self) -> f64 {
        self.inner.chunk_count() as f64
    }
    /// Chunk size in bytes.
    #[wasm_bindgen(getter, js_name = chunkSize)]
    pub fn chunk_size(&self) -> f64 {
        self.inner.header().chunk_size() as f64
    }
    /// Total blob length in bytes.
    #[wasm_bindgen(getter, js_name = blobLength)]
    pub fn blob_length(&self) -> f64 {
        self.inner.header().blob_len() as f64
    }
    /// `[start, end)` of the body bytes that go into chunk `i`.
    #[wasm_bindgen(js_name = bodyRange)]
    pub fn body_range(&self, i: f64) -> Result<Vec<f64>, JsValue> {
        let (s, e) = self.inner.body_range(to_u64(i, "index")?);
        Ok(vec![s as f64, e as f64])
    }
    /// Seals the next chunk with the built-in (pure wasm) AES-GCM engine.
    #[wasm_bindgen(js_name = sealNext)]
    pub fn seal_next(&mut self, body: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.inner.seal_next(&self.engine, body)?)
    }
    /// Frames the next chunk for an external engine (WebCrypto); returns a job
    /// with its plaintext. Hand the sealed result back with `commit`.
    pub fn prepare(&mut self, body: &[u8]) -> Result<JsValue, JsValue> {
        let (job, pt) = self.inner.prepare(body)?;
        to_js(&JsJob::from_core(&job, Some(&pt)))
    }
    /// Frames the next chunk for an external engine without taking its body
    /// bytes: the job plus the plaintext layout `{prefix?, bodyStart,
    /// bodyEnd, padding}`; the plaintext is `prefix ‖ body[bodyStart..bodyEnd]
    /// ‖ padding zero bytes`. Hand the sealed result back with `commitLeaf`.
    pub fn frame(&mut self) -> Result<JsValue, JsValue> {
        frame_to_js(self.inner.frame()?)
    }
    /// Records the sealed chunk an external engine produced for `job`.
    pub fn commit(&mut self, job: JsValue, sealed: &[u8]) -> Result<(), JsValue> {
        let job: JsJob = from_js(job, "job")?;
        Ok(self.inner.commit(&job.to_core()?, sealed)?)
    }
    /// Records a sealed chunk by its length and its SHA-256 digest (32
    /// bytes, e.g. from `crypto.subtle.digest`), so the sealed bytes need
    /// not enter wasm.
    #[wasm_bindgen(js_name = commitDigest)]
    pub fn commit_digest(
        &mut self,
        job: JsValue,
        sealed_length: f64,
        digest: &[u8],
    ) -> Result<(), JsValue> {
        let job: JsJob = from_js(job, "job")?;
        Ok(self.inner.commit_digest(
            &job.to_core()?,
            to_u64(sealed_length, "sealedLength")?,
            &digest32(digest)?,
        )?)
    }
    /// Imports this body's key into WebCrypto (non-extractable).
    #[wasm_bindgen(js_name = importWebCryptoKey)]
    pub fn import_web_crypto_key(&self) -> Result<js_sys::Promise, JsValue> {
        web_crypto_import_key(self.key.dek.expose())
    }
    /// Ends the stream: `{entry, chunkIndex}` (the manifest entry and the index
    /// to store beside the blob).
    pub fn finish(self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Finished {
            entry: JsEntry,
            chunk_index: ByteBuf,
        }
        let sealed = self.inner.finish()?;
        let entry = ManifestEntry::for_body(self.section_key, &sealed);
        to_js(&Finished {
            entry: JsEntry::from_core(&entry),
            chunk_index: ByteBuf::from(sealed.index.to_bytes()),
        })
    }
}

/// Length of a blob header (fetch this many bytes first).
#[wasm_bindgen(js_name = blobHeaderLength)]
pub fn blob_header_length() -> f64 {
    stream::HEADER_LEN as f64
}

/// Decrypts one section body chunk by chunk (reader or owner side). Every
/// chunk is checked against the signed chunk root before it is opened.
#[wasm_bindgen]
pub struct SectionDecryptor {
    inner: StreamDecryptor,
    engine: RustAesGcm,
}

#[wasm_bindgen]
impl SectionDecryptor {
    /// `header`: the blob's first `blobHeaderLength()` bytes; `chunkIndex`: the
    /// index stored beside the blob; `entry`: the manifest entry (from a
    /// verified manifest) whose `chunkRoot` binds them.
    #[wasm_bindgen(constructor)]
    pub fn new(
        header: &[u8],
        key: &DataKey,
        chunk_index: &[u8],
        chunk_root: &str,
    ) -> Result<SectionDecryptor, JsValue> {
        let header = stream::BlobHeader::from_prefix(header)?;
        let index = ChunkIndex::from_bytes(chunk_index)?
            .verify(&header, &hex32(chunk_root, "chunkRoot")?)?;
        Ok(SectionDecryptor {
            inner: StreamDecryptor::new(header, &key.0, index)?,
            engine: RustAesGcm::new(&key.0.dek),
        })
    }
    /// Number of chunks.
    #[wasm_bindgen(getter, js_name = chunkCount)]
    pub fn chunk_count(&self) -> f64 {
        self.inner.header().chunk_count() as f64
    }
    /// `[offset, length]` of sealed chunk `i` in the blob (for HTTP Range).
    #[wasm_bindgen(js_name = chunkRange)]
    pub fn chunk_range(&self, i: f64) -> Result<Vec<f64>, JsValue> {
        let i = to_u64(i, "index")?;
        if i >= self.inner.header().chunk_count() {
            return Err(arg("chunk index out of range"));
        }
        let h = self.inner.header();
        Ok(vec![h.chunk_offset(i) as f64, h.sealed_chunk_len(i) as f64])
    }
    /// Verifies sealed chunk `i` and returns the job for an external engine.
    pub fn check(&self, i: f64, sealed: &[u8]) -> Result<JsValue, JsValue> {
        to_js(&JsJob::from_core(
            &self.inner.check(to_u64(i, "index")?, sealed)?,
            None,
        ))
    }
    /// Sequential decryption: the blob bytes after the header, in any pieces.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.inner.push(&self.engine, data)?.to_vec())
    }
    /// Ends sequential decryption (throws `truncated` if the final chunk is missing).
    pub fn finish(&mut self) -> Result<(), JsValue> {
        Ok(self.inner.finish()?)
    }
}

/// The methods both decryptors share (`inner`: a `StreamDecryptor` of their
/// header kind; `engine`: the Rust AES-GCM under their data key).
macro_rules! decryptor_methods {
    ($ty:ident) => {
        #[wasm_bindgen]
        impl $ty {
            /// The body length (known after chunk 0 was opened), or undefined.
            #[wasm_bindgen(getter, js_name = bodyLength)]
            pub fn body_length(&self) -> Option<f64> {
                self.inner.body_len().map(|l| l as f64)
            }
            /// Random access: verifies and opens chunk `i` (chunk 0 first),
            /// returning its body bytes.
            #[wasm_bindgen(js_name = openChunk)]
            pub fn open_chunk(&mut self, i: f64, sealed: &[u8]) -> Result<Vec<u8>, JsValue> {
                Ok(self
                    .inner
                    .open_chunk(&self.engine, $crate::wasm::to_u64(i, "index")?, sealed)?
                    .to_vec())
            }
            /// `check` for sealed chunk `i` given by its length and its SHA-256
            /// digest (e.g. from `crypto.subtle.digest`). Open exactly the bytes
            /// that were hashed.
            #[wasm_bindgen(js_name = checkDigest)]
            pub fn check_digest(
                &self,
                i: f64,
                sealed_length: f64,
                digest: &[u8],
            ) -> Result<JsValue, JsValue> {
                $crate::wasm::to_js(&$crate::wasm::stream::JsJob::from_core(
                    &self.inner.check_digest(
                        $crate::wasm::to_u64(i, "index")?,
                        $crate::wasm::to_u64(sealed_length, "sealedLength")?,
                        &$crate::wasm::digest32(digest)?,
                    )?,
                    None,
                ))
            }
            /// Whether the plaintext an external engine opened for `job` is body
            /// bytes only (not chunk 0, no padding): then release it whole without
            /// passing it in; otherwise call `accept`.
            pub fn release(&self, job: JsValue, plaintext_length: f64) -> Result<bool, JsValue> {
                let job: $crate::wasm::stream::JsJob = $crate::wasm::from_js(job, "job")?;
                Ok(self.inner.release(
                    &job.to_core()?,
                    $crate::wasm::to_u64(plaintext_length, "plaintextLength")?,
                )?)
            }
            /// Takes the plaintext an external engine opened for `job`; returns the body bytes.
            pub fn accept(&mut self, job: JsValue, plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
                let job: $crate::wasm::stream::JsJob = $crate::wasm::from_js(job, "job")?;
                Ok(self.inner.accept(&job.to_core()?, plaintext)?.to_vec())
            }
        }
    };
}
pub(crate) use decryptor_methods;

decryptor_methods!(SectionDecryptor);
