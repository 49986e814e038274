//! The SRS's durable state on the SQL layer ([`crate::db`]): one
//! implementation, [`SqlStore`], whose statements run on SQLite (the
//! default: `srs.sqlite3` in the data directory, WAL, `synchronous = FULL`,
//! so grants, revocations and audit entries survive a crash once
//! acknowledged) and on PostgreSQL (several SRS processes on one database).
//!
//! # Several processes on one database
//!
//! Nothing a request relies on is cached in a process: directory entries,
//! grants (revoked or not), heads, emergency tracks and spent nonces are
//! read from the database on every request, and every change is one
//! serializable transaction (a head's compare-and-swap, a grant's id, a
//! nonce's first use).
//!
//! The audit log is one tree in the database, ordered by `idx`. Appends
//! are serialized by one lock taken as the first statement of the append
//! transaction: on PostgreSQL `LOCK TABLE audit IN EXCLUSIVE MODE` (readers
//! are not blocked; other appenders wait), on SQLite the transaction itself
//! (`BEGIN IMMEDIATE`). A table lock rather than `pg_advisory_xact_lock`:
//! a serializable transaction takes its snapshot at its first query, so a
//! `SELECT pg_advisory_xact_lock(…)` would take it *before* waiting for the
//! lock and then not see the entries the previous holder committed
//! (conflicting on their `idx`, retried, again and again under load);
//! `LOCK TABLE` is not a query, so the snapshot is taken after the lock is
//! held and sees every entry committed before. Under the lock the writer
//! reads the entries other processes appended past its in-memory size,
//! links its batch after them (the previous entry about each record comes
//! from the database order), and inserts it at `size + 1 …`, so the
//! committed entries are always one contiguous run from index 1. Readers
//! (heads, proofs, listings) catch up without the lock: whatever they read
//! past their size is a committed, final prefix.
//!
//! A revocation and an emergency track change take the same lock, and the
//! append transaction checks again, for every answer it records, that the
//! grant is still live and (an emergency grant) still open: a revocation or
//! a denial is wholly before an answer's audit entry (which then records
//! the refusal) or wholly after it, in whichever process each ran.

use sesphr_client::emergency::{EmergencyState, EmergencyTrack};

use crate::db::{self, Db, DbError, DbLocation, Engine, Row, Schema, Tx};

/// A storage failure (I/O or database); never caused by request content.
#[derive(Debug, thiserror::Error)]
#[error("srs store: {0}")]
pub struct StoreError(String);

impl StoreError {
    /// A failure described in words (stored data that does not decode).
    pub(crate) fn new(why: String) -> StoreError {
        StoreError(why)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError(e.to_string())
    }
}

/// A stored grant.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// The owner-signed statement.
    pub statement: Vec<u8>,
    /// `b2`, sealed under the SRS storage key; `None` once revoked.
    pub sealed_b2: Option<Vec<u8>>,
    /// The receipt returned for its revocation, if revoked.
    pub receipt: Option<Vec<u8>>,
}

impl GrantRow {
    /// A row of `SELECT statement, sealed_b2, receipt FROM grants`.
    fn from_row(r: &Row) -> Result<GrantRow, DbError> {
        Ok(GrantRow {
            statement: r.get(0)?,
            sealed_b2: r.get(1)?,
            receipt: r.get(2)?,
        })
    }
}

/// Outcome of storing a grant.
#[derive(Debug, PartialEq, Eq)]
pub enum GrantInsert {
    /// Stored.
    Stored,
    /// This very statement is already stored and live (a retried request).
    Same,
    /// The record's grant id is taken: by another statement, or by this one
    /// revoked (a tombstone is permanent).
    Taken,
}

/// Outcome of a compare-and-swap manifest insert.
#[derive(Debug, PartialEq, Eq)]
pub enum Cas {
    /// Stored as the new latest version.
    Stored,
    /// The latest version is not `version - 1` (its version, if any).
    Conflict(Option<u64>),
}

/// The SRS's durable state (with the emergency tracks, [`super::emergency`]).
pub trait SrsStore: super::emergency::EmergencyStore + Send + Sync {
    /// Whether the backend answers (`/readyz`): a trivial round trip.
    fn health(&self) -> Result<(), StoreError>;
    /// Stores a directory entry unless the id is already registered.
    fn put_directory(&self, id: &[u8; 32], entry: &[u8]) -> Result<bool, StoreError>;
    /// A directory entry.
    fn directory(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Latest `(version, manifest bytes)` of a record.
    fn latest_manifest(&self, record: &[u8; 32]) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// Latest `(version, manifest hash)` of a record: what a head attests,
    /// without re-reading and re-verifying the manifest.
    fn latest_head(&self, record: &[u8; 32]) -> Result<Option<(u64, [u8; 32])>, StoreError>;
    /// One manifest version.
    fn manifest(&self, record: &[u8; 32], version: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `version` (verified by the caller, with its statement hash)
    /// only if the latest stored version is `version - 1` (or none, for
    /// version 1), atomically.
    fn insert_manifest(
        &self,
        record: &[u8; 32],
        version: u64,
        owner: &[u8; 32],
        hash: &[u8; 32],
        bytes: &[u8],
    ) -> Result<Cas, StoreError>;
    /// The manifest hash stored at one version.
    fn manifest_hash(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<[u8; 32]>, StoreError>;
    /// The owner of a record (from its first manifest).
    fn record_owner(&self, record: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError>;
    /// Stores a grant under `(record, grant id)` unless that id was ever
    /// used for the record. Grant ids are scoped to their record, whose
    /// owner alone may post grants for it, so nobody can squat another
    /// owner's grant id.
    fn insert_grant(
        &self,
        grant_id: &[u8; 16],
        record: &[u8; 32],
        statement: &[u8],
        sealed_b2: &[u8],
    ) -> Result<GrantInsert, StoreError>;
    /// A grant by record and id.
    fn grant(&self, record: &[u8; 32], grant_id: &[u8; 16])
        -> Result<Option<GrantRow>, StoreError>;
    /// Every grant of a record, in insertion order.
    fn grants_for_record(&self, record: &[u8; 32]) -> Result<Vec<GrantRow>, StoreError>;
    /// Deletes `b2` and tombstones the grant, with the revocation and its
    /// receipt, durably, under the audit log's lock (no answer on the grant
    /// is audited after it).
    fn revoke(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        revocation: &[u8],
        receipt: &[u8],
    ) -> Result<(), StoreError>;
    /// Records a request nonce; `false` if already seen. Forgets nonces older than `forget_before`.
    fn use_nonce(&self, nonce: &[u8; 16], now: u64, forget_before: u64)
        -> Result<bool, StoreError>;
    /// Appends a batch of audit entries in one durable transaction under
    /// the log's lock (group commit; see the module documentation):
    /// catches `sync` up with the entries stored past its size, spends each
    /// item's request nonce (an item whose nonce is already spent, by any
    /// process, is not appended), checks again that each answer's grant
    /// still answers, and stores the entries `sync` links. Returns the
    /// first stored entry's index (0-based) and what became of each item.
    fn append_audit_batch(
        &self,
        items: &[AuditWrite],
        forget_before: u64,
        sync: &mut dyn AuditSync,
    ) -> Result<(u64, Vec<Appended>), StoreError>;
    /// Request nonces seen at or after `since`, with when they were seen.
    fn nonces_since(&self, since: u64) -> Result<Vec<([u8; 16], u64)>, StoreError>;
    /// Every audit entry in order (to rebuild the tree at start).
    fn audit_entries(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.audit_since(0)
    }
    /// The audit entries from index `from` (0-based) on, in order.
    fn audit_since(&self, from: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// `(index, entry)` of a record's audit entries.
    fn audit_for_record(&self, record: &[u8; 32]) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
}

/// One audit entry to append: the request nonce it spent (if any) and,
/// for an answer, the grant that must still answer when it is stored.
#[derive(Debug, Clone)]
pub struct AuditWrite {
    /// The request nonce and when it was seen.
    pub nonce: Option<([u8; 16], u64)>,
    /// For an answer: the grant that must still answer when it is stored.
    pub answers: Option<Answers>,
}

/// The grant an answer was decided on.
#[derive(Debug, Clone)]
pub struct Answers {
    /// Its record.
    pub record: [u8; 32],
    /// Its id.
    pub grant_id: [u8; 16],
    /// An emergency grant: its wait and the emergency clock when the answer
    /// was decided (ms).
    pub emergency: Option<(u64, u64)>,
}

/// What became of one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored (in batch order after the ones before it).
    Stored,
    /// Its nonce was already spent (another process saw the request): a
    /// replay, nothing stored.
    Replay,
    /// Its grant no longer answers (revoked, or an emergency grant no
    /// longer open, by a change that came first): nothing stored; decide
    /// again.
    Moved,
}

/// The in-memory side of an append: the writer's tree.
pub trait AuditSync {
    /// The number of entries the tree holds.
    fn size(&self) -> u64;
    /// Appends entries another process stored (from index `size()` on).
    fn caught_up(&mut self, entries: &[Vec<u8>]) -> Result<(), StoreError>;
    /// The encoded entries of the items to store (`keep[i]`), linked after
    /// the tree, each with the record it is listed under.
    fn link(&mut self, keep: &[bool]) -> Vec<([u8; 32], Vec<u8>)>;
}

/// The SRS store on SQLite or PostgreSQL.
pub struct SqlStore {
    pub(crate) db: Db,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlStore({:?})", self.db)
    }
}

/// The schema this code writes (SQLite `user_version`; PostgreSQL's
/// `srs.schema_version`). Pre-release formats are not migrated: another
/// version is refused at start. The tables are those of version 2 of the
/// SQLite-only store, so its files open unchanged.
const SCHEMA_VERSION: i64 = 2;

/// The SRS's tables (with [`db::nonces::TABLE`]). `audit.idx` counts from
/// 1 (it was SQLite's rowid); the writer sets it.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS directory (id BLOB PRIMARY KEY, entry BLOB NOT NULL);
     CREATE TABLE IF NOT EXISTS manifests (record BLOB NOT NULL, version INTEGER NOT NULL,
         owner BLOB NOT NULL, hash BLOB NOT NULL, bytes BLOB NOT NULL,
         PRIMARY KEY (record, version));
     CREATE TABLE IF NOT EXISTS grants (record BLOB NOT NULL, grant_id BLOB NOT NULL,
         seq INTEGER NOT NULL, statement BLOB NOT NULL, sealed_b2 BLOB,
         revocation BLOB, receipt BLOB, PRIMARY KEY (record, grant_id));
     CREATE INDEX IF NOT EXISTS grants_by_record ON grants (record, seq);
     CREATE TABLE IF NOT EXISTS audit (idx INTEGER PRIMARY KEY, record BLOB NOT NULL, entry BLOB NOT NULL);
     CREATE INDEX IF NOT EXISTS audit_by_record ON audit (record, idx);";

/// Takes the audit log's lock as the transaction's first statement (see
/// the module documentation); SQLite's transactions are already exclusive.
pub(crate) fn lock_audit(tx: &mut dyn Tx, engine: Engine) -> Result<(), DbError> {
    if engine == Engine::Postgres {
        tx.exec("LOCK TABLE audit IN EXCLUSIVE MODE", &[])?;
    }
    Ok(())
}

impl SqlStore {
    /// Opens (creating the tables if needed) the store at `location`.
    pub fn open(location: &DbLocation) -> Result<SqlStore, StoreError> {
        let db = Db::open(
            location,
            &Schema {
                service: "srs",
                version: SCHEMA_VERSION,
                sqlite_pragmas: &[
                    ("foreign_keys", "ON"),
                    // Deleted shares are overwritten, not left in free pages.
                    ("secure_delete", "ON"),
                ],
                tables: &[SCHEMA, db::nonces::TABLE, super::emergency::SCHEMA],
            },
        )?;
        Ok(SqlStore { db })
    }

    /// The engine it runs on.
    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// Runs `f` in one transaction.
    pub(crate) fn tx<T>(
        &self,
        f: impl FnMut(&mut dyn Tx) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        Ok(self.db.tx(f)?)
    }
}

impl SrsStore for SqlStore {
    fn health(&self) -> Result<(), StoreError> {
        Ok(self.db.health()?)
    }

    fn put_directory(&self, id: &[u8; 32], entry: &[u8]) -> Result<bool, StoreError> {
        self.tx(|tx| {
            Ok(tx.exec(
                "INSERT INTO directory (id, entry) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[id, &entry],
            )? == 1)
        })
    }

    fn directory(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.tx(|tx| tx.value("SELECT entry FROM directory WHERE id = $1", &[id]))
    }

    fn latest_manifest(&self, record: &[u8; 32]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.tx(|tx| {
            tx.row(
                "SELECT version, bytes FROM manifests WHERE record = $1 ORDER BY version DESC LIMIT 1",
                &[record],
            )?
            .map(|r| -> Result<_, DbError> { Ok((r.get(0)?, r.get(1)?)) })
            .transpose()
        })
    }

    fn latest_head(&self, record: &[u8; 32]) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        self.tx(|tx| {
            tx.row(
                "SELECT version, hash FROM manifests WHERE record = $1 ORDER BY version DESC LIMIT 1",
                &[record],
            )?
            .map(|r| -> Result<_, DbError> { Ok((r.get(0)?, r.get(1)?)) })
            .transpose()
        })
    }

    fn manifest(&self, record: &[u8; 32], version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.tx(|tx| {
            tx.value(
                "SELECT bytes FROM manifests WHERE record = $1 AND version = $2",
                &[record, &version],
            )
        })
    }

    fn insert_manifest(
        &self,
        record: &[u8; 32],
        version: u64,
        owner: &[u8; 32],
        hash: &[u8; 32],
        bytes: &[u8],
    ) -> Result<Cas, StoreError> {
        // One serializable transaction: of two processes racing on one
        // version, one inserts and the other (run again) finds it.
        self.tx(|tx| {
            let latest: Option<u64> = tx
                .one(
                    "SELECT MAX(version) FROM manifests WHERE record = $1",
                    &[record],
                )?
                .get(0)?;
            if latest.unwrap_or(0) + 1 != version {
                return Ok(Cas::Conflict(latest));
            }
            tx.exec(
                "INSERT INTO manifests (record, version, owner, hash, bytes) VALUES ($1, $2, $3, $4, $5)",
                &[record, &version, owner, hash, &bytes],
            )?;
            Ok(Cas::Stored)
        })
    }

    fn manifest_hash(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<[u8; 32]>, StoreError> {
        self.tx(|tx| {
            tx.value(
                "SELECT hash FROM manifests WHERE record = $1 AND version = $2",
                &[record, &version],
            )
        })
    }

    fn record_owner(&self, record: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
        self.tx(|tx| {
            tx.value(
                "SELECT owner FROM manifests WHERE record = $1 AND version = 1",
                &[record],
            )
        })
    }

    fn insert_grant(
        &self,
        grant_id: &[u8; 16],
        record: &[u8; 32],
        statement: &[u8],
        sealed_b2: &[u8],
    ) -> Result<GrantInsert, StoreError> {
        self.tx(|tx| {
            if let Some(r) = tx.row(
                "SELECT statement, sealed_b2 FROM grants WHERE record = $1 AND grant_id = $2",
                &[record, grant_id],
            )? {
                let stored: Vec<u8> = r.get(0)?;
                let b2: Option<Vec<u8>> = r.get(1)?;
                return Ok(if stored == statement && b2.is_some() {
                    GrantInsert::Same
                } else {
                    GrantInsert::Taken
                });
            }
            let seq: i64 = tx
                .one("SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM grants", &[])?
                .get(0)?;
            tx.exec(
                "INSERT INTO grants (record, grant_id, seq, statement, sealed_b2) VALUES ($1, $2, $3, $4, $5)",
                &[record, grant_id, &seq, &statement, &sealed_b2],
            )?;
            Ok(GrantInsert::Stored)
        })
    }

    fn grant(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<GrantRow>, StoreError> {
        self.tx(|tx| {
            tx.row(
                "SELECT statement, sealed_b2, receipt FROM grants WHERE record = $1 AND grant_id = $2",
                &[record, grant_id],
            )?
            .map(|r| GrantRow::from_row(&r))
            .transpose()
        })
    }

    fn grants_for_record(&self, record: &[u8; 32]) -> Result<Vec<GrantRow>, StoreError> {
        self.tx(|tx| {
            tx.rows(
                "SELECT statement, sealed_b2, receipt FROM grants WHERE record = $1 ORDER BY seq",
                &[record],
            )?
            .iter()
            .map(GrantRow::from_row)
            .collect()
        })
    }

    fn revoke(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        revocation: &[u8],
        receipt: &[u8],
    ) -> Result<(), StoreError> {
        let engine = self.engine();
        self.tx(|tx| {
            lock_audit(tx, engine)?;
            tx.exec(
                "UPDATE grants SET sealed_b2 = NULL, revocation = $3, receipt = $4 WHERE record = $1 AND grant_id = $2",
                &[record, grant_id, &revocation, &receipt],
            )?;
            Ok(())
        })
    }

    fn use_nonce(
        &self,
        nonce: &[u8; 16],
        now: u64,
        forget_before: u64,
    ) -> Result<bool, StoreError> {
        self.tx(|tx| db::nonces::spend(tx, nonce, now, forget_before))
    }

    fn append_audit_batch(
        &self,
        items: &[AuditWrite],
        forget_before: u64,
        sync: &mut dyn AuditSync,
    ) -> Result<(u64, Vec<Appended>), StoreError> {
        let engine = self.engine();
        let mut failed: Option<StoreError> = None;
        let out = self.tx(|tx| {
            lock_audit(tx, engine)?;
            // Catch up with what other processes appended (in memory: those
            // entries are committed, whatever becomes of this transaction).
            let size = sync.size();
            let newer = tx.rows(
                "SELECT idx, entry FROM audit WHERE idx > $1 ORDER BY idx",
                &[&size],
            )?;
            let mut entries = Vec::with_capacity(newer.len());
            for (k, r) in newer.iter().enumerate() {
                let idx: u64 = r.get(0)?;
                if idx != size + 1 + k as u64 {
                    return Err(DbError::new(format!(
                        "audit log has a gap: index {idx} after {}",
                        size + k as u64
                    )));
                }
                entries.push(r.get::<Vec<u8>>(1)?);
            }
            if let Err(e) = sync.caught_up(&entries) {
                let why = e.to_string();
                failed = Some(e);
                return Err(DbError::new(why));
            }
            let size = sync.size();
            db::nonces::forget(tx, forget_before)?;
            let mut fate = Vec::with_capacity(items.len());
            for item in items {
                if let Some(a) = &item.answers {
                    if !still_answers(tx, &a.record, &a.grant_id, a.emergency)? {
                        fate.push(Appended::Moved);
                        continue;
                    }
                }
                let fresh = match &item.nonce {
                    Some((n, seen)) => db::nonces::insert(tx, n, *seen)?,
                    None => true,
                };
                fate.push(if fresh {
                    Appended::Stored
                } else {
                    Appended::Replay
                });
            }
            let keep: Vec<bool> = fate.iter().map(|f| *f == Appended::Stored).collect();
            for (k, (record, entry)) in sync.link(&keep).iter().enumerate() {
                tx.exec(
                    "INSERT INTO audit (idx, record, entry) VALUES ($1, $2, $3)",
                    &[&(size + 1 + k as u64), record, entry],
                )?;
            }
            Ok((size, fate))
        });
        match (out, failed) {
            (_, Some(e)) => Err(e),
            (out, None) => out,
        }
    }

    fn nonces_since(&self, since: u64) -> Result<Vec<([u8; 16], u64)>, StoreError> {
        self.tx(|tx| {
            let rows = tx.rows("SELECT nonce, seen FROM nonces WHERE seen >= $1", &[&since])?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                if let Ok(n) = r.get::<[u8; 16]>(0) {
                    out.push((n, r.get(1)?));
                }
            }
            Ok(out)
        })
    }

    fn audit_since(&self, from: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tx(|tx| {
            let rows = tx.rows(
                "SELECT idx, entry FROM audit WHERE idx > $1 ORDER BY idx",
                &[&from],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for (k, r) in rows.iter().enumerate() {
                let idx: u64 = r.get(0)?;
                if idx != from + 1 + k as u64 {
                    return Err(DbError::new(format!(
                        "audit log has a gap: index {idx} after {}",
                        from + k as u64
                    )));
                }
                out.push(r.get(1)?);
            }
            Ok(out)
        })
    }

    fn audit_for_record(&self, record: &[u8; 32]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.tx(|tx| {
            tx.rows(
                "SELECT idx, entry FROM audit WHERE record = $1 ORDER BY idx",
                &[record],
            )?
            .iter()
            .map(|r| -> Result<_, DbError> { Ok((r.get::<u64>(0)?.saturating_sub(1), r.get(1)?)) })
            .collect()
        })
    }
}

/// Whether a grant an answer was decided on still answers, read in the
/// append transaction: not revoked, and an emergency grant still open.
fn still_answers(
    tx: &mut dyn Tx,
    record: &[u8; 32],
    grant_id: &[u8; 16],
    emergency: Option<(u64, u64)>,
) -> Result<bool, DbError> {
    let live: i64 = tx
        .one(
            "SELECT COUNT(*) FROM grants WHERE record = $1 AND grant_id = $2 AND sealed_b2 IS NOT NULL",
            &[record, grant_id],
        )?
        .get(0)?;
    if live == 0 {
        return Ok(false);
    }
    let Some((wait, now)) = emergency else {
        return Ok(true);
    };
    let track = super::emergency::read_track(tx, record, grant_id)?;
    Ok(matches!(
        EmergencyTrack::state(track.as_ref().map(|t| &t.track), wait, now),
        EmergencyState::Open { .. }
    ))
}
