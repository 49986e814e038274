//! The owner-signed manifest of a record version, and SRS-signed heads.

use crate::capsule::Capsule;
use crate::error::{malformed, Error, Result};
use crate::identity::{Identity, PublicIdentity};
use crate::merkle::Hash;
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::order;
use crate::primitives::{statement_hash, Point, POINT_LEN, SIGNATURE_LEN};
use crate::record::{EpochId, RecordId, RecordNonce, SectionId};

/// Most sections a manifest may list.
pub const MAX_SECTIONS: usize = 1024;

/// One section as published in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Opaque section id.
    pub section: SectionId,
    /// Current epoch of the section.
    pub epoch: EpochId,
    /// `A = a·G` for this epoch.
    pub section_key: Point,
    /// Capsule `E` of the body version listed here.
    pub capsule: Capsule,
    /// Record version at which this body was written.
    pub written_at_version: u64,
    /// Merkle root over the blob header and its sealed chunks; also the
    /// blob's address at the relay ([`ManifestEntry::blob_id`]).
    pub chunk_root: Hash,
    /// Blob length in bytes (padded).
    pub blob_len: u64,
    /// SHA-256 of the blob's chunk index: where the relay keeps it.
    pub index_id: Hash,
    /// A sharded body's sealed [`crate::shard::Placement`] (format 3): the
    /// code, the blob header and every shard's address, readable only with
    /// this version's data key. `None`: the blob and its index are stored
    /// whole under `chunk_root` and `index_id`.
    pub placement: Option<Vec<u8>>,
}

const ENTRY_LEN: usize = 32 + 32 + POINT_LEN + POINT_LEN + 8 + 32 + 8 + 32;

impl ManifestEntry {
    /// The entry for a freshly encrypted body under section key `section_key` (`A`).
    pub fn for_body(section_key: Point, sealed: &crate::stream::SealedBody) -> ManifestEntry {
        let h = &sealed.header;
        ManifestEntry {
            section: h.section,
            epoch: h.epoch,
            section_key,
            capsule: h.capsule,
            written_at_version: h.version,
            chunk_root: sealed.chunk_root,
            blob_len: h.blob_len(),
            index_id: sealed.index_id,
            placement: None,
        }
    }

    /// What a sealed placement of this entry is bound to.
    pub fn binding(&self) -> crate::shard::EntryBinding {
        crate::shard::EntryBinding {
            chunk_root: self.chunk_root,
            blob_len: self.blob_len,
            index_id: self.index_id,
        }
    }

    /// What the blob header of this entry must say.
    pub fn expected_header(&self) -> crate::shard::ExpectedHeader {
        crate::shard::ExpectedHeader {
            section: self.section,
            epoch: self.epoch,
            version: self.written_at_version,
            capsule: self.capsule,
        }
    }

    /// Opens the sealed placement of a sharded entry with the version's
    /// data key (`invalid_state` for an entry that is not sharded).
    pub fn open_placement(&self, key: &crate::capsule::DataKey) -> Result<crate::shard::Placement> {
        let sealed = self
            .placement
            .as_ref()
            .ok_or(Error::InvalidState("the section is not sharded"))?;
        let expect = crate::shard::Expected::Section(self.expected_header());
        crate::shard::Placement::open(&key.placement, &self.binding(), &expect, sealed)
    }

    /// Where the relay keeps the blob: its chunk root (see [`crate::content`]).
    pub fn blob_id(&self) -> Hash {
        self.chunk_root
    }
}

/// The content of a manifest before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestContent {
    /// The record.
    pub record: RecordId,
    /// The nonce that binds the record id to the owner.
    pub record_nonce: RecordNonce,
    /// Version, starting at 1.
    pub version: u64,
    /// Statement hash of the previous version's manifest; zeros for version 1.
    pub previous: Hash,
    /// Owner's clock, ms since the Unix epoch (informational).
    pub created_at: u64,
    /// Sections, strictly ascending by section id.
    pub entries: Vec<ManifestEntry>,
    /// The latest audit tree head (SRS-signed bytes) the owner had verified
    /// when signing (format 2; `None`: format 1). It lets a restore, which
    /// reads the owner-signed chain, start the audit checks from a head the
    /// owner verified rather than from whatever the SRS serves. Its SRS
    /// signature is checked by whoever uses it; readers and the SRS ignore it.
    pub audit_head: Option<Vec<u8>>,
}

/// Format version of manifests carrying an audit tree head.
const WITH_AUDIT_HEAD: u8 = 2;
/// Format version of manifests with sharded entries (and an optional head).
const WITH_PLACEMENTS: u8 = 3;
/// Longest audit tree head a manifest carries.
const MAX_AUDIT_HEAD: usize = 1024;

/// A manifest whose signature, owner binding and structure were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedManifest {
    /// The record owner.
    pub owner: PublicIdentity,
    /// The signed content.
    pub content: ManifestContent,
    hash: Hash,
    bytes: Vec<u8>,
}

impl ManifestContent {
    /// Version 1 of a record: no previous manifest.
    pub fn first(
        record: RecordId,
        record_nonce: RecordNonce,
        created_at: u64,
        entries: Vec<ManifestEntry>,
    ) -> ManifestContent {
        ManifestContent {
            record,
            record_nonce,
            version: 1,
            previous: [0; 32],
            created_at,
            entries,
            audit_head: None,
        }
    }
    fn check(&self, owner: &PublicIdentity) -> Result<()> {
        if RecordId::derive(&owner.id(), &self.record_nonce) != self.record {
            return Err(Error::BindingMismatch(
                "record id is not bound to the signer",
            ));
        }
        if self.version == 0 {
            return Err(malformed("manifest", "version 0"));
        }
        if (self.version == 1) != (self.previous == [0u8; 32]) {
            return Err(malformed(
                "manifest",
                "previous hash must be zero exactly at version 1",
            ));
        }
        if self.entries.len() > MAX_SECTIONS {
            return Err(Error::TooLarge("section list"));
        }
        if self
            .audit_head
            .as_ref()
            .is_some_and(|h| h.is_empty() || h.len() > MAX_AUDIT_HEAD)
        {
            return Err(malformed("manifest", "audit tree head of 1 to 1024 bytes"));
        }
        if self
            .entries
            .iter()
            .filter_map(|e| e.placement.as_ref())
            .any(|p| {
                p.len() <= crate::stream::TAG_LEN || p.len() > crate::shard::MAX_SEALED_PLACEMENT
            })
        {
            return Err(malformed(
                "manifest",
                "a sealed placement of the wrong length",
            ));
        }
        for pair in self.entries.windows(2) {
            if pair[0].section >= pair[1].section {
                return Err(malformed("manifest", "sections not strictly ascending"));
            }
        }
        if self
            .entries
            .iter()
            .any(|e| e.written_at_version > self.version || e.written_at_version == 0)
        {
            return Err(malformed("manifest", "written_at_version out of range"));
        }
        Ok(())
    }

    /// Signs the manifest as `owner`.
    pub fn sign(mut self, owner: &Identity) -> Result<VerifiedManifest> {
        order::sort_by_key(&mut self.entries, |e| order::key([&e.section.0]));
        self.check(owner.public())?;
        let sharded = self.entries.iter().any(|e| e.placement.is_some());
        let format = if sharded {
            WITH_PLACEMENTS
        } else if self.audit_head.is_some() {
            WITH_AUDIT_HEAD
        } else {
            1
        };
        let mut w = Writer::object_version(Kind::Manifest, format);
        w.raw(&owner.public().to_bytes())
            .raw(&self.record.0)
            .raw(&self.record_nonce)
            .u64(self.version)
            .raw(&self.previous)
            .u64(self.created_at)
            .u32(self.entries.len() as u32);
        for e in &self.entries {
            w.raw(&e.section.0)
                .raw(&e.epoch.0)
                .raw(&e.section_key.to_bytes())
                .raw(&e.capsule.0.to_bytes())
                .u64(e.written_at_version)
                .raw(&e.chunk_root)
                .u64(e.blob_len)
                .raw(&e.index_id);
        }
        if sharded {
            let placed: Vec<_> = self
                .entries
                .iter()
                .filter_map(|e| Some((e.section, e.placement.as_ref()?)))
                .collect();
            w.u32(placed.len() as u32);
            for (section, sealed) in placed {
                w.raw(&section.0).bytes(sealed)?;
            }
            w.bytes(self.audit_head.as_deref().unwrap_or_default())?;
        } else if let Some(head) = &self.audit_head {
            w.bytes(head)?;
        }
        let hash = statement_hash(w.as_slice());
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        Ok(VerifiedManifest {
            owner: owner.public().clone(),
            content: self,
            hash,
            bytes: w.finish(),
        })
    }
}

impl VerifiedManifest {
    /// Decodes and verifies a manifest: signature by the embedded owner, record
    /// id bound to that owner, structure. Callers then compare the owner with the
    /// one they expect ([`VerifiedManifest::expect_owner`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<VerifiedManifest> {
        let (mut r, format) = Reader::object_versions(bytes, Kind::Manifest, WITH_PLACEMENTS)?;
        let owner = PublicIdentity::read(&mut r)?;
        let record = RecordId(r.array()?);
        let record_nonce = r.array()?;
        let version = r.u64()?;
        let previous = r.array()?;
        let created_at = r.u64()?;
        let n = r.u32()? as usize;
        if n > MAX_SECTIONS {
            return Err(Error::TooLarge("section list"));
        }
        // Format 2 ends in `lp(audit tree head)` before the signature.
        let fixed = n * ENTRY_LEN + SIGNATURE_LEN;
        let fits = match format {
            WITH_AUDIT_HEAD => r.remaining() > fixed + 4,
            WITH_PLACEMENTS => r.remaining() >= fixed + 8,
            _ => r.remaining() == fixed,
        };
        if !fits {
            return Err(malformed("manifest", "wrong length for its section count"));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(ManifestEntry {
                section: SectionId(r.array()?),
                epoch: EpochId(r.array()?),
                section_key: Point::from_bytes(r.take(POINT_LEN)?)?,
                capsule: Capsule(Point::from_bytes(r.take(POINT_LEN)?)?),
                written_at_version: r.u64()?,
                chunk_root: r.array()?,
                blob_len: r.u64()?,
                index_id: r.array()?,
                placement: None,
            });
        }
        let audit_head = match format {
            WITH_AUDIT_HEAD => Some(r.bytes(MAX_AUDIT_HEAD)?.to_vec()),
            WITH_PLACEMENTS => {
                read_placements(&mut r, &mut entries)?;
                let head = r.bytes(MAX_AUDIT_HEAD)?;
                (!head.is_empty()).then(|| head.to_vec())
            }
            _ => None,
        };
        let payload = owner.verify_rest(r)?;
        let content = ManifestContent {
            record,
            record_nonce,
            version,
            previous,
            created_at,
            entries,
            audit_head,
        };
        content.check(&owner)?;
        Ok(VerifiedManifest {
            hash: statement_hash(payload),
            owner,
            content,
            bytes: bytes.to_vec(),
        })
    }

    /// Fails unless the manifest is signed by `owner`.
    pub fn expect_owner(&self, owner: &PublicIdentity) -> Result<()> {
        if self.owner == *owner {
            Ok(())
        } else {
            Err(Error::BindingMismatch("manifest signed by another party"))
        }
    }

    /// Checks that `self` is the direct successor of `prev`.
    pub fn verify_successor(&self, prev: &VerifiedManifest) -> Result<()> {
        if self.owner != prev.owner || self.content.record != prev.content.record {
            return Err(Error::ChainBroken(
                "a manifest of a different record or owner",
            ));
        }
        if Some(self.content.version) != prev.content.version.checked_add(1) {
            return Err(Error::ChainBroken(
                "a manifest version is not the previous one + 1",
            ));
        }
        if self.content.previous != prev.hash {
            return Err(Error::ChainBroken(
                "a manifest does not name the previous one's hash",
            ));
        }
        Ok(())
    }

    /// The manifest's statement hash (what heads and successors refer to).
    pub fn hash(&self) -> Hash {
        self.hash
    }
    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The entry for `section`.
    pub fn entry(&self, section: &SectionId) -> Result<&ManifestEntry> {
        self.content
            .entries
            .binary_search_by(|e| e.section.cmp(section))
            .map(|i| &self.content.entries[i])
            .map_err(|_| Error::NoSuchSection)
    }
    /// The record version.
    pub fn version(&self) -> u64 {
        self.content.version
    }
    /// The record.
    pub fn record(&self) -> RecordId {
        self.content.record
    }
}

/// Format 3's placement list: `u32 p`, then `p` times `section_id ‖
/// lp(sealed placement)`, strictly ascending, each naming a listed section
/// (`malformed` otherwise).
fn read_placements(r: &mut Reader<'_>, entries: &mut [ManifestEntry]) -> Result<()> {
    let p = r.u32()? as usize;
    if p == 0 || p > entries.len() {
        return Err(malformed("manifest", "placement count out of range"));
    }
    let mut last: Option<SectionId> = None;
    for _ in 0..p {
        let section = SectionId(r.array()?);
        let sealed = r.bytes(crate::shard::MAX_SEALED_PLACEMENT)?;
        if last.is_some_and(|l| l >= section) {
            return Err(malformed("manifest", "placements not strictly ascending"));
        }
        last = Some(section);
        let e = entries
            .binary_search_by(|e| e.section.cmp(&section))
            .map_err(|_| malformed("manifest", "a placement for an unlisted section"))?;
        entries[e].placement = Some(sealed.to_vec());
    }
    Ok(())
}

/// An SRS-signed statement that `(record, version, manifest_hash)` is the
/// latest head it witnessed, at `timestamp` (SRS clock, ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    /// The record.
    pub record: RecordId,
    /// Latest version.
    pub version: u64,
    /// Its manifest hash.
    pub manifest_hash: Hash,
    /// SRS clock when signed.
    pub timestamp: u64,
    bytes: Vec<u8>,
}

impl SignedHead {
    /// Signs a head (SRS side).
    pub fn sign(
        srs: &Identity,
        record: RecordId,
        version: u64,
        manifest_hash: Hash,
        timestamp: u64,
    ) -> SignedHead {
        let mut w = Writer::object(Kind::Head);
        w.raw(&record.0)
            .u64(version)
            .raw(&manifest_hash)
            .u64(timestamp);
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        SignedHead {
            record,
            version,
            manifest_hash,
            timestamp,
            bytes: w.finish(),
        }
    }
    /// Decodes and verifies against the pinned SRS key.
    pub fn from_bytes(bytes: &[u8], srs: &PublicIdentity) -> Result<SignedHead> {
        let mut r = Reader::object(bytes, Kind::Head)?;
        let record = RecordId(r.array()?);
        let version = r.u64()?;
        let manifest_hash = r.array()?;
        let timestamp = r.u64()?;
        srs.verify_rest(r)?;
        Ok(SignedHead {
            record,
            version,
            manifest_hash,
            timestamp,
            bytes: bytes.to_vec(),
        })
    }
    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Reader-side freshness check of one manifest: it must be the head's
    /// version and hash, and the head not older than the reader's
    /// high-water mark ([`ManifestChain::check_head`] for a chain of one).
    pub fn check_manifest(&self, manifest: &VerifiedManifest, high_water: u64) -> Result<()> {
        check_head(std::slice::from_ref(manifest), self, high_water)
    }
}

/// [`ManifestChain::check_head`] over consecutive verified manifests.
fn check_head(chain: &[VerifiedManifest], head: &SignedHead, high_water: u64) -> Result<()> {
    let (Some(first), Some(tip)) = (chain.first(), chain.last()) else {
        return Err(Error::InvalidState("a chain needs a manifest"));
    };
    if head.record != first.record() {
        return Err(Error::BindingMismatch("head is for another record"));
    }
    if head.version < high_water {
        return Err(Error::Stale {
            found: head.version,
            known: high_water,
        });
    }
    if head.version > tip.version() {
        return Err(Error::Stale {
            found: tip.version(),
            known: head.version,
        });
    }
    let at = head
        .version
        .checked_sub(first.version())
        .and_then(|i| chain.get(usize::try_from(i).ok()?));
    match at {
        Some(m) if m.hash() == head.manifest_hash => Ok(()),
        _ => Err(Error::BindingMismatch(
            "manifest is not the one the SRS witnessed",
        )),
    }
}

/// A verified run of consecutive manifests of one record, each the direct
/// successor of the one before (same owner and record, version + 1,
/// `previous` = the predecessor's hash). An older version is read, and a
/// head checked, against such a chain: a version `v` below the witnessed
/// head is fresh exactly when an owner-signed chain links it to the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestChain {
    manifests: Vec<VerifiedManifest>,
}

impl ManifestChain {
    /// A chain of one manifest.
    pub fn new(first: VerifiedManifest) -> ManifestChain {
        ManifestChain {
            manifests: vec![first],
        }
    }
    /// A chain from consecutive manifests (`chain_broken` unless each is
    /// its predecessor's successor; `invalid_state` if empty).
    pub fn from_manifests(
        manifests: impl IntoIterator<Item = VerifiedManifest>,
    ) -> Result<ManifestChain> {
        let mut it = manifests.into_iter();
        let first = it
            .next()
            .ok_or(Error::InvalidState("a chain needs a manifest"))?;
        let mut chain = ManifestChain::new(first);
        for m in it {
            chain.push(m)?;
        }
        Ok(chain)
    }
    /// Appends the successor of the tip.
    pub fn push(&mut self, next: VerifiedManifest) -> Result<()> {
        next.verify_successor(self.tip())?;
        self.manifests.push(next);
        Ok(())
    }
    /// The first (oldest) manifest.
    pub fn first(&self) -> &VerifiedManifest {
        &self.manifests[0]
    }
    /// The newest manifest.
    pub fn tip(&self) -> &VerifiedManifest {
        let last = self.manifests.len() - 1;
        &self.manifests[last]
    }
    /// The manifest of `version`, if the chain holds it.
    pub fn get(&self, version: u64) -> Option<&VerifiedManifest> {
        let i = version.checked_sub(self.first().version())?;
        self.manifests.get(usize::try_from(i).ok()?)
    }
    /// The manifests, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedManifest> {
        self.manifests.iter()
    }
    /// The record.
    pub fn record(&self) -> RecordId {
        self.first().record()
    }
    /// The owner.
    pub fn owner(&self) -> &PublicIdentity {
        &self.first().owner
    }

    /// Freshness against a signed head: the head is for this record, not
    /// older than `high_water`, within the chain, and the chain's manifest
    /// of its version is the one it witnessed. The chain may run past the
    /// head: versions the SRS has not witnessed yet.
    ///
    /// - `head.version < high_water` → `stale {found: head, known: high_water}`
    /// - `head.version > tip` → `stale {found: tip, known: head}` (the relay
    ///   is behind the head, or the record moved on)
    /// - another hash at the head's version, or a head older than the
    ///   chain's first manifest → `binding_mismatch`
    pub fn check_head(&self, head: &SignedHead, high_water: u64) -> Result<()> {
        check_head(&self.manifests, head, high_water)
    }
}
