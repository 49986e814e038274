//! The whole protocol, natively: write, grant, read through the SRS, revoke, rotate.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use sesphr_client::grant::Role;

#[test]
fn share_read_revoke_rotate() {
    let mut w = World::new("flow");
    let doctor = identity("doctor");
    let insurer = identity("insurer");
    let m1 = w.write(&[
        ("history", b"asthma since 2009".as_slice()),
        ("insurance", b"policy 42".as_slice()),
    ]);

    let g_doc = w.grant("history", &doctor, Role::Physician, 0, None);
    let g_ins = w.grant("insurance", &insurer, Role::Insurer, 0, None);
    let doc_share = g_doc
        .statement
        .accept(
            &doctor,
            &g_doc.b1_envelope,
            &m1.entry(&w.section_id("history")).unwrap().section_key,
        )
        .unwrap();
    let ins_share = g_ins
        .statement
        .accept(
            &insurer,
            &g_ins.b1_envelope,
            &m1.entry(&w.section_id("insurance")).unwrap().section_key,
        )
        .unwrap();

    assert_eq!(
        w.read(&doctor, &doc_share, "history").unwrap(),
        b"asthma since 2009"
    );
    assert_eq!(
        w.read(&insurer, &ins_share, "insurance").unwrap(),
        b"policy 42"
    );
    // The insurer's share cannot open history: the SRS refuses (no entry for its grant).
    assert!(w.read(&insurer, &ins_share, "history").is_err());

    // Revoke the doctor; the SRS refuses from the next request on.
    w.revoke(&g_doc.statement.grant_id);
    assert_eq!(
        w.read(&doctor, &doc_share, "history").unwrap_err(),
        "revoked"
    );

    // Rotation: a new epoch for history; the insurer is unaffected.
    w.rotate("history");
    assert_eq!(
        w.read(&insurer, &ins_share, "insurance").unwrap(),
        b"policy 42"
    );
    // Every decision was audited, refusals included.
    assert_eq!(w.log.len(), 4);
}

#[test]
fn from_now_grant_cannot_read_older_versions() {
    let mut w = World::new("from-now");
    let nurse = identity("nurse");
    w.write(&[("medications", b"v1 list".as_slice())]);
    // A from-now grant opens a new epoch first and starts at the next version.
    let m2 = w.rotate("medications");
    let g = w.grant("medications", &nurse, Role::Nurse, m2.version(), None);
    let share = g
        .statement
        .accept(
            &nurse,
            &g.b1_envelope,
            &m2.entry(&w.section_id("medications")).unwrap().section_key,
        )
        .unwrap();
    assert_eq!(w.read(&nurse, &share, "medications").unwrap(), b"v1 list");
    let m1 = w.manifests[0].clone();
    // The old version is in another epoch: refused by the SRS.
    assert_eq!(
        w.read_at(&nurse, &share, "medications", &m1).unwrap_err(),
        "not_in_manifest"
    );
}

#[test]
fn expired_grant_is_refused() {
    let mut w = World::new("expiry");
    let lab = identity("lab");
    let m = w.write(&[("labs", b"HbA1c 6.1%".as_slice())]);
    let g = w.grant("labs", &lab, Role::Lab, 0, Some(w.now + 1000));
    let share = g
        .statement
        .accept(
            &lab,
            &g.b1_envelope,
            &m.entry(&w.section_id("labs")).unwrap().section_key,
        )
        .unwrap();
    assert_eq!(w.read(&lab, &share, "labs").unwrap(), b"HbA1c 6.1%");
    w.now += 1000;
    assert_eq!(w.read(&lab, &share, "labs").unwrap_err(), "expired");
}
