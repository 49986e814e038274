//! `sesphr-relay migrate`: moves a deployment's stores onto the scale-out
//! engines, one [`Step`] per store, each resumable on its own (run the
//! command again after an interruption: what was copied and verified is
//! not copied again). The relay's metadata step copies an SQLite
//! `meta.sqlite3` into PostgreSQL table by table ([`copy_tables`], which
//! other SQL stores can reuse); blob and SRS steps are added beside it.
//!
//! A table is copied in batches in its primary-key order, each batch one
//! target transaction that also records how far the copy got in the
//! target's `migrate_progress` table; the rows go in with `ON CONFLICT DO
//! NOTHING`, so a batch replayed after a crash changes nothing. When a
//! table is copied, its row count in the target must equal the source's,
//! or the step fails (a target that already held other rows is refused).
//! The source must not change during the migration: stop the relay first.

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
    }
    Ok(out)
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
