//! Coalitions: what the relay holds, what the SRS holds, and both together,
//! yield no DEK and no plaintext; a revoked grantee's b1 alone is useless; a
//! grantee plus an SRS that kept b2 learn nothing after a rotation.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_testkit::world::*;

use sesphr_client::capsule::{derive_data_key, DataKey};
use sesphr_client::grant::Role;
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::primitives::Point;
use sesphr_client::secret::SecretScalar;
use sesphr_client::stream::decrypt_body;

/// Every `Z` a party could form from what it holds, tried as the shared point.
fn try_open(w: &World, name: &str, m: &VerifiedManifest, candidates: &[Point]) -> bool {
    let entry = m.entry(&w.section_id(name)).unwrap();
    let blob = &w.blobs[&entry.chunk_root];
    let header = sesphr_client::stream::BlobHeader::from_prefix(blob).unwrap();
    candidates.iter().any(|z| {
        let dk: DataKey = derive_data_key(
            &entry.capsule.0,
            &entry.section_key,
            z,
            &header.key_context(),
        );
        decrypt_body(blob, &dk, &entry.chunk_root).is_ok()
    })
}

fn public_candidates(m: &VerifiedManifest, w: &World, name: &str) -> Vec<Point> {
    let e = m.entry(&w.section_id(name)).unwrap();
    let (ee, a) = (e.capsule.0, e.section_key);
    let mut c = vec![ee, a, Point::generator()];
    c.extend(Point::from_projective(ee + a));
    c
}

#[test]
fn relay_and_srs_alone_or_together_decrypt_nothing() {
    let mut w = World::new("coalition");
    let doctor = identity("doctor");
    let m = w.write(&[("history", b"diabetes type 2".as_slice())]);
    let g = w.grant("history", &doctor, Role::Physician, 0, None);
    let e = m.entry(&w.section_id("history")).unwrap().capsule.0;

    // Relay: blobs, manifests, statements, the b1 envelope. It can open no envelope.
    let relay = identity("relay");
    assert!(g
        .b1_envelope
        .open_share(&relay, &w.owner.public().encryption, b"any")
        .is_err());
    assert!(!try_open(
        &w,
        "history",
        &m,
        &public_candidates(&m, &w, "history")
    ));

    // SRS: b2 (and B2, A, E). b2·E, and every combination with public points, fail.
    let b2 =
        SecretScalar::from_bytes(w.srs_shares[&g.statement.grant_id].b2_bytes().as_ref()).unwrap();
    let p2 = b2.mul(&e).unwrap();
    let mut srs_guesses = vec![p2];
    srs_guesses.extend(Point::from_projective(p2 + e));
    srs_guesses.extend(public_candidates(&m, &w, "history"));
    assert!(!try_open(&w, "history", &m, &srs_guesses));
    // Relay + SRS: the same material; still nothing, and the SRS cannot open b1.
    assert!(g
        .b1_envelope
        .open_share(
            &w.srs,
            &w.owner.public().encryption,
            b"SeSPHR-v1/envelope/b1"
        )
        .is_err());

    // The live grantee with the SRS answer succeeds (control).
    let share = w.accept(&doctor, &g, "history");
    let b1 = SecretScalar::from_bytes(share.b1_bytes().as_ref()).unwrap();
    let z = Point::from_projective(b1.mul(&e).unwrap() + p2).unwrap();
    assert!(try_open(&w, "history", &m, &[z]));
}

#[test]
fn a_revoked_grantees_b1_alone_is_useless() {
    let mut w = World::new("revoked-b1");
    let doctor = identity("doctor");
    let m = w.write(&[("history", b"secret history".as_slice())]);
    let g = w.grant("history", &doctor, Role::Physician, 0, None);
    let share = w.accept(&doctor, &g, "history");
    w.revoke(&g.statement.grant_id);
    let b1 = SecretScalar::from_bytes(share.b1_bytes().as_ref()).unwrap();
    let e = m.entry(&w.section_id("history")).unwrap().capsule.0;
    let mut guesses = vec![b1.mul(&e).unwrap(), b1.public()];
    guesses.extend(public_candidates(&m, &w, "history"));
    assert!(!try_open(&w, "history", &m, &guesses));
    assert_eq!(
        w.read_with(&doctor, &share, "history").unwrap_err(),
        "revoked"
    );
}

#[test]
fn grantee_plus_srs_learn_nothing_after_rotation() {
    let mut w = World::new("rotation");
    let doctor = identity("doctor");
    let m1 = w.write(&[("history", b"before".as_slice())]);
    let g = w.grant("history", &doctor, Role::Physician, 0, None);
    let share = w.accept(&doctor, &g, "history");
    // The colluding SRS keeps b2 despite the revocation.
    let b2 =
        SecretScalar::from_bytes(w.srs_shares[&g.statement.grant_id].b2_bytes().as_ref()).unwrap();
    let b1 = SecretScalar::from_bytes(share.b1_bytes().as_ref()).unwrap();
    w.revoke(&g.statement.grant_id);
    // Together they still open the old version (what was shared stays shared)...
    let e1 = m1.entry(&w.section_id("history")).unwrap().capsule.0;
    let z1 = Point::from_projective(b1.mul(&e1).unwrap() + b2.mul(&e1).unwrap()).unwrap();
    assert!(try_open(&w, "history", &m1, &[z1]));
    // ...but the next write rotates, and the new epoch's body is closed to them.
    let m3 = w.write(&[("history", b"after the revocation".as_slice())]);
    let e3 = m3.entry(&w.section_id("history")).unwrap().capsule.0;
    assert_ne!(
        m3.entry(&w.section_id("history")).unwrap().epoch,
        m1.entry(&w.section_id("history")).unwrap().epoch
    );
    let mut guesses = vec![
        Point::from_projective(b1.mul(&e3).unwrap() + b2.mul(&e3).unwrap()).unwrap(),
        b1.mul(&e3).unwrap(),
        b2.mul(&e3).unwrap(),
    ];
    guesses.extend(public_candidates(&m3, &w, "history"));
    assert!(!try_open(&w, "history", &m3, &guesses));
}
