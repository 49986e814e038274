//! The SRS's per-request core work, looped, for an instruction profile:
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*srs_request*'
//! target/release/examples/srs_profile 200`. Timing alone: run it without valgrind.
//! It does what `relay/src/srs/mod.rs` `reencrypt` does in the core, without the
//! store: open the sealed request, decode and verify it against the (cached)
//! grant, open `b2` (re-checked against `B2`), `P2` and its DLEQ proof, the audit
//! receipt, the signed head, the signed answer, and seal it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::envelope::{open_request, seal_request};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role, SrsShare, VerifiedGrant};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptRequest};
use sesphr_client::stream::{seal_section, DEFAULT_CHUNK_LOG2};

#[inline(never)]
fn srs_request(
    srs: &Identity,
    grant: &VerifiedGrant,
    b2: &[u8],
    manifest: &VerifiedManifest,
    log: &mut MemoryLog,
    sealed: &[u8],
) -> Vec<u8> {
    let (plain, answer_key) = open_request(srs, sealed).unwrap();
    let request = ReencryptRequest::from_bytes(&plain).unwrap();
    let verified = request.verify(grant).unwrap();
    let share = SrsShare::from_parts(grant, b2).unwrap();
    let re = srs_reencrypt(&share, grant, &verified, manifest, 0, &mut os_rng()).unwrap();
    let receipt = log
        .append(srs, verified.audit_entry(grant, 0, Decision::Allowed))
        .unwrap();
    let head = SignedHead::sign(srs, grant.record, 1, manifest.hash(), 0);
    let answer = re.answer(receipt, head).sign(srs).unwrap();
    answer_key.seal_answer(&answer).unwrap()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(200);
    let rng = &mut os_rng();
    let (owner, doctor, srs) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    let (record, nonce) = RecordId::generate(&owner.id(), rng);
    let section = SectionId::derive(owner.seed(), &record, "section-0");
    let key = SectionKey::for_owner(&owner, record, section, EpochId::generate(rng)).unwrap();
    let (_, sealed_body, _) = seal_section(&key, 1, &[7u8; 2048], DEFAULT_CHUNK_LOG2, rng).unwrap();
    let manifest = ManifestContent::first(
        record,
        nonce,
        0,
        vec![ManifestEntry::for_body(key.public(), &sealed_body)],
    )
    .sign(&owner)
    .unwrap();
    let terms = GrantTerms::new(doctor.public(), Role::Physician, 1);
    let issued = IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, rng).unwrap();
    let b2 = issued
        .statement
        .accept_srs_share(&srs, &issued.b2_envelope)
        .unwrap()
        .b2_bytes();
    let grant = &issued.statement;
    let sealed: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let req = ReencryptRequest::new(&doctor, grant, 1, 0, rng).unwrap();
            seal_request(&srs.public().encryption, req.as_bytes(), rng)
                .unwrap()
                .0
        })
        .collect();
    let mut log = MemoryLog::default();
    let start = std::time::Instant::now();
    let mut bytes = 0;
    for s in &sealed {
        bytes += srs_request(&srs, grant, b2.as_ref(), &manifest, &mut log, s).len();
    }
    let per = start.elapsed() / n as u32;
    println!("{n} requests, {per:?} each, {bytes} answer bytes");
}
