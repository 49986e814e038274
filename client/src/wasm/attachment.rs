//! Attachments stored as their own blobs: the file key, the encryptor and
//! the decryptor (the same chunk jobs as section bodies, for WebCrypto).

use serde::Serialize;
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use super::stream::JsJob;
use super::{arg, digest32, from_js, hex32, to_js, to_u64, web_crypto_import_key};
use crate::attachment::{
    attachment_decryptor, AttachmentHeader, AttachmentKey as CoreKey, ATTACHMENT_HEADER_LEN,
};
use crate::capsule::DataKey as CoreDataKey;
use crate::primitives::os_rng;
use crate::record::{RecordId, SectionId};
use crate::stream::{self, ChunkIndex, RustAesGcm, StreamDecryptor, StreamEncryptor};

/// The fresh random key of one attachment (kept inside wasm, zeroized when
/// freed).
#[wasm_bindgen]
pub struct AttachmentKey(pub(crate) CoreKey);

#[wasm_bindgen]
impl AttachmentKey {
    /// A fresh random key.
    pub fn generate() -> AttachmentKey {
        AttachmentKey(CoreKey::generate(&mut os_rng()))
    }
    /// The key of 32 bytes read from a section document (the caller wipes
    /// its copy).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<AttachmentKey, JsValue> {
        Ok(AttachmentKey(CoreKey::from_bytes(bytes)?))
    }
    /// The 32 key bytes for the section document's key list, which is
    /// encrypted as part of the section body (the caller wipes the copy once
    /// the body is sealed).
    #[wasm_bindgen(js_name = documentBytes)]
    pub fn document_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
    /// A copy (a kept attachment's key, for the next version's document).
    #[wasm_bindgen(js_name = clone)]
    pub fn duplicate(&self) -> AttachmentKey {
        AttachmentKey(self.0.clone())
    }
}

fn ids(record_id: &str, section_id: &str) -> Result<(RecordId, SectionId), JsValue> {
    Ok((
        RecordId(hex32(record_id, "recordId")?),
        SectionId(hex32(section_id, "sectionId")?),
    ))
}

/// Encrypts one attachment chunk by chunk (owner side).
#[wasm_bindgen]
pub struct AttachmentEncryptor {
    inner: StreamEncryptor<AttachmentHeader>,
    key: CoreDataKey,
    engine: RustAesGcm,
}

#[wasm_bindgen]
impl AttachmentEncryptor {
    /// Starts encrypting an attachment of exactly `size` bytes of record
    /// `recordId`'s section `sectionId` under `key`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &AttachmentKey,
        record_id: &str,
        section_id: &str,
        size: f64,
        chunk_log2: Option<u8>,
    ) -> Result<AttachmentEncryptor, JsValue> {
        let (record, section) = ids(record_id, section_id)?;
        let (inner, dk) = StreamEncryptor::for_attachment(
            &key.0,
            record,
            section,
            to_u64(size, "size")?,
            chunk_log2.unwrap_or(stream::DEFAULT_CHUNK_LOG2),
        )?;
        Ok(AttachmentEncryptor {
            inner,
            engine: RustAesGcm::new(&dk.dek),
            key: dk,
        })
    }
    /// The attachment header: the first bytes of the blob.
    pub fn header(&self) -> Vec<u8> {
        self.inner.header_bytes().to_vec()
    }
    /// Number of chunks.
    #[wasm_bindgen(getter, js_name = chunkCount)]
    pub fn chunk_count(&self) -> f64 {
        self.inner.chunk_count() as f64
    }
    /// Total blob length in bytes.
    #[wasm_bindgen(getter, js_name = blobLength)]
    pub fn blob_length(&self) -> f64 {
        self.inner.layout().blob_len() as f64
    }
    /// `[start, end)` of the attachment bytes that go into chunk `i`.
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
    /// Frames the next chunk for an external engine (as `SectionEncryptor.frame`).
    pub fn frame(&mut self) -> Result<JsValue, JsValue> {
        super::stream::frame_to_js(self.inner.frame()?)
    }
    /// Records a sealed chunk by its length and its SHA-256 digest.
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
    /// Imports this attachment's AES-GCM key into WebCrypto (non-extractable).
    #[wasm_bindgen(js_name = importWebCryptoKey)]
    pub fn import_web_crypto_key(&self) -> Result<js_sys::Promise, JsValue> {
        web_crypto_import_key(self.key.dek.expose())
    }
    /// Ends the stream: `{entry: {chunkRoot, blobId, indexId, blobLength},
    /// chunkIndex}`: what the section document lists, and the index to
    /// store beside the blob.
    pub fn finish(self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry {
            chunk_root: String,
            blob_id: String,
            index_id: String,
            blob_length: f64,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Finished {
            entry: Entry,
            chunk_index: ByteBuf,
        }
        let sealed = self.inner.finish()?;
        to_js(&Finished {
            entry: Entry {
                chunk_root: hex::encode(sealed.chunk_root),
                blob_id: hex::encode(sealed.blob_id()),
                index_id: hex::encode(sealed.index_id),
                blob_length: sealed.header.blob_len() as f64,
            },
            chunk_index: ByteBuf::from(sealed.index.to_bytes()),
        })
    }
}

/// Length of an attachment header (fetch this many bytes first).
#[wasm_bindgen(js_name = attachmentHeaderLength)]
pub fn attachment_header_length() -> f64 {
    ATTACHMENT_HEADER_LEN as f64
}

/// Decrypts one attachment chunk by chunk. The header must belong to the
/// record and section read (`binding_mismatch`), the index must match the
/// chunk root the section document lists (`content_mismatch`), and every
/// chunk is checked against it before it is opened.
#[wasm_bindgen]
pub struct AttachmentDecryptor {
    inner: StreamDecryptor<AttachmentHeader>,
    key: CoreDataKey,
    engine: RustAesGcm,
}

#[wasm_bindgen]
impl AttachmentDecryptor {
    /// `header`: the blob's first `attachmentHeaderLength()` bytes;
    /// `chunkIndex`: the index stored beside it; `chunkRoot`: as the
    /// (verified) section document lists it.
    #[wasm_bindgen(constructor)]
    pub fn new(
        header: &[u8],
        key: &AttachmentKey,
        chunk_index: &[u8],
        chunk_root: &str,
        record_id: &str,
        section_id: &str,
    ) -> Result<AttachmentDecryptor, JsValue> {
        let (record, section) = ids(record_id, section_id)?;
        let (inner, dk) = attachment_decryptor(
            header,
            &key.0,
            ChunkIndex::from_bytes(chunk_index)?,
            &hex32(chunk_root, "chunkRoot")?,
            &record,
            &section,
        )?;
        Ok(AttachmentDecryptor {
            inner,
            engine: RustAesGcm::new(&dk.dek),
            key: dk,
        })
    }
    /// Number of chunks.
    #[wasm_bindgen(getter, js_name = chunkCount)]
    pub fn chunk_count(&self) -> f64 {
        self.inner.layout().chunk_count() as f64
    }
    /// `[offset, length]` of sealed chunk `i` in the blob (for HTTP Range).
    #[wasm_bindgen(js_name = chunkRange)]
    pub fn chunk_range(&self, i: f64) -> Result<Vec<f64>, JsValue> {
        let i = to_u64(i, "index")?;
        let l = self.inner.layout();
        if i >= l.chunk_count() {
            return Err(arg("chunk index out of range"));
        }
        Ok(vec![l.chunk_offset(i) as f64, l.sealed_chunk_len(i) as f64])
    }
    /// Imports this attachment's AES-GCM key into WebCrypto (non-extractable).
    #[wasm_bindgen(js_name = importWebCryptoKey)]
    pub fn import_web_crypto_key(&self) -> Result<js_sys::Promise, JsValue> {
        web_crypto_import_key(self.key.dek.expose())
    }
}

super::stream::decryptor_methods!(AttachmentDecryptor);
