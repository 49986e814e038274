//! The relay's storage behind a small trait, [`RelayStore`], so that an
//! S3-compatible object store can be added without touching the handlers.
//! The default, [`FsStore`], is the filesystem: every object is written to a
//! temporary file, fsynced, and published with a create-only hard link (then
//! the directory is fsynced), so a crash leaves the whole object or nothing,
//! and nothing is ever overwritten in place.

use std::future::Future;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use sesphr_client::primitives::{os_rng, random_bytes};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A storage failure (never caused by request content).
#[derive(Debug, thiserror::Error)]
#[error("relay store: {0}")]
pub struct StoreError(#[from] std::io::Error);

/// A boxed future of a store operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;
/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// A blob being written; invisible until `commit`.
pub trait BlobSink: Send {
    /// Appends bytes.
    fn write<'a>(&'a mut self, data: &'a [u8]) -> StoreFuture<'a, ()>;
    /// Makes the blob durable and visible; `false` if it already existed.
    fn commit(self: Box<Self>) -> StoreFuture<'static, bool>;
    /// Discards what was written.
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()>;
}

/// The relay's durable state: blobs (with their uploader), manifests, inboxes.
pub trait RelayStore: Send + Sync {
    /// The length of a stored blob.
    fn blob_len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>>;
    /// Starts writing a blob.
    fn create_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>>;
    /// Streams `len` bytes of a blob from `start`.
    fn read_blob<'a>(
        &'a self,
        id: &'a [u8; 32],
        start: u64,
        len: u64,
    ) -> StoreFuture<'a, Option<ByteStream>>;
    /// Records the party that first uploaded a blob (create-only).
    fn set_blob_owner<'a>(&'a self, id: &'a [u8; 32], owner: &'a [u8; 32]) -> StoreFuture<'a, ()>;
    /// The party that first uploaded a blob.
    fn blob_owner<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>>;
    /// Deletes a blob (and its owner record); `false` if absent.
    fn delete_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool>;
    /// The latest manifest version of a record.
    fn latest_manifest<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>>;
    /// One manifest version.
    fn manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
    ) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Stores a manifest version unless it exists (then `false`).
    fn create_manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
        bytes: &'a [u8],
    ) -> StoreFuture<'a, bool>;
    /// Stores an inbox item unless it exists (then `false`).
    fn put_inbox<'a>(
        &'a self,
        grantee: &'a [u8; 32],
        grant: &'a [u8; 16],
        bytes: &'a [u8],
    ) -> StoreFuture<'a, bool>;
    /// Every inbox item of a party.
    fn inbox<'a>(&'a self, grantee: &'a [u8; 32]) -> StoreFuture<'a, Vec<Vec<u8>>>;
}

/// The filesystem store.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
}

fn tmp_name(root: &Path) -> PathBuf {
    root.join("tmp")
        .join(hex::encode(random_bytes::<16, _>(&mut os_rng())))
}

async fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    tokio::fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

/// Publishes a synced temporary file at `dest` unless `dest` exists.
async fn link_create_only(tmp: &Path, dest: &Path) -> Result<bool, StoreError> {
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

async fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl FsStore {
    /// Opens (creating) the store under `root`; removes temporary files a
    /// crash may have left (they were never published).
    pub fn open(root: PathBuf) -> Result<FsStore, StoreError> {
        for d in ["blobs", "owners", "manifests", "inbox", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        for e in std::fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        Ok(FsStore { root })
    }

    fn blob_path(&self, id: &[u8; 32]) -> PathBuf {
        self.root.join("blobs").join(hex::encode(id))
    }

    async fn publish(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        if !tokio::fs::try_exists(dir).await? {
            tokio::fs::create_dir_all(dir).await?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent).await?;
            }
        }
        let tmp = tmp_name(&self.root);
        let written = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(bytes).await?;
            f.sync_all().await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        link_create_only(&tmp, &dir.join(name)).await
    }
}

/// Blob I/O moves in pieces this large: every `tokio::fs` call is a hop to
/// the blocking pool, so 64 KiB pieces cost a fifth of the download speed.
const BLOB_IO_BUFFER: usize = 1 << 20;

/// Writeback of an upload is started every this many bytes, so the page
/// cache drains to disk while the body still arrives and the final fsync
/// has little left to write.
const WRITEBACK_STEP: u64 = 32 << 20;

struct FsSink {
    tmp: PathBuf,
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
            let flushed = match file.flush().await {
                Ok(()) => file.into_inner().sync_all().await,
                Err(e) => Err(e),
            };
            if let Err(e) = flushed {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e.into());
            }
            link_create_only(&tmp, &dest).await
        })
    }
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()> {
        Box::pin(async move {
            let FsSink { tmp, file, .. } = *self;
            drop(file);
            let _ = tokio::fs::remove_file(&tmp).await;
            Ok(())
        })
    }
}

impl RelayStore for FsStore {
    fn blob_len<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.blob_path(id)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn create_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Box<dyn BlobSink>> {
        Box::pin(async move {
            let tmp = tmp_name(&self.root);
            let file = tokio::fs::File::create(&tmp).await?;
            Ok(Box::new(FsSink {
                tmp,
                dest: self.blob_path(id),
                file: tokio::io::BufWriter::with_capacity(BLOB_IO_BUFFER, file),
                written: 0,
                writeback_from: 0,
                writeback: None,
            }) as Box<dyn BlobSink>)
        })
    }

    fn read_blob<'a>(
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

    fn set_blob_owner<'a>(&'a self, id: &'a [u8; 32], owner: &'a [u8; 32]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.publish(&self.root.join("owners"), &hex::encode(id), owner)
                .await?;
            Ok(())
        })
    }

    fn blob_owner<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<[u8; 32]>> {
        Box::pin(async move {
            Ok(read_opt(&self.root.join("owners").join(hex::encode(id)))
                .await?
                .and_then(|b| b.try_into().ok()))
        })
    }

    fn delete_blob<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let existed = match tokio::fs::remove_file(self.blob_path(id)).await {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(e.into()),
            };
            let _ = tokio::fs::remove_file(self.root.join("owners").join(hex::encode(id))).await;
            sync_dir(&self.root.join("blobs")).await?;
            Ok(existed)
        })
    }

    fn latest_manifest<'a>(&'a self, record: &'a [u8; 32]) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let dir = self.root.join("manifests").join(hex::encode(record));
            let mut rd = match tokio::fs::read_dir(&dir).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut latest = None;
            while let Some(e) = rd.next_entry().await? {
                if let Some(v) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                    latest = latest.max(Some(v));
                }
            }
            Ok(latest)
        })
    }

    fn manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            read_opt(
                &self
                    .root
                    .join("manifests")
                    .join(hex::encode(record))
                    .join(format!("{version:020}")),
            )
            .await
        })
    }

    fn create_manifest<'a>(
        &'a self,
        record: &'a [u8; 32],
        version: u64,
        bytes: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let dir = self.root.join("manifests").join(hex::encode(record));
            self.publish(&dir, &format!("{version:020}"), bytes).await
        })
    }

    fn put_inbox<'a>(
        &'a self,
        grantee: &'a [u8; 32],
        grant: &'a [u8; 16],
        bytes: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let dir = self.root.join("inbox").join(hex::encode(grantee));
            self.publish(&dir, &hex::encode(grant), bytes).await
        })
    }

    fn inbox<'a>(&'a self, grantee: &'a [u8; 32]) -> StoreFuture<'a, Vec<Vec<u8>>> {
        Box::pin(async move {
            let dir = self.root.join("inbox").join(hex::encode(grantee));
            let mut out = Vec::new();
            let mut rd = match tokio::fs::read_dir(&dir).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e.into()),
            };
            while let Some(e) = rd.next_entry().await? {
                out.push(tokio::fs::read(e.path()).await?);
            }
            Ok(out)
        })
    }
}
