//! The relay's blob bytes behind one trait, [`Blobs`]: how long a blob is,
//! a create-only streamed write (through [`BlobSink`]), a ranged streamed
//! read, a delete, and a health check. Who owns a blob, quotas and
//! everything else small stay in the relay's metadata ([`super::store`]).
//!
//! Two implementations:
//!
//! - [`FsBlobs`], the default (`--blob-store file`): one file per blob under
//!   `data/relay/blobs`, written to a temporary file, fsynced, and published
//!   with a create-only hard link (then the directory is fsynced), so a
//!   crash leaves the whole blob or nothing, and nothing is ever overwritten.
//! - [`ObjectBlobs`], over the `object_store` crate: in memory
//!   (`--blob-store memory`, tests and trials only), a local directory (the
//!   shared test suite), or any S3-compatible service
//!   (`--blob-store s3://bucket[/prefix]`). Blobs are the objects
//!   `[prefix/]blobs/<hex id>`. A blob of at most one part ([`PART_BYTES`])
//!   is buffered and published with one create-only `PUT`
//!   (`If-None-Match: *`). A larger one is streamed as a multipart upload to
//!   a temporary key `[prefix/]tmp/<random>` (at most [`PARTS_IN_FLIGHT`]
//!   parts in flight, so memory stays bounded whatever the size), then
//!   published with a create-only copy and the temporary object deleted:
//!   `object_store` 0.14 completes every multipart upload unconditionally
//!   (its `MultipartUpload::complete` and `MultipartStore::complete_multipart`
//!   both send no precondition), so completing at the blob's own key could
//!   overwrite a blob another relay published meanwhile. Either way, two
//!   relays racing on one blob both succeed and one object results: the
//!   loser's publish answers "already exists" ([`BlobSink::commit`] is
//!   `false`).
//!
//! A blob's bytes are checked against its address by the relay as they
//! stream ([`super::Relay::put_blob`]), before [`BlobSink::commit`]; a
//! mismatch, a short body or a client that goes away aborts the sink
//! (multipart upload aborted, temporary object deleted), and a sink dropped
//! without either cleans up after itself the same way.

use std::io::SeekFrom;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    WriteMultipart,
};
use sesphr_client::primitives::{os_rng, random_bytes};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::store::{BlobSink, ByteStream, StoreError, StoreFuture};

/// The bytes of the relay's blobs.
pub trait Blobs: Send + Sync + std::fmt::Debug {
    /// The length of a stored blob.
    fn len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>>;
    /// Starts writing a blob (create-only: published at `commit` unless it
    /// exists by then).
    fn create<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>>;
    /// Streams `len` bytes of a blob from `start` (within its length).
    fn read<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>>;
    /// Deletes a blob; `false` if it was absent.
    fn delete<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool>;
    /// Whether the backend answers (a cheap request; for health checks).
    fn health(&self) -> StoreFuture<'_, ()>;
}

fn store_err(msg: impl std::fmt::Display) -> StoreError {
    StoreError::from(std::io::Error::other(msg.to_string()))
}

/// Where the relay keeps its blobs (`--blob-store`).
#[derive(Clone, PartialEq, Eq)]
pub enum BlobStoreUrl {
    /// Files under `data/relay/blobs` ([`FsBlobs`]; the default).
    File,
    /// In memory: gone when the process stops (tests and trials only).
    Memory,
    /// An S3 bucket, keys under `prefix` (endpoint, region and credentials
    /// from the `AWS_*` environment, then `options`).
    S3 {
        /// The bucket.
        bucket: String,
        /// A key prefix without leading or trailing `/` (may be empty).
        prefix: String,
        /// Settings applied after the environment's, as
        /// `object_store` configuration keys (`aws_endpoint`,
        /// `aws_access_key_id`, …): for tests that run several stores in
        /// one process. Never printed (a value may be a secret).
        options: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for BlobStoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStoreUrl::S3 {
                bucket,
                prefix,
                options,
            } => {
                let keys: Vec<&str> = options.iter().map(|(k, _)| k.as_str()).collect();
                write!(f, "s3://{bucket}/{prefix} (options set: {keys:?})")
            }
            other => write!(f, "{other}"),
        }
    }
}

impl std::fmt::Display for BlobStoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStoreUrl::File => f.write_str("file"),
            BlobStoreUrl::Memory => f.write_str("memory"),
            BlobStoreUrl::S3 { bucket, prefix, .. } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            BlobStoreUrl::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::str::FromStr for BlobStoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<BlobStoreUrl, String> {
        match s {
            "file" => return Ok(BlobStoreUrl::File),
            "memory" => return Ok(BlobStoreUrl::Memory),
            _ => {}
        }
        let rest = s.strip_prefix("s3://").ok_or_else(|| {
            format!("blob store {s:?}: expected file, memory or s3://bucket[/prefix]")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(format!(
                "blob store {s:?}: a bucket name is 3 to 63 lowercase letters, digits, '-' or '.'"
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix
            .split('/')
            .any(|seg| !prefix.is_empty() && (seg.is_empty() || seg == "." || seg == ".."))
            || prefix.chars().any(|c| c.is_control() || c == '\\')
        {
            return Err(format!(
                "blob store {s:?}: the prefix must be plain path segments"
            ));
        }
        Ok(BlobStoreUrl::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            options: Vec::new(),
        })
    }
}

/// The largest blob an S3 bucket takes here: a create-only copy (how a
/// multipart upload is published) copies at most 5 GiB in one request.
pub const S3_MAX_BLOB_BYTES: u64 = 5 << 30;

/// Opens the configured blob store for the relay whose data directory is
/// `root` (`data/relay`), checks that it answers and honours create-only
/// writes, and removes what a crash left behind (temporary files, or
/// temporary objects older than [`TMP_MAX_AGE`]). Fails with a message
/// that names the store (never a credential) if any of it fails.
pub fn open(
    url: &BlobStoreUrl,
    root: &FsPath,
    max_blob_bytes: u64,
) -> Result<Arc<dyn Blobs>, StoreError> {
    match url {
        BlobStoreUrl::File => Ok(Arc::new(FsBlobs::open(root.to_path_buf())?)),
        BlobStoreUrl::Memory => {
            tracing::warn!("blobs are kept in memory: they are gone when the relay stops");
            Ok(Arc::new(ObjectBlobs::new(
                Arc::new(InMemory::new()),
                "",
                "memory",
            )?))
        }
        BlobStoreUrl::S3 { .. } => {
            if max_blob_bytes > S3_MAX_BLOB_BYTES {
                return Err(store_err(format!(
                    "blob store {url}: blobs of up to {S3_MAX_BLOB_BYTES} bytes can be stored in \
                     a bucket; --max-blob-bytes is {max_blob_bytes}"
                )));
            }
            let blobs = ObjectBlobs::s3(url)?;
            // The checks run on a runtime of their own (start-up may be
            // called from any runtime, or none), over a client of their own
            // (a connection pool is bound to the runtime that made it),
            // which gives up after two retries: a relay that cannot reach
            // its bucket says so in seconds.
            let checker = ObjectBlobs::s3_with(
                url,
                Some(object_store::RetryConfig {
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(10),
                    ..Default::default()
                }),
            )?;
            std::thread::scope(|s| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(StoreError::from)?;
                    rt.block_on(async {
                        tokio::time::timeout(Duration::from_secs(60), checker.start_checks())
                            .await
                            .map_err(|_| {
                                store_err(format!("blob store {url}: no answer within 60 s"))
                            })?
                    })
                })
                .join()
                .map_err(|_| store_err("blob store check panicked"))?
            })?;
            tracing::info!(store = %url, "blob store ready");
            Ok(Arc::new(blobs))
        }
    }
}

// ---------------------------------------------------------------------------
// Files.

/// Blobs as files under `root/blobs`, written through `root/tmp`.
#[derive(Debug)]
pub struct FsBlobs {
    root: PathBuf,
}

/// Blob I/O moves in pieces this large: every `tokio::fs` call is a hop to
/// the blocking pool, so 64 KiB pieces cost a fifth of the download speed.
const BLOB_IO_BUFFER: usize = 1 << 20;

/// Writeback of an upload is started every this many bytes, so the page
/// cache drains to disk while the body still arrives and the final fsync
/// has little left to write.
const WRITEBACK_STEP: u64 = 32 << 20;

impl FsBlobs {
    /// Opens (creating) the blob directories under `root`; removes the
    /// temporary files a crash may have left (they were never published).
    pub fn open(root: PathBuf) -> Result<FsBlobs, StoreError> {
        for d in ["blobs", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        for e in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        Ok(FsBlobs { root })
    }

    fn blob_path(&self, id: &[u8; 32]) -> PathBuf {
        self.root.join("blobs").join(hex::encode(id))
    }

    /// Every stored blob's id, in ascending order (files whose name is not
    /// an id are not blobs and are left out).
    pub fn ids(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut ids = Vec::new();
        for e in std::fs::read_dir(self.root.join("blobs"))? {
            let name = e?.file_name();
            let mut id = [0u8; 32];
            if let Some(name) = name.to_str() {
                if name.len() == 64
                    && !name.bytes().any(|b| b.is_ascii_uppercase())
                    && hex::decode_to_slice(name, &mut id).is_ok()
                {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }
}

fn tmp_name(root: &FsPath) -> PathBuf {
    root.join("tmp")
        .join(hex::encode(random_bytes::<16, _>(&mut os_rng())))
}

async fn sync_dir(dir: &FsPath) -> Result<(), StoreError> {
    tokio::fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

/// Publishes a synced temporary file at `dest` unless `dest` exists.
async fn link_create_only(tmp: &FsPath, dest: &FsPath) -> Result<bool, StoreError> {
    let linked = tokio::fs::hard_link(tmp, dest).await;
    let _ = tokio::fs::remove_file(tmp).await;
    match linked {
        Ok(()) => {
            if let Some(parent) = dest.parent() {
                sync_dir(parent).await?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A temporary file removed when dropped unless `keep` was called: a sink
/// dropped mid-upload (its request cancelled) leaves nothing behind.
struct TmpFile(Option<PathBuf>);

impl TmpFile {
    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

struct FsSink {
    tmp: TmpFile,
    dest: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    written: u64,
    writeback_from: u64,
    writeback: Option<tokio::task::JoinHandle<()>>,
}

impl FsSink {
    /// Starts writing back what was written so far on a duplicate of the
    /// file's descriptor, in the background (`fdatasync` on a blocking
    /// thread), unless the previous one still runs. Failure is harmless: the
    /// fsync at commit writes everything anyway.
    async fn start_writeback(&mut self) {
        self.writeback_from = self.written;
        if self.writeback.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if let Ok(dup) = self.file.get_ref().try_clone().await {
            let dup = dup.into_std().await;
            self.writeback = Some(tokio::task::spawn_blocking(move || {
                let _ = dup.sync_data();
            }));
        }
    }
}

impl BlobSink for FsSink {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.file.write_all(data).await?;
            self.written += data.len() as u64;
            if self.written - self.writeback_from >= WRITEBACK_STEP {
                self.start_writeback().await;
            }
            Ok(())
        })
    }
    fn commit(self: Box<Self>) -> StoreFuture<'static, bool> {
        Box::pin(async move {
            let FsSink {
                tmp,
                dest,
                mut file,
                ..
            } = *self;
            // On failure `tmp` is dropped, which removes the file.
            file.flush().await?;
            file.into_inner().sync_all().await?;
            link_create_only(&tmp.keep(), &dest).await
        })
    }
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()> {
        Box::pin(async move {
            let FsSink { tmp, file, .. } = *self;
            drop(file);
            drop(tmp);
            Ok(())
        })
    }
}

impl Blobs for FsBlobs {
    fn len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.blob_path(id)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn create<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>> {
        Box::pin(async move {
            let tmp = tmp_name(&self.root);
            let file = tokio::fs::File::create(&tmp).await?;
            Ok(Box::new(FsSink {
                tmp: TmpFile(Some(tmp)),
                dest: self.blob_path(id),
                file: tokio::io::BufWriter::with_capacity(BLOB_IO_BUFFER, file),
                written: 0,
                writeback_from: 0,
                writeback: None,
            }) as Box<dyn BlobSink>)
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>> {
        Box::pin(async move {
            let mut file = match tokio::fs::File::open(self.blob_path(id)).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            file.seek(SeekFrom::Start(start)).await?;
            let stream =
                tokio_util::io::ReaderStream::with_capacity(file.take(len), BLOB_IO_BUFFER);
            Ok(Some(Box::pin(stream) as ByteStream))
        })
    }

    fn delete<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let existed = match tokio::fs::remove_file(self.blob_path(id)).await {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(e.into()),
            };
            sync_dir(&self.root.join("blobs")).await?;
            Ok(existed)
        })
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            tokio::fs::metadata(self.root.join("blobs")).await?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------
// object_store.

/// Blobs up to this size are buffered and put in one request; larger ones
/// are uploaded in parts of this size (S3 takes parts of 5 MiB to 5 GiB, and
/// at most 10,000 of them: 8 MiB parts reach 78 GiB).
pub const PART_BYTES: usize = 8 << 20;

/// Parts of one upload in flight at once; with the part being filled, an
/// upload holds at most `(PARTS_IN_FLIGHT + 1) × PART_BYTES` in memory.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Temporary objects older than this are a crash's leftovers and removed at
/// start (a live one exists only while its upload is being published; other
/// relays on the bucket may be publishing theirs right now).
pub const TMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// Blobs in an `object_store` store (memory, a directory, S3).
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    /// `""`, or a prefix ending in `/`.
    prefix: String,
    /// What the store is, for messages (never a credential).
    name: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectBlobs({})", self.name)
    }
}

impl std::fmt::Display for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl ObjectBlobs {
    /// Blobs in `store` under `prefix` (`""` or plain segments), `name`
    /// saying what it is in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        name: &str,
    ) -> Result<ObjectBlobs, StoreError> {
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| s.is_empty()) && !prefix.is_empty() {
            return Err(store_err(format!("bad key prefix {prefix:?}")));
        }
        Ok(ObjectBlobs {
            store,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            name: name.to_string(),
        })
    }

    /// Blobs in a local directory through `object_store`'s
    /// `LocalFileSystem` (files and directories fsynced).
    pub fn local_dir(dir: &FsPath) -> Result<ObjectBlobs, StoreError> {
        std::fs::create_dir_all(dir)?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| store_err(format!("blob directory {}: {e}", dir.display())))?
            .with_fsync(true);
        ObjectBlobs::new(Arc::new(fs), "", &format!("file://{}", dir.display()))
    }

    /// Blobs in the S3 bucket `url` names: endpoint, region and credentials
    /// from the `AWS_*` environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, …),
    /// then the URL's options. Create-only copies use `If-None-Match: *`
    /// unless `AWS_COPY_IF_NOT_EXISTS` says otherwise (`multipart` for
    /// Amazon S3 itself).
    pub fn s3(url: &BlobStoreUrl) -> Result<ObjectBlobs, StoreError> {
        ObjectBlobs::s3_with(url, None)
    }

    fn s3_with(
        url: &BlobStoreUrl,
        retry: Option<object_store::RetryConfig>,
    ) -> Result<ObjectBlobs, StoreError> {
        let BlobStoreUrl::S3 {
            bucket,
            prefix,
            options,
        } = url
        else {
            return Err(store_err(format!("{url} is not an S3 bucket")));
        };
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in options {
            let key: AmazonS3ConfigKey = k
                .parse()
                .map_err(|_| store_err(format!("blob store {url}: unknown S3 option {k}")))?;
            b = b.with_config(key, v);
        }
        if b.get_config_value(&AmazonS3ConfigKey::CopyIfNotExists)
            .is_none()
        {
            b = b.with_copy_if_not_exists(S3CopyIfNotExists::Header(
                "If-None-Match".into(),
                "*".into(),
            ));
        }
        if let Some(r) = retry {
            b = b.with_retry(r);
        }
        // The builder's errors name settings, never their secret values.
        let s3 = b
            .build()
            .map_err(|e| store_err(format!("blob store {url}: {e}")))?;
        ObjectBlobs::new(Arc::new(s3), prefix, &url.to_string())
    }

    fn blob_key(&self, id: &[u8; 32]) -> Path {
        Path::from(format!("{}blobs/{}", self.prefix, hex::encode(id)))
    }

    fn tmp_dir(&self) -> Path {
        Path::from(format!("{}tmp", self.prefix))
    }

    fn tmp_key(&self, what: &str) -> Path {
        let r = hex::encode(random_bytes::<16, _>(&mut os_rng()));
        Path::from(format!("{}tmp/{what}{r}", self.prefix))
    }

    fn err(&self, what: &str, e: object_store::Error) -> StoreError {
        store_err(format!("blob store {}: {what}: {e}", self.name))
    }

    /// Start-up: the store answers, honours create-only puts and copies
    /// (without them two relays could overwrite each other's uploads), and
    /// old temporary objects are removed.
    pub async fn start_checks(&self) -> Result<(), StoreError> {
        self.health().await?;
        let a = self.tmp_key("probe-");
        let b = self.tmp_key("probe-");
        let result = self.probe_create_only(&a, &b).await;
        for k in [&a, &b] {
            let _ = self.store.delete(k).await;
        }
        result?;
        self.remove_old_tmp(TMP_MAX_AGE).await
    }

    async fn probe_create_only(&self, a: &Path, b: &Path) -> Result<(), StoreError> {
        let create = || PutOptions::from(PutMode::Create);
        let probe = || PutPayload::from_static(b"sesphr create-only probe");
        self.store
            .put_opts(a, probe(), create())
            .await
            .map_err(|e| self.err("create-only put", e))?;
        match self.store.put_opts(a, probe(), create()).await {
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Ok(_) => {
                return Err(store_err(format!(
                    "blob store {}: a create-only put (If-None-Match: *) overwrote an existing \
                     object; the relay needs a service that honours it",
                    self.name
                )))
            }
            Err(e) => return Err(self.err("create-only put", e)),
        }
        self.store
            .copy_if_not_exists(a, b)
            .await
            .map_err(|e| self.err("create-only copy (AWS_COPY_IF_NOT_EXISTS)", e))?;
        match self.store.copy_if_not_exists(a, b).await {
            Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Ok(()) => Err(store_err(format!(
                "blob store {}: a create-only copy overwrote an existing object; set \
                 AWS_COPY_IF_NOT_EXISTS to what the service honours",
                self.name
            ))),
            Err(e) => Err(self.err("create-only copy (AWS_COPY_IF_NOT_EXISTS)", e)),
        }
    }

    /// Removes temporary objects last modified more than `age` ago.
    pub async fn remove_old_tmp(&self, age: Duration) -> Result<(), StoreError> {
        let before = chrono_now_minus(age);
        let old: Vec<Path> = self
            .store
            .list(Some(&self.tmp_dir()))
            .try_filter_map(|m| async move {
                Ok((m.last_modified.timestamp_millis() < before).then_some(m.location))
            })
            .try_collect()
            .await
            .map_err(|e| self.err("listing temporary objects", e))?;
        for k in &old {
            match self.store.delete(k).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err("removing a temporary object", e)),
            }
        }
        if !old.is_empty() {
            tracing::info!(count = old.len(), store = %self.name, "removed old temporary objects");
        }
        Ok(())
    }
}

/// Unix ms `age` ago.
fn chrono_now_minus(age: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(age).as_millis() as i64
}

/// An object stream made `Sync` (what [`ByteStream`] asks of a body): it is
/// only ever polled through `&mut`, so the mutex is never locked.
struct SyncStream(
    std::sync::Mutex<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>>,
);

impl Stream for SyncStream {
    type Item = std::io::Result<Bytes>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.poll_next_unpin(cx)
    }
}

enum SinkState {
    /// Up to one part, not yet sent.
    Buffer(Vec<u8>),
    /// A multipart upload to the temporary key.
    Multipart(WriteMultipart),
    /// Committed or aborted.
    Done,
}

struct ObjectSink {
    store: Arc<dyn ObjectStore>,
    name: String,
    dest: Path,
    tmp: Path,
    state: SinkState,
}

impl ObjectSink {
    fn err(&self, what: &str, e: object_store::Error) -> StoreError {
        store_err(format!("blob store {}: {what}: {e}", self.name))
    }
}

impl Drop for ObjectSink {
    /// A sink dropped mid-upload (its request cancelled) aborts the
    /// multipart upload in the background, so no parts stay behind.
    fn drop(&mut self) {
        if let SinkState::Multipart(w) = std::mem::replace(&mut self.state, SinkState::Done) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let name = self.name.clone();
                rt.spawn(async move {
                    if let Err(e) = w.abort().await {
                        tracing::warn!(store = %name, %e, "aborting a dropped upload failed");
                    }
                });
            }
        }
    }
}

impl BlobSink for ObjectSink {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match &mut self.state {
                SinkState::Buffer(buf) if buf.len() + data.len() <= PART_BYTES => {
                    buf.extend_from_slice(data);
                    return Ok(());
                }
                SinkState::Buffer(buf) => {
                    let first = Bytes::from(std::mem::take(buf));
                    let upload = match self.store.put_multipart(&self.tmp).await {
                        Ok(u) => u,
                        Err(e) => return Err(self.err("starting a multipart upload", e)),
                    };
                    let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                    w.put(first);
                    self.state = SinkState::Multipart(w);
                }
                SinkState::Multipart(_) => {}
                SinkState::Done => return Err(store_err("write after the end of an upload")),
            }
            let SinkState::Multipart(w) = &mut self.state else {
                return Err(store_err("upload state lost"));
            };
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(self.err("uploading a part", e));
            }
            w.write(data);
            Ok(())
        })
    }

    fn commit(mut self: Box<Self>) -> StoreFuture<'static, bool> {
        let state = std::mem::replace(&mut self.state, SinkState::Done);
        let (store, name, dest, tmp) = (
            self.store.clone(),
            self.name.clone(),
            self.dest.clone(),
            self.tmp.clone(),
        );
        let err = move |what: &str, e: object_store::Error| {
            store_err(format!("blob store {name}: {what}: {e}"))
        };
        // On a task of its own: a caller that goes away mid-publish (its
        // request cancelled) does not leave a half-published upload.
        let publish = tokio::spawn(async move {
            match state {
                SinkState::Buffer(buf) => {
                    let put = store
                        .put_opts(&dest, Bytes::from(buf).into(), PutMode::Create.into())
                        .await;
                    match put {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                        Err(e) => Err(err("create-only put", e)),
                    }
                }
                SinkState::Multipart(w) => {
                    // `finish` aborts the upload itself if it fails.
                    w.finish()
                        .await
                        .map_err(|e| err("completing a multipart upload", e))?;
                    let copied = store.copy_if_not_exists(&tmp, &dest).await;
                    if let Err(e) = store.delete(&tmp).await {
                        tracing::warn!(%e, "removing a temporary object failed (removed at a later start)");
                    }
                    match copied {
                        Ok(()) => Ok(true),
                        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                        Err(e) => Err(err("create-only copy", e)),
                    }
                }
                SinkState::Done => Err(store_err("commit after the end of an upload")),
            }
        });
        Box::pin(async move {
            publish
                .await
                .map_err(|e| store_err(format!("publishing a blob: {e}")))?
        })
    }

    fn abort(mut self: Box<Self>) -> StoreFuture<'static, ()> {
        let state = std::mem::replace(&mut self.state, SinkState::Done);
        let name = self.name.clone();
        Box::pin(async move {
            if let SinkState::Multipart(w) = state {
                // Best effort: the upload is invisible either way, and the
                // client's error is what its request answers.
                if let Err(e) = w.abort().await {
                    tracing::warn!(store = %name, %e, "aborting an upload failed");
                }
            }
            Ok(())
        })
    }
}

impl Blobs for ObjectBlobs {
    fn len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            match self.store.head(&self.blob_key(id)).await {
                Ok(m) => Ok(Some(m.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err("head", e)),
            }
        })
    }

    fn create<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>> {
        Box::pin(async move {
            Ok(Box::new(ObjectSink {
                store: self.store.clone(),
                name: self.name.clone(),
                dest: self.blob_key(id),
                tmp: self.tmp_key(""),
                state: SinkState::Buffer(Vec::new()),
            }) as Box<dyn BlobSink>)
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>> {
        Box::pin(async move {
            if len == 0 {
                // A zero-length range is an error to S3; nothing to read.
                return Ok(self
                    .len(id)
                    .await?
                    .map(|_| Box::pin(futures_util::stream::empty()) as ByteStream));
            }
            let opts = GetOptions::new().with_range(Some(GetRange::Bounded(start..start + len)));
            let got = match self.store.get_opts(&self.blob_key(id), opts).await {
                Ok(g) => g,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err("get", e)),
            };
            let stream = got.into_stream().map_err(std::io::Error::other).boxed();
            Ok(Some(
                Box::pin(SyncStream(std::sync::Mutex::new(stream))) as ByteStream
            ))
        })
    }

    fn delete<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // S3 answers a delete of a missing key with success: ask first.
            if self.len(id).await?.is_none() {
                return Ok(false);
            }
            match self.store.delete(&self.blob_key(id)).await {
                Ok(()) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.err("delete", e)),
            }
        })
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // A listing names the bucket (a missing one is an error, where
            // a HEAD of a missing key could not tell).
            let probe = Path::from(format!("{}health", self.prefix));
            self.store
                .list_with_delimiter(Some(&probe))
                .await
                .map_err(|e| self.err("listing", e))?;
            Ok(())
        })
    }
}
