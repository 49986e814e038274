//! End to end on loopback: the real relay and SRS, driven over HTTP by the
//! native client (the core's owner and reader flows), with a relay that
//! lies or lags in front where the test says so.
#![cfg(test)]

use sesphr_client::audit::{AuditEntry, Decision, SignedTreeHead};
use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::ReencryptRequest;
use sesphr_native::{Client, Patient, Reader};
use sesphr_testkit::deploy::*;
use sesphr_testkit::mitm::Mitm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_read_revoke_rotate_end_to_end() {
    let d = deploy(|_| {}).await;
    let (api, client, patient, mut record) = (d.api, d.client, d.patient, d.record);
    let mut physician = reader(&client).await;
    let mut insurer = reader(&client).await;
    record
        .write(&[
            ("history", b"asthma since 2009".as_slice()),
            ("medications", b"salbutamol".as_slice()),
            ("labs", b"HbA1c 6.1%".as_slice()),
            ("insurance", b"policy 42, Acme Health".as_slice()),
        ])
        .await
        .unwrap();
    let doc = physician.identity().public().clone();
    let g_hist = record
        .share(&doc, &["history", "labs"], Role::Physician, false, None)
        .await
        .unwrap()[0]
        .statement
        .grant_id;
    record
        .share(
            insurer.identity().public(),
            &["insurance"],
            Role::Insurer,
            false,
            None,
        )
        .await
        .unwrap();
    let shared = physician.shared_with_me().await.unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].owner(), patient.identity().public());
    let (hist, labs, meds, ins) = (
        record.section_id("history"),
        record.section_id("labs"),
        record.section_id("medications"),
        record.section_id("insurance"),
    );
    let mine = &shared[0];
    assert_eq!(
        physician.read(mine, &hist).await.unwrap(),
        b"asthma since 2009"
    );
    assert_eq!(physician.read(mine, &labs).await.unwrap(), b"HbA1c 6.1%");
    let theirs = insurer.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        insurer.read(&theirs, &ins).await.unwrap(),
        b"policy 42, Acme Health"
    );
    // Nothing else: no grant of medications.
    assert_eq!(
        physician.read(mine, &meds).await.unwrap_err().code(),
        "not_granted"
    );

    // Another reader's grant with the physician's signature: refused, unaudited.
    let audited = record.audit().await.unwrap().len();
    let m = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();
    let (ins_grant, _) = record
        .grants()
        .await
        .unwrap()
        .into_iter()
        .find(|(g, _)| g.grantee == *insurer.identity().public())
        .unwrap();
    let mut forged = ReencryptRequest::new(
        insurer.identity(),
        &ins_grant,
        m.version(),
        now(),
        &mut os_rng(),
    )
    .unwrap()
    .as_bytes()
    .to_vec();
    let n = forged.len();
    let sig = physician.identity().sign(&forged[..n - 64]);
    forged[n - 64..].copy_from_slice(&sig);
    let (sealed, _) = seal_request(&client.srs().encryption, &forged, &mut os_rng()).unwrap();
    assert_eq!(
        api.post("/v1/reencrypt", "application/octet-stream", sealed)
            .await
            .unwrap_err(),
        ApiErr {
            status: 403,
            code: "bad_signature".into()
        }
    );
    assert_eq!(
        record.audit().await.unwrap().len(),
        audited,
        "an unproven request is never attributed"
    );

    // Revoke the physician's history grant: the next read is refused.
    record.revoke(&g_hist).await.unwrap();
    assert_eq!(
        physician.read(mine, &hist).await.unwrap_err().code(),
        "revoked"
    );
    // The grant id can never be used again.
    let (g, _) = record
        .grants()
        .await
        .unwrap()
        .into_iter()
        .find(|(g, _)| g.grant_id == g_hist)
        .unwrap();
    let again = serde_json::json!({ "statement": hex::encode(g.as_bytes()), "b2Envelope": "00" });
    assert_eq!(
        api.post_json("/srs/v1/grants", &again)
            .await
            .unwrap_err()
            .code,
        "malformed"
    );

    // The next write of history rotates its epoch; labs and insurance keep working.
    record
        .write(&[("history", b"asthma, well controlled".as_slice())])
        .await
        .unwrap();
    let mine = physician.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        physician.read(&mine, &hist).await.unwrap_err().code(),
        "not_granted"
    );
    // ... but the version it was granted stays readable (history).
    assert_eq!(
        physician
            .read_version(&mine, &hist, Some(2))
            .await
            .unwrap_err()
            .code(),
        "revoked"
    );
    assert_eq!(physician.read(&mine, &labs).await.unwrap(), b"HbA1c 6.1%");
    assert_eq!(
        insurer.read(&theirs, &ins).await.unwrap(),
        b"policy 42, Acme Health"
    );

    // A from-now grant (labs) rotates labs now: the newcomer reads only what
    // is written after it; the physician is re-granted in the new epoch.
    let mut nurse = reader(&client).await;
    record
        .share(
            nurse.identity().public(),
            &["labs"],
            Role::Nurse,
            true,
            None,
        )
        .await
        .unwrap();
    let for_nurse = nurse.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        nurse.read(&for_nurse, &labs).await.unwrap_err().code(),
        "before_from_version"
    );
    record
        .write(&[("labs", b"HbA1c 5.8%".as_slice())])
        .await
        .unwrap();
    let for_nurse = nurse.shared_with_me().await.unwrap().remove(0);
    assert_eq!(nurse.read(&for_nurse, &labs).await.unwrap(), b"HbA1c 5.8%");
    let mine = physician.shared_with_me().await.unwrap().remove(0);
    assert_eq!(physician.read(&mine, &labs).await.unwrap(), b"HbA1c 5.8%");
    assert_eq!(
        physician.read_version(&mine, &labs, Some(2)).await.unwrap(),
        b"HbA1c 6.1%"
    );
    assert_eq!(
        nurse
            .read_version(&for_nurse, &labs, Some(2))
            .await
            .unwrap_err()
            .code(),
        "before_from_version"
    );

    // The owner reads the audit log; others cannot.
    let audit = record.audit().await.unwrap();
    assert!(audit.iter().any(|(_, e)| e.decision == Decision::Revoked));
    assert!(audit.iter().all(|(_, e)| e.record == record.record()));
    let t = sesphr_client::token::RequestToken::sign(
        physician.identity(),
        sesphr_client::token::Purpose::ReadAudit,
        &record.record().0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    assert_eq!(
        api.get(
            &format!("/srs/v1/records/{}/audit", record.record().to_hex()),
            Some(&t)
        )
        .await
        .unwrap_err()
        .code,
        "not_owner"
    );
    // The log only grows: a consistency proof links two signed tree heads.
    // (The native client checked each listing's paths and chain already.)
    let head = |l: sesphr_client::audit_check::VerifiedListing| {
        SignedTreeHead::from_bytes(l.head.head().as_bytes(), client.srs()).unwrap()
    };
    let a = client
        .audit(patient.identity(), &record.record())
        .await
        .unwrap();
    insurer.read(&theirs, &ins).await.unwrap();
    let b = client
        .audit(patient.identity(), &record.record())
        .await
        .unwrap();
    let (a, b) = (head(a), head(b));
    assert!(b.tree_size > a.tree_size);
    let proof: serde_json::Value = serde_json::from_slice(
        &api.get(
            &format!("/srs/v1/audit/consistency/{}/{}", a.tree_size, b.tree_size),
            None,
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let path = hashes(&proof["path"]);
    a.verify_extension(&b, &path).unwrap();
    assert!(b.verify_extension(&a, &path).is_err());
    assert_eq!(
        api.get(
            &format!("/srs/v1/audit/consistency/0/{}", b.tree_size),
            None
        )
        .await
        .unwrap_err()
        .code,
        "invalid_range"
    );
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_relay_is_detected_by_readers_and_by_the_owner() {
    let d = deploy(|_| {}).await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    let doctor = party(&client).await;
    record
        .write(&[
            ("history", b"v1 history".as_slice()),
            ("notes", b"v1 notes, a longer body".as_slice()),
        ])
        .await
        .unwrap();
    record
        .share(doctor.public(), &["history"], Role::Physician, false, None)
        .await
        .unwrap();
    record
        .write(&[("history", b"v2 history".as_slice())])
        .await
        .unwrap();
    let (hist, notes) = (record.section_id("history"), record.section_id("notes"));
    let m = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();
    let hist_blob = m.entry(&hist).unwrap().blob_id();
    let notes_blob = m.entry(&notes).unwrap().blob_id();

    let mitm = Mitm::start(&d.server.base).await;
    let lying = Client::connect(&mitm.base, Some(&client.srs().fingerprint()))
        .await
        .unwrap();
    let mut doc = Reader::new(
        lying.clone(),
        sesphr_testkit::world::identity_clone(&doctor),
    );
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(doc.read(&shared, &hist).await.unwrap(), b"v2 history");

    // Another section's blob under this one's address.
    mitm.set(|r| r.swap_blob = Some((hist_blob, notes_blob)));
    assert_eq!(
        doc.read(&shared, &hist).await.unwrap_err().code(),
        "content_mismatch"
    );
    // A truncated download.
    mitm.set(|r| {
        r.swap_blob = None;
        r.truncate_blob = Some((hist_blob, 5));
    });
    assert_eq!(
        doc.read(&shared, &hist).await.unwrap_err().code(),
        "truncated"
    );
    mitm.set(|r| r.truncate_blob = None);
    assert_eq!(doc.read(&shared, &hist).await.unwrap(), b"v2 history");

    // A rolled-back record: the relay hides version 3. The SRS head exposes
    // it to a reader who never saw version 3, and to the owner restoring.
    mitm.set(|r| r.hide_manifests_above = Some(2));
    let mut fresh = Reader::new(
        lying.clone(),
        sesphr_testkit::world::identity_clone(&doctor),
    );
    let err = fresh.read(&shared, &hist).await.unwrap_err();
    assert_eq!(err.code(), "stale", "{err}");
    let owner = Patient::new(
        lying.clone(),
        sesphr_testkit::world::identity_clone(patient.identity()),
    );
    let err = owner.open_record(0, 0).await.unwrap_err();
    assert_eq!(err.code(), "stale");
    assert!(
        err.to_string().contains("stale: 2 is older than 3"),
        "{err}"
    );
    mitm.set(|r| r.hide_manifests_above = None);
    assert_eq!(owner.open_record(0, 0).await.unwrap().unwrap().version(), 3);

    // A replayed answer is useless for a new request, and a replayed request
    // is refused.
    let (g, _) = record.grants().await.unwrap().remove(0);
    let req1 = ReencryptRequest::new(&doctor, &g, 3, now(), &mut os_rng()).unwrap();
    let (sealed1, _) =
        seal_request(&client.srs().encryption, req1.as_bytes(), &mut os_rng()).unwrap();
    let old_answer = client.reencrypt(sealed1.clone()).await.unwrap().unwrap();
    let req2 = ReencryptRequest::new(&doctor, &g, 3, now(), &mut os_rng()).unwrap();
    let (_, key2) = seal_request(&client.srs().encryption, req2.as_bytes(), &mut os_rng()).unwrap();
    assert_eq!(
        key2.open_answer(&old_answer).unwrap_err().code(),
        "decryption_failed"
    );
    assert_eq!(
        client.reencrypt(sealed1).await.unwrap(),
        Err(Decision::Replay)
    );
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_head_registration_never_blocks_the_record() {
    let d = deploy(|_| {}).await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    let allergies = [("allergies", b"penicillin".as_slice())];
    let (doctor, _) = share_written(&client, &mut record, &allergies, Role::Physician).await;
    let mut doctor = Reader::new(client.clone(), doctor);
    let mitm = Mitm::start(&d.server.base).await;
    let lossy = Client::connect(&mitm.base, None).await.unwrap();
    let owner = Patient::new(
        lossy,
        sesphr_testkit::world::identity_clone(patient.identity()),
    );
    let mut rec = owner.open_record(0, 0).await.unwrap().unwrap();

    // The SRS stores the head, the reply is lost: the owner cannot tell,
    // keeps the version as unwitnessed; readers already see it.
    mitm.set(|r| r.lose_reply = Some("/srs/v1/heads".into()));
    let w = rec
        .write(&[("allergies", b"penicillin, latex".as_slice())])
        .await
        .unwrap();
    assert_eq!((w.version, w.witnessed), (3, false));
    assert_eq!(rec.state().unwitnessed().count(), 1);
    let shared = doctor.shared_with_me().await.unwrap().remove(0);
    let sid = rec.section_id("allergies");
    assert_eq!(
        doctor.read(&shared, &sid).await.unwrap(),
        b"penicillin, latex"
    );
    // The SRS cannot be reached at all for the next write: still saved at
    // the relay; readers see version 3 until the SRS witnesses version 4.
    mitm.set(|r| {
        r.lose_reply = None;
        r.fail = Some("/srs/v1/heads".into());
    });
    let w = rec
        .write(&[("allergies", b"penicillin, latex, nuts".as_slice())])
        .await
        .unwrap();
    assert_eq!((w.version, w.witnessed), (4, false));
    assert_eq!(
        doctor.read(&shared, &sid).await.unwrap(),
        b"penicillin, latex"
    );
    // It comes back: the next write pushes both missing versions first
    // (the first is already there: idempotent), then its own.
    mitm.set(|r| r.fail = None);
    let w = rec
        .write(&[("allergies", b"penicillin, latex, nuts, bees".as_slice())])
        .await
        .unwrap();
    assert_eq!((w.version, w.witnessed), (5, true));
    assert_eq!(
        doctor.read(&shared, &sid).await.unwrap(),
        b"penicillin, latex, nuts, bees"
    );
    assert_eq!(
        doctor.read_version(&shared, &sid, Some(4)).await.unwrap(),
        b"penicillin, latex, nuts"
    );

    // A stale device (another tab) gets version_conflict, refreshed, and
    // writes on the next try.
    let mut stale = record;
    let err = stale
        .write(&[("notes", b"from the old tab".as_slice())])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "version_conflict");
    assert_eq!(stale.version(), 5, "refreshed from the servers");
    let w = stale
        .write(&[("notes", b"from the old tab".as_slice())])
        .await
        .unwrap();
    assert_eq!((w.version, w.witnessed), (6, true));
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acknowledged_write() {
    let d = deploy(|_| {}).await;
    let (client, patient, mut record) = (d.client, d.patient, d.record);
    let sections = [
        ("history", b"durable".as_slice()),
        ("labs", b"also durable".as_slice()),
    ];
    let (doctor, g) = share_written(&client, &mut record, &sections, Role::Physician).await;
    record.revoke(&g[0].statement.grant_id).await.unwrap();
    // A half-written upload left by a crash. (In a bucket a young
    // temporary object may be another relay's upload in progress and is
    // kept at start: relay/tests/blobs.rs has the bucket's case.)
    if !sesphr_testkit::deploy::is_scaled() {
        std::fs::write(d.dir.path().join("relay/tmp/deadbeef"), b"partial").unwrap();
    }
    d.server.stop().await;

    let server = Server::start(d.dir.path()).await;
    let client2 = sesphr_testkit::deploy::client(&server.base).await;
    assert_eq!(client2.srs(), client.srs(), "the SRS keeps its identity");
    let mut doc = Reader::new(client2.clone(), doctor);
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    let (hist, labs) = (record.section_id("history"), record.section_id("labs"));
    assert_eq!(
        doc.read(&shared, &hist).await.unwrap_err().code(),
        "revoked"
    );
    assert_eq!(doc.read(&shared, &labs).await.unwrap(), b"also durable");
    assert_eq!(server.temporaries().await, 0);
    let owner = Patient::new(
        client2,
        sesphr_testkit::world::identity_clone(patient.identity()),
    );
    let mut rec = owner
        .open_record(0, record.high_water())
        .await
        .unwrap()
        .unwrap();
    rec.write(&[("history", b"after restart".as_slice())])
        .await
        .unwrap();
    assert_eq!(rec.version(), 3);
    assert_eq!(rec.read_at("history", 2).await.unwrap(), b"durable");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_proven_requests_reach_a_patients_audit_listing() {
    let d = deploy(|_| {}).await;
    let (client, mut record) = (d.client, d.record);
    let history = [("history", b"h".as_slice())];
    let (doctor, mut g) = share_written(&client, &mut record, &history, Role::Physician).await;
    let g = g.remove(0).statement;
    let send = |req: Vec<u8>| {
        let client = client.clone();
        async move {
            let (sealed, _) = seal_request(&client.srs().encryption, &req, &mut os_rng()).unwrap();
            client.reencrypt(sealed).await.unwrap()
        }
    };
    // A stranger signs a request "by the doctor" under the doctor's grant.
    let stranger = party(&client).await;
    let mut forged = ReencryptRequest::new(&doctor, &g, 2, now(), &mut os_rng())
        .unwrap()
        .as_bytes()
        .to_vec();
    let n = forged.len();
    let sig = stranger.sign(&forged[..n - 64]);
    forged[n - 64..].copy_from_slice(&sig);
    assert_eq!(send(forged).await, Err(Decision::BadSignature));
    // A stranger with a self-grant on their own record names the victim's
    // record, section and version: the grant is not found under that record.
    let (_, mut own) = patient(&client).await;
    own.write(&[("x", b"x".as_slice())]).await.unwrap();
    let self_grant = own
        .share(stranger.public(), &["x"], Role::Family, false, None)
        .await
        .unwrap()
        .remove(0)
        .statement;
    let mut aimed = ReencryptRequest::new(&stranger, &self_grant, 2, now(), &mut os_rng())
        .unwrap()
        .as_bytes()
        .to_vec();
    aimed[22..54].copy_from_slice(&record.record().0);
    aimed[54..86].copy_from_slice(&record.section_id("history").0);
    let n = aimed.len();
    let sig = stranger.sign(&aimed[..n - 64]);
    aimed[n - 64..].copy_from_slice(&sig);
    assert_eq!(send(aimed).await, Err(Decision::UnknownGrant));
    // Random grant ids, and a replay.
    for i in 0..5u8 {
        let mut junk = ReencryptRequest::new(&doctor, &g, 2, now(), &mut os_rng())
            .unwrap()
            .as_bytes()
            .to_vec();
        junk[6..22].copy_from_slice(&[i; 16]);
        assert_eq!(send(junk).await, Err(Decision::UnknownGrant));
    }
    let honest = ReencryptRequest::new(&doctor, &g, 2, now(), &mut os_rng()).unwrap();
    let (sealed, _) =
        seal_request(&client.srs().encryption, honest.as_bytes(), &mut os_rng()).unwrap();
    assert!(client.reencrypt(sealed.clone()).await.unwrap().is_ok());
    assert_eq!(
        client.reencrypt(sealed).await.unwrap(),
        Err(Decision::Replay)
    );
    // The listing holds the one proven request, attributed to the doctor.
    let audit: Vec<AuditEntry> = record
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].grantee, doctor.id());
    assert_eq!(audit[0].request, honest.hash());
    assert_eq!(audit[0].decision, Decision::Allowed);
    assert!(
        own.audit().await.unwrap().is_empty(),
        "nor in the stranger's own listing"
    );
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_process_deployment_serves_and_survives_its_srs_going_away() {
    let (relay_dir, srs_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    let (relay_port, srs_port) = (free_port(), free_port());
    let srs_url = format!("http://127.0.0.1:{srs_port}");
    let mut srs = spawn(bin, "srs", srs_dir.path(), srs_port, &[]);
    let mut relay = spawn(
        bin,
        "relay",
        relay_dir.path(),
        relay_port,
        &["--srs-url", &srs_url],
    );
    let base = format!("http://127.0.0.1:{relay_port}");
    wait_up(&srs_url).await;
    wait_up(&base).await;
    // One origin: the relay forwards every SRS route.
    let client = sesphr_testkit::deploy::client(&base).await;
    let (_, mut rec) = patient(&client).await;
    let labs = [("labs", b"before".as_slice())];
    let (doctor, _) = share_written(&client, &mut rec, &labs, Role::Lab).await;
    let mut doctor = Reader::new(client.clone(), doctor);
    let shared = doctor.shared_with_me().await.unwrap().remove(0);
    let labs = rec.section_id("labs");
    assert_eq!(doctor.read(&shared, &labs).await.unwrap(), b"before");

    // The SRS goes away: the write is saved at the relay, unwitnessed;
    // reading fails plainly.
    srs.kill().unwrap();
    srs.wait().unwrap();
    let w = rec.write(&[("labs", b"during".as_slice())]).await.unwrap();
    assert!(!w.witnessed);
    assert_eq!(
        doctor.read(&shared, &labs).await.unwrap_err().code(),
        "srs_unreachable"
    );
    // It returns: the next write pushes the missing version first.
    let mut srs = spawn(bin, "srs", srs_dir.path(), srs_port, &[]);
    wait_up(&srs_url).await;
    let w = rec.write(&[("labs", b"after".as_slice())]).await.unwrap();
    assert!(w.witnessed);
    assert_eq!(doctor.read(&shared, &labs).await.unwrap(), b"after");
    assert_eq!(
        doctor.read_version(&shared, &labs, Some(3)).await.unwrap(),
        b"during"
    );
    for child in [&mut srs, &mut relay] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
