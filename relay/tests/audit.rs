//! The audit log against the real servers: an owner's listing checked by
//! the core's audit flow, inclusion proofs of past entries with typed
//! refusals, and `sesphr-relay audit export` / `audit verify` from the
//! command line.
#![cfg(test)]

use sesphr_client::audit_check::AuditCheck;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::token::{Purpose, RequestToken};
use sesphr_testkit::deploy::*;

fn relay(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sesphr-relay"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_verify_past_entries_have_proofs_and_an_export_verifies() {
    let d = deploy(|_| {}).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let mut doctor = reader(&client).await;
    record
        .write(&[("history", b"asthma since 2009".as_slice())])
        .await
        .unwrap();
    record
        .share(
            doctor.identity().public(),
            &["history"],
            Role::Physician,
            false,
            None,
        )
        .await
        .unwrap();
    let shared = doctor.shared_with_me().await.unwrap();
    let hist = record.section_id("history");
    for _ in 0..3 {
        doctor.read(&shared[0], &hist).await.unwrap();
    }

    // The owner's listing: one audit path per entry, all under one head,
    // checked by the same flow the npm package runs.
    let token = RequestToken::sign(
        patient.identity(),
        Purpose::ReadAudit,
        &record.record().0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let listing: serde_json::Value = serde_json::from_slice(
        &api.get(
            &format!("/srs/v1/records/{}/audit", record.record().to_hex()),
            Some(&token),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let head_bytes = hex::decode(listing["treeHead"].as_str().unwrap()).unwrap();
    let head = AuditCheck::new(client.srs(), &head_bytes, None)
        .unwrap()
        .verified()
        .unwrap();
    let size = head.head().tree_size;
    assert_eq!(size, 3);
    let mut check = head.listing(record.record());
    let entries = listing["entries"].as_array().unwrap();
    let paths = listing["paths"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (row, path) in entries.iter().zip(paths) {
        let index = row[0].as_u64().unwrap();
        let entry = hex::decode(row[1].as_str().unwrap()).unwrap();
        check.add(index, &entry, &hashes(path)).unwrap();
        // The public route gives the same path for this past entry, under a
        // head of the size asked for (here the listing's), and for a smaller one.
        let inc: serde_json::Value = serde_json::from_slice(
            &api.get(&format!("/srs/v1/audit/inclusion/{index}/{size}"), None)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(hashes(&inc["path"]), hashes(path));
        let inc_head = sesphr_client::audit::SignedTreeHead::from_bytes(
            &hex::decode(inc["treeHead"].as_str().unwrap()).unwrap(),
            client.srs(),
        )
        .unwrap();
        assert_eq!(inc_head.root, head.head().root);
        let smaller: serde_json::Value = serde_json::from_slice(
            &api.get(
                &format!("/srs/v1/audit/inclusion/{index}/{}", index + 1),
                None,
            )
            .await
            .unwrap(),
        )
        .unwrap();
        let small_head = sesphr_client::audit::SignedTreeHead::from_bytes(
            &hex::decode(smaller["treeHead"].as_str().unwrap()).unwrap(),
            client.srs(),
        )
        .unwrap();
        sesphr_client::merkle::verify_inclusion(
            &sesphr_client::merkle::leaf_hash(&entry),
            index,
            index + 1,
            &hashes(&smaller["path"]),
            &small_head.root,
        )
        .unwrap();
    }
    assert_eq!(check.finish(None).unwrap().entries.len(), 3);

    // Bad input is a typed 400, never a panic or a 500.
    let too_big = format!("0/{}", size + 1);
    let at_end = format!("{size}/{size}");
    for bad in [
        at_end.as_str(),
        too_big.as_str(),
        "0/0",
        "x/1",
        "-1/2",
        "0/99999999999999999999999",
    ] {
        let e = api
            .get(&format!("/srs/v1/audit/inclusion/{bad}"), None)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_range"), "{bad}");
    }
    // Consistency proofs take the same care: never a 404 for bad numbers.
    for bad in ["0/1", "2/1", "x/1", "1/-2", "1/99999999999999999999999"] {
        let e = api
            .get(&format!("/srs/v1/audit/consistency/{bad}"), None)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_range"), "{bad}");
    }

    // The auditor's export, checked from entry 0 to its head, with the
    // listing's head added as one collected elsewhere.
    let data = d.dir.path().to_str().unwrap();
    let out = d.dir.path().join("audit.export");
    let out_s = out.to_str().unwrap();
    let mut export = vec!["audit", "export", "--data-dir", data, "--out", out_s];
    if let Some(db) = d.server.srs_db() {
        export.extend(["--srs-db", db]);
    }
    let x = relay(&export);
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    let fp = client.srs().fingerprint();
    let head_hex = hex::encode(&head_bytes);
    let v = relay(&[
        "audit",
        "verify",
        out_s,
        "--srs-fingerprint",
        &fp,
        "--head",
        &head_hex,
    ]);
    let report = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        report.contains("3 entries, every one decoded: allowed 3"),
        "{report}"
    );
    assert_eq!(report.matches(": verified").count(), 2, "{report}");

    // Another SRS's fingerprint, a rewritten entry, a head the export does
    // not reach, and bytes that are not an export all fail, saying why.
    let wrong = relay(&["audit", "verify", out_s, "--srs-fingerprint", "AAAA"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not of AAAA"));
    let bytes = std::fs::read(&out).unwrap();
    // An entry's decision byte: header 6, SRS 66, count 8, then each entry
    // as a 4-byte length and 207 bytes, its decision 166 bytes in.
    let n = u64::from_be_bytes(bytes[72..80].try_into().unwrap()) as usize;
    let decision = |i: usize| 80 + i * (4 + 207) + 4 + 166;
    let tampered = d.dir.path().join("tampered.export");
    let verify_tampered = |i: usize| {
        let mut b = bytes.clone();
        b[decision(i)] = 3;
        std::fs::write(&tampered, &b).unwrap();
        let t = relay(&["audit", "verify", tampered.to_str().unwrap()]);
        assert!(!t.status.success());
        String::from_utf8_lossy(&t.stderr).to_string()
    };
    // Rewriting the first entry breaks its record's chain at the next entry
    // about that record; rewriting the last is caught by the head's root.
    let first = verify_tampered(0);
    assert!(first.contains("(chain_broken)"), "{first}");
    let last = verify_tampered(n - 1);
    assert!(
        last.contains("head 0: proof verification failed (bad_proof)"),
        "{last}"
    );
    doctor.read(&shared[0], &hist).await.unwrap();
    let later = serde_json::from_slice::<serde_json::Value>(
        &api.get(&format!("/srs/v1/audit/inclusion/0/{}", size + 1), None)
            .await
            .unwrap(),
    )
    .unwrap()["treeHead"]
        .as_str()
        .unwrap()
        .to_string();
    let ahead = relay(&["audit", "verify", out_s, "--head", &later]);
    assert!(!ahead.status.success());
    assert!(String::from_utf8_lossy(&ahead.stderr).contains("(stale)"));
    let junk = relay(&[
        "audit",
        "verify",
        tampered.parent().unwrap().to_str().unwrap(),
    ]);
    assert!(!junk.status.success());
    std::fs::write(&tampered, b"SPHR\x14\x01").unwrap();
    let short = relay(&["audit", "verify", tampered.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&short.stderr).contains("not an audit export (malformed)"));
    d.server.stop().await;
}
