//! Property tests: every object round-trips, and every decoder refuses
//! arbitrary bytes without panicking.
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use sesphr_testkit::world::*;
use sesphr_testkit::TestRng;

use proptest::prelude::*;
use sesphr_client::audit::{
    AuditEntry, Decision, InclusionReceipt, MemoryLog, PurposeOfUse, SignedTreeHead,
};
use sesphr_client::capsule::{Capsule, KeyContext};
use sesphr_client::envelope::{self, Envelope};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role, VerifiedGrant};
use sesphr_client::identity::{DirectoryEntry, PartyId, PublicIdentity};
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::merkle;
use sesphr_client::record::{EpochId, RecordId, SectionId};
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::stream::{
    decrypt_body, encrypt_body, padme, BlobHeader, ChunkAead, ChunkIndex, RustAesGcm,
    StreamDecryptor, StreamEncryptor, ALLOWED_CHUNK_LOG2, HEADER_LEN,
};

/// A fixed valid grant, for decoders that verify against one.
fn grant_for_decoders(w: &World) -> VerifiedGrant {
    let mut rng = TestRng::new("decoders-grant");
    let key = w.key_at("s", EpochId([4; 32]));
    let terms = GrantTerms::new(w.srs.public(), Role::Lab, 1);
    IssuedGrant::issue(&w.owner, &key, &w.srs.public().encryption, &terms, &mut rng)
        .unwrap()
        .statement
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn stream_round_trip_and_random_access(len in 0usize..140_000, log2_idx in 0usize..2, seed in any::<u64>()) {
        let chunk_log2 = ALLOWED_CHUNK_LOG2[log2_idx];
        let mut w = World::new(&format!("stream-{seed}"));
        let body: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
        let key = w.key_at("s", EpochId([3; 32]));
        let (capsule, dk) = Capsule::encapsulate(&key, 5, &mut w.rng).unwrap();
        let ctx = KeyContext::for_key(&key, 5);
        let (blob, sealed) = encrypt_body(capsule, &dk, &ctx, &body, chunk_log2).unwrap();
        let header = BlobHeader::from_prefix(&blob).unwrap();
        prop_assert_eq!(blob.len() as u64, header.blob_len());
        prop_assert_eq!(header.padded_len, padme(len as u64 + 8));
        prop_assert_eq!(decrypt_body(&blob, &dk, &sealed.chunk_root).unwrap().to_vec(), body.clone());
        prop_assert_eq!(ChunkIndex::from_bytes(&sealed.index.to_bytes()).unwrap(), sealed.index.clone());
        prop_assert_eq!(BlobHeader::from_prefix(&header.to_bytes()).unwrap(), header.clone());

        // Random access, last chunk first after chunk 0.
        let index = sealed.index.clone().verify(&header, &sealed.chunk_root).unwrap();
        let mut dec = StreamDecryptor::new(header.clone(), &dk, index).unwrap();
        let engine = RustAesGcm::new(&dk.dek);
        let n = header.chunk_count();
        let mut parts = vec![Vec::new(); n as usize];
        for i in std::iter::once(0).chain((1..n).rev()) {
            let off = header.chunk_offset(i) as usize;
            let sealed_chunk = &blob[off..off + header.sealed_chunk_len(i) as usize];
            parts[i as usize] = dec.open_chunk(&engine, i, sealed_chunk).unwrap().to_vec();
            // Releasing by length alone happens exactly for all-body chunks.
            let job = dec.check(i, sealed_chunk).unwrap();
            let plain = engine.open(&job, sealed_chunk).unwrap();
            let whole = dec.release(&job, plain.len() as u64).unwrap();
            prop_assert_eq!(whole, i > 0 && parts[i as usize] == plain.as_slice(), "chunk {}", i);
            prop_assert!(dec.release(&job, plain.len() as u64 + 1).is_err());
        }
        prop_assert_eq!(parts.concat(), body);
    }

    #[test]
    fn frames_lay_out_what_prepare_builds(len in 0usize..140_000, log2_idx in 0usize..2, seed in any::<u64>()) {
        let mut w = World::new(&format!("frame-{seed}"));
        let body: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
        let key = w.key_at("s", EpochId([3; 32]));
        let (capsule, dk) = Capsule::encapsulate(&key, 5, &mut w.rng).unwrap();
        let ctx = KeyContext::for_key(&key, 5);
        let log2 = ALLOWED_CHUNK_LOG2[log2_idx];
        let mut a = StreamEncryptor::new(capsule, &dk, &ctx, len as u64, log2).unwrap();
        let mut b = StreamEncryptor::new(capsule, &dk, &ctx, len as u64, log2).unwrap();
        for i in 0..a.chunk_count() {
            let (s, e) = a.body_range(i);
            let (job, pt) = a.prepare(&body[s as usize..e as usize]).unwrap();
            let f = b.frame().unwrap();
            prop_assert_eq!(&f.job, &job);
            prop_assert_eq!(f.body, (s, e));
            let mut assembled = f.prefix.map(|p| p.to_vec()).unwrap_or_default();
            assembled.extend_from_slice(&body[s as usize..e as usize]);
            assembled.resize(assembled.len() + f.padding as usize, 0);
            prop_assert_eq!(&assembled, &*pt);
        }
        prop_assert!(b.frame().is_err());
    }

    #[test]
    fn padme_bounds(len in 0u64..(1u64 << 48)) {
        let p = padme(len);
        prop_assert!(p >= len);
        prop_assert!(len < 256 || (p - len) as f64 <= len as f64 * 0.12);
        prop_assert_eq!(padme(p), p);
    }

    #[test]
    fn manifest_round_trip(n in 0usize..6, version in 1u64..1000, created in any::<u64>(), seed in any::<u64>()) {
        let w = World::new(&format!("manifest-{seed}"));
        let mut rng = TestRng::new(&format!("m{seed}"));
        let entries: Vec<ManifestEntry> = (0..n).map(|i| {
            let key = w.key_at(&format!("s{i}"), EpochId::generate(&mut rng));
            let (capsule, _) = Capsule::encapsulate(&key, version, &mut rng).unwrap();
            ManifestEntry { section: key.section, epoch: key.epoch, section_key: key.public(), capsule,
                written_at_version: 1 + (i as u64 % version), chunk_root: [i as u8; 32], blob_len: 1000 * i as u64,
                index_id: [i as u8 ^ 2; 32],
                // Every third entry sharded (format 3) when the seed says so.
                placement: (seed % 3 == 1 && i % 3 == 0).then(|| vec![i as u8; 17 + (seed % 300) as usize]) }
        }).collect();
        let content = ManifestContent { record: w.record_id(), record_nonce: RecordId::for_index(w.owner.seed(), &w.owner.id(), 0).1, version,
            previous: if version == 1 { [0; 32] } else { [7; 32] }, created_at: created, entries,
            audit_head: (version % 2 == 0).then(|| vec![version as u8; 1 + (created % 1024) as usize]) };
        let m = content.clone().sign(&w.owner).unwrap();
        let back = VerifiedManifest::from_bytes(m.as_bytes()).unwrap();
        prop_assert_eq!(&back, &m);
        let mut sorted = content.entries.clone();
        sorted.sort_by_key(|e| e.section);
        prop_assert_eq!(back.content.entries, sorted);
        let head = SignedHead::sign(&w.srs, w.record_id(), version, m.hash(), created);
        prop_assert_eq!(SignedHead::from_bytes(head.as_bytes(), w.srs.public()).unwrap(), head);
    }

    #[test]
    fn grant_request_revocation_round_trip(role_idx in 0usize..9, from in 0u64..50, expiry in proptest::option::of(prop_oneof![Just(0u64), 1u64..u64::MAX]), seed in any::<u64>(), wait in proptest::option::of(1_000u64..7_776_000_000)) {
        let mut w = World::new(&format!("grant-{seed}"));
        let grantee = identity(&format!("grantee-{seed}"));
        let key = w.key_at("labs", EpochId([1; 32]));
        let terms = GrantTerms { grantee: grantee.public().clone(), role: Role::ALL[role_idx], from_version: from, expires_at: expiry, sequence: seed, emergency_wait_ms: wait };
        let g = IssuedGrant::issue(&w.owner, &key, &w.srs.public().encryption, &terms, &mut w.rng).unwrap();
        let back = VerifiedGrant::from_bytes(g.statement.as_bytes()).unwrap();
        prop_assert_eq!(&back, &g.statement);
        // An expiry of 0 is encoded as none.
        prop_assert_eq!(back.expires_at, expiry.filter(|t| *t != 0));
        prop_assert_eq!(back.role, Role::ALL[role_idx]);
        prop_assert_eq!(back.emergency_wait_ms, wait);
        // Format 1 for an ordinary grant (its bytes as before), 2 with a wait.
        prop_assert_eq!(back.as_bytes()[5], if wait.is_some() { 2 } else { 1 });
        prop_assert_eq!(Envelope::from_bytes(&g.b1_envelope.to_bytes()).unwrap(), g.b1_envelope.clone());
        g.accept(&grantee, &key.public()).unwrap();
        g.accept_srs_share(&w.srs).unwrap();

        let req = ReencryptRequest::new(&grantee, &g.statement, from + 1, seed, &mut w.rng).unwrap();
        let rb = ReencryptRequest::from_bytes(req.as_bytes()).unwrap();
        prop_assert_eq!(&rb, &req);
        rb.verify(&g.statement).unwrap();
        let (sealed, key_a) = envelope::seal_request(&w.srs.public().encryption, req.as_bytes(), &mut w.rng).unwrap();
        let (opened, key_b) = envelope::open_request(&w.srs, &sealed).unwrap();
        prop_assert_eq!(opened.to_vec(), req.as_bytes().to_vec());
        let ans = key_b.seal_answer(b"answer").unwrap();
        prop_assert_eq!(key_a.open_answer(&ans).unwrap().to_vec(), b"answer".to_vec());

        let rev = Revocation::sign(&w.owner, &g.statement, seed).unwrap();
        prop_assert_eq!(Revocation::verify(rev.as_bytes(), &g.statement).unwrap(), rev.clone());
        let receipt = RevocationReceipt::sign(&w.srs, &rev, seed);
        prop_assert_eq!(RevocationReceipt::verify(receipt.as_bytes(), w.srs.public(), &rev).unwrap(), receipt);
    }

    #[test]
    fn audit_and_directory_round_trip(ts in any::<u64>(), version in any::<u64>(), d in 0u8..8, entries in 1usize..20) {
        let w = World::new("audit");
        let decision = [Decision::Allowed, Decision::BadSignature, Decision::Replay, Decision::Revoked, Decision::Expired,
            Decision::UnknownGrant, Decision::NotInManifest, Decision::BeforeFromVersion][d as usize];
        let e = AuditEntry { timestamp: ts, grant_id: [d; 16], grantee: PartyId([1; 32]), record: RecordId([2; 32]),
            section: SectionId([3; 32]), version, request: [d; 32], decision, link: None,
            purpose: if d % 2 == 0 { PurposeOfUse::Ordinary } else { PurposeOfUse::Emergency } };
        if e.purpose == PurposeOfUse::Ordinary {
            // Format 1: unlinked.
            prop_assert_eq!(AuditEntry::from_bytes(&e.to_bytes()).unwrap(), e.clone());
        } else {
            // Format 3 is always linked: an emergency entry not yet linked
            // encodes with the first link (the log links before it stores).
            let back = AuditEntry::from_bytes(&e.to_bytes()).unwrap();
            prop_assert_eq!(back.link, Some(sesphr_client::audit::RecordLink::FIRST));
            prop_assert_eq!(back.purpose, PurposeOfUse::Emergency);
            prop_assert_eq!(e.to_bytes()[5], 3);
        }
        let mut log = MemoryLog::default();
        let mut last = None;
        for seq in 0..entries {
            let r = log.append(&w.srs, e.clone()).unwrap();
            prop_assert_eq!(r.entry.link.unwrap().seq, seq as u64);
            prop_assert_eq!(r.entry.link.unwrap().prev, last.as_ref().map_or([0; 32], |l: &InclusionReceipt| l.entry.leaf_hash()));
            prop_assert_eq!(AuditEntry::from_bytes(&r.entry.to_bytes()).unwrap(), r.entry.clone());
            last = Some(r);
        }
        let r = last.unwrap();
        r.verify().unwrap();
        prop_assert_eq!(SignedTreeHead::from_bytes(r.head.as_bytes(), w.srs.public()).unwrap(), r.head.clone());
        let entry = w.owner.directory_entry(ts);
        prop_assert_eq!(DirectoryEntry::from_bytes(entry.as_bytes()).unwrap(), entry.clone());
        prop_assert_eq!(PublicIdentity::from_bytes(&w.owner.public().to_bytes()).unwrap(), w.owner.public().clone());
    }

    #[test]
    fn merkle_inclusion(n in 1usize..200, pick in any::<prop::sample::Index>()) {
        let leaves: Vec<_> = (0..n).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        let i = pick.index(n);
        let path = merkle::inclusion_proof(&leaves, i).unwrap();
        merkle::verify_inclusion(&leaves[i], i as u64, n as u64, &path, &merkle::root(&leaves)).unwrap();
    }

    /// Decoders refuse arbitrary bytes (and arbitrary bytes after a valid
    /// brand and kind) with an error, never a panic.
    #[test]
    fn decoders_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), kind in 1u8..16) {
        let w = World::new("decoders");
        if bytes.len() >= 6 && kind % 2 == 0 {
            bytes[..4].copy_from_slice(b"SPHR");
            bytes[4] = kind;
            bytes[5] = 1;
        }
        let srs = w.srs.public();
        let _ = BlobHeader::from_prefix(&bytes);
        let _ = ChunkIndex::from_bytes(&bytes);
        let _ = ChunkIndex::from_blob(&bytes);
        let _ = VerifiedManifest::from_bytes(&bytes);
        let _ = SignedHead::from_bytes(&bytes, srs);
        let _ = VerifiedGrant::from_bytes(&bytes);
        let _ = Envelope::from_bytes(&bytes);
        let _ = ReencryptRequest::from_bytes(&bytes);
        let _ = Revocation::peek_grant_id(&bytes);
        let _ = AuditEntry::from_bytes(&bytes);
        let _ = SignedTreeHead::from_bytes(&bytes, srs);
        let _ = DirectoryEntry::from_bytes(&bytes);
        let _ = PublicIdentity::from_bytes(&bytes);
        let _ = envelope::open_request(&w.srs, &bytes);
        let _ = sesphr_client::dleq::DleqProof::from_bytes(&bytes);
        let _ = sesphr_client::token::RequestToken::from_bytes(&bytes);
        let _ = sesphr_client::revocation::Revocation::verify(&bytes, &grant_for_decoders(&w));
        prop_assert!(bytes.len() < HEADER_LEN || BlobHeader::from_prefix(&bytes).is_err() || bytes[..4] == *b"SPHR");
    }
}
