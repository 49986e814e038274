//! Content addresses of the two objects the relay stores (`/v1/blobs/{id}`).
//!
//! - A **section blob** (it starts with a kind `0x01` header) is addressed by
//!   its `chunk_root`: the RFC 9162 Merkle root over the header and its sealed
//!   chunks. The owner computes it from per-chunk leaf hashes (which a browser
//!   can take on WebCrypto, chunk by chunk, in parallel), and the relay
//!   recomputes it as the body streams in.
//! - An **attachment blob** (kind `0x12` header, [`crate::attachment`]) is
//!   addressed the same way, by its own chunk root.
//! - A **shard** (kind `0x23` header, [`crate::shard`]) is addressed by the
//!   root over its header and its equal pieces.
//! - A **chunk index** (kind `0x0b`) is addressed by the SHA-256 of its bytes.
//!
//! The relay accepts nothing else. Because every accepted object starts with
//! the brand `SPHR`, a plain SHA-256 address can never collide with a Merkle
//! node (`0x01 ‖ …`) or leaf (`0x00 ‖ …`) hash input, so no index can squat a
//! blob's address or the other way round.

use sha2::{Digest, Sha256};

use crate::attachment::{AttachmentHeader, ATTACHMENT_HEADER_LEN};
use crate::error::{malformed, Error, Result};
use crate::merkle::{Frontier, Hash};
use crate::primitives::codec::{Kind, Reader, OBJECT_HEADER_LEN};
use crate::shard::{ShardHeader, SHARD_HEADER_LEN};
use crate::stream::{leaf_of_digest, piece_leaf, BlobHeader, Layout, StreamHeader, HEADER_LEN};

/// Encoded length of a chunk index's fixed part (object header + leaf count).
const INDEX_PREFIX_LEN: usize = OBJECT_HEADER_LEN + 4;

/// Which object an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// An encrypted section blob, addressed by its chunk root.
    Blob,
    /// An encrypted attachment blob, addressed by its chunk root.
    Attachment,
    /// A chunk index, addressed by SHA-256.
    ChunkIndex,
    /// An erasure-coded shard ([`crate::shard`]), addressed by its root.
    Shard,
}

/// Computes the address of an object of a declared length as its bytes
/// stream in, in pieces of any size, with O(log n) memory. It fails as
/// early as the bytes allow: an unknown kind or a header whose length
/// disagrees with the declared one is refused before the rest arrives.
#[derive(Debug)]
pub struct ObjectHasher {
    length: u64,
    received: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Fewer bytes than the kind's fixed prefix so far.
    Prefix(Vec<u8>),
    Blob(Box<BlobState>),
    Index(Sha256),
}

#[derive(Debug)]
struct BlobState {
    kind: ObjectKind,
    pieces: Pieces,
    tree: Frontier,
    chunk: Sha256,
    /// Chunk being hashed and the bytes it still lacks.
    index: u64,
    left: u64,
}

impl ObjectHasher {
    /// A hasher for an object announced as exactly `length` bytes.
    pub fn new(length: u64) -> ObjectHasher {
        ObjectHasher {
            length,
            received: 0,
            state: State::Prefix(Vec::with_capacity(HEADER_LEN)),
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut data: &[u8]) -> Result<()> {
        self.received = self.received.saturating_add(data.len() as u64);
        if self.received > self.length {
            return Err(Error::TrailingData);
        }
        if let State::Prefix(buf) = &mut self.state {
            loop {
                let want = prefix_len(buf)?;
                let take = (want - buf.len()).min(data.len());
                buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if buf.len() < want {
                    return Ok(());
                }
                if want > OBJECT_HEADER_LEN {
                    break;
                }
            }
            self.state = start(buf, self.length)?;
        }
        match &mut self.state {
            State::Prefix(_) => Ok(()),
            State::Index(h) => {
                h.update(data);
                Ok(())
            }
            State::Blob(b) => {
                while !data.is_empty() {
                    // The header's blob length equals the declared length, so
                    // bytes past the final chunk were refused above; this
                    // only keeps a broken invariant from spinning.
                    if b.left == 0 {
                        return Err(Error::TrailingData);
                    }
                    let take = b.left.min(data.len() as u64) as usize;
                    b.chunk.update(&data[..take]);
                    data = &data[take..];
                    b.left -= take as u64;
                    if b.left == 0 {
                        let done = core::mem::replace(&mut b.chunk, Sha256::new());
                        b.tree.append(leaf_of_digest(&done.finalize().into()));
                        b.index += 1;
                        if b.index < b.pieces.count() {
                            b.left = b.pieces.len(b.index);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The address, once exactly the declared number of bytes has arrived.
    pub fn finish(self) -> Result<(ObjectKind, Hash)> {
        if self.received < self.length {
            return Err(Error::Truncated);
        }
        match self.state {
            State::Prefix(_) => Err(Error::Truncated),
            State::Index(h) => Ok((ObjectKind::ChunkIndex, h.finalize().into())),
            State::Blob(b) => Ok((b.kind, b.tree.root())),
        }
    }
}

/// The address of a whole object held in memory.
pub fn object_id(bytes: &[u8]) -> Result<Hash> {
    let mut h = ObjectHasher::new(bytes.len() as u64);
    h.update(bytes)?;
    Ok(h.finish()?.1)
}

/// How many bytes the fixed prefix of the object starting with `buf` has:
/// the object header first, then the kind's own fixed part. An unknown kind,
/// brand or version is refused as soon as the object header is in.
fn prefix_len(buf: &[u8]) -> Result<usize> {
    match buf.get(..OBJECT_HEADER_LEN) {
        None => Ok(OBJECT_HEADER_LEN),
        Some(head) if head[4] == Kind::ChunkIndex as u8 => {
            Reader::object(head, Kind::ChunkIndex)?;
            Ok(INDEX_PREFIX_LEN)
        }
        Some(head) if head[4] == Kind::Shard as u8 => {
            Reader::object(head, Kind::Shard)?;
            Ok(SHARD_HEADER_LEN)
        }
        Some(head) if head[4] == Kind::AttachmentHeader as u8 => {
            Reader::object(head, Kind::AttachmentHeader)?;
            Ok(ATTACHMENT_HEADER_LEN)
        }
        Some(head) => {
            Reader::object(head, Kind::BlobHeader)?;
            Ok(HEADER_LEN)
        }
    }
}

/// Parses a complete prefix and checks it against the declared length.
fn start(prefix: &[u8], length: u64) -> Result<State> {
    if prefix[4] == Kind::ChunkIndex as u8 {
        let mut r = Reader::object(prefix, Kind::ChunkIndex)?;
        let leaves = u64::from(r.u32()?);
        if leaves < 2 || length != INDEX_PREFIX_LEN as u64 + 32 * leaves {
            return Err(malformed(
                "chunk index",
                "length does not match the leaf count",
            ));
        }
        let mut h = Sha256::new();
        h.update(prefix);
        return Ok(State::Index(h));
    }
    let (kind, pieces) = if prefix[4] == Kind::Shard as u8 {
        let header = ShardHeader::from_prefix(prefix)?;
        if header.shard_len() != length {
            return Err(malformed("shard", "length does not match its header"));
        }
        let pieces = Pieces::Fixed {
            size: header.params.piece_size(),
            count: header.stripes,
        };
        (ObjectKind::Shard, pieces)
    } else {
        let layout = if prefix[4] == Kind::AttachmentHeader as u8 {
            AttachmentHeader::from_prefix(prefix)?.layout()
        } else {
            BlobHeader::from_prefix(prefix)?.layout()
        };
        if layout.blob_len() != length {
            return Err(malformed("blob", "length does not match its header"));
        }
        let kind = if prefix[4] == Kind::AttachmentHeader as u8 {
            ObjectKind::Attachment
        } else {
            ObjectKind::Blob
        };
        (kind, Pieces::Stream(layout))
    };
    let mut tree = Frontier::default();
    tree.append(piece_leaf(prefix));
    Ok(State::Blob(Box::new(BlobState {
        left: pieces.len(0),
        kind,
        pieces,
        tree,
        chunk: Sha256::new(),
        index: 0,
    })))
}

/// The Merkle pieces after an addressed object's header: a stream's sealed
/// chunks, or a shard's equal pieces.
#[derive(Debug)]
enum Pieces {
    Stream(Layout),
    Fixed { size: u64, count: u64 },
}

impl Pieces {
    fn count(&self) -> u64 {
        match self {
            Pieces::Stream(l) => l.chunk_count(),
            Pieces::Fixed { count, .. } => *count,
        }
    }
    fn len(&self, i: u64) -> u64 {
        match self {
            Pieces::Stream(l) => l.sealed_chunk_len(i),
            Pieces::Fixed { size, .. } => *size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed blob of random-looking bytes after a real header.
    fn fake_blob(chunk_log2: u8, padded_len: u64) -> Vec<u8> {
        let header = BlobHeader {
            chunk_log2,
            record: crate::record::RecordId([1; 32]),
            section: crate::record::SectionId([2; 32]),
            epoch: crate::record::EpochId([3; 32]),
            version: 1,
            capsule: crate::capsule::Capsule(crate::primitives::Point::generator()),
            key_commitment: [4; 32],
            padded_len,
        };
        let mut blob = header.to_bytes();
        blob.extend((0..header.blob_len() - HEADER_LEN as u64).map(|i| (i * 7 % 251) as u8));
        blob
    }

    #[test]
    fn blob_id_is_the_chunk_root_in_any_pieces() {
        let blob = fake_blob(14, 40960);
        let want = crate::stream::ChunkIndex::from_blob(&blob).unwrap().root();
        assert_eq!(object_id(&blob).unwrap(), want);
        for step in [1, 5, 183, 184, 185, 16400, 16401, 1 << 20] {
            let mut h = ObjectHasher::new(blob.len() as u64);
            for piece in blob.chunks(step) {
                h.update(piece).unwrap();
            }
            assert_eq!(h.finish().unwrap(), (ObjectKind::Blob, want), "step {step}");
        }
    }

    #[test]
    fn index_id_is_its_sha256() {
        let blob = fake_blob(14, 40960);
        let index = crate::stream::ChunkIndex::from_blob(&blob)
            .unwrap()
            .to_bytes();
        let want: Hash = Sha256::digest(&index).into();
        let mut h = ObjectHasher::new(index.len() as u64);
        for piece in index.chunks(3) {
            h.update(piece).unwrap();
        }
        assert_eq!(h.finish().unwrap(), (ObjectKind::ChunkIndex, want));
    }

    #[test]
    fn refuses_what_is_not_a_blob_or_index() {
        let blob = fake_blob(14, 18432);
        let len = blob.len() as u64;
        // Wrong lengths, declared or delivered.
        assert!(matches!(
            object_id(&blob[..blob.len() - 1]),
            Err(Error::Malformed { .. })
        ));
        let mut h = ObjectHasher::new(len + 1);
        assert!(matches!(h.update(&blob), Err(Error::Malformed { .. })));
        let mut h = ObjectHasher::new(len);
        h.update(&blob[..100]).unwrap();
        assert_eq!(h.finish(), Err(Error::Truncated));
        let mut h = ObjectHasher::new(len);
        h.update(&blob).unwrap();
        assert_eq!(h.update(&[0]), Err(Error::TrailingData));
        // Other kinds, bad brands, short objects, a leaf that is not a blob.
        let mut other = blob.clone();
        other[4] = Kind::Manifest as u8;
        assert!(matches!(object_id(&other), Err(Error::WrongKind { .. })));
        other[0] = b'X';
        assert!(matches!(object_id(&other), Err(Error::Malformed { .. })));
        assert_eq!(object_id(b"SPHR"), Err(Error::Truncated));
        assert_eq!(object_id(&[]), Err(Error::Truncated));
        let mut leafish = vec![0u8];
        leafish.extend_from_slice(&blob);
        assert!(object_id(&leafish).is_err());
        // An index whose length disagrees with its leaf count.
        let index = crate::stream::ChunkIndex::from_blob(&blob)
            .unwrap()
            .to_bytes();
        assert!(matches!(
            object_id(&index[..index.len() - 32]),
            Err(Error::Malformed { .. })
        ));
    }
}
