//! Two SRS processes on one PostgreSQL database, with one SRS identity
//! (the same seed file in both data directories): every guarantee holds
//! across them. Re-encryptions through both at once land in one audit
//! tree, so every signed tree head either process returned is consistent
//! with every other (RFC 9162 proofs fetched from either), and every
//! receipt is included under the final head; a request nonce spent at one
//! is a replay at the other; a grant revoked through one is refused by the
//! other at once; two manifests racing for one version through both: one
//! wins.
//!
//! Once in this process (two servers sharing nothing but the database),
//! once as two real `sesphr-relay srs` processes.
#![cfg(test)]

use std::path::Path;

use sesphr_client::audit::{Decision, InclusionReceipt, SignedTreeHead};
use sesphr_client::envelope::seal_request;
use sesphr_client::grant::{Role, VerifiedGrant};
use sesphr_client::identity::{Identity, PublicIdentity};
use sesphr_client::manifest::VerifiedManifest;
use sesphr_client::owner::OwnerRecord;
use sesphr_client::primitives::os_rng;
use sesphr_client::reencrypt::{ReencryptAnswer, ReencryptRequest};
use sesphr_client::revocation::Revocation;
use sesphr_relay::db::DbLocation;
use sesphr_relay::Services;
use sesphr_testkit::deploy::*;
use sesphr_testkit::pg::Postgres;

/// Copies the SRS seed of data directory `from` into `to` (mode 0600):
/// the second process speaks as the same SRS.
fn share_seed(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("srs")).unwrap();
    std::fs::copy(from.join("srs/identity.seed"), to.join("srs/identity.seed")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            to.join("srs/identity.seed"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
}

/// One re-encryption request, sealed to the SRS.
struct Sealed {
    req: ReencryptRequest,
    sealed: Vec<u8>,
    key: sesphr_client::envelope::AnswerKey,
}

fn request(
    grantee: &Identity,
    grant: &VerifiedGrant,
    version: u64,
    srs: &PublicIdentity,
) -> Sealed {
    let req = ReencryptRequest::new(grantee, grant, version, now(), &mut os_rng()).unwrap();
    let (sealed, key) = seal_request(&srs.encryption, req.as_bytes(), &mut os_rng()).unwrap();
    Sealed { req, sealed, key }
}

fn head_of(listing: &[u8], srs: &PublicIdentity) -> (Vec<[u8; 32]>, SignedTreeHead) {
    let v: serde_json::Value = serde_json::from_slice(listing).unwrap();
    let path = hashes(&v["path"]);
    let head = hex::decode(v["treeHead"].as_str().unwrap()).unwrap();
    (path, SignedTreeHead::from_bytes(&head, srs).unwrap())
}

/// Drives the two SRS processes at `srs` (each base serves `/srs/v1/`),
/// with `client` on a relay whose SRS is the first.
async fn check_two_processes(client: &sesphr_native::Client, srs: [&str; 2]) {
    let apis = [Api::new(srs[0]), Api::new(srs[1])];
    let pinned = client.srs().clone();
    for api in &apis {
        let info: serde_json::Value =
            serde_json::from_slice(&api.get("/srs/v1/info", None).await.unwrap()).unwrap();
        assert_eq!(
            info["fingerprint"],
            pinned.fingerprint(),
            "one SRS identity"
        );
    }
    let (holder, mut record) = patient(client).await;
    let labs = [("labs", b"HbA1c 6.1%".as_slice())];
    let (doctor, mut grants) = share_written(client, &mut record, &labs, Role::Lab).await;
    let grant = grants.remove(0).statement;
    let m: VerifiedManifest = client
        .manifest(&record.record(), None)
        .await
        .unwrap()
        .unwrap();

    // Re-encryptions through both processes at once.
    const N: usize = 24;
    let requests: Vec<Sealed> = (0..2 * N)
        .map(|_| request(&doctor, &grant, m.version(), &pinned))
        .collect();
    let answers = futures_util::future::join_all(requests.iter().enumerate().map(|(i, r)| {
        apis[i % 2].post(
            "/srs/v1/reencrypt",
            "application/octet-stream",
            r.sealed.clone(),
        )
    }))
    .await;
    let mut receipts: Vec<InclusionReceipt> = Vec::new();
    for (r, answer) in requests.iter().zip(answers) {
        let opened = r.key.open_answer(&answer.unwrap()).unwrap();
        let a = ReencryptAnswer::verify(&opened, &pinned, &r.req, &grant, &m).unwrap();
        assert_eq!(a.receipt.entry.decision, Decision::Allowed);
        receipts.push(a.receipt);
    }
    let mut indices: Vec<u64> = receipts.iter().map(|r| r.index).collect();
    indices.sort();
    indices.dedup();
    assert_eq!(indices.len(), 2 * N, "two answers share an audit index");

    // Every head from either process against every other, with the
    // consistency proof fetched from either process.
    receipts.sort_by_key(|r| r.head.tree_size);
    for (i, small) in receipts.iter().enumerate() {
        for (j, large) in receipts.iter().enumerate().skip(i + 1) {
            let listing = apis[(i + j) % 2]
                .get(
                    &format!(
                        "/srs/v1/audit/consistency/{}/{}",
                        small.head.tree_size, large.head.tree_size
                    ),
                    None,
                )
                .await
                .unwrap();
            let (path, served) = head_of(&listing, &pinned);
            assert_eq!(
                served.root, large.head.root,
                "one tree at size {}",
                large.head.tree_size
            );
            small
                .head
                .verify_extension(&large.head, &path)
                .unwrap_or_else(|e| {
                    panic!(
                        "head {} does not extend to {}: {e}",
                        small.head.tree_size, large.head.tree_size
                    )
                });
        }
    }
    // Every receipt is included under the final head of either process.
    let last = receipts.last().unwrap().head.tree_size;
    let mut finals = Vec::new();
    for api in &apis {
        let listing = api
            .get(&format!("/srs/v1/audit/consistency/1/{last}"), None)
            .await
            .unwrap();
        finals.push(head_of(&listing, &pinned).1);
    }
    assert_eq!(finals[0].root, finals[1].root);
    for (k, r) in receipts.iter().enumerate() {
        let listing = apis[k % 2]
            .get(&format!("/srs/v1/audit/inclusion/{}/{last}", r.index), None)
            .await
            .unwrap();
        let (path, head) = head_of(&listing, &pinned);
        sesphr_client::merkle::verify_inclusion(
            &r.entry.leaf_hash(),
            r.index,
            last,
            &path,
            &finals[0].root,
        )
        .unwrap();
        assert_eq!(head.root, finals[0].root);
    }
    // The owner's listing (through the first process) holds all of them,
    // each linked to the one before it about the record.
    let listed: Vec<u64> = record
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let mine: Vec<u64> = indices.clone();
    assert!(
        mine.iter().all(|i| listed.contains(i)),
        "{listed:?} {mine:?}"
    );

    // A nonce spent at one process is a replay at the other.
    let r = request(&doctor, &grant, m.version(), &pinned);
    apis[0]
        .post(
            "/srs/v1/reencrypt",
            "application/octet-stream",
            r.sealed.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        apis[1]
            .post(
                "/srs/v1/reencrypt",
                "application/octet-stream",
                r.sealed.clone()
            )
            .await
            .unwrap_err(),
        ApiErr {
            status: 403,
            code: "replay".into()
        }
    );

    // Revoked through the second: the first refuses at once (audited).
    let rev = Revocation::sign(holder.identity(), &grant, now()).unwrap();
    apis[1]
        .post(
            "/srs/v1/revocations",
            "application/octet-stream",
            rev.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    let r = request(&doctor, &grant, m.version(), &pinned);
    assert_eq!(
        apis[0]
            .post("/srs/v1/reencrypt", "application/octet-stream", r.sealed)
            .await
            .unwrap_err(),
        ApiErr {
            status: 403,
            code: "revoked".into()
        }
    );

    // One owner's two different version-1 manifests of one record, raced
    // through both processes: one is witnessed, the other refused.
    let owner = party(client).await;
    for index in 0..6u32 {
        let a = OwnerRecord::new(&owner, index)
            .sign_manifest(&owner, now())
            .unwrap();
        let b = OwnerRecord::new(&owner, index)
            .sign_manifest(&owner, now() + 1)
            .unwrap();
        assert_ne!(a.hash(), b.hash());
        let (x, y) = futures_util::join!(
            apis[0].post(
                "/srs/v1/heads",
                "application/octet-stream",
                a.as_bytes().to_vec()
            ),
            apis[1].post(
                "/srs/v1/heads",
                "application/octet-stream",
                b.as_bytes().to_vec()
            ),
        );
        let refused: Vec<ApiErr> = [x, y].into_iter().filter_map(Result::err).collect();
        assert_eq!(
            refused,
            vec![ApiErr {
                status: 409,
                code: "version_conflict".into()
            }],
            "record {index}: exactly one head per version"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_srs_in_one_process_share_one_database_and_every_guarantee() {
    let pg = Postgres::new();
    let db = DbLocation::Postgres(pg.url().to_owned());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let at = db.clone();
    let a = Server::start_with(dir_a.path(), move |c| {
        c.srs_db = Some(at);
        c.quotas = sesphr_relay::Quotas::unlimited();
    })
    .await;
    share_seed(dir_a.path(), dir_b.path());
    let at = db.clone();
    let b = Server::start_with(dir_b.path(), move |c| {
        c.services = Services::Srs;
        c.srs_db = Some(at);
        c.quotas = sesphr_relay::Quotas::unlimited();
    })
    .await;
    let client = client(&a.base).await;
    check_two_processes(&client, [&a.base, &b.base]).await;
    a.stop().await;
    b.stop().await;
}

/// Kills the child on drop (a failed assertion must not leave it running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_srs_processes_share_one_database_and_every_guarantee() {
    let pg = Postgres::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_sesphr-relay"));
    let (dir_a, dir_b, dir_r) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let flags = ["--srs-db", pg.url(), "--unlimited"];
    let port_a = free_port();
    let _a = Child(spawn(bin, "srs", dir_a.path(), port_a, &flags));
    let base_a = format!("http://127.0.0.1:{port_a}");
    wait_up(&base_a).await;
    share_seed(dir_a.path(), dir_b.path());
    let port_b = free_port();
    let _b = Child(spawn(bin, "srs", dir_b.path(), port_b, &flags));
    let base_b = format!("http://127.0.0.1:{port_b}");
    wait_up(&base_b).await;
    // The relay (in this process) forwards to the first.
    let srs_url = base_a.clone();
    let relay = Server::start_with(dir_r.path(), move |c| {
        c.services = Services::Relay;
        c.srs_url = Some(srs_url);
        c.quotas = sesphr_relay::Quotas::unlimited();
    })
    .await;
    let client = client(&relay.base).await;
    check_two_processes(&client, [&base_a, &base_b]).await;
    relay.stop().await;
}
