//! `sesphr-relay audit export`: the SRS's whole audit log, for an auditor,
//! as an [`AuditExport`] (kind `0x14`): every entry from index 0, with a
//! head of the whole log signed now. It reads the SRS's database directly
//! (the SQLite file in the data directory, or the PostgreSQL database of
//! `--srs-db`; readers block no running SRS process) and needs the SRS seed
//! (`srs/identity.seed` in the data directory) to sign the head;
//! `audit verify` needs neither.

use std::path::Path;

use sesphr_client::audit::{AuditExport, MemoryLog};

use super::store::{SqlStore, SrsStore};
use crate::config::StartError;
use crate::db::DbLocation;
use crate::now_ms;

/// The export of the SRS log under `data_dir` (`data_dir/srs/`), its
/// state at `srs_db` (as `--srs-db`; `None`: the SQLite file there).
pub fn export(data_dir: &Path, srs_db: Option<&str>) -> Result<Vec<u8>, StartError> {
    // Off any async runtime: the blocking PostgreSQL client starts its own.
    std::thread::scope(|s| {
        s.spawn(|| export_here(data_dir, srs_db))
            .join()
            .unwrap_or_else(|_| Err(StartError::Setup("the export panicked".into())))
    })
}

fn export_here(data_dir: &Path, srs_db: Option<&str>) -> Result<Vec<u8>, StartError> {
    let dir = data_dir.join("srs");
    let seed = dir.join("identity.seed");
    let at = DbLocation::parse(srs_db, &dir.join("srs.sqlite3"));
    let mut need = vec![&seed];
    if let DbLocation::Sqlite(db) = &at {
        need.push(db);
    }
    for p in need {
        if !p.is_file() {
            return Err(StartError::Setup(format!(
                "{} is missing: is {} an SRS data directory?",
                p.display(),
                data_dir.display()
            )));
        }
    }
    let identity = super::identity::load_or_create(&seed)?;
    let store = SqlStore::open(&at).map_err(|e| StartError::Setup(e.to_string()))?;
    let entries = store
        .audit_entries()
        .map_err(|e| StartError::Setup(e.to_string()))?;
    let log = MemoryLog::from_entries(entries.iter().map(Vec::as_slice))
        .map_err(|e| StartError::Setup(format!("the stored audit log does not check out: {e}")))?;
    let head = log
        .head(&identity, now_ms())
        .map_err(|e| StartError::Setup(e.to_string()))?;
    AuditExport {
        srs: identity.public().clone(),
        entries,
        heads: vec![head.as_bytes().to_vec()],
    }
    .to_bytes()
    .map_err(|e| StartError::Setup(e.to_string()))
}
