//! The chunked AEAD stream of a section body (age-style STREAM over AES-256-GCM).
//!
//! Layout of a blob: `header ‖ chunk_0 ‖ … ‖ chunk_{n-1}`, each chunk
//! `ciphertext ‖ tag(16)`. The stream plaintext is `u64(body_len) ‖ body ‖ zeros`,
//! padded to `padme(8 + body_len)` bytes and cut into chunks of exactly
//! `chunk_size` bytes but the last (1..=chunk_size bytes). Chunk `i` uses the
//! nonce `u88(i) ‖ last_flag` and the AAD `H("SeSPHR-v1/blob-header", header)`.
//!
//! The owner commits to `chunk_root`, the RFC 9162 Merkle root over
//! `[header, chunk_0, …, chunk_{n-1}]` (each leaf `leaf(SHA-256(piece))`, see
//! [`piece_leaf`]), which is also the blob's address at the relay; a reader
//! checks every sealed chunk against it *before* decrypting it.
//!
//! The framing is engine-independent: [`StreamEncryptor::prepare`] and
//! [`StreamDecryptor::check`] yield a [`ChunkJob`] (nonce, AAD) that any
//! AES-256-GCM engine can run, synchronous (the `aes-gcm` crate, [`RustAesGcm`])
//! or asynchronous (the browser's WebCrypto); results come back through
//! [`StreamEncryptor::commit`] and [`StreamDecryptor::accept`].

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::capsule::{Capsule, DataKey, KeyContext};
use crate::error::{malformed, Error, Result};
use crate::merkle::{self, Hash};
use crate::primitives::codec::{Kind, Reader, Writer, OBJECT_HEADER_LEN};
use crate::primitives::{hash, labels, Point, POINT_LEN};
use crate::record::{EpochId, RecordId, SectionId, SectionKey};
use crate::secret::SymmetricKey;

/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// Allowed chunk sizes, as powers of two: 16 KiB, 64 KiB, 256 KiB, 1 MiB.
pub const ALLOWED_CHUNK_LOG2: [u8; 4] = [14, 16, 18, 20];
/// The default chunk size (64 KiB) as a power of two.
pub const DEFAULT_CHUNK_LOG2: u8 = 16;
/// Encoded length of a blob header.
pub const HEADER_LEN: usize = OBJECT_HEADER_LEN + 1 + 3 * 32 + 8 + POINT_LEN + 32 + 8;
/// Largest body accepted (32 TiB): keeps every size computation far from
/// overflow and the chunk count of the smallest chunk size within a `u32`.
pub const MAX_BODY_LEN: u64 = 1 << 45;
const LEN_PREFIX: u64 = 8;

/// Padmé padding (Nikitin et al.): leaks O(log log L) bits of the length.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros());
    let s = 64 - u64::from(e.leading_zeros());
    let mask = (1u64 << (e - s)) - 1;
    (len + mask) & !mask
}

/// Checks a header's `padded_len`: at least the length prefix, at most
/// `padme(MAX_BODY_LEN + 8)`, and a Padmé value (`malformed` otherwise).
pub(crate) fn check_padded_len(padded_len: u64, what: &'static str) -> Result<()> {
    if padded_len < LEN_PREFIX
        || padded_len > padme(MAX_BODY_LEN + LEN_PREFIX)
        || padme(padded_len) != padded_len
    {
        return Err(malformed(
            what,
            "padded length out of range or not a Padmé length",
        ));
    }
    Ok(())
}

/// Where the chunks of a stream lie: derived from its header's length, its
/// chunk size and its padded length, the same for every kind of header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Encoded length of the header (the first chunk starts here).
    pub header_len: u64,
    /// Chunk size as a power of two.
    pub chunk_log2: u8,
    /// Length of the padded stream plaintext.
    pub padded_len: u64,
}

impl Layout {
    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u64 {
        1u64 << self.chunk_log2
    }
    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        self.padded_len.div_ceil(self.chunk_size())
    }
    /// Plaintext length of chunk `i`.
    pub fn chunk_plaintext_len(&self, i: u64) -> u64 {
        let start = i * self.chunk_size();
        (self.padded_len - start).min(self.chunk_size())
    }
    /// Sealed length of chunk `i` (plaintext + tag).
    pub fn sealed_chunk_len(&self, i: u64) -> u64 {
        self.chunk_plaintext_len(i) + TAG_LEN as u64
    }
    /// Byte offset of chunk `i` in the blob (random access).
    pub fn chunk_offset(&self, i: u64) -> u64 {
        self.header_len + i * (self.chunk_size() + TAG_LEN as u64)
    }
    /// Total blob length: header, padded plaintext and one tag per chunk.
    pub fn blob_len(&self) -> u64 {
        self.header_len + self.padded_len + self.chunk_count() * TAG_LEN as u64
    }
}

/// The clear header at the start of a stream: a section blob's
/// ([`BlobHeader`], kind `0x01`) or an attachment's
/// ([`crate::attachment::AttachmentHeader`], kind `0x12`). The STREAM
/// construction, the padding and the chunk Merkle tree are the same for
/// both; the header's kind, its AAD label and its key schedule keep them
/// apart.
pub trait StreamHeader: Clone + core::fmt::Debug {
    /// Encoded length.
    const LEN: usize;
    /// The header's encoding (the first [`Self::LEN`] bytes of the blob).
    fn to_bytes(&self) -> Vec<u8>;
    /// The AAD of every chunk: a labelled hash of the header bytes.
    fn aad(&self) -> Hash;
    /// The key commitment `kc` the header carries.
    fn key_commitment(&self) -> &[u8; 32];
    /// Chunk size as a power of two.
    fn chunk_log2(&self) -> u8;
    /// Length of the padded stream plaintext.
    fn padded_len(&self) -> u64;
    /// Where the chunks lie.
    fn layout(&self) -> Layout {
        Layout {
            header_len: Self::LEN as u64,
            chunk_log2: self.chunk_log2(),
            padded_len: self.padded_len(),
        }
    }
}

impl StreamHeader for BlobHeader {
    const LEN: usize = HEADER_LEN;
    fn to_bytes(&self) -> Vec<u8> {
        BlobHeader::to_bytes(self)
    }
    fn aad(&self) -> Hash {
        self.hash()
    }
    fn key_commitment(&self) -> &[u8; 32] {
        &self.key_commitment
    }
    fn chunk_log2(&self) -> u8 {
        self.chunk_log2
    }
    fn padded_len(&self) -> u64 {
        self.padded_len
    }
}

/// The clear header of a blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobHeader {
    /// Chunk size as a power of two (one of [`ALLOWED_CHUNK_LOG2`]).
    pub chunk_log2: u8,
    /// Record the body belongs to.
    pub record: RecordId,
    /// Section the body belongs to.
    pub section: SectionId,
    /// Epoch of the section key.
    pub epoch: EpochId,
    /// Record version this body was written at.
    pub version: u64,
    /// The capsule `E`.
    pub capsule: Capsule,
    /// Key commitment `kc`.
    pub key_commitment: [u8; 32],
    /// Length of the padded stream plaintext (`padme(8 + body_len)`).
    pub padded_len: u64,
}

impl BlobHeader {
    /// Encodes the header (always [`HEADER_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::BlobHeader);
        w.u8(self.chunk_log2)
            .raw(&self.record.0)
            .raw(&self.section.0)
            .raw(&self.epoch.0)
            .u64(self.version)
            .raw(&self.capsule.0.to_bytes())
            .raw(&self.key_commitment)
            .u64(self.padded_len);
        w.finish()
    }

    /// Decodes a header from the start of `bytes`; the rest is ignored.
    pub fn from_prefix(bytes: &[u8]) -> Result<BlobHeader> {
        let prefix = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        let mut r = Reader::object(prefix, Kind::BlobHeader)?;
        let chunk_log2 = r.u8()?;
        if !ALLOWED_CHUNK_LOG2.contains(&chunk_log2) {
            return Err(Error::UnsupportedChunkSize);
        }
        let header = BlobHeader {
            chunk_log2,
            record: RecordId(r.array()?),
            section: SectionId(r.array()?),
            epoch: EpochId(r.array()?),
            version: r.u64()?,
            capsule: Capsule(Point::from_bytes(r.take(POINT_LEN)?)?),
            key_commitment: r.array()?,
            padded_len: r.u64()?,
        };
        r.finish()?;
        check_padded_len(header.padded_len, "blob header")?;
        Ok(header)
    }

    /// The key context the DEK of this blob is bound to.
    pub fn key_context(&self) -> KeyContext {
        KeyContext {
            record: self.record,
            section: self.section,
            epoch: self.epoch,
            version: self.version,
        }
    }
    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u64 {
        self.layout().chunk_size()
    }
    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        self.layout().chunk_count()
    }
    /// Plaintext length of chunk `i`.
    pub fn chunk_plaintext_len(&self, i: u64) -> u64 {
        self.layout().chunk_plaintext_len(i)
    }
    /// Sealed length of chunk `i` (plaintext + tag).
    pub fn sealed_chunk_len(&self, i: u64) -> u64 {
        self.layout().sealed_chunk_len(i)
    }
    /// Byte offset of chunk `i` in the blob (random access).
    pub fn chunk_offset(&self, i: u64) -> u64 {
        self.layout().chunk_offset(i)
    }
    /// Total blob length.
    pub fn blob_len(&self) -> u64 {
        self.layout().blob_len()
    }
    /// `H("SeSPHR-v1/blob-header", header)`: the AAD of every chunk.
    pub fn hash(&self) -> Hash {
        hash(labels::BLOB_HEADER, &[&self.to_bytes()])
    }
}

/// Nonce of chunk `i`: 11-byte big-endian counter ‖ last flag.
pub fn chunk_nonce(i: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[3..11].copy_from_slice(&i.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// The Merkle leaf of one piece of a blob (its header or a sealed chunk):
/// `leaf(SHA-256(piece))`. Hashing each piece on its own first lets a
/// browser take the large hash with WebCrypto, chunk by chunk, and hand the
/// core 32 bytes ([`leaf_of_digest`]).
pub fn piece_leaf(piece: &[u8]) -> Hash {
    leaf_of_digest(&Sha256::digest(piece).into())
}

/// The Merkle leaf of a piece from its SHA-256 digest: `leaf(digest)`.
pub fn leaf_of_digest(digest: &Hash) -> Hash {
    merkle::leaf_hash(digest)
}

/// One AES-256-GCM call the framing asks an engine to perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkJob {
    /// Chunk index.
    pub index: u64,
    /// Whether this is the final chunk.
    pub last: bool,
    /// The GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The GCM associated data (the header hash).
    pub aad: Hash,
}

/// A chunk's job and the layout of its plaintext:
/// `prefix ‖ body[body.0..body.1] ‖ padding zero bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkFrame {
    /// The AES-GCM call.
    pub job: ChunkJob,
    /// The body length, big-endian (chunk 0 only).
    pub prefix: Option<[u8; 8]>,
    /// The body bytes `[start, end)` the chunk carries.
    pub body: (u64, u64),
    /// Zero bytes after the body bytes.
    pub padding: u64,
}

/// A synchronous AES-256-GCM engine for chunks.
pub trait ChunkAead {
    /// Seals `plaintext`, returning `ciphertext ‖ tag`.
    fn seal(&self, job: &ChunkJob, plaintext: &[u8]) -> Result<Vec<u8>>;
    /// Opens `ciphertext ‖ tag`.
    fn open(&self, job: &ChunkJob, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// The `aes-gcm` crate engine (native, and the fallback in the browser).
pub struct RustAesGcm(Aes256Gcm);

impl RustAesGcm {
    /// An engine for `key`.
    pub fn new(key: &SymmetricKey) -> RustAesGcm {
        RustAesGcm(Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.expose())))
    }
}

impl core::fmt::Debug for RustAesGcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RustAesGcm(<redacted>)")
    }
}

impl ChunkAead for RustAesGcm {
    fn seal(&self, job: &ChunkJob, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(job.nonce), &job.aad, buf.as_mut_slice().into())
            .map_err(|_| Error::TooLarge("chunk"))?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    fn open(&self, job: &ChunkJob, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let split = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::DecryptionFailed)?;
        let (ct, tag) = sealed.split_at(split);
        let tag = Tag::try_from(tag).map_err(|_| Error::DecryptionFailed)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        self.0
            .decrypt_inout_detached(
                &Nonce::from(job.nonce),
                &job.aad,
                buf.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(buf)
    }
}

/// The list of Merkle leaf hashes of a blob: `[piece_leaf(header), piece_leaf(chunk_0), …]`.
///
/// Stored beside the blob (32 bytes per chunk) so that a reader can check
/// each chunk against the signed `chunk_root` as it streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkIndex {
    leaves: Vec<Hash>,
}

impl ChunkIndex {
    /// The Merkle root (`chunk_root`).
    pub fn root(&self) -> Hash {
        merkle::root(&self.leaves)
    }
    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }
    /// Encodes: object header, `u32` leaf count, leaves.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::ChunkIndex);
        w.u32(self.leaves.len() as u32);
        for l in &self.leaves {
            w.raw(l);
        }
        w.finish()
    }
    /// Decodes (no verification: see [`ChunkIndex::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ChunkIndex> {
        let mut r = Reader::object(bytes, Kind::ChunkIndex)?;
        let n = r.u32()? as usize;
        if r.remaining() != n.saturating_mul(32) || n < 2 {
            return Err(malformed("chunk index", "wrong leaf count"));
        }
        let leaves = (0..n).map(|_| r.array()).collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(ChunkIndex { leaves })
    }
    /// An index of the given leaves (the first is the header's).
    pub(crate) fn from_leaves(leaves: Vec<Hash>) -> ChunkIndex {
        ChunkIndex { leaves }
    }
    /// Recomputes the index of a complete blob held in memory.
    pub fn from_blob(blob: &[u8]) -> Result<ChunkIndex> {
        ChunkIndex::from_stream(&BlobHeader::from_prefix(blob)?, blob)
    }
    /// Recomputes the index of a complete stream of any kind held in
    /// memory, whose header (already parsed) is `header`.
    pub fn from_stream<H: StreamHeader>(header: &H, blob: &[u8]) -> Result<ChunkIndex> {
        let layout = header.layout();
        if (blob.len() as u64) < layout.blob_len() {
            return Err(Error::Truncated);
        }
        if (blob.len() as u64) > layout.blob_len() {
            return Err(Error::TrailingData);
        }
        let mut leaves = vec![piece_leaf(&blob[..H::LEN])];
        for i in 0..layout.chunk_count() {
            let start = layout.chunk_offset(i) as usize;
            let end = start + layout.sealed_chunk_len(i) as usize;
            leaves.push(piece_leaf(&blob[start..end]));
        }
        Ok(ChunkIndex { leaves })
    }
    /// Checks the index against the header and the owner-signed `chunk_root`.
    pub fn verify<H: StreamHeader>(
        self,
        header: &H,
        chunk_root: &Hash,
    ) -> Result<VerifiedChunkIndex> {
        if self.leaves.len() as u64 != header.layout().chunk_count() + 1
            || self.leaves[0] != piece_leaf(&header.to_bytes())
            || self.root() != *chunk_root
        {
            return Err(Error::ContentMismatch);
        }
        Ok(VerifiedChunkIndex(self))
    }
}

/// A chunk index whose root equals the signed `chunk_root` of its header.
#[derive(Clone, Debug)]
pub struct VerifiedChunkIndex(ChunkIndex);

/// Encrypts a body chunk by chunk. Memory is O(chunk) plus 32 bytes per chunk
/// for the leaf list.
pub struct StreamEncryptor<H: StreamHeader = BlobHeader> {
    header: H,
    layout: Layout,
    header_bytes: Vec<u8>,
    aad: Hash,
    body_len: u64,
    next: u64,
    leaves: Vec<Hash>,
}

impl<H: StreamHeader> core::fmt::Debug for StreamEncryptor<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("header", &self.header)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// What the owner publishes for an encrypted body.
#[derive(Clone, Debug)]
pub struct SealedBody<H: StreamHeader = BlobHeader> {
    /// The blob header.
    pub header: H,
    /// The chunk index (stored beside the blob).
    pub index: ChunkIndex,
    /// The Merkle root the manifest commits to, and the blob's content
    /// address at the relay (see [`crate::content`]).
    pub chunk_root: Hash,
    /// SHA-256 of the encoded chunk index (its content address at the relay).
    pub index_id: Hash,
}

impl<H: StreamHeader> SealedBody<H> {
    /// Where the relay keeps the blob: its chunk root (see [`crate::content`]).
    pub fn blob_id(&self) -> Hash {
        self.chunk_root
    }
}

impl StreamEncryptor<BlobHeader> {
    /// Starts encrypting a body of exactly `body_len` bytes of section `key`
    /// at record `version`: a fresh capsule (`E = r·G`, `Z = r·A`), its data
    /// key and the key context, then the stream. The data key is returned
    /// for an engine that runs AES-GCM itself (WebCrypto).
    pub fn for_section<R: rand_core::CryptoRng + ?Sized>(
        key: &SectionKey,
        version: u64,
        body_len: u64,
        chunk_log2: u8,
        rng: &mut R,
    ) -> Result<(StreamEncryptor, DataKey)> {
        let (capsule, dk) = Capsule::encapsulate(key, version, rng)?;
        let ctx = KeyContext::for_key(key, version);
        let enc = StreamEncryptor::new(capsule, &dk, &ctx, body_len, chunk_log2)?;
        Ok((enc, dk))
    }

    /// Starts a stream for a body of exactly `body_len` bytes.
    pub fn new(
        capsule: Capsule,
        key: &DataKey,
        ctx: &KeyContext,
        body_len: u64,
        chunk_log2: u8,
    ) -> Result<StreamEncryptor> {
        let header = BlobHeader {
            chunk_log2,
            record: ctx.record,
            section: ctx.section,
            epoch: ctx.epoch,
            version: ctx.version,
            capsule,
            key_commitment: key.commitment,
            padded_len: padded_len_of(body_len, chunk_log2)?,
        };
        Ok(StreamEncryptor::start(header, body_len))
    }
}

/// `padme(8 + body_len)` once the chunk size and the body length are
/// checked (`unsupported_chunk_size`, `too_large`).
pub(crate) fn padded_len_of(body_len: u64, chunk_log2: u8) -> Result<u64> {
    if !ALLOWED_CHUNK_LOG2.contains(&chunk_log2) {
        return Err(Error::UnsupportedChunkSize);
    }
    if body_len > MAX_BODY_LEN {
        return Err(Error::TooLarge("body"));
    }
    Ok(padme(body_len + LEN_PREFIX))
}

impl<H: StreamHeader> StreamEncryptor<H> {
    /// Starts the stream of `header` (built for exactly `body_len` bytes).
    pub(crate) fn start(header: H, body_len: u64) -> StreamEncryptor<H> {
        let header_bytes = header.to_bytes();
        StreamEncryptor {
            aad: header.aad(),
            leaves: vec![piece_leaf(&header_bytes)],
            layout: header.layout(),
            header,
            header_bytes,
            body_len,
            next: 0,
        }
    }
    /// The header bytes (the start of the blob).
    pub fn header_bytes(&self) -> &[u8] {
        &self.header_bytes
    }
    /// The header.
    pub fn header(&self) -> &H {
        &self.header
    }
    /// Where the chunks lie.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// Number of chunks in total.
    pub fn chunk_count(&self) -> u64 {
        self.layout.chunk_count()
    }
    /// Index of the next chunk to prepare.
    pub fn next_index(&self) -> u64 {
        self.next
    }
    /// The body byte range `[start, end)` that goes into chunk `i`
    /// (empty for chunks that hold only padding).
    pub fn body_range(&self, i: u64) -> (u64, u64) {
        let cs = self.layout.chunk_size();
        let start = i
            .saturating_mul(cs)
            .saturating_sub(LEN_PREFIX)
            .min(self.body_len);
        let end = i
            .saturating_add(1)
            .saturating_mul(cs)
            .saturating_sub(LEN_PREFIX)
            .min(self.body_len);
        (start, end)
    }
    /// Frames the next chunk without touching body bytes: its job and the
    /// layout of its plaintext (`prefix ‖ body[start..end] ‖ zeros(padding)`),
    /// for a caller that holds the body itself and assembles the plaintext
    /// (a browser hands middle chunks to WebCrypto without a copy).
    /// Chunks are framed and committed in order; several may be framed
    /// before the first of them is committed, so an asynchronous engine can
    /// seal them concurrently.
    pub fn frame(&mut self) -> Result<ChunkFrame> {
        let i = self.next;
        if i >= self.chunk_count() {
            return Err(Error::InvalidState("no chunk left to prepare"));
        }
        let body = self.body_range(i);
        let prefix = (i == 0).then(|| self.body_len.to_be_bytes());
        let plen = self.layout.chunk_plaintext_len(i);
        let padding = plen - (body.1 - body.0) - if i == 0 { LEN_PREFIX } else { 0 };
        let last = i + 1 == self.chunk_count();
        self.next += 1;
        Ok(ChunkFrame {
            job: ChunkJob {
                index: i,
                last,
                nonce: chunk_nonce(i, last),
                aad: self.aad,
            },
            prefix,
            body,
            padding,
        })
    }
    /// Builds the plaintext of the next chunk from exactly the body bytes of
    /// [`body_range`](Self::body_range) and returns the job for an engine
    /// ([`frame`](Self::frame), assembled here).
    pub fn prepare(&mut self, body: &[u8]) -> Result<(ChunkJob, Zeroizing<Vec<u8>>)> {
        if self.next < self.chunk_count() {
            let (start, end) = self.body_range(self.next);
            if body.len() as u64 != end - start {
                return Err(Error::InvalidState(
                    "wrong number of body bytes for this chunk",
                ));
            }
        }
        let frame = self.frame()?;
        let plen = self.layout.chunk_plaintext_len(frame.job.index) as usize;
        let mut pt = Zeroizing::new(Vec::with_capacity(plen));
        pt.extend_from_slice(frame.prefix.as_ref().map_or(&[][..], |p| &p[..]));
        pt.extend_from_slice(body);
        pt.resize(plen, 0);
        Ok((frame.job, pt))
    }
    /// Records the sealed chunk an engine produced for `job`.
    pub fn commit(&mut self, job: &ChunkJob, sealed: &[u8]) -> Result<()> {
        self.commit_digest(job, sealed.len() as u64, &Sha256::digest(sealed).into())
    }
    /// Records a sealed chunk by its length and its SHA-256 digest, taken by
    /// the caller (a browser hashes on WebCrypto, several chunks at once).
    /// A wrong digest yields a chunk root that neither the relay nor any
    /// reader accepts.
    pub fn commit_digest(&mut self, job: &ChunkJob, sealed_len: u64, digest: &Hash) -> Result<()> {
        if job.index + 1 != self.leaves.len() as u64 || job.index >= self.next {
            return Err(Error::InvalidState("chunk committed out of order"));
        }
        if sealed_len != self.layout.sealed_chunk_len(job.index) {
            return Err(Error::InvalidState("sealed chunk has the wrong length"));
        }
        self.leaves.push(leaf_of_digest(digest));
        Ok(())
    }
    /// Prepares, seals with a synchronous engine and commits the next chunk.
    pub fn seal_next(&mut self, engine: &impl ChunkAead, body: &[u8]) -> Result<Vec<u8>> {
        let (job, pt) = self.prepare(body)?;
        let sealed = engine.seal(&job, &pt)?;
        self.commit(&job, &sealed)?;
        Ok(sealed)
    }
    /// Ends the stream once every chunk has been committed.
    pub fn finish(self) -> Result<SealedBody<H>> {
        if self.leaves.len() as u64 != self.chunk_count() + 1 {
            return Err(Error::InvalidState("stream not complete"));
        }
        let index = ChunkIndex {
            leaves: self.leaves,
        };
        Ok(SealedBody {
            chunk_root: index.root(),
            index_id: Sha256::digest(index.to_bytes()).into(),
            header: self.header,
            index,
        })
    }
}

/// Decrypts a blob chunk by chunk; every chunk is checked against the verified
/// chunk index before it is opened, and no byte of an unverified chunk is released.
#[derive(Debug)]
pub struct StreamDecryptor<H: StreamHeader = BlobHeader> {
    header: H,
    layout: Layout,
    aad: Hash,
    index: VerifiedChunkIndex,
    body_len: Option<u64>,
    // Sequential push state.
    pending: Vec<u8>,
    next: u64,
    done: bool,
}

impl<H: StreamHeader> StreamDecryptor<H> {
    /// Starts decrypting a blob whose header is `header`, with the data key
    /// (its commitment is checked here, in constant time) and the verified index.
    pub fn new(header: H, key: &DataKey, index: VerifiedChunkIndex) -> Result<Self> {
        key.check_commitment(header.key_commitment())?;
        if index.0.leaves[0] != piece_leaf(&header.to_bytes()) {
            return Err(Error::ContentMismatch);
        }
        Ok(StreamDecryptor {
            aad: header.aad(),
            layout: header.layout(),
            header,
            index,
            body_len: None,
            pending: Vec::new(),
            next: 0,
            done: false,
        })
    }
    /// The header.
    pub fn header(&self) -> &H {
        &self.header
    }
    /// Where the chunks lie.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// The body length, known once chunk 0 has been opened.
    pub fn body_len(&self) -> Option<u64> {
        self.body_len
    }

    /// Checks sealed chunk `i` against the signed root and returns the job an
    /// engine must run to open it.
    pub fn check(&self, i: u64, sealed: &[u8]) -> Result<ChunkJob> {
        self.check_digest(i, sealed.len() as u64, &Sha256::digest(sealed).into())
    }

    /// [`check`](Self::check) for a sealed chunk given by its length and its
    /// SHA-256 digest, taken by the caller (a browser hashes on WebCrypto).
    /// The caller must open exactly the bytes it hashed.
    pub fn check_digest(&self, i: u64, sealed_len: u64, digest: &Hash) -> Result<ChunkJob> {
        if i >= self.layout.chunk_count() {
            return Err(Error::TrailingData);
        }
        let want = self.layout.sealed_chunk_len(i);
        if sealed_len < want {
            return Err(Error::Truncated);
        }
        if sealed_len > want {
            return Err(Error::TrailingData);
        }
        if leaf_of_digest(digest) != self.index.0.leaves[i as usize + 1] {
            return Err(Error::ContentMismatch);
        }
        let last = i + 1 == self.layout.chunk_count();
        Ok(ChunkJob {
            index: i,
            last,
            nonce: chunk_nonce(i, last),
            aad: self.aad,
        })
    }

    /// Takes the opened plaintext of chunk `job.index` and returns the body bytes
    /// in it (length prefix and padding removed; padding must be zeros).
    /// Chunk 0 must be accepted before any other (it carries the body length).
    pub fn accept(&mut self, job: &ChunkJob, plaintext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let i = job.index;
        if i >= self.layout.chunk_count() {
            return Err(Error::InvalidState("chunk index out of range"));
        }
        if plaintext.len() as u64 != self.layout.chunk_plaintext_len(i) {
            return Err(Error::DecryptionFailed);
        }
        let body_len = match (i, self.body_len) {
            (0, _) => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&plaintext[..8]);
                let len = u64::from_be_bytes(len);
                if len > MAX_BODY_LEN || padme(len + LEN_PREFIX) != self.layout.padded_len {
                    return Err(Error::DecryptionFailed);
                }
                self.body_len = Some(len);
                len
            }
            (_, Some(len)) => len,
            (_, None) => return Err(Error::InvalidState("open chunk 0 first")),
        };
        let cs = self.layout.chunk_size();
        let stream_start = i * cs;
        let body_start_in_stream = LEN_PREFIX;
        let body_end_in_stream = LEN_PREFIX + body_len;
        let from = body_start_in_stream.max(stream_start) - stream_start;
        let to = body_end_in_stream
            .min(stream_start + plaintext.len() as u64)
            .max(stream_start + from)
            - stream_start;
        let (from, to) = (from as usize, to as usize);
        if plaintext[to..].iter().any(|&b| b != 0) {
            return Err(Error::DecryptionFailed);
        }
        Ok(Zeroizing::new(plaintext[from.min(to)..to].to_vec()))
    }

    /// Accepts the opened plaintext of chunk `job.index` by its length alone
    /// when every byte of it is body (not chunk 0, no padding): `true`, and
    /// the caller releases the whole plaintext. `false` when the bytes must
    /// be inspected with [`accept`](Self::accept). Sound because AES-GCM has
    /// already authenticated the bytes; only the length prefix and the
    /// padding need looking at.
    pub fn release(&self, job: &ChunkJob, plaintext_len: u64) -> Result<bool> {
        let i = job.index;
        if i >= self.layout.chunk_count() {
            return Err(Error::InvalidState("chunk index out of range"));
        }
        if plaintext_len != self.layout.chunk_plaintext_len(i) {
            return Err(Error::DecryptionFailed);
        }
        let Some(body_len) = self.body_len else {
            return if i == 0 {
                Ok(false)
            } else {
                Err(Error::InvalidState("open chunk 0 first"))
            };
        };
        let end = i * self.layout.chunk_size() + plaintext_len;
        Ok(i > 0 && end <= LEN_PREFIX + body_len)
    }

    /// Random access: verifies, opens and strips chunk `i` with a synchronous engine.
    pub fn open_chunk(
        &mut self,
        engine: &impl ChunkAead,
        i: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let job = self.check(i, sealed)?;
        let pt = engine.open(&job, sealed)?;
        self.accept(&job, &pt)
    }

    /// Sequential decryption of the bytes after the header, in pieces of any
    /// size; returns the body bytes released so far.
    pub fn push(&mut self, engine: &impl ChunkAead, mut data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(Vec::new());
        while !data.is_empty() {
            if self.next >= self.layout.chunk_count() {
                return Err(Error::TrailingData);
            }
            let need = self.layout.sealed_chunk_len(self.next) as usize - self.pending.len();
            let take = need.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if take == need {
                let sealed = core::mem::take(&mut self.pending);
                let body = self.open_chunk(engine, self.next, &sealed)?;
                out.extend_from_slice(&body);
                self.next += 1;
            }
        }
        Ok(out)
    }

    /// Ends sequential decryption: fails if the final chunk never arrived.
    pub fn finish(&mut self) -> Result<()> {
        if self.done {
            return Err(Error::InvalidState("already finished"));
        }
        if self.next != self.layout.chunk_count() || !self.pending.is_empty() {
            return Err(Error::Truncated);
        }
        self.done = true;
        Ok(())
    }
}

/// Encrypts a whole in-memory body with the `aes-gcm` engine: the blob and
/// what the manifest needs. (Large bodies use [`StreamEncryptor`] directly.)
pub fn encrypt_body(
    capsule: Capsule,
    key: &DataKey,
    ctx: &KeyContext,
    body: &[u8],
    chunk_log2: u8,
) -> Result<(Vec<u8>, SealedBody)> {
    let enc = StreamEncryptor::new(capsule, key, ctx, body.len() as u64, chunk_log2)?;
    seal_all(enc, key, body)
}

pub(crate) fn seal_all<H: StreamHeader>(
    mut enc: StreamEncryptor<H>,
    key: &DataKey,
    body: &[u8],
) -> Result<(Vec<u8>, SealedBody<H>)> {
    let engine = RustAesGcm::new(&key.dek);
    let mut blob = enc.header_bytes().to_vec();
    for i in 0..enc.chunk_count() {
        let (s, e) = enc.body_range(i);
        blob.extend_from_slice(&enc.seal_next(&engine, &body[s as usize..e as usize])?);
    }
    Ok((blob, enc.finish()?))
}

/// Encrypts a whole in-memory body of section `key` at record `version`
/// ([`StreamEncryptor::for_section`], then [`encrypt_body`]): the blob, what
/// the manifest needs, and the body's data key.
pub fn seal_section<R: rand_core::CryptoRng + ?Sized>(
    key: &SectionKey,
    version: u64,
    body: &[u8],
    chunk_log2: u8,
    rng: &mut R,
) -> Result<(Vec<u8>, SealedBody, DataKey)> {
    let (enc, dk) = StreamEncryptor::for_section(key, version, body.len() as u64, chunk_log2, rng)?;
    let (blob, sealed) = seal_all(enc, &dk, body)?;
    Ok((blob, sealed, dk))
}

/// Decrypts a whole in-memory blob against the signed `chunk_root`.
pub fn decrypt_body(blob: &[u8], key: &DataKey, chunk_root: &Hash) -> Result<Zeroizing<Vec<u8>>> {
    let header = BlobHeader::from_prefix(blob)?;
    let index = ChunkIndex::from_blob(blob)?.verify(&header, chunk_root)?;
    let mut dec = StreamDecryptor::new(header, key, index)?;
    let engine = RustAesGcm::new(&key.dek);
    let body = dec.push(&engine, &blob[HEADER_LEN..])?;
    dec.finish()?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_is_monotone_and_bounded() {
        let mut prev = 0;
        for len in 0..5000u64 {
            let p = padme(len);
            assert!(p >= len && p >= prev);
            assert!(
                len < 16 || (p - len) * 100 <= len * 12 + 100,
                "{len} -> {p}"
            );
            prev = p;
        }
        assert_eq!(padme(8), 8);
        assert_eq!(padme(9), 10);
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(
            hex::encode(chunk_nonce(0, false)),
            "000000000000000000000000"
        );
        assert_eq!(
            hex::encode(chunk_nonce(0x0102, true)),
            "000000000000000000010201"
        );
    }
}
