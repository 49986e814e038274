//! `sesphr-relay audit export`: the SRS's whole audit log, for an auditor,
//! as an [`AuditExport`] (kind `0x14`): every entry from index 0, with a
//! head of the whole log signed now. It reads the SRS's data directory
//! directly (SQLite readers do not block the running server) and needs the
//! SRS seed to sign the head; `audit verify` needs neither.

use std::path::Path;

use sesphr_client::audit::{AuditExport, MemoryLog};

use super::store::{SqliteStore, SrsStore};
use crate::config::StartError;
use crate::now_ms;

/// The export of the SRS log under `data_dir` (`data_dir/srs/`).
pub fn export(data_dir: &Path) -> Result<Vec<u8>, StartError> {
    let dir = data_dir.join("srs");
    let (seed, db) = (dir.join("identity.seed"), dir.join("srs.sqlite3"));
    for p in [&seed, &db] {
        if !p.is_file() {
            return Err(StartError::Setup(format!(
                "{} is missing: is {} an SRS data directory?",
                p.display(),
                data_dir.display()
            )));
        }
    }
    let identity = super::identity::load_or_create(&seed)?;
    let store = SqliteStore::open(&db).map_err(|e| StartError::Setup(e.to_string()))?;
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
