//! The protocol in wasm, in headless Chromium: the JS bindings end to end
//! (the owner's record, the reader's flow over every candidate grant with a
//! real SRS answer built here by the native core, the error class), and
//! interop with the browser's WebCrypto (AES-GCM, ECDSA, ECDH).
#![cfg(test)]
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{CryptoKey, SubtleCrypto};

use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::envelope;
use sesphr_client::grant::VerifiedGrant as CoreGrant;
use sesphr_client::identity::Identity as CoreIdentity;
use sesphr_client::manifest::{SignedHead as CoreHead, VerifiedManifest as CoreManifest};
use sesphr_client::primitives::{self, os_rng, Point};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptRequest};
use sesphr_client::secret::{SecretScalar, Seed};
use sesphr_client::stream::{ChunkAead, ChunkIndex, ChunkJob, RustAesGcm};
use sesphr_client::wasm::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}
fn bytes(v: &JsValue, k: &str) -> Vec<u8> {
    Uint8Array::new(&get(v, k)).to_vec()
}
fn code(e: JsValue) -> String {
    get(&e, "code").as_string().unwrap()
}
fn subtle() -> SubtleCrypto {
    get(&get(&js_sys::global(), "crypto"), "subtle").unchecked_into()
}
fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}
fn now() -> f64 {
    js_sys::Date::now()
}

/// The SRS: its identity, and the signed answer it gives a sealed request,
/// computed with the native core exactly as the relay's SRS does.
struct Srs {
    id: CoreIdentity,
    log: MemoryLog,
}

impl Srs {
    fn new() -> Srs {
        Srs {
            id: CoreIdentity::generate().unwrap(),
            log: MemoryLog::default(),
        }
    }
    fn public(&self) -> PublicIdentity {
        PublicIdentity::from_bytes(&self.id.public().to_bytes()).unwrap()
    }
    /// Which grant a sealed request asks under.
    fn grant_of(&self, sealed: &[u8]) -> [u8; 16] {
        let (req, _) = envelope::open_request(&self.id, sealed).unwrap();
        ReencryptRequest::from_bytes(&req).unwrap().grant_id
    }
    /// The sealed answer to `sealed` for the grant `issued` (`{statement,
    /// b2Envelope}`), with the head of `manifest` (the latest).
    fn answer(&mut self, sealed: &[u8], issued: &JsValue, manifest: &[u8]) -> Vec<u8> {
        let (req_bytes, key) = envelope::open_request(&self.id, sealed).unwrap();
        let grant = CoreGrant::from_bytes(&bytes(issued, "statement")).unwrap();
        let share = grant
            .accept_srs_share(
                &self.id,
                &envelope::Envelope::from_bytes(&bytes(issued, "b2Envelope")).unwrap(),
            )
            .unwrap();
        let req = ReencryptRequest::from_bytes(&req_bytes).unwrap();
        let verified = req.verify(&grant).unwrap();
        let m = CoreManifest::from_bytes(manifest).unwrap();
        let t = now() as u64;
        let re = srs_reencrypt(&share, &grant, &verified, &m, t, &mut os_rng()).unwrap();
        let receipt = self
            .log
            .append(&self.id, verified.audit_entry(&grant, t, Decision::Allowed))
            .unwrap();
        let answer = re.answer(
            receipt,
            CoreHead::sign(&self.id, m.record(), m.version(), m.hash(), t),
        );
        key.seal_answer(&answer.sign(&self.id).unwrap()).unwrap()
    }
}

fn terms(grantee: &Identity, role: &str) -> JsValue {
    let t = Object::new();
    Reflect::set(
        &t,
        &"grantee".into(),
        &Uint8Array::from(grantee.public_key().as_slice()),
    )
    .unwrap();
    Reflect::set(&t, &"role".into(), &role.into()).unwrap();
    t.into()
}

/// A record with one section written at version 1 through `OwnerRecord`:
/// the record, the section id, the blob and its chunk index and entry.
struct Written {
    record: OwnerRecord,
    sid: String,
    blob: Vec<u8>,
    index: Vec<u8>,
    entry: JsValue,
    manifest: VerifiedManifest,
}

fn write_section(owner: &Identity, srs: &PublicIdentity, text: &[u8]) -> Written {
    let mut record = OwnerRecord::new(owner, 0);
    let sid = record.section_id(owner, "history");
    let out = record.key_for_write(owner, srs, &sid, now()).unwrap();
    let key: SectionKey = SectionKey::try_from_js_value(get(&out, "key")).unwrap();
    let mut enc = SectionEncryptor::new(&key, 1.0, text.len() as f64, Some(14)).unwrap();
    let mut blob = enc.header();
    for i in 0..enc.chunk_count() as u64 {
        let r = enc.body_range(i as f64).unwrap();
        blob.extend(enc.seal_next(&text[r[0] as usize..r[1] as usize]).unwrap());
    }
    assert_eq!(blob.len() as f64, enc.blob_length());
    let done = enc.finish().unwrap();
    let entry = get(&done, "entry");
    record.set_entry(entry.clone()).unwrap();
    let manifest = record.sign_manifest(owner, now()).unwrap();
    record.published(&manifest).unwrap();
    Written {
        record,
        sid,
        blob,
        index: bytes(&done, "chunkIndex"),
        entry,
        manifest,
    }
}

fn decrypt(w: &Written, dk: &DataKey) -> Vec<u8> {
    let root = get(&w.entry, "chunkRoot").as_string().unwrap();
    let header_len = blob_header_length() as usize;
    let mut dec = SectionDecryptor::new(&w.blob[..header_len], dk, &w.index, &root).unwrap();
    let mut out = Vec::new();
    for piece in w.blob[header_len..].chunks(10_000) {
        out.extend(dec.push(piece).unwrap());
    }
    dec.finish().unwrap();
    out
}

#[wasm_bindgen_test]
fn share_and_read_through_the_bindings() {
    let owner = Identity::generate().unwrap();
    let doctor = Identity::generate().unwrap();
    let mut srs = Srs::new();
    let srs_pub = srs.public();
    let text = body(100_000);
    let mut w = write_section(&owner, &srs_pub, &text);
    let manifest = &w.manifest;
    assert_eq!(manifest.version(), 1.0);
    // The manifest from its bytes: signed by the owner, not by the doctor.
    let again = VerifiedManifest::from_bytes_of(&manifest.bytes(), &owner.public()).unwrap();
    assert_eq!(again.hash(), manifest.hash());
    assert_eq!(
        code(
            VerifiedManifest::from_bytes_of(&manifest.bytes(), &doctor.public())
                .err()
                .unwrap()
        ),
        "binding_mismatch"
    );

    let out = w
        .record
        .grant(&owner, &srs_pub, &w.sid, terms(&doctor, "physician"), now())
        .unwrap();
    let issued = get(&out, "grant");
    let grant = VerifiedGrant::from_bytes(&bytes(&issued, "statement")).unwrap();
    let b1 = bytes(&issued, "b1Envelope");

    // The wrong party cannot accept the grant.
    let err = GrantShare::new(&owner, &grant, &b1, manifest)
        .err()
        .unwrap();
    assert_eq!(code(err), "binding_mismatch");
    let share = GrantShare::new(&doctor, &grant, &b1, manifest).unwrap();
    let request = share.request(&doctor, 1.0).unwrap();
    let sealed = SealedRequest::new(&srs_pub, &request).unwrap();
    let sealed_answer = srs.answer(&sealed.bytes(), &issued, &manifest.bytes());
    let answer = sealed.open_answer(&sealed_answer).unwrap();
    // A reader who has already seen version 2 refuses this (older) manifest.
    let stale = share
        .data_key(&answer, &srs_pub, &request, manifest, 2.0)
        .err()
        .unwrap();
    assert_eq!(code(stale.clone()), "stale");
    assert_eq!(get(&stale, "found").as_f64(), Some(1.0));
    assert_eq!(get(&stale, "known").as_f64(), Some(2.0));
    let dk = share
        .data_key(&answer, &srs_pub, &request, manifest, 1.0)
        .unwrap();
    assert_eq!(decrypt(&w, &dk), text);

    // A wrong root is refused before anything is decrypted; a cut stream is truncated.
    let header_len = blob_header_length() as usize;
    let wrong_root = hex::encode([7u8; 32]);
    let err = SectionDecryptor::new(&w.blob[..header_len], &dk, &w.index, &wrong_root)
        .err()
        .unwrap();
    assert_eq!(code(err), "content_mismatch");
    let root = get(&w.entry, "chunkRoot").as_string().unwrap();
    let mut dec = SectionDecryptor::new(&w.blob[..header_len], &dk, &w.index, &root).unwrap();
    dec.push(&w.blob[header_len..w.blob.len() - 1]).unwrap();
    assert_eq!(code(dec.finish().unwrap_err()), "truncated");

    // The owner opens its own section directly, now and at version 1.
    let own = w.record.data_key(&owner, &w.sid).unwrap();
    assert_eq!(decrypt(&w, &own), text);
    let at1 = w.record.data_key_at(&owner, &w.sid, 1.0).unwrap();
    assert_eq!(decrypt(&w, &at1), text);
    assert_eq!(
        code(w.record.data_key_at(&owner, &w.sid, 2.0).err().unwrap()),
        "invalid_state"
    );
}

/// The reader flow over two grants of one epoch: the newest is refused
/// (revoked), the next one's real answer opens the section; with every
/// candidate refused the failure is the SRS's decision, and an answer that
/// does not verify is reported before any refusal.
#[wasm_bindgen_test]
fn reader_flow_tries_the_next_grant_after_a_refusal() {
    let owner = Identity::generate().unwrap();
    let doctor = Identity::generate().unwrap();
    let stranger = Identity::generate().unwrap();
    let mut srs = Srs::new();
    let srs_pub = srs.public();
    let text = body(20_000);
    let mut w = write_section(&owner, &srs_pub, &text);
    let mut issued = Vec::new();
    for _ in 0..2 {
        let out = w
            .record
            .grant(&owner, &srs_pub, &w.sid, terms(&doctor, "physician"), now())
            .unwrap();
        issued.push(get(&out, "grant"));
    }
    let item = |g: &JsValue| {
        InboxItem::from_bytes(&bytes(g, "statement"), &bytes(g, "b1Envelope")).unwrap()
    };
    let mut inbox = Inbox::new();
    for g in &issued {
        let it = item(g);
        assert_eq!(it.record_id(), w.record.record_id());
        assert!(inbox.add(&doctor.public(), &it));
    }
    // The same item again, and an item for someone else, are not kept; an
    // envelope the statement does not commit to does not verify.
    assert!(!inbox.add(&doctor.public(), &item(&issued[0])));
    let mut other = Inbox::new();
    assert!(!other.add(&stranger.public(), &item(&issued[0])));
    let swapped = InboxItem::from_bytes(
        &bytes(&issued[0], "statement"),
        &bytes(&issued[1], "b1Envelope"),
    );
    assert_eq!(code(swapped.err().unwrap()), "binding_mismatch");
    let shared = inbox.record(&w.manifest).unwrap();
    assert!(shared.foreign().is_empty());
    assert!(shared.owner().view().is_ok());
    let chain = ManifestChain::new(&w.manifest);
    // The manifest was only borrowed: still usable.
    assert_eq!(w.manifest.version(), 1.0);
    let find = |grant_id: [u8; 16]| {
        issued
            .iter()
            .find(|g| {
                CoreGrant::from_bytes(&bytes(g, "statement"))
                    .unwrap()
                    .grant_id
                    == grant_id
            })
            .unwrap()
            .clone()
    };
    let sequence = |g: &JsValue| {
        CoreGrant::from_bytes(&bytes(g, "statement"))
            .unwrap()
            .sequence
    };

    let mut read = shared.read(&doctor, &w.sid, &chain, 1.0, 0.0).unwrap();
    let first = read
        .next_request(&doctor, &srs_pub, now())
        .unwrap()
        .unwrap();
    let newest = find(srs.grant_of(&first));
    assert_eq!(sequence(&newest), 2, "the newest grant is tried first");
    assert!(read.answer(&srs_pub, "revoked".into()).unwrap().is_none());
    let second = read
        .next_request(&doctor, &srs_pub, now())
        .unwrap()
        .unwrap();
    let older = find(srs.grant_of(&second));
    assert_eq!(sequence(&older), 1);
    let sealed = srs.answer(&second, &older, &w.manifest.bytes());
    let opened = read
        .answer(&srs_pub, Uint8Array::from(sealed.as_slice()).into())
        .unwrap()
        .unwrap();
    assert_eq!(read.high_water(), 1.0);
    let dk = DataKey::try_from_js_value(get(&opened, "dataKey")).unwrap();
    assert_eq!(decrypt(&w, &dk), text);
    assert_eq!(get(&opened, "version").as_f64(), Some(1.0));

    // Every candidate refused: the failure is the newest one's decision.
    let mut read = shared.read(&doctor, &w.sid, &chain, 1.0, 0.0).unwrap();
    for _ in 0..2 {
        read.next_request(&doctor, &srs_pub, now())
            .unwrap()
            .unwrap();
        assert!(read.answer(&srs_pub, "revoked".into()).unwrap().is_none());
    }
    assert!(read
        .next_request(&doctor, &srs_pub, now())
        .unwrap()
        .is_none());
    let e = read.failure();
    assert_eq!(code(e.clone()), "revoked");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(
        code(read.answer(&srs_pub, "revoked".into()).err().unwrap()),
        "invalid_state",
        "no request is waiting"
    );

    // An answer to another request does not verify; it is reported rather
    // than the other candidate's refusal (it points at a lying server).
    let mut read = shared.read(&doctor, &w.sid, &chain, 1.0, 0.0).unwrap();
    let asked = read
        .next_request(&doctor, &srs_pub, now())
        .unwrap()
        .unwrap();
    let grant = find(srs.grant_of(&asked));
    let other_share = GrantShare::new(
        &doctor,
        &VerifiedGrant::from_bytes(&bytes(&grant, "statement")).unwrap(),
        &bytes(&grant, "b1Envelope"),
        &w.manifest,
    )
    .unwrap();
    let other = SealedRequest::new(&srs_pub, &other_share.request(&doctor, 1.0).unwrap()).unwrap();
    let forged = srs.answer(&other.bytes(), &grant, &w.manifest.bytes());
    assert!(read
        .answer(&srs_pub, Uint8Array::from(forged.as_slice()).into())
        .unwrap()
        .is_none());
    read.next_request(&doctor, &srs_pub, now())
        .unwrap()
        .unwrap();
    assert!(read.answer(&srs_pub, "expired".into()).unwrap().is_none());
    assert!(read
        .next_request(&doctor, &srs_pub, now())
        .unwrap()
        .is_none());
    assert_eq!(code(read.failure()), "decryption_failed");
    assert_eq!(
        code(read.answer(&srs_pub, "allowed".into()).err().unwrap()),
        "invalid_argument"
    );
}

/// The reader's freshness rules: the head's version when the relay is
/// ahead, `stale` in plain words when it is behind or the head is older
/// than the high-water mark; the owner's restore likewise.
#[wasm_bindgen_test]
fn freshness_in_plain_words() {
    let owner = Identity::generate().unwrap();
    let srs = Srs::new();
    let srs_pub = srs.public();
    let mut w = write_section(&owner, &srs_pub, &body(100));
    let v1 = w.manifest.bytes();
    let m1 = CoreManifest::from_bytes(&v1).unwrap();
    let head1 = SignedHead::from_bytes(
        CoreHead::sign(&srs.id, m1.record(), 1, m1.hash(), now() as u64).as_bytes(),
        &srs_pub,
    )
    .unwrap();
    w.record.witnessed(&head1).unwrap();
    let m2 = w.record.sign_manifest(&owner, now()).unwrap();
    w.record.published(&m2).unwrap();
    assert_eq!(w.record.unwitnessed().len(), 1);
    // The relay ahead of the head: read the head's version.
    assert_eq!(readable_version(&head1, &m2, 0.0, None).unwrap(), 1.0);
    assert_eq!(
        code(readable_version(&head1, &m2, 0.0, Some(2.0)).unwrap_err()),
        "invalid_argument"
    );
    // A head older than what this reader saw.
    let e = readable_version(&head1, &m2, 2.0, None).unwrap_err();
    assert_eq!(code(e.clone()), "stale");
    assert!(get(&e, "message")
        .as_string()
        .unwrap()
        .contains("rolled back"));
    // The relay behind the head: stale, and the message says so.
    let core2 = CoreManifest::from_bytes(&m2.bytes()).unwrap();
    let head2 = SignedHead::from_bytes(
        CoreHead::sign(&srs.id, core2.record(), 2, core2.hash(), now() as u64).as_bytes(),
        &srs_pub,
    )
    .unwrap();
    let e = readable_version(&head2, &w.manifest, 0.0, None).unwrap_err();
    assert_eq!(code(e.clone()), "stale");
    assert!(get(&e, "message")
        .as_string()
        .unwrap()
        .contains("storage server is behind"));
    assert_eq!(get(&e, "found").as_f64(), Some(1.0));
    assert_eq!(get(&e, "known").as_f64(), Some(2.0));
    // The owner's restore from a relay that hides version 2.
    let mut restore = RecordRestore::new(0);
    restore.add_manifest(&w.manifest);
    restore.set_head(&head2);
    let e = restore.build(&owner, now()).err().unwrap();
    assert_eq!(code(e.clone()), "stale");
    assert!(get(&e, "message")
        .as_string()
        .unwrap()
        .contains("storage server is behind"));
    // With the whole chain it restores, version 2 witnessed.
    restore.add_manifest(&m2);
    let back = restore.build(&owner, now()).unwrap();
    assert_eq!(back.witnessed_version(), 2.0);
    assert!(back.unwitnessed().is_empty());
}

/// Errors are thrown as the registered class (`new Class(code, message)`),
/// or as a plain `Error` named `SesphrError` when none is registered or its
/// constructor throws; every one carries its stable code.
#[wasm_bindgen_test]
fn errors_are_the_registered_class() {
    let class = Function::new_with_args(
        "code, message",
        "this.code = code; this.message = message; this.registered = true;",
    );
    set_error_class(Some(class));
    let e = VerifiedManifest::from_bytes(&[0u8; 10]).err().unwrap();
    set_error_class(Some(Function::new_with_args("", "throw new Error('no');")));
    let fallback = VerifiedGrant::from_bytes(b"SPHR\x02\x01").err().unwrap();
    set_error_class(None);
    assert_eq!(get(&e, "registered").as_bool(), Some(true));
    assert_eq!(code(e), "malformed");
    assert_eq!(code(fallback.clone()), "wrong_kind");
    assert!(fallback.is_instance_of::<js_sys::Error>());
    assert_eq!(
        get(&fallback, "name").as_string().as_deref(),
        Some("SesphrError")
    );
}

#[wasm_bindgen_test]
fn js_errors_carry_stable_codes() {
    assert_eq!(
        code(Identity::from_seed(&[1, 2, 3]).err().unwrap()),
        "malformed"
    );
    let owner = Identity::generate().unwrap();
    assert_eq!(
        code(section_id(&owner, "zz", "x").unwrap_err()),
        "invalid_argument"
    );
    assert_eq!(
        code(role_sections("astronaut").unwrap_err()),
        "invalid_argument"
    );
    assert_eq!(
        code(VerifiedManifest::from_bytes(&[0u8; 10]).err().unwrap()),
        "malformed"
    );
    assert_eq!(
        code(VerifiedGrant::from_bytes(b"SPHR\x03\x03").err().unwrap()),
        "unknown_version"
    );
    let e = VerifiedGrant::from_bytes(b"SPHR\x02\x01").err().unwrap();
    assert_eq!(code(e.clone()), "wrong_kind");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name").as_string().as_deref(), Some("SesphrError"));
    assert_eq!(
        code(PublicIdentity::from_bytes(&[2u8; 65]).err().unwrap()),
        "invalid_point"
    );
    assert_eq!(
        code(sign_token(&owner, "launchRockets", &[], now()).unwrap_err()),
        "invalid_argument"
    );
    assert_eq!(
        role_sections("insurer").unwrap(),
        vec!["insurance".to_string()]
    );
}

/// An owner's fresh section, an encryptor for a body of `len` bytes at
/// `version` (16 KiB chunks) and its WebCrypto key.
struct Sealing {
    owner: Identity,
    record_id: String,
    sid: String,
    key: SectionKey,
    enc: SectionEncryptor,
    crypto_key: CryptoKey,
}

async fn sealing(section: &str, version: f64, len: usize) -> Sealing {
    let owner = Identity::generate().unwrap();
    let rec = new_record(&owner).unwrap();
    let record_id = get(&rec, "recordId").as_string().unwrap();
    let sid = section_id(&owner, &record_id, section).unwrap();
    let key = SectionKey::new(&owner, &record_id, &sid, &new_epoch_id()).unwrap();
    let enc = SectionEncryptor::new(&key, version, len as f64, Some(14)).unwrap();
    let crypto_key = JsFuture::from(enc.import_web_crypto_key().unwrap())
        .await
        .unwrap()
        .unchecked_into();
    Sealing {
        owner,
        record_id,
        sid,
        key,
        enc,
        crypto_key,
    }
}

#[wasm_bindgen_test]
async fn webcrypto_and_rust_engines_are_byte_identical() {
    let text = body(70_000);
    let Sealing {
        owner,
        record_id,
        sid,
        key,
        mut enc,
        crypto_key,
    } = sealing("imaging", 3.0, text.len()).await;
    let header = enc.header();
    let mut web_blob = header.clone();
    let mut jobs = Vec::new();
    for i in 0..enc.chunk_count() as u64 {
        let r = enc.body_range(i as f64).unwrap();
        let job = enc.prepare(&text[r[0] as usize..r[1] as usize]).unwrap();
        let sealed = web_crypto_seal(crypto_key.clone(), job.clone())
            .await
            .unwrap()
            .to_vec();
        enc.commit(job.clone(), &sealed).unwrap();
        web_blob.extend(&sealed);
        jobs.push((job, sealed));
    }
    let done = enc.finish().unwrap();
    let entry = get(&done, "entry");

    // The same chunks sealed by the aes-gcm crate are byte-identical.
    let dk = key.open_as_owner(&bytes(&entry, "capsule"), 3.0).unwrap();
    let _ = dk;
    let own_key = sesphr_client::record::SectionKey::for_owner(
        &CoreIdentity::from_seed(Seed::from_bytes(&owner.export_seed()).unwrap()).unwrap(),
        sesphr_client::record::RecordId(hex_arr(&record_id)),
        sesphr_client::record::SectionId(hex_arr(&sid)),
        sesphr_client::stream::BlobHeader::from_prefix(&header)
            .unwrap()
            .epoch,
    )
    .unwrap();
    let capsule = sesphr_client::stream::BlobHeader::from_prefix(&header)
        .unwrap()
        .capsule;
    let core_dk = capsule.open_as_owner(&own_key, 3).unwrap();
    let rust = RustAesGcm::new(&core_dk.dek);
    for (job, sealed) in &jobs {
        let core_job = ChunkJob {
            index: get(job, "index").as_f64().unwrap() as u64,
            last: get(job, "last").as_bool().unwrap(),
            nonce: bytes(job, "nonce").try_into().unwrap(),
            aad: bytes(job, "aad").try_into().unwrap(),
        };
        let pt = bytes(job, "plaintext");
        assert_eq!(
            &rust.seal(&core_job, &pt).unwrap(),
            sealed,
            "chunk {}",
            core_job.index
        );
        // And the Rust engine opens what WebCrypto sealed.
        assert_eq!(rust.open(&core_job, sealed).unwrap().to_vec(), pt);
    }

    // WebCrypto opens the chunks through the decryptor's check/accept split.
    let root = get(&entry, "chunkRoot").as_string().unwrap();
    let index = bytes(&done, "chunkIndex");
    let own = key.open_as_owner(&bytes(&entry, "capsule"), 3.0).unwrap();
    let mut dec = SectionDecryptor::new(&header, &own, &index, &root).unwrap();
    let mut out = Vec::new();
    for (i, (_, sealed)) in jobs.iter().enumerate() {
        let job = dec.check(i as f64, sealed).unwrap();
        let pt = web_crypto_open(crypto_key.clone(), job.clone(), sealed.clone())
            .await
            .unwrap()
            .to_vec();
        out.extend(dec.accept(job, &pt).unwrap());
    }
    assert_eq!(out, text);
    assert_eq!(ChunkIndex::from_blob(&web_blob).unwrap().to_bytes(), index);

    // A flipped bit fails in WebCrypto with the opaque code.
    let mut bad = jobs[0].1.clone();
    bad[5] ^= 1;
    let job0 = jobs[0].0.clone();
    let err = web_crypto_open(crypto_key, job0, bad).await.unwrap_err();
    assert_eq!(code(err), "decryption_failed");
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// The zero-copy path the npm package runs (`frame`, `commitDigest`,
/// `checkDigest`, `release`) builds and opens exactly what the byte path
/// does, and refuses what it must.
#[wasm_bindgen_test]
async fn frame_and_digest_bindings_agree_with_the_byte_path() {
    let text = body(50_000);
    let Sealing {
        key,
        mut enc,
        crypto_key,
        ..
    } = sealing("labs", 1.0, text.len()).await;
    let header = enc.header();
    let mut blob = header.clone();
    let mut sealed_chunks = Vec::new();
    let count = enc.chunk_count() as usize;
    for i in 0..count {
        let frame = enc.frame().unwrap();
        let (start, end) = (
            get(&frame, "bodyStart").as_f64().unwrap() as usize,
            get(&frame, "bodyEnd").as_f64().unwrap() as usize,
        );
        let prefix = get(&frame, "prefix");
        assert_eq!(prefix.is_undefined(), i > 0, "only chunk 0 has a prefix");
        let mut plaintext = if i == 0 {
            bytes(&frame, "prefix")
        } else {
            Vec::new()
        };
        plaintext.extend_from_slice(&text[start..end]);
        let padding = get(&frame, "padding").as_f64().unwrap() as usize;
        assert_eq!(padding > 0, i + 1 == count, "only the last chunk pads here");
        plaintext.resize(plaintext.len() + padding, 0);
        Reflect::set(
            &frame,
            &"plaintext".into(),
            &Uint8Array::from(&plaintext[..]),
        )
        .unwrap();
        let sealed = web_crypto_seal(crypto_key.clone(), frame.clone())
            .await
            .unwrap()
            .to_vec();
        let err = enc
            .commit_digest(frame.clone(), sealed.len() as f64, &[0; 31])
            .unwrap_err();
        assert_eq!(code(err), "invalid_argument");
        enc.commit_digest(frame, sealed.len() as f64, &sha256(&sealed))
            .unwrap();
        blob.extend(&sealed);
        sealed_chunks.push(sealed);
    }
    assert_eq!(code(enc.frame().unwrap_err()), "invalid_state");
    let done = enc.finish().unwrap();
    let entry = get(&done, "entry");
    let index = bytes(&done, "chunkIndex");
    // The digests made the same index as hashing the bytes, and the blob's
    // address is its chunk root.
    assert_eq!(ChunkIndex::from_blob(&blob).unwrap().to_bytes(), index);
    let root = get(&entry, "chunkRoot").as_string().unwrap();
    assert_eq!(get(&entry, "blobId").as_string().unwrap(), root);

    let dk = key.open_as_owner(&bytes(&entry, "capsule"), 1.0).unwrap();
    let mut dec = SectionDecryptor::new(&header, &dk, &index, &root).unwrap();
    let job1 = dec
        .check_digest(
            1.0,
            sealed_chunks[1].len() as f64,
            &sha256(&sealed_chunks[1]),
        )
        .unwrap();
    assert_eq!(
        code(dec.release(job1.clone(), 1.0).unwrap_err()),
        "decryption_failed"
    );
    let first = (sealed_chunks[1].len() - 16) as f64;
    assert_eq!(code(dec.release(job1, first).unwrap_err()), "invalid_state");
    let wrong = dec
        .check_digest(
            0.0,
            sealed_chunks[0].len() as f64,
            &sha256(&sealed_chunks[1]),
        )
        .unwrap_err();
    assert_eq!(code(wrong), "content_mismatch");
    let short = dec
        .check_digest(
            0.0,
            sealed_chunks[0].len() as f64 - 1.0,
            &sha256(&sealed_chunks[0]),
        )
        .unwrap_err();
    assert_eq!(code(short), "truncated");
    let mut out = Vec::new();
    for (i, sealed) in sealed_chunks.iter().enumerate() {
        let job = dec
            .check_digest(i as f64, sealed.len() as f64, &sha256(sealed))
            .unwrap();
        let pt = web_crypto_open(crypto_key.clone(), job.clone(), sealed.clone())
            .await
            .unwrap()
            .to_vec();
        let whole = dec.release(job.clone(), pt.len() as f64).unwrap();
        assert_eq!(whole, i > 0 && i + 1 < sealed_chunks.len(), "chunk {i}");
        if whole {
            out.extend(&pt);
        } else {
            out.extend(dec.accept(job, &pt).unwrap());
        }
    }
    assert_eq!(out, text);
}

fn hex_arr(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[wasm_bindgen_test]
async fn ecdsa_signatures_verify_in_webcrypto() {
    let id = CoreIdentity::generate().unwrap();
    let payload = b"SPHR\x02\x01 a statement payload";
    let sig = id.sign(payload);
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"ECDSA".into()).unwrap();
    Reflect::set(&alg, &"namedCurve".into(), &"P-256".into()).unwrap();
    let uncompressed = Point::from_bytes(&id.public().signing_bytes())
        .unwrap()
        .to_uncompressed();
    let key: CryptoKey = JsFuture::from(
        subtle()
            .import_key_with_object(
                "raw",
                &Uint8Array::from(uncompressed.as_slice()),
                &alg,
                true,
                &Array::of1(&"verify".into()),
            )
            .unwrap(),
    )
    .await
    .unwrap()
    .unchecked_into();
    Reflect::set(&alg, &"hash".into(), &"SHA-256".into()).unwrap();
    let msg = primitives::signed_message(payload);
    let ok = JsFuture::from(
        subtle()
            .verify_with_object_and_buffer_source_and_u8_array(
                &alg,
                &key,
                &Uint8Array::from(sig.as_slice()),
                &msg,
            )
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(ok.as_bool(), Some(true));
    let mut other = msg.clone();
    other[0] ^= 1;
    let bad = JsFuture::from(
        subtle()
            .verify_with_object_and_buffer_source_and_u8_array(
                &alg,
                &key,
                &Uint8Array::from(sig.as_slice()),
                &other,
            )
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(bad.as_bool(), Some(false));
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let chars = c.len() + 1;
        for k in 0..chars {
            out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
        }
    }
    out
}

#[wasm_bindgen_test]
async fn ecdh_matches_webcrypto_derive_bits() {
    let mut rng = os_rng();
    let ours = SecretScalar::random(&mut rng);
    let theirs = SecretScalar::random(&mut rng);
    let their_pub = theirs.public();
    let expected = ours.mul(&their_pub).unwrap().x();

    let pub_u = ours.public().to_uncompressed();
    let jwk = Object::new();
    for (k, v) in [
        ("kty", "EC".to_string()),
        ("crv", "P-256".to_string()),
        ("x", b64url(&pub_u[1..33])),
        ("y", b64url(&pub_u[33..65])),
        ("d", b64url(ours.to_bytes().as_ref())),
    ] {
        Reflect::set(&jwk, &k.into(), &v.into()).unwrap();
    }
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"ECDH".into()).unwrap();
    Reflect::set(&alg, &"namedCurve".into(), &"P-256".into()).unwrap();
    let private: CryptoKey = JsFuture::from(
        subtle()
            .import_key_with_object("jwk", &jwk, &alg, false, &Array::of1(&"deriveBits".into()))
            .unwrap(),
    )
    .await
    .unwrap()
    .unchecked_into();
    let public: CryptoKey = JsFuture::from(
        subtle()
            .import_key_with_object(
                "raw",
                &Uint8Array::from(their_pub.to_uncompressed().as_slice()),
                &alg,
                true,
                &Array::new(),
            )
            .unwrap(),
    )
    .await
    .unwrap()
    .unchecked_into();
    Reflect::set(&alg, &"public".into(), &public).unwrap();
    let bits = JsFuture::from(
        subtle()
            .derive_bits_with_object(&alg, &private, 256)
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(Uint8Array::new(&bits).to_vec(), expected.to_vec());
}

/// Calls `obj.name(...args)` and awaits the promise it returns.
async fn call_js(obj: &JsValue, name: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(obj, name).unchecked_into();
    let list = Array::new();
    for a in args {
        list.push(a);
    }
    JsFuture::from(js_sys::Promise::from(f.apply(obj, &list).unwrap()))
        .await
        .unwrap()
}

fn unb64url(s: &str) -> Vec<u8> {
    sesphr_client::shl::b64url_decode(s, "test").unwrap()
}

/// The SMART Health Link bindings: a file `ShlLinkKey.encryptFile` makes
/// opens in the browser's own WebCrypto with the key the `shlink:/` payload
/// carries (as a viewer elsewhere would), a tampered one does not open, the
/// key sealed for its owner opens only for that owner and link, and the
/// body hash is the browser's SHA-256.
#[wasm_bindgen_test]
async fn shl_bindings_interoperate_with_webcrypto() {
    let key = ShlLinkKey::generate();
    let jwe = key
        .encrypt_file("application/fhir+json", br#"{"resourceType":"Bundle"}"#)
        .unwrap();
    let options = Object::new();
    Reflect::set(&options, &"flag".into(), &"LP".into()).unwrap();
    Reflect::set(&options, &"label".into(), &"ER".into()).unwrap();
    let url = "https://relay.example/v1/shl/AAAA";
    let shlink = shl_encode_payload(url, &key, options.into()).unwrap();
    let link = shl_decode_payload(&format!("https://viewer.example/view.html#{shlink}")).unwrap();
    assert_eq!(link.url(), url);
    assert_eq!(link.flag(), "LP");
    assert_eq!(link.label().as_deref(), Some("ER"));

    // The key from the payload JSON, decoded by hand; the JWE parts by hand.
    let json: serde_json::Value =
        serde_json::from_slice(&unb64url(shlink.strip_prefix("shlink:/").unwrap())).unwrap();
    let raw = unb64url(json["key"].as_str().unwrap());
    assert_eq!(raw.len(), 32);
    let parts: Vec<&str> = jwe.split('.').collect();
    assert_eq!(parts.len(), 5);
    assert_eq!(parts[1], "");
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"AES-GCM".into()).unwrap();
    let usages = Array::of1(&"decrypt".into());
    let crypto_key = call_js(
        &subtle(),
        "importKey",
        &[
            "raw".into(),
            Uint8Array::from(raw.as_slice()).into(),
            alg.clone().into(),
            false.into(),
            usages.into(),
        ],
    )
    .await;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"AES-GCM".into()).unwrap();
    Reflect::set(
        &params,
        &"iv".into(),
        &Uint8Array::from(unb64url(parts[2]).as_slice()),
    )
    .unwrap();
    Reflect::set(
        &params,
        &"additionalData".into(),
        &Uint8Array::from(parts[0].as_bytes()),
    )
    .unwrap();
    let sealed = [unb64url(parts[3]), unb64url(parts[4])].concat();
    let plain = call_js(
        &subtle(),
        "decrypt",
        &[
            params.into(),
            crypto_key,
            Uint8Array::from(sealed.as_slice()).into(),
        ],
    )
    .await;
    assert_eq!(
        Uint8Array::new(&plain).to_vec(),
        br#"{"resourceType":"Bundle"}"#
    );

    // The binding opens it too; any altered part does not.
    let opened = key.decrypt_file(&jwe).unwrap();
    assert_eq!(
        get(&opened, "contentType").as_string().as_deref(),
        Some("application/fhir+json")
    );
    assert_eq!(bytes(&opened, "plaintext"), br#"{"resourceType":"Bundle"}"#);
    let mut tampered = jwe.clone().into_bytes();
    let at = tampered.len() - 30;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let e = key
        .decrypt_file(std::str::from_utf8(&tampered).unwrap())
        .err()
        .unwrap();
    assert_eq!(code(e), "decryption_failed");
    assert_eq!(
        code(ShlLinkKey::generate().decrypt_file(&jwe).err().unwrap()),
        "decryption_failed"
    );

    // Kept for the owner: opens for the owner and this link id only, to the same key.
    let owner = Identity::generate().unwrap();
    let other = Identity::generate().unwrap();
    let id = [5u8; 32];
    let kept = key
        .seal_for_owner(&owner, &id, b"{\"sections\":[]}")
        .unwrap();
    let back = ShlLinkKey::open_for_owner(&owner, &id, &kept).unwrap();
    assert_eq!(back.note(), b"{\"sections\":[]}");
    assert!(back.key().decrypt_file(&jwe).is_ok());
    assert_eq!(
        code(
            ShlLinkKey::open_for_owner(&other, &id, &kept)
                .err()
                .unwrap()
        ),
        "decryption_failed"
    );
    assert_eq!(
        code(
            ShlLinkKey::open_for_owner(&owner, &[6; 32], &kept)
                .err()
                .unwrap()
        ),
        "decryption_failed"
    );
    assert_eq!(
        code(
            ShlLinkKey::open_for_owner(&owner, &[6; 31], &kept)
                .err()
                .unwrap()
        ),
        "invalid_argument"
    );

    // The body hash is SHA-256, as the browser computes it.
    let digest = call_js(
        &subtle(),
        "digest",
        &[
            "SHA-256".into(),
            Uint8Array::from(&b"a link body"[..]).into(),
        ],
    )
    .await;
    assert_eq!(
        Uint8Array::new(&digest).to_vec(),
        shl_body_hash(b"a link body")
    );
}

/// The shards of the known-answer blob, coded in the browser through the
/// bindings, have the roots and index addresses the native core froze
/// (`kat.json`): the Reed–Solomon code and the shard tree are the same
/// bytes in wasm.
#[wasm_bindgen_test]
fn shards_in_the_browser_match_the_known_answers() {
    let kat: serde_json::Value =
        serde_json::from_str(include_str!("vectors/kat.json")).expect("kat.json");
    let hex = |k: &str| hex::decode(kat[k].as_str().expect(k)).expect(k);
    let blob = hex("blob");
    let index = hex("chunk_index");
    let enc_header = &blob[..blob_header_length() as usize];
    let mut enc = ShardEncoder::new(enc_header, 2, 3).expect("encoder");
    let mut payload = index.clone();
    payload.extend_from_slice(&blob[enc_header.len()..]);
    let mut at = 0usize;
    for j in 0..enc.stripes() as u64 {
        let n = enc.stripe_input_length(j as f64).expect("len") as usize;
        enc.encode_stripe(&payload[at..at + n]).expect("stripe");
        at += n;
    }
    assert_eq!(at, payload.len());
    let done = enc.finish().expect("finish");
    let shards = Array::from(&done);
    assert_eq!(shards.length(), 3);
    for i in 0..3u32 {
        let s = shards.get(i);
        assert_eq!(
            get(&s, "root").as_string().expect("root"),
            kat["shard_roots"][i as usize].as_str().expect("kat root")
        );
        assert_eq!(
            get(&s, "indexId").as_string().expect("indexId"),
            kat["shard_index_ids"][i as usize]
                .as_str()
                .expect("kat index")
        );
    }
}
