//! The table of spent nonces both services keep (request tokens; at the SRS
//! re-encryption requests too), each with when it was seen (indexed, so
//! that old ones are forgotten cheaply).

use super::{DbError, Tx};

/// The table, part of both services' schema.
pub const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, seen INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS nonces_by_time ON nonces (seen);";

/// Records `nonce` as seen at `now`; `false` if it was already there.
pub fn insert(tx: &mut dyn Tx, nonce: &[u8; 16], now: u64) -> Result<bool, DbError> {
    let n = tx.exec(
        "INSERT INTO nonces (nonce, seen) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        &[nonce, &now],
    )?;
    Ok(n == 1)
}

/// Forgets the nonces seen before `before`.
pub fn forget(tx: &mut dyn Tx, before: u64) -> Result<(), DbError> {
    tx.exec("DELETE FROM nonces WHERE seen < $1", &[&before])?;
    Ok(())
}

/// Forgets the nonces seen before `forget_before` and records `nonce` as
/// seen at `now`, in the caller's transaction; `false` if it was there.
pub fn spend(
    tx: &mut dyn Tx,
    nonce: &[u8; 16],
    now: u64,
    forget_before: u64,
) -> Result<bool, DbError> {
    forget(tx, forget_before)?;
    insert(tx, nonce, now)
}
