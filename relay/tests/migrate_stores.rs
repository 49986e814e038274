//! `sesphr-relay migrate` onto a real bucket (SeaweedFS) and a real
//! PostgreSQL: blob files copied with every address checked on the way and
//! an interrupted copy resumed; a corrupt blob on either side named and
//! never published; an identity column that goes on counting after a copy;
//! an SRS whose audit tree is checked on both sides; and a whole deployment
//! (relay metadata, blobs, SRS) moved and serving the same, its audit log
//! consistent with a head signed before the move.
#![cfg(test)]

use futures_util::StreamExt;
use sesphr_client::audit::AuditExport;
use sesphr_client::grant::Role;
use sesphr_native::Reader;
use sesphr_relay::db::{Db, DbLocation, Schema};
use sesphr_relay::migrate::{self, copy_tables, Copied, MigrateError, Table};
use sesphr_relay::relay::blobs::{Blobs, FsBlobs};
use sesphr_testkit::deploy::*;
use sesphr_testkit::pg::Postgres;
use sesphr_testkit::seaweed::SeaweedFs;
use sesphr_testkit::world::identity_clone;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_sesphr-relay"))
}

/// Runs one step; what it reported.
fn run(step: migrate::Step) -> Result<Vec<Copied>, MigrateError> {
    let mut out = Vec::new();
    migrate::run(vec![step], |_, c| out = c.to_vec())?;
    Ok(out)
}

async fn put(blobs: &dyn Blobs, data: &[u8]) -> [u8; 32] {
    let id = blob_id(data);
    let mut sink = blobs.create(&id).await.unwrap();
    sink.write(data).await.unwrap();
    assert!(sink.commit().await.unwrap());
    id
}

async fn read_all(blobs: &dyn Blobs, id: &[u8; 32]) -> Option<Vec<u8>> {
    let len = blobs.len(id).await.unwrap()?;
    let mut body = blobs.read(id, 0, len).await.unwrap()?;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    Some(out)
}

/// Blobs as `(id, bytes)`.
type Stored = Vec<([u8; 32], Vec<u8>)>;

/// A relay data directory (`relay/` under a temporary directory) with
/// `n` blob files, one of them larger than a part (a multipart upload in
/// the bucket); the blobs in id order.
fn blob_files(rt: &tokio::runtime::Runtime, n: u64) -> (tempfile::TempDir, Stored) {
    let dir = tempfile::tempdir().unwrap();
    let src = FsBlobs::open(dir.path().join("relay")).unwrap();
    let mut blobs = Vec::new();
    rt.block_on(async {
        for i in 0..n {
            let len = if i == 3 { 9 << 20 } else { 100 + i * 37 };
            let data = opaque_blob(i, len);
            blobs.push((put(&src, &data).await, data));
        }
    });
    blobs.sort_by_key(|(id, _)| *id);
    (dir, blobs)
}

#[test]
fn blob_files_move_into_a_bucket_each_address_checked_and_an_interrupted_copy_resumes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sw = rt.block_on(SeaweedFs::start());
    let (dir, blobs) = blob_files(&rt, 70);
    let root = dir.path().join("relay");
    let url = sw.url("m1");
    let copied = run(migrate::relay_blobs_step(root.clone(), url.clone())).unwrap();
    assert_eq!((copied[0].rows, copied[0].already_done), (70, false));
    let dst = sw.blobs("m1");
    let all_there = || {
        rt.block_on(async {
            for (id, data) in &blobs {
                assert_eq!(read_all(&dst, id).await.as_deref(), Some(&data[..]));
            }
        })
    };
    all_there();
    // Again: nothing is copied twice.
    let copied = run(migrate::relay_blobs_step(root.clone(), url.clone())).unwrap();
    assert_eq!((copied[0].rows, copied[0].already_done), (70, true));

    // What a copy killed after its 30th blob leaves: the progress file at
    // the 30th, the three in flight published, the rest never sent.
    std::fs::write(
        root.join("migrate-blobs.progress"),
        format!("{url}\n{}\n", hex::encode(blobs[29].0)),
    )
    .unwrap();
    rt.block_on(async {
        for (id, _) in &blobs[33..] {
            assert!(dst.delete(id).await.unwrap());
        }
    });
    let copied = run(migrate::relay_blobs_step(root.clone(), url.clone())).unwrap();
    assert_eq!((copied[0].rows, copied[0].already_done), (70, false));
    all_there();

    // A blob the progress file says was copied but the bucket lost is
    // refused by name, not silently skipped.
    rt.block_on(async { assert!(dst.delete(&blobs[5].0).await.unwrap()) });
    let err = run(migrate::relay_blobs_step(root.clone(), url.clone())).unwrap_err();
    assert!(err.to_string().contains(&hex::encode(blobs[5].0)), "{err}");
    // A copy into another bucket (or prefix) starts from nothing.
    let copied = run(migrate::relay_blobs_step(root, sw.url("m2"))).unwrap();
    assert_eq!((copied[0].rows, copied[0].already_done), (70, false));
}

#[test]
fn a_corrupt_blob_on_either_side_stops_the_copy_and_is_never_published() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sw = rt.block_on(SeaweedFs::start());
    let (dir, blobs) = blob_files(&rt, 8);
    let root = dir.path().join("relay");

    // A file whose bytes no longer match its address (a bad disk).
    let (bad, data) = &blobs[4];
    let path = root.join("blobs").join(hex::encode(bad));
    let mut flipped = data.clone();
    *flipped.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let err = run(migrate::relay_blobs_step(root.clone(), sw.url("c1"))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&hex::encode(bad)) && msg.contains("in the source"),
        "{msg}"
    );
    let dst = sw.blobs("c1");
    rt.block_on(async {
        assert_eq!(dst.len(bad).await.unwrap(), None);
        // The blobs before it were copied, and the rerun starts after them.
        for (id, data) in &blobs[..4] {
            assert_eq!(read_all(&dst, id).await.as_deref(), Some(&data[..]));
        }
    });
    let progress = std::fs::read_to_string(root.join("migrate-blobs.progress")).unwrap();
    assert!(
        progress.ends_with(&format!("{}\n", hex::encode(blobs[3].0))),
        "{progress}"
    );
    std::fs::write(&path, data).unwrap();

    // A bucket that holds other bytes at a blob's address.
    let raw = {
        let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(&sw.bucket);
        for (k, v) in sw.options() {
            b = b.with_config(k.parse().unwrap(), v);
        }
        b.build().unwrap()
    };
    let (victim, data) = &blobs[6];
    let mut other = data.clone();
    other[data.len() / 2] ^= 0x80;
    rt.block_on(async {
        use object_store::ObjectStoreExt;
        let key = object_store::path::Path::from(format!("c2/blobs/{}", hex::encode(victim)));
        raw.put(&key, other.into()).await.unwrap();
    });
    let err = run(migrate::relay_blobs_step(root, sw.url("c2"))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&hex::encode(victim)) && msg.contains("in the bucket"),
        "{msg}"
    );
}

#[test]
fn an_identity_column_goes_on_counting_after_a_copy_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema {
        service: "migrate_identity",
        version: 1,
        sqlite_pragmas: &[],
        tables: &[
            "CREATE TABLE IF NOT EXISTS h (seq INTEGER PRIMARY KEY AUTOINCREMENT, x BLOB NOT NULL)",
        ],
    };
    let insert = |db: &Db, x: &[u8]| {
        db.tx(|tx| tx.exec("INSERT INTO h (x) VALUES ($1)", &[&x]))
            .unwrap();
    };
    let source = Db::open(&DbLocation::Sqlite(dir.path().join("h.sqlite3")), &schema).unwrap();
    // More rows than a transaction is retried for a unique violation, so a
    // sequence left at 1 cannot count its way past them by retrying.
    for i in 0..100u8 {
        insert(&source, &[i]);
    }
    let pg = Postgres::new();
    let target = Db::open(&DbLocation::Postgres(pg.url().to_owned()), &schema).unwrap();
    let table = Table {
        name: "h",
        columns: &["seq", "x"],
        key: &["seq"],
    };
    copy_tables("t", &source, &target, &[table]).unwrap();
    insert(&target, b"new");
    let rows: Vec<(u64, Vec<u8>)> = target
        .tx(|tx| {
            tx.rows("SELECT seq, x FROM h ORDER BY seq", &[])?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get(1)?)))
                .collect()
        })
        .unwrap();
    let mut want: Vec<(u64, Vec<u8>)> = (0..100u8).map(|i| (u64::from(i) + 1, vec![i])).collect();
    want.push((101, b"new".to_vec()));
    assert_eq!(rows, want);
}

fn export(data: &std::path::Path, srs_db: Option<&str>) -> Vec<u8> {
    let out = data.join("audit.export");
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["audit", "export", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(&out);
    if let Some(db) = srs_db {
        cmd.args(["--srs-db", db]);
    }
    let o = cmd.env("SESPHR_LOG", "warn").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

/// `migrate` of everything in `data` into the bucket of `sw` and the
/// database `pg`.
fn migrate_all(data: &std::path::Path, sw: &SeaweedFs, pg: &Postgres) -> std::process::Output {
    std::process::Command::new(bin())
        .args(["migrate", "--data-dir"])
        .arg(data)
        .args(["--relay-db", pg.url(), "--srs-db", pg.url()])
        .args(["--blob-store", &format!("s3://{}", sw.bucket)])
        .envs(sw.env())
        .env("SESPHR_LOG", "warn")
        .output()
        .unwrap()
}

/// Renames every file of `dir` whose name starts with `prefix`, so nothing
/// can read it any more.
fn hide(dir: &std::path::Path, prefix: &str) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            std::fs::rename(e.path(), dir.join(format!("{name}.moved"))).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_deployment_moves_to_a_bucket_and_postgres_and_serves_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let client = client(&s.base).await;
    let (_patient, mut record) = patient(&client).await;
    let big = vec![42u8; 3 << 20];
    let sections = [("notes", b"before the move".as_slice()), ("imaging", &big)];
    let (doctor, _) = share_written(&client, &mut record, &sections, Role::Physician).await;
    let mut doc = Reader::new(client.clone(), identity_clone(&doctor));
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    let notes = record.section_id("notes");
    assert_eq!(doc.read(&shared, &notes).await.unwrap(), b"before the move");
    s.stop().await;
    let before = AuditExport::from_bytes(&export(dir.path(), None)).unwrap();
    assert!(!before.entries.is_empty());

    let sw = SeaweedFs::start().await;
    let pg = Postgres::new();
    let o = migrate_all(dir.path(), &sw, &pg);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}{err}");
    for line in [
        "relay-meta: manifests",
        "relay-blobs: blobs",
        "srs: grants",
        &format!(
            "srs: audit tree, root {}",
            hex::encode(before_root(&before))
        ),
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    // Again: every step was done, nothing is copied twice.
    let o = migrate_all(dir.path(), &sw, &pg);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !out.contains(" copied,"), "{out}");

    // The old stores are out of reach: everything is served from the new.
    hide(&dir.path().join("relay"), "meta.sqlite3");
    hide(&dir.path().join("relay"), "blobs");
    hide(&dir.path().join("srs"), "srs.sqlite3");
    let at = DbLocation::Postgres(pg.url().to_owned());
    let s = Server::start_with(dir.path(), |c| {
        c.blob_store = sw.url("");
        c.relay_db = Some(at.clone());
        c.srs_db = Some(at.clone());
    })
    .await;
    let mut doc = Reader::new(
        sesphr_testkit::deploy::client(&s.base).await,
        identity_clone(&doctor),
    );
    let shared = doc.shared_with_me().await.unwrap().remove(0);
    assert_eq!(doc.read(&shared, &notes).await.unwrap(), b"before the move");
    let imaging = record.section_id("imaging");
    assert_eq!(doc.read(&shared, &imaging).await.unwrap(), big);
    s.stop().await;

    // One audit log across the move: the entries before it come first,
    // unchanged, and the head signed before it verifies against the log
    // the SRS keeps on PostgreSQL now.
    let after_bytes = export(dir.path(), Some(pg.url()));
    let after = AuditExport::from_bytes(&after_bytes).unwrap();
    assert!(after.entries.len() > before.entries.len());
    assert_eq!(after.entries[..before.entries.len()], before.entries[..]);
    let file = dir.path().join("after.export");
    std::fs::write(&file, &after_bytes).unwrap();
    let o = std::process::Command::new(bin())
        .args(["audit", "verify"])
        .arg(&file)
        .args(["--head", &hex::encode(&before.heads[0])])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(&format!(
            "head of {} entries, root {}",
            before.entries.len(),
            hex::encode(before_root(&before))
        )),
        "{out}"
    );
}

/// The root of the head an export was taken with.
fn before_root(x: &AuditExport) -> [u8; 32] {
    sesphr_client::audit::SignedTreeHead::from_bytes(&x.heads[0], &x.srs)
        .unwrap()
        .root
}
