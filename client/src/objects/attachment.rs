//! Attachments stored as their own blobs (section document format 2).
//!
//! An attachment is encrypted on its own under a fresh random 32-byte
//! [`AttachmentKey`] with the same STREAM construction, padding and chunk
//! Merkle tree as a section body ([`crate::stream`]), behind its own header
//! (kind `0x12`, [`AttachmentHeader`]). The section document, inside the
//! owner-committed section body, lists its chunk root (also its content
//! address at the relay), its chunk index's address, its length and its key,
//! so the owner-signed manifest commits to it transitively. An edit that
//! keeps an attachment lists the same object again: nothing is re-encrypted
//! or uploaded.
//!
//! ```text
//! prk = Extract(salt = "SeSPHR-v1/attachment-key", ikm = file_key)
//! DEK = Expand(prk, "SeSPHR-v1/attachment/dek",        record_id, section_id)
//! kc  = Expand(prk, "SeSPHR-v1/attachment/key-commit", record_id, section_id)
//! AAD = H("SeSPHR-v1/attachment-header", header_bytes)
//! ```
//!
//! A section blob can never pass for an attachment or the other way round:
//! the kinds differ (`wrong_kind`), the AAD labels differ, and a reader
//! accepts an attachment only under the chunk root its document lists
//! (`content_mismatch`) and only for the record and section it reads
//! (`binding_mismatch`).

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::capsule::DataKey;
use crate::error::{Error, Result};
use crate::merkle::Hash;
use crate::primitives::codec::{Kind, Reader, Writer, OBJECT_HEADER_LEN};
use crate::primitives::{hash, hkdf_expand, hkdf_extract, labels};
use crate::record::{RecordId, SectionId};
use crate::secret::SymmetricKey;
use crate::stream::{
    check_padded_len, padded_len_of, seal_all, ChunkIndex, RustAesGcm, SealedBody, StreamDecryptor,
    StreamEncryptor, StreamHeader, ALLOWED_CHUNK_LOG2,
};

/// Encoded length of an attachment header.
pub const ATTACHMENT_HEADER_LEN: usize = OBJECT_HEADER_LEN + 1 + 2 * 32 + 32 + 8;

/// Length of an attachment's file key.
pub const ATTACHMENT_KEY_LEN: usize = 32;

/// The fresh random key of one attachment (zeroized on drop, redacted in
/// `Debug`).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKey([u8; ATTACHMENT_KEY_LEN]);

impl core::fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AttachmentKey(<redacted>)")
    }
}

impl AttachmentKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> AttachmentKey {
        let mut k = [0u8; ATTACHMENT_KEY_LEN];
        rng.fill_bytes(&mut k);
        AttachmentKey(k)
    }
    /// A key from its 32 bytes (as a section document carries it).
    pub fn from_bytes(bytes: &[u8]) -> Result<AttachmentKey> {
        let k: [u8; ATTACHMENT_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| crate::error::malformed("attachment key", "not 32 bytes"))?;
        Ok(AttachmentKey(k))
    }
    /// The key bytes, for the section document that carries it.
    pub fn to_bytes(&self) -> Zeroizing<[u8; ATTACHMENT_KEY_LEN]> {
        Zeroizing::new(self.0)
    }
    /// The AES-256-GCM key and key commitment of this attachment in
    /// `record`'s section `section`.
    pub fn data_key(&self, record: &RecordId, section: &SectionId) -> DataKey {
        let prk = hkdf_extract(labels::ATTACHMENT_KEY.as_bytes(), &self.0);
        let dek = hkdf_expand(&prk, labels::ATTACHMENT_DEK, &[&record.0, &section.0]);
        let commitment = *hkdf_expand(
            &prk,
            labels::ATTACHMENT_KEY_COMMIT,
            &[&record.0, &section.0],
        );
        let placement = hkdf_expand(&prk, labels::ATTACHMENT_PLACEMENT, &[&record.0, &section.0]);
        DataKey {
            dek: SymmetricKey::from_bytes(*dek),
            commitment,
            placement: SymmetricKey::from_bytes(*placement),
        }
    }
}

/// The clear header of an attachment blob (kind `0x12`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentHeader {
    /// Chunk size as a power of two (one of [`ALLOWED_CHUNK_LOG2`]).
    pub chunk_log2: u8,
    /// Record the attachment belongs to.
    pub record: RecordId,
    /// Section the attachment belongs to.
    pub section: SectionId,
    /// Key commitment `kc`.
    pub key_commitment: [u8; 32],
    /// Length of the padded stream plaintext (`padme(8 + size)`).
    pub padded_len: u64,
}

impl AttachmentHeader {
    /// Decodes a header from the start of `bytes`; the rest is ignored.
    pub fn from_prefix(bytes: &[u8]) -> Result<AttachmentHeader> {
        let prefix = bytes.get(..ATTACHMENT_HEADER_LEN).ok_or(Error::Truncated)?;
        let mut r = Reader::object(prefix, Kind::AttachmentHeader)?;
        let chunk_log2 = r.u8()?;
        if !ALLOWED_CHUNK_LOG2.contains(&chunk_log2) {
            return Err(Error::UnsupportedChunkSize);
        }
        let header = AttachmentHeader {
            chunk_log2,
            record: RecordId(r.array()?),
            section: SectionId(r.array()?),
            key_commitment: r.array()?,
            padded_len: r.u64()?,
        };
        r.finish()?;
        check_padded_len(header.padded_len, "attachment header")?;
        Ok(header)
    }

    /// Checks that the attachment belongs to `record`'s section `section`.
    pub fn expect(&self, record: &RecordId, section: &SectionId) -> Result<()> {
        if self.record != *record || self.section != *section {
            return Err(Error::BindingMismatch(
                "the attachment belongs to another record or section",
            ));
        }
        Ok(())
    }

    /// Total blob length.
    pub fn blob_len(&self) -> u64 {
        self.layout().blob_len()
    }
}

impl StreamHeader for AttachmentHeader {
    const LEN: usize = ATTACHMENT_HEADER_LEN;
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::object(Kind::AttachmentHeader);
        w.u8(self.chunk_log2)
            .raw(&self.record.0)
            .raw(&self.section.0)
            .raw(&self.key_commitment)
            .u64(self.padded_len);
        w.finish()
    }
    fn aad(&self) -> Hash {
        hash(labels::ATTACHMENT_HEADER, &[&self.to_bytes()])
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

impl StreamEncryptor<AttachmentHeader> {
    /// Starts encrypting an attachment of exactly `size` bytes in `record`'s
    /// section `section` under `key`; returns the data key for an engine
    /// that runs AES-GCM itself (WebCrypto).
    pub fn for_attachment(
        key: &AttachmentKey,
        record: RecordId,
        section: SectionId,
        size: u64,
        chunk_log2: u8,
    ) -> Result<(StreamEncryptor<AttachmentHeader>, DataKey)> {
        let dk = key.data_key(&record, &section);
        let header = AttachmentHeader {
            chunk_log2,
            record,
            section,
            key_commitment: dk.commitment,
            padded_len: padded_len_of(size, chunk_log2)?,
        };
        Ok((StreamEncryptor::start(header, size), dk))
    }
}

/// Encrypts a whole in-memory attachment: the blob and what the section
/// document lists for it (`chunk_root`, `index_id`, the chunk index).
pub fn seal_attachment(
    key: &AttachmentKey,
    record: RecordId,
    section: SectionId,
    attachment: &[u8],
    chunk_log2: u8,
) -> Result<(Vec<u8>, SealedBody<AttachmentHeader>)> {
    let (enc, dk) =
        StreamEncryptor::for_attachment(key, record, section, attachment.len() as u64, chunk_log2)?;
    seal_all(enc, &dk, attachment)
}

/// Starts decrypting an attachment blob whose header is the start of
/// `header`, listed in `record`'s section `section` with `chunk_root` and
/// `key`: the header is parsed and bound (`binding_mismatch`), the index
/// verified against the root (`content_mismatch`), the key commitment
/// checked (`decryption_failed`). Every chunk is then checked against the
/// index before it is opened.
pub fn attachment_decryptor(
    header: &[u8],
    key: &AttachmentKey,
    index: ChunkIndex,
    chunk_root: &Hash,
    record: &RecordId,
    section: &SectionId,
) -> Result<(StreamDecryptor<AttachmentHeader>, DataKey)> {
    let header = AttachmentHeader::from_prefix(header)?;
    header.expect(record, section)?;
    let index = index.verify(&header, chunk_root)?;
    let dk = key.data_key(record, section);
    Ok((StreamDecryptor::new(header, &dk, index)?, dk))
}

/// Decrypts a whole in-memory attachment blob against the `chunk_root` its
/// section document lists.
pub fn open_attachment(
    blob: &[u8],
    key: &AttachmentKey,
    chunk_root: &Hash,
    record: &RecordId,
    section: &SectionId,
) -> Result<Zeroizing<Vec<u8>>> {
    let header = AttachmentHeader::from_prefix(blob)?;
    let index = ChunkIndex::from_stream(&header, blob)?;
    let (mut dec, dk) = attachment_decryptor(blob, key, index, chunk_root, record, section)?;
    let body = dec.push(&RustAesGcm::new(&dk.dek), &blob[ATTACHMENT_HEADER_LEN..])?;
    dec.finish()?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::object_id;
    use crate::stream::{decrypt_body, seal_section};

    use crate::primitives::os_rng;

    const R: RecordId = RecordId([1; 32]);
    const S: SectionId = SectionId([2; 32]);

    fn sample() -> (AttachmentKey, Vec<u8>, Vec<u8>, Hash) {
        let key = AttachmentKey::generate(&mut os_rng());
        let plain: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let (blob, sealed) = seal_attachment(&key, R, S, &plain, 14).unwrap();
        (key, plain, blob, sealed.chunk_root)
    }

    #[test]
    fn round_trip_and_address() {
        let (key, plain, blob, root) = sample();
        assert_eq!(
            open_attachment(&blob, &key, &root, &R, &S)
                .unwrap()
                .as_slice(),
            plain
        );
        assert_eq!(object_id(&blob).unwrap(), root);
        assert_eq!(
            blob.len() as u64,
            AttachmentHeader::from_prefix(&blob).unwrap().blob_len()
        );
    }

    #[test]
    fn swaps_and_wrong_keys_are_refused() {
        let (key, _, blob, root) = sample();
        // Another attachment under this one's root.
        let other_key = AttachmentKey::generate(&mut os_rng());
        let (other, other_sealed) = seal_attachment(&other_key, R, S, b"other", 14).unwrap();
        assert_eq!(
            open_attachment(&other, &key, &root, &R, &S),
            Err(Error::ContentMismatch)
        );
        // The right blob under the other's key and root.
        assert_eq!(
            open_attachment(&blob, &other_key, &other_sealed.chunk_root, &R, &S),
            Err(Error::ContentMismatch)
        );
        // The right blob and root, the wrong key: the commitment fails.
        assert_eq!(
            open_attachment(&blob, &other_key, &root, &R, &S),
            Err(Error::DecryptionFailed)
        );
        // Read as another section's attachment.
        assert!(matches!(
            open_attachment(&blob, &key, &root, &R, &SectionId([3; 32])),
            Err(Error::BindingMismatch(_))
        ));
        // A section body is not an attachment, nor the other way round.
        let section_key = crate::record::SectionKey::for_owner(
            &crate::identity::Identity::from_seed(crate::secret::Seed::generate(&mut os_rng()))
                .unwrap(),
            R,
            S,
            crate::record::EpochId([4; 32]),
        )
        .unwrap();
        let (body_blob, body, dk) =
            seal_section(&section_key, 1, b"body", 14, &mut os_rng()).unwrap();
        assert!(matches!(
            open_attachment(&body_blob, &key, &body.chunk_root, &R, &S),
            Err(Error::WrongKind { .. })
        ));
        assert!(matches!(
            decrypt_body(&blob, &dk, &root),
            Err(Error::WrongKind { .. })
        ));
    }

    #[test]
    fn header_rules() {
        let (_, _, blob, _) = sample();
        assert_eq!(
            AttachmentHeader::from_prefix(&blob[..ATTACHMENT_HEADER_LEN - 1]),
            Err(Error::Truncated)
        );
        let mut bad = blob[..ATTACHMENT_HEADER_LEN].to_vec();
        bad[6] = 15;
        assert_eq!(
            AttachmentHeader::from_prefix(&bad),
            Err(Error::UnsupportedChunkSize)
        );
        let mut bad = blob[..ATTACHMENT_HEADER_LEN].to_vec();
        bad[ATTACHMENT_HEADER_LEN - 1] ^= 1;
        assert!(matches!(
            AttachmentHeader::from_prefix(&bad),
            Err(Error::Malformed { .. })
        ));
        assert!(format!("{:?}", AttachmentKey::generate(&mut os_rng())).contains("redacted"));
    }
}
