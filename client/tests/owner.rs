//! The owner's record state: every step of a record's life, and a rebuild
//! from the servers' copies (manifest chain + grant list + the SRS head)
//! after each step that must equal the live state exactly; the rebuild's
//! freshness checks against the head; and unwitnessed versions.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_client::identity::Identity;
use sesphr_client::manifest::SignedHead;
use sesphr_client::owner::{OwnerRecord, HEAD_MAX_AGE_MS};
use sesphr_client::policy::RotationReason;
use sesphr_client::stream::decrypt_body;
use sesphr_testkit::world::World;

const NOW: u64 = 1_750_000_000_000;

/// The live owner and the servers' copies of what it published.
struct Owner {
    w: World,
}

impl Owner {
    fn new() -> Owner {
        Owner {
            w: World::new(&format!(
                "owner/{}",
                Identity::generate().unwrap().id().to_hex()
            )),
        }
    }
    fn rec(&self) -> &OwnerRecord {
        &self.w.record
    }
    fn section(&self, name: &str) -> sesphr_client::record::SectionId {
        self.w.section_id(name)
    }
    fn write(&mut self, updates: &[(&str, &[u8])]) {
        self.w.write(updates);
    }
    fn grant(&mut self, name: &str, to: &Identity, from_version: u64, expires_at: Option<u64>) {
        self.w.grant(
            name,
            to,
            sesphr_client::grant::Role::Custom,
            from_version,
            expires_at,
        );
    }
    fn revoke(&mut self, to: &Identity) {
        let ids: Vec<_> = self
            .rec()
            .grants()
            .filter(|g| g.grantee == *to.public())
            .map(|g| g.grant_id)
            .collect();
        assert!(!ids.is_empty());
        for id in ids {
            self.w.revoke(&id);
        }
    }
    fn restored(&self, now: u64) -> OwnerRecord {
        let head =
            self.w.manifests.last().map(|m| {
                SignedHead::sign(&self.w.srs, self.w.record_id(), m.version(), m.hash(), now)
            });
        OwnerRecord::restore(
            &self.w.owner,
            0,
            &self.w.manifests,
            &self.w.srs_grants,
            head.as_ref(),
            0,
            now,
        )
        .unwrap()
    }

    /// The rebuilt state equals the live one in everything that matters.
    fn assert_restores(&self) {
        let r = self.restored(NOW);
        let live = self.rec();
        assert_eq!(r.record(), live.record());
        assert_eq!(r.next_version(), live.next_version());
        assert_eq!(r.witnessed_version(), live.witnessed_version());
        assert_eq!(r.sequence(), live.sequence());
        let sections = |rec: &OwnerRecord| {
            rec.sections()
                .map(|(s, e)| (s, e.cloned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(sections(&r), sections(live));
        for (s, _) in live.sections() {
            assert_eq!(r.epoch(&s), live.epoch(&s));
            assert_eq!(r.pending_rotation(&s), live.pending_rotation(&s));
        }
        let ids = |rec: &OwnerRecord| {
            let mut v: Vec<_> = rec.grants().map(|g| g.grant_id).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&r), ids(live));
    }
}

#[test]
fn a_record_rebuilt_from_the_servers_equals_the_live_state_at_every_step() {
    let mut o = Owner::new();
    let (doctor, insurer, nurse) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    o.assert_restores();
    o.write(&[("history", b"asthma"), ("insurance", b"Acme 42")]);
    o.assert_restores();
    o.grant("history", &doctor, 0, None);
    o.grant("insurance", &insurer, 0, None);
    o.assert_restores();

    // Revoked but not yet rotated: the rebuild knows the next write rotates.
    o.revoke(&doctor);
    let history = o.section("history");
    assert_eq!(
        o.rec().pending_rotation(&history),
        Some(RotationReason::Revoked)
    );
    o.assert_restores();
    let before = o.rec().epoch(&history);
    o.write(&[("history", b"asthma; 2026 review")]);
    assert_ne!(o.rec().epoch(&history), before);
    assert_eq!(o.rec().pending_rotation(&history), None);
    o.assert_restores();

    // A from-now grant rotates at grant time, before any manifest uses the
    // new epoch; the other live grant is re-issued into it.
    let insurance = o.section("insurance");
    let old = o.rec().epoch(&insurance);
    o.grant("insurance", &nurse, o.rec().next_version(), None);
    assert_ne!(o.rec().epoch(&insurance), old);
    assert_eq!(o.rec().grants().count(), 2);
    o.assert_restores();
    o.write(&[("insurance", b"Acme 43")]);
    o.assert_restores();

    // An owner-requested rotation is pending until the next write only on
    // this device: the servers cannot know of it, so the rebuild does not.
    o.w.record.rotate(&history).unwrap();
    assert_eq!(
        o.rec().pending_rotation(&history),
        Some(RotationReason::Requested)
    );
    assert_eq!(o.restored(NOW).pending_rotation(&history), None);
    o.write(&[("history", b"rotated")]);
    o.assert_restores();
}

#[test]
fn the_rebuilt_state_keeps_writing_and_reading() {
    let mut o = Owner::new();
    let doctor = Identity::generate().unwrap();
    o.write(&[("labs", b"HbA1c 6.1%")]);
    o.grant("labs", &doctor, 0, None);
    o.revoke(&doctor);
    // A second device takes over from the servers' copies alone.
    o.w.record = o.restored(NOW);
    o.write(&[("labs", b"HbA1c 5.9%")]);
    o.assert_restores();
    let labs = o.section("labs");
    let entry = o.w.manifests.last().unwrap().entry(&labs).unwrap().clone();
    let blob = o.w.blobs[&entry.chunk_root].clone();
    let dk = o.rec().data_key(&o.w.owner, &labs).unwrap();
    let body = decrypt_body(&blob, &dk, &entry.chunk_root).unwrap();
    assert_eq!(body.as_slice(), b"HbA1c 5.9%");
    // The write rotated away from the revoked grant's epoch.
    assert!(o.w.srs_grants.iter().all(|(g, _)| g.epoch != entry.epoch));
}

#[test]
fn expiry_on_the_srs_clock_drops_the_grant_and_forces_a_rotation() {
    let mut o = Owner::new();
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    o.write(&[("notes", b"n")]);
    o.grant("notes", &a, 0, Some(NOW + 1_000));
    o.grant("notes", &b, 0, None);
    let notes = o.section("notes");
    let live = o.restored(NOW);
    assert_eq!(live.grants().count(), 2);
    assert_eq!(live.pending_rotation(&notes), None);
    let later = o.restored(NOW + 1_000);
    assert_eq!(later.grants().count(), 1);
    assert_eq!(
        later.pending_rotation(&notes),
        Some(RotationReason::Expired)
    );
}

#[test]
fn records_are_found_by_index_and_foreign_or_broken_chains_are_refused() {
    let mut o = Owner::new();
    o.write(&[("a", b"1")]);
    o.write(&[("b", b"2")]);
    o.write(&[("a", b"3")]);
    // The same seed finds the same record at the same index, another at the next.
    let again = Identity::from_seed(
        sesphr_client::secret::Seed::from_bytes(o.w.owner.seed().to_bytes().as_slice()).unwrap(),
    )
    .unwrap();
    assert_eq!(OwnerRecord::new(&again, 0).record(), o.rec().record());
    assert_ne!(OwnerRecord::new(&again, 1).record(), o.rec().record());

    let code = |r: sesphr_client::Result<OwnerRecord>| r.err().map(|e| e.code());
    let (id, m) = (&o.w.owner, &o.w.manifests);
    let stranger = Identity::generate().unwrap();
    assert_eq!(
        code(OwnerRecord::restore(&stranger, 0, m, &[], None, 0, NOW)),
        Some("binding_mismatch")
    );
    assert_eq!(
        code(OwnerRecord::restore(id, 1, m, &[], None, 0, NOW)),
        Some("binding_mismatch")
    );
    let gap = [m[0].clone(), m[2].clone()];
    assert_eq!(
        code(OwnerRecord::restore(id, 0, &gap, &[], None, 0, NOW)),
        Some("chain_broken")
    );
    assert_eq!(
        code(OwnerRecord::restore(id, 0, &m[1..], &[], None, 0, NOW)),
        Some("chain_broken")
    );
    // Publishing out of order is refused and leaves the state as it was.
    let mut rec = OwnerRecord::new(id, 0);
    assert_eq!(
        rec.published(m[1].clone()).err().map(|e| e.code()),
        Some("chain_broken")
    );
    assert!(rec.latest().is_none());
}

/// Two from-now grants before the next write: the first one's epoch is never
/// written, and the write uses the second's. The rebuild must take the
/// written epoch, not the older unwritten one (found by the model check,
/// `docs/verification.md`); likewise after a revocation and a write.
#[test]
fn a_rebuild_skips_an_epoch_a_later_write_moved_past() {
    let mut o = Owner::new();
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    o.write(&[("history", b"v1")]);
    let next = o.rec().next_version();
    o.grant("history", &a, next, None);
    o.assert_restores();
    o.grant("history", &b, next, None);
    o.assert_restores();
    o.write(&[("history", b"v2")]);
    o.assert_restores();

    // A from-now grant, a revocation, then a write rotating past its epoch.
    let c = Identity::generate().unwrap();
    let next = o.rec().next_version();
    o.grant("history", &c, next, None);
    o.revoke(&c);
    o.assert_restores();
    o.write(&[("history", b"v3")]);
    o.assert_restores();
}

/// A grant that expires is dropped at the next write, which rotates the
/// section, in a live session as after a rebuild (found by the model check).
#[test]
fn a_write_after_an_expiry_rotates_without_a_rebuild() {
    let mut o = Owner::new();
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    o.write(&[("notes", b"v1")]);
    o.grant("notes", &a, 0, Some(NOW + 1_000));
    o.grant("notes", &b, 0, None);
    let notes = o.section("notes");
    let before = o.rec().epoch(&notes);
    o.w.now = NOW + 1_000;
    o.write(&[("notes", b"v2")]);
    assert_ne!(
        o.rec().epoch(&notes),
        before,
        "the expired grantee's epoch is still written"
    );
    let live: Vec<_> = o.rec().grants().map(|g| g.grantee.clone()).collect();
    assert_eq!(live, vec![b.public().clone()]);
    let restored = o.restored(NOW + 1_000);
    assert_eq!(restored.epoch(&notes), o.rec().epoch(&notes));
    assert_eq!(restored.grants().count(), 1);
}

/// A restore believes no relay: it checks the relay's chain against the
/// SRS-signed head as a reader does, and keeps what the SRS has not
/// witnessed yet to push it.
#[test]
fn a_restore_checks_the_relay_against_the_srs_head() {
    let mut o = Owner::new();
    o.write(&[("allergies", b"penicillin")]);
    o.write(&[("allergies", b"penicillin, latex")]);
    let (w, id) = (&o.w, &o.w.owner);
    let grants = &w.srs_grants;
    let head_of = |v: usize, at: u64| {
        let m = &w.manifests[v - 1];
        SignedHead::sign(&w.srs, w.record_id(), m.version(), m.hash(), at)
    };
    let restore = |chain: &[_], head: Option<&SignedHead>, high_water: u64| {
        OwnerRecord::restore(id, 0, chain, grants, head, high_water, NOW).map_err(|e| e.to_string())
    };
    // The relay hides the newest version: stale, with both versions named.
    let err = restore(&w.manifests[..1], Some(&head_of(2, NOW)), 0).unwrap_err();
    assert!(err.contains("stale: 1 is older than 2"), "{err}");
    // A replayed old head, or one older than what this owner saw witnessed.
    let old = head_of(2, NOW - HEAD_MAX_AGE_MS - 1);
    assert!(restore(&w.manifests, Some(&old), 0)
        .unwrap_err()
        .contains("stale"));
    assert!(restore(&w.manifests, Some(&head_of(1, NOW)), 2)
        .unwrap_err()
        .contains("stale"));
    // An SRS that claims no head for a record this owner saw witnessed.
    assert!(restore(&w.manifests, None, 1)
        .unwrap_err()
        .contains("stale"));
    // Another manifest at the head's version: a fork.
    let forked = SignedHead::sign(&w.srs, w.record_id(), 2, [9; 32], NOW);
    assert!(restore(&w.manifests, Some(&forked), 0)
        .unwrap_err()
        .contains("binding mismatch"));
    // A relay ahead of the SRS (a head registration lost): the extra
    // version is owner-signed, kept, and listed to push.
    let r = restore(&w.manifests, Some(&head_of(1, NOW)), 0).unwrap();
    assert_eq!(r.witnessed_version(), 1);
    let pending: Vec<u64> = r.unwitnessed().map(|m| m.version()).collect();
    assert_eq!(pending, [2]);
    let mut r = r;
    r.witnessed(&head_of(2, NOW)).unwrap();
    assert_eq!(r.unwitnessed().count(), 0);
    // A head past what this state knows: another device wrote.
    let mut fresh = restore(&w.manifests[..1], Some(&head_of(1, NOW)), 0).unwrap();
    assert_eq!(
        fresh.witnessed(&head_of(2, NOW)).unwrap_err().to_string(),
        "stale: 1 is older than 2 (a version, or an audit log's size)"
    );
}
