//! What the two services' SQLite stores share: opening a database durably
//! at a schema version, reading an id column, and the table of spent nonces
//! (request tokens, and at the SRS re-encryption requests too).

use std::path::Path;

use rusqlite::{params, Connection, Transaction};

/// Opens (creating if needed) the database at `path` with `journal_mode =
/// WAL`, `synchronous = FULL` and then `pragmas`; refuses one that already
/// has tables but another `PRAGMA user_version` than `version` (pre-release
/// formats are not migrated); creates the tables of `schema` and stamps
/// `version`. `service` names the server in the refusal; every failure is a
/// message.
pub fn open(
    path: &Path,
    service: &str,
    version: i64,
    pragmas: &[(&str, &str)],
    schema: &[&str],
) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    let found = prepare(&conn, pragmas).map_err(|e| e.to_string())?;
    if let Some(found) = found.filter(|&v| v != version) {
        return Err(format!(
            "{}: database schema {found}, this {service} writes {version}; pre-release formats are not migrated (start on a new data directory)",
            path.display()
        ));
    }
    create(&conn, version, schema).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Sets the pragmas; the schema version of a database that has tables.
fn prepare(conn: &Connection, pragmas: &[(&str, &str)]) -> rusqlite::Result<Option<i64>> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    for (name, value) in pragmas {
        conn.pragma_update(None, name, value)?;
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    Ok((tables > 0).then_some(version))
}

fn create(conn: &Connection, version: i64, schema: &[&str]) -> rusqlite::Result<()> {
    for tables in schema {
        conn.execute_batch(tables)?;
    }
    conn.pragma_update(None, "user_version", version)
}

/// A 32-byte id from a blob column.
pub fn arr32(v: Vec<u8>) -> Result<[u8; 32], rusqlite::Error> {
    v.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Blob)
    })
}

/// The table of spent nonces, each with when it was seen (indexed, so that
/// old ones are forgotten cheaply); part of both services' schema.
pub const NONCES: &str =
    "CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, seen INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS nonces_by_time ON nonces (seen);";

/// Records a nonce (`?1`) seen at `?2`; no change if it is already there.
pub const INSERT_NONCE: &str = "INSERT OR IGNORE INTO nonces (nonce, seen) VALUES (?1, ?2)";

/// Forgets the nonces seen before `before`.
pub fn forget_nonces(tx: &Transaction<'_>, before: u64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM nonces WHERE seen < ?1", [before as i64])?;
    Ok(())
}

/// Records `nonce` as seen at `now` durably, and forgets the nonces seen
/// before `forget_before`, in one transaction; `false` if it was already
/// there.
pub fn use_nonce(
    conn: &mut Connection,
    nonce: &[u8; 16],
    now: u64,
    forget_before: u64,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    forget_nonces(&tx, forget_before)?;
    let n = tx.execute(INSERT_NONCE, params![&nonce[..], now as i64])?;
    tx.commit()?;
    Ok(n == 1)
}
