//! Erasure-coded shards of a section blob over independent relays
//! (`docs/protocol.md`, "Sharded placement").
//!
//! What is coded is the section's **payload**: its chunk index followed by
//! the blob without its header (`index ‖ blob[184..]`). The 184-byte blob
//! header, which names the record and section, travels only inside the
//! owner-signed manifest entry, sealed with the shard table under a key of
//! the section version's key schedule ([`Placement`]). Every shard is then
//! pseudorandom bytes to the relay that holds it, under an opaque content
//! address, with a size quantised to whole pieces.
//!
//! The payload is cut into stripes of `k` pieces of `piece_len` bytes
//! (the last stripe zero-filled); a systematic Reed–Solomon code over
//! GF(2^8) (`reed-solomon-erasure`, Vandermonde-derived, the field
//! polynomial `x^8 + x^4 + x^3 + x^2 + 1`, its arithmetic from
//! the log tables of `objects/gf256.rs`) adds `n − k` parity pieces, and
//! shard `i` is its 18-byte header followed by piece `i` of every stripe.
//! Any `k` shards give the payload back. Each shard is addressed like a
//! blob, by the RFC 9162 root over `[header, piece_0, …]`, and a chunk index
//! (kind `0x0b`) of those leaves is stored beside it, so a reader checks
//! every piece against the owner-signed root before decoding it.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::gf256::ReedSolomon;
use crate::attachment::{AttachmentHeader, ATTACHMENT_HEADER_LEN};
use crate::error::{malformed, Error, Result};
use crate::merkle::{self, Hash};
use crate::primitives::codec::{Kind, Reader, Writer, OBJECT_HEADER_LEN};
use crate::secret::SymmetricKey;
use crate::stream::{
    leaf_of_digest, piece_leaf, BlobHeader, ChunkIndex, StreamHeader, HEADER_LEN, TAG_LEN,
};

/// Encoded length of a shard header: object header, `k`, `n`, `i`, `u32`
/// piece length, `u64` stripe count.
pub const SHARD_HEADER_LEN: usize = OBJECT_HEADER_LEN + 3 + 4 + 8;
/// Most shards a section may be cut into.
pub const MAX_SHARDS: u8 = 16;
/// Largest piece (1 MiB).
pub const MAX_PIECE: u32 = 1 << 20;
/// The piece a writer uses for payloads of more than one stripe (256 KiB).
pub const WRITER_PIECE: u32 = 1 << 18;
/// Most stripes a shard may have (a shard of 2^40 pieces is far beyond
/// any blob: this only keeps lengths in range).
const MAX_STRIPES: u64 = 1 << 40;
const OBJ: &str = "shard";
const OBJ_PLACEMENT: &str = "placement";
/// Length of a chunk index's fixed part.
const INDEX_PREFIX_LEN: u64 = OBJECT_HEADER_LEN as u64 + 4;

/// How a section is coded: `k` of `n` shards suffice, pieces of
/// `piece_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardParams {
    /// Shards needed to decode (at least 2, so that no single shard is the data).
    pub k: u8,
    /// Shards written.
    pub n: u8,
    /// Piece length in bytes (1 to 1 MiB).
    pub piece_len: u32,
}

impl ShardParams {
    /// Checks `2 ≤ k < n ≤ 16` and the piece size (`malformed`).
    pub fn new(k: u8, n: u8, piece_len: u32) -> Result<ShardParams> {
        if k < 2 || n <= k || n > MAX_SHARDS {
            return Err(malformed(OBJ, "needs 2 <= k < n <= 16"));
        }
        if piece_len == 0 || piece_len > MAX_PIECE {
            return Err(malformed(OBJ, "piece length must be 1 byte to 1 MiB"));
        }
        Ok(ShardParams { k, n, piece_len })
    }
    /// The parameters a writer picks for a payload: pieces of 256 KiB, or,
    /// for a payload of one stripe or less, `ceil(payload_len / k)` bytes,
    /// so that every data shard holds an equal part of it (a payload is
    /// Padmé-padded already, so this reveals no more than its length).
    pub fn for_payload(k: u8, n: u8, payload_len: u64) -> Result<ShardParams> {
        let per_shard = payload_len.div_ceil(u64::from(k.max(1))).max(1);
        let piece = per_shard.min(u64::from(WRITER_PIECE)) as u32;
        ShardParams::new(k, n, piece)
    }
    /// Piece size in bytes.
    pub fn piece_size(&self) -> u64 {
        u64::from(self.piece_len)
    }
    /// Payload bytes per stripe (`k` pieces).
    pub fn stripe_len(&self) -> u64 {
        u64::from(self.k) * self.piece_size()
    }
    /// Stripes a payload of `payload_len` bytes needs (at least one).
    pub fn stripes(&self, payload_len: u64) -> u64 {
        payload_len.div_ceil(self.stripe_len()).max(1)
    }
    /// Length of every shard of such a payload.
    pub fn shard_len(&self, payload_len: u64) -> u64 {
        SHARD_HEADER_LEN as u64 + self.stripes(payload_len) * self.piece_size()
    }
    fn codec(&self) -> Result<ReedSolomon> {
        ReedSolomon::new(usize::from(self.k), usize::from(self.n - self.k))
            .map_err(|_| malformed(OBJ, "unsupported code"))
    }
}

/// The clear header of one shard (kind `0x23`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// The code.
    pub params: ShardParams,
    /// Which shard (`0 ≤ i < n`; `i < k` hold payload bytes, the rest parity).
    pub index: u8,
    /// Stripes (pieces in this shard).
    pub stripes: u64,
}

impl ShardHeader {
    /// Encodes the 18 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::Shard);
        w.u8(self.params.k)
            .u8(self.params.n)
            .u8(self.index)
            .u32(self.params.piece_len)
            .u64(self.stripes);
        w.finish()
    }
    /// Parses the first [`SHARD_HEADER_LEN`] bytes (the rest is ignored):
    /// `truncated`, the common header rules, `malformed` for a bad code,
    /// index or stripe count.
    pub fn from_prefix(bytes: &[u8]) -> Result<ShardHeader> {
        let prefix = bytes.get(..SHARD_HEADER_LEN).ok_or(Error::Truncated)?;
        let mut r = Reader::object(prefix, Kind::Shard)?;
        let (k, n, index, piece_len) = (r.u8()?, r.u8()?, r.u8()?, r.u32()?);
        let stripes = r.u64()?;
        let params = ShardParams::new(k, n, piece_len)?;
        if index >= n {
            return Err(malformed(OBJ, "shard index not below n"));
        }
        if stripes == 0 || stripes > MAX_STRIPES {
            return Err(malformed(OBJ, "stripe count out of range"));
        }
        Ok(ShardHeader {
            params,
            index,
            stripes,
        })
    }
    /// The shard's total length.
    pub fn shard_len(&self) -> u64 {
        SHARD_HEADER_LEN as u64 + self.stripes * self.params.piece_size()
    }
    /// Byte range `(offset, length)` of piece `j` in the shard.
    pub fn piece_range(&self, j: u64) -> (u64, u64) {
        let s = self.params.piece_size();
        (SHARD_HEADER_LEN as u64 + j * s, s)
    }
}

/// The header of what is sharded: a section blob's (kind `0x01`) or an
/// attachment's (kind `0x12`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacedHeader {
    /// A section body.
    Blob(BlobHeader),
    /// An attachment.
    Attachment(AttachmentHeader),
}

impl PlacedHeader {
    /// Parses either kind from the start of `bytes` (by its kind byte).
    pub fn from_prefix(bytes: &[u8]) -> Result<PlacedHeader> {
        match bytes.get(4) {
            Some(k) if *k == Kind::AttachmentHeader as u8 => Ok(PlacedHeader::Attachment(
                AttachmentHeader::from_prefix(bytes)?,
            )),
            Some(_) => Ok(PlacedHeader::Blob(BlobHeader::from_prefix(bytes)?)),
            None => Err(Error::Truncated),
        }
    }
    /// The header's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PlacedHeader::Blob(h) => h.to_bytes(),
            PlacedHeader::Attachment(h) => h.to_bytes(),
        }
    }
    /// Its encoded length (184 or 111).
    pub fn len(&self) -> usize {
        match self {
            PlacedHeader::Blob(_) => HEADER_LEN,
            PlacedHeader::Attachment(_) => ATTACHMENT_HEADER_LEN,
        }
    }
    /// Never empty (a header has a length); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }
    fn layout(&self) -> crate::stream::Layout {
        match self {
            PlacedHeader::Blob(h) => h.layout(),
            PlacedHeader::Attachment(h) => h.layout(),
        }
    }
    /// The whole blob's length.
    pub fn blob_len(&self) -> u64 {
        self.layout().blob_len()
    }
    /// Length of the chunk index (the start of the payload).
    pub fn index_len(&self) -> u64 {
        INDEX_PREFIX_LEN + 32 * (self.layout().chunk_count() + 1)
    }
    /// Length of the payload: the chunk index, then the blob after its header.
    pub fn payload_len(&self) -> u64 {
        self.index_len() + self.blob_len() - self.len() as u64
    }
}

impl From<BlobHeader> for PlacedHeader {
    fn from(h: BlobHeader) -> PlacedHeader {
        PlacedHeader::Blob(h)
    }
}

/// Length of the chunk index of a blob with header `header` (the start of
/// its payload).
pub fn index_len(header: &BlobHeader) -> u64 {
    PlacedHeader::Blob(header.clone()).index_len()
}

/// Length of the payload of a blob: its chunk index, then the blob after
/// its header.
pub fn payload_len(header: &BlobHeader) -> u64 {
    PlacedHeader::Blob(header.clone()).payload_len()
}

/// One finished shard: its address, and the chunk index stored beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRef {
    /// Merkle root over the shard's header and pieces: its address.
    pub root: Hash,
    /// SHA-256 of its chunk index: the index's address.
    pub index_id: Hash,
}

/// Codes a payload stripe by stripe (owner side). Memory: one stripe, plus
/// 32 bytes per piece for the shard indexes.
pub struct ShardEncoder {
    params: ShardParams,
    stripes: u64,
    payload_len: u64,
    next: u64,
    /// A stripe was coded without its digests ([`ShardEncoder::commit_digests`]).
    uncommitted: bool,
    codec: ReedSolomon,
    leaves: Vec<Vec<Hash>>,
}

impl core::fmt::Debug for ShardEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShardEncoder")
            .field("params", &self.params)
            .field("stripes", &self.stripes)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl ShardEncoder {
    /// An encoder for a payload of exactly `payload_len` bytes.
    pub fn new(params: ShardParams, payload_len: u64) -> Result<ShardEncoder> {
        let stripes = params.stripes(payload_len);
        if stripes > MAX_STRIPES {
            return Err(Error::TooLarge("payload"));
        }
        let headers = (0..params.n).map(|index| ShardHeader {
            params,
            index,
            stripes,
        });
        Ok(ShardEncoder {
            params,
            stripes,
            payload_len,
            next: 0,
            uncommitted: false,
            codec: params.codec()?,
            leaves: headers.map(|h| vec![piece_leaf(&h.to_bytes())]).collect(),
        })
    }
    /// The header of shard `i` (the first bytes of its object).
    pub fn header(&self, i: u8) -> Result<Vec<u8>> {
        if i >= self.params.n {
            return Err(malformed(OBJ, "no such shard"));
        }
        Ok(ShardHeader {
            params: self.params,
            index: i,
            stripes: self.stripes,
        }
        .to_bytes())
    }
    /// Stripes in all.
    pub fn stripes(&self) -> u64 {
        self.stripes
    }
    /// The code.
    pub fn params(&self) -> ShardParams {
        self.params
    }
    /// Bytes of one piece.
    pub fn piece_size(&self) -> u64 {
        self.params.piece_size()
    }
    /// Length of every shard.
    pub fn shard_len(&self) -> u64 {
        SHARD_HEADER_LEN as u64 + self.stripes * self.params.piece_size()
    }
    /// Payload bytes stripe `j` takes (a whole stripe, or what is left).
    pub fn stripe_input_len(&self, j: u64) -> u64 {
        let start = j * self.params.stripe_len();
        self.payload_len
            .saturating_sub(start)
            .min(self.params.stripe_len())
    }
    /// Codes the next stripe from exactly [`Self::stripe_input_len`] payload
    /// bytes: returns the `n` pieces of it, concatenated (piece `i`, for
    /// shard `i`, at `i · piece_size`).
    pub fn encode_stripe(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let out = self.encode_stripe_unhashed(data)?;
        let s = self.params.piece_size() as usize;
        for (leaves, piece) in self.leaves.iter_mut().zip(out.chunks(s)) {
            leaves.push(piece_leaf(piece));
        }
        self.uncommitted = false;
        self.next += 1;
        Ok(out)
    }
    /// [`Self::encode_stripe`] without hashing the pieces: the caller
    /// takes each piece's SHA-256 (a browser, on WebCrypto) and gives the
    /// `n` digests to [`Self::commit_digests`] before the next stripe.
    pub fn encode_stripe_unhashed(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        if self.next >= self.stripes {
            return Err(Error::InvalidState("every stripe is coded"));
        }
        if self.uncommitted {
            return Err(Error::InvalidState(
                "the last stripe's digests are not committed",
            ));
        }
        if data.len() as u64 != self.stripe_input_len(self.next) {
            return Err(malformed(OBJ, "stripe of the wrong length"));
        }
        let s = self.params.piece_size() as usize;
        let mut out = vec![0u8; s * usize::from(self.params.n)];
        out[..data.len()].copy_from_slice(data);
        {
            let mut pieces: Vec<&mut [u8]> = out.chunks_mut(s).collect();
            self.codec
                .encode(&mut pieces)
                .map_err(|_| Error::InvalidState("coding failed"))?;
        }
        self.uncommitted = true;
        Ok(out)
    }
    /// The SHA-256 of each of the last stripe's `n` pieces, concatenated
    /// (`n · 32` bytes), in shard order.
    pub fn commit_digests(&mut self, digests: &[u8]) -> Result<()> {
        if !self.uncommitted {
            return Err(Error::InvalidState("no stripe waits for its digests"));
        }
        if digests.len() != 32 * usize::from(self.params.n) {
            return Err(malformed(OBJ, "one digest per shard"));
        }
        for (leaves, d) in self.leaves.iter_mut().zip(digests.chunks(32)) {
            let d: Hash = d.try_into().map_err(|_| malformed(OBJ, "digest"))?;
            leaves.push(leaf_of_digest(&d));
        }
        self.uncommitted = false;
        self.next += 1;
        Ok(())
    }
    /// Ends the coding: each shard's address and chunk index.
    pub fn finish(self) -> Result<Vec<(ShardRef, ChunkIndex)>> {
        if self.next != self.stripes || self.uncommitted {
            return Err(Error::Truncated);
        }
        Ok(self
            .leaves
            .into_iter()
            .map(|leaves| {
                let index = ChunkIndex::from_leaves(leaves);
                let r = ShardRef {
                    root: index.root(),
                    index_id: Sha256::digest(index.to_bytes()).into(),
                };
                (r, index)
            })
            .collect())
    }
}

/// A shard's chunk index checked against the root the placement names, and
/// against the shard's header; it then checks each piece as it arrives.
#[derive(Clone, Debug)]
pub struct VerifiedShardIndex {
    header: ShardHeader,
    leaves: Vec<Hash>,
}

impl VerifiedShardIndex {
    /// `content_mismatch` unless `index` has one leaf per piece plus the
    /// header's, its first leaf is `header`'s and its root is `root`.
    pub fn new(header: &ShardHeader, index: ChunkIndex, root: &Hash) -> Result<VerifiedShardIndex> {
        let leaves = index.leaves();
        if leaves.len() as u64 != header.stripes + 1
            || leaves[0] != piece_leaf(&header.to_bytes())
            || merkle::root(leaves) != *root
        {
            return Err(Error::ContentMismatch);
        }
        Ok(VerifiedShardIndex {
            header: *header,
            leaves: leaves.to_vec(),
        })
    }
    /// The shard's header.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }
    /// `content_mismatch` unless `piece` is piece `j` of this shard.
    pub fn check(&self, j: u64, piece: &[u8]) -> Result<()> {
        self.check_leaf(j, &piece_leaf(piece))
    }
    /// [`Self::check`] from the piece's SHA-256 (taken by the caller, e.g.
    /// on WebCrypto; the caller then uses exactly the bytes it hashed).
    pub fn check_digest(&self, j: u64, digest: &Hash) -> Result<()> {
        self.check_leaf(j, &leaf_of_digest(digest))
    }
    fn check_leaf(&self, j: u64, leaf: &Hash) -> Result<()> {
        let ok = usize::try_from(j + 1)
            .ok()
            .and_then(|i| self.leaves.get(i))
            .is_some_and(|l| l == leaf);
        if ok {
            Ok(())
        } else {
            Err(Error::ContentMismatch)
        }
    }
}

/// Decodes a payload stripe by stripe from any `k` verified pieces of each.
pub struct ShardDecoder {
    params: ShardParams,
    stripes: u64,
    payload_len: u64,
    next: u64,
    codec: ReedSolomon,
}

impl core::fmt::Debug for ShardDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShardDecoder")
            .field("params", &self.params)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl ShardDecoder {
    /// A decoder for a payload of exactly `payload_len` bytes.
    pub fn new(params: ShardParams, payload_len: u64) -> Result<ShardDecoder> {
        Ok(ShardDecoder {
            stripes: params.stripes(payload_len),
            params,
            payload_len,
            next: 0,
            codec: params.codec()?,
        })
    }
    /// Stripes in all.
    pub fn stripes(&self) -> u64 {
        self.stripes
    }
    /// The next stripe's payload bytes from its pieces: `pieces[i]` is shard
    /// `i`'s piece or `None`; at least `k` must be present (`truncated`),
    /// each exactly one piece long (`malformed`). The caller has checked each
    /// against its shard's verified index.
    pub fn decode_stripe(&mut self, pieces: &mut [Option<Vec<u8>>]) -> Result<Vec<u8>> {
        if self.next >= self.stripes {
            return Err(Error::InvalidState("every stripe is decoded"));
        }
        let s = self.params.piece_size() as usize;
        if pieces.len() != usize::from(self.params.n) {
            return Err(malformed(OBJ, "one slot per shard"));
        }
        if pieces.iter().flatten().any(|p| p.len() != s) {
            return Err(malformed(OBJ, "a piece of the wrong length"));
        }
        if pieces.iter().flatten().count() < usize::from(self.params.k) {
            return Err(Error::Truncated);
        }
        self.codec
            .reconstruct_data(pieces)
            .map_err(|_| Error::Truncated)?;
        let start = self.next * self.params.stripe_len();
        let want = (self.payload_len - start).min(self.params.stripe_len()) as usize;
        let mut out = Vec::with_capacity(want);
        for p in pieces.iter().take(usize::from(self.params.k)).flatten() {
            let take = (want - out.len()).min(s);
            out.extend_from_slice(&p[..take]);
        }
        if out.len() != want {
            return Err(Error::Truncated);
        }
        self.next += 1;
        Ok(out)
    }
}

impl ShardDecoder {
    /// Passes over the next `count` stripes, which the caller assembled
    /// itself from the data shards' checked pieces (the code is
    /// systematic: with shards `0..k` all present, a stripe's payload is
    /// their pieces in turn, cut to its length). Keeps a later
    /// [`Self::decode_window`] at the right stripe.
    pub fn skip(&mut self, count: u64) -> Result<()> {
        if count > self.stripes - self.next.min(self.stripes) {
            return Err(Error::InvalidState("past the last stripe"));
        }
        self.next += count;
        Ok(())
    }

    /// The payload bytes of the next `count` stripes from each shard's
    /// `count` consecutive pieces (`shards[i]`: `count · piece_size` bytes of
    /// shard `i`, or `None`), at least `k` present and each piece checked by
    /// the caller. When every data shard is present this is a copy: the
    /// code is systematic.
    pub fn decode_window(&mut self, count: u64, shards: &[Option<&[u8]>]) -> Result<Vec<u8>> {
        let s = self.params.piece_size() as usize;
        let k = usize::from(self.params.k);
        let n = usize::try_from(count).map_err(|_| Error::TooLarge("window"))?;
        if shards.len() != usize::from(self.params.n) {
            return Err(malformed(OBJ, "one slot per shard"));
        }
        if shards.iter().flatten().any(|b| b.len() != n * s) {
            return Err(malformed(OBJ, "a window of the wrong length"));
        }
        if count > self.stripes - self.next.min(self.stripes) {
            return Err(Error::InvalidState("past the last stripe"));
        }
        let mut out = Vec::with_capacity(n * k * s);
        for j in 0..n {
            let piece = |i: usize| shards[i].map(|b| &b[j * s..(j + 1) * s]);
            if (0..k).all(|i| shards[i].is_some()) {
                let start = self.next * self.params.stripe_len();
                let want = (self.payload_len - start).min(self.params.stripe_len()) as usize;
                let mut left = want;
                for i in 0..k {
                    let p = piece(i).ok_or(Error::Truncated)?;
                    let take = left.min(s);
                    out.extend_from_slice(&p[..take]);
                    left -= take;
                }
                self.next += 1;
            } else {
                let mut slots: Vec<Option<Vec<u8>>> = (0..shards.len())
                    .map(|i| piece(i).map(<[u8]>::to_vec))
                    .collect();
                out.extend(self.decode_stripe(&mut slots)?);
            }
        }
        Ok(out)
    }
}

/// What a sharded manifest entry seals: the code, the blob header, each
/// shard's address and index address, and (format 2) which relays of the
/// pool may ever hold which shards (kind `0x24` in clear, inside the AEAD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The code.
    pub params: ShardParams,
    /// The blob's header (kept off every relay's shards).
    pub header: PlacedHeader,
    /// Shard `i`'s address and index address.
    pub shards: Vec<ShardRef>,
    /// Format 2: every relay of the pool at write time and the shards it
    /// may ever hold, by ascending tag; `None` in a format-1 placement
    /// (written before the pool was recorded).
    pub slots: Option<Vec<Slot>>,
}

/// One relay of the pool a placement was written for, and the shards it
/// may ever hold: what it was sent, or for a relay sent nothing, the
/// shards it may take in a repair. Fewer than `k` shards each, so no relay
/// can ever be given `k` of them, whatever it claims to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The relay's [`relay_tag`].
    pub relay: Hash,
    /// Bit `i`: it may hold shard `i`.
    pub shards: u16,
}

/// The placement format with [`Slot`]s.
const WITH_SLOTS: u8 = 2;
/// Most relays a placement records (the placement pool's bound).
pub const MAX_SLOTS: usize = 64;
const SLOT_LEN: usize = 32 + 2;

/// The tag that names a relay in a placement: SHA-256 of
/// `"SeSPHR-v1/relay" ‖ 0x00 ‖` its base URL (as the client's pool lists
/// it: scheme, host, port, path, no trailing slash).
pub fn relay_tag(base_url: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(b"SeSPHR-v1/relay\x00");
    h.update(base_url.trim_end_matches('/').as_bytes());
    h.finalize().into()
}

/// `malformed` unless `slots` is a pool's record for a `k`-of-`n` code:
/// `n` to 64 relays, tags strictly ascending, each relay fewer than `k`
/// shards and at least one, every shard some relay's.
fn check_slots(params: &ShardParams, slots: &[Slot]) -> Result<()> {
    let bad = |why| Err(malformed(OBJ_PLACEMENT, why));
    if slots.len() < usize::from(params.n) || slots.len() > MAX_SLOTS {
        return bad("a pool has from n to 64 relays");
    }
    if slots.windows(2).any(|w| w[0].relay >= w[1].relay) {
        return bad("relay tags not strictly ascending");
    }
    let all = (1u32 << params.n) - 1;
    let mut union = 0u32;
    for s in slots {
        let m = u32::from(s.shards);
        if m == 0 || m & !all != 0 || m.count_ones() >= u32::from(params.k) {
            return bad("a relay's shards are none, unknown, or k or more");
        }
        union |= m;
    }
    if union != all {
        return bad("a shard no relay may hold");
    }
    Ok(())
}

/// The manifest entry fields a placement is bound to (its AAD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryBinding {
    /// The blob's chunk root.
    pub chunk_root: Hash,
    /// The blob's length.
    pub blob_len: u64,
    /// The blob's chunk index address.
    pub index_id: Hash,
}

impl EntryBinding {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(72);
        aad.extend_from_slice(&self.chunk_root);
        aad.extend_from_slice(&self.blob_len.to_be_bytes());
        aad.extend_from_slice(&self.index_id);
        aad
    }
}

/// Longest sealed placement (a section blob's header, 16 shards, a pool of
/// 64 relays).
pub const MAX_SEALED_PLACEMENT: usize = OBJECT_HEADER_LEN
    + 6
    + HEADER_LEN
    + 64 * MAX_SHARDS as usize
    + 1
    + SLOT_LEN * MAX_SLOTS
    + TAG_LEN;

/// What the opener knows the sharded stream's header must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A section body of this manifest entry.
    Section(ExpectedHeader),
    /// An attachment of this record's section.
    Attachment {
        /// The record.
        record: crate::record::RecordId,
        /// The section whose document lists it.
        section: crate::record::SectionId,
    },
}

impl Placement {
    /// The clear encoding (kind `0x24`; format 2 with slots, else 1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let format = if self.slots.is_some() { WITH_SLOTS } else { 1 };
        let mut w = Writer::object_version(Kind::Placement, format);
        w.u8(self.params.k)
            .u8(self.params.n)
            .u32(self.params.piece_len)
            .raw(&self.header.to_bytes());
        for s in &self.shards {
            w.raw(&s.root).raw(&s.index_id);
        }
        if let Some(slots) = &self.slots {
            // At most 64 (check_slots, before any seal).
            w.u8(slots.len().min(MAX_SLOTS) as u8);
            for s in slots {
                w.raw(&s.relay).raw(&s.shards.to_be_bytes());
            }
        }
        w.finish()
    }
    fn from_bytes(bytes: &[u8]) -> Result<Placement> {
        let (mut r, format) = Reader::object_versions(bytes, Kind::Placement, WITH_SLOTS)?;
        let params = ShardParams::new(r.u8()?, r.u8()?, r.u32()?)?;
        // The header's own kind byte says its length.
        let kind = bytes.get(OBJECT_HEADER_LEN + 6 + 4);
        let len = if kind == Some(&(Kind::AttachmentHeader as u8)) {
            ATTACHMENT_HEADER_LEN
        } else {
            HEADER_LEN
        };
        let header = PlacedHeader::from_prefix(r.take(len)?)?;
        let mut shards = Vec::with_capacity(usize::from(params.n));
        for _ in 0..params.n {
            shards.push(ShardRef {
                root: r.array()?,
                index_id: r.array()?,
            });
        }
        let slots = if format == WITH_SLOTS {
            let m = usize::from(r.u8()?);
            let mut slots = Vec::with_capacity(m);
            for _ in 0..m {
                slots.push(Slot {
                    relay: r.array()?,
                    shards: u16::from_be_bytes(r.array()?),
                });
            }
            check_slots(&params, &slots)?;
            Some(slots)
        } else {
            None
        };
        r.finish()?;
        Ok(Placement {
            params,
            header,
            shards,
            slots,
        })
    }
    /// For each relay of `pool` (by [`relay_tag`]), the shards a reader or
    /// a survey asks it for: those its slot lists, or every shard for a
    /// relay the placement does not name (renamed, or a format-1 placement).
    pub fn asks(&self, pool: &[Hash]) -> Vec<u16> {
        let all = ((1u32 << self.params.n) - 1) as u16;
        pool.iter().map(|t| self.slot(t).unwrap_or(all)).collect()
    }
    /// For each relay of `pool`, the shards a repair may give it: its
    /// slot's, none for a relay the placement does not name; `None` for a
    /// format-1 placement (no record: the survey's counting alone).
    pub fn allowed(&self, pool: &[Hash]) -> Option<Vec<u16>> {
        self.slots.as_ref()?;
        Some(pool.iter().map(|t| self.slot(t).unwrap_or(0)).collect())
    }
    fn slot(&self, tag: &Hash) -> Option<u16> {
        let slots = self.slots.as_ref()?;
        let at = slots.binary_search_by(|s| s.relay.cmp(tag)).ok()?;
        Some(slots[at].shards)
    }
    /// Length of the payload the shards code.
    pub fn payload_len(&self) -> u64 {
        self.header.payload_len()
    }
    /// Shard `i`'s header.
    pub fn shard_header(&self, i: u8) -> ShardHeader {
        ShardHeader {
            params: self.params,
            index: i,
            stripes: self.params.stripes(self.payload_len()),
        }
    }
    /// Seals the placement for the manifest entry `binding` under the
    /// section version's placement key: AES-256-GCM, a zero nonce (the key
    /// is used for this one message: it comes from this version's fresh
    /// capsule), the entry's chunk root, blob length and index address as
    /// AAD. Output: ciphertext ‖ tag.
    pub fn seal(&self, key: &SymmetricKey, binding: &EntryBinding) -> Result<Vec<u8>> {
        if self.shards.len() != usize::from(self.params.n) {
            return Err(malformed(OBJ_PLACEMENT, "one address per shard"));
        }
        if let Some(slots) = &self.slots {
            check_slots(&self.params, slots)?;
        }
        let mut buf = Zeroizing::new(self.to_bytes());
        let tag = cipher(key)
            .encrypt_inout_detached(
                &Nonce::from([0u8; 12]),
                &binding.aad(),
                buf.as_mut_slice().into(),
            )
            .map_err(|_| Error::TooLarge(OBJ_PLACEMENT))?;
        let mut out = buf.to_vec();
        out.extend_from_slice(&tag);
        Ok(out)
    }
    /// Opens a sealed placement of the entry `binding`, and checks the blob
    /// header it carries against the entry: `decryption_failed` for any
    /// other key, entry or bytes, `malformed` for a bad inner encoding,
    /// `binding_mismatch` for a header of another blob.
    pub fn open(
        key: &SymmetricKey,
        binding: &EntryBinding,
        expect: &Expected,
        sealed: &[u8],
    ) -> Result<Placement> {
        if sealed.len() < TAG_LEN || sealed.len() > MAX_SEALED_PLACEMENT {
            return Err(Error::DecryptionFailed);
        }
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::DecryptionFailed)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        cipher(key)
            .decrypt_inout_detached(
                &Nonce::from([0u8; 12]),
                &binding.aad(),
                buf.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| Error::DecryptionFailed)?;
        let p = Placement::from_bytes(&buf)?;
        let fits = match (&p.header, expect) {
            (PlacedHeader::Blob(h), Expected::Section(e)) => {
                h.section == e.section
                    && h.epoch == e.epoch
                    && h.version == e.version
                    && h.capsule == e.capsule
            }
            (PlacedHeader::Attachment(h), Expected::Attachment { record, section }) => {
                h.record == *record && h.section == *section
            }
            _ => false,
        };
        if !fits || p.header.blob_len() != binding.blob_len {
            return Err(Error::BindingMismatch(
                "the placement's header is another blob's",
            ));
        }
        Ok(p)
    }
}

/// What a manifest entry says the blob header must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedHeader {
    /// The section.
    pub section: crate::record::SectionId,
    /// Its epoch.
    pub epoch: crate::record::EpochId,
    /// The version it was written at.
    pub version: u64,
    /// Its capsule.
    pub capsule: crate::capsule::Capsule,
}

fn cipher(key: &SymmetricKey) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.expose()))
}

/// The payload of a blob held in memory (tests, the native client):
/// `index ‖ blob[header..]`.
pub fn payload_of(blob: &[u8], index: &ChunkIndex) -> Result<Vec<u8>> {
    let header = PlacedHeader::from_prefix(blob)?;
    let body = blob.get(header.len()..).ok_or(Error::Truncated)?;
    let mut out = index.to_bytes();
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits a decoded payload back into the blob's chunk index and its body
/// after the header, for a blob with header `header`.
pub fn split_payload<'a>(
    header: &PlacedHeader,
    payload: &'a [u8],
) -> Result<(ChunkIndex, &'a [u8])> {
    let index_len = usize::try_from(header.index_len()).map_err(|_| Error::TooLarge("payload"))?;
    if payload.len() as u64 != header.payload_len() {
        return Err(malformed(OBJ, "payload of the wrong length"));
    }
    let (index, body) = payload.split_at(index_len);
    Ok((ChunkIndex::from_bytes(index)?, body))
}

/// `malformed` unless shard `i` goes to relay `plan[i]` with no relay given
/// `k` or more shards of the section (and `plan` names `n` relays).
pub fn check_plan(params: &ShardParams, plan: &[usize]) -> Result<()> {
    if plan.len() != usize::from(params.n) {
        return Err(malformed(OBJ_PLACEMENT, "one relay per shard"));
    }
    let mut counts = std::collections::BTreeMap::new();
    for r in plan {
        let c = counts.entry(*r).or_insert(0u8);
        *c += 1;
        if *c >= params.k {
            return Err(malformed(
                OBJ_PLACEMENT,
                "a relay would hold k or more shards of one section",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capsule::Capsule;
    use crate::primitives::Point;
    use crate::record::{EpochId, RecordId, SectionId};
    #[cfg(not(target_arch = "wasm32"))]
    use proptest::prelude::*;

    fn header(padded_len: u64, chunk_log2: u8) -> BlobHeader {
        BlobHeader {
            chunk_log2,
            record: RecordId([1; 32]),
            section: SectionId([2; 32]),
            epoch: EpochId([3; 32]),
            version: 4,
            capsule: Capsule(Point::generator()),
            key_commitment: [5; 32],
            padded_len,
        }
    }

    fn code(params: ShardParams, payload: &[u8]) -> (Vec<Vec<u8>>, Vec<(ShardRef, ChunkIndex)>) {
        let mut enc = ShardEncoder::new(params, payload.len() as u64).unwrap();
        let mut shards: Vec<Vec<u8>> = (0..params.n).map(|i| enc.header(i).unwrap()).collect();
        let mut at = 0usize;
        for j in 0..enc.stripes() {
            let len = enc.stripe_input_len(j) as usize;
            let out = enc.encode_stripe(&payload[at..at + len]).unwrap();
            at += len;
            for (i, piece) in out.chunks(params.piece_size() as usize).enumerate() {
                shards[i].extend_from_slice(piece);
            }
        }
        assert!(enc.encode_stripe(&[]).is_err(), "no stripe past the end");
        (shards, enc.finish().unwrap())
    }

    fn decode(
        params: ShardParams,
        payload_len: usize,
        shards: &[Option<Vec<u8>>],
    ) -> Result<Vec<u8>> {
        let mut dec = ShardDecoder::new(params, payload_len as u64)?;
        let s = params.piece_size() as usize;
        let mut out = Vec::new();
        for j in 0..dec.stripes() as usize {
            let mut pieces: Vec<Option<Vec<u8>>> = shards
                .iter()
                .map(|sh| {
                    sh.as_ref().map(|b| {
                        b[SHARD_HEADER_LEN + j * s..SHARD_HEADER_LEN + (j + 1) * s].to_vec()
                    })
                })
                .collect();
            out.extend(dec.decode_stripe(&mut pieces)?);
        }
        Ok(out)
    }

    #[test]
    fn any_k_shards_give_the_payload_back_and_each_is_addressed_by_its_root() {
        let params = ShardParams::new(2, 3, 1024).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let payload: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (shards, refs) = code(params, &payload);
        for (shard, (r, index)) in shards.iter().zip(&refs) {
            assert_eq!(shard.len() as u64, params.shard_len(payload.len() as u64));
            assert_eq!(crate::content::object_id(shard).unwrap(), r.root);
            assert_eq!(Sha256::digest(index.to_bytes()).as_slice(), r.index_id);
            let h = ShardHeader::from_prefix(shard).unwrap();
            let v = VerifiedShardIndex::new(&h, index.clone(), &r.root).unwrap();
            let (at, len) = h.piece_range(1);
            v.check(1, &shard[at as usize..(at + len) as usize])
                .unwrap();
            assert_eq!(
                v.check(0, &shard[at as usize..(at + len) as usize])
                    .unwrap_err()
                    .code(),
                "content_mismatch"
            );
        }
        for missing in 0..3 {
            let some: Vec<Option<Vec<u8>>> = (0..3)
                .map(|i| (i != missing).then(|| shards[i].clone()))
                .collect();
            assert_eq!(decode(params, payload.len(), &some).unwrap(), payload);
        }
        let one: Vec<Option<Vec<u8>>> = vec![Some(shards[0].clone()), None, None];
        assert_eq!(
            decode(params, payload.len(), &one).unwrap_err().code(),
            "truncated"
        );
    }

    #[test]
    fn digests_from_elsewhere_and_whole_windows_give_the_same_shards_and_payload() {
        let params = ShardParams::new(2, 3, 1024).unwrap();
        let payload: Vec<u8> = (0..7000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let (shards, refs) = code(params, &payload);
        let mut enc = ShardEncoder::new(params, payload.len() as u64).unwrap();
        let mut at = 0;
        for j in 0..enc.stripes() {
            let len = enc.stripe_input_len(j) as usize;
            let out = enc.encode_stripe_unhashed(&payload[at..at + len]).unwrap();
            assert!(
                enc.encode_stripe_unhashed(&payload[at..at + len]).is_err(),
                "digests first"
            );
            at += len;
            let digests: Vec<u8> = out
                .chunks(1024)
                .flat_map(|p| Sha256::digest(p).to_vec())
                .collect();
            enc.commit_digests(&digests).unwrap();
        }
        assert_eq!(enc.finish().unwrap(), refs);
        // Whole windows, with every data shard and with shard 0 missing.
        for missing in [None, Some(0usize)] {
            let mut dec = ShardDecoder::new(params, payload.len() as u64).unwrap();
            let body = |i: usize| &shards[i][SHARD_HEADER_LEN..];
            let w: Vec<Option<&[u8]>> = (0..3)
                .map(|i| (Some(i) != missing).then(|| body(i)))
                .collect();
            let out = dec.decode_window(dec.stripes(), &w).unwrap();
            assert_eq!(out, payload);
        }
        let h = ShardHeader::from_prefix(&shards[1]).unwrap();
        let v = VerifiedShardIndex::new(&h, refs[1].1.clone(), &refs[1].0.root).unwrap();
        let p = &shards[1][SHARD_HEADER_LEN..SHARD_HEADER_LEN + 1024];
        v.check_digest(0, &Sha256::digest(p).into()).unwrap();
        assert!(v.check_digest(1, &Sha256::digest(p).into()).is_err());
    }

    #[test]
    fn an_index_of_another_shard_or_root_is_refused() {
        let params = ShardParams::new(2, 4, 1024).unwrap();
        let (shards, refs) = code(params, &[9u8; 3000]);
        let h0 = ShardHeader::from_prefix(&shards[0]).unwrap();
        assert!(VerifiedShardIndex::new(&h0, refs[1].1.clone(), &refs[1].0.root).is_err());
        assert!(VerifiedShardIndex::new(&h0, refs[0].1.clone(), &refs[1].0.root).is_err());
        assert!(VerifiedShardIndex::new(&h0, refs[0].1.clone(), &refs[0].0.root).is_ok());
    }

    #[test]
    fn parameters_and_headers_are_checked() {
        assert!(
            ShardParams::new(1, 3, 4096).is_err(),
            "k = 1 would be a copy"
        );
        assert!(ShardParams::new(3, 3, 4096).is_err());
        assert!(ShardParams::new(2, 17, 4096).is_err());
        assert!(ShardParams::new(2, 3, 0).is_err());
        assert!(ShardParams::new(2, 3, MAX_PIECE + 1).is_err());
        let p = ShardParams::for_payload(2, 3, 101).unwrap();
        assert_eq!(
            p.piece_len, 51,
            "a small payload is split evenly over the data shards"
        );
        assert_eq!(
            ShardParams::for_payload(3, 5, 3000).unwrap().piece_len,
            1000
        );
        assert_eq!(
            ShardParams::for_payload(2, 3, 1 << 30).unwrap().piece_len,
            WRITER_PIECE
        );
        let h = ShardHeader {
            params: p,
            index: 2,
            stripes: 1,
        };
        let b = h.to_bytes();
        assert_eq!(b.len(), SHARD_HEADER_LEN);
        assert_eq!(ShardHeader::from_prefix(&b).unwrap(), h);
        let mut bad = b.clone();
        bad[8] = 3; // i = n
        let mut none = b.clone();
        none[9..13].copy_from_slice(&0u32.to_be_bytes());
        assert!(ShardHeader::from_prefix(&none).is_err(), "an empty piece");
        assert_eq!(
            ShardHeader::from_prefix(&bad).unwrap_err().code(),
            "malformed"
        );
        let mut zero = b.clone();
        zero[13..21].copy_from_slice(&0u64.to_be_bytes());
        assert!(ShardHeader::from_prefix(&zero).is_err());
        assert_eq!(
            ShardHeader::from_prefix(&b[..20]).unwrap_err().code(),
            "truncated"
        );
    }

    #[test]
    fn a_writer_spreads_even_a_small_payload_over_every_data_shard() {
        for len in [74u64, 300, 1000, 5000, 700_000] {
            for (k, n) in [(2u8, 3u8), (3, 5)] {
                let p = ShardParams::for_payload(k, n, len).unwrap();
                // The last data shard's first piece holds payload bytes.
                assert!(
                    u64::from(k - 1) * p.piece_size() < len,
                    "len {len} k {k}: a data shard of zeros"
                );
            }
        }
    }

    #[test]
    fn plans_keep_every_relay_below_k() {
        let p = ShardParams::new(2, 3, 4096).unwrap();
        check_plan(&p, &[0, 1, 2]).unwrap();
        assert!(check_plan(&p, &[0, 1, 0]).is_err());
        assert!(check_plan(&p, &[0, 1]).is_err());
        let p = ShardParams::new(3, 5, 4096).unwrap();
        check_plan(&p, &[0, 0, 1, 1, 2]).unwrap();
        assert!(check_plan(&p, &[0, 0, 0, 1, 2]).is_err());
    }

    /// A 3-shard placement of `h` with made-up shard addresses.
    fn placement(params: ShardParams, h: &BlobHeader, slots: Option<Vec<Slot>>) -> Placement {
        Placement {
            params,
            header: h.clone().into(),
            shards: (0..3u8)
                .map(|i| ShardRef {
                    root: [i; 32],
                    index_id: [i + 10; 32],
                })
                .collect(),
            slots,
        }
    }

    #[test]
    fn a_placement_opens_only_under_its_key_and_entry() {
        let h = header(crate::stream::padme(8 + 5000), 14);
        let params = ShardParams::for_payload(2, 3, payload_len(&h)).unwrap();
        let p = placement(params, &h, None);
        let key = SymmetricKey::from_bytes([7; 32]);
        let binding = EntryBinding {
            chunk_root: [1; 32],
            blob_len: h.blob_len(),
            index_id: [2; 32],
        };
        let expect = Expected::Section(ExpectedHeader {
            section: h.section,
            epoch: h.epoch,
            version: h.version,
            capsule: h.capsule,
        });
        let sealed = p.seal(&key, &binding).unwrap();
        assert_eq!(
            Placement::open(&key, &binding, &expect, &sealed).unwrap(),
            p
        );
        let other = SymmetricKey::from_bytes([8; 32]);
        assert_eq!(
            Placement::open(&other, &binding, &expect, &sealed)
                .unwrap_err()
                .code(),
            "decryption_failed"
        );
        let moved = EntryBinding {
            chunk_root: [9; 32],
            ..binding
        };
        assert_eq!(
            Placement::open(&key, &moved, &expect, &sealed)
                .unwrap_err()
                .code(),
            "decryption_failed"
        );
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(Placement::open(&key, &binding, &expect, &flipped).is_err());
        let Expected::Section(e) = expect else {
            unreachable!()
        };
        let later = Expected::Section(ExpectedHeader { version: 5, ..e });
        let elsewhere = Expected::Attachment {
            record: h.record,
            section: h.section,
        };
        assert_eq!(
            Placement::open(&key, &binding, &elsewhere, &sealed)
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert_eq!(
            Placement::open(&key, &binding, &later, &sealed)
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        assert!(Placement::open(&key, &binding, &expect, &[]).is_err());
    }

    #[test]
    fn a_placement_records_the_pool_and_refuses_a_bad_record() {
        let h = header(crate::stream::padme(8 + 5000), 14);
        let params = ShardParams::for_payload(2, 3, payload_len(&h)).unwrap();
        let mut tags: Vec<Hash> = ["http://a", "http://b", "http://c", "http://d"]
            .iter()
            .map(|u| relay_tag(u))
            .collect();
        assert_eq!(relay_tag("http://a/"), tags[0], "no trailing slash");
        tags.sort_unstable();
        let slots: Vec<Slot> = tags
            .iter()
            .zip([0b001u16, 0b010, 0b100, 0b001])
            .map(|(t, shards)| Slot { relay: *t, shards })
            .collect();
        let p = placement(params, &h, Some(slots.clone()));
        let bytes = p.to_bytes();
        assert_eq!(bytes[5], 2, "format 2");
        assert_eq!(bytes.len(), 196 + 64 * 3 + 1 + 34 * 4);
        assert_eq!(Placement::from_bytes(&bytes).unwrap(), p);
        let unknown = relay_tag("http://e");
        let pool = [tags[3], unknown, tags[0]];
        assert_eq!(p.asks(&pool), vec![0b001, 0b111, 0b001]);
        assert_eq!(p.allowed(&pool), Some(vec![0b001, 0, 0b001]));
        let legacy = Placement {
            slots: None,
            ..p.clone()
        };
        assert_eq!(legacy.asks(&pool), vec![0b111; 3]);
        assert_eq!(legacy.allowed(&pool), None);
        assert_eq!(Placement::from_bytes(&legacy.to_bytes()).unwrap(), legacy);
        let key = SymmetricKey::from_bytes([7; 32]);
        let binding = EntryBinding {
            chunk_root: [1; 32],
            blob_len: h.blob_len(),
            index_id: [2; 32],
        };
        let with = |at: usize, shards: u16| {
            let mut s = slots.clone();
            s[at].shards = shards;
            s
        };
        for (why, bad) in [
            ("k shards", with(3, 0b011)),
            ("no shards", with(3, 0)),
            ("no such shard", with(3, 0b1000)),
            ("shard 2 nowhere", with(2, 0b001)),
            ("unsorted", {
                let mut s = slots.clone();
                s.swap(0, 1);
                s
            }),
            ("fewer than n", slots[..2].to_vec()),
        ] {
            let q = Placement {
                slots: Some(bad),
                ..p.clone()
            };
            assert_eq!(
                q.seal(&key, &binding).unwrap_err().code(),
                "malformed",
                "{why}"
            );
            assert_eq!(
                Placement::from_bytes(&q.to_bytes()).unwrap_err().code(),
                "malformed",
                "{why}"
            );
        }
        let mut short = bytes.clone();
        short.pop();
        assert!(Placement::from_bytes(&short).is_err());
        let mut long = bytes;
        long.push(0);
        assert!(Placement::from_bytes(&long).is_err());
    }

    #[test]
    fn the_payload_splits_back_into_index_and_body() {
        let h = header(crate::stream::padme(8 + 70_000), 14);
        let layout = crate::stream::StreamHeader::layout(&h);
        let mut blob = h.to_bytes();
        blob.resize(layout.blob_len() as usize, 0x42);
        let index = ChunkIndex::from_blob(&blob).unwrap();
        let payload = payload_of(&blob, &index).unwrap();
        assert_eq!(payload.len() as u64, payload_len(&h));
        let ph = PlacedHeader::from(h.clone());
        let (i2, body) = split_payload(&ph, &payload).unwrap();
        assert_eq!(i2, index);
        assert_eq!(body, &blob[HEADER_LEN..]);
        assert!(split_payload(&ph, &payload[1..]).is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn coding_round_trips_from_any_k_of_n(
            len in 1usize..20_000,
            k in 2u8..5,
            extra in 1u8..4,
            piece in 1u32..3000,
            seed in any::<u64>(),
        ) {
            let params = ShardParams::new(k, k + extra, piece).unwrap();
            let payload: Vec<u8> = (0..len).map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8).collect();
            let (shards, _) = code(params, &payload);
            // Drop `extra` shards chosen by the seed.
            let mut present: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
            let mut dropped = 0;
            let mut i = (seed % u64::from(k + extra)) as usize;
            while dropped < extra {
                if present[i].is_some() { present[i] = None; dropped += 1; }
                i = (i + 1) % present.len();
            }
            prop_assert_eq!(decode(params, len, &present).unwrap(), payload);
        }
    }
}
