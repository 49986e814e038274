//! What a mail holds: the one place that decides which SeSPHR object a
//! mail's plaintext is. A kind counts only once the whole object decodes
//! and, where it names its recipient, names this one; anything else is junk
//! anyone could post, and the reader deletes it. Each kind's own reader then
//! verifies the rest (a receipt's signatures, an acceptance's MAC under its
//! invitation's secret) and deletes what it consumed.

use crate::access_request::{AccessRefusal, AccessRequest};
use crate::audit::ReceiptBundle;
use crate::identity::PartyId;
use crate::invitation::{Acceptance, NameCard};
use crate::primitives::codec::{Kind, BRAND};

/// A kind that travels in mail, and whether `plain` decodes whole as one
/// for `me`. A new mail kind is one more row.
type Check = fn(&[u8], &PartyId) -> bool;
const MAIL_KINDS: [(Kind, Check); 5] = [
    // Its framing and record binding (the receipts are the audit's to check).
    (Kind::ReceiptBundle, |p, _| {
        ReceiptBundle::claimed(p).is_ok()
    }),
    // Its outer object: the rest needs the invitation's secret.
    (Kind::Acceptance, |p, _| Acceptance::from_bytes(p).is_ok()),
    // Its owner's signature, and that it is for `me`.
    (Kind::NameCard, |p, me| {
        NameCard::from_bytes(p).is_ok_and(|c| c.check_for(me).is_ok())
    }),
    // The requester's signature, and that it asks `me`.
    (Kind::AccessRequest, |p, me| {
        AccessRequest::from_bytes(p, me).is_ok()
    }),
    // The owner's signature, and that it answers `me`.
    (Kind::AccessRefusal, |p, me| {
        AccessRefusal::from_bytes(p, me).is_ok()
    }),
];

/// The kind of the object `plain` (an opened mail of `me`'s) holds when it
/// is one that travels in mail and decodes whole for `me` ([`MAIL_KINDS`]);
/// `None` for anything else, a known prefix over junk included.
pub fn kind_of(plain: &[u8], me: &PartyId) -> Option<Kind> {
    let head = plain.get(..5)?;
    if head[..4] != BRAND {
        return None;
    }
    let (kind, check) = MAIL_KINDS.iter().find(|(k, _)| *k as u8 == head[4])?;
    check(plain, me).then_some(*kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::invitation::{Invitation, InvitationTerms};
    use crate::primitives::os_rng;
    use crate::secret::Seed;

    fn party(b: u8) -> Identity {
        Identity::from_seed(Seed::from_bytes(&[b; 32]).unwrap()).unwrap()
    }

    #[test]
    fn only_whole_objects_for_me_count() {
        let (owner, me, other) = (party(1), party(2), party(3));
        let terms = InvitationTerms {
            expires_at: 2_000_000,
            role: "physician".into(),
            sections: vec!["allergies".into()],
            owner_name: "Alice".into(),
        };
        let inv = Invitation::create(&owner, terms, &mut os_rng()).unwrap();
        let acc = inv.accept(&me, "Bob", 1, &mut os_rng()).unwrap();
        assert_eq!(kind_of(acc.as_bytes(), &owner.id()), Some(Kind::Acceptance));
        let card = NameCard::sign(&owner, &me.id(), "Alice", 1).unwrap();
        assert_eq!(kind_of(card.as_bytes(), &me.id()), Some(Kind::NameCard));
        // A valid card for someone else, and junk behind each known prefix.
        assert_eq!(kind_of(card.as_bytes(), &other.id()), None);
        for k in [Kind::ReceiptBundle, Kind::Acceptance, Kind::NameCard] {
            let junk = [&BRAND[..], &[k as u8, 1], &[0u8; 40]].concat();
            assert_eq!(kind_of(&junk, &me.id()), None, "{k:?}");
        }
        let mut cut = card.as_bytes().to_vec();
        cut.pop();
        assert_eq!(kind_of(&cut, &me.id()), None);
        assert_eq!(kind_of(b"SPH", &me.id()), None);
    }
}
