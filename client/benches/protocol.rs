//! Criterion benchmarks of every protocol operation, natively.
//! `cargo bench -p sesphr-client --bench protocol`; numbers go to docs/benchmarks.md.
// A benchmark harness, not test code (no `cfg(test)`): a failed setup is a
// panic, as in the test suites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::capsule::{Capsule, KeyContext};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::secret::Seed;
use sesphr_client::stream::{decrypt_body, encrypt_body, seal_section, DEFAULT_CHUNK_LOG2};

struct Setup {
    owner: Identity,
    doctor: Identity,
    srs: Identity,
    key: SectionKey,
    manifest: VerifiedManifest,
    blob: Vec<u8>,
    root: [u8; 32],
    grant: IssuedGrant,
}

fn setup(sections: usize, body_len: usize) -> Setup {
    let rng = &mut os_rng();
    let (owner, doctor, srs) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    let (record, nonce) = RecordId::generate(&owner.id(), rng);
    let mut entries = Vec::new();
    let mut first = None;
    for i in 0..sections {
        let section = SectionId::derive(owner.seed(), &record, &format!("section-{i}"));
        let key = SectionKey::for_owner(&owner, record, section, EpochId::generate(rng)).unwrap();
        let (blob, sealed, _) =
            seal_section(&key, 1, &vec![7u8; body_len], DEFAULT_CHUNK_LOG2, rng).unwrap();
        entries.push(ManifestEntry::for_body(key.public(), &sealed));
        if first.is_none() {
            first = Some((key, blob, sealed.chunk_root));
        }
    }
    let manifest = ManifestContent::first(record, nonce, 0, entries)
        .sign(&owner)
        .unwrap();
    let (key, blob, root) = first.unwrap();
    let terms = GrantTerms::new(doctor.public(), Role::Physician, 1);
    let grant = IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, rng).unwrap();
    Setup {
        owner,
        doctor,
        srs,
        key,
        manifest,
        blob,
        root,
        grant,
    }
}

fn protocol(c: &mut Criterion) {
    let s = setup(8, 2048);
    let rng = &mut os_rng();
    let mut g = c.benchmark_group("protocol");
    g.bench_function("keygen (seed -> identity)", |b| {
        b.iter_batched(
            || Seed::generate(&mut os_rng()),
            |seed| Identity::from_seed(seed).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("section key derive", |b| {
        b.iter(|| {
            SectionKey::for_owner(&s.owner, s.key.record, s.key.section, s.key.epoch).unwrap()
        })
    });
    g.bench_function("capsule encapsulate", |b| {
        b.iter(|| Capsule::encapsulate(&s.key, 2, &mut os_rng()).unwrap())
    });
    let terms = GrantTerms::new(s.doctor.public(), Role::Physician, 2);
    g.bench_function("grant issue", |b| {
        b.iter(|| {
            IssuedGrant::issue(
                &s.owner,
                &s.key,
                &s.srs.public().encryption,
                &terms,
                &mut os_rng(),
            )
            .unwrap()
        })
    });
    g.bench_function("grant accept (grantee)", |b| {
        b.iter(|| s.grant.accept(&s.doctor, &s.key.public()).unwrap())
    });
    g.bench_function("grant accept (SRS share)", |b| {
        b.iter(|| s.grant.accept_srs_share(&s.srs).unwrap())
    });
    let srs_share = s
        .grant
        .statement
        .accept_srs_share(&s.srs, &s.grant.b2_envelope)
        .unwrap();
    let share = s
        .grant
        .statement
        .accept(&s.doctor, &s.grant.b1_envelope, &s.key.public())
        .unwrap();
    let req = ReencryptRequest::new(&s.doctor, &s.grant.statement, 1, 0, rng).unwrap();
    g.bench_function("re-encrypt (SRS: verify request, P2, DLEQ proof)", |b| {
        b.iter(|| {
            srs_reencrypt(
                &srs_share,
                &s.grant.statement,
                &req.verify(&s.grant.statement).unwrap(),
                &s.manifest,
                0,
                &mut os_rng(),
            )
            .unwrap()
        })
    });
    let re = srs_reencrypt(
        &srs_share,
        &s.grant.statement,
        &req.verify(&s.grant.statement).unwrap(),
        &s.manifest,
        0,
        rng,
    )
    .unwrap();
    let receipt = MemoryLog::default()
        .append(
            &s.srs,
            req.verify(&s.grant.statement).unwrap().audit_entry(
                &s.grant.statement,
                0,
                Decision::Allowed,
            ),
        )
        .unwrap();
    let head = SignedHead::sign(&s.srs, s.key.record, 1, s.manifest.hash(), 0);
    let answer = re.answer(receipt, head).sign(&s.srs).unwrap();
    g.bench_function("reader: verify answer + derive DEK + decrypt 2 KiB", |b| {
        b.iter(|| {
            let a = ReencryptAnswer::verify(
                &answer,
                s.srs.public(),
                &req,
                &s.grant.statement,
                &s.manifest,
            )
            .unwrap();
            let dk = share.data_key(&s.manifest, &a).unwrap();
            decrypt_body(&s.blob, &dk, &s.root).unwrap()
        })
    });
    g.bench_function("manifest verify (8 sections)", |b| {
        b.iter(|| VerifiedManifest::from_bytes(s.manifest.as_bytes()).unwrap())
    });
    g.finish();
}

fn bulk(c: &mut Criterion) {
    let s = setup(1, 16);
    let mut g = c.benchmark_group("bulk");
    g.sample_size(10);
    for mib in [1usize, 16] {
        let body = vec![0x5au8; mib << 20];
        let (capsule, dk) = Capsule::encapsulate(&s.key, 1, &mut os_rng()).unwrap();
        let ctx = KeyContext::for_key(&s.key, 1);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("encrypt {mib} MiB (aes-gcm, 64 KiB chunks)"), |b| {
            b.iter(|| encrypt_body(capsule, &dk, &ctx, &body, DEFAULT_CHUNK_LOG2).unwrap())
        });
        let (blob, sealed) = encrypt_body(capsule, &dk, &ctx, &body, DEFAULT_CHUNK_LOG2).unwrap();
        g.bench_function(
            format!("decrypt {mib} MiB (verify chunk root + aes-gcm)"),
            |b| b.iter(|| decrypt_body(&blob, &dk, &sealed.chunk_root).unwrap()),
        );
    }
    g.finish();
}

/// Entries in the benchmark's log, and how many are about the patient's record.
const AUDIT_LOG: u64 = 200_000;
const AUDIT_RECORD: u64 = 1_000;

/// The owner's check of a 1,000-entry listing in a 200,000-entry log (the
/// owner keeping the head of the log's first half), and the SRS's costs:
/// rebuilding the tree and chains at start, and the listing's paths.
fn audit(c: &mut Criterion) {
    use sesphr_client::audit::AuditEntry;
    use sesphr_client::audit_check::AuditCheck;
    use sesphr_client::identity::PartyId;
    let srs = Identity::generate().unwrap();
    let mine = RecordId([1; 32]);
    let every = AUDIT_LOG / AUDIT_RECORD;
    let mut entries: Vec<AuditEntry> = (0..AUDIT_LOG)
        .map(|i| AuditEntry {
            timestamp: i,
            grant_id: [(i % 251) as u8; 16],
            grantee: PartyId([2; 32]),
            record: if i % every == every - 1 {
                mine
            } else {
                RecordId([(3 + i % 200) as u8; 32])
            },
            section: SectionId([4; 32]),
            version: 1,
            request: [(i % 253) as u8; 32],
            decision: Decision::Allowed,
            link: None,
            purpose: sesphr_client::audit::PurposeOfUse::Ordinary,
        })
        .collect();
    MemoryLog::default().link(&mut entries);
    let stored: Vec<Vec<u8>> = entries.iter().map(AuditEntry::to_bytes).collect();
    let log = MemoryLog::from_entries(stored.iter().map(Vec::as_slice)).unwrap();
    let size = AUDIT_LOG;
    let listed: Vec<u64> = (0..size)
        .filter(|i| entries[*i as usize].record == mine)
        .collect();
    let kept = log.head_at(&srs, size / 2, 0).unwrap();
    let served = log.head_at(&srs, size, 1).unwrap();
    let (proof, proof_head) = log.consistency(&srs, size / 2, size, 2).unwrap();
    let paths: Vec<_> = listed
        .iter()
        .map(|&i| log.inclusion_path(i, size).unwrap())
        .collect();
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.bench_function(
        "SRS: rebuild tree and chains from 200,000 stored entries",
        |b| b.iter(|| MemoryLog::from_entries(stored.iter().map(Vec::as_slice)).unwrap()),
    );
    g.bench_function("SRS: the audit paths of a 1,000-entry listing", |b| {
        b.iter(|| {
            listed
                .iter()
                .map(|&i| log.inclusion_path(i, size).unwrap())
                .collect::<Vec<_>>()
        })
    });
    g.bench_function(
        "owner: check a 1,000-entry listing (heads, consistency, paths, chain, mark)",
        |b| {
            b.iter(|| {
                let mut check =
                    AuditCheck::new(srs.public(), served.as_bytes(), Some(kept.as_bytes()))
                        .unwrap();
                check
                    .accept_consistency(&proof, proof_head.as_bytes())
                    .unwrap();
                let mut l = check.verified().unwrap().listing(mine);
                for (&i, path) in listed.iter().zip(&paths) {
                    l.add(i, &stored[i as usize], path).unwrap();
                }
                l.finish(None).unwrap()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, protocol, bulk, audit);
criterion_main!(benches);
