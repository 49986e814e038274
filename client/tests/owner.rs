//! The owner's record state: every step of a record's life, and a rebuild
//! from the servers' copies (manifest chain + grant list) after each step
//! that must equal the live state exactly.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesphr_client::capsule::{Capsule, KeyContext};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role, VerifiedGrant};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestEntry, VerifiedManifest};
use sesphr_client::owner::OwnerRecord;
use sesphr_client::policy::{Rotation, RotationReason};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::SectionId;
use sesphr_client::stream::{decrypt_body, encrypt_body, DEFAULT_CHUNK_LOG2};

const NOW: u64 = 1_800_000_000_000;

/// The owner's side and the servers' copies of what it published.
struct Owner {
    id: Identity,
    srs: Identity,
    rec: OwnerRecord,
    manifests: Vec<VerifiedManifest>,
    grants: Vec<(VerifiedGrant, bool)>,
    blobs: Vec<(ManifestEntry, Vec<u8>)>,
    /// The clock writes run at.
    now: u64,
}

impl Owner {
    fn new() -> Owner {
        let id = Identity::generate().unwrap();
        let rec = OwnerRecord::new(&id, 0);
        Owner {
            id,
            srs: Identity::generate().unwrap(),
            rec,
            manifests: Vec::new(),
            grants: Vec::new(),
            blobs: Vec::new(),
            now: NOW,
        }
    }

    fn section(&self, name: &str) -> SectionId {
        SectionId::derive(self.id.seed(), &self.rec.record(), name)
    }

    fn deliver(&mut self, issued: &IssuedGrant, rotation: Option<Rotation>) {
        for g in rotation.into_iter().flat_map(|r| r.reissued) {
            self.grants.push((g.statement, false));
        }
        self.grants.push((issued.statement.clone(), false));
    }

    fn write(&mut self, updates: &[(&str, &[u8])]) {
        let version = self.rec.next_version();
        for (name, body) in updates {
            let section = self.section(name);
            let srs = self.srs.public().encryption;
            let (key, rotation) = self
                .rec
                .key_for_write(&self.id, &srs, section, self.now, &mut os_rng())
                .unwrap();
            for g in rotation.into_iter().flat_map(|r| r.reissued) {
                self.grants.push((g.statement, false));
            }
            let (capsule, dk) = Capsule::encapsulate(&key, version, &mut os_rng()).unwrap();
            let ctx = KeyContext::for_key(&key, version);
            let (blob, sealed) =
                encrypt_body(capsule, &dk, &ctx, body, DEFAULT_CHUNK_LOG2).unwrap();
            let entry = ManifestEntry::for_body(key.public(), &sealed);
            self.rec.set_entry(entry.clone()).unwrap();
            self.blobs.push((entry, blob));
        }
        let m = self.rec.sign_manifest(&self.id, NOW).unwrap();
        self.rec.published(m.clone()).unwrap();
        self.manifests.push(m);
    }

    fn grant(&mut self, name: &str, to: &Identity, from_version: u64, expires_at: Option<u64>) {
        let terms = GrantTerms {
            grantee: to.public().clone(),
            role: Role::Custom,
            from_version,
            expires_at,
            sequence: 0,
        };
        let srs = self.srs.public().encryption;
        let section = self.section(name);
        let (issued, rotation) = self
            .rec
            .grant(&self.id, &srs, section, &terms, &mut os_rng())
            .unwrap();
        self.deliver(&issued, rotation);
    }

    fn revoke(&mut self, to: &Identity) {
        let ids: Vec<_> = self
            .rec
            .grants()
            .filter(|g| g.grantee == *to.public())
            .map(|g| g.grant_id)
            .collect();
        assert!(!ids.is_empty());
        for id in ids {
            self.rec.revoked(&id).unwrap();
            for (g, revoked) in &mut self.grants {
                if g.grant_id == id {
                    *revoked = true;
                }
            }
        }
    }

    fn restored_now(&self) -> OwnerRecord {
        self.restored(self.now)
    }

    fn restored(&self, now: u64) -> OwnerRecord {
        OwnerRecord::restore(&self.id, 0, &self.manifests, &self.grants, now).unwrap()
    }

    /// The rebuilt state equals the live one in everything that matters.
    fn assert_restores(&self) {
        let r = self.restored(NOW);
        assert_eq!(r.record(), self.rec.record());
        assert_eq!(r.next_version(), self.rec.next_version());
        assert_eq!(r.sequence(), self.rec.sequence());
        let sections = |rec: &OwnerRecord| {
            rec.sections()
                .map(|(s, e)| (s, e.cloned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(sections(&r), sections(&self.rec));
        for (s, _) in self.rec.sections() {
            assert_eq!(r.epoch(&s), self.rec.epoch(&s));
            assert_eq!(r.pending_rotation(&s), self.rec.pending_rotation(&s));
        }
        let ids = |rec: &OwnerRecord| {
            let mut v: Vec<_> = rec.grants().map(|g| g.grant_id).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&r), ids(&self.rec));
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
        o.rec.pending_rotation(&history),
        Some(RotationReason::Revoked)
    );
    o.assert_restores();
    let before = o.rec.epoch(&history);
    o.write(&[("history", b"asthma; 2026 review")]);
    assert_ne!(o.rec.epoch(&history), before);
    assert_eq!(o.rec.pending_rotation(&history), None);
    o.assert_restores();

    // A from-now grant rotates at grant time, before any manifest uses the
    // new epoch; the other live grant is re-issued into it.
    let insurance = o.section("insurance");
    let old = o.rec.epoch(&insurance);
    o.grant("insurance", &nurse, o.rec.next_version(), None);
    assert_ne!(o.rec.epoch(&insurance), old);
    assert_eq!(o.rec.grants().count(), 2);
    o.assert_restores();
    o.write(&[("insurance", b"Acme 43")]);
    o.assert_restores();

    // An owner-requested rotation is pending until the next write only on
    // this device: the servers cannot know of it, so the rebuild does not.
    o.rec.rotate(&history).unwrap();
    assert_eq!(
        o.rec.pending_rotation(&history),
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
    o.rec = o.restored(NOW);
    o.write(&[("labs", b"HbA1c 5.9%")]);
    o.assert_restores();
    let labs = o.section("labs");
    let (entry, blob) = o.blobs.last().unwrap().clone();
    let dk = o.rec.data_key(&o.id, &labs).unwrap();
    let body = decrypt_body(&blob, &dk, &entry.chunk_root).unwrap();
    assert_eq!(body.as_slice(), b"HbA1c 5.9%");
    // The write rotated away from the revoked grant's epoch.
    assert!(o.grants.iter().all(|(g, _)| g.epoch != entry.epoch));
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
        sesphr_client::secret::Seed::from_bytes(o.id.seed().to_bytes().as_slice()).unwrap(),
    )
    .unwrap();
    assert_eq!(OwnerRecord::new(&again, 0).record(), o.rec.record());
    assert_ne!(OwnerRecord::new(&again, 1).record(), o.rec.record());

    let code = |r: sesphr_client::Result<OwnerRecord>| r.err().map(|e| e.code());
    let stranger = Identity::generate().unwrap();
    assert_eq!(
        code(OwnerRecord::restore(&stranger, 0, &o.manifests, &[], NOW)),
        Some("binding_mismatch")
    );
    assert_eq!(
        code(OwnerRecord::restore(&o.id, 1, &o.manifests, &[], NOW)),
        Some("binding_mismatch")
    );
    let gap = [o.manifests[0].clone(), o.manifests[2].clone()];
    assert_eq!(
        code(OwnerRecord::restore(&o.id, 0, &gap, &[], NOW)),
        Some("chain_broken")
    );
    assert_eq!(
        code(OwnerRecord::restore(&o.id, 0, &o.manifests[1..], &[], NOW)),
        Some("chain_broken")
    );
    // Publishing out of order is refused and leaves the state as it was.
    let mut rec = OwnerRecord::new(&o.id, 0);
    assert_eq!(
        rec.published(o.manifests[1].clone())
            .err()
            .map(|e| e.code()),
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
    let next = o.rec.next_version();
    o.grant("history", &a, next, None);
    o.assert_restores();
    o.grant("history", &b, next, None);
    o.assert_restores();
    o.write(&[("history", b"v2")]);
    o.assert_restores();

    // A from-now grant, a revocation, then a write rotating past its epoch.
    let c = Identity::generate().unwrap();
    let next = o.rec.next_version();
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
    let before = o.rec.epoch(&notes);
    o.now = NOW + 1_000;
    o.write(&[("notes", b"v2")]);
    assert_ne!(
        o.rec.epoch(&notes),
        before,
        "the expired grantee's epoch is still written"
    );
    let live: Vec<_> = o.rec.grants().map(|g| g.grantee.clone()).collect();
    assert_eq!(live, vec![b.public().clone()]);
    let restored = o.restored_now();
    assert_eq!(restored.epoch(&notes), o.rec.epoch(&notes));
    assert_eq!(restored.grants().count(), 1);
}
