//! `sesphr-relay migrate`: an SQLite relay's metadata copied into a real
//! PostgreSQL, verified, served the same afterwards, and resumed after an
//! interruption.
#![cfg(test)]

use sesphr_relay::db::DbLocation;
use sesphr_relay::migrate::{copy_tables, RELAY_TABLES};
use sesphr_relay::relay::state::StatePut;
use sesphr_relay::relay::store::{
    open_meta, Claim, InboxPut, InboxRow, LocalStore, Mailbox, ManifestPut, RelayStore, ShlLinkRow,
    ShlPut,
};
use sesphr_testkit::pg::Postgres;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

/// A relay data directory with something in every table.
async fn filled(data: &std::path::Path) {
    let s = LocalStore::open(data.join("relay")).unwrap();
    let owner = [1u8; 32];
    for v in 1..=3u64 {
        let bytes = [v as u8; 40];
        let put = s.put_manifest(&[2; 32], v, &owner, &bytes, 10).await;
        assert_eq!(put.unwrap(), ManifestPut::New);
    }
    assert_eq!(
        s.claim_blob(&[3; 32], &owner, 1000, 1 << 20).await.unwrap(),
        Claim::New
    );
    assert_eq!(
        s.claim_blob(&[4; 32], &owner, 24, 1 << 20).await.unwrap(),
        Claim::New
    );
    assert!(!s.delete_blob(&[4; 32]).await.unwrap());
    for (mailbox, id) in [
        (Mailbox::Grants, 5u8),
        (Mailbox::Mail, 6),
        (Mailbox::Mail, 7),
    ] {
        let row = InboxRow {
            mailbox,
            grantee: &owner,
            id: &[id; 32],
            sender: &[8; 32],
            bytes: b"{\"x\":1}",
        };
        assert_eq!(s.put_inbox(row, 10, 10).await.unwrap(), InboxPut::New);
    }
    let link = ShlLinkRow {
        id: [9; 32],
        owner,
        passcode: Some(([1; 16], [2; 32])),
        attempts_left: 7,
        expires_at: Some(u64::MAX / 4),
        long_term: true,
        direct: false,
        label: Some("für den Arzt".into()),
        created: 5,
        files: vec![("a/b".into(), "y".repeat(50)), ("c/d".into(), "z".into())],
        owner_key: Some(vec![1, 2, 3]),
    };
    assert_eq!(s.shl_put(link, 10).await.unwrap(), ShlPut::New);
    s.shl_retrieve([9; 32], "Dr. Bob".into(), 10, 10, u64::MAX / 8)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.state_put(owner, "contacts".into(), 1, b"state".to_vec())
            .await
            .unwrap(),
        StatePut::Stored
    );
    // More nonces than one batch, so the copy runs in several.
    for i in 0..1234u32 {
        let mut n = [0u8; 16];
        n[..4].copy_from_slice(&i.to_be_bytes());
        assert!(s.use_nonce(&n, 1000 + u64::from(i), 0).await.unwrap());
    }
}

/// Everything [`filled`] stored, read back from `s`.
async fn check(s: &LocalStore) {
    let owner = [1u8; 32];
    assert_eq!(s.latest_manifest(&[2; 32]).await.unwrap(), Some(3));
    assert_eq!(s.manifest(&[2; 32], 2).await.unwrap(), Some(vec![2; 40]));
    assert_eq!(s.record_owner(&[2; 32]).await.unwrap(), Some(owner));
    assert_eq!(s.usage(&owner).await.unwrap(), 1000);
    assert_eq!(s.blob_owner(&[4; 32]).await.unwrap(), Some(owner));
    assert_eq!(s.inbox(Mailbox::Grants, &owner, 10).await.unwrap().len(), 1);
    let mail = s.mail_page(&owner, 0, 10).await.unwrap();
    assert_eq!(
        mail.iter()
            .map(|(q, id, _)| (*q, id[0]))
            .collect::<Vec<_>>(),
        vec![(1, 6), (2, 7)]
    );
    let links = s.shl_list(owner).await.unwrap();
    assert_eq!(links.len(), 1);
    let l = &links[0];
    assert_eq!(l.label.as_deref(), Some("für den Arzt"));
    assert!(l.passcode && l.long_term && l.files == 2 && l.attempts_left == 7);
    assert_eq!(l.retrievals[0].recipient, "Dr. Bob");
    assert_eq!(l.owner_key.as_deref(), Some("AQID"));
    assert_eq!(
        s.state_get(owner, "contacts".into()).await.unwrap(),
        Some(b"state".to_vec())
    );
    // A nonce spent before the move stays spent after it.
    assert!(!s.use_nonce(&[0; 16], 5000, 0).await.unwrap());
}

fn migrate(data: &std::path::Path, url: &str) -> (bool, String, String) {
    let out = std::process::Command::new(bin())
        .args(["migrate", "--data-dir"])
        .arg(data)
        .args(["--relay-db", url])
        .env("SESPHR_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_relay_moves_to_postgres_and_serves_the_same() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    let pg = Postgres::new();
    let (ok, out, err) = migrate(dir.path(), pg.url());
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("relay-meta: nonces 1234 rows copied, verified"),
        "{out}"
    );
    assert!(out.contains("relay-meta: shl_files 2 rows copied"), "{out}");
    let on_pg = LocalStore::open_with(
        dir.path().join("relay"),
        &DbLocation::Postgres(pg.url().to_owned()),
    )
    .unwrap();
    check(&on_pg).await;
    // Again: nothing is copied twice.
    let (ok, out, err) = migrate(dir.path(), pg.url());
    assert!(ok, "{out}{err}");
    assert!(out.contains("nonces 1234 rows done earlier"), "{out}");
}

#[test]
fn an_interrupted_copy_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(filled(dir.path()));
    let pg = Postgres::new();
    let to = DbLocation::Postgres(pg.url().to_owned());
    let source = open_meta(&DbLocation::Sqlite(dir.path().join("relay/meta.sqlite3"))).unwrap();
    let target = open_meta(&to).unwrap();
    copy_tables("t", &source, &target, RELAY_TABLES).unwrap();
    // What a crash after the first batch of nonces leaves: 500 rows, the
    // progress saying so, the table not done.
    target
        .tx(|tx| {
            tx.exec(
                "DELETE FROM nonces WHERE nonce NOT IN
                     (SELECT nonce FROM nonces ORDER BY nonce LIMIT 500)",
                &[],
            )?;
            tx.exec(
                "UPDATE migrate_progress SET rows = 500, done = 0 WHERE item = 'nonces'",
                &[],
            )
        })
        .unwrap();
    let copied = copy_tables("t", &source, &target, RELAY_TABLES).unwrap();
    let nonces = copied.iter().find(|c| c.item == "nonces").unwrap();
    assert_eq!((nonces.rows, nonces.already_done), (1234, false));
    assert!(copied
        .iter()
        .filter(|c| c.item != "nonces")
        .all(|c| c.already_done));
    // A target that holds rows the source does not is refused.
    let other = Postgres::new();
    let used = open_meta(&DbLocation::Postgres(other.url().to_owned())).unwrap();
    used.tx(|tx| {
        tx.exec(
            "INSERT INTO records (record, owner) VALUES ($1, $2)",
            &[&[77u8; 32], &[1u8; 32]],
        )
    })
    .unwrap();
    let err = copy_tables("t", &source, &used, RELAY_TABLES).unwrap_err();
    assert!(err.to_string().contains("records"), "{err}");
}
