//! The whole protocol, natively: write, grant, read through the SRS, revoke, rotate.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use sesphr_client::grant::Role;

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
    let g_nurse = w.grant("history", &nurse, Role::Nurse, 0, None);
    let g_ins = w.grant("insurance", &insurer, Role::Insurer, 0, None);
    let doc_share = w.accept(&doctor, &g_doc, "history");
    let ins_share = w.accept(&insurer, &g_ins, "insurance");
    let nurse_share = w.accept(&nurse, &g_nurse, "history");

    assert_eq!(
        w.read(&doctor, &doc_share, "history").unwrap(),
        b"asthma since 2009"
    );
    assert_eq!(
        w.read(&insurer, &ins_share, "insurance").unwrap(),
        b"policy 42"
    );
    // The insurer's grant names another section: the SRS finds no entry for it.
    assert!(w.read(&insurer, &ins_share, "history").is_err());

    // Revoke the doctor; the SRS refuses from the next request on.
    w.revoke(&g_doc.statement.grant_id);
    assert_eq!(
        w.read(&doctor, &doc_share, "history").unwrap_err(),
        "revoked"
    );

    // The next write of history rotates the epoch and re-grants the nurse only.
    let before = w
        .manifests
        .last()
        .unwrap()
        .entry(&w.section_id("history"))
        .unwrap()
        .epoch;
    let m = w.write(&[("history", b"asthma, now controlled".as_slice())]);
    assert_ne!(m.entry(&w.section_id("history")).unwrap().epoch, before);
    assert_eq!(w.reissued.len(), 1);
    let regrant = w.reissued[0].clone();
    assert_eq!(regrant.statement.grantee, *nurse.public());
    // The nurse's old share names the old epoch: refused for the new version.
    assert_eq!(
        w.read(&nurse, &nurse_share, "history").unwrap_err(),
        "not_in_manifest"
    );
    let nurse_new = w.accept(&nurse, &regrant, "history");
    assert_eq!(
        w.read(&nurse, &nurse_new, "history").unwrap(),
        b"asthma, now controlled"
    );
    // The insurer is unaffected.
    assert_eq!(
        w.read(&insurer, &ins_share, "insurance").unwrap(),
        b"policy 42"
    );
    // Every decision was audited, refusals included.
    assert_eq!(w.log.len(), 7);
}

#[test]
fn from_now_grant_cannot_read_older_versions() {
    let mut w = World::new("from-now");
    let family = identity("family");
    let nurse = identity("nurse");
    w.write(&[("medications", b"v1 list".as_slice())]);
    let g_fam = w.grant("medications", &family, Role::Family, 0, None);
    let fam_share = w.accept(&family, &g_fam, "medications");
    // A from-now grant opens a new epoch at grant time and starts at the next version.
    let g = w.grant("medications", &nurse, Role::Nurse, w.version() + 1, None);
    assert_eq!(w.reissued.len(), 1, "the family member is re-granted");
    let m1 = w.manifests[0].clone();
    let share = g
        .statement
        .accept(&nurse, &g.b1_envelope, &g.statement.section_key)
        .unwrap();
    // Version 1 is in the old epoch: refused, and unreadable even with the share.
    assert_eq!(
        w.read_at(&nurse, &share, "medications", &m1).unwrap_err(),
        "not_in_manifest"
    );
    // The next version is written under the new epoch, readable by both.
    w.write(&[("medications", b"v2 list".as_slice())]);
    assert_eq!(w.read(&nurse, &share, "medications").unwrap(), b"v2 list");
    let fam_new = w.accept(&family, &w.reissued[0].clone(), "medications");
    assert_eq!(
        w.read(&family, &fam_new, "medications").unwrap(),
        b"v2 list"
    );
    // The family member's original grant still reads version 1 (history kept).
    assert_eq!(
        w.read_at(&family, &fam_share, "medications", &m1).unwrap(),
        b"v1 list"
    );
}

#[test]
fn expired_grant_is_refused_and_rotates() {
    let mut w = World::new("expiry");
    let lab = identity("lab");
    w.write(&[("labs", b"HbA1c 6.1%".as_slice())]);
    let g = w.grant("labs", &lab, Role::Lab, 0, Some(w.now + 1000));
    let share = w.accept(&lab, &g, "labs");
    assert_eq!(w.read(&lab, &share, "labs").unwrap(), b"HbA1c 6.1%");
    w.now += 1000;
    assert_eq!(w.read(&lab, &share, "labs").unwrap_err(), "expired");
    let now = w.now;
    let s = w.sections.iter_mut().find(|s| s.name == "labs").unwrap();
    assert_eq!(s.state.expire(now), 1);
    assert!(s.state.pending_rotation().is_some());
    let before = s.state.epoch();
    w.write(&[("labs", b"HbA1c 5.9%".as_slice())]);
    assert_ne!(w.sections[0].state.epoch(), before);
    assert!(w.reissued.is_empty());
}
