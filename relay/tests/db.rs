//! The SQL layer on both engines: the same statements, the same outcomes,
//! and on PostgreSQL the guarantees several processes rely on (two `Db`s on
//! one database stand for two processes: they share nothing but the server).
#![cfg(test)]

use std::sync::Arc;

use sesphr_relay::db::{Db, DbLocation, Engine, Schema};
use sesphr_testkit::pg::Postgres;

const TABLES: &str =
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, seen INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, item BLOB);";

fn schema(version: i64) -> Schema<'static> {
    Schema {
        service: "dbtest",
        version,
        sqlite_pragmas: &[],
        tables: &[TABLES],
    }
}

/// Both engines, each on a new database (the guard keeps PostgreSQL's).
fn engines(dir: &std::path::Path) -> Vec<(DbLocation, Option<Postgres>)> {
    let pg = Postgres::new();
    vec![
        (DbLocation::Sqlite(dir.join("t.sqlite3")), None),
        (DbLocation::Postgres(pg.url().to_owned()), Some(pg)),
    ]
}

#[test]
fn values_round_trip_and_nulls_read_as_none() {
    let dir = tempfile::tempdir().unwrap();
    for (at, _guard) in engines(dir.path()) {
        let db = Db::open(&at, &schema(1)).unwrap();
        let got = db
            .tx(|tx| {
                tx.exec(
                    "INSERT INTO log (item) VALUES ($1), ($2)",
                    &[&vec![0u8, 1, 255], &None::<Vec<u8>>],
                )?;
                let rows = tx.rows("SELECT seq, item FROM log ORDER BY seq", &[])?;
                let n: i64 = tx.one("SELECT COUNT(*) FROM log", &[])?.get(0)?;
                let sum: i64 = tx
                    .one("SELECT CAST(SUM(seq) AS BIGINT) FROM log", &[])?
                    .get(0)?;
                Ok((
                    rows.iter()
                        .map(|r| r.get::<Option<Vec<u8>>>(1))
                        .collect::<Result<Vec<_>, _>>()?,
                    n,
                    sum,
                ))
            })
            .unwrap();
        assert_eq!(
            got.0,
            vec![Some(vec![0, 1, 255]), None],
            "{:?}",
            db.engine()
        );
        assert_eq!((got.1, got.2), (2, 3));
        db.health().unwrap();
    }
}

#[test]
fn an_error_rolls_the_whole_transaction_back() {
    let dir = tempfile::tempdir().unwrap();
    for (at, _guard) in engines(dir.path()) {
        let db = Db::open(&at, &schema(1)).unwrap();
        let failed = db.tx(|tx| {
            tx.exec(
                "INSERT INTO counters (name, n) VALUES ($1, $2)",
                &[&"a", &1i64],
            )?;
            tx.exec("INSERT INTO nowhere VALUES (1)", &[])
        });
        assert!(failed.is_err());
        let n: i64 = db
            .tx(|tx| tx.one("SELECT COUNT(*) FROM counters", &[])?.get(0))
            .unwrap();
        assert_eq!(n, 0, "{:?}", db.engine());
    }
}

#[test]
fn another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (at, _guard) in engines(dir.path()) {
        drop(Db::open(&at, &schema(1)).unwrap());
        let err = Db::open(&at, &schema(2)).unwrap_err().to_string();
        assert!(err.contains("not migrated"), "{err}");
        // The same version opens again, with what was there.
        drop(Db::open(&at, &schema(1)).unwrap());
    }
}

/// Read-modify-write from many threads over two "processes": serializable
/// transactions, run again after a serialization failure, lose no update.
#[test]
fn concurrent_read_modify_write_loses_nothing_on_postgres() {
    let pg = Postgres::new();
    let at = DbLocation::Postgres(pg.url().to_owned());
    let dbs: Vec<Arc<Db>> = (0..2)
        .map(|_| Arc::new(Db::open(&at, &schema(1)).unwrap()))
        .collect();
    assert_eq!(dbs[0].engine(), Engine::Postgres);
    dbs[0]
        .tx(|tx| tx.exec("INSERT INTO counters (name, n) VALUES ('c', 0)", &[]))
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let db = dbs[i % 2].clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    db.tx(|tx| {
                        let n: i64 = tx
                            .one("SELECT n FROM counters WHERE name = 'c'", &[])?
                            .get(0)?;
                        tx.exec("UPDATE counters SET n = $1 WHERE name = 'c'", &[&(n + 1)])
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: i64 = dbs[1]
        .tx(|tx| {
            tx.one("SELECT n FROM counters WHERE name = 'c'", &[])?
                .get(0)
        })
        .unwrap();
    assert_eq!(n, 200);
}

/// The same nonces offered by two "processes" at once: each accepted once.
#[test]
fn a_nonce_is_accepted_once_across_processes_on_postgres() {
    let pg = Postgres::new();
    let at = DbLocation::Postgres(pg.url().to_owned());
    let dbs: Vec<Arc<Db>> = (0..2)
        .map(|_| Arc::new(Db::open(&at, &schema(1)).unwrap()))
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let db = dbs[i % 2].clone();
            std::thread::spawn(move || {
                let mut won = 0u32;
                for k in 0u8..50 {
                    let nonce = [k; 16];
                    let n = db
                        .tx(|tx| {
                            tx.exec(
                                "INSERT INTO nonces (nonce, seen) VALUES ($1, $2)
                                 ON CONFLICT (nonce) DO NOTHING",
                                &[&nonce, &1u64],
                            )
                        })
                        .unwrap();
                    won += n as u32;
                }
                won
            })
        })
        .collect();
    let total: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 50);
}
