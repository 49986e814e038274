//! The tamper kit: each malformed or forged input with its expected error.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_testkit::world::*;

use sesphr_client::audit::Decision;
use sesphr_client::capsule::Capsule;
use sesphr_client::envelope::Envelope;
use sesphr_client::grant::{Role, VerifiedGrant};
use sesphr_client::manifest::{ManifestContent, SignedHead, VerifiedManifest};
use sesphr_client::primitives::Point;
use sesphr_client::record::EpochId;
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::stream::{
    decrypt_body, encrypt_body, seal_section, BlobHeader, ChunkIndex, RustAesGcm, StreamDecryptor,
    HEADER_LEN, TAG_LEN,
};
use sesphr_client::Error;

/// A blob of several 16 KiB chunks, its data key and signed root.
fn fixture() -> (World, Vec<u8>, sesphr_client::capsule::DataKey, [u8; 32]) {
    let mut w = World::new("tamper");
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let key = w.key_at("labs", EpochId([9; 32]));
    let (blob, sealed, dk) = seal_section(&key, 1, &body, 14, &mut w.rng).unwrap();
    assert_eq!(
        decrypt_body(&blob, &dk, &sealed.chunk_root)
            .unwrap()
            .to_vec(),
        body
    );
    (w, blob, dk, sealed.chunk_root)
}

fn code(r: Result<impl Sized, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn every_header_bit_flip_is_refused() {
    let (_, blob, dk, root) = fixture();
    for i in 0..HEADER_LEN {
        for bit in [0u8, 3, 7] {
            let mut b = blob.clone();
            b[i] ^= 1 << bit;
            let c = code(decrypt_body(&b, &dk, &root));
            assert!(
                [
                    "malformed",
                    "unknown_version",
                    "wrong_kind",
                    "invalid_point",
                    "unsupported_chunk_size",
                    "content_mismatch",
                    "decryption_failed",
                    "truncated",
                    "trailing_data"
                ]
                .contains(&c),
                "byte {i} bit {bit}: {c}"
            );
        }
    }
}

#[test]
fn chunk_bit_flips_are_content_mismatch() {
    let (_, blob, dk, root) = fixture();
    for i in (HEADER_LEN..blob.len())
        .step_by(997)
        .chain([blob.len() - 1])
    {
        let mut b = blob.clone();
        b[i] ^= 0x80;
        assert_eq!(
            code(decrypt_body(&b, &dk, &root)),
            "content_mismatch",
            "byte {i}"
        );
    }
}

#[test]
fn truncation_at_and_inside_chunk_boundaries() {
    let (_, blob, dk, root) = fixture();
    let header = BlobHeader::from_prefix(&blob).unwrap();
    let mut cuts = vec![
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 1,
        blob.len() - 1,
        blob.len() - TAG_LEN,
    ];
    for i in 1..header.chunk_count() {
        let off = header.chunk_offset(i) as usize;
        cuts.extend([off - 1, off, off + 1]);
    }
    for cut in cuts {
        assert_eq!(
            code(decrypt_body(&blob[..cut], &dk, &root)),
            "truncated",
            "cut at {cut}"
        );
    }
    // Sequential: the final chunk never arrives.
    let index = ChunkIndex::from_blob(&blob)
        .unwrap()
        .verify(&header, &root)
        .unwrap();
    let mut dec = StreamDecryptor::new(header.clone(), &dk, index).unwrap();
    let last = header.chunk_offset(header.chunk_count() - 1) as usize;
    dec.push(&RustAesGcm::new(&dk.dek), &blob[HEADER_LEN..last])
        .unwrap();
    assert_eq!(dec.finish(), Err(Error::Truncated));
}

#[test]
fn out_of_range_chunk_indices_are_errors_not_panics() {
    let (_, blob, dk, root) = fixture();
    let header = BlobHeader::from_prefix(&blob).unwrap();
    let index = ChunkIndex::from_blob(&blob)
        .unwrap()
        .verify(&header, &root)
        .unwrap();
    let mut dec = StreamDecryptor::new(header.clone(), &dk, index).unwrap();
    let job = sesphr_client::stream::ChunkJob {
        index: u64::MAX,
        last: true,
        nonce: [0; 12],
        aad: [0; 32],
    };
    assert_eq!(
        dec.accept(&job, &[0u8; 16]),
        Err(Error::InvalidState("chunk index out of range"))
    );
    assert_eq!(
        code(dec.check(header.chunk_count(), &[0u8; 16])),
        "trailing_data"
    );
    let off = header.chunk_offset(0) as usize;
    let too_long = &blob[off..off + header.sealed_chunk_len(0) as usize + 1];
    assert_eq!(code(dec.check(0, too_long)), "trailing_data");
    // Accepting chunk 1 before chunk 0 (which carries the body length) is refused.
    let off1 = header.chunk_offset(1) as usize;
    let c1 = &blob[off1..off1 + header.sealed_chunk_len(1) as usize];
    assert_eq!(
        code(dec.open_chunk(&RustAesGcm::new(&dk.dek), 1, c1)),
        "invalid_state"
    );
}

#[test]
fn non_padme_lengths_are_refused_in_headers() {
    let (_, blob, _, _) = fixture();
    let mut h = blob[..HEADER_LEN].to_vec();
    // padded_len is the header's last field; 18433 is not a Padmé length.
    h[HEADER_LEN - 8..].copy_from_slice(&18_433u64.to_be_bytes());
    assert_eq!(code(BlobHeader::from_prefix(&h)), "malformed");
}

#[test]
fn trailing_data_is_refused() {
    let (_, mut blob, dk, root) = fixture();
    blob.push(0);
    assert_eq!(code(decrypt_body(&blob, &dk, &root)), "trailing_data");
    let header = BlobHeader::from_prefix(&blob).unwrap();
    let index = ChunkIndex::from_blob(&blob[..blob.len() - 1])
        .unwrap()
        .verify(&header, &root)
        .unwrap();
    let mut dec = StreamDecryptor::new(header, &dk, index).unwrap();
    assert_eq!(
        code(dec.push(&RustAesGcm::new(&dk.dek), &blob[HEADER_LEN..])),
        "trailing_data"
    );
}

#[test]
fn reordered_and_swapped_chunks_are_refused() {
    let (mut w, blob, dk, root) = fixture();
    let header = BlobHeader::from_prefix(&blob).unwrap();
    let (a, b) = (
        header.chunk_offset(0) as usize,
        header.chunk_offset(1) as usize,
    );
    let len = header.sealed_chunk_len(0) as usize;
    let mut swapped = blob.clone();
    swapped[a..a + len].copy_from_slice(&blob[b..b + len]);
    swapped[b..b + len].copy_from_slice(&blob[a..a + len]);
    assert_eq!(code(decrypt_body(&swapped, &dk, &root)), "content_mismatch");

    // Even with an index recomputed from the reordered blob (a lying relay),
    // the signed root refuses it.
    let index = ChunkIndex::from_blob(&swapped).unwrap();
    assert_eq!(code(index.verify(&header, &root)), "content_mismatch");

    // A chunk from another blob of the same section, same position.
    let key = w.key_at("labs", EpochId([9; 32]));
    let (other, _, _) = seal_section(&key, 2, &vec![1u8; 50_000], 14, &mut w.rng).unwrap();
    let mut mixed = blob.clone();
    mixed[a..a + len].copy_from_slice(&other[a..a + len]);
    assert_eq!(code(decrypt_body(&mixed, &dk, &root)), "content_mismatch");
}

#[test]
fn grantee_who_knows_the_dek_cannot_forge_content() {
    let (_, blob, dk, root) = fixture();
    // Same header (so same AAD and key commitment), other content, sealed with the real DEK.
    let header = BlobHeader::from_prefix(&blob).unwrap();
    let ctx = header.key_context();
    let (forged, forged_sealed) =
        encrypt_body(header.capsule, &dk, &ctx, &vec![0x41u8; 50_000], 14).unwrap();
    assert_eq!(forged[..HEADER_LEN], blob[..HEADER_LEN]);
    assert_ne!(forged_sealed.chunk_root, root);
    assert_eq!(code(decrypt_body(&forged, &dk, &root)), "content_mismatch");
}

#[test]
fn wrong_key_or_epoch_is_opaque_decryption_failure() {
    let (mut w, blob, _, root) = fixture();
    let other_epoch = w.key_at("labs", EpochId([8; 32]));
    let (_, wrong) = Capsule::encapsulate(&other_epoch, 1, &mut w.rng).unwrap();
    assert_eq!(
        code(decrypt_body(&blob, &wrong, &root)),
        "decryption_failed"
    );
}

#[test]
fn manifest_tamper_kit() {
    let mut w = World::new("manifest-tamper");
    let m1 = w.write(&[("history", b"one".as_slice()), ("notes", b"two".as_slice())]);
    let bytes = m1.as_bytes().to_vec();
    // Every single-byte change is refused.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        assert!(VerifiedManifest::from_bytes(&b).is_err(), "byte {i}");
    }
    assert_eq!(
        code(VerifiedManifest::from_bytes(&bytes[..bytes.len() - 1])),
        "malformed"
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(code(VerifiedManifest::from_bytes(&longer)), "malformed");
    // Format 2 carries an audit head before the signature, format 3 its
    // placements and a head: a format-1 body under either header does not
    // parse; format 4 does not exist.
    let mut v2 = bytes.clone();
    v2[5] = 2;
    assert_eq!(code(VerifiedManifest::from_bytes(&v2)), "malformed");
    v2[5] = 3;
    assert_eq!(code(VerifiedManifest::from_bytes(&v2)), "malformed");
    v2[5] = 4;
    assert_eq!(code(VerifiedManifest::from_bytes(&v2)), "unknown_version");

    // Signature over another message (the signature of a different manifest).
    let m2 = w.write(&[("notes", b"three".as_slice())]);
    let mut spliced = m2.as_bytes().to_vec();
    let n = spliced.len();
    spliced[n - 64..].copy_from_slice(&bytes[bytes.len() - 64..]);
    assert_eq!(
        code(VerifiedManifest::from_bytes(&spliced)),
        "bad_signature"
    );
    // High-S twin of a valid signature.
    let sig = p256::ecdsa::Signature::from_slice(&bytes[bytes.len() - 64..]).unwrap();
    let high =
        p256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), (-*sig.s()).to_bytes()).unwrap();
    let mut hs = bytes.clone();
    let n = hs.len();
    hs[n - 64..].copy_from_slice(&high.to_bytes());
    assert_eq!(code(VerifiedManifest::from_bytes(&hs)), "bad_signature");

    // Chain rules.
    m2.verify_successor(&m1).unwrap();
    assert_eq!(code(m1.verify_successor(&m2)), "chain_broken");
    let m3 = w.write(&[("notes", b"four".as_slice())]);
    assert_eq!(code(m3.verify_successor(&m1)), "chain_broken");

    // Another party cannot sign a manifest for this record.
    let mallory = identity("mallory");
    let content = ManifestContent {
        ..m1.content.clone()
    };
    assert_eq!(code(content.sign(&mallory)), "binding_mismatch");
    assert_eq!(code(m1.expect_owner(mallory.public())), "binding_mismatch");

    // Freshness: a relay serving an old manifest is caught by the SRS head.
    let head = SignedHead::sign(&w.srs, w.record_id(), m3.version(), m3.hash(), w.now);
    let head = SignedHead::from_bytes(head.as_bytes(), w.srs.public()).unwrap();
    head.check_manifest(&m3, 2).unwrap();
    assert_eq!(code(head.check_manifest(&m1, 0)), "stale");
    assert_eq!(code(head.check_manifest(&m3, 4)), "stale");
    // A fork: another owner-signed manifest at the head's version (a second
    // device's write that lost the race) chains correctly but is not the
    // witnessed one.
    let fork = ManifestContent {
        created_at: m3.content.created_at + 1,
        ..m3.content.clone()
    }
    .sign(&w.owner)
    .unwrap();
    fork.verify_successor(&m2).unwrap();
    assert_eq!(code(head.check_manifest(&fork, 2)), "binding_mismatch");
    assert_eq!(
        code(SignedHead::from_bytes(head.as_bytes(), mallory.public())),
        "bad_signature"
    );
}

#[test]
fn invalid_points_in_manifest_entries() {
    let mut w = World::new("points");
    let m = w.write(&[("history", b"x".as_slice())]);
    let bytes = m.as_bytes().to_vec();
    // Entry layout: the first entry's A starts after the fixed fields.
    let a_at = 6 + 66 + 32 + 16 + 8 + 32 + 8 + 4 + 32 + 32;
    assert_eq!(
        &bytes[a_at..a_at + 33],
        &m.content.entries[0].section_key.to_bytes()
    );
    let mut off_curve = [0u8; 33];
    off_curve[0] = 0x02;
    off_curve[32] = 0x05; // x = 5: not on the curve (invalid_point) or another point (bad_signature)
    for bad in [[0u8; 33], [0xffu8; 33], off_curve] {
        let mut b = bytes.clone();
        b[a_at..a_at + 33].copy_from_slice(&bad);
        let c = code(VerifiedManifest::from_bytes(&b));
        assert!(c == "invalid_point" || c == "bad_signature", "{c}");
    }
    let mut ident = bytes.clone();
    ident[a_at..a_at + 33].copy_from_slice(&[0u8; 33]);
    assert_eq!(code(VerifiedManifest::from_bytes(&ident)), "invalid_point");
    assert_eq!(Point::from_bytes(&[0x04; 33]), Err(Error::InvalidPoint));
}

#[test]
fn grant_tamper_kit() {
    let mut w = World::new("grant-tamper");
    let doctor = identity("doctor");
    let nurse = identity("nurse");
    let m = w.write(&[("history", b"h".as_slice()), ("labs", b"l".as_slice())]);
    let a_hist = m.entry(&w.section_id("history")).unwrap().section_key;
    let a_labs = m.entry(&w.section_id("labs")).unwrap().section_key;
    let g = w.grant("history", &doctor, Role::Physician, 0, None);
    let g2 = w.grant("labs", &doctor, Role::Physician, 0, None);

    for i in 0..g.statement.as_bytes().len() {
        let mut b = g.statement.as_bytes().to_vec();
        b[i] ^= 0x10;
        assert!(VerifiedGrant::from_bytes(&b).is_err(), "byte {i}");
    }
    // The wrong grantee, a swapped envelope, the wrong section key.
    assert_eq!(code(g.accept(&nurse, &a_hist)), "binding_mismatch");
    assert_eq!(
        code(g.statement.accept(&doctor, &g2.b1_envelope, &a_hist)),
        "binding_mismatch"
    );
    assert_eq!(code(g.accept(&doctor, &a_labs)), "grant_inconsistent");
    // The SRS checks its share the same way.
    assert_eq!(
        code(g.statement.accept_srs_share(&w.srs, &g2.b2_envelope)),
        "binding_mismatch"
    );
    assert_eq!(code(g.accept_srs_share(&doctor)), "decryption_failed");
    // Envelope bytes tampered: refused before or at decryption.
    let mut env = g.b1_envelope.to_bytes();
    let last = env.len() - 1;
    env[last] ^= 1;
    let env = Envelope::from_bytes(&env).unwrap();
    assert_eq!(
        code(g.statement.accept(&doctor, &env, &a_hist)),
        "binding_mismatch"
    );

    // A malicious owner giving a grantee shares for another key: b1·G + B2 ≠ A.
    let rogue_key = w.key_at("history", EpochId([1; 32]));
    let rogue = sesphr_client::grant::IssuedGrant::issue(
        &w.owner,
        &rogue_key,
        &w.srs.public().encryption,
        &sesphr_client::grant::GrantTerms::new(doctor.public(), Role::Physician, 99),
        &mut w.rng,
    )
    .unwrap();
    assert_eq!(code(rogue.accept(&doctor, &a_hist)), "grant_inconsistent");
}

#[test]
fn reencryption_tamper_kit() {
    let mut w = World::new("re-tamper");
    let doctor = identity("doctor");
    let mallory = identity("mallory");
    let m = w.write(&[("history", b"h".as_slice())]);
    let g = w.grant("history", &doctor, Role::Physician, 0, None);
    let share = w.accept(&doctor, &g, "history");
    let (grant, srs_share) = (
        w.srs_grant(&g.statement.grant_id),
        w.srs_shares[&g.statement.grant_id].clone(),
    );

    // A request signed by someone else is refused by the SRS.
    assert_eq!(
        code(ReencryptRequest::new(
            &mallory, &grant, 1, w.now, &mut w.rng
        )),
        "binding_mismatch"
    );
    let req = ReencryptRequest::new(&doctor, &grant, 1, w.now, &mut w.rng).unwrap();
    let mut forged = req.as_bytes().to_vec();
    let n = forged.len();
    forged[n - 64..].copy_from_slice(&mallory.sign(&req.as_bytes()[..n - 64]));
    let forged = ReencryptRequest::from_bytes(&forged).unwrap();
    assert_eq!(code(forged.verify(&grant)), "bad_signature");

    // A manifest signed by another owner is never multiplied.
    let mut other = World::new("other-owner");
    let om = other.write(&[("history", b"h".as_slice())]);
    assert_eq!(
        srs_reencrypt(
            &srs_share,
            &grant,
            &req.verify(&grant).unwrap(),
            &om,
            w.now,
            &mut w.rng
        )
        .err(),
        Some(Decision::NotInManifest)
    );

    // Answers: valid one verifies; wrong P2 or a proof for another nonce fails.
    let sealed = w.srs_answer(&req).unwrap();
    let answer = ReencryptAnswer::verify(&sealed, w.srs.public(), &req, &grant, &m).unwrap();
    let req2 = ReencryptRequest::new(&doctor, &grant, 1, w.now, &mut w.rng).unwrap();
    let verdict = |answer: &[u8], request: &ReencryptRequest| {
        code(ReencryptAnswer::verify(
            answer,
            w.srs.public(),
            request,
            &grant,
            &m,
        ))
    };
    assert_eq!(verdict(&sealed, &req2), "binding_mismatch");
    assert_eq!(
        code(ReencryptAnswer::verify(
            &sealed,
            mallory.public(),
            &req,
            &grant,
            &m
        )),
        "bad_signature"
    );

    let wrong_p2 = ReencryptAnswer {
        p2: Point::generator(),
        ..answer.clone()
    }
    .sign(&w.srs)
    .unwrap();
    assert_eq!(verdict(&wrong_p2, &req), "bad_proof");
    let other_nonce = ReencryptAnswer {
        nonce: req2.nonce,
        ..answer.clone()
    }
    .sign(&w.srs)
    .unwrap();
    assert_eq!(verdict(&other_nonce, &req2), "bad_proof");
    // A receipt recording a refusal cannot stand for an allowed access.
    let mut refused = answer.receipt.clone();
    refused.entry.decision = Decision::Revoked;
    let bad_receipt = ReencryptAnswer {
        receipt: refused,
        ..answer.clone()
    }
    .sign(&w.srs)
    .unwrap();
    assert!(ReencryptAnswer::verify(&bad_receipt, w.srs.public(), &req, &grant, &m).is_err());
    // An answer to another request carrying this one's receipt (the SRS
    // answered `req2` without logging it): the receipt names `req`'s hash.
    let verified2 = req2.verify(&grant).unwrap();
    let srs_share = w.srs_shares[&grant.grant_id].clone();
    let re2 = srs_reencrypt(&srs_share, &grant, &verified2, &m, w.now, &mut w.rng).unwrap();
    let unlogged = re2
        .answer(answer.receipt.clone(), answer.head.clone())
        .sign(&w.srs)
        .unwrap();
    assert_eq!(verdict(&unlogged, &req2), "bad_proof");

    // A grant whose history starts later than the body: refused by policy
    // even in the same epoch (the owner did not rotate).
    let late = sesphr_client::grant::IssuedGrant::issue(
        &w.owner,
        &w.section_key("history"),
        &w.srs.public().encryption,
        &sesphr_client::grant::GrantTerms {
            grantee: doctor.public().clone(),
            role: Role::Physician,
            from_version: 2,
            expires_at: None,
            sequence: 7,
            emergency_wait_ms: None,
        },
        &mut w.rng,
    )
    .unwrap();
    let late_share = late.accept_srs_share(&w.srs).unwrap();
    let late_req = ReencryptRequest::new(&doctor, &late.statement, 1, w.now, &mut w.rng).unwrap();
    assert_eq!(
        srs_reencrypt(
            &late_share,
            &late.statement,
            &late_req.verify(&late.statement).unwrap(),
            &m,
            w.now,
            &mut w.rng
        )
        .err(),
        Some(Decision::BeforeFromVersion)
    );

    // The data key from a valid answer works; from a tampered P2 it cannot be derived.
    share.data_key(&m, &answer).unwrap();
}
