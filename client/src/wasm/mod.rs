//! JavaScript bindings (wasm-bindgen): a thin layer over the protocol core.
//!
//! Bytes travel as `Uint8Array`, ids as lower-case hex strings, integers as
//! JS numbers (safe integers only), and structured values as plain objects.
//! Every failure is thrown as an `Error` whose `code` is stable (see
//! [`crate::Error::code`]; argument errors use `invalid_argument`).

mod owner;
mod webcrypto;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;

use crate::capsule::{Capsule, DataKey as CoreDataKey, KeyContext};
use crate::envelope::{self, Envelope};
use crate::error::Error;
use crate::grant::{
    GrantShare as CoreShare, GrantTerms, IssuedGrant, Role, VerifiedGrant, STANDARD_SECTIONS,
};
use crate::identity::{Identity as CoreIdentity, PublicIdentity};
use crate::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use crate::primitives::{os_rng, Point};
use crate::record::{EpochId, RecordId, SectionId, SectionKey as CoreSectionKey};
use crate::reencrypt::{ReencryptAnswer, ReencryptRequest};
use crate::revocation::{Revocation, RevocationReceipt};
use crate::secret::Seed;
use crate::stream::{
    self, ChunkIndex, ChunkJob as CoreJob, RustAesGcm, StreamDecryptor, StreamEncryptor,
};

pub use webcrypto::{
    web_crypto_available, web_crypto_import_key, web_crypto_open, web_crypto_seal,
};

/// Builds the thrown `Error`: message, `name = "SesphrError"`, stable `code`.
pub(crate) fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("SesphrError");
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        js_error(e.code(), &e.to_string())
    }
}

fn arg(message: &str) -> JsValue {
    js_error("invalid_argument", message)
}

fn to_u64(v: f64, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(arg(&format!("{what} must be a non-negative safe integer")))
    }
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], JsValue> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| arg(&format!("{what} must be 64 hex characters")))?;
    Ok(out)
}

fn digest32(d: &[u8]) -> Result<[u8; 32], JsValue> {
    d.try_into().map_err(|_| arg("a digest is 32 bytes"))
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| arg(&e.to_string()))
}

fn from_js<T: for<'de> Deserialize<'de>>(v: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| arg(&format!("{what}: {e}")))
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

// ---------------------------------------------------------------- identity

/// A party's identity (seed and keys), held inside wasm memory.
#[wasm_bindgen]
pub struct Identity(CoreIdentity);

#[wasm_bindgen]
impl Identity {
    /// A new identity from a fresh random seed (`crypto.getRandomValues`).
    pub fn generate() -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::generate()?))
    }
    /// Restores an identity from its 32-byte seed.
    #[wasm_bindgen(js_name = fromSeed)]
    pub fn from_seed(seed: &[u8]) -> Result<Identity, JsValue> {
        Ok(Identity(CoreIdentity::from_seed(Seed::from_bytes(seed)?)?))
    }
    /// The party id (hex).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.0.id().to_hex()
    }
    /// The 160-bit fingerprint to compare out of band.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.0.public().fingerprint()
    }
    /// Public identity: signing key ‖ encryption key (66 bytes).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
    /// The encryption public key alone (33 bytes).
    #[wasm_bindgen(getter, js_name = encryptionKey)]
    pub fn encryption_key(&self) -> Vec<u8> {
        self.0.public().encryption.to_bytes().to_vec()
    }
    /// The seed, for the owner's own backup (wrap it before storing it).
    #[wasm_bindgen(js_name = exportSeed)]
    pub fn export_seed(&self) -> Vec<u8> {
        self.0.seed().to_bytes().to_vec()
    }
    /// A self-signed directory entry for registration with the SRS.
    #[wasm_bindgen(js_name = directoryEntry)]
    pub fn directory_entry(&self, created_at: f64) -> Result<Vec<u8>, JsValue> {
        Ok(self
            .0
            .directory_entry(to_u64(created_at, "createdAt")?)
            .as_bytes()
            .to_vec())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartyView {
    id: String,
    fingerprint: String,
    public_key: ByteBuf,
}

fn party_view(p: &PublicIdentity) -> PartyView {
    PartyView {
        id: p.id().to_hex(),
        fingerprint: p.fingerprint(),
        public_key: ByteBuf::from(p.to_bytes().to_vec()),
    }
}

/// Describes a 66-byte public identity: `{id, fingerprint, publicKey}`.
#[wasm_bindgen(js_name = describePublicKey)]
pub fn describe_public_key(public_key: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&party_view(&PublicIdentity::from_bytes(public_key)?))
}

/// Verifies a directory entry: `{id, fingerprint, publicKey, createdAt}`.
#[wasm_bindgen(js_name = verifyDirectoryEntry)]
pub fn verify_directory_entry(entry: &[u8]) -> Result<JsValue, JsValue> {
    let e = crate::identity::DirectoryEntry::from_bytes(entry)?;
    let obj = to_js(&party_view(&e.public))?;
    let _ = js_sys::Reflect::set(&obj, &"createdAt".into(), &(e.created_at as f64).into());
    Ok(obj)
}

// ---------------------------------------------------------------- records

/// A new record of `owner`: `{recordId, recordNonce}`.
#[wasm_bindgen(js_name = newRecord)]
pub fn new_record(owner: &Identity) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct NewRecord {
        record_id: String,
        record_nonce: ByteBuf,
    }
    let (id, nonce) = RecordId::generate(&owner.0.id(), &mut os_rng());
    to_js(&NewRecord {
        record_id: id.to_hex(),
        record_nonce: ByteBuf::from(nonce.to_vec()),
    })
}

/// The opaque id of section `name` in a record (hex).
#[wasm_bindgen(js_name = sectionId)]
pub fn section_id(owner: &Identity, record_id: &str, name: &str) -> Result<String, JsValue> {
    Ok(SectionId::derive(
        owner.0.seed(),
        &RecordId(hex32(record_id, "recordId")?),
        name,
    )
    .to_hex())
}

/// A fresh random epoch id (hex).
#[wasm_bindgen(js_name = newEpochId)]
pub fn new_epoch_id() -> String {
    EpochId::generate(&mut os_rng()).to_hex()
}

/// The standard section names.
#[wasm_bindgen(js_name = standardSections)]
pub fn standard_sections() -> Vec<String> {
    STANDARD_SECTIONS.iter().map(|s| s.to_string()).collect()
}

/// The sections of a role preset (`family`, `physician`, `nurse`,
/// `pharmacist`, `insurer`, `researcher`, `lab`, `custom`).
#[wasm_bindgen(js_name = roleSections)]
pub fn role_sections(role: &str) -> Result<Vec<String>, JsValue> {
    let role = Role::from_name(role).ok_or_else(|| arg("unknown role"))?;
    Ok(role.sections().iter().map(|s| s.to_string()).collect())
}

/// The owner's key for one section in one epoch.
#[wasm_bindgen]
pub struct SectionKey(CoreSectionKey);

#[wasm_bindgen]
impl SectionKey {
    /// Derives the section key from the owner's seed.
    #[wasm_bindgen(constructor)]
    pub fn new(
        owner: &Identity,
        record_id: &str,
        section_id: &str,
        epoch_id: &str,
    ) -> Result<SectionKey, JsValue> {
        Ok(SectionKey(CoreSectionKey::for_owner(
            &owner.0,
            RecordId(hex32(record_id, "recordId")?),
            SectionId(hex32(section_id, "sectionId")?),
            EpochId(hex32(epoch_id, "epochId")?),
        )?))
    }
    /// `A = a·G` (33 bytes), published in the manifest.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
    /// Owner side: the data key of a body from its capsule (`Z = a·E`).
    #[wasm_bindgen(js_name = openAsOwner)]
    pub fn open_as_owner(
        &self,
        capsule: &[u8],
        written_at_version: f64,
    ) -> Result<DataKey, JsValue> {
        let c = Capsule(Point::from_bytes(capsule)?);
        Ok(DataKey(c.open_as_owner(
            &self.0,
            to_u64(written_at_version, "writtenAtVersion")?,
        )?))
    }
}

/// A section version's data key (kept inside wasm; never readable from JS).
#[wasm_bindgen]
pub struct DataKey(CoreDataKey);

#[wasm_bindgen]
impl DataKey {
    /// Imports the key into WebCrypto as a non-extractable AES-GCM `CryptoKey`.
    #[wasm_bindgen(js_name = importWebCryptoKey)]
    pub fn import_web_crypto_key(&self) -> Result<js_sys::Promise, JsValue> {
        web_crypto_import_key(self.0.dek.expose())
    }
}

// ---------------------------------------------------------------- streams

/// One AES-256-GCM call for an engine: `{index, last, nonce, aad, plaintext?}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsJob {
    index: f64,
    last: bool,
    nonce: ByteBuf,
    aad: ByteBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plaintext: Option<ByteBuf>,
}

impl JsJob {
    fn from_core(job: &CoreJob, plaintext: Option<&[u8]>) -> JsJob {
        JsJob {
            index: job.index as f64,
            last: job.last,
            nonce: ByteBuf::from(job.nonce.to_vec()),
            aad: ByteBuf::from(job.aad.to_vec()),
            plaintext: plaintext.map(|p| ByteBuf::from(p.to_vec())),
        }
    }
    fn to_core(&self) -> Result<CoreJob, JsValue> {
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

/// A manifest entry as a plain object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsEntry {
    section_id: String,
    epoch_id: String,
    section_key: ByteBuf,
    capsule: ByteBuf,
    written_at_version: f64,
    chunk_root: String,
    blob_length: f64,
    /// Where the relay keeps the blob: derived from `chunk_root` on output,
    /// never read back.
    #[serde(skip_deserializing)]
    blob_id: String,
    index_id: String,
}

impl JsEntry {
    fn from_core(e: &ManifestEntry) -> JsEntry {
        JsEntry {
            section_id: e.section.to_hex(),
            epoch_id: e.epoch.to_hex(),
            section_key: ByteBuf::from(e.section_key.to_bytes().to_vec()),
            capsule: ByteBuf::from(e.capsule.0.to_bytes().to_vec()),
            written_at_version: e.written_at_version as f64,
            chunk_root: hex::encode(e.chunk_root),
            blob_length: e.blob_len as f64,
            blob_id: hex::encode(e.blob_id()),
            index_id: hex::encode(e.index_id),
        }
    }
    fn to_core(&self) -> Result<ManifestEntry, JsValue> {
        Ok(ManifestEntry {
            section: SectionId(hex32(&self.section_id, "sectionId")?),
            epoch: EpochId(hex32(&self.epoch_id, "epochId")?),
            section_key: Point::from_bytes(&self.section_key)?,
            capsule: Capsule(Point::from_bytes(&self.capsule)?),
            written_at_version: to_u64(self.written_at_version, "writtenAtVersion")?,
            chunk_root: hex32(&self.chunk_root, "chunkRoot")?,
            blob_len: to_u64(self.blob_length, "blobLength")?,
            index_id: hex32(&self.index_id, "indexId")?,
        })
    }
}

/// Encrypts one section body chunk by chunk (owner side).
#[wasm_bindgen]
pub struct SectionEncryptor {
    inner: StreamEncryptor,
    key: CoreDataKey,
    engine: RustAesGcm,
    section_key: Point,
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
        let (capsule, dk) = Capsule::encapsulate(&key.0, version, &mut os_rng())?;
        let ctx = KeyContext::for_key(&key.0, version);
        let inner = StreamEncryptor::new(
            capsule,
            &dk,
            &ctx,
            to_u64(body_length, "bodyLength")?,
            chunk_log2.unwrap_or(stream::DEFAULT_CHUNK_LOG2),
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
        let f = self.inner.frame()?;
        to_js(&Frame {
            job: JsJob::from_core(&f.job, None),
            prefix: f.prefix.map(|p| ByteBuf::from(p.to_vec())),
            body_start: f.body.0 as f64,
            body_end: f.body.1 as f64,
            padding: f.padding as f64,
        })
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

/// The chunk index of a complete blob in memory.
#[wasm_bindgen(js_name = chunkIndexFromBlob)]
pub fn chunk_index_from_blob(blob: &[u8]) -> Result<Vec<u8>, JsValue> {
    Ok(ChunkIndex::from_blob(blob)?.to_bytes())
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
    /// The body length (known after chunk 0 was opened), or undefined.
    #[wasm_bindgen(getter, js_name = bodyLength)]
    pub fn body_length(&self) -> Option<f64> {
        self.inner.body_len().map(|l| l as f64)
    }
    /// Random access: verifies and opens chunk `i` (chunk 0 first), returning its body bytes.
    #[wasm_bindgen(js_name = openChunk)]
    pub fn open_chunk(&mut self, i: f64, sealed: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self
            .inner
            .open_chunk(&self.engine, to_u64(i, "index")?, sealed)?
            .to_vec())
    }
    /// Verifies sealed chunk `i` and returns the job for an external engine.
    pub fn check(&self, i: f64, sealed: &[u8]) -> Result<JsValue, JsValue> {
        to_js(&JsJob::from_core(
            &self.inner.check(to_u64(i, "index")?, sealed)?,
            None,
        ))
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
        to_js(&JsJob::from_core(
            &self.inner.check_digest(
                to_u64(i, "index")?,
                to_u64(sealed_length, "sealedLength")?,
                &digest32(digest)?,
            )?,
            None,
        ))
    }
    /// Whether the plaintext an external engine opened for `job` is body
    /// bytes only (not chunk 0, no padding): then release it whole without
    /// passing it in; otherwise call `accept`.
    pub fn release(&self, job: JsValue, plaintext_length: f64) -> Result<bool, JsValue> {
        let job: JsJob = from_js(job, "job")?;
        Ok(self.inner.release(
            &job.to_core()?,
            to_u64(plaintext_length, "plaintextLength")?,
        )?)
    }
    /// Takes the plaintext an external engine opened for `job`; returns the body bytes.
    pub fn accept(&mut self, job: JsValue, plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
        let job: JsJob = from_js(job, "job")?;
        Ok(self.inner.accept(&job.to_core()?, plaintext)?.to_vec())
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

// ---------------------------------------------------------------- manifests

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsManifest {
    record_id: String,
    record_nonce: ByteBuf,
    version: f64,
    #[serde(default)]
    previous: Option<String>,
    created_at: f64,
    entries: Vec<JsEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestView {
    owner: PartyView,
    hash: String,
    record_id: String,
    record_nonce: ByteBuf,
    version: f64,
    previous: Option<String>,
    created_at: f64,
    entries: Vec<JsEntry>,
}

fn manifest_view(m: &VerifiedManifest) -> ManifestView {
    let c = &m.content;
    ManifestView {
        owner: party_view(&m.owner),
        hash: hex::encode(m.hash()),
        record_id: c.record.to_hex(),
        record_nonce: ByteBuf::from(c.record_nonce.to_vec()),
        version: c.version as f64,
        previous: (c.version > 1).then(|| hex::encode(c.previous)),
        created_at: c.created_at as f64,
        entries: c.entries.iter().map(JsEntry::from_core).collect(),
    }
}

/// Signs a manifest: `content` is `{recordId, recordNonce, version, previous,
/// createdAt, entries}`; returns the signed bytes.
#[wasm_bindgen(js_name = signManifest)]
pub fn sign_manifest(owner: &Identity, content: JsValue) -> Result<Vec<u8>, JsValue> {
    let m: JsManifest = from_js(content, "manifest")?;
    let nonce: [u8; 16] = m
        .record_nonce
        .as_slice()
        .try_into()
        .map_err(|_| arg("recordNonce must be 16 bytes"))?;
    let content = ManifestContent {
        record: RecordId(hex32(&m.record_id, "recordId")?),
        record_nonce: nonce,
        version: to_u64(m.version, "version")?,
        previous: match m.previous {
            Some(p) => hex32(&p, "previous")?,
            None => [0u8; 32],
        },
        created_at: to_u64(m.created_at, "createdAt")?,
        entries: m
            .entries
            .iter()
            .map(JsEntry::to_core)
            .collect::<Result<_, _>>()?,
    };
    Ok(content.sign(&owner.0)?.as_bytes().to_vec())
}

/// Verifies a manifest's signature and structure; returns it as an object
/// (with `owner` and `hash`). If `expectedOwner` (66 bytes) is given, the
/// manifest must be signed by that party.
#[wasm_bindgen(js_name = verifyManifest)]
pub fn verify_manifest(
    manifest: &[u8],
    expected_owner: Option<Vec<u8>>,
) -> Result<JsValue, JsValue> {
    let m = VerifiedManifest::from_bytes(manifest)?;
    if let Some(owner) = expected_owner {
        m.expect_owner(&PublicIdentity::from_bytes(&owner)?)?;
    }
    to_js(&manifest_view(&m))
}

/// Checks that `next` is the direct successor of `previous` (both verified).
#[wasm_bindgen(js_name = verifyManifestSuccessor)]
pub fn verify_manifest_successor(previous: &[u8], next: &[u8]) -> Result<(), JsValue> {
    let p = VerifiedManifest::from_bytes(previous)?;
    let n = VerifiedManifest::from_bytes(next)?;
    Ok(n.verify_successor(&p)?)
}

/// Freshness: verifies an SRS-signed head against the pinned SRS public
/// identity and checks that the manifest is that head and not older than
/// `highWater`. Returns `{version, timestamp}`.
#[wasm_bindgen(js_name = checkHead)]
pub fn check_head(
    head: &[u8],
    srs_public_key: &[u8],
    manifest: &[u8],
    high_water: f64,
) -> Result<JsValue, JsValue> {
    let srs = PublicIdentity::from_bytes(srs_public_key)?;
    let head = SignedHead::from_bytes(head, &srs)?;
    let m = VerifiedManifest::from_bytes(manifest)?;
    head.check_manifest(&m, to_u64(high_water, "highWater")?)?;
    #[derive(Serialize)]
    struct HeadView {
        version: f64,
        timestamp: f64,
    }
    to_js(&HeadView {
        version: head.version as f64,
        timestamp: head.timestamp as f64,
    })
}

// ---------------------------------------------------------------- grants

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsTerms {
    grantee: ByteBuf,
    role: String,
    #[serde(default)]
    from_version: f64,
    #[serde(default)]
    expires_at: Option<f64>,
    #[serde(default)]
    sequence: f64,
}

impl JsTerms {
    fn to_core(&self) -> Result<GrantTerms, JsValue> {
        Ok(GrantTerms {
            grantee: PublicIdentity::from_bytes(&self.grantee)?,
            role: Role::from_name(&self.role).ok_or_else(|| arg("unknown role"))?,
            from_version: to_u64(self.from_version, "fromVersion")?,
            expires_at: self
                .expires_at
                .map(|e| to_u64(e, "expiresAt"))
                .transpose()?,
            sequence: to_u64(self.sequence, "sequence")?,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GrantView {
    grant_id: String,
    sequence: f64,
    owner: PartyView,
    record_id: String,
    section_id: String,
    epoch_id: String,
    grantee: PartyView,
    role: String,
    from_version: f64,
    expires_at: Option<f64>,
}

fn grant_view(g: &VerifiedGrant) -> GrantView {
    GrantView {
        grant_id: hex::encode(g.grant_id),
        sequence: g.sequence as f64,
        owner: party_view(&g.owner),
        record_id: g.record.to_hex(),
        section_id: g.section.to_hex(),
        epoch_id: g.epoch.to_hex(),
        grantee: party_view(&g.grantee),
        role: g.role.name().to_string(),
        from_version: g.from_version as f64,
        expires_at: g.expires_at.map(|t| t as f64),
    }
}

/// Issues a grant of one section: `terms` is `{grantee (66-byte public key),
/// role, fromVersion, expiresAt?, sequence}`. Returns `{grantId, statement,
/// b1Envelope, b2Envelope}`: the statement and `b1Envelope` go to the grantee
/// (through the relay), the statement and `b2Envelope` to the SRS directly.
#[wasm_bindgen(js_name = issueGrant)]
pub fn issue_grant(
    owner: &Identity,
    key: &SectionKey,
    srs_encryption_key: &[u8],
    terms: JsValue,
) -> Result<JsValue, JsValue> {
    let terms = from_js::<JsTerms>(terms, "terms")?.to_core()?;
    let g = IssuedGrant::issue(
        &owner.0,
        &key.0,
        &Point::from_bytes(srs_encryption_key)?,
        &terms,
        &mut os_rng(),
    )?;
    to_js(&Issued::from_core(&g))
}

/// An issued grant: the statement and `b1Envelope` go to the grantee
/// (through the relay), the statement and `b2Envelope` to the SRS.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    grant_id: String,
    statement: ByteBuf,
    b1_envelope: ByteBuf,
    b2_envelope: ByteBuf,
}

impl Issued {
    fn from_core(g: &IssuedGrant) -> Issued {
        Issued {
            grant_id: hex::encode(g.statement.grant_id),
            statement: ByteBuf::from(g.statement.as_bytes().to_vec()),
            b1_envelope: ByteBuf::from(g.b1_envelope.to_bytes()),
            b2_envelope: ByteBuf::from(g.b2_envelope.to_bytes()),
        }
    }
}

/// Verifies a grant statement's owner signature; returns it as an object.
#[wasm_bindgen(js_name = verifyGrant)]
pub fn verify_grant(statement: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&grant_view(&VerifiedGrant::from_bytes(statement)?))
}

/// The grantee's half of a grant, held inside wasm.
#[wasm_bindgen]
pub struct GrantShare(CoreShare);

#[wasm_bindgen]
impl GrantShare {
    /// Grantee side: verifies the statement, opens `b1` and checks
    /// `b1·G + B2 == A` against the section key in the owner-signed manifest.
    #[wasm_bindgen(constructor)]
    pub fn new(
        grantee: &Identity,
        statement: &[u8],
        b1_envelope: &[u8],
        manifest: &[u8],
    ) -> Result<GrantShare, JsValue> {
        let g = VerifiedGrant::from_bytes(statement)?;
        let m = VerifiedManifest::from_bytes(manifest)?;
        m.expect_owner(&g.owner)?;
        let entry = m.entry(&g.section)?;
        Ok(GrantShare(g.accept(
            &grantee.0,
            &Envelope::from_bytes(b1_envelope)?,
            &entry.section_key,
        )?))
    }
    /// The grant as an object.
    #[wasm_bindgen(getter)]
    pub fn grant(&self) -> Result<JsValue, JsValue> {
        to_js(&grant_view(&self.0.grant))
    }
    /// A signed re-encryption request for `version` of the record.
    pub fn request(&self, grantee: &Identity, version: f64) -> Result<Vec<u8>, JsValue> {
        let r = ReencryptRequest::new(
            &grantee.0,
            &self.0.grant,
            to_u64(version, "version")?,
            now_ms(),
            &mut os_rng(),
        )?;
        Ok(r.as_bytes().to_vec())
    }
    /// Verifies the SRS answer (signature, DLEQ proof, audit receipt, and that
    /// its signed head is this manifest and not older than `highWater`, the
    /// reader's highest version seen) and derives the data key of the section
    /// body in `manifest`.
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(
        &self,
        answer: &[u8],
        srs_public_key: &[u8],
        request: &[u8],
        manifest: &[u8],
        high_water: f64,
    ) -> Result<DataKey, JsValue> {
        let srs = PublicIdentity::from_bytes(srs_public_key)?;
        let req = ReencryptRequest::from_bytes(request)?;
        let m = VerifiedManifest::from_bytes(manifest)?;
        let a = ReencryptAnswer::verify(answer, &srs, &req, &self.0.grant, &m)?;
        a.head
            .check_manifest(&m, to_u64(high_water, "highWater")?)?;
        Ok(DataKey(self.0.data_key(&m, &a)?))
    }
}

/// A request sealed to the SRS, and the key its answer comes back under.
#[wasm_bindgen]
pub struct SealedRequest {
    sealed: Vec<u8>,
    key: envelope::AnswerKey,
}

#[wasm_bindgen]
impl SealedRequest {
    /// Seals a signed request to the SRS's encryption key (33 bytes), so the
    /// relay that forwards it learns nothing.
    #[wasm_bindgen(constructor)]
    pub fn new(srs_encryption_key: &[u8], request: &[u8]) -> Result<SealedRequest, JsValue> {
        let (sealed, key) = envelope::seal_request(
            &Point::from_bytes(srs_encryption_key)?,
            request,
            &mut os_rng(),
        )?;
        Ok(SealedRequest { sealed, key })
    }
    /// The bytes to send.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.sealed.clone()
    }
    /// Opens the SRS's sealed answer.
    #[wasm_bindgen(js_name = openAnswer)]
    pub fn open_answer(&self, sealed_answer: &[u8]) -> Result<Vec<u8>, JsValue> {
        Ok(self.key.open_answer(sealed_answer)?.to_vec())
    }
}

// ---------------------------------------------------------------- revocation

/// Signs a revocation of a grant (owner side); send it to the SRS directly.
#[wasm_bindgen(js_name = signRevocation)]
pub fn sign_revocation(owner: &Identity, statement: &[u8]) -> Result<Vec<u8>, JsValue> {
    let g = VerifiedGrant::from_bytes(statement)?;
    Ok(Revocation::sign(&owner.0, &g, now_ms())?
        .as_bytes()
        .to_vec())
}

/// Verifies the SRS's revocation receipt: only then is the revocation effective.
/// Returns `{grantId, timestamp}`.
#[wasm_bindgen(js_name = verifyRevocationReceipt)]
pub fn verify_revocation_receipt(
    receipt: &[u8],
    srs_public_key: &[u8],
    revocation: &[u8],
    statement: &[u8],
) -> Result<JsValue, JsValue> {
    let srs = PublicIdentity::from_bytes(srs_public_key)?;
    let g = VerifiedGrant::from_bytes(statement)?;
    let rev = Revocation::verify(revocation, &g)?;
    let r = RevocationReceipt::verify(receipt, &srs, &rev)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ReceiptView {
        grant_id: String,
        timestamp: f64,
    }
    to_js(&ReceiptView {
        grant_id: hex::encode(r.grant_id),
        timestamp: r.timestamp as f64,
    })
}
