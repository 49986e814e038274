//! Re-encryption: the grantee's signed request, the SRS's checks and
//! `P2 = b2·E` with a DLEQ proof, and the grantee's verification and decryption.

use rand_core::CryptoRng;

use crate::audit::{AuditEntry, Decision, InclusionReceipt, PurposeOfUse};
use crate::capsule::{derive_data_key, DataKey, KeyContext};
use crate::dleq::{DleqProof, DleqStatement, PROOF_LEN};
use crate::error::{Error, Result};
use crate::grant::{GrantId, GrantShare, SrsShare, VerifiedGrant};
use crate::identity::{Identity, PublicIdentity};
use crate::manifest::{SignedHead, VerifiedManifest};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{random_bytes, statement_hash, Point, POINT_LEN, SIGNATURE_LEN};
use crate::record::{RecordId, SectionId};

/// A grantee-signed re-encryption request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReencryptRequest {
    /// The grant asked under.
    pub grant_id: GrantId,
    /// The record.
    pub record: RecordId,
    /// The section.
    pub section: SectionId,
    /// The manifest version being read.
    pub version: u64,
    /// Fresh 128-bit nonce (replay protection, bound into the proof).
    pub nonce: [u8; 16],
    /// Requester's clock, ms (the SRS enforces its replay window).
    pub timestamp: u64,
    payload_len: usize,
    bytes: Vec<u8>,
}

impl ReencryptRequest {
    /// Builds and signs a request.
    pub fn new<R: CryptoRng + ?Sized>(
        grantee: &Identity,
        grant: &VerifiedGrant,
        version: u64,
        timestamp: u64,
        rng: &mut R,
    ) -> Result<ReencryptRequest> {
        if *grantee.public() != grant.grantee {
            return Err(Error::BindingMismatch("grant is for another party"));
        }
        let nonce: [u8; 16] = random_bytes(rng);
        let mut w = Writer::object(Kind::ReencryptRequest);
        w.raw(&grant.grant_id)
            .raw(&grant.record.0)
            .raw(&grant.section.0)
            .u64(version)
            .raw(&nonce)
            .u64(timestamp);
        let payload_len = w.as_slice().len();
        let sig = grantee.sign(w.as_slice());
        w.raw(&sig);
        ReencryptRequest::from_bytes(&w.finish()).map(|r| ReencryptRequest { payload_len, ..r })
    }

    /// Decodes (the signature is checked against the grant in [`Self::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ReencryptRequest> {
        let mut r = Reader::object(bytes, Kind::ReencryptRequest)?;
        let grant_id = r.array()?;
        let record = RecordId(r.array()?);
        let section = SectionId(r.array()?);
        let version = r.u64()?;
        let nonce = r.array()?;
        let timestamp = r.u64()?;
        let payload_len = r.consumed().len();
        r.take(SIGNATURE_LEN)?;
        r.finish()?;
        Ok(ReencryptRequest {
            grant_id,
            record,
            section,
            version,
            nonce,
            timestamp,
            payload_len,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `StatementHash` of the signed payload: what the audit entry of a
    /// decision on this request commits to.
    pub fn hash(&self) -> [u8; 32] {
        statement_hash(&self.bytes[..self.payload_len])
    }

    fn matches(&self, grant: &VerifiedGrant) -> bool {
        self.grant_id == grant.grant_id
            && self.record == grant.record
            && self.section == grant.section
    }

    /// SRS side: the request is signed by the grant's grantee and names the
    /// grant's record and section.
    pub fn verify(&self, grant: &VerifiedGrant) -> Result<VerifiedRequest> {
        if !self.matches(grant) {
            return Err(Error::BindingMismatch("request does not match the grant"));
        }
        let (payload, sig) = self.bytes.split_at(self.payload_len);
        grant.grantee.verify(payload, sig)?;
        Ok(VerifiedRequest(self.clone()))
    }
}

/// A request whose grantee signature and binding to its grant were checked
/// ([`ReencryptRequest::verify`]); only this type is re-encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRequest(ReencryptRequest);

impl VerifiedRequest {
    /// The audit entry for a decision on this request. Only a verified
    /// request has one: its grantee signed it, and it names its grant's
    /// record and section, so the entry is filed under that grant's record
    /// and attributed to that grantee, never to what an unproven request
    /// claims.
    pub fn audit_entry(&self, grant: &VerifiedGrant, now: u64, decision: Decision) -> AuditEntry {
        AuditEntry {
            timestamp: now,
            grant_id: grant.grant_id,
            grantee: grant.grantee.id(),
            record: grant.record,
            section: grant.section,
            version: self.version,
            request: self.hash(),
            decision,
            // The SRS's log links it as it appends (`MemoryLog::link`).
            link: None,
            purpose: purpose_of(grant),
        }
    }
}

impl core::ops::Deref for VerifiedRequest {
    type Target = ReencryptRequest;
    fn deref(&self) -> &ReencryptRequest {
        &self.0
    }
}

/// The purpose of use every decision on `grant` is filed under.
pub fn purpose_of(grant: &VerifiedGrant) -> PurposeOfUse {
    if grant.is_emergency() {
        PurposeOfUse::Emergency
    } else {
        PurposeOfUse::Ordinary
    }
}

/// The cryptographic part of the SRS's answer.
#[derive(Clone, Debug)]
pub struct Reencryption {
    /// The grant asked under.
    pub grant_id: GrantId,
    /// The request's nonce.
    pub nonce: [u8; 16],
    /// `P2 = b2·E`.
    pub p2: Point,
    /// DLEQ proof that `P2` and `B2` share `b2`.
    pub proof: DleqProof,
}

impl Reencryption {
    /// The answer to sign: this re-encryption, the audit receipt of its
    /// request and the record's latest head.
    pub fn answer(self, receipt: InclusionReceipt, head: SignedHead) -> ReencryptAnswer {
        ReencryptAnswer {
            grant_id: self.grant_id,
            nonce: self.nonce,
            p2: self.p2,
            proof: self.proof,
            receipt,
            head,
        }
    }
}

/// SRS side: the checks that depend only on signed objects, then `P2 = b2·E`.
///
/// Checks: the (already verified) request is for this grant; the grant has
/// not expired at `now`; the manifest is signed by the grant's owner
/// and is for the grant's record; its entry for the section has the grant's
/// epoch and `A` and `written_at_version ≥ from_version`. So the SRS never
/// multiplies a point the owner did not sign for this grant. Replay, tombstone
/// and liveness checks are the SRS store's (they need its state).
pub fn srs_reencrypt<R: CryptoRng + ?Sized>(
    share: &SrsShare,
    grant: &VerifiedGrant,
    request: &VerifiedRequest,
    manifest: &VerifiedManifest,
    now: u64,
    rng: &mut R,
) -> core::result::Result<Reencryption, Decision> {
    if share.grant_id != grant.grant_id || !request.matches(grant) {
        return Err(Decision::UnknownGrant);
    }
    if grant.is_expired(now) {
        return Err(Decision::Expired);
    }
    let entry = check_entry(grant, manifest, request.version).map_err(|e| match e {
        Error::BeforeFromVersion { .. } => Decision::BeforeFromVersion,
        _ => Decision::NotInManifest,
    })?;
    let p2 = share
        .b2
        .mul(&entry.capsule.0)
        .map_err(|_| Decision::NotInManifest)?;
    let proof = DleqProof::prove(
        &share.b2,
        &DleqStatement {
            b2_commitment: &grant.b2_commitment,
            capsule: &entry.capsule.0,
            p2: &p2,
            grant_id: &grant.grant_id,
            nonce: &request.nonce,
        },
        rng,
    )
    .map_err(|_| Decision::NotInManifest)?;
    Ok(Reencryption {
        grant_id: grant.grant_id,
        nonce: request.nonce,
        p2,
        proof,
    })
}

fn check_entry<'m>(
    grant: &VerifiedGrant,
    manifest: &'m VerifiedManifest,
    version: u64,
) -> Result<&'m crate::manifest::ManifestEntry> {
    manifest.expect_owner(&grant.owner)?;
    if manifest.record() != grant.record || manifest.version() != version {
        return Err(Error::BindingMismatch(
            "manifest is not the requested record version",
        ));
    }
    let entry = manifest.entry(&grant.section)?;
    if entry.epoch != grant.epoch || entry.section_key != grant.section_key {
        return Err(Error::BindingMismatch(
            "section is in another epoch than the grant",
        ));
    }
    if entry.written_at_version < grant.from_version {
        return Err(Error::BeforeFromVersion {
            version: entry.written_at_version,
            from_version: grant.from_version,
        });
    }
    Ok(entry)
}

/// The SRS's answer: `P2`, proof, audit receipt and the signed latest head,
/// all signed by the SRS.
#[derive(Clone, Debug)]
pub struct ReencryptAnswer {
    /// The grant.
    pub grant_id: GrantId,
    /// The request nonce answered.
    pub nonce: [u8; 16],
    /// `P2`.
    pub p2: Point,
    /// The DLEQ proof.
    pub proof: DleqProof,
    /// Inclusion of this access in the audit log.
    pub receipt: InclusionReceipt,
    /// The latest manifest head of the record.
    pub head: SignedHead,
}

impl ReencryptAnswer {
    /// Encodes and signs (SRS side).
    pub fn sign(&self, srs: &Identity) -> Result<Vec<u8>> {
        let mut w = Writer::object(Kind::ReencryptAnswer);
        w.raw(&self.grant_id)
            .raw(&self.nonce)
            .raw(&self.p2.to_bytes())
            .raw(&self.proof.to_bytes());
        self.receipt.write(&mut w)?;
        w.bytes(self.head.as_bytes())?;
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        Ok(w.finish())
    }

    /// Decodes and verifies everything the grantee can check: SRS signature,
    /// that it answers this request, the DLEQ proof against the grant's `B2`
    /// and the capsule of the signed manifest entry, the audit receipt (an
    /// allowed access of this request), and the signed head for this record.
    pub fn verify(
        bytes: &[u8],
        srs: &PublicIdentity,
        request: &ReencryptRequest,
        grant: &VerifiedGrant,
        manifest: &VerifiedManifest,
    ) -> Result<ReencryptAnswer> {
        let mut r = Reader::object(bytes, Kind::ReencryptAnswer)?;
        let grant_id = r.array()?;
        let nonce = r.array()?;
        let p2 = Point::from_bytes(r.take(POINT_LEN)?).map_err(|_| Error::BadProof)?;
        let proof = DleqProof::from_bytes(r.take(PROOF_LEN)?)?;
        let receipt = InclusionReceipt::read(&mut r, srs)?;
        let head = SignedHead::from_bytes(r.bytes(1024)?, srs)?;
        srs.verify_rest(r)?;
        if grant_id != request.grant_id || nonce != request.nonce || grant_id != grant.grant_id {
            return Err(Error::BindingMismatch("answer is for another request"));
        }
        let entry = check_entry(grant, manifest, request.version)?;
        proof.verify(&DleqStatement {
            b2_commitment: &grant.b2_commitment,
            capsule: &entry.capsule.0,
            p2: &p2,
            grant_id: &grant.grant_id,
            nonce: &request.nonce,
        })?;
        let e = &receipt.entry;
        if e.grant_id != grant_id
            || e.record != request.record
            || e.section != request.section
            || e.version != request.version
            || e.request != request.hash()
            || e.decision != Decision::Allowed
            || e.grantee != grant.grantee.id()
        {
            return Err(Error::BadProof);
        }
        // An answer on an emergency grant is filed as emergency access (and
        // only such an answer): an SRS cannot hide a break-glass read among
        // ordinary ones.
        if e.purpose != purpose_of(grant) {
            return Err(Error::BadProof);
        }
        // The entry must be in its record's chain (format 2): an SRS that
        // files answered reads unlinked would opt them out of the owner's
        // completeness check.
        if e.link.is_none() {
            return Err(Error::ChainBroken(
                "the answer's audit entry is not linked into its record's chain",
            ));
        }
        if head.record != request.record {
            return Err(Error::BindingMismatch("head is for another record"));
        }
        Ok(ReencryptAnswer {
            grant_id,
            nonce,
            p2,
            proof,
            receipt,
            head,
        })
    }
}

impl GrantShare {
    /// Grantee side: `Z = b1·E + P2`, then the DEK of the entry's body
    /// (whose commitment the stream decryptor checks before any chunk).
    pub fn data_key(
        &self,
        manifest: &VerifiedManifest,
        answer: &ReencryptAnswer,
    ) -> Result<DataKey> {
        let entry = check_entry(&self.grant, manifest, manifest.version())?;
        let e = entry.capsule.0;
        let z = Point::from_projective(self.b1.mul(&e)?.projective() + answer.p2.projective())?;
        Ok(derive_data_key(
            &e,
            &entry.section_key,
            &z,
            &KeyContext {
                record: self.grant.record,
                section: self.grant.section,
                epoch: self.grant.epoch,
                version: entry.written_at_version,
            },
        ))
    }
}
