//! Group commit for the SRS audit log.
//!
//! Every re-encryption decision is appended to the audit log before its answer
//! leaves, durably. One fsync per request would cap the SRS at the disk's
//! sync rate, so requests hand their entry (and the nonce they spent) to one
//! writer thread, which commits everything that arrived while the previous
//! commit was syncing in a single transaction, then appends the entries to the
//! in-memory tree in index order and returns each its signed receipt. A lone
//! request is committed at once: batching adds no waiting, only sharing.
//!
//! Several SRS processes may append to one database
//! ([`super::store`]): the append transaction holds the log's lock, first
//! brings this process's tree up to date with what the others appended,
//! then links each entry to the previous entry about the same record in
//! that one database order, and stores the batch after them. The tree's
//! mutex is held from the catch-up through the in-memory append, so the
//! heads and proofs this process signs always cover a prefix of the one
//! stored log. An item whose nonce another process already spent is a
//! replay, and an answer whose grant was revoked (or emergency grant closed)
//! by a change that came first is stored by nobody: its request decides
//! again.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sesphr_client::audit::{AuditEntry, InclusionReceipt, MemoryLog};
use sesphr_client::identity::Identity;

use super::store::{Appended, AuditSync, AuditWrite, SrsStore, StoreError};
use crate::http::error::ApiError;
use crate::now_ms;

/// Most entries in one transaction.
const MAX_BATCH: usize = 512;

/// What became of an appended entry.
#[derive(Debug)]
pub enum Outcome {
    /// Stored; its receipt.
    Stored(Box<InclusionReceipt>),
    /// Its request nonce was already spent (by another process): nothing
    /// stored, the request is a replay.
    Replay,
    /// Its grant no longer answers (a revocation or an emergency change
    /// came first): nothing stored, decide again.
    Moved,
}

struct Pending {
    entry: AuditEntry,
    write: AuditWrite,
    reply: SyncSender<Result<Outcome, String>>,
}

/// The handle requests append through.
#[derive(Debug)]
pub struct AuditWriter {
    tx: SyncSender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Starts the writer thread. It stops when the handle is dropped.
    pub fn start(
        identity: Arc<Identity>,
        store: Arc<dyn SrsStore>,
        log: Arc<Mutex<MemoryLog>>,
        forget_nonces_after_ms: u64,
    ) -> std::io::Result<AuditWriter> {
        let (tx, rx) = sync_channel::<Pending>(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("sesphr-audit".into())
            .spawn(move || run(&rx, &identity, store.as_ref(), &log, forget_nonces_after_ms))?;
        Ok(AuditWriter { tx })
    }

    /// Appends `entry` durably (with the request nonce it spent and, for
    /// an answer, the grant that must still answer) and says what became
    /// of it. Blocks until the batch holding it is committed.
    pub fn append(&self, entry: AuditEntry, write: AuditWrite) -> Result<Outcome, ApiError> {
        let (reply, answer) = sync_channel(1);
        self.tx
            .send(Pending {
                entry,
                write,
                reply,
            })
            .map_err(|_| ApiError::internal("the audit writer stopped"))?;
        answer
            .recv()
            .map_err(|_| ApiError::internal("the audit writer stopped"))?
            .map_err(ApiError::internal)
    }
}

/// Brings `log` up to date with the entries stored past its size (by other
/// processes), in order.
pub fn catch_up(store: &dyn SrsStore, log: &mut MemoryLog) -> Result<(), StoreError> {
    for bytes in store.audit_since(log.len() as u64)? {
        log.push_stored(&bytes).map_err(|e| {
            StoreError::new(format!("the stored audit log does not check out: {e}"))
        })?;
    }
    Ok(())
}

/// The writer's tree during one append transaction.
struct Tree<'a> {
    log: &'a mut MemoryLog,
    entries: &'a [AuditEntry],
    linked: Vec<AuditEntry>,
}

impl AuditSync for Tree<'_> {
    fn size(&self) -> u64 {
        self.log.len() as u64
    }

    fn caught_up(&mut self, entries: &[Vec<u8>]) -> Result<(), StoreError> {
        for bytes in entries {
            self.log.push_stored(bytes).map_err(|e| {
                StoreError::new(format!("the stored audit log does not check out: {e}"))
            })?;
        }
        Ok(())
    }

    fn link(&mut self, keep: &[bool]) -> Vec<([u8; 32], Vec<u8>)> {
        let mut chosen: Vec<AuditEntry> = self
            .entries
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(e, _)| e.clone())
            .collect();
        // Linked before they are stored: the stored bytes are the leaves.
        self.log.link(&mut chosen);
        let out = chosen.iter().map(|e| (e.record.0, e.to_bytes())).collect();
        self.linked = chosen;
        out
    }
}

fn run(
    rx: &Receiver<Pending>,
    identity: &Identity,
    store: &dyn SrsStore,
    log: &Mutex<MemoryLog>,
    forget_ms: u64,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let entries: Vec<AuditEntry> = batch.iter().map(|p| p.entry.clone()).collect();
        let writes: Vec<AuditWrite> = batch.iter().map(|p| p.write.clone()).collect();
        // Held from the catch-up to the in-memory append: nobody signs a
        // head between the commit and the tree catching up with it.
        let mut log = match log.lock() {
            Ok(log) => log,
            Err(_) => return fail(batch, "poisoned audit lock"),
        };
        let mut sync = Tree {
            log: &mut log,
            entries: &entries,
            linked: Vec::new(),
        };
        let committed =
            store.append_audit_batch(&writes, now_ms().saturating_sub(forget_ms), &mut sync);
        crate::ops::metrics::metrics()
            .audit_batch
            .observe(writes.len() as f64);
        let linked = std::mem::take(&mut sync.linked);
        let (first, fate) = match committed {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "audit append failed");
                fail(batch, &e.to_string());
                continue;
            }
        };
        if first != log.len() as u64 || fate.len() != batch.len() {
            let e = format!(
                "audit log out of step: stored at {first}, tree has {}",
                log.len()
            );
            tracing::error!("{e}");
            return fail(batch, &e);
        }
        let mut linked = linked.into_iter();
        for (p, fate) in batch.into_iter().zip(fate) {
            let outcome = match fate {
                Appended::Stored => match linked.next() {
                    Some(entry) => log
                        .append(identity, entry)
                        .map(|r| Outcome::Stored(Box::new(r)))
                        .map_err(|e| e.to_string()),
                    None => Err("audit log out of step: an entry was not linked".to_owned()),
                },
                Appended::Replay => Ok(Outcome::Replay),
                Appended::Moved => Ok(Outcome::Moved),
            };
            let _ = p.reply.send(outcome);
        }
    }
}

fn fail(batch: Vec<Pending>, why: &str) {
    for p in batch {
        let _ = p.reply.send(Err(why.to_string()));
    }
}
