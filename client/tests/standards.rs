//! Standard test vectors for every standard primitive we build on:
//! Wycheproof (AES-GCM, ECDSA, ECDH), RFC 9180 (HPKE DHKEM P-256),
//! RFC 9497 / RFC 9380 (hash to scalar).
#![cfg(test)]
#![cfg(not(target_arch = "wasm32"))]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use p256::elliptic_curve::sec1::FromSec1Point;
use p256::AffinePoint;
use sesphr_client::primitives::{self, Point};
use sesphr_client::secret::SecretScalar;
use wycheproof::TestResult;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn wycheproof_aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let mut run = 0;
    for g in set
        .test_groups
        .iter()
        .filter(|g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128)
    {
        for t in &g.tests {
            run += 1;
            let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(t.key.as_ref()).unwrap());
            let nonce = Nonce::try_from(t.nonce.as_ref()).unwrap();
            let sealed = [t.ct.as_ref(), t.tag.as_ref()].concat();
            let opened = cipher.decrypt(
                &nonce,
                Payload {
                    msg: &sealed,
                    aad: &t.aad,
                },
            );
            match t.result {
                TestResult::Valid => {
                    assert_eq!(opened.unwrap(), t.pt.as_ref(), "tc {}", t.tc_id);
                    let again = cipher
                        .encrypt(
                            &nonce,
                            Payload {
                                msg: &t.pt,
                                aad: &t.aad,
                            },
                        )
                        .unwrap();
                    assert_eq!(again, sealed, "tc {}", t.tc_id);
                }
                _ => assert!(opened.is_err(), "tc {} must fail", t.tc_id),
            }
        }
    }
    assert!(run > 50, "ran {run}");
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let set =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
            .unwrap();
    let (mut valid, mut high_s_refused, mut invalid) = (0, 0, 0);
    for g in &set.test_groups {
        let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&g.key.key) else {
            continue;
        };
        for t in &g.tests {
            let ours = primitives::verify_message(&key, &t.msg, &t.sig);
            match t.result {
                TestResult::Valid | TestResult::Acceptable => {
                    let sig = p256::ecdsa::Signature::from_slice(&t.sig).unwrap();
                    let high = sig.normalize_s() != sig;
                    if high {
                        assert!(
                            ours.is_err(),
                            "tc {}: high S must be refused by policy",
                            t.tc_id
                        );
                        high_s_refused += 1;
                        // Its low-S twin verifies.
                        primitives::verify_message(&key, &t.msg, &sig.normalize_s().to_bytes())
                            .unwrap();
                    } else {
                        ours.unwrap_or_else(|e| panic!("tc {}: {e}", t.tc_id));
                        valid += 1;
                    }
                }
                TestResult::Invalid => {
                    assert!(ours.is_err(), "tc {} must fail", t.tc_id);
                    invalid += 1;
                }
            }
        }
    }
    assert!(
        valid > 10 && invalid > 10 && high_s_refused > 0,
        "{valid} {invalid} {high_s_refused}"
    );
}

#[test]
fn wycheproof_ecdh_p256() {
    let set =
        wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256r1Ecpoint).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for g in &set.test_groups {
        for t in &g.tests {
            let private = t.private_key.as_ref();
            let private = &private[private.len().saturating_sub(32)..];
            let mut padded = [0u8; 32];
            padded[32 - private.len()..].copy_from_slice(private);
            let private = &padded[..];
            let decoded = AffinePoint::from_sec1_bytes(&t.public_key)
                .ok()
                .and_then(|p| Point::from_projective(p.into()).ok())
                .and_then(|p| Point::from_bytes(&p.to_bytes()).ok());
            let shared = decoded.and_then(|p| {
                SecretScalar::from_bytes(private)
                    .ok()
                    .and_then(|s| s.mul(&p).ok())
            });
            match t.result {
                TestResult::Valid => {
                    let Some(shared) = shared else {
                        panic!(
                            "tc {} {:?} {} {}",
                            t.tc_id,
                            t.flags,
                            hex::encode(&t.public_key),
                            hex::encode(&t.private_key)
                        )
                    };
                    assert_eq!(
                        shared.x().to_vec(),
                        t.shared_secret.as_ref(),
                        "tc {}",
                        t.tc_id
                    );
                    ok += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        shared.is_none_or(|s| s.x().to_vec() != t.shared_secret.as_ref()),
                        "tc {}",
                        t.tc_id
                    );
                    refused += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(ok > 10 && refused > 10, "{ok} {refused}");
}

/// RFC 9180 A.3.1 (Base) and A.3.3 (Auth): DHKEM(P-256, HKDF-SHA256) decapsulation
/// with the same `hpke` KEM our envelopes use.
#[test]
fn rfc9180_dhkem_p256_vectors() {
    use hpke::{Deserializable, Kem};
    type K = hpke::kem::DhP256HkdfSha256;
    type Sk = <K as Kem>::PrivateKey;
    type Pk = <K as Kem>::PublicKey;
    type Enc = <K as Kem>::EncappedKey;

    let sk = Sk::from_bytes(&hex(
        "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
    ))
    .unwrap();
    let enc = Enc::from_bytes(&hex("04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4")).unwrap();
    let ss = K::decap(&sk, None, &enc).unwrap();
    assert_eq!(
        hex::encode(ss.0),
        "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8"
    );

    let sk = Sk::from_bytes(&hex(
        "d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e",
    ))
    .unwrap();
    let enc = Enc::from_bytes(&hex("042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454")).unwrap();
    let pk_s = Pk::from_bytes(&hex("04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c10eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73")).unwrap();
    let ss = K::decap(&sk, Some(&pk_s), &enc).unwrap();
    assert_eq!(
        hex::encode(ss.0),
        "d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f"
    );
    // The wrong sender key gives another secret: auth mode authenticates the sender.
    let other = Pk::from_bytes(&hex("04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0")).unwrap();
    assert_ne!(K::decap(&sk, Some(&other), &enc).unwrap().0, ss.0);
}

/// RFC 9497 A.3 (P256-SHA256) DeriveKeyPair: `hash_to_scalar` per RFC 9380
/// `hash_to_field` with expand_message_xmd, the primitive under `h2s`.
#[test]
fn rfc9497_derive_key_pair_vectors() {
    let seed = [0xa3u8; 32];
    let info = b"test key";
    for (mode, expected) in [
        (
            0u8,
            "159749d750713afe245d2d39ccfaae8381c53ce92d098a9375ee70739c7ac0bf",
        ),
        (
            1,
            "ca5d94c8807817669a51b196c34c1b7f8442fde4334a7121ae4736364312fca6",
        ),
        (
            2,
            "6ad2173efa689ef2c27772566ad7ff6e2d59b3b196f00219451fb2c89ee4dae2",
        ),
    ] {
        let dst = [b"DeriveKeyPairOPRFV1-".as_slice(), &[mode], b"-P256-SHA256"].concat();
        let s = primitives::hash_to_scalar_raw(
            &[&seed, &(info.len() as u16).to_be_bytes(), info, &[0u8]],
            &dst,
        )
        .unwrap();
        assert_eq!(
            hex::encode(primitives::scalar_to_bytes(&s)),
            expected,
            "mode {mode}"
        );
    }
}
