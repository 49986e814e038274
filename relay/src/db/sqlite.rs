//! The SQLite engine: one connection, WAL, `synchronous = FULL`, every
//! transaction `BEGIN IMMEDIATE` (writers never upgrade a read lock).

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::{sqlite_sql, DbError, Params, Row, Schema, Tx, Value};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Opens (creating if needed) the file with the schema; refuses one that
/// already has tables but another `PRAGMA user_version` (pre-release
/// formats are not migrated).
pub(super) fn open(path: &Path, schema: &Schema<'_>) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::new(format!("{}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    for (name, value) in schema.sqlite_pragmas {
        conn.pragma_update(None, name, value)?;
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if tables > 0 && version != schema.version {
        return Err(DbError::new(format!(
            "{}: database schema {version}, this {} writes {}; pre-release formats are not migrated (start on a new data directory)",
            path.display(),
            schema.service,
            schema.version
        )));
    }
    for tables in schema.tables {
        conn.execute_batch(tables)?;
    }
    conn.pragma_update(None, "user_version", schema.version)?;
    Ok(conn)
}

struct SqliteTx<'c>(rusqlite::Transaction<'c>);

fn bind(params: Params<'_>) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        let mut st = self.0.prepare_cached(&sqlite_sql(sql))?;
        let n = st.execute(rusqlite::params_from_iter(bind(params)))?;
        Ok(n as u64)
    }

    fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        let mut st = self.0.prepare_cached(&sqlite_sql(sql))?;
        let width = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(bind(params)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(width);
            for i in 0..width {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Real(_) => return Err(DbError::new(format!("column {i}: a real"))),
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}

/// Runs `f` in one immediate transaction; commits on `Ok`.
pub(super) fn tx<T>(
    conn: &mut Connection,
    f: &mut dyn FnMut(&mut dyn Tx) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut t = SqliteTx(conn.transaction_with_behavior(TransactionBehavior::Immediate)?);
    let out = f(&mut t)?;
    t.0.commit()?;
    Ok(out)
}
