//! End to end on loopback: the real relay and SRS, driven over HTTP by the
//! native protocol core playing a patient and several readers.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_client::token::{Purpose, RequestToken};

fn api_err(status: u16, code: &str) -> ReadErr {
    ReadErr::Api(ApiErr {
        status,
        code: code.to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_read_revoke_rotate_end_to_end() {
    let Deployment {
        dir: _dir,
        server,
        api,
        mut patient,
        srs,
    } = deploy(|_| {}).await;
    let mut physician = Reader::new(&api).await;
    let mut insurer = Reader::new(&api).await;

    patient
        .write(
            &api,
            &[
                ("history", b"asthma since 2009".as_slice()),
                ("medications", b"salbutamol".as_slice()),
                ("labs", b"HbA1c 6.1%".as_slice()),
                ("insurance", b"policy 42, Acme Health".as_slice()),
            ],
        )
        .await;
    let g_hist = patient
        .grant(&api, "history", physician.id.public(), Role::Physician, 0)
        .await;
    patient
        .grant(&api, "labs", physician.id.public(), Role::Physician, 0)
        .await;
    let g_ins = patient
        .grant(&api, "insurance", insurer.id.public(), Role::Insurer, 0)
        .await;
    physician.sync_inbox(&api).await;
    insurer.sync_inbox(&api).await;
    assert_eq!(physician.shares.len(), 2);
    assert_eq!(insurer.shares.len(), 1);

    let (rec, hist, labs, meds, ins) = (
        patient.record,
        patient.section_id("history"),
        patient.section_id("labs"),
        patient.section_id("medications"),
        patient.section_id("insurance"),
    );
    assert_eq!(
        physician.read(&api, &rec, &hist, &srs).await.unwrap(),
        b"asthma since 2009"
    );
    assert_eq!(
        physician.read(&api, &rec, &labs, &srs).await.unwrap(),
        b"HbA1c 6.1%"
    );
    assert_eq!(
        insurer.read(&api, &rec, &ins, &srs).await.unwrap(),
        b"policy 42, Acme Health"
    );
    // Nothing else: no grant for medications; and using another reader's grant is refused by the SRS.
    assert_eq!(
        physician.read(&api, &rec, &meds, &srs).await.unwrap_err(),
        ReadErr::Client("no_grant")
    );
    let m = latest_manifest(&api, &rec).await.unwrap();
    let insurer_share = insurer.shares[0].clone();
    let req = ReencryptRequest::from_bytes(&{
        let mut b = ReencryptRequest::new(
            &insurer.id,
            &insurer_share.grant,
            m.version(),
            now(),
            &mut os_rng(),
        )
        .unwrap()
        .as_bytes()
        .to_vec();
        let n = b.len();
        let forged = physician.id.sign(&b[..n - 64]);
        b[n - 64..].copy_from_slice(&forged);
        b
    })
    .unwrap();
    let (sealed, _) = seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
    assert_eq!(
        api.post("/v1/reencrypt", "application/octet-stream", sealed)
            .await
            .unwrap_err(),
        ApiErr {
            status: 403,
            code: "bad_signature".into()
        }
    );

    // Revoke the physician's history grant: the next read is refused.
    patient.revoke(&api, &g_hist.statement).await.unwrap();
    assert_eq!(
        physician.read(&api, &rec, &hist, &srs).await.unwrap_err(),
        api_err(403, "revoked")
    );
    // Revoking again returns the same receipt; the grant id can never be reused.
    patient.revoke(&api, &g_hist.statement).await.unwrap();
    let again = serde_json::json!({ "statement": hex::encode(g_hist.statement.as_bytes()), "b2Envelope": hex::encode(g_hist.b2_envelope.to_bytes()) });
    assert_eq!(
        api.post(
            "/srs/v1/grants",
            "application/json",
            serde_json::to_vec(&again).unwrap()
        )
        .await
        .unwrap_err()
        .code,
        "grant_id_used"
    );

    // The next write of history rotates its epoch; labs and insurance keep working.
    patient
        .write(&api, &[("history", b"asthma, well controlled".as_slice())])
        .await;
    physician.sync_inbox(&api).await;
    assert_eq!(
        physician.read(&api, &rec, &hist, &srs).await.unwrap_err(),
        api_err(403, "revoked")
    );
    assert_eq!(
        physician.read(&api, &rec, &labs, &srs).await.unwrap(),
        b"HbA1c 6.1%"
    );
    assert_eq!(
        insurer.read(&api, &rec, &ins, &srs).await.unwrap(),
        b"policy 42, Acme Health"
    );

    // A from-now grant (labs) rotates labs now: the newcomer cannot read the
    // current version, only those written after the grant; the physician is
    // re-granted in the new epoch.
    let mut nurse = Reader::new(&api).await;
    let next = patient.version() + 1;
    patient
        .grant(&api, "labs", nurse.id.public(), Role::Nurse, next)
        .await;
    nurse.sync_inbox(&api).await;
    assert_eq!(
        nurse.read(&api, &rec, &labs, &srs).await.unwrap_err(),
        api_err(403, "not_in_manifest")
    );
    patient
        .write(&api, &[("labs", b"HbA1c 5.8%".as_slice())])
        .await;
    assert_eq!(
        nurse.read(&api, &rec, &labs, &srs).await.unwrap(),
        b"HbA1c 5.8%"
    );
    physician.sync_inbox(&api).await;
    assert_eq!(
        physician.read(&api, &rec, &labs, &srs).await.unwrap(),
        b"HbA1c 5.8%"
    );
    // An `all` grant reads every version, including the first.
    let mut family = Reader::new(&api).await;
    patient
        .grant(&api, "insurance", family.id.public(), Role::Family, 0)
        .await;
    family.sync_inbox(&api).await;
    let v1 = patient.manifests[0].clone();
    let share = family.shares[0].clone();
    assert_eq!(
        family.read_with(&api, &share, &v1, &srs).await.unwrap_err(),
        ReadErr::Client("stale")
    );
    assert_eq!(
        family.read(&api, &rec, &ins, &srs).await.unwrap(),
        b"policy 42, Acme Health"
    );

    // The owner lists grants and reads the audit log; others cannot.
    let t = RequestToken::sign(
        &patient.id,
        Purpose::ListGrants,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let grants: Vec<serde_json::Value> = serde_json::from_slice(
        &api.get(
            &format!("/srs/v1/records/{}/grants", rec.to_hex()),
            Some(&t),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(grants.iter().any(|g| g["revoked"] == true));
    let t = RequestToken::sign(
        &patient.id,
        Purpose::ReadAudit,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let audit: serde_json::Value = serde_json::from_slice(
        &api.get(&format!("/srs/v1/records/{}/audit", rec.to_hex()), Some(&t))
            .await
            .unwrap(),
    )
    .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.len() >= 10, "{}", entries.len());
    let decisions: Vec<u8> = entries
        .iter()
        .map(|e| {
            sesphr_client::audit::AuditEntry::from_bytes(
                &hex::decode(e[1].as_str().unwrap()).unwrap(),
            )
            .unwrap()
            .decision as u8
        })
        .collect();
    assert!(decisions.contains(&(sesphr_client::audit::Decision::Revoked as u8)));
    let t = RequestToken::sign(
        &physician.id,
        Purpose::ReadAudit,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        api.get(&format!("/srs/v1/records/{}/audit", rec.to_hex()), Some(&t))
            .await
            .unwrap_err()
            .code,
        "not_owner"
    );
    // The log only grows: a consistency proof links an earlier signed tree
    // head to a later one.
    let srs_id = srs.clone();
    let head_a = sesphr_client::audit::SignedTreeHead::from_bytes(
        &hex::decode(audit["treeHead"].as_str().unwrap()).unwrap(),
        &srs_id,
    )
    .unwrap();
    assert_eq!(
        insurer.read(&api, &rec, &ins, &srs).await.unwrap(),
        b"policy 42, Acme Health"
    );
    let t = RequestToken::sign(
        &patient.id,
        Purpose::ReadAudit,
        &rec.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let audit: serde_json::Value = serde_json::from_slice(
        &api.get(&format!("/srs/v1/records/{}/audit", rec.to_hex()), Some(&t))
            .await
            .unwrap(),
    )
    .unwrap();
    let head_b = sesphr_client::audit::SignedTreeHead::from_bytes(
        &hex::decode(audit["treeHead"].as_str().unwrap()).unwrap(),
        &srs_id,
    )
    .unwrap();
    assert!(head_b.tree_size > head_a.tree_size);
    let proof: serde_json::Value = serde_json::from_slice(
        &api.get(
            &format!(
                "/srs/v1/audit/consistency/{}/{}",
                head_a.tree_size, head_b.tree_size
            ),
            None,
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let path: Vec<[u8; 32]> = proof["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    head_a.verify_extension(&head_b, &path).unwrap();
    assert!(head_b.verify_extension(&head_a, &path).is_err());
    assert_eq!(
        api.get(
            &format!("/srs/v1/audit/consistency/0/{}", head_b.tree_size),
            None
        )
        .await
        .unwrap_err()
        .code,
        "invalid_range"
    );
    let _ = g_ins;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_relay_is_detected() {
    let Deployment {
        dir,
        server,
        api,
        mut patient,
        srs,
    } = deploy(|_| {}).await;
    let mut doctor = Reader::new(&api).await;
    let m1 = patient
        .write(
            &api,
            &[
                ("history", b"v1 history".as_slice()),
                ("notes", b"v1 notes, a longer body".as_slice()),
            ],
        )
        .await;
    patient
        .grant(&api, "history", doctor.id.public(), Role::Physician, 0)
        .await;
    doctor.sync_inbox(&api).await;
    let m2 = patient
        .write(&api, &[("history", b"v2 history".as_slice())])
        .await;
    let (rec, hist) = (patient.record, patient.section_id("history"));
    assert_eq!(
        doctor.read(&api, &rec, &hist, &srs).await.unwrap(),
        b"v2 history"
    );
    let relay = dir.path().join("relay");
    let blob_path = |id: &[u8; 32]| relay.join("blobs").join(hex::encode(id));
    let hist_entry = m2.entry(&hist).unwrap().clone();
    let notes_entry = m1.entry(&patient.section_id("notes")).unwrap().clone();
    let original = std::fs::read(blob_path(&hist_entry.blob_id())).unwrap();

    // Substituted blob: the relay serves another section's blob.
    std::fs::remove_file(blob_path(&hist_entry.blob_id())).unwrap();
    std::fs::copy(
        blob_path(&notes_entry.blob_id()),
        blob_path(&hist_entry.blob_id()),
    )
    .unwrap();
    assert_eq!(
        doctor.read(&api, &rec, &hist, &srs).await.unwrap_err(),
        ReadErr::Client("content_mismatch")
    );
    // Truncated download.
    std::fs::remove_file(blob_path(&hist_entry.blob_id())).unwrap();
    std::fs::write(
        blob_path(&hist_entry.blob_id()),
        &original[..original.len() - 5],
    )
    .unwrap();
    assert_eq!(
        doctor.read(&api, &rec, &hist, &srs).await.unwrap_err(),
        ReadErr::Client("truncated")
    );
    std::fs::remove_file(blob_path(&hist_entry.blob_id())).unwrap();
    std::fs::write(blob_path(&hist_entry.blob_id()), &original).unwrap();
    assert_eq!(
        doctor.read(&api, &rec, &hist, &srs).await.unwrap(),
        b"v2 history"
    );

    // Rolled-back manifest: the relay hides version 2; the SRS head exposes it.
    let mdir = relay.join("manifests").join(rec.to_hex());
    let v2 = mdir.join(format!("{:020}", 2));
    let saved = std::fs::read(&v2).unwrap();
    std::fs::remove_file(&v2).unwrap();
    let mut fresh_reader = Reader {
        id: sesphr_client::identity::Identity::from_seed(
            sesphr_client::secret::Seed::from_bytes(doctor.id.seed().to_bytes().as_ref()).unwrap(),
        )
        .unwrap(),
        shares: doctor.shares.clone(),
        high_water: 0,
    };
    assert_eq!(
        fresh_reader
            .read(&api, &rec, &hist, &srs)
            .await
            .unwrap_err(),
        ReadErr::Client("stale")
    );
    std::fs::write(&v2, saved).unwrap();

    // Replayed answer: an answer to an earlier request is useless for a new one.
    let share = doctor.shares[0].clone();
    let req1 = ReencryptRequest::new(&doctor.id, &share.grant, 2, now(), &mut os_rng()).unwrap();
    let (sealed1, _) = seal_request(&srs.encryption, req1.as_bytes(), &mut os_rng()).unwrap();
    let old_answer = api
        .post("/v1/reencrypt", "application/octet-stream", sealed1.clone())
        .await
        .unwrap();
    let req2 = ReencryptRequest::new(&doctor.id, &share.grant, 2, now(), &mut os_rng()).unwrap();
    let (_, key2) = seal_request(&srs.encryption, req2.as_bytes(), &mut os_rng()).unwrap();
    assert_eq!(
        key2.open_answer(&old_answer).unwrap_err().code(),
        "decryption_failed"
    );
    // And a replayed request is refused (and audited) by the SRS.
    assert_eq!(
        api.post("/v1/reencrypt", "application/octet-stream", sealed1)
            .await
            .unwrap_err(),
        ApiErr {
            status: 403,
            code: "replay".into()
        }
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acknowledged_write() {
    let Deployment {
        dir,
        server,
        api,
        mut patient,
        srs,
    } = deploy(|_| {}).await;
    let mut doctor = Reader::new(&api).await;
    patient
        .write(
            &api,
            &[
                ("history", b"durable".as_slice()),
                ("labs", b"also durable".as_slice()),
            ],
        )
        .await;
    let g = patient
        .grant(&api, "history", doctor.id.public(), Role::Physician, 0)
        .await;
    patient
        .grant(&api, "labs", doctor.id.public(), Role::Physician, 0)
        .await;
    doctor.sync_inbox(&api).await;
    patient.revoke(&api, &g.statement).await.unwrap();
    // A half-written upload left by a crash.
    std::fs::write(dir.path().join("relay/tmp/deadbeef"), b"partial").unwrap();
    server.stop().await;

    let server = Server::start(dir.path()).await;
    let api = Api::new(&server.base);
    assert_eq!(api.srs_public().await, srs, "the SRS keeps its identity");
    let (rec, hist, labs) = (
        patient.record,
        patient.section_id("history"),
        patient.section_id("labs"),
    );
    assert_eq!(
        doctor.read(&api, &rec, &hist, &srs).await.unwrap_err(),
        api_err(403, "revoked")
    );
    assert_eq!(
        doctor.read(&api, &rec, &labs, &srs).await.unwrap(),
        b"also durable"
    );
    assert!(std::fs::read_dir(dir.path().join("relay/tmp"))
        .unwrap()
        .next()
        .is_none());
    patient
        .write(&api, &[("history", b"after restart".as_slice())])
        .await;
    assert_eq!(latest_manifest(&api, &rec).await.unwrap().version(), 2);
    server.stop().await;
}
