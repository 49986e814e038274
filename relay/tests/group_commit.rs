//! Group commit of the audit log: concurrent re-encryptions share commits,
//! yet each gets its own entry at its own index with a receipt that verifies,
//! and the nonces they spent stay spent across a restart.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use sesphr_client::audit::{AuditEntry, Decision};
use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};
use sesphr_client::token::{Purpose, RequestToken};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reencryptions_get_distinct_durable_receipts() {
    let Deployment {
        dir,
        server,
        api,
        mut patient,
        srs,
    } = deploy(|_| {}).await;
    let mut doctor = Reader::new(&api).await;
    let m = patient
        .write(&api, &[("labs", b"HbA1c 6.1%".as_slice())])
        .await;
    patient
        .grant(&api, "labs", doctor.id.public(), Role::Lab, 0)
        .await;
    doctor.sync_inbox(&api).await;
    let grant = doctor.shares[0].grant.clone();

    const N: usize = 64;
    let requests: Vec<_> = (0..N)
        .map(|_| {
            let req = ReencryptRequest::new(&doctor.id, &grant, 1, now(), &mut os_rng()).unwrap();
            let (sealed, key) =
                seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
            (req, sealed, key)
        })
        .collect();
    let answers = futures_util::future::join_all(requests.iter().map(|(_, sealed, _)| {
        api.post("/v1/reencrypt", "application/octet-stream", sealed.clone())
    }))
    .await;
    let mut indices = Vec::new();
    for ((req, _, key), answer) in requests.iter().zip(answers) {
        let opened = key.open_answer(&answer.unwrap()).unwrap();
        let a = ReencryptAnswer::verify(&opened, &srs, req, &grant, &m).unwrap();
        assert_eq!(a.receipt.entry.decision, Decision::Allowed);
        assert_eq!(a.receipt.entry.grant_id, grant.grant_id);
        indices.push(a.receipt.index);
    }
    indices.sort();
    indices.dedup();
    assert_eq!(indices.len(), N, "two requests got the same audit index");

    // The owner's listing holds every one, at consecutive indices.
    let t = RequestToken::sign(
        &patient.id,
        Purpose::ReadAudit,
        &patient.record.0,
        now(),
        &mut os_rng(),
    )
    .unwrap();
    let listing: serde_json::Value = serde_json::from_slice(
        &api.get(
            &format!("/srs/v1/records/{}/audit", patient.record.to_hex()),
            Some(&t),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let listed: Vec<u64> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let entry =
                AuditEntry::from_bytes(&hex::decode(e[1].as_str().unwrap()).unwrap()).unwrap();
            assert_eq!(entry.decision, Decision::Allowed);
            e[0].as_u64().unwrap()
        })
        .collect();
    assert_eq!(listed, indices);

    // After a restart every nonce is still spent: replays are refused.
    server.stop().await;
    let server = Server::start(dir.path()).await;
    let api = Api::new(&server.base);
    for (_, sealed, _) in requests.iter().step_by(16) {
        assert_eq!(
            api.post("/v1/reencrypt", "application/octet-stream", sealed.clone())
                .await
                .unwrap_err(),
            ApiErr {
                status: 403,
                code: "replay".into()
            }
        );
    }
    server.stop().await;
}
