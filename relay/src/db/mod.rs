//! One SQL layer over two engines: SQLite (embedded, the default) and
//! PostgreSQL (several server processes on one database). The services'
//! stores write their SQL once, against [`Tx`], in the dialect both engines
//! share:
//!
//! - parameters are `$1`, `$2`, … (SQLite reads them as `?1`, `?2`, …);
//! - conflicts are `INSERT … ON CONFLICT … DO NOTHING/UPDATE`, never
//!   `INSERT OR IGNORE`; no scalar `MAX(a, b)` (`CASE` instead); sums are
//!   `CAST(SUM(x) AS BIGINT)`;
//! - schemas say `BLOB`, `INTEGER` and `INTEGER PRIMARY KEY AUTOINCREMENT`,
//!   which PostgreSQL gets as `BYTEA`, `BIGINT` and an identity column.
//!
//! Every call of [`Db::tx`] is one transaction, committed when the closure
//! returns `Ok` and rolled back otherwise. SQLite runs them one at a time on
//! one connection (`BEGIN IMMEDIATE`). PostgreSQL runs them at `SERIALIZABLE`
//! on a small pool, so that whatever several processes do at once has the
//! outcome of some order of whole transactions; a transaction the server
//! aborts for a serialization failure or a deadlock is run again from the
//! start (the closure must have no effect outside its transaction), and a
//! failure after `COMMIT` was sent is reported, never retried. Each service
//! keeps its tables in its own PostgreSQL schema (`relay`, `srs`), so both may
//! share one database.
//!
//! The blocking PostgreSQL client runs its own small runtime: call [`Db`]
//! from a blocking thread (`spawn_blocking`, the audit writer), as the
//! services already do for SQLite.

pub mod nonces;
mod pg;
mod sqlite;

use std::path::Path;

pub use pg::PgPool;

/// A database failure (never caused by request content).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    message: String,
    /// PostgreSQL aborted the transaction for a serialization failure or a
    /// deadlock: running it again from the start is safe.
    retry: bool,
}

impl DbError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> DbError {
        DbError {
            message: message.into(),
            retry: false,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::new(e.to_string())
    }
}

/// One value in a row or a parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (`INTEGER` / `BIGINT`).
    Int(i64),
    /// Bytes (`BLOB` / `BYTEA`).
    Bytes(Vec<u8>),
    /// Text.
    Text(String),
}

/// What can be a parameter.
pub trait ToValue {
    /// The value bound.
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for u64 {
    /// Counts, lengths and times all fit; a larger value is stored as
    /// `i64::MAX` rather than wrapping to a negative one.
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl ToValue for &[u8] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }
}

impl ToValue for &str {
    fn to_value(&self) -> Value {
        Value::Text((*self).to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// What a column can be read as.
pub trait FromValue: Sized {
    /// Converts, or says what was there instead.
    fn from_value(v: Value) -> Result<Self, DbError>;
}

fn wrong(want: &str, got: &Value) -> DbError {
    let got = match got {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Bytes(_) => "bytes",
        Value::Text(_) => "text",
    };
    DbError::new(format!("column: expected {want}, found {got}"))
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, DbError> {
        Ok(v)
    }
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<i64, DbError> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(wrong("an integer", &other)),
        }
    }
}

impl FromValue for u64 {
    /// Negative integers are refused (this code never stores one).
    fn from_value(v: Value) -> Result<u64, DbError> {
        let i = i64::from_value(v)?;
        u64::try_from(i).map_err(|_| DbError::new(format!("column: negative integer {i}")))
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<bool, DbError> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Vec<u8>, DbError> {
        match v {
            Value::Bytes(b) => Ok(b),
            other => Err(wrong("bytes", &other)),
        }
    }
}

impl<const N: usize> FromValue for [u8; N] {
    fn from_value(v: Value) -> Result<[u8; N], DbError> {
        let b = Vec::<u8>::from_value(v)?;
        let len = b.len();
        b.try_into()
            .map_err(|_| DbError::new(format!("column: expected {N} bytes, found {len}")))
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<String, DbError> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(wrong("text", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, DbError> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, DbError> {
        let v = self
            .0
            .get(i)
            .cloned()
            .ok_or_else(|| DbError::new(format!("no column {i}")))?;
        T::from_value(v)
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parameters of one statement.
pub type Params<'a> = &'a [&'a dyn ToValue];

/// One transaction.
pub trait Tx {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64, DbError>;
    /// Runs a query; all its rows.
    fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError>;
}

impl dyn Tx + '_ {
    /// The first row of a query, if any.
    pub fn row(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, DbError> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }

    /// The only row of a query that always has one (`COUNT(*)`, …).
    pub fn one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
        self.row(sql, params)?
            .ok_or_else(|| DbError::new("query returned no row"))
    }

    /// The first column of the first row, if there is a row.
    pub fn value<T: FromValue>(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<T>, DbError> {
        self.row(sql, params)?.map(|r| r.get(0)).transpose()
    }
}

/// Which engine a [`Db`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The embedded default.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Engine {
    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Where a service keeps its tables.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// An SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection string (`postgres://…` or `host=… user=…`).
    Postgres(String),
}

impl std::fmt::Debug for DbLocation {
    /// Never shows a connection string: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbLocation::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            DbLocation::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl DbLocation {
    /// `postgres://…` / `postgresql://…` is a server; anything else is an
    /// SQLite file at `default` (the value `sqlite`, or empty) or at the
    /// path given.
    pub fn parse(value: Option<&str>, default: &Path) -> DbLocation {
        match value.map(str::trim) {
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                DbLocation::Postgres(v.to_owned())
            }
            Some(v) if !v.is_empty() && v != "sqlite" => {
                DbLocation::Sqlite(v.strip_prefix("sqlite:").unwrap_or(v).into())
            }
            _ => DbLocation::Sqlite(default.to_path_buf()),
        }
    }
}

/// How a service's database is opened.
#[derive(Debug)]
pub struct Schema<'a> {
    /// The service (`relay`, `srs`): the PostgreSQL schema its tables are
    /// in, and the name in the refusal of another schema version.
    pub service: &'a str,
    /// The schema version this code writes (SQLite `user_version`; a table
    /// in PostgreSQL); a database of another version is refused.
    pub version: i64,
    /// SQLite pragmas set after WAL and `synchronous = FULL`.
    pub sqlite_pragmas: &'a [(&'a str, &'a str)],
    /// The tables (`CREATE … IF NOT EXISTS`), in order.
    pub tables: &'a [&'a str],
}

/// A service's database.
pub struct Db {
    inner: Inner,
}

enum Inner {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Postgres(Box<PgPool>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.engine().name())
    }
}

impl Db {
    /// Opens (creating the tables if needed) the database at `location`.
    pub fn open(location: &DbLocation, schema: &Schema<'_>) -> Result<Db, DbError> {
        let inner = match location {
            DbLocation::Sqlite(path) => {
                Inner::Sqlite(std::sync::Mutex::new(sqlite::open(path, schema)?))
            }
            DbLocation::Postgres(url) => Inner::Postgres(Box::new(PgPool::open(url, schema)?)),
        };
        Ok(Db { inner })
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs `f` in one transaction (see the module documentation).
    pub fn tx<T>(
        &self,
        mut f: impl FnMut(&mut dyn Tx) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut conn = conn.lock().map_err(|_| DbError::new("poisoned lock"))?;
                sqlite::tx(&mut conn, &mut f)
            }
            Inner::Postgres(pool) => pool.tx(&mut f),
        }
    }

    /// Runs `f` on the SQLite connection itself (legacy migrations of
    /// SQLite files only); `None` on PostgreSQL.
    pub fn sqlite<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, DbError>,
    ) -> Option<Result<T, DbError>> {
        match &self.inner {
            Inner::Sqlite(conn) => Some(match conn.lock() {
                Ok(mut c) => f(&mut c),
                Err(_) => Err(DbError::new("poisoned lock")),
            }),
            Inner::Postgres(_) => None,
        }
    }

    /// Whether the database answers.
    pub fn health(&self) -> Result<(), DbError> {
        self.tx(|tx| tx.rows("SELECT 1", &[]).map(drop))
    }
}

/// Rewrites schema text written for SQLite into PostgreSQL's types.
fn pg_schema(sql: &str) -> String {
    let sql = sql.replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    );
    let mut out = String::with_capacity(sql.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "BLOB" => "BYTEA",
            "INTEGER" => "BIGINT",
            w => w,
        });
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `$1` → `?1` for SQLite (the statements never contain a `$` otherwise).
fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        std::borrow::Cow::Owned(sql.replace('$', "?"))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_dialect_becomes_postgres_types() {
        assert_eq!(
            pg_schema("CREATE TABLE t (id BLOB PRIMARY KEY, n INTEGER NOT NULL, blobs INTEGER)"),
            "CREATE TABLE t (id BYTEA PRIMARY KEY, n BIGINT NOT NULL, blobs BIGINT)"
        );
        assert_eq!(
            pg_schema("CREATE TABLE h (seq INTEGER PRIMARY KEY AUTOINCREMENT, x BLOB)"),
            "CREATE TABLE h (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, x BYTEA)"
        );
        assert_eq!(sqlite_sql("SELECT $1, $12"), "SELECT ?1, ?12");
    }

    #[test]
    fn a_connection_string_never_shows_in_debug() {
        let at = DbLocation::parse(Some("postgres://u:hunter2@h/db"), Path::new("x"));
        assert!(!format!("{at:?}").contains("hunter2"));
        assert_eq!(
            DbLocation::parse(None, Path::new("d/srs.sqlite3")),
            DbLocation::Sqlite("d/srs.sqlite3".into())
        );
        assert_eq!(
            DbLocation::parse(Some("sqlite"), Path::new("d/x")),
            DbLocation::Sqlite("d/x".into())
        );
    }
}
