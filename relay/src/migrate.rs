//! `sesphr-relay migrate`: moves a deployment's stores onto the scale-out
//! engines, one [`Step`] per store, each resumable on its own (run the
//! command again after an interruption: what was copied and verified is
//! not copied again). The source must not change during the migration:
//! stop the servers first.
//!
//! - `relay-meta` ([`relay_meta_step`]) and `srs` ([`srs_step`]) copy an
//!   SQLite file into PostgreSQL table by table ([`copy_tables`]). A table
//!   is copied in batches in its primary-key order, each batch one target
//!   transaction that also records how far the copy got in the target's
//!   `migrate_progress` table; the rows go in with `ON CONFLICT DO
//!   NOTHING`, so a batch replayed after a crash changes nothing. When a
//!   table is copied, its row count in the target must equal the source's,
//!   or the step fails (a target that already held other rows is refused).
//!   An identity column's sequence is moved past the copied values, so the
//!   next insert on PostgreSQL does not collide with a copied row. The SRS
//!   step then rebuilds the audit tree from the source and from the target
//!   (every record chain checked on both) and refuses unless both have the
//!   same size and root, with indices 1..=n and nothing else.
//! - `relay-blobs` ([`relay_blobs_step`]) copies the blob files into a
//!   bucket in ascending id order, a few at a time: each blob's bytes are
//!   hashed as they stream from the file into a create-only upload and
//!   published only if they match the blob's address; a blob the bucket
//!   holds already (an earlier run, or another relay) is read back and its
//!   address checked instead. How far the copy got is kept in
//!   `relay/migrate-blobs.progress` (the bucket, then the last blob done);
//!   blobs before that mark are only checked for their length on a rerun.

use crate::db::{Db, DbError, Value};

/// A migration failure, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("migrate {step}: {message}")]
pub struct MigrateError {
    /// The step.
    pub step: String,
    /// What failed.
    pub message: String,
}

impl MigrateError {
    fn new(step: &str, message: impl Into<String>) -> MigrateError {
        MigrateError {
            step: step.to_owned(),
            message: message.into(),
        }
    }
}

/// What a step did to one of its items (a table, a blob prefix, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The item.
    pub item: String,
    /// How many of its entries the target holds now (verified).
    pub rows: u64,
    /// What the entries are (`rows`, `blobs`, `entries`).
    pub unit: &'static str,
    /// Whether an earlier run had already finished it.
    pub already_done: bool,
}

/// One store's migration.
pub struct Step {
    /// Its name (`relay-meta`, …), in progress records and messages.
    pub name: &'static str,
    /// Runs it (or continues an interrupted run); what it copied.
    #[allow(clippy::type_complexity)]
    pub run: Box<dyn FnOnce() -> Result<Vec<Copied>, MigrateError>>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step").field("name", &self.name).finish()
    }
}

/// Runs the steps in order, stopping at the first failure; calls `report`
/// after each finished step.
pub fn run(steps: Vec<Step>, mut report: impl FnMut(&str, &[Copied])) -> Result<(), MigrateError> {
    for step in steps {
        let name = step.name;
        let copied = (step.run)()?;
        report(name, &copied);
    }
    Ok(())
}

/// One table to copy: its name, its columns, and its primary key (the copy
/// order).
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table.
    pub name: &'static str,
    /// Every column, in order.
    pub columns: &'static [&'static str],
    /// The primary-key columns.
    pub key: &'static [&'static str],
}

/// Rows copied per target transaction.
pub const BATCH: u64 = 500;

const PROGRESS: &str = "CREATE TABLE IF NOT EXISTS migrate_progress (step TEXT NOT NULL,
     item TEXT NOT NULL, rows INTEGER NOT NULL, done INTEGER NOT NULL,
     PRIMARY KEY (step, item))";

fn db(step: &str) -> impl Fn(DbError) -> MigrateError + '_ {
    move |e| MigrateError::new(step, e.to_string())
}

/// Copies `tables` from `source` into `target` (both opened with the same
/// schema), resumably, verifying each table's row count.
pub fn copy_tables(
    step: &str,
    source: &Db,
    target: &Db,
    tables: &[Table],
) -> Result<Vec<Copied>, MigrateError> {
    target
        .tx(|tx| tx.exec(PROGRESS, &[]).map(drop))
        .map_err(db(step))?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        out.push(copy_table(step, source, target, t)?);
        continue_identity(target, t.name).map_err(db(step))?;
    }
    Ok(out)
}

/// Moves the sequence of `table`'s identity column (if it has one, on
/// PostgreSQL) past the largest copied value: rows copied with their own
/// values leave it where it started, and the next insert would collide.
/// SQLite's `AUTOINCREMENT` follows the largest value by itself.
fn continue_identity(target: &Db, table: &str) -> Result<(), DbError> {
    if target.engine() != crate::db::Engine::Postgres {
        return Ok(());
    }
    target.tx(|tx| {
        let columns = tx.rows(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema::text = current_schema() AND table_name::text = $1::text
               AND is_identity::text = 'YES'",
            &[&table],
        )?;
        for c in columns {
            let column: String = c.get(0)?;
            tx.row(
                &format!(
                    "SELECT setval(pg_get_serial_sequence($1::text, $2::text),
                         COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                ),
                &[&table, &column],
            )?;
        }
        Ok(())
    })
}

fn count(db_: &Db, table: &str) -> Result<u64, DbError> {
    db_.tx(|tx| {
        tx.one(&format!("SELECT COUNT(*) FROM {table}"), &[])?
            .get(0)
    })
}

fn copy_table(step: &str, source: &Db, target: &Db, t: &Table) -> Result<Copied, MigrateError> {
    let err = db(step);
    let progress = target
        .tx(|tx| {
            let row = tx.row(
                "SELECT rows, done FROM migrate_progress WHERE step = $1 AND item = $2",
                &[&step, &t.name],
            )?;
            row.map(|r| Ok::<_, DbError>((r.get::<u64>(0)?, r.get::<bool>(1)?)))
                .transpose()
        })
        .map_err(&err)?;
    let want = count(source, t.name).map_err(&err)?;
    if let Some((rows, true)) = progress {
        let have = count(target, t.name).map_err(&err)?;
        if have != want || rows != want {
            return Err(MigrateError::new(
                step,
                format!("{}: copied {rows} rows earlier, now the source has {want} and the target {have} (did either change?)", t.name),
            ));
        }
        return Ok(Copied {
            item: t.name.to_owned(),
            rows: have,
            unit: "rows",
            already_done: true,
        });
    }
    let mut offset = progress.map_or(0, |(rows, _)| rows);
    let cols = t.columns.join(", ");
    let select = format!(
        "SELECT {cols} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
        t.name,
        t.key.join(", ")
    );
    let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("${i}")).collect();
    let insert = format!(
        "INSERT INTO {} ({cols}) VALUES ({}) ON CONFLICT ({}) DO NOTHING",
        t.name,
        marks.join(", "),
        t.key.join(", ")
    );
    loop {
        let rows = source
            .tx(|tx| {
                tx.rows(&select, &[&BATCH, &offset])?
                    .iter()
                    .map(|r| {
                        (0..t.columns.len())
                            .map(|i| r.get::<Value>(i))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&err)?;
        let n = rows.len() as u64;
        let next = offset + n;
        let done = n < BATCH;
        target
            .tx(|tx| {
                for row in &rows {
                    let params: Vec<&dyn crate::db::ToValue> =
                        row.iter().map(|v| v as &dyn crate::db::ToValue).collect();
                    tx.exec(&insert, &params)?;
                }
                tx.exec(
                    "INSERT INTO migrate_progress (step, item, rows, done) VALUES ($1, $2, $3, 0)
                     ON CONFLICT (step, item) DO UPDATE SET rows = $3",
                    &[&step, &t.name, &next],
                )?;
                Ok(())
            })
            .map_err(&err)?;
        offset = next;
        if done {
            break;
        }
    }
    let have = count(target, t.name).map_err(&err)?;
    if have != want || offset != want {
        return Err(MigrateError::new(
            step,
            format!(
                "{}: the source has {want} rows, {offset} were read and the target holds {have} (a target already in use, or a source that changed)",
                t.name
            ),
        ));
    }
    target
        .tx(|tx| {
            tx.exec(
                "UPDATE migrate_progress SET done = 1 WHERE step = $1 AND item = $2",
                &[&step, &t.name],
            )
            .map(drop)
        })
        .map_err(&err)?;
    Ok(Copied {
        item: t.name.to_owned(),
        rows: have,
        unit: "rows",
        already_done: false,
    })
}

/// The relay's metadata tables, in copy order.
pub const RELAY_TABLES: &[Table] = &[
    Table {
        name: "records",
        columns: &["record", "owner"],
        key: &["record"],
    },
    Table {
        name: "manifests",
        columns: &["record", "version", "bytes"],
        key: &["record", "version"],
    },
    Table {
        name: "blobs",
        columns: &["id", "owner", "len", "deleted"],
        key: &["id"],
    },
    Table {
        name: "usage",
        columns: &["owner", "bytes"],
        key: &["owner"],
    },
    Table {
        name: "inbox",
        columns: &["grantee", "id", "sender", "seq", "item"],
        key: &["grantee", "id"],
    },
    Table {
        name: "mail",
        columns: &["grantee", "id", "sender", "seq", "item"],
        key: &["grantee", "id"],
    },
    Table {
        name: "shl_links",
        columns: &[
            "id",
            "owner",
            "passcode_salt",
            "passcode_hash",
            "attempts_left",
            "expires_at",
            "long_term",
            "label",
            "created",
            "direct",
        ],
        key: &["id"],
    },
    Table {
        name: "shl_files",
        columns: &["link", "seq", "content_type", "jwe"],
        key: &["link", "seq"],
    },
    Table {
        name: "shl_recipients",
        columns: &["link", "recipient", "count", "first", "last"],
        key: &["link", "recipient"],
    },
    Table {
        name: "shl_locations",
        columns: &["token", "link", "seq", "expires"],
        key: &["token"],
    },
    Table {
        name: "shl_owner_keys",
        columns: &["link", "sealed"],
        key: &["link"],
    },
    Table {
        name: "owner_state",
        columns: &["owner", "slot", "version", "bytes"],
        key: &["owner", "slot"],
    },
    Table {
        name: "nonces",
        columns: &["nonce", "seen"],
        key: &["nonce"],
    },
];

/// The step copying the relay's metadata from the SQLite file `from` (an
/// older file is brought up to date first, as the relay does at start)
/// into `to`.
pub fn relay_meta_step(from: std::path::PathBuf, to: crate::db::DbLocation) -> Step {
    Step {
        name: "relay-meta",
        run: Box::new(move || {
            const STEP: &str = "relay-meta";
            if !from.exists() {
                return Err(MigrateError::new(
                    STEP,
                    format!("{}: no such relay metadata file", from.display()),
                ));
            }
            let source = crate::relay::store::open_meta(&crate::db::DbLocation::Sqlite(from))
                .map_err(|e| MigrateError::new(STEP, e.to_string()))?;
            let target = crate::relay::store::open_meta(&to)
                .map_err(|e| MigrateError::new(STEP, e.to_string()))?;
            copy_tables(STEP, &source, &target, RELAY_TABLES)
        }),
    }
}

/// The SRS's tables, in copy order.
pub const SRS_TABLES: &[Table] = &[
    Table {
        name: "directory",
        columns: &["id", "entry"],
        key: &["id"],
    },
    Table {
        name: "manifests",
        columns: &["record", "version", "owner", "hash", "bytes"],
        key: &["record", "version"],
    },
    Table {
        name: "grants",
        columns: &[
            "record",
            "grant_id",
            "seq",
            "statement",
            "sealed_b2",
            "revocation",
            "receipt",
        ],
        key: &["record", "grant_id"],
    },
    Table {
        name: "audit",
        columns: &["idx", "record", "entry"],
        key: &["idx"],
    },
    Table {
        name: "nonces",
        columns: &["nonce", "seen"],
        key: &["nonce"],
    },
    Table {
        name: "emergency",
        columns: &[
            "record",
            "grant_id",
            "activation",
            "activated_at",
            "verdict",
            "decision",
        ],
        key: &["record", "grant_id"],
    },
    Table {
        name: "emergency_history",
        columns: &["seq", "record", "grant_id", "kind", "at", "signed"],
        key: &["seq"],
    },
];

/// The audit tree a store holds: its size and root, every record chain
/// checked on the way, its indices exactly `1..=size`.
fn audit_tree(store: &crate::srs::store::SqlStore) -> Result<(u64, [u8; 32]), String> {
    use crate::srs::store::SrsStore;
    let (count, min, max): (u64, Option<u64>, Option<u64>) = store
        .db
        .tx(|tx| {
            let r = tx.one("SELECT COUNT(*), MIN(idx), MAX(idx) FROM audit", &[])?;
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(|e| e.to_string())?;
    if count > 0 && (min != Some(1) || max != Some(count)) {
        return Err(format!(
            "the audit log's {count} entries are numbered {min:?} to {max:?}, not 1 to {count}"
        ));
    }
    let entries = store.audit_entries().map_err(|e| e.to_string())?;
    let log = sesphr_client::audit::MemoryLog::from_entries(entries.iter().map(Vec::as_slice))
        .map_err(|e| format!("the audit log does not check out: {e}"))?;
    if log.len() as u64 != count {
        return Err(format!("{count} audit rows, {} entries read", log.len()));
    }
    Ok((count, log.root().map_err(|e| e.to_string())?))
}

/// The step copying the SRS's state from the SQLite file `from` into `to`,
/// then checking that the target's audit tree is the source's (same size,
/// same root, every chain intact). The SRS seed (`srs/identity.seed`) is
/// not in the database: every SRS process on `to` needs a copy.
pub fn srs_step(from: std::path::PathBuf, to: crate::db::DbLocation) -> Step {
    Step {
        name: "srs",
        run: Box::new(move || {
            const STEP: &str = "srs";
            let fail = |e: String| MigrateError::new(STEP, e);
            if !from.exists() {
                return Err(fail(format!(
                    "{}: no such SRS database file",
                    from.display()
                )));
            }
            let open = |at: &crate::db::DbLocation| {
                crate::srs::store::SqlStore::open(at).map_err(|e| fail(e.to_string()))
            };
            let source = open(&crate::db::DbLocation::Sqlite(from))?;
            let target = open(&to)?;
            let before = audit_tree(&source).map_err(|e| fail(format!("source: {e}")))?;
            let mut copied = copy_tables(STEP, &source.db, &target.db, SRS_TABLES)?;
            let after = audit_tree(&target).map_err(|e| fail(format!("target: {e}")))?;
            if before != after {
                return Err(fail(format!(
                    "the audit tree of the source ({} entries, root {}) is not the target's ({} entries, root {})",
                    before.0,
                    hex::encode(before.1),
                    after.0,
                    hex::encode(after.1)
                )));
            }
            copied.push(Copied {
                item: format!("audit tree, root {},", hex::encode(after.1)),
                rows: after.0,
                unit: "entries",
                already_done: copied.iter().all(|c| c.already_done),
            });
            Ok(copied)
        }),
    }
}

/// Blobs copied at once by [`relay_blobs_step`].
const BLOBS_IN_FLIGHT: usize = 4;

/// Blobs done between two writes of the progress file.
const PROGRESS_EVERY: usize = 64;

/// The step copying the relay's blob files under `root` (`data/relay`)
/// into the bucket `to`, every blob's address verified (see the module
/// documentation).
pub fn relay_blobs_step(root: std::path::PathBuf, to: crate::relay::blobs::BlobStoreUrl) -> Step {
    Step {
        name: "relay-blobs",
        run: Box::new(move || {
            std::thread::scope(|s| {
                s.spawn(|| copy_blobs(&root, &to))
                    .join()
                    .unwrap_or_else(|_| Err(MigrateError::new("relay-blobs", "the copy panicked")))
            })
        }),
    }
}

fn copy_blobs(
    root: &std::path::Path,
    to: &crate::relay::blobs::BlobStoreUrl,
) -> Result<Vec<Copied>, MigrateError> {
    use crate::relay::blobs::{self, BlobStoreUrl, Blobs, FsBlobs};
    use futures_util::{StreamExt, TryStreamExt};
    const STEP: &str = "relay-blobs";
    let fail = |e: String| MigrateError::new(STEP, e);
    if !matches!(to, BlobStoreUrl::S3 { .. }) {
        return Err(fail(format!(
            "--blob-store {to}: the target must be a bucket (s3://…)"
        )));
    }
    if !root.join("blobs").is_dir() {
        return Err(fail(format!(
            "{}: no blob directory (is {} a relay data directory?)",
            root.join("blobs").display(),
            root.display()
        )));
    }
    let source = FsBlobs::open(root.to_path_buf()).map_err(|e| fail(e.to_string()))?;
    let ids = source.ids().map_err(|e| fail(e.to_string()))?;
    let target =
        blobs::open(to, root, blobs::S3_MAX_BLOB_BYTES).map_err(|e| fail(e.to_string()))?;
    let progress = BlobProgress::new(root, to);
    let mark = progress.read().map_err(fail)?;
    let total = ids.len() as u64;
    let (before, after): (Vec<[u8; 32]>, Vec<[u8; 32]>) = ids
        .into_iter()
        .partition(|id| mark.is_some_and(|m| *id <= m));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    rt.block_on(async {
        let target: &dyn Blobs = target.as_ref();
        let source = &source;
        // Done earlier: still there, at their length.
        futures_util::stream::iter(before.iter())
            .map(|id| async move {
                let want = source.len(id).await.map_err(|e| e.to_string())?;
                let have = target.len(id).await.map_err(|e| e.to_string())?;
                if want != have {
                    return Err(format!(
                        "blob {} was copied earlier but the bucket holds {have:?} bytes, the file {want:?}",
                        hex::encode(id)
                    ));
                }
                Ok(())
            })
            .buffer_unordered(BLOBS_IN_FLIGHT * 4)
            .try_collect::<Vec<()>>()
            .await
            .map_err(fail)?;
        let mut done = 0usize;
        let mut results = futures_util::stream::iter(after.iter())
            .map(|id| async move { copy_blob(source, target, id).await.map(|()| id) })
            .buffered(BLOBS_IN_FLIGHT);
        let mut last = mark;
        while let Some(r) = results.next().await {
            match r {
                Ok(id) => {
                    last = Some(*id);
                    done += 1;
                    if done.is_multiple_of(PROGRESS_EVERY) {
                        progress.write(id).map_err(fail)?;
                    }
                }
                Err(e) => {
                    if let Some(id) = last {
                        let _ = progress.write(&id);
                    }
                    return Err(fail(e));
                }
            }
        }
        if let Some(id) = last {
            progress.write(&id).map_err(fail)?;
        }
        Ok::<_, MigrateError>(())
    })?;
    Ok(vec![Copied {
        item: "blobs".into(),
        rows: total,
        unit: "blobs",
        already_done: after.is_empty(),
    }])
}

/// Copies one blob from `source` into `target`, or checks the copy the
/// target holds already.
async fn copy_blob(
    source: &crate::relay::blobs::FsBlobs,
    target: &dyn crate::relay::blobs::Blobs,
    id: &[u8; 32],
) -> Result<(), String> {
    use crate::relay::blobs::Blobs;
    let name = hex::encode(id);
    let e = |e: crate::relay::store::StoreError| format!("blob {name}: {e}");
    let len = source
        .len(id)
        .await
        .map_err(e)?
        .ok_or_else(|| format!("blob {name} vanished from the source during the copy"))?;
    match target.len(id).await.map_err(e)? {
        Some(have) if have == len => {
            let body = target.read(id, 0, len).await.map_err(e)?;
            let body = body.ok_or_else(|| format!("blob {name} vanished from the bucket"))?;
            check_address(body, len, id, None)
                .await
                .map_err(|why| format!("blob {name} in the bucket: {why}"))
        }
        Some(have) => Err(format!(
            "blob {name}: the bucket holds {have} bytes, the file {len}"
        )),
        None => {
            let body = source.read(id, 0, len).await.map_err(e)?;
            let body = body.ok_or_else(|| format!("blob {name} vanished from the source"))?;
            let mut sink = target.create(id).await.map_err(e)?;
            match check_address(body, len, id, Some(sink.as_mut())).await {
                Ok(()) => {}
                Err(why) => {
                    let _ = sink.abort().await;
                    return Err(format!(
                        "blob {name} in the source: {why}; nothing was copied"
                    ));
                }
            }
            // `false`: another writer published it first; the same bytes
            // (create-only, at their address).
            sink.commit().await.map_err(e)?;
            match target.len(id).await.map_err(e)? {
                Some(have) if have == len => Ok(()),
                have => Err(format!(
                    "blob {name}: after the copy the bucket holds {have:?} bytes, not {len}"
                )),
            }
        }
    }
}

/// Streams `body` (announced as `len` bytes) into `sink` if given, hashing
/// it: `Ok` only if it is exactly `len` bytes whose address is `id`.
async fn check_address(
    mut body: crate::relay::store::ByteStream,
    len: u64,
    id: &[u8; 32],
    mut sink: Option<&mut dyn crate::relay::store::BlobSink>,
) -> Result<(), String> {
    use futures_util::StreamExt;
    let mut hasher = sesphr_client::content::ObjectHasher::new(len);
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        seen += chunk.len() as u64;
        hasher.update(&chunk).map_err(|e| e.to_string())?;
        if let Some(sink) = sink.as_deref_mut() {
            sink.write(&chunk).await.map_err(|e| e.to_string())?;
        }
    }
    if seen != len {
        return Err(format!("{seen} bytes, not {len}"));
    }
    match hasher.finish() {
        Ok((_, got)) if got == *id => Ok(()),
        Ok(_) => Err("the bytes are not the blob's address".into()),
        Err(e) => Err(format!("not a blob ({e})")),
    }
}

/// `relay/migrate-blobs.progress`: the bucket, then the last blob copied
/// into it in id order.
struct BlobProgress {
    path: std::path::PathBuf,
    target: String,
}

impl BlobProgress {
    fn new(root: &std::path::Path, to: &crate::relay::blobs::BlobStoreUrl) -> BlobProgress {
        BlobProgress {
            path: root.join("migrate-blobs.progress"),
            target: to.to_string(),
        }
    }

    /// The mark of an earlier copy into the same bucket.
    fn read(&self) -> Result<Option<[u8; 32]>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let mut lines = text.lines();
        if lines.next() != Some(self.target.as_str()) {
            // A copy into another bucket: this one starts from nothing.
            return Ok(None);
        }
        let mut id = [0u8; 32];
        match lines.next().map(|l| hex::decode_to_slice(l, &mut id)) {
            Some(Ok(())) => Ok(Some(id)),
            _ => Err(format!(
                "{}: not a progress file (remove it to copy every blob again)",
                self.path.display()
            )),
        }
    }

    /// Records `id` as the last blob done (written whole, then renamed).
    fn write(&self, id: &[u8; 32]) -> Result<(), String> {
        let tmp = self.path.with_extension("progress.tmp");
        let text = format!("{}\n{}\n", self.target, hex::encode(id));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
