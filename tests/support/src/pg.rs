//! A real PostgreSQL for the tests: a new, empty database per test.
//!
//! With `SESPHR_PG_URL` set (scripts/test.sh starts one server for the
//! whole run with `scripts/postgres.sh`), each [`Postgres`] is a new
//! database on that server, dropped with the guard. Without it, each guard
//! starts a private server of its own in a temporary directory (Debian's
//! PostgreSQL 15, through the same script) and stops it on drop. There is
//! no skip: a missing server fails the test and names the script.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A database for one test, gone when dropped.
#[derive(Debug)]
pub struct Postgres {
    url: String,
    admin: String,
    name: String,
    private: Option<(tempfile::TempDir, PathBuf)>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh")
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql (Debian's postgresql-client) runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// A new empty database.
    pub fn new() -> Postgres {
        let (admin, private) = match std::env::var("SESPHR_PG_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let cluster = dir.path().join("pg");
                let out = Command::new("bash")
                    .arg(script())
                    .arg("start")
                    .arg(&cluster)
                    .output()
                    .expect("bash runs scripts/postgres.sh");
                assert!(
                    out.status.success(),
                    "scripts/postgres.sh start failed (run scripts/setup.sh): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                (url, Some((dir, cluster)))
            }
        };
        let name = format!(
            "t_{}",
            hex::encode(sesphr_client::primitives::random_bytes::<8, _>(
                &mut sesphr_client::primitives::os_rng()
            ))
        );
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = database_url(&admin, &name);
        Postgres {
            url,
            admin,
            name,
            private,
        }
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The URL of the database `name` on the run's server (`SESPHR_PG_URL`),
/// created if it is not there yet; never dropped (the run's server goes
/// with the run). For state that outlives one [`Postgres`] guard: a
/// deployment restarted on its data directory (`deploy::Server` in the
/// scaled run).
pub fn shared_database(name: &str) -> String {
    let admin = std::env::var("SESPHR_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("SESPHR_PG_URL (scripts/test.sh starts the run's PostgreSQL)");
    let out = Command::new("psql")
        .args([
            admin.as_str(),
            "-tAc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ])
        .output()
        .expect("psql (Debian's postgresql-client) runs");
    if String::from_utf8_lossy(&out.stdout).trim() != "1" {
        psql(&admin, &format!("CREATE DATABASE {name}"));
    }
    database_url(&admin, name)
}

/// The URL of database `name` on the server of `admin`.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("SESPHR_PG_URL names no database: {admin}"),
    }
}

/// `SELECT COUNT(*) FROM table` in the database at `url`.
pub fn count(url: &str, table: &str) -> i64 {
    let out = Command::new("psql")
        .args([url, "-tAc", &format!("SELECT COUNT(*) FROM {table}")])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl Default for Postgres {
    fn default() -> Postgres {
        Postgres::new()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        match &self.private {
            Some((_, cluster)) => {
                let _ = Command::new("bash")
                    .arg(script())
                    .arg("stop")
                    .arg(cluster)
                    .output();
            }
            None => {
                let _ = Command::new("psql")
                    .args([
                        &self.admin,
                        "-q",
                        "-c",
                        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                    ])
                    .output();
            }
        }
    }
}
