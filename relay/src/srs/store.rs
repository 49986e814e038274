//! The SRS's durable state behind a small trait: the default is SQLite
//! (bundled, WAL, `synchronous = FULL` so grants, revocations and audit
//! entries survive a crash once acknowledged). Another database can be added
//! by implementing [`SrsStore`] without touching the handlers.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::sqlite::{self, arr32};

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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
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
    fn from_row(r: &rusqlite::Row<'_>) -> Result<GrantRow, rusqlite::Error> {
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
    /// Deletes `b2` and tombstones the grant, with the revocation and its receipt, durably.
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
    /// Appends audit entries, with the request nonces they spent, in one
    /// durable transaction (group commit); returns the first entry's index.
    /// Forgets nonces older than `forget_before`.
    fn append_audit_batch(
        &self,
        items: &[AuditWrite<'_>],
        forget_before: u64,
    ) -> Result<u64, StoreError>;
    /// Request nonces seen at or after `since`, with when they were seen.
    fn nonces_since(&self, since: u64) -> Result<Vec<([u8; 16], u64)>, StoreError>;
    /// Every audit entry in order (to rebuild the tree at start).
    fn audit_entries(&self) -> Result<Vec<Vec<u8>>, StoreError>;
    /// `(index, entry)` of a record's audit entries.
    fn audit_for_record(&self, record: &[u8; 32]) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
}

/// One audit entry to append, and the request nonce it spent (if any).
#[derive(Debug)]
pub struct AuditWrite<'a> {
    /// The record the entry is listed under (zeros: no owner's listing).
    pub record: &'a [u8; 32],
    /// The encoded entry.
    pub entry: &'a [u8],
    /// The request nonce and when it was seen.
    pub nonce: Option<([u8; 16], u64)>,
}

/// SQLite implementation.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// The schema this code writes (`PRAGMA user_version`). Pre-release formats
/// are not migrated: an older database is refused at start.
const SCHEMA_VERSION: i64 = 2;

/// The SRS's tables (with [`sqlite::NONCES`]).
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

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = sqlite::open(
            path,
            "SRS",
            SCHEMA_VERSION,
            &[
                ("foreign_keys", "ON"),
                // Deleted shares are overwritten, not left in free pages.
                ("secure_delete", "ON"),
            ],
            &[SCHEMA, sqlite::NONCES, super::emergency::SCHEMA],
        )
        .map_err(StoreError)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError("poisoned lock".into()))?;
        Ok(f(&mut conn)?)
    }
}

impl SrsStore for SqliteStore {
    fn health(&self) -> Result<(), StoreError> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    fn put_directory(&self, id: &[u8; 32], entry: &[u8]) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO directory (id, entry) VALUES (?1, ?2)",
                params![&id[..], entry],
            )? == 1)
        })
    }

    fn directory(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT entry FROM directory WHERE id = ?1",
                [&id[..]],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn latest_manifest(&self, record: &[u8; 32]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT version, bytes FROM manifests WHERE record = ?1 ORDER BY version DESC LIMIT 1",
                [&record[..]],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
        })
    }

    fn latest_head(&self, record: &[u8; 32]) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT version, hash FROM manifests WHERE record = ?1 ORDER BY version DESC LIMIT 1",
                [&record[..]],
                |r| Ok((r.get::<_, i64>(0)? as u64, arr32(r.get(1)?)?)),
            )
            .optional()
        })
    }

    fn manifest(&self, record: &[u8; 32], version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT bytes FROM manifests WHERE record = ?1 AND version = ?2",
                params![&record[..], version as i64],
                |r| r.get(0),
            )
            .optional()
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
        self.with(|c| {
            let tx = c.transaction()?;
            let latest: Option<i64> = tx.query_row(
                "SELECT MAX(version) FROM manifests WHERE record = ?1",
                [&record[..]],
                |r| r.get(0),
            )?;
            let latest = latest.map(|v| v as u64);
            if latest.unwrap_or(0) + 1 != version {
                return Ok(Cas::Conflict(latest));
            }
            tx.execute(
                "INSERT INTO manifests (record, version, owner, hash, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&record[..], version as i64, &owner[..], &hash[..], bytes],
            )?;
            tx.commit()?;
            Ok(Cas::Stored)
        })
    }

    fn manifest_hash(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<[u8; 32]>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT hash FROM manifests WHERE record = ?1 AND version = ?2",
                params![&record[..], version as i64],
                |r| arr32(r.get(0)?),
            )
            .optional()
        })
    }

    fn record_owner(&self, record: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT owner FROM manifests WHERE record = ?1 AND version = 1",
                [&record[..]],
                |r| arr32(r.get(0)?),
            )
            .optional()
        })
    }

    fn insert_grant(
        &self,
        grant_id: &[u8; 16],
        record: &[u8; 32],
        statement: &[u8],
        sealed_b2: &[u8],
    ) -> Result<GrantInsert, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<(Vec<u8>, Option<Vec<u8>>)> = tx
                .query_row(
                    "SELECT statement, sealed_b2 FROM grants WHERE record = ?1 AND grant_id = ?2",
                    params![&record[..], &grant_id[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((stored, b2)) = existing {
                return Ok(if stored == statement && b2.is_some() {
                    GrantInsert::Same
                } else {
                    GrantInsert::Taken
                });
            }
            let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM grants", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO grants (record, grant_id, seq, statement, sealed_b2) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&record[..], &grant_id[..], seq, statement, sealed_b2],
            )?;
            tx.commit()?;
            Ok(GrantInsert::Stored)
        })
    }

    fn grant(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<GrantRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT statement, sealed_b2, receipt FROM grants WHERE record = ?1 AND grant_id = ?2",
                params![&record[..], &grant_id[..]],
                GrantRow::from_row,
            )
            .optional()
        })
    }

    fn grants_for_record(&self, record: &[u8; 32]) -> Result<Vec<GrantRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT statement, sealed_b2, receipt FROM grants WHERE record = ?1 ORDER BY seq",
            )?;
            let rows = st.query_map([&record[..]], GrantRow::from_row)?;
            rows.collect()
        })
    }

    fn revoke(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        revocation: &[u8],
        receipt: &[u8],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE grants SET sealed_b2 = NULL, revocation = ?3, receipt = ?4 WHERE record = ?1 AND grant_id = ?2",
                params![&record[..], &grant_id[..], revocation, receipt],
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
        self.with(|c| sqlite::use_nonce(c, nonce, now, forget_before))
    }

    fn append_audit_batch(
        &self,
        items: &[AuditWrite<'_>],
        forget_before: u64,
    ) -> Result<u64, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            sqlite::forget_nonces(&tx, forget_before)?;
            let mut first = None;
            {
                let mut nonce = tx.prepare_cached(sqlite::INSERT_NONCE)?;
                let mut audit =
                    tx.prepare_cached("INSERT INTO audit (record, entry) VALUES (?1, ?2)")?;
                for item in items {
                    if let Some((n, seen)) = &item.nonce {
                        nonce.execute(params![&n[..], *seen as i64])?;
                    }
                    audit.execute(params![&item.record[..], item.entry])?;
                    first.get_or_insert(tx.last_insert_rowid() as u64 - 1);
                }
            }
            tx.commit()?;
            Ok(first.unwrap_or(0))
        })
    }

    fn nonces_since(&self, since: u64) -> Result<Vec<([u8; 16], u64)>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT nonce, seen FROM nonces WHERE seen >= ?1")?;
            let rows = st.query_map([since as i64], |r| {
                let n: Vec<u8> = r.get(0)?;
                let seen: i64 = r.get(1)?;
                Ok((n, seen as u64))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (n, seen) = row?;
                if let Ok(n) = <[u8; 16]>::try_from(n.as_slice()) {
                    out.push((n, seen));
                }
            }
            Ok(out)
        })
    }

    fn audit_entries(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT entry FROM audit ORDER BY idx")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn audit_for_record(&self, record: &[u8; 32]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT idx, entry FROM audit WHERE record = ?1 ORDER BY idx")?;
            let rows = st.query_map([&record[..]], |r| {
                Ok((r.get::<_, i64>(0)? as u64 - 1, r.get(1)?))
            })?;
            rows.collect()
        })
    }
}
