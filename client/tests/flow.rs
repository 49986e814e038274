//! The whole protocol natively, through the product's owner and reader
//! flows: write, grant, read through the SRS, revoke, rotate, expire,
//! history; and the reader's trust rules against a stranger's inbox items.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::policy::RotationReason;
use sesphr_client::record::{EpochId, SectionKey};
use sesphr_testkit::world::*;

#[test]
fn share_read_revoke_rotate() {
    let mut w = World::new("flow");
    let doctor = identity("doctor");
    let nurse = identity("nurse");
    let insurer = identity("insurer");
    w.write(&[
        ("history", b"asthma since 2009".as_slice()),
        ("insurance", b"policy 42".as_slice()),
    ]);
    let g_doc = w.grant("history", &doctor, Role::Physician, 0, None);
    w.grant("history", &nurse, Role::Nurse, 0, None);
    w.grant("insurance", &insurer, Role::Insurer, 0, None);

    assert_eq!(w.read(&doctor, "history").unwrap(), b"asthma since 2009");
    assert_eq!(w.read(&insurer, "insurance").unwrap(), b"policy 42");
    // The insurer holds no grant of history: nothing is even asked.
    assert_eq!(w.read(&insurer, "history").unwrap_err(), "not_granted");
    let asked = w.log.len();

    // Revoke the doctor; the SRS refuses from the next request on.
    w.revoke(&g_doc.statement.grant_id);
    assert_eq!(w.read(&doctor, "history").unwrap_err(), "revoked");
    assert_eq!(
        w.log.len(),
        asked + 1,
        "the refusal of a proven request is audited"
    );

    // The next write of history rotates the epoch and re-grants the nurse only.
    let before = w.record.epoch(&w.section_id("history")).unwrap();
    let issued = w.issued.len();
    let m = w.write(&[("history", b"asthma, now controlled".as_slice())]);
    assert_ne!(m.entry(&w.section_id("history")).unwrap().epoch, before);
    let reissued = &w.issued[issued..];
    assert_eq!(reissued.len(), 1);
    assert_eq!(reissued[0].statement.grantee, *nurse.public());
    // The nurse reads the new version with the re-issued grant; the doctor
    // has no grant of the new epoch.
    assert_eq!(
        w.read(&nurse, "history").unwrap(),
        b"asthma, now controlled"
    );
    assert_eq!(w.read(&doctor, "history").unwrap_err(), "not_granted");
    // Both keep the version they were granted: history, through the chain.
    assert_eq!(
        w.read_version(&doctor, "history", 1).unwrap_err(),
        "revoked"
    );
    assert_eq!(
        w.read_version(&nurse, "history", 1).unwrap(),
        b"asthma since 2009"
    );
    assert_eq!(w.read(&insurer, "insurance").unwrap(), b"policy 42");
}

#[test]
fn from_now_grant_cannot_read_older_versions() {
    let mut w = World::new("from-now");
    let family = identity("family");
    let nurse = identity("nurse");
    w.write(&[("medications", b"v1 list".as_slice())]);
    w.grant("medications", &family, Role::Family, 0, None);
    // A from-now grant opens a new epoch at grant time and starts at the next version.
    let issued = w.issued.len();
    w.grant("medications", &nurse, Role::Nurse, w.version() + 1, None);
    assert_eq!(
        w.issued.len() - issued,
        2,
        "the family member is re-granted first"
    );
    // Nothing is readable until the section is written again.
    assert_eq!(
        w.read(&nurse, "medications").unwrap_err(),
        "before_from_version"
    );
    w.write(&[("medications", b"v2 list".as_slice())]);
    assert_eq!(w.read(&nurse, "medications").unwrap(), b"v2 list");
    assert_eq!(w.read(&family, "medications").unwrap(), b"v2 list");
    // Version 1 stays closed to the nurse (another epoch, and before its
    // from_version) and open to the family member (all history).
    assert_eq!(
        w.read_version(&nurse, "medications", 1).unwrap_err(),
        "before_from_version"
    );
    assert_eq!(
        w.read_version(&family, "medications", 1).unwrap(),
        b"v1 list"
    );
}

#[test]
fn expired_grant_is_refused_and_rotates() {
    let mut w = World::new("expiry");
    let lab = identity("lab");
    w.write(&[("labs", b"HbA1c 6.1%".as_slice())]);
    w.grant("labs", &lab, Role::Lab, 0, Some(w.now + 1000));
    assert_eq!(w.read(&lab, "labs").unwrap(), b"HbA1c 6.1%");
    w.now += 1000;
    assert_eq!(w.read(&lab, "labs").unwrap_err(), "expired");
    let section = w.section_id("labs");
    let before = w.record.epoch(&section).unwrap();
    let issued = w.issued.len();
    w.write(&[("labs", b"HbA1c 5.9%".as_slice())]);
    assert_ne!(w.record.epoch(&section).unwrap(), before);
    assert_eq!(w.issued.len(), issued, "no one is left to re-grant");
    // An expiry already past is refused before anything is issued.
    let mut w2 = World::new("expiry-past");
    w2.write(&[("labs", b"x".as_slice())]);
    let terms = GrantTerms {
        expires_at: Some(w2.now),
        ..GrantTerms::new(lab.public(), Role::Lab, 0)
    };
    let srs = w2.srs.public().encryption;
    let err = w2
        .record
        .grant(
            &w2.owner,
            &srs,
            w2.section_id("labs"),
            &terms,
            w2.now,
            &mut w2.rng,
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    assert_eq!(w2.record.pending_rotation(&w2.section_id("labs")), None);
    let _ = RotationReason::Expired;
}

/// A grant a stranger signs over the victim's record and section, with a
/// sequence number higher than any the owner used, to the reader.
fn stranger_grant(
    w: &mut World,
    reader: &sesphr_client::identity::Identity,
    name: &str,
) -> IssuedGrant {
    let stranger = identity("stranger");
    let key = SectionKey::for_owner(
        &stranger,
        w.record_id(),
        w.section_id(name),
        EpochId([7; 32]),
    )
    .unwrap();
    let terms = GrantTerms::new(reader.public(), Role::Family, u64::MAX);
    IssuedGrant::issue(
        &stranger,
        &key,
        &w.srs.public().encryption,
        &terms,
        &mut w.rng,
    )
    .unwrap()
}

#[test]
fn a_strangers_inbox_items_never_shadow_the_owners_share() {
    let mut w = World::new("junk");
    let doctor = identity("doctor");
    w.write(&[("allergies", b"penicillin".as_slice())]);
    // The stranger's item arrives first, before the owner ever shares.
    let junk = stranger_grant(&mut w, &doctor, "allergies");
    w.post_inbox(&doctor.id(), &junk.statement, &junk.b1_envelope);
    assert_eq!(w.read(&doctor, "allergies").unwrap_err(), "not_granted");
    w.grant("allergies", &doctor, Role::Physician, 0, None);
    // Another junk item after: still the owner's grant is the only candidate.
    let junk2 = stranger_grant(&mut w, &doctor, "allergies");
    w.post_inbox(&doctor.id(), &junk2.statement, &junk2.b1_envelope);
    assert_eq!(w.read(&doctor, "allergies").unwrap(), b"penicillin");

    // The inbox binds the record to its owner from the manifest, and sets the
    // stranger's items aside as foreign.
    let mut inbox = sesphr_client::reader::Inbox::new();
    for item in &w.inboxes[&doctor.id()] {
        inbox.add(doctor.public(), item.clone());
    }
    let shared = inbox.record(w.manifests.last().unwrap()).unwrap();
    assert_eq!(shared.owner(), w.owner.public());
    assert_eq!(shared.foreign().len(), 2);
    assert_eq!(shared.sections().count(), 1);
}

#[test]
fn every_grant_of_the_epoch_is_tried_before_failing() {
    let mut w = World::new("fallback");
    let doctor = identity("doctor");
    w.write(&[("labs", b"LDL 2.9".as_slice())]);
    // Two grants of the same epoch; the newer one is revoked at the SRS
    // alone (the owner's state keeps the older one live).
    w.grant("labs", &doctor, Role::Physician, 0, None);
    let newer = w.grant("labs", &doctor, Role::Physician, 0, None);
    w.srs_shares.remove(&newer.statement.grant_id);
    for (g, revoked) in &mut w.srs_grants {
        if g.grant_id == newer.statement.grant_id {
            *revoked = true;
        }
    }
    let before = w.log.len();
    assert_eq!(w.read(&doctor, "labs").unwrap(), b"LDL 2.9");
    assert_eq!(
        w.log.len(),
        before + 2,
        "the newest was asked first, then the older"
    );
    // With both gone, the error is the newest candidate's refusal.
    let older = w.issued[0].statement.grant_id;
    w.srs_shares.remove(&older);
    for (g, revoked) in &mut w.srs_grants {
        *revoked |= g.grant_id == older;
    }
    assert_eq!(w.read(&doctor, "labs").unwrap_err(), "revoked");
}

#[test]
fn a_reader_reads_every_version_its_grant_covers() {
    let mut w = World::new("history");
    let family = identity("family");
    w.write(&[("notes", b"first".as_slice())]);
    w.write(&[("history", b"unrelated".as_slice())]);
    w.write(&[("notes", b"second".as_slice())]);
    w.grant("notes", &family, Role::Family, 0, None);
    w.write(&[("notes", b"third".as_slice())]);
    for (v, body) in [(1, "first"), (3, "second"), (4, "third")] {
        assert_eq!(
            w.read_version(&family, "notes", v).unwrap(),
            body.as_bytes()
        );
    }
    // Version 2 lists the body written at 1: readable through version 2's manifest too.
    assert_eq!(w.read_version(&family, "notes", 2).unwrap(), b"first");
    // The owner's history lists the bodies where they changed.
    let h: Vec<u64> = w
        .record
        .history(&w.section_id("notes"))
        .iter()
        .map(|e| e.written_at_version)
        .collect();
    assert_eq!(h, [1, 3, 4]);
    // The high-water mark is the newest head seen: an older chain tip is stale.
    assert_eq!(w.high_water[&family.id()], 4);
}
