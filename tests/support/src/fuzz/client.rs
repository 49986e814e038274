//! The checks of every `sesphr-client` fuzz target, shared by the targets
//! (`fuzz/fuzz_targets/*.rs`, through the `sesphr-fuzz` library) and by the
//! corpus replay on stable (`client/tests/fuzz_corpus.rs`), so each check is
//! written once.
//!
//! Each check takes arbitrary bytes, must never panic on them, and, where the
//! bytes decode or verify, asserts the type's invariant: re-encoding (or
//! re-signing: signatures are deterministic RFC 6979 and low-S) gives the same
//! bytes, and anything that verifies against the fixed objects of
//! [`fixture`] is the object those were built from. A failed assertion is
//! the fuzzer's "crash".

use std::sync::OnceLock;

use sesphr_client::audit::{
    AuditEntry, AuditExport, Decision, InclusionReceipt, MemoryLog, ReceiptBundle, SignedTreeHead,
};
use sesphr_client::audit_check::{AuditCheck, AuditMark};
use sesphr_client::capsule::DataKey;
use sesphr_client::dleq::{DleqProof, DleqStatement};
use sesphr_client::envelope::{open_request, seal_request, Envelope};
use sesphr_client::grant::{GrantShare, GrantTerms, IssuedGrant, Role, VerifiedGrant};
use sesphr_client::identity::{DirectoryEntry, Identity, PublicIdentity};
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead, VerifiedManifest};
use sesphr_client::merkle::{self, Frontier, Hash};
use sesphr_client::primitives::{labels, length_prefixed, Point};
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::revocation::{Revocation, RevocationReceipt};
use sesphr_client::secret::Seed;
use sesphr_client::stream::{
    decrypt_body, seal_section, BlobHeader, ChunkIndex, RustAesGcm, StreamDecryptor, HEADER_LEN,
};
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_client::vault;

/// A check: arbitrary bytes in, a panic on a broken invariant.
pub type Check = fn(&[u8]);

/// Every client target, by name (the file `fuzz/fuzz_targets/<name>.rs` and
/// the corpus directory `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("blob_header", blob_header),
    ("chunk_index", chunk_index),
    ("stream", stream),
    ("manifest", manifest),
    ("head", head),
    ("grant", grant),
    ("envelope", envelope),
    ("sealed_request", sealed_request),
    ("reencrypt_request", reencrypt_request),
    ("reencrypt_answer", reencrypt_answer),
    ("revocation", revocation),
    ("directory_entry", directory_entry),
    ("audit", audit),
    ("request_token", request_token),
    ("wrapped_seed", wrapped_seed),
    ("merkle", merkle_proofs),
    ("dleq", dleq),
    ("object_hasher", object_hasher),
];

// ---------------------------------------------------------------- fixture

/// The fixture's deterministic RNG: the one the known-answer vectors use.
pub use crate::rng::TestRng as DetRng;

/// An RNG that first replays known bytes: re-signing a token or request
/// whose random nonce was decoded must reproduce its bytes.
fn replay(bytes: &[u8]) -> DetRng {
    DetRng::starting_with(bytes, "replay")
}

/// A party from a label.
pub fn identity(label: &str) -> Identity {
    Identity::from_seed(Seed::generate(&mut DetRng::new(label))).expect("identity")
}

/// One encrypted section body with everything needed to decrypt it.
pub struct Body {
    /// The plaintext body.
    pub plain: Vec<u8>,
    /// The sealed blob.
    pub blob: Vec<u8>,
    /// Its header.
    pub header: BlobHeader,
    /// Its chunk index.
    pub index: ChunkIndex,
    /// Its chunk root.
    pub root: Hash,
    /// Its data key.
    pub key: DataKey,
    /// Its manifest entry.
    pub entry: ManifestEntry,
}

/// The fixed objects the verifiers are checked against: a record at version 1
/// with a one-chunk section ("medications", granted) and a two-chunk section
/// ("imaging"), a grant of "medications" to a grantee, one request with its
/// sealed form and the SRS's answer, a revocation and receipt, audit heads.
pub struct Fixture {
    /// The record owner.
    pub owner: Identity,
    /// The grantee.
    pub grantee: Identity,
    /// The SRS.
    pub srs: Identity,
    /// The key of the granted section.
    pub key: SectionKey,
    /// The one-chunk body ("medications").
    pub small: Body,
    /// The two-chunk body ("imaging").
    pub multi: Body,
    /// Version 1 (both sections).
    pub manifest: VerifiedManifest,
    /// Version 2 (one section), chained onto version 1.
    pub manifest2: VerifiedManifest,
    /// The SRS head of version 1.
    pub head: SignedHead,
    /// The grant of "medications".
    pub issued: IssuedGrant,
    /// The grantee's share.
    pub share: GrantShare,
    /// A request under the grant.
    pub request: ReencryptRequest,
    /// The request sealed to the SRS.
    pub sealed_request: Vec<u8>,
    /// The SRS's signed answer to it.
    pub answer: Vec<u8>,
    /// The answer's DLEQ proof.
    pub proof: DleqProof,
    /// `P2` of the answer (the point the proof is about).
    pub p2: Point,
    /// A revocation of the grant.
    pub revocation: Revocation,
    /// The SRS's receipt of it.
    pub receipt: RevocationReceipt,
    /// Audit entries (unlinked, as before chains).
    pub entries: Vec<AuditEntry>,
    /// Linked entries, a receipt bundle, its mail, an export, a mark, receipts.
    pub audit_objects: Vec<Vec<u8>>,
    /// Tree heads of sizes 1 and 3.
    pub tree_heads: Vec<SignedTreeHead>,
    /// The consistency proof between them.
    pub consistency: Vec<Hash>,
    /// Request tokens of several purposes.
    pub tokens: Vec<RequestToken>,
}

/// Milliseconds, the fixture's clock.
pub const NOW: u64 = 1_750_000_000_000;

fn body(key: &SectionKey, plain: Vec<u8>, chunk_log2: u8, rng: &mut DetRng) -> Body {
    let (blob, sealed, dk) = seal_section(key, 1, &plain, chunk_log2, rng).expect("encrypt");
    Body {
        entry: ManifestEntry::for_body(key.public(), &sealed),
        plain,
        blob,
        header: sealed.header,
        root: sealed.chunk_root,
        index: sealed.index,
        key: dk,
    }
}

fn build() -> Fixture {
    let mut rng = DetRng::new("sesphr-fuzz/fixture");
    let owner = identity("sesphr-fuzz/owner");
    let grantee = identity("sesphr-fuzz/grantee");
    let srs = identity("sesphr-fuzz/srs");
    let (record, nonce) = RecordId::generate(&owner.id(), &mut rng);
    let section_key = |name: &str, rng: &mut DetRng| {
        let section = SectionId::derive(owner.seed(), &record, name);
        SectionKey::for_owner(&owner, record, section, EpochId::generate(rng)).expect("key")
    };
    let key = section_key("medications", &mut rng);
    let imaging = section_key("imaging", &mut rng);
    let small = body(&key, b"amoxicillin 500 mg, 3x daily".to_vec(), 14, &mut rng);
    // Just over one 16 KiB chunk: the body spans two chunks.
    let multi = body(&imaging, vec![0x5a; 16_400], 14, &mut rng);
    let manifest = ManifestContent::first(
        record,
        nonce,
        NOW,
        vec![small.entry.clone(), multi.entry.clone()],
    )
    .sign(&owner)
    .expect("manifest");
    let manifest2 = ManifestContent {
        record,
        record_nonce: nonce,
        version: 2,
        previous: manifest.hash(),
        created_at: NOW + 1,
        entries: vec![small.entry.clone()],
        // Format 2: with the audit tree head the owner verified last.
        audit_head: Some(
            SignedTreeHead::sign(&srs, 1, [3; 32], NOW)
                .as_bytes()
                .to_vec(),
        ),
    }
    .sign(&owner)
    .expect("manifest v2");
    let head = SignedHead::sign(&srs, record, 1, manifest.hash(), NOW);
    let terms = GrantTerms {
        expires_at: Some(NOW + 86_400_000),
        ..GrantTerms::new(grantee.public(), Role::Pharmacist, 1)
    };
    let issued = IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, &mut rng)
        .expect("grant");
    let grant = &issued.statement;
    let share = grant
        .accept(&grantee, &issued.b1_envelope, &key.public())
        .expect("grantee share");
    let srs_share = grant
        .accept_srs_share(&srs, &issued.b2_envelope)
        .expect("srs share");
    let request = ReencryptRequest::new(&grantee, grant, 1, NOW, &mut rng).expect("request");
    let (sealed_request, _) =
        seal_request(&srs.public().encryption, request.as_bytes(), &mut rng).expect("seal");
    let verified = request.verify(grant).expect("verified request");
    let audit = |at: u64, d: Decision| verified.audit_entry(grant, at, d);
    let re = srs_reencrypt(&srs_share, grant, &verified, &manifest, NOW, &mut rng)
        .map_err(|d| d.code())
        .expect("re-encryption");
    let mut log = MemoryLog::default();
    let receipt = log
        .append(&srs, audit(NOW, Decision::Allowed))
        .expect("audit");
    let log_first = receipt.entry.to_bytes();
    let first = receipt.head.clone();
    let answer = re
        .clone()
        .answer(receipt, head.clone())
        .sign(&srs)
        .expect("answer");
    let entries = vec![
        audit(NOW, Decision::Allowed),
        audit(NOW + 5, Decision::Expired),
        audit(NOW + 9, Decision::Revoked),
    ];
    let mut receipts = vec![];
    for e in &entries[1..] {
        receipts.push(log.append(&srs, e.clone()).expect("audit"));
    }
    // The verifiable log's own objects: the linked entries, a bundle of
    // receipts a reader forwards (and its mail), an export, an owner's mark.
    let bundle = ReceiptBundle {
        record,
        receipts: receipts.clone(),
    }
    .to_bytes()
    .expect("bundle");
    let mail = Envelope::seal_mail(&owner.public().encryption, &bundle, &mut rng).expect("mail");
    let export = AuditExport {
        srs: srs.public().clone(),
        entries: std::iter::once(log_first.clone())
            .chain(receipts.iter().map(|r| r.entry.to_bytes()))
            .collect(),
        heads: vec![receipts[1].head.as_bytes().to_vec()],
    }
    .to_bytes()
    .expect("export");
    let mark = AuditMark {
        record,
        tree_size: 3,
        count: 3,
        digest: [5; 32],
    }
    .to_bytes();
    let audit_objects = receipts
        .iter()
        .map(|r| r.entry.to_bytes())
        .chain([bundle, mail.to_bytes(), export, mark])
        .chain(receipts.iter().map(|r| r.to_bytes().expect("receipt")))
        .collect();
    let (consistency, last) = log.consistency(&srs, 1, 3, NOW + 10).expect("consistency");
    let revocation = Revocation::sign(&owner, grant, NOW + 20).expect("revocation");
    let receipt = RevocationReceipt::sign(&srs, &revocation, NOW + 21);
    let record_id = record.0;
    let tokens = vec![
        RequestToken::sign(&grantee, Purpose::ReadInbox, b"", NOW, &mut rng).expect("token"),
        RequestToken::sign(&owner, Purpose::ListGrants, &record_id, NOW, &mut rng).expect("token"),
        RequestToken::sign(&owner, Purpose::UploadBlob, &[7; 40], NOW, &mut rng).expect("token"),
    ];
    Fixture {
        proof: re.proof,
        p2: re.p2,
        owner,
        grantee,
        srs,
        key,
        small,
        multi,
        manifest,
        manifest2,
        head,
        share,
        request,
        sealed_request,
        answer,
        revocation,
        receipt,
        entries,
        audit_objects,
        tree_heads: vec![first, last],
        consistency,
        tokens,
        issued,
    }
}

/// The fixture, built once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn parties(f: &Fixture) -> [&Identity; 3] {
    [&f.owner, &f.grantee, &f.srs]
}

fn party<'a>(f: &'a Fixture, public: &PublicIdentity) -> Option<&'a Identity> {
    parties(f).into_iter().find(|p| p.public() == public)
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

// ---------------------------------------------------------------- checks

/// `BlobHeader::from_prefix` and `ChunkIndex::from_blob` over arbitrary bytes.
pub fn blob_header(data: &[u8]) {
    if let Ok(h) = BlobHeader::from_prefix(data) {
        assert_eq!(h.to_bytes(), data[..HEADER_LEN], "blob header re-encodes");
        let n = h.chunk_count();
        assert!(n >= 1);
        assert!(h.blob_len() > HEADER_LEN as u64);
        assert_eq!(
            h.chunk_offset(n - 1) + h.sealed_chunk_len(n - 1),
            h.blob_len(),
            "the last chunk ends the blob"
        );
        let _ = h.hash();
    }
    if let Ok(index) = ChunkIndex::from_blob(data) {
        let h = BlobHeader::from_prefix(data).expect("from_blob parsed this header");
        assert_eq!(index.leaves().len() as u64, h.chunk_count() + 1);
        assert_eq!(
            index.leaves()[0],
            sesphr_client::stream::piece_leaf(&data[..HEADER_LEN])
        );
        // The relay's streaming address of a blob is its chunk root.
        assert_eq!(sesphr_client::content::object_id(data), Ok(index.root()));
    }
}

/// The relay's streaming content address (`content::ObjectHasher`) over
/// arbitrary bytes fed in arbitrary pieces against a declared length that may
/// be off: `data[0]` picks the piece size, `data[1]` the length error
/// (0 none, 1 one more, 2 one fewer), the rest is the body. It never panics;
/// with the right length it agrees with the whole-object address in any
/// pieces, and a wrong length is always refused.
pub fn object_hasher(data: &[u8]) {
    use sesphr_client::content::{object_id, ObjectHasher};
    let (Some(&step), Some(&off)) = (data.first(), data.get(1)) else {
        return;
    };
    let body = &data[2..];
    let step = 1 + usize::from(step) * 97;
    let declared = match off % 3 {
        0 => body.len() as u64,
        1 => body.len() as u64 + 1,
        _ => (body.len() as u64).saturating_sub(1),
    };
    let mut h = ObjectHasher::new(declared);
    let fed = body.chunks(step).try_for_each(|piece| h.update(piece));
    let streamed = fed.and_then(|()| h.finish().map(|(_, id)| id));
    if declared == body.len() as u64 {
        assert_eq!(streamed, object_id(body), "pieces change the address");
    } else {
        assert!(streamed.is_err(), "a wrong declared length was accepted");
    }
}

/// `ChunkIndex::from_bytes`, then `verify` against the fixture's header.
pub fn chunk_index(data: &[u8]) {
    let f = fixture();
    if let Ok(index) = ChunkIndex::from_bytes(data) {
        assert_eq!(index.to_bytes(), data, "chunk index re-encodes");
        for b in [&f.small, &f.multi] {
            if index.clone().verify(&b.header, &b.root).is_ok() {
                assert_eq!(index, b.index, "only the real index verifies");
            }
        }
    }
}

fn decrypt_with(b: &Body, index: ChunkIndex, sealed: &[u8], step: usize) -> Option<Vec<u8>> {
    let index = index.verify(&b.header, &b.root).ok()?;
    let mut dec = StreamDecryptor::new(b.header.clone(), &b.key, index).ok()?;
    let engine = RustAesGcm::new(&b.key.dek);
    let mut out = Vec::new();
    for piece in sealed.chunks(step.max(1)) {
        out.extend_from_slice(&dec.push(&engine, piece).ok()?);
    }
    dec.finish().ok()?;
    assert!(dec.finish().is_err(), "a stream finishes once");
    assert_eq!(dec.body_len(), Some(out.len() as u64));
    Some(out)
}

/// The stream decryptor. Byte 0 picks the fixture body (bit 0: one chunk or
/// two) and the mode (`(byte0 >> 1) % 3`):
/// 0. bytes 1..3 are a push size, the rest are the sealed chunks, pushed into a
///    decryptor with the fixed key and the valid index;
/// 1. the rest is a chunk index, which (if it verifies) decrypts the real blob;
/// 2. the rest is a whole blob for `decrypt_body` with the fixed key and root.
///
/// Whatever decrypts must be the fixture's plaintext.
pub fn stream(data: &[u8]) {
    let f = fixture();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let b = if sel & 1 == 0 { &f.small } else { &f.multi };
    match (sel >> 1) % 3 {
        0 => {
            if rest.len() < 2 {
                return;
            }
            let step = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if let Some(out) = decrypt_with(b, b.index.clone(), &rest[2..], step) {
                assert_eq!(out, b.plain, "decrypted the wrong plaintext");
                assert_eq!(rest[2..], b.blob[HEADER_LEN..], "accepted altered chunks");
            }
        }
        1 => {
            if let Ok(index) = ChunkIndex::from_bytes(rest) {
                if let Some(out) = decrypt_with(b, index, &b.blob[HEADER_LEN..], 4096) {
                    assert_eq!(out, b.plain);
                    assert_eq!(rest, b.index.to_bytes(), "accepted another index");
                }
            }
        }
        _ => {
            if let Ok(out) = decrypt_body(rest, &b.key, &b.root) {
                assert_eq!(*out, b.plain);
                assert_eq!(rest, b.blob, "accepted another blob");
            }
        }
    }
}

/// `VerifiedManifest::from_bytes`; a manifest signed by a fixture party is
/// re-signed to the same bytes.
pub fn manifest(data: &[u8]) {
    let f = fixture();
    if let Ok(m) = VerifiedManifest::from_bytes(data) {
        assert_eq!(m.as_bytes(), data);
        assert_eq!(VerifiedManifest::from_bytes(m.as_bytes()).as_ref(), Ok(&m));
        for e in &m.content.entries {
            assert_eq!(m.entry(&e.section).ok(), Some(e));
        }
        if let Some(signer) = party(f, &m.owner) {
            let again = m
                .content
                .clone()
                .sign(signer)
                .expect("a verified manifest re-signs");
            assert_eq!(again.as_bytes(), data, "manifest re-signs to its bytes");
            assert_eq!(again.hash(), m.hash());
        }
        let _ = m.verify_successor(&f.manifest);
        let _ = f.manifest2.verify_successor(&m);
        let _ = f.head.check_manifest(&m, 0);
        let _ = f.head.check_manifest(&m, u64::MAX);
    }
}

/// `SignedHead::from_bytes` against the SRS key; re-signs to the same bytes.
pub fn head(data: &[u8]) {
    let f = fixture();
    if let Ok(h) = SignedHead::from_bytes(data, f.srs.public()) {
        let again = SignedHead::sign(&f.srs, h.record, h.version, h.manifest_hash, h.timestamp);
        assert_eq!(again.as_bytes(), data, "head re-signs to its bytes");
        assert_eq!(again, h);
        for m in [&f.manifest, &f.manifest2] {
            let _ = h.check_manifest(m, 0);
            let _ = h.check_manifest(m, u64::MAX);
        }
    }
}

/// `VerifiedGrant::from_bytes`, then everything that takes a grant.
pub fn grant(data: &[u8]) {
    let f = fixture();
    if let Ok(g) = VerifiedGrant::from_bytes(data) {
        assert_eq!(g.as_bytes(), data);
        assert_eq!(VerifiedGrant::from_bytes(g.as_bytes()).as_ref(), Ok(&g));
        assert_ne!(g.b2_commitment, g.section_key);
        let _ = (g.is_expired(0), g.is_expired(u64::MAX));
        if g.accept_srs_share(&f.srs, &f.issued.b2_envelope).is_ok()
            || g.accept(&f.grantee, &f.issued.b1_envelope, &g.section_key)
                .is_ok()
        {
            assert_eq!(g, f.issued.statement, "a share opened under another grant");
        }
        let _ = f.request.verify(&g);
        let _ = Revocation::verify(f.revocation.as_bytes(), &g);
        let _ = ReencryptAnswer::verify(&f.answer, f.srs.public(), &f.request, &g, &f.manifest);
    }
}

/// `Envelope::from_bytes`, then opened as the SRS's and the grantee's share.
pub fn envelope(data: &[u8]) {
    let f = fixture();
    let g = &f.issued.statement;
    if let Ok(e) = Envelope::from_bytes(data) {
        assert_eq!(e.to_bytes(), data, "envelope re-encodes");
        let info = |label: &str| {
            length_prefixed(&[
                label.as_bytes(),
                &g.grant_id,
                &g.record.0,
                &g.section.0,
                &g.epoch.0,
            ])
        };
        if let Ok(b2) = e.open_share(
            &f.srs,
            &f.owner.public().encryption,
            &info(labels::ENVELOPE_B2),
        ) {
            assert_eq!(b2.public(), g.b2_commitment, "b2 opened to another share");
        }
        if let Ok(b1) = e.open_share(
            &f.grantee,
            &f.owner.public().encryption,
            &info(labels::ENVELOPE_B1),
        ) {
            assert_eq!(
                b1.public().projective() + g.b2_commitment.projective(),
                g.section_key.projective(),
                "b1 opened to another share"
            );
        }
        if g.accept_srs_share(&f.srs, &e).is_ok() {
            assert_eq!(e, f.issued.b2_envelope);
        }
        if g.accept(&f.grantee, &e, &g.section_key).is_ok() {
            assert_eq!(e, f.issued.b1_envelope);
        }
    }
}

/// `open_request` with the SRS identity; the answer key round-trips.
pub fn sealed_request(data: &[u8]) {
    let f = fixture();
    if let Ok((plain, key)) = open_request(&f.srs, data) {
        if let Ok(r) = ReencryptRequest::from_bytes(&plain) {
            let _ = r.verify(&f.issued.statement);
        }
        let sealed = key.seal_answer(b"answer").expect("seal answer");
        assert_eq!(
            key.open_answer(&sealed).expect("open answer").as_slice(),
            b"answer"
        );
        if data == f.sealed_request {
            assert_eq!(plain.as_slice(), f.request.as_bytes());
        }
    }
}

/// `ReencryptRequest::from_bytes` and `verify` against the fixed grant; a
/// verified request is rebuilt to the same bytes.
pub fn reencrypt_request(data: &[u8]) {
    let f = fixture();
    let g = &f.issued.statement;
    if let Ok(r) = ReencryptRequest::from_bytes(data) {
        assert_eq!(r.as_bytes(), data);
        assert_eq!(ReencryptRequest::from_bytes(r.as_bytes()).as_ref(), Ok(&r));
        if let Ok(verified) = r.verify(g) {
            let entry = verified.audit_entry(g, NOW, Decision::Allowed);
            assert_eq!(AuditEntry::from_bytes(&entry.to_bytes()), Ok(entry));
            let again =
                ReencryptRequest::new(&f.grantee, g, r.version, r.timestamp, &mut replay(&r.nonce))
                    .expect("rebuild request");
            assert_eq!(again.as_bytes(), data, "request re-signs to its bytes");
        }
    }
}

/// `ReencryptAnswer::verify` against the fixed request, grant and manifest; a
/// verified answer re-signs to its bytes and yields the section's real key.
pub fn reencrypt_answer(data: &[u8]) {
    let f = fixture();
    let g = &f.issued.statement;
    if let Ok(a) = ReencryptAnswer::verify(data, f.srs.public(), &f.request, g, &f.manifest) {
        assert_eq!(
            a.sign(&f.srs).expect("re-sign"),
            data,
            "answer re-signs to its bytes"
        );
        let dk = f.share.data_key(&f.manifest, &a).expect("data key");
        assert_eq!(
            dk.commitment, f.small.key.commitment,
            "verified answer, wrong key"
        );
    }
}

/// `Revocation::verify`/`peek_grant_id` and `RevocationReceipt::verify`.
pub fn revocation(data: &[u8]) {
    let f = fixture();
    let g = &f.issued.statement;
    let peeked = Revocation::peek_grant_id(data);
    if let Ok(r) = Revocation::verify(data, g) {
        assert_eq!(peeked, Ok((g.grant_id, g.record)));
        let again = Revocation::sign(&f.owner, g, r.timestamp).expect("re-sign");
        assert_eq!(again.as_bytes(), data, "revocation re-signs to its bytes");
        assert_eq!(again.hash(), r.hash());
    }
    if let Ok(rc) = RevocationReceipt::verify(data, f.srs.public(), &f.revocation) {
        let again = RevocationReceipt::sign(&f.srs, &f.revocation, rc.timestamp);
        assert_eq!(again.as_bytes(), data, "receipt re-signs to its bytes");
    }
}

/// `DirectoryEntry::from_bytes` and `PublicIdentity::from_bytes`.
pub fn directory_entry(data: &[u8]) {
    let f = fixture();
    if let Ok(d) = DirectoryEntry::from_bytes(data) {
        assert_eq!(d.as_bytes(), data);
        let _ = d.public.fingerprint();
        if let Some(p) = party(f, &d.public) {
            assert_eq!(p.directory_entry(d.created_at).as_bytes(), data);
        }
    }
    if let Ok(p) = PublicIdentity::from_bytes(data) {
        assert_eq!(p.to_bytes().as_slice(), data, "public identity re-encodes");
    }
    // The invitation objects (self-describing, signed or sealed), from any bytes.
    if let Ok(i) = sesphr_client::invitation::Invitation::from_bytes(data) {
        assert_eq!(i.as_bytes(), data, "invitation re-encodes");
    }
    if let Ok(c) = sesphr_client::invitation::NameCard::from_bytes(data) {
        assert_eq!(c.as_bytes(), data, "name card re-encodes");
        let _ = c.check_for(&f.owner.id());
    }
    if let Ok(a) = sesphr_client::invitation::Acceptance::from_bytes(data) {
        let s = sesphr_client::invitation::InvitationSecret::from_bytes(&[7; 32]).expect("secret");
        assert!(
            a.open(&s, &f.owner.id()).is_err(),
            "no acceptance opens under an unrelated secret"
        );
    }
    if let Ok(h) = sesphr_client::owner_state::state_header(data) {
        assert!(h.version >= 1);
        assert!(
            sesphr_client::owner_state::open_state(&f.owner, &h.slot, data).is_err()
                || h.owner == f.owner.id()
        );
    }
}

/// `AuditEntry::from_bytes` and `SignedTreeHead::from_bytes` (plus
/// consistency against the fixture's first head), and the verifiable log's
/// objects: receipt bundles (and as mail to the owner), single receipts,
/// exports (verified), marks, and a listing check fed what decodes.
pub fn audit(data: &[u8]) {
    let f = fixture();
    if let Ok(e) = AuditEntry::from_bytes(data) {
        assert_eq!(e.to_bytes(), data, "audit entry re-encodes");
        let _ = e.decision.code();
        let mut log = MemoryLog::default();
        let _ = log.append(&f.srs, e);
    }
    let listing = |receipts: &[InclusionReceipt]| {
        let mut check = AuditCheck::new(f.srs.public(), f.tree_heads[1].as_bytes(), None)
            .expect("head")
            .verified()
            .expect("verified")
            .listing(f.manifest.record());
        for r in receipts {
            let _ = check.add_receipt(r.clone());
        }
        let _ = check.finish(None);
    };
    if let Ok(b) = ReceiptBundle::from_bytes(data, f.srs.public()) {
        assert_eq!(b.to_bytes().as_deref(), Ok(data), "bundle re-encodes");
        listing(&b.receipts);
    }
    if let Ok(plain) = Envelope::from_bytes(data).and_then(|e| e.open_mail(&f.owner)) {
        let _ = ReceiptBundle::from_bytes(&plain, f.srs.public());
    }
    if let Ok(r) = InclusionReceipt::from_bytes(data, f.srs.public()) {
        assert_eq!(r.to_bytes().as_deref(), Ok(data), "receipt re-encodes");
        listing(&[r]);
    }
    if let Ok(x) = AuditExport::from_bytes(data) {
        assert_eq!(x.to_bytes().as_deref(), Ok(data), "export re-encodes");
        let _ = x.verify(Some(f.srs.public()));
        let _ = MemoryLog::from_entries(x.entries.iter().map(Vec::as_slice));
    }
    if let Ok(m) = AuditMark::from_bytes(data) {
        assert_eq!(m.to_bytes(), data, "mark re-encodes");
    }
    if let Ok(h) = SignedTreeHead::from_bytes(data, f.srs.public()) {
        let again = SignedTreeHead::sign(&f.srs, h.tree_size, h.root, h.timestamp);
        assert_eq!(again.as_bytes(), data, "tree head re-signs to its bytes");
        let _ = f.tree_heads[0].verify_extension(&h, &f.consistency);
        let _ = h.verify_extension(&f.tree_heads[1], &f.consistency);
    }
}

/// `RequestToken::from_bytes`; a token of a fixture party re-signs to its bytes.
pub fn request_token(data: &[u8]) {
    let f = fixture();
    if let Ok(t) = RequestToken::from_bytes(data) {
        assert_eq!(t.as_bytes(), data);
        assert!(t.check(t.purpose, &t.subject, t.timestamp, 0).is_ok());
        let _ = t.check(Purpose::ReadInbox, b"", NOW, 60_000);
        if let Some(p) = party(f, &t.party) {
            let again =
                RequestToken::sign(p, t.purpose, &t.subject, t.timestamp, &mut replay(&t.nonce))
                    .expect("re-sign");
            assert_eq!(again.as_bytes(), data, "token re-signs to its bytes");
        }
    }
}

/// `vault::cost_of`: the header parse only (no Argon2id per execution).
pub fn wrapped_seed(data: &[u8]) {
    if let Ok(c) = vault::cost_of(data) {
        assert_eq!(data.len(), vault::WRAPPED_LEN);
        let (lo, hi) = (vault::Cost::MIN, vault::Cost::MAX);
        assert!((lo.memory_kib..=hi.memory_kib).contains(&c.memory_kib));
        assert!((lo.iterations..=hi.iterations).contains(&c.iterations));
        assert!((lo.lanes..=hi.lanes).contains(&c.lanes));
    }
}

/// Merkle proofs. Bytes 0..8 and 8..16 are two integers, the rest 32-byte
/// hashes. Arbitrary inclusion and consistency proofs must not panic; and
/// over the hashes as leaves (at most 64), the honest proofs must verify and
/// the frontier must agree with the tree.
pub fn merkle_proofs(data: &[u8]) {
    let (a, b) = (u64_at(data, 0), u64_at(data, 8));
    let hashes: Vec<Hash> = data
        .get(16..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    if hashes.len() >= 2 {
        let path = &hashes[2..];
        let _ = merkle::verify_inclusion(&hashes[0], a, b, path, &hashes[1]);
        let _ = merkle::verify_consistency(a, b, &hashes[0], &hashes[1], path);
    }
    let leaves = &hashes[..hashes.len().min(64)];
    if leaves.is_empty() {
        return;
    }
    let n = leaves.len();
    let root = merkle::root(leaves);
    let mut frontier = Frontier::default();
    for (i, leaf) in leaves.iter().enumerate() {
        let path = frontier.push(*leaf);
        merkle::verify_inclusion(leaf, i as u64, i as u64 + 1, &path, &frontier.root())
            .expect("the frontier's path verifies");
    }
    assert_eq!(frontier.root(), root);
    assert_eq!(frontier.size(), n as u64);
    let i = (a % n as u64) as usize;
    let path = merkle::inclusion_proof(leaves, i).expect("inclusion proof");
    merkle::verify_inclusion(&leaves[i], i as u64, n as u64, &path, &root)
        .expect("an honest inclusion proof verifies");
    let first = (b % n as u64) as usize + 1;
    let path = merkle::consistency_proof(leaves, first).expect("consistency proof");
    merkle::verify_consistency(
        first as u64,
        n as u64,
        &merkle::root(&leaves[..first]),
        &root,
        &path,
    )
    .expect("an honest consistency proof verifies");
}

/// `DleqProof::from_bytes`, verified against the fixture's statement.
pub fn dleq(data: &[u8]) {
    let f = fixture();
    let g = &f.issued.statement;
    if let Ok(p) = DleqProof::from_bytes(data) {
        assert_eq!(p.to_bytes().as_slice(), data, "proof re-encodes");
        let _ = p.verify(&DleqStatement {
            b2_commitment: &g.b2_commitment,
            capsule: &f.small.entry.capsule.0,
            p2: &f.p2,
            grant_id: &g.grant_id,
            nonce: &f.request.nonce,
        });
    }
}

// ---------------------------------------------------------------- seeds

/// Valid objects for every target, made by the real client code: the seed
/// corpus (`scripts/fuzz.sh` writes them with
/// `SESPHR_FUZZ_SEEDS=<dir> cargo test --test fuzz_corpus`).
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let f = fixture();
    let g = &f.issued.statement;
    let stream_seeds = |b: &Body, bit: u8| {
        vec![
            [&[bit][..], &4096u16.to_be_bytes(), &b.blob[HEADER_LEN..]].concat(),
            [&[bit][..], &7u16.to_be_bytes(), &b.blob[HEADER_LEN..]].concat(),
            [&[bit | 2][..], &b.index.to_bytes()].concat(),
            [&[bit | 4][..], &b.blob].concat(),
        ]
    };
    let merkle_seed = |n: usize| {
        let mut rng = DetRng::new(&format!("merkle/{n}"));
        let mut out = vec![0u8; 16 + 32 * n];
        rand_core::Rng::fill_bytes(&mut rng, &mut out);
        out
    };
    let wrapped = vault::wrap(
        &Seed::from_bytes(&[7; 32]).expect("seed"),
        "correct horse battery",
        vault::Cost::MIN,
        &mut DetRng::new("wrap"),
    )
    .expect("wrap");
    vec![
        (
            "blob_header",
            vec![
                f.small.blob[..HEADER_LEN].to_vec(),
                f.multi.blob[..HEADER_LEN].to_vec(),
                f.small.blob.clone(),
            ],
        ),
        (
            "chunk_index",
            vec![f.small.index.to_bytes(), f.multi.index.to_bytes()],
        ),
        (
            "stream",
            [stream_seeds(&f.small, 0), stream_seeds(&f.multi, 1)].concat(),
        ),
        (
            "manifest",
            vec![
                f.manifest.as_bytes().to_vec(),
                f.manifest2.as_bytes().to_vec(),
            ],
        ),
        ("head", vec![f.head.as_bytes().to_vec()]),
        ("grant", vec![g.as_bytes().to_vec()]),
        (
            "envelope",
            vec![
                f.issued.b1_envelope.to_bytes(),
                f.issued.b2_envelope.to_bytes(),
            ],
        ),
        ("sealed_request", vec![f.sealed_request.clone()]),
        ("reencrypt_request", vec![f.request.as_bytes().to_vec()]),
        ("reencrypt_answer", vec![f.answer.clone()]),
        (
            "revocation",
            vec![
                f.revocation.as_bytes().to_vec(),
                f.receipt.as_bytes().to_vec(),
            ],
        ),
        (
            "directory_entry",
            parties(f)
                .iter()
                .flat_map(|p| {
                    [
                        p.directory_entry(NOW).as_bytes().to_vec(),
                        p.public().to_bytes().to_vec(),
                    ]
                })
                .collect(),
        ),
        (
            "audit",
            f.entries
                .iter()
                .map(AuditEntry::to_bytes)
                .chain(f.tree_heads.iter().map(|h| h.as_bytes().to_vec()))
                .chain(f.audit_objects.iter().cloned())
                .collect(),
        ),
        (
            "request_token",
            f.tokens.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ),
        ("wrapped_seed", vec![wrapped]),
        (
            "merkle",
            vec![merkle_seed(2), merkle_seed(5), merkle_seed(13)],
        ),
        ("dleq", vec![f.proof.to_bytes().to_vec()]),
        (
            "object_hasher",
            vec![
                [&[0u8, 0][..], &f.small.blob].concat(),
                [&[200u8, 0][..], &f.multi.blob].concat(),
                [&[3u8, 1][..], &f.multi.blob].concat(),
                [&[9u8, 0][..], &f.multi.index.to_bytes()].concat(),
            ],
        ),
    ]
}
