//! Group commit for the SRS audit log.
//!
//! Every re-encryption decision is appended to the audit log before its answer
//! leaves, durably. One fsync per request would cap the SRS at the disk's
//! sync rate, so requests hand their entry (and the nonce they spent) to one
//! writer thread, which commits everything that arrived while the previous
//! commit was syncing in a single transaction, then appends the entries to the
//! in-memory tree in index order and returns each its signed receipt. It is
//! also the one place entries are ordered, so it links each to the previous
//! entry about the same record before storing it. A lone
//! request is committed at once: batching adds no waiting, only sharing.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sesphr_client::audit::{AuditEntry, InclusionReceipt, MemoryLog};
use sesphr_client::identity::Identity;

use super::store::{AuditWrite, SrsStore};
use crate::http::error::ApiError;
use crate::now_ms;

/// Most entries in one transaction.
const MAX_BATCH: usize = 512;

struct Pending {
    entry: AuditEntry,
    nonce: Option<([u8; 16], u64)>,
    reply: SyncSender<Result<InclusionReceipt, String>>,
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

    /// Appends `entry` durably (with the request nonce it spent) and returns
    /// its receipt. Blocks until the batch holding it is committed.
    pub fn append(
        &self,
        entry: AuditEntry,
        nonce: Option<([u8; 16], u64)>,
    ) -> Result<InclusionReceipt, ApiError> {
        let (reply, answer) = sync_channel(1);
        self.tx
            .send(Pending {
                entry,
                nonce,
                reply,
            })
            .map_err(|_| ApiError::internal("the audit writer stopped"))?;
        answer
            .recv()
            .map_err(|_| ApiError::internal("the audit writer stopped"))?
            .map_err(ApiError::internal)
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
        // Linked before they are stored: the stored bytes are the leaves.
        // Only this thread appends, so the chains cannot move meanwhile.
        let mut entries: Vec<AuditEntry> = batch.iter().map(|p| p.entry.clone()).collect();
        match log.lock() {
            Ok(log) => log.link(&mut entries),
            Err(_) => return fail(batch, "poisoned audit lock"),
        }
        for (p, e) in batch.iter_mut().zip(entries) {
            p.entry = e;
        }
        let encoded: Vec<Vec<u8>> = batch.iter().map(|p| p.entry.to_bytes()).collect();
        let writes: Vec<AuditWrite<'_>> = batch
            .iter()
            .zip(&encoded)
            .map(|(p, e)| AuditWrite {
                record: &p.entry.record.0,
                entry: e,
                nonce: p.nonce,
            })
            .collect();
        let committed = store.append_audit_batch(&writes, now_ms().saturating_sub(forget_ms));
        crate::ops::metrics::metrics()
            .audit_batch
            .observe(writes.len() as f64);
        drop(writes);
        let mut log = match (committed, log.lock()) {
            (Ok(first), Ok(log)) if first == log.len() as u64 => log,
            (Ok(first), Ok(log)) => {
                let e = format!(
                    "audit log out of step: stored at {first}, tree has {}",
                    log.len()
                );
                tracing::error!("{e}");
                return fail(batch, &e);
            }
            (Err(e), _) => {
                fail(batch, &e.to_string());
                continue;
            }
            (_, Err(_)) => return fail(batch, "poisoned audit lock"),
        };
        for p in batch {
            let receipt = log.append(identity, p.entry).map_err(|e| e.to_string());
            let _ = p.reply.send(receipt);
        }
    }
}

fn fail(batch: Vec<Pending>, why: &str) {
    for p in batch {
        let _ = p.reply.send(Err(why.to_string()));
    }
}
