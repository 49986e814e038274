//! Revocations (owner-signed, sent directly to the SRS) and the SRS's signed
//! receipts, which are what make a revocation effective.

use crate::error::{Error, Result};
use crate::grant::{GrantId, VerifiedGrant};
use crate::identity::{Identity, PublicIdentity};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::{statement_hash, SIGNATURE_LEN};
use crate::record::RecordId;

/// An owner-signed revocation of one grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The grant revoked.
    pub grant_id: GrantId,
    /// Owner's clock, ms.
    pub timestamp: u64,
    bytes: Vec<u8>,
    payload_len: usize,
}

impl Revocation {
    /// Signs a revocation of `grant` (owner side).
    pub fn sign(owner: &Identity, grant: &VerifiedGrant, timestamp: u64) -> Result<Revocation> {
        if *owner.public() != grant.owner {
            return Err(Error::BindingMismatch(
                "only the grant's owner can revoke it",
            ));
        }
        let mut w = Writer::object(Kind::Revocation);
        w.raw(&grant.grant_id)
            .raw(&grant.record.0)
            .raw(&grant.section.0)
            .u64(timestamp);
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        Revocation::verify(&w.finish(), grant)
    }

    /// Decodes and verifies against the grant it revokes (SRS side).
    pub fn verify(bytes: &[u8], grant: &VerifiedGrant) -> Result<Revocation> {
        let mut r = Reader::object(bytes, Kind::Revocation)?;
        let grant_id: GrantId = r.array()?;
        let record: [u8; 32] = r.array()?;
        let section: [u8; 32] = r.array()?;
        let timestamp = r.u64()?;
        let payload = r.consumed();
        let payload_len = payload.len();
        let sig = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        if grant_id != grant.grant_id || record != grant.record.0 || section != grant.section.0 {
            return Err(Error::BindingMismatch("revocation is for another grant"));
        }
        grant.owner.verify(payload, sig)?;
        Ok(Revocation {
            grant_id,
            timestamp,
            bytes: bytes.to_vec(),
            payload_len,
        })
    }

    /// Grant and record ids named by encoded revocation bytes (to look the
    /// grant up first), unverified.
    pub fn peek_grant_id(bytes: &[u8]) -> Result<(GrantId, RecordId)> {
        let mut r = Reader::object(bytes, Kind::Revocation)?;
        Ok((r.array()?, RecordId(r.array()?)))
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Statement hash of the revocation.
    pub fn hash(&self) -> [u8; 32] {
        statement_hash(&self.bytes[..self.payload_len])
    }
}

/// The SRS's signed confirmation that a grant's share is deleted and its id
/// tombstoned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationReceipt {
    /// The grant.
    pub grant_id: GrantId,
    /// Hash of the revocation acknowledged.
    pub revocation_hash: [u8; 32],
    /// SRS clock, ms.
    pub timestamp: u64,
    bytes: Vec<u8>,
}

impl RevocationReceipt {
    /// Signs a receipt (SRS side), after the share is durably deleted.
    pub fn sign(srs: &Identity, revocation: &Revocation, timestamp: u64) -> RevocationReceipt {
        let mut w = Writer::object(Kind::RevocationReceipt);
        w.raw(&revocation.grant_id)
            .raw(&revocation.hash())
            .u64(timestamp);
        let sig = srs.sign(w.as_slice());
        w.raw(&sig);
        RevocationReceipt {
            grant_id: revocation.grant_id,
            revocation_hash: revocation.hash(),
            timestamp,
            bytes: w.finish(),
        }
    }

    /// Decodes and verifies against the pinned SRS key and the revocation sent.
    pub fn verify(
        bytes: &[u8],
        srs: &PublicIdentity,
        revocation: &Revocation,
    ) -> Result<RevocationReceipt> {
        let mut r = Reader::object(bytes, Kind::RevocationReceipt)?;
        let grant_id = r.array()?;
        let revocation_hash = r.array()?;
        let timestamp = r.u64()?;
        srs.verify_rest(r)?;
        if grant_id != revocation.grant_id || revocation_hash != revocation.hash() {
            return Err(Error::BindingMismatch("receipt is for another revocation"));
        }
        Ok(RevocationReceipt {
            grant_id,
            revocation_hash,
            timestamp,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}
