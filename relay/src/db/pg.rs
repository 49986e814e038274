//! The PostgreSQL engine: a small pool of blocking clients, each with its
//! own cache of prepared statements, every transaction `SERIALIZABLE` and
//! run again when the server aborts it for a serialization failure.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement};

use super::{pg_schema, DbError, Params, Row, Schema, Tx, Value};

/// Clients one process keeps at most (the services' blocking threads
/// share them; a transaction holds one only while it runs).
const MAX_CLIENTS: usize = 16;

/// Times a transaction is run again after a serialization failure.
const MAX_RETRIES: u32 = 40;

/// How long a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Bytes(b) => b.as_slice().to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn pg_error(e: postgres::Error) -> DbError {
    let retry = matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            // Under SERIALIZABLE a unique violation between two concurrent
            // inserts is a serialization failure in all but name.
            || *c == SqlState::UNIQUE_VIOLATION
    );
    // `Display` of a database error is its message; the source chain of a
    // connection error says what failed. Neither contains the password.
    let mut message = e.to_string();
    if let Some(db) = e.as_db_error() {
        message = format!("postgres: {} ({})", db.message(), db.code().code());
    } else if let Some(src) = e.source() {
        message = format!("postgres: {e}: {src}");
    }
    DbError { message, retry }
}

struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// The pool.
pub struct PgPool {
    config: postgres::Config,
    service: String,
    idle: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgPool({})", self.service)
    }
}

/// A client taken from the pool; given back on drop unless it broke.
struct Lease<'p> {
    pool: &'p PgPool,
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Ok(mut pool) = self.pool.idle.lock() else {
            return;
        };
        match self.conn.take() {
            Some(c) if !c.client.is_closed() => pool.idle.push(c),
            _ => pool.open = pool.open.saturating_sub(1),
        }
        self.pool.freed.notify_one();
    }
}

/// Runs `f` on a new thread outside any async runtime (the blocking client
/// starts its own, which tokio forbids on a thread that drives tasks).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    })
}

impl Drop for PgPool {
    /// Closes the idle clients off any async runtime: a blocking client
    /// closes on its own runtime, which tokio forbids on a thread that
    /// drives tasks (a store dropped in an async test or at shutdown).
    fn drop(&mut self) {
        let idle = match self.idle.get_mut() {
            Ok(pool) => std::mem::take(&mut pool.idle),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().idle),
        };
        if !idle.is_empty() {
            off_runtime(move || drop(idle));
        }
    }
}

impl PgPool {
    /// Connects, creates the service's schema and tables if needed (one
    /// process at a time, under an advisory lock), and refuses a database
    /// of another schema version.
    pub fn open(url: &str, schema: &Schema<'_>) -> Result<PgPool, DbError> {
        if !schema
            .service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(DbError::new("service names are lowercase identifiers"));
        }
        let mut config: postgres::Config = url
            .parse()
            .map_err(|_| DbError::new("the PostgreSQL connection string does not parse"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(&format!("sesphr-{}", schema.service));
        }
        let pool = PgPool {
            config,
            service: schema.service.to_owned(),
            idle: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        let tables: Vec<String> = schema.tables.iter().map(|t| pg_schema(t)).collect();
        let (service, version) = (schema.service, schema.version);
        off_runtime(|| pool.create(service, version, &tables))?;
        Ok(pool)
    }

    fn create(&self, service: &str, version: i64, tables: &[String]) -> Result<(), DbError> {
        let mut lease = self.lease()?;
        let conn = lease
            .conn
            .as_mut()
            .ok_or_else(|| DbError::new("no client"))?;
        let mut t = conn.client.transaction().map_err(pg_error)?;
        // One process creates the tables at a time; the others then find them.
        t.execute(
            "SELECT pg_advisory_xact_lock(hashtext('sesphr schema ' || $1::text)::bigint)",
            &[&service],
        )
        .map_err(pg_error)?;
        t.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {service};
             SET LOCAL search_path TO {service};
             CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
        ))
        .map_err(pg_error)?;
        let found: Option<i64> = t
            .query_opt("SELECT version FROM schema_version", &[])
            .map_err(pg_error)?
            .map(|r| r.get(0));
        if let Some(found) = found.filter(|&v| v != version) {
            return Err(DbError::new(format!(
                "PostgreSQL schema {service}: version {found}, this {service} writes {version}; pre-release formats are not migrated (use a new database or schema)"
            )));
        }
        for sql in tables {
            t.batch_execute(sql).map_err(pg_error)?;
        }
        if found.is_none() {
            t.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )
            .map_err(pg_error)?;
        }
        t.commit().map_err(pg_error)
    }

    fn connect(&self) -> Result<Conn, DbError> {
        let mut client = self.config.connect(NoTls).map_err(pg_error)?;
        client
            .batch_execute(&format!("SET search_path TO {}", self.service))
            .map_err(pg_error)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn lease(&self) -> Result<Lease<'_>, DbError> {
        let mut pool = self
            .idle
            .lock()
            .map_err(|_| DbError::new("poisoned lock"))?;
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if pool.open < MAX_CLIENTS {
                pool.open += 1;
                drop(pool);
                let mut lease = Lease {
                    pool: self,
                    conn: None,
                };
                // On failure the empty lease gives the slot back.
                lease.conn = Some(self.connect()?);
                return Ok(lease);
            }
            pool = self
                .freed
                .wait(pool)
                .map_err(|_| DbError::new("poisoned lock"))?;
        }
    }

    /// Runs `f` in one serializable transaction, again from the start while
    /// the server aborts it for a serialization failure (with a growing,
    /// jittered pause), and on a new client when an idle one had died.
    pub(super) fn tx<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut attempt = 0u32;
        loop {
            let mut lease = self.lease()?;
            let conn = lease
                .conn
                .as_mut()
                .ok_or_else(|| DbError::new("no client"))?;
            let outcome = match conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
            {
                Ok(t) => {
                    let mut pt = PgTx {
                        t,
                        statements: &mut conn.statements,
                    };
                    f(&mut pt).and_then(|v| pt.t.commit().map(|()| v).map_err(pg_error))
                }
                // A client that died while idle (a server restart): its
                // lease drops it; nothing was sent, so try a new one.
                Err(e) if e.is_closed() && attempt < 2 => Err(DbError {
                    message: e.to_string(),
                    retry: true,
                }),
                Err(e) => Err(pg_error(e)),
            };
            drop(lease);
            match outcome {
                Err(e) if e.retry && attempt < MAX_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                other => return other,
            }
        }
    }
}

/// A pause that grows with the attempt, jittered so that two transactions
/// that collided do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 1u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % (ceiling * 1000);
    Duration::from_micros(200 + jitter)
}

struct PgTx<'c> {
    t: postgres::Transaction<'c>,
    statements: &'c mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.t.prepare(sql).map_err(pg_error)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn bind(params: Params<'_>) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

fn refs(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Tx for PgTx<'_> {
    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        let st = self.statement(sql)?;
        let values = bind(params);
        self.t.execute(&st, &refs(&values)).map_err(pg_error)
    }

    fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        let st = self.statement(sql)?;
        let values = bind(params);
        let rows = self.t.query(&st, &refs(&values)).map_err(pg_error)?;
        rows.iter().map(row).collect()
    }
}

fn row(r: &postgres::Row) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let get = |e: postgres::Error| pg_error(e);
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(get)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into())),
            Type::BYTEA => r
                .try_get::<_, Option<Vec<u8>>>(i)
                .map_err(get)?
                .map(Value::Bytes),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => r
                .try_get::<_, Option<String>>(i)
                .map_err(get)?
                .map(Value::Text),
            ref other => {
                return Err(DbError::new(format!(
                    "column {}: type {other} (cast it to BIGINT, BYTEA or TEXT)",
                    col.name()
                )))
            }
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}
