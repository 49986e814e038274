//! Two real `sesphr-relay relay` processes on one PostgreSQL metadata
//! database (and one blob directory), behind one SRS process: what one
//! relay stores the other serves, and a token spent at one is refused at
//! the other.
#![cfg(test)]

use sesphr_client::grant::Role;
use sesphr_client::token::Purpose;
use sesphr_native::Reader;
use sesphr_testkit::deploy::*;
use sesphr_testkit::pg::Postgres;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

/// Kills the processes when the test ends, however it ends.
struct Procs(Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relay_processes_share_one_postgres_metadata_database() {
    let pg = Postgres::new();
    let srs_dir = tempfile::tempdir().unwrap();
    let relay_dir = tempfile::tempdir().unwrap();
    let mut procs = Procs(Vec::new());
    let srs_port = free_port();
    procs
        .0
        .push(spawn(bin(), "srs", srs_dir.path(), srs_port, &[]));
    let srs = format!("http://127.0.0.1:{srs_port}");
    wait_up(&srs).await;
    let mut bases = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        procs.0.push(spawn(
            bin(),
            "relay",
            relay_dir.path(),
            port,
            &["--srs-url", &srs, "--relay-db", pg.url()],
        ));
        let base = format!("http://127.0.0.1:{port}");
        wait_up(&base).await;
        bases.push(base);
    }
    // Nothing of the relay's metadata is in the data directory.
    assert!(!relay_dir.path().join("relay/meta.sqlite3").exists());

    // The patient writes and shares through relay A; the doctor reads
    // through relay B (manifests, records, inbox from the database).
    let a = client(&bases[0]).await;
    let b = client(&bases[1]).await;
    let (_patient, mut record) = patient(&a).await;
    let sections = [("history", b"seen on both relays".as_slice())];
    let (doctor, _grants) = share_written(&a, &mut record, &sections, Role::Physician).await;
    let mut doc = Reader::new(b.clone(), sesphr_testkit::world::identity_clone(&doctor));
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &record.section_id("history"))
            .await
            .unwrap(),
        b"seen on both relays"
    );
    // A next version written through A is what B serves next.
    record
        .write(&[("history", b"second version".as_slice())])
        .await
        .unwrap();
    let mut doc = Reader::new(b.clone(), sesphr_testkit::world::identity_clone(&doctor));
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(
        doc.read(&shared, &record.section_id("history"))
            .await
            .unwrap(),
        b"second version"
    );

    // One token, sent to A and then to B: B refuses it as a replay.
    let token = signed(&doctor, Purpose::GetState, b"contacts");
    let first = Api::new(&bases[0])
        .get("/v1/state/contacts", Some(&token))
        .await
        .unwrap_err();
    assert_eq!((first.status, first.code.as_str()), (404, "not_found"));
    let again = Api::new(&bases[1])
        .get("/v1/state/contacts", Some(&token))
        .await
        .unwrap_err();
    assert_eq!((again.status, again.code.as_str()), (403, "replay"));
    drop(procs);
}
