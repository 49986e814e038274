//! Browser benchmark harness: protocol operations and bulk throughput of both
//! AES-GCM engines in headless Chromium, printed as JSON lines (`BENCH {...}`).
//! Smoke sizes by default (CI); `SESPHR_BENCH_FULL=1` at build time for the
//! full sizes (`scripts/bench-wasm.sh`). Never asserts on time.
#![cfg(test)]
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::CryptoKey;

use sesphr_client::audit::{Decision, MemoryLog};
use sesphr_client::grant::{GrantTerms, IssuedGrant, Role};
use sesphr_client::identity::Identity;
use sesphr_client::manifest::{ManifestContent, ManifestEntry, SignedHead};
use sesphr_client::primitives::os_rng;
use sesphr_client::record::{EpochId, RecordId, SectionId, SectionKey};
use sesphr_client::reencrypt::{srs_reencrypt, ReencryptAnswer, ReencryptRequest};
use sesphr_client::secret::Seed;
use sesphr_client::stream::{decrypt_body, seal_section};
use sesphr_client::wasm;

wasm_bindgen_test_configure!(run_in_browser);

const FULL: bool = option_env!("SESPHR_BENCH_FULL").is_some();

fn now() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let f: js_sys::Function = Reflect::get(&perf, &"now".into()).unwrap().unchecked_into();
    f.call0(&perf).unwrap().as_f64().unwrap()
}

fn report(name: &str, iters: u32, total_ms: f64, bytes: Option<u64>) {
    let per = total_ms / f64::from(iters);
    let mbps = bytes.map(|b| b as f64 / (per / 1000.0) / 1e6);
    let line = format!(
        "BENCH {{\"name\":\"{name}\",\"iters\":{iters},\"ms_per_op\":{per:.4}{}}}",
        mbps.map(|m| format!(",\"mb_per_s\":{m:.1}"))
            .unwrap_or_default()
    );
    wasm_bindgen_test::console_log!("{line}");
}

fn time<T>(name: &str, iters: u32, mut f: impl FnMut() -> T) {
    let _ = f();
    let t = now();
    for _ in 0..iters {
        std::hint::black_box(f());
    }
    report(name, iters, now() - t, None);
}

#[wasm_bindgen_test]
fn protocol_operations() {
    let n = if FULL { 50 } else { 2 };
    let rng = &mut os_rng();
    let (owner, doctor, srs) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    time("keygen", n, || {
        Identity::from_seed(Seed::generate(&mut os_rng())).unwrap()
    });
    let (record, nonce) = RecordId::generate(&owner.id(), rng);
    let section = SectionId::derive(owner.seed(), &record, "history");
    let key = SectionKey::for_owner(&owner, record, section, EpochId::generate(rng)).unwrap();
    let body = vec![1u8; 2048];
    let (blob, sealed, _) = seal_section(&key, 1, &body, 16, rng).unwrap();
    let entry = ManifestEntry::for_body(key.public(), &sealed);
    let manifest = ManifestContent::first(record, nonce, 0, vec![entry])
        .sign(&owner)
        .unwrap();
    let terms = GrantTerms::new(doctor.public(), Role::Physician, 1);
    time("grant issue", n, || {
        IssuedGrant::issue(
            &owner,
            &key,
            &srs.public().encryption,
            &terms,
            &mut os_rng(),
        )
        .unwrap()
    });
    let grant = IssuedGrant::issue(&owner, &key, &srs.public().encryption, &terms, rng).unwrap();
    time("grant accept (grantee)", n, || {
        grant.accept(&doctor, &key.public()).unwrap()
    });
    let share = grant.accept(&doctor, &key.public()).unwrap();
    let srs_share = grant.accept_srs_share(&srs).unwrap();
    let req = ReencryptRequest::new(&doctor, &grant.statement, 1, 0, rng).unwrap();
    time("re-encrypt (SRS side, in wasm)", n, || {
        srs_reencrypt(
            &srs_share,
            &grant.statement,
            &req.verify(&grant.statement).unwrap(),
            &manifest,
            0,
            &mut os_rng(),
        )
        .unwrap()
    });
    let re = srs_reencrypt(
        &srs_share,
        &grant.statement,
        &req.verify(&grant.statement).unwrap(),
        &manifest,
        0,
        rng,
    )
    .unwrap();
    let receipt = MemoryLog::default()
        .append(
            &srs,
            req.verify(&grant.statement).unwrap().audit_entry(
                &grant.statement,
                0,
                Decision::Allowed,
            ),
        )
        .unwrap();
    let head = SignedHead::sign(&srs, record, 1, manifest.hash(), 0);
    let answer = re.answer(receipt, head).sign(&srs).unwrap();
    time("reader verify answer + DEK + decrypt 2 KiB", n, || {
        let a = ReencryptAnswer::verify(&answer, srs.public(), &req, &grant.statement, &manifest)
            .unwrap();
        let k = share.data_key(&manifest, &a).unwrap();
        decrypt_body(&blob, &k, &sealed.chunk_root).unwrap()
    });
}

/// Finishes an encryptor and opens its blob as the owner would.
fn owner_decryptor(
    key: &wasm::SectionKey,
    enc: wasm::SectionEncryptor,
    blob: &[u8],
    version: f64,
) -> (wasm::SectionDecryptor, wasm::DataKey) {
    let done = enc.finish().unwrap();
    let field = |obj: &JsValue, k: &str| Reflect::get(obj, &k.into()).unwrap();
    let entry = field(&done, "entry");
    let root = field(&entry, "chunkRoot").as_string().unwrap();
    let capsule = Uint8Array::new(&field(&entry, "capsule")).to_vec();
    let index = Uint8Array::new(&field(&done, "chunkIndex")).to_vec();
    let dk = key.open_as_owner(&capsule, version).unwrap();
    let hl = wasm::blob_header_length() as usize;
    let dec = wasm::SectionDecryptor::new(&blob[..hl], &dk, &index, &root).unwrap();
    (dec, dk)
}

async fn bulk(mib: usize) {
    let owner = wasm::Identity::generate().unwrap();
    let rec = wasm::new_record(&owner).unwrap();
    let rid = Reflect::get(&rec, &"recordId".into())
        .unwrap()
        .as_string()
        .unwrap();
    let sid = wasm::section_id(&owner, &rid, "imaging").unwrap();
    let key = wasm::SectionKey::new(&owner, &rid, &sid, &wasm::new_epoch_id()).unwrap();
    let body = vec![0x42u8; mib << 20];
    let bytes = Some(body.len() as u64);

    // Pure-wasm engine (aes-gcm crate).
    let mut enc = wasm::SectionEncryptor::new(&key, 1.0, body.len() as f64, None).unwrap();
    let t = now();
    let mut blob = enc.header();
    for i in 0..enc.chunk_count() as u64 {
        let r = enc.body_range(i as f64).unwrap();
        blob.extend(enc.seal_next(&body[r[0] as usize..r[1] as usize]).unwrap());
    }
    report(
        &format!("encrypt {mib} MiB, aes-gcm engine"),
        1,
        now() - t,
        bytes,
    );
    let hl = wasm::blob_header_length() as usize;
    let (mut dec, _) = owner_decryptor(&key, enc, &blob, 1.0);
    let t = now();
    let out = dec.push(&blob[hl..]).unwrap();
    dec.finish().unwrap();
    report(
        &format!("decrypt {mib} MiB, aes-gcm engine"),
        1,
        now() - t,
        bytes,
    );
    assert_eq!(out.len(), body.len());

    // WebCrypto engine through the same framing (one chunk in flight).
    let mut enc = wasm::SectionEncryptor::new(&key, 2.0, body.len() as f64, None).unwrap();
    let ck: CryptoKey = JsFuture::from(enc.import_web_crypto_key().unwrap())
        .await
        .unwrap()
        .unchecked_into();
    let t = now();
    let mut blob = enc.header();
    for i in 0..enc.chunk_count() as u64 {
        let r = enc.body_range(i as f64).unwrap();
        let job = enc.prepare(&body[r[0] as usize..r[1] as usize]).unwrap();
        let sealed = wasm::web_crypto_seal(ck.clone(), job.clone())
            .await
            .unwrap()
            .to_vec();
        enc.commit(job, &sealed).unwrap();
        blob.extend(sealed);
    }
    report(
        &format!("encrypt {mib} MiB, WebCrypto engine"),
        1,
        now() - t,
        bytes,
    );
    let (mut dec, dk) = owner_decryptor(&key, enc, &blob, 2.0);
    let ck: CryptoKey = JsFuture::from(dk.import_web_crypto_key().unwrap())
        .await
        .unwrap()
        .unchecked_into();
    let t = now();
    let mut n = 0usize;
    for i in 0..dec.chunk_count() as u64 {
        let r = dec.chunk_range(i as f64).unwrap();
        let sealed = blob[r[0] as usize..(r[0] + r[1]) as usize].to_vec();
        let job = dec.check(i as f64, &sealed).unwrap();
        let pt = wasm::web_crypto_open(ck.clone(), job.clone(), sealed)
            .await
            .unwrap()
            .to_vec();
        n += dec.accept(job, &pt).unwrap().len();
    }
    report(
        &format!("decrypt {mib} MiB, WebCrypto engine"),
        1,
        now() - t,
        bytes,
    );
    assert_eq!(n, body.len());

    // The browser's own AES-256-GCM on the same bytes, one call: the ceiling.
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"AES-GCM".into()).unwrap();
    Reflect::set(&alg, &"iv".into(), &Uint8Array::new_with_length(12)).unwrap();
    let subtle: web_sys::SubtleCrypto = Reflect::get(
        &Reflect::get(&js_sys::global(), &"crypto".into()).unwrap(),
        &"subtle".into(),
    )
    .unwrap()
    .unchecked_into();
    let t = now();
    let _ = JsFuture::from(
        subtle
            .encrypt_with_object_and_u8_array(&alg, &ck, &body)
            .unwrap(),
    )
    .await
    .unwrap();
    report(
        &format!("raw WebCrypto AES-256-GCM {mib} MiB, one call"),
        1,
        now() - t,
        bytes,
    );
}

#[wasm_bindgen_test]
async fn bulk_throughput() {
    for mib in if FULL { vec![1, 16, 64] } else { vec![1] } {
        bulk(mib).await;
    }
}
