//! Group commit of the audit log: concurrent re-encryptions share commits,
//! yet each gets its own entry at its own index with a receipt that verifies,
//! and the nonces they spent stay spent across a restart.
#![cfg(test)]

use sesphr_testkit::deploy::*;

use sesphr_client::audit::{AuditEntry, Decision};
use sesphr_client::envelope::seal_request;
use sesphr_client::grant::Role;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reencryptions_get_distinct_durable_receipts() {
    let d = deploy(|_| {}).await;
    let (client, mut record) = (d.client, d.record);
    let srs = client.srs().clone();
    let labs = [("labs", b"HbA1c 6.1%".as_slice())];
    let (doctor, mut grants) = share_written(&client, &mut record, &labs, Role::Lab).await;
    let grant = grants.remove(0).statement;
    let m = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();

    const N: usize = 64;
    let requests: Vec<_> = (0..N)
        .map(|_| {
            let req =
                ReencryptRequest::new(&doctor, &grant, m.version(), now(), &mut os_rng()).unwrap();
            let (sealed, key) =
                seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
            (req, sealed, key)
        })
        .collect();
    let answers = futures_util::future::join_all(requests.iter().map(|(_, sealed, _)| {
        d.api
            .post("/v1/reencrypt", "application/octet-stream", sealed.clone())
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
    let listed: Vec<u64> = record
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|(i, entry): (u64, AuditEntry)| {
            assert_eq!(entry.decision, Decision::Allowed);
            i
        })
        .collect();
    assert_eq!(listed, indices);

    // After a restart every nonce is still spent: replays are refused.
    d.server.stop().await;
    let server = Server::start(d.dir.path()).await;
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
