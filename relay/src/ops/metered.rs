//! Store latency and errors, measured at the trait boundary: [`MeteredRelay`]
//! wraps any [`RelayStore`] and [`MeteredSrs`] any [`SrsStore`], so every
//! backend (filesystem and SQLite today, S3 and PostgreSQL beside them) is
//! measured the same way without a line of its own. The composition layer
//! (`server.rs`) wraps the store it opens, naming its backend.
//!
//! Labels: the store (`relay`, `srs`), the backend name the server gives,
//! the operation (the trait method's name). Nothing an operation is called
//! with reaches a label.

use std::sync::Arc;
use std::time::Instant;

use super::metrics::metrics;
use crate::relay::store::{
    BlobSink, ByteStream, Claim, InboxPut, InboxRow, MailRow, Mailbox, ManifestPut, RelayStore,
    ShlFileOut, ShlGate, ShlLinkRow, ShlListing, ShlPut, StoreFuture,
};
use crate::srs::emergency::{EmergencyStore, TrackRow};
use crate::srs::store::{
    Appended, AuditSync, AuditWrite, Cas, GrantInsert, GrantRow, SrsStore, StoreError,
};

fn observe(store: &str, backend: &str, op: &str, started: Instant, failed: bool) {
    let m = metrics();
    m.store_latency
        .with_label_values(&[store, backend, op])
        .observe(started.elapsed().as_secs_f64());
    if failed {
        m.store_errors
            .with_label_values(&[store, backend, op])
            .inc();
    }
}

/// A relay store whose every operation is timed and whose failures are
/// counted.
pub struct MeteredRelay {
    inner: Arc<dyn RelayStore>,
    backend: &'static str,
}

impl MeteredRelay {
    /// Wraps `inner`, a store of the `backend` kind.
    pub fn new(inner: Arc<dyn RelayStore>, backend: &'static str) -> MeteredRelay {
        MeteredRelay { inner, backend }
    }

    fn op<'a, T: 'a>(&self, op: &'static str, f: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        let backend = self.backend;
        Box::pin(async move {
            let started = Instant::now();
            let r = f.await;
            observe("relay", backend, op, started, r.is_err());
            r
        })
    }
}

/// A blob being written, its writes and commit timed.
struct MeteredSink {
    inner: Box<dyn BlobSink>,
    backend: &'static str,
}

impl BlobSink for MeteredSink {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> StoreFuture<'a, ()> {
        let backend = self.backend;
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.write(data).await;
            observe("relay", backend, "blob_write", started, r.is_err());
            r
        })
    }
    fn commit(self: Box<Self>) -> StoreFuture<'static, bool> {
        let backend = self.backend;
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.commit().await;
            observe("relay", backend, "blob_commit", started, r.is_err());
            r
        })
    }
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()> {
        let backend = self.backend;
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.abort().await;
            observe("relay", backend, "blob_abort", started, r.is_err());
            r
        })
    }
}

impl RelayStore for MeteredRelay {
    fn health(&self) -> StoreFuture<'_, ()> {
        self.op("health", self.inner.health())
    }
    fn blob_len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        self.op("blob_len", self.inner.blob_len(id))
    }
    fn create_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>> {
        let backend = self.backend;
        let f = self.op("create_blob", self.inner.create_blob(id));
        Box::pin(async move {
            let inner = f.await?;
            Ok(Box::new(MeteredSink { inner, backend }) as Box<dyn BlobSink>)
        })
    }
    fn read_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>> {
        self.op("read_blob", self.inner.read_blob(id, start, len))
    }
    fn usage<'a>(&'a self, party: &'a [u8; 32]) -> StoreFuture<'a, u64> {
        self.op("usage", self.inner.usage(party))
    }
    fn claim_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        owner: &'a [u8; 32],
        len: u64,
        quota: u64,
    ) -> StoreFuture<'a, Claim> {
        self.op("claim_blob", self.inner.claim_blob(id, owner, len, quota))
    }
    fn blob_owner<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>> {
        self.op("blob_owner", self.inner.blob_owner(id))
    }
    fn delete_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        self.op("delete_blob", self.inner.delete_blob(id))
    }
    fn latest_manifest<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        self.op("latest_manifest", self.inner.latest_manifest(record))
    }
    fn manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.op("manifest", self.inner.manifest(record, version))
    }
    fn put_manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
        owner: &'a [u8; 32],
        bytes: &'a [u8],
        records: u64,
    ) -> StoreFuture<'a, ManifestPut> {
        self.op(
            "put_manifest",
            self.inner
                .put_manifest(record, version, owner, bytes, records),
        )
    }
    fn record_owner<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>> {
        self.op("record_owner", self.inner.record_owner(record))
    }
    fn put_inbox<'a>(
        &'a self,
        row: InboxRow<'a>,
        per_sender: u64,
        total: u64,
    ) -> StoreFuture<'a, InboxPut> {
        self.op("put_inbox", self.inner.put_inbox(row, per_sender, total))
    }
    fn inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        limit: usize,
    ) -> StoreFuture<'a, Vec<([u8; 32], Vec<u8>)>> {
        self.op("inbox", self.inner.inbox(mailbox, grantee, limit))
    }
    fn mail_page<'a>(
        &'a self,
        grantee: &'a [u8; 32],
        after: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MailRow>> {
        self.op("mail_page", self.inner.mail_page(grantee, after, limit))
    }
    fn delete_inbox<'a>(
        &'a self,
        mailbox: Mailbox,
        grantee: &'a [u8; 32],
        id: &'a [u8; 32],
    ) -> StoreFuture<'a, bool> {
        self.op(
            "delete_inbox",
            self.inner.delete_inbox(mailbox, grantee, id),
        )
    }
    fn use_nonce<'a>(
        &'a self,
        nonce: &'a [u8; 16],
        now: u64,
        forget_before: u64,
    ) -> StoreFuture<'a, bool> {
        self.op("use_nonce", self.inner.use_nonce(nonce, now, forget_before))
    }
    fn shl_put(&self, row: ShlLinkRow, max_links: u64) -> StoreFuture<'static, ShlPut> {
        self.op("shl_put", self.inner.shl_put(row, max_links))
    }
    fn shl_refresh(
        &self,
        owner: [u8; 32],
        id: [u8; 32],
        files: Vec<(String, String)>,
        now: u64,
    ) -> StoreFuture<'static, ShlPut> {
        self.op("shl_refresh", self.inner.shl_refresh(owner, id, files, now))
    }
    fn shl_gate(&self, id: [u8; 32], now: u64, take: bool) -> StoreFuture<'static, ShlGate> {
        self.op("shl_gate", self.inner.shl_gate(id, now, take))
    }
    fn shl_refund(&self, id: [u8; 32]) -> StoreFuture<'static, ()> {
        self.op("shl_refund", self.inner.shl_refund(id))
    }
    fn shl_retrieve(
        &self,
        id: [u8; 32],
        recipient: String,
        now: u64,
        embed_max: u64,
        location_until: u64,
    ) -> StoreFuture<'static, Option<(bool, Vec<ShlFileOut>)>> {
        self.op(
            "shl_retrieve",
            self.inner
                .shl_retrieve(id, recipient, now, embed_max, location_until),
        )
    }
    fn shl_location(&self, token: [u8; 32], now: u64) -> StoreFuture<'static, Option<String>> {
        self.op("shl_location", self.inner.shl_location(token, now))
    }
    fn shl_list(&self, owner: [u8; 32]) -> StoreFuture<'static, Vec<ShlListing>> {
        self.op("shl_list", self.inner.shl_list(owner))
    }
    fn shl_delete(&self, owner: [u8; 32], id: [u8; 32]) -> StoreFuture<'static, bool> {
        self.op("shl_delete", self.inner.shl_delete(owner, id))
    }
    fn state_get(&self, owner: [u8; 32], slot: String) -> StoreFuture<'static, Option<Vec<u8>>> {
        self.op("state_get", self.inner.state_get(owner, slot))
    }
    fn state_put(
        &self,
        owner: [u8; 32],
        slot: String,
        version: u64,
        bytes: Vec<u8>,
    ) -> StoreFuture<'static, crate::relay::state::StatePut> {
        self.op(
            "state_put",
            self.inner.state_put(owner, slot, version, bytes),
        )
    }
}

/// An SRS store whose every operation is timed and whose failures are
/// counted.
pub struct MeteredSrs {
    inner: Arc<dyn SrsStore>,
    backend: &'static str,
}

impl MeteredSrs {
    /// Wraps `inner`, a store of the `backend` kind.
    pub fn new(inner: Arc<dyn SrsStore>, backend: &'static str) -> MeteredSrs {
        MeteredSrs { inner, backend }
    }

    fn op<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&dyn SrsStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let r = f(self.inner.as_ref());
        observe("srs", self.backend, op, started, r.is_err());
        r
    }
}

impl EmergencyStore for MeteredSrs {
    fn track(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<TrackRow>, StoreError> {
        self.op("track", |s| s.track(record, grant_id))
    }
    fn last_decision(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.op("last_decision", |s| s.last_decision(record, grant_id))
    }
    fn put_track(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        expected: Option<&TrackRow>,
        row: &TrackRow,
    ) -> Result<bool, StoreError> {
        self.op("put_track", |s| {
            s.put_track(record, grant_id, expected, row)
        })
    }
}

impl SrsStore for MeteredSrs {
    fn health(&self) -> Result<(), StoreError> {
        self.op("health", |s| s.health())
    }
    fn put_directory(&self, id: &[u8; 32], entry: &[u8]) -> Result<bool, StoreError> {
        self.op("put_directory", |s| s.put_directory(id, entry))
    }
    fn directory(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.op("directory", |s| s.directory(id))
    }
    fn latest_manifest(&self, record: &[u8; 32]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.op("latest_manifest", |s| s.latest_manifest(record))
    }
    fn latest_head(&self, record: &[u8; 32]) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        self.op("latest_head", |s| s.latest_head(record))
    }
    fn manifest(&self, record: &[u8; 32], version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.op("manifest", |s| s.manifest(record, version))
    }
    fn insert_manifest(
        &self,
        record: &[u8; 32],
        version: u64,
        owner: &[u8; 32],
        hash: &[u8; 32],
        bytes: &[u8],
    ) -> Result<Cas, StoreError> {
        self.op("insert_manifest", |s| {
            s.insert_manifest(record, version, owner, hash, bytes)
        })
    }
    fn manifest_hash(
        &self,
        record: &[u8; 32],
        version: u64,
    ) -> Result<Option<[u8; 32]>, StoreError> {
        self.op("manifest_hash", |s| s.manifest_hash(record, version))
    }
    fn record_owner(&self, record: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
        self.op("record_owner", |s| s.record_owner(record))
    }
    fn insert_grant(
        &self,
        grant_id: &[u8; 16],
        record: &[u8; 32],
        statement: &[u8],
        sealed_b2: &[u8],
    ) -> Result<GrantInsert, StoreError> {
        self.op("insert_grant", |s| {
            s.insert_grant(grant_id, record, statement, sealed_b2)
        })
    }
    fn grant(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
    ) -> Result<Option<GrantRow>, StoreError> {
        self.op("grant", |s| s.grant(record, grant_id))
    }
    fn grants_for_record(&self, record: &[u8; 32]) -> Result<Vec<GrantRow>, StoreError> {
        self.op("grants_for_record", |s| s.grants_for_record(record))
    }
    fn revoke(
        &self,
        record: &[u8; 32],
        grant_id: &[u8; 16],
        revocation: &[u8],
        receipt: &[u8],
    ) -> Result<(), StoreError> {
        self.op("revoke", |s| {
            s.revoke(record, grant_id, revocation, receipt)
        })
    }
    fn use_nonce(
        &self,
        nonce: &[u8; 16],
        now: u64,
        forget_before: u64,
    ) -> Result<bool, StoreError> {
        self.op("use_nonce", |s| s.use_nonce(nonce, now, forget_before))
    }
    fn append_audit_batch(
        &self,
        items: &[AuditWrite],
        forget_before: u64,
        sync: &mut dyn AuditSync,
    ) -> Result<(u64, Vec<Appended>), StoreError> {
        self.op("append_audit_batch", |s| {
            s.append_audit_batch(items, forget_before, sync)
        })
    }
    fn audit_since(&self, from: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.op("audit_since", |s| s.audit_since(from))
    }
    fn nonces_since(&self, since: u64) -> Result<Vec<([u8; 16], u64)>, StoreError> {
        self.op("nonces_since", |s| s.nonces_since(since))
    }
    fn audit_entries(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.op("audit_entries", |s| s.audit_entries())
    }
    fn audit_for_record(&self, record: &[u8; 32]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.op("audit_for_record", |s| s.audit_for_record(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::store::LocalStore;

    #[tokio::test]
    async fn a_failing_store_operation_is_timed_and_counted_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalStore::open(dir.path().join("relay")).unwrap();
        let store = MeteredRelay::new(Arc::new(local), "test-local");
        let m = metrics();
        let count = |op: &str| {
            m.store_latency
                .with_label_values(&["relay", "test-local", op])
                .get_sample_count()
        };
        let errors = |op: &str| {
            m.store_errors
                .with_label_values(&["relay", "test-local", op])
                .get()
        };
        store.health().await.unwrap();
        assert_eq!(store.blob_len(&[7; 32]).await.unwrap(), None);
        assert_eq!((count("health"), errors("health")), (1, 0));
        assert_eq!((count("blob_len"), errors("blob_len")), (1, 0));
        // The blob directory gone: the backend is not healthy.
        std::fs::remove_dir_all(dir.path().join("relay/blobs")).unwrap();
        assert!(store.health().await.is_err());
        assert_eq!((count("health"), errors("health")), (2, 1));
        // A blob written through the wrapper is timed piece by piece.
        std::fs::create_dir_all(dir.path().join("relay/blobs")).unwrap();
        let mut sink = store.create_blob(&[9; 32]).await.unwrap();
        sink.write(b"bytes").await.unwrap();
        assert!(sink.commit().await.unwrap());
        assert_eq!(count("blob_write"), 1);
        assert_eq!((count("blob_commit"), errors("blob_commit")), (1, 0));
        assert_eq!(store.blob_len(&[9; 32]).await.unwrap(), Some(5));
    }
}
