//! Access requests: a party asks a record's owner for sections, with a
//! reason. The request is signed by the requester and sealed to the owner
//! as [mail](crate::envelope::Envelope::seal_mail), so the relay learns only
//! that some mail exists; it expires. The owner approves with ordinary
//! grants (exactly what was asked, or less) or declines with a signed
//! [`AccessRefusal`] mailed back, so the requester is told.
//! [`pending_requests`] is the owner's rule for what to show: fresh,
//! unexpired, at most [`MAX_PENDING_PER_REQUESTER`] per requester.

use crate::error::{malformed, Error, Result};
use crate::grant::Role;
use crate::identity::{Identity, PartyId, PublicIdentity};
use crate::primitives::codec::{Kind, Reader, Writer};
use crate::primitives::order;
use crate::primitives::{random_bytes, statement_hash, SIGNATURE_LEN};
use crate::record::RecordId;
use rand_core::CryptoRng;

/// Most sections one request names.
pub const MAX_SECTIONS: usize = 16;
/// Longest section name, bytes.
pub const MAX_SECTION_NAME: usize = 64;
/// Longest reason, bytes (UTF-8).
pub const MAX_REASON: usize = 1000;
/// Longest a request may live: 30 days (ms).
pub const MAX_REQUEST_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// Requests from one requester the owner's client shows at once; more are
/// ignored (and deleted) until those are answered or expire.
pub const MAX_PENDING_PER_REQUESTER: usize = 3;
/// Requests the owner's client shows at once in all (the earliest kept);
/// more are deleted, so a flood of requests from many made-up requesters
/// cannot fill the mailbox the receipts also arrive in.
pub const MAX_PENDING: usize = 20;
/// How far ahead of the owner's clock a request's `created_at` may be
/// (the servers' replay window, 5 minutes): its lifetime is counted from
/// `created_at`, so a request dated years ahead would never expire.
pub const MAX_CLOCK_AHEAD_MS: u64 = 5 * 60 * 1000;

/// A verified access request (kind `0x1e`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    /// The record owner asked.
    pub owner: PartyId,
    /// The record asked about (zeros: the owner's choice).
    pub record: RecordId,
    /// Who asks (the signer).
    pub requester: PublicIdentity,
    /// The role preset asked for (`Custom`: the sections as listed).
    pub role: Role,
    /// Section names asked for.
    pub sections: Vec<String>,
    /// Why, in the requester's words.
    pub reason: String,
    /// Requester's clock, ms.
    pub created_at: u64,
    /// After this (owner's clock, ms) the request is void.
    pub expires_at: u64,
    /// Random nonce (two requests are never the same bytes).
    pub nonce: [u8; 16],
    bytes: Vec<u8>,
    payload_len: usize,
}

/// What a requester asks for.
#[derive(Clone, Debug)]
pub struct AccessAsk<'a> {
    /// The owner's party id.
    pub owner: PartyId,
    /// The record (zeros: the owner's choice).
    pub record: RecordId,
    /// The role preset.
    pub role: Role,
    /// The section names.
    pub sections: &'a [String],
    /// The reason.
    pub reason: &'a str,
    /// Now (requester's clock), ms.
    pub now: u64,
    /// How long the request lives, ms (1 ms to 30 days).
    pub ttl_ms: u64,
}

fn check_sections(sections: &[String]) -> Result<()> {
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        return Err(Error::InvalidState("a request names 1 to 16 sections"));
    }
    if sections
        .iter()
        .any(|s| s.is_empty() || s.len() > MAX_SECTION_NAME)
    {
        return Err(Error::TooLarge("section name"));
    }
    Ok(())
}

impl AccessRequest {
    /// Signs a request (requester side).
    pub fn sign<R: CryptoRng + ?Sized>(
        requester: &Identity,
        ask: &AccessAsk<'_>,
        rng: &mut R,
    ) -> Result<AccessRequest> {
        check_sections(ask.sections)?;
        if ask.role == Role::Emergency {
            return Err(Error::InvalidState(
                "emergency access is set up by the owner, not requested",
            ));
        }
        if ask.reason.len() > MAX_REASON {
            return Err(Error::TooLarge("reason"));
        }
        if ask.ttl_ms == 0 || ask.ttl_ms > MAX_REQUEST_TTL_MS {
            return Err(Error::InvalidState("a request lives 1 ms to 30 days"));
        }
        if ask.owner == requester.id() {
            return Err(Error::InvalidState("a request to oneself"));
        }
        let nonce: [u8; 16] = random_bytes(rng);
        let mut w = Writer::object(Kind::AccessRequest);
        w.raw(&ask.owner.0)
            .raw(&ask.record.0)
            .raw(&requester.public().to_bytes())
            .u8(ask.role as u8)
            .u8(ask.sections.len() as u8);
        for s in ask.sections {
            w.bytes(s.as_bytes())?;
        }
        w.bytes(ask.reason.as_bytes())?
            .u64(ask.now)
            .u64(ask.now.saturating_add(ask.ttl_ms))
            .raw(&nonce);
        let sig = requester.sign(w.as_slice());
        w.raw(&sig);
        AccessRequest::from_bytes(&w.finish(), &ask.owner)
    }

    /// Decodes and verifies a request addressed to `me`: the requester's
    /// signature, the addressee, the sections, the reason and the lifetime.
    pub fn from_bytes(bytes: &[u8], me: &PartyId) -> Result<AccessRequest> {
        let object = "access request";
        let mut r = Reader::object(bytes, Kind::AccessRequest)?;
        let owner = PartyId(r.array()?);
        let record = RecordId(r.array()?);
        let requester = PublicIdentity::read(&mut r)?;
        let role = Role::from_u8(r.u8()?).ok_or_else(|| malformed(object, "unknown role"))?;
        if role == Role::Emergency {
            // An approval would be an ordinary grant labelled "emergency"
            // with immediate access: emergency grants carry a wait the
            // owner chooses, never a requester.
            return Err(malformed(object, "emergency access cannot be requested"));
        }
        let count = r.u8()? as usize;
        let mut sections = Vec::with_capacity(count.min(MAX_SECTIONS));
        for _ in 0..count {
            let name = std::str::from_utf8(r.bytes(MAX_SECTION_NAME)?)
                .map_err(|_| malformed(object, "section name is not UTF-8"))?;
            sections.push(name.to_string());
        }
        check_sections(&sections).map_err(|_| malformed(object, "1 to 16 sections"))?;
        let reason = std::str::from_utf8(r.bytes(MAX_REASON)?)
            .map_err(|_| malformed(object, "reason is not UTF-8"))?
            .to_string();
        let created_at = r.u64()?;
        let expires_at = r.u64()?;
        let nonce = r.array()?;
        let payload_len = r.consumed().len();
        if expires_at <= created_at || expires_at - created_at > MAX_REQUEST_TTL_MS {
            return Err(malformed(object, "lifetime out of range"));
        }
        requester.verify_rest(r)?;
        if owner != *me {
            return Err(Error::BindingMismatch("request is for another owner"));
        }
        if owner == requester.id() {
            return Err(malformed(object, "a request to oneself"));
        }
        Ok(AccessRequest {
            owner,
            record,
            requester,
            role,
            sections,
            reason,
            created_at,
            expires_at,
            nonce,
            bytes: bytes.to_vec(),
            payload_len,
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `StatementHash` of the signed payload: the request's id, which a
    /// refusal names.
    pub fn hash(&self) -> [u8; 32] {
        statement_hash(&self.bytes[..self.payload_len])
    }

    /// Whether the request is void at `now` (owner's clock, ms): expired,
    /// or dated more than [`MAX_CLOCK_AHEAD_MS`] ahead of `now` (its
    /// lifetime would run from a time not yet come).
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at || self.created_at > now.saturating_add(MAX_CLOCK_AHEAD_MS)
    }
}

/// The owner's signed refusal of one request (kind `0x1f`), mailed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRefusal {
    /// The owner (signer).
    pub owner: PublicIdentity,
    /// The requester it answers.
    pub requester: PartyId,
    /// The request's hash.
    pub request: [u8; 32],
    /// Owner's clock, ms.
    pub timestamp: u64,
    bytes: Vec<u8>,
}

impl AccessRefusal {
    /// Signs a refusal of `request` (owner side).
    pub fn sign(
        owner: &Identity,
        request: &AccessRequest,
        timestamp: u64,
    ) -> Result<AccessRefusal> {
        if owner.id() != request.owner {
            return Err(Error::BindingMismatch("the request is for another owner"));
        }
        let mut w = Writer::object(Kind::AccessRefusal);
        w.raw(&owner.public().to_bytes())
            .raw(&request.requester.id().0)
            .raw(&request.hash())
            .u64(timestamp);
        let sig = owner.sign(w.as_slice());
        w.raw(&sig);
        AccessRefusal::from_bytes(&w.finish(), &request.requester.id())
    }

    /// Decodes and verifies a refusal addressed to `me`, signed by the owner
    /// it names (the requester then matches `request` with what it sent, and
    /// `owner` with whom it asked).
    pub fn from_bytes(bytes: &[u8], me: &PartyId) -> Result<AccessRefusal> {
        let mut r = Reader::object(bytes, Kind::AccessRefusal)?;
        let owner = PublicIdentity::read(&mut r)?;
        let requester = PartyId(r.array()?);
        let request = r.array()?;
        let timestamp = r.u64()?;
        owner.verify_rest(r)?;
        if requester != *me {
            return Err(Error::BindingMismatch("refusal is for another party"));
        }
        Ok(AccessRefusal {
            owner,
            requester,
            request,
            timestamp,
            bytes: bytes.to_vec(),
        })
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether this refuses `request` (sent to `owner`).
    pub fn answers(&self, request: &[u8; 32], owner: &PartyId) -> bool {
        self.request == *request && self.owner.id() == *owner
    }

    /// Length of the signed payload (for tests of the layout).
    pub const LEN: usize = 6 + 66 + 32 + 32 + 8 + SIGNATURE_LEN;
}

/// The owner's rule for which requests to show, at `now`: drop expired
/// ones (and those dated ahead of `now`), repeats of the same request,
/// keep the earliest [`MAX_PENDING_PER_REQUESTER`] per requester and
/// [`MAX_PENDING`] in all. Returns the indices of
/// `requests` kept (shown) and of those dropped (to delete), in input order.
pub fn pending_requests(requests: &[AccessRequest], now: u64) -> (Vec<usize>, Vec<usize>) {
    let mut sorted: Vec<usize> = (0..requests.len()).collect();
    order::sort_by_key(&mut sorted, |&i| {
        let r = &requests[i];
        order::key([&order::ascending(r.created_at), &r.hash()])
    });
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut seen: Vec<[u8; 32]> = Vec::new();
    let mut per: std::collections::HashMap<PartyId, usize> = std::collections::HashMap::new();
    for i in sorted {
        let r = &requests[i];
        let h = r.hash();
        let n = per.entry(r.requester.id()).or_default();
        if r.is_expired(now)
            || seen.contains(&h)
            || *n >= MAX_PENDING_PER_REQUESTER
            || kept.len() >= MAX_PENDING
        {
            dropped.push(i);
            continue;
        }
        seen.push(h);
        *n += 1;
        kept.push(i);
    }
    kept.sort_unstable();
    dropped.sort_unstable();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::os_rng;
    use crate::secret::Seed;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    fn ask(owner: &Identity, sections: &[String], now: u64) -> AccessAsk<'static> {
        AccessAsk {
            owner: owner.id(),
            record: RecordId([0; 32]),
            role: Role::Custom,
            sections: Box::leak(sections.to_vec().into_boxed_slice()),
            reason: "new patient visit on Monday",
            now,
            ttl_ms: 86_400_000,
        }
    }

    #[test]
    fn requests_and_refusals_bind_their_signers_and_reject_tampering() {
        let (owner, doctor, other) = (party(1), party(2), party(3));
        let sections = vec!["allergies".to_string(), "medications".to_string()];
        let r = AccessRequest::sign(&doctor, &ask(&owner, &sections, 1000), &mut os_rng()).unwrap();
        assert_eq!(
            AccessRequest::from_bytes(r.as_bytes(), &owner.id()).unwrap(),
            r
        );
        assert_eq!(r.sections, sections);
        assert_eq!(
            AccessRequest::from_bytes(r.as_bytes(), &other.id())
                .unwrap_err()
                .code(),
            "binding_mismatch"
        );
        for i in 0..r.as_bytes().len() {
            let mut bad = r.as_bytes().to_vec();
            bad[i] ^= 1;
            assert!(
                AccessRequest::from_bytes(&bad, &owner.id()).is_err(),
                "byte {i}"
            );
        }
        assert!(r.is_expired(1000 + 86_400_000) && !r.is_expired(1000));
        let no = AccessRefusal::sign(&owner, &r, 2000).unwrap();
        let back = AccessRefusal::from_bytes(no.as_bytes(), &doctor.id()).unwrap();
        assert!(back.answers(&r.hash(), &owner.id()));
        assert!(!back.answers(&r.hash(), &other.id()));
        assert_eq!(no.as_bytes().len(), AccessRefusal::LEN);
        assert!(AccessRefusal::sign(&other, &r, 2000).is_err());
        assert!(AccessRefusal::from_bytes(no.as_bytes(), &other.id()).is_err());
        for i in 0..no.as_bytes().len() {
            let mut bad = no.as_bytes().to_vec();
            bad[i] ^= 1;
            assert!(
                AccessRefusal::from_bytes(&bad, &doctor.id()).is_err(),
                "byte {i}"
            );
        }
        // Bad asks are refused before signing.
        let none: Vec<String> = vec![];
        assert!(AccessRequest::sign(&doctor, &ask(&owner, &none, 0), &mut os_rng()).is_err());
        let mut long = ask(&owner, &sections, 0);
        long.ttl_ms = MAX_REQUEST_TTL_MS + 1;
        assert!(AccessRequest::sign(&doctor, &long, &mut os_rng()).is_err());
        assert!(AccessRequest::sign(&owner, &ask(&owner, &sections, 0), &mut os_rng()).is_err());
    }

    #[test]
    fn the_owner_shows_at_most_three_fresh_requests_per_requester() {
        let (owner, doctor, nurse) = (party(1), party(2), party(4));
        let s = vec!["labs".to_string()];
        let mut all = Vec::new();
        for t in 0..5 {
            all.push(AccessRequest::sign(&doctor, &ask(&owner, &s, t), &mut os_rng()).unwrap());
        }
        all.push(AccessRequest::sign(&nurse, &ask(&owner, &s, 9), &mut os_rng()).unwrap());
        all.push(all[0].clone());
        let (kept, dropped) = pending_requests(&all, 10);
        assert_eq!(kept, vec![0, 1, 2, 5]);
        assert_eq!(dropped, vec![3, 4, 6]);
        // Expired ones are dropped, and free a place.
        let (kept, _) = pending_requests(&all, 86_400_001);
        assert_eq!(kept, vec![2, 3, 4, 5]);
    }

    #[test]
    fn a_request_dated_ahead_of_the_owners_clock_is_void() {
        let (owner, doctor) = (party(1), party(2));
        let s = vec!["labs".to_string()];
        let now = 1_000_000_000;
        // Dated ten years ahead: its lifetime would start then.
        let far = ask(&owner, &s, now + 10 * 365 * 86_400_000);
        let r = AccessRequest::sign(&doctor, &far, &mut os_rng()).unwrap();
        assert!(r.is_expired(now));
        let (kept, dropped) = pending_requests(&[r], now);
        assert!(kept.is_empty());
        assert_eq!(dropped, vec![0]);
        // Within the replay window ahead: a clock a little fast is fine.
        let near = ask(&owner, &s, now + MAX_CLOCK_AHEAD_MS);
        let r = AccessRequest::sign(&doctor, &near, &mut os_rng()).unwrap();
        assert!(!r.is_expired(now));
    }

    #[test]
    fn emergency_access_cannot_be_requested() {
        let (owner, doctor) = (party(1), party(2));
        let s = vec!["allergies".to_string()];
        let mut a = ask(&owner, &s, 1000);
        a.role = Role::Emergency;
        assert_eq!(
            AccessRequest::sign(&doctor, &a, &mut os_rng())
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        // Nor is a hand-made one accepted: the role byte is checked on decode.
        let ok = AccessRequest::sign(&doctor, &ask(&owner, &s, 1000), &mut os_rng()).unwrap();
        let mut bytes = ok.as_bytes().to_vec();
        let at = 6 + 32 + 32 + 66;
        assert_eq!(bytes[at], Role::Custom as u8);
        bytes[at] = Role::Emergency as u8;
        let payload = ok.payload_len;
        let sig = doctor.sign(&bytes[..payload]);
        bytes.truncate(payload);
        bytes.extend_from_slice(&sig);
        let err = AccessRequest::from_bytes(&bytes, &owner.id()).unwrap_err();
        assert_eq!(err.code(), "malformed");
    }

    #[test]
    fn the_owner_shows_at_most_twenty_requests_in_all() {
        let owner = party(1);
        let s = vec!["labs".to_string()];
        let all: Vec<AccessRequest> = (0..25u8)
            .map(|b| {
                let p = party(b + 10);
                AccessRequest::sign(&p, &ask(&owner, &s, b as u64), &mut os_rng()).unwrap()
            })
            .collect();
        let (kept, dropped) = pending_requests(&all, 100);
        assert_eq!(kept, (0..MAX_PENDING).collect::<Vec<_>>());
        assert_eq!(dropped, (MAX_PENDING..25).collect::<Vec<_>>());
    }
}
