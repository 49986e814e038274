//! The protocol in wasm, in headless Chromium: the JS bindings end to end,
//! and interop with the browser's WebCrypto (AES-GCM, ECDSA, ECDH).
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{CryptoKey, SubtleCrypto};

use sesphr_client::audit::MemoryLog;
use sesphr_client::envelope;
use sesphr_client::grant::VerifiedGrant;
use sesphr_client::identity::Identity as CoreIdentity;
use sesphr_client::manifest::{SignedHead, VerifiedManifest};
use sesphr_client::primitives::{self, os_rng, Point};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::secret::{SecretScalar, Seed};
use sesphr_client::stream::{ChunkAead, ChunkJob, RustAesGcm};
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

/// The SRS's side, run with the native core (the relay's SRS does the same).
fn srs_answer(
    srs: &CoreIdentity,
    sealed: &[u8],
    statement: &[u8],
    b2: &[u8],
    manifest: &[u8],
) -> Vec<u8> {
    let (req_bytes, key) = envelope::open_request(srs, sealed).unwrap();
    let grant = VerifiedGrant::from_bytes(statement).unwrap();
    let share = grant
        .accept_srs_share(srs, &envelope::Envelope::from_bytes(b2).unwrap())
        .unwrap();
    let req = ReencryptRequest::from_bytes(&req_bytes).unwrap();
    let m = VerifiedManifest::from_bytes(manifest).unwrap();
    let now = js_sys::Date::now() as u64;
    let re = srs_reencrypt(
        &share,
        &grant,
        &req.verify(&grant).unwrap(),
        &m,
        now,
        &mut os_rng(),
    )
    .unwrap();
    let mut log = MemoryLog::default();
    let receipt = log
        .append(
            srs,
            req.audit_entry(&grant, now, sesphr_client::audit::Decision::Allowed),
        )
        .unwrap();
    let head = SignedHead::sign(srs, m.record(), m.version(), m.hash(), now);
    let answer = ReencryptAnswer {
        grant_id: grant.grant_id,
        nonce: req.nonce,
        p2: re.p2,
        proof: re.proof,
        receipt,
        head,
    };
    key.seal_answer(&answer.sign(srs).unwrap()).unwrap()
}

#[wasm_bindgen_test]
fn share_and_read_through_the_bindings() {
    let owner = Identity::generate().unwrap();
    let doctor = Identity::generate().unwrap();
    let srs = CoreIdentity::generate().unwrap();
    let rec = new_record(&owner).unwrap();
    let record_id = get(&rec, "recordId").as_string().unwrap();
    let sid = section_id(&owner, &record_id, "history").unwrap();
    let key = SectionKey::new(&owner, &record_id, &sid, &new_epoch_id()).unwrap();

    let text = body(100_000);
    let mut enc = SectionEncryptor::new(&key, 1.0, text.len() as f64, Some(14)).unwrap();
    let mut blob = enc.header();
    for i in 0..enc.chunk_count() as u64 {
        let r = enc.body_range(i as f64).unwrap();
        blob.extend(enc.seal_next(&text[r[0] as usize..r[1] as usize]).unwrap());
    }
    assert_eq!(blob.len() as f64, enc.blob_length());
    let done = enc.finish().unwrap();
    let entry = get(&done, "entry");
    let index = bytes(&done, "chunkIndex");

    let content = Object::new();
    Reflect::set(&content, &"recordId".into(), &record_id.clone().into()).unwrap();
    Reflect::set(&content, &"recordNonce".into(), &get(&rec, "recordNonce")).unwrap();
    Reflect::set(&content, &"version".into(), &1.into()).unwrap();
    Reflect::set(&content, &"createdAt".into(), &js_sys::Date::now().into()).unwrap();
    Reflect::set(&content, &"entries".into(), &Array::of1(&entry)).unwrap();
    let manifest = sign_manifest(&owner, content.into()).unwrap();
    let view = verify_manifest(&manifest, Some(owner.public_key())).unwrap();
    assert_eq!(get(&view, "version").as_f64(), Some(1.0));
    assert_eq!(
        code(verify_manifest(&manifest, Some(doctor.public_key())).unwrap_err()),
        "binding_mismatch"
    );

    let terms = Object::new();
    Reflect::set(
        &terms,
        &"grantee".into(),
        &Uint8Array::from(doctor.public_key().as_slice()),
    )
    .unwrap();
    Reflect::set(&terms, &"role".into(), &"physician".into()).unwrap();
    Reflect::set(&terms, &"sequence".into(), &1.into()).unwrap();
    let issued = issue_grant(
        &owner,
        &key,
        &srs.public().encryption.to_bytes(),
        terms.into(),
    )
    .unwrap();
    let statement = bytes(&issued, "statement");

    // The wrong party cannot accept the grant.
    let err = GrantShare::new(&owner, &statement, &bytes(&issued, "b1Envelope"), &manifest)
        .err()
        .unwrap();
    assert_eq!(code(err), "binding_mismatch");
    let share = GrantShare::new(
        &doctor,
        &statement,
        &bytes(&issued, "b1Envelope"),
        &manifest,
    )
    .unwrap();

    let request = share.request(&doctor, 1.0).unwrap();
    let sealed = SealedRequest::new(&srs.public().encryption.to_bytes(), &request).unwrap();
    let sealed_answer = srs_answer(
        &srs,
        &sealed.bytes(),
        &statement,
        &bytes(&issued, "b2Envelope"),
        &manifest,
    );
    let answer = sealed.open_answer(&sealed_answer).unwrap();
    // A reader who has already seen version 2 refuses this (older) manifest.
    let stale = share
        .data_key(&answer, &srs.public().to_bytes(), &request, &manifest, 2.0)
        .err()
        .unwrap();
    assert_eq!(code(stale), "stale");
    let dk = share
        .data_key(&answer, &srs.public().to_bytes(), &request, &manifest, 1.0)
        .unwrap();

    let root = get(&entry, "chunkRoot").as_string().unwrap();
    let header_len = blob_header_length() as usize;
    let mut dec = SectionDecryptor::new(&blob[..header_len], &dk, &index, &root).unwrap();
    let mut out = Vec::new();
    for piece in blob[header_len..].chunks(10_000) {
        out.extend(dec.push(piece).unwrap());
    }
    dec.finish().unwrap();
    assert_eq!(out, text);

    // A wrong root is refused before anything is decrypted; a cut stream is truncated.
    let wrong_root = hex::encode([7u8; 32]);
    let err = SectionDecryptor::new(&blob[..header_len], &dk, &index, &wrong_root)
        .err()
        .unwrap();
    assert_eq!(code(err), "content_mismatch");
    let mut dec = SectionDecryptor::new(&blob[..header_len], &dk, &index, &root).unwrap();
    dec.push(&blob[header_len..blob.len() - 1]).unwrap();
    assert_eq!(code(dec.finish().unwrap_err()), "truncated");

    // The owner opens its own section directly.
    let capsule = bytes(&entry, "capsule");
    let own = key.open_as_owner(&capsule, 1.0).unwrap();
    let mut dec = SectionDecryptor::new(&blob[..header_len], &own, &index, &root).unwrap();
    assert_eq!(dec.push(&blob[header_len..]).unwrap(), text);
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
        code(verify_manifest(&[0u8; 10], None).unwrap_err()),
        "malformed"
    );
    assert_eq!(
        code(verify_grant(b"SPHR\x03\x02").unwrap_err()),
        "unknown_version"
    );
    let e = verify_grant(b"SPHR\x02\x01").unwrap_err();
    assert_eq!(code(e.clone()), "wrong_kind");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name").as_string().as_deref(), Some("SesphrError"));
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
    assert_eq!(chunk_index_from_blob(&web_blob).unwrap(), index);

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
    assert_eq!(chunk_index_from_blob(&blob).unwrap(), index);
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
