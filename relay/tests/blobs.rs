//! One blob test suite over every backend of [`Blobs`]: `object_store`'s
//! memory and local-directory stores, the relay's own files ([`FsBlobs`]),
//! and S3 on a real SeaweedFS (started per test by the test kit). Each case
//! says what must hold whatever the backend: create-only publishing (two
//! writers racing on one id both succeed, one object results, nothing is
//! overwritten), large blobs streamed in parts and read back by ranges
//! across part boundaries, an abort (or a dropped upload) leaves nothing,
//! deletes, missing blobs, lengths.
#![cfg(test)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use sesphr_relay::relay::blobs::{Blobs, FsBlobs, ObjectBlobs, PART_BYTES};
use sesphr_testkit::seaweed::SeaweedFs;

/// A backend under test, with what tells whether anything was left behind.
struct Backend {
    blobs: Arc<dyn Blobs>,
    leftovers: Leftovers,
    _keep: Keep,
}

enum Leftovers {
    /// Files in these directories (temporary files, multipart staging).
    Dirs(Vec<PathBuf>),
    /// Objects under `tmp/` in this store (nothing else can be seen of an
    /// in-memory upload in progress).
    Store(Arc<dyn ObjectStore>),
    /// Objects under `tmp/`, and multipart uploads in progress.
    Seaweed(Arc<dyn ObjectStore>),
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Seaweed(#[allow(dead_code)] SeaweedFs),
    Nothing,
}

impl Backend {
    async fn memory() -> Backend {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        Backend {
            blobs: Arc::new(ObjectBlobs::new(store.clone(), "", "memory").unwrap()),
            leftovers: Leftovers::Store(store),
            _keep: Keep::Nothing,
        }
    }

    async fn object_dir() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            blobs: Arc::new(ObjectBlobs::local_dir(dir.path()).unwrap()),
            leftovers: Leftovers::Dirs(vec![dir.path().join("tmp")]),
            _keep: Keep::Dir(dir),
        }
    }

    async fn files() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            blobs: Arc::new(FsBlobs::open(dir.path().to_path_buf()).unwrap()),
            leftovers: Leftovers::Dirs(vec![dir.path().join("tmp")]),
            _keep: Keep::Dir(dir),
        }
    }

    async fn s3() -> Backend {
        let sw = SeaweedFs::start().await;
        let blobs = sw.blobs("suite");
        blobs.start_checks().await.unwrap();
        let raw = raw_s3(&sw);
        Backend {
            blobs: Arc::new(blobs),
            leftovers: Leftovers::Seaweed(raw),
            _keep: Keep::Seaweed(sw),
        }
    }

    fn seaweed(&self) -> Option<&SeaweedFs> {
        match &self._keep {
            Keep::Seaweed(s) => Some(s),
            _ => None,
        }
    }

    /// Temporary objects or files, and uploads in progress, after waiting a
    /// little for background aborts.
    async fn leftovers(&self) -> usize {
        let mut n = 0;
        for _ in 0..50 {
            n = match &self.leftovers {
                Leftovers::Dirs(dirs) => dirs.iter().map(|d| count_files(d)).sum(),
                Leftovers::Store(s) => tmp_objects(s.as_ref(), "").await,
                Leftovers::Seaweed(s) => {
                    tmp_objects(s.as_ref(), "suite/").await
                        + self.seaweed().unwrap().uploads_in_progress().await
                }
            };
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n
    }

    /// Stored blobs (objects or files under `blobs/`).
    async fn stored(&self) -> usize {
        match (&self.leftovers, &self._keep) {
            (Leftovers::Dirs(_), Keep::Dir(d)) => count_files(&d.path().join("blobs")),
            (Leftovers::Store(s), _) => objects(s.as_ref(), "blobs").await,
            (Leftovers::Seaweed(s), _) => objects(s.as_ref(), "suite/blobs").await,
            _ => unreachable!(),
        }
    }
}

/// The bucket as a plain `object_store` client, to look behind the relay.
fn raw_s3(sw: &SeaweedFs) -> Arc<dyn ObjectStore> {
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(&sw.bucket);
    for (k, v) in sw.options() {
        b = b.with_config(k.parse().unwrap(), v);
    }
    Arc::new(b.build().unwrap())
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

async fn objects(store: &dyn ObjectStore, prefix: &str) -> usize {
    let prefix = object_store::path::Path::from(prefix);
    let all: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    all.len()
}

async fn tmp_objects(store: &dyn ObjectStore, prefix: &str) -> usize {
    objects(store, &format!("{prefix}tmp")).await
}

fn id(seed: u8) -> [u8; 32] {
    let mut id = [seed; 32];
    id[0] = 0xb1;
    id
}

/// `len` bytes that differ at every offset a test reads (xorshift).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut state = seed | 1;
    sesphr_testkit::deploy::fill_pseudo_random(&mut state, &mut out);
    out
}

async fn put(blobs: &dyn Blobs, id: &[u8; 32], data: &[u8], piece: usize) -> bool {
    let mut sink = blobs.create(id).await.unwrap();
    for p in data.chunks(piece) {
        sink.write(p).await.unwrap();
    }
    sink.commit().await.unwrap()
}

async fn read_all(blobs: &dyn Blobs, id: &[u8; 32], start: u64, len: u64) -> Vec<u8> {
    let stream = blobs.read(id, start, len).await.unwrap().expect("stored");
    let pieces: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    pieces.concat()
}

// ---------------------------------------------------------------------------
// The cases.

/// Two writers of one id at once, small (one put) and large (multipart):
/// both succeed, exactly one reports it created the blob, one object holds
/// the bytes, and nothing temporary is left.
async fn race(b: Backend) {
    for (seed, len) in [(1u8, 3000usize), (2, 2 * PART_BYTES + 12_345)] {
        let data = Arc::new(bytes(seed as u64, len));
        let blob = id(seed);
        let writers = (0..2).map(|_| {
            let (blobs, data) = (b.blobs.clone(), data.clone());
            tokio::spawn(async move {
                // Both write everything before either commits.
                let mut sink = blobs.create(&blob).await.unwrap();
                for p in data.chunks(64 << 10) {
                    sink.write(p).await.unwrap();
                }
                sink
            })
        });
        let mut sinks = Vec::new();
        for w in writers {
            sinks.push(w.await.unwrap());
        }
        let commits = sinks.into_iter().map(|s| tokio::spawn(s.commit()));
        let mut created = Vec::new();
        for c in commits {
            created.push(c.await.unwrap().unwrap());
        }
        created.sort();
        assert_eq!(
            created,
            vec![false, true],
            "one of two writers creates the blob"
        );
        assert_eq!(b.blobs.len(&blob).await.unwrap(), Some(len as u64));
        assert_eq!(
            read_all(b.blobs.as_ref(), &blob, 0, len as u64).await,
            *data
        );
        // A third writer later: "already existed", the stored bytes kept.
        assert!(!put(b.blobs.as_ref(), &blob, &data, 1 << 20).await);
    }
    assert_eq!(b.stored().await, 2);
    assert_eq!(b.leftovers().await, 0, "nothing temporary left");
}

/// A 40 MiB blob streamed in odd-sized pieces, read whole and by ranges
/// that start, end and straddle part boundaries.
async fn large(b: Backend) {
    let len = 40 << 20;
    let data = bytes(40, len);
    let blob = id(40);
    assert!(put(b.blobs.as_ref(), &blob, &data, 100_003).await);
    assert_eq!(b.blobs.len(&blob).await.unwrap(), Some(len as u64));
    assert!(read_all(b.blobs.as_ref(), &blob, 0, len as u64).await == data);
    let part = PART_BYTES as u64;
    for (start, n) in [
        (0, 1),
        (part - 1, 2),
        (part, part),
        (2 * part - 10, 20),
        (3 * part + 1, part + 5),
        (len as u64 - 1, 1),
        (len as u64 - part - 3, part + 3),
        (12_345, 3 * part),
    ] {
        let got = read_all(b.blobs.as_ref(), &blob, start, n).await;
        assert!(
            got == data[start as usize..(start + n) as usize],
            "range {start}+{n}"
        );
    }
    // A read streams: its first piece comes before the range is read whole
    // (in memory, the object is one buffer already, handed out whole).
    let mut stream = b.blobs.read(&blob, 0, len as u64).await.unwrap().unwrap();
    let first = stream.try_next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    if !matches!(b.leftovers, Leftovers::Store(_)) {
        assert!(first.len() < len, "a {len}-byte read came in one piece");
    }
    drop(stream);
    assert_eq!(b.leftovers().await, 0);
}

/// An aborted upload, small or past several parts, leaves nothing visible
/// and nothing behind; so does one dropped without commit or abort (its
/// request cancelled), and the id can be written afterwards.
async fn abort(b: Backend) {
    for (seed, len) in [(3u8, 1000usize), (4, 3 * PART_BYTES + 7)] {
        let data = bytes(seed as u64, len);
        let blob = id(seed);
        let mut sink = b.blobs.create(&blob).await.unwrap();
        for p in data.chunks(1 << 20) {
            sink.write(p).await.unwrap();
        }
        sink.abort().await.unwrap();
        assert_eq!(b.blobs.len(&blob).await.unwrap(), None);
        assert!(b.blobs.read(&blob, 0, 1).await.unwrap().is_none());
        assert_eq!(b.leftovers().await, 0, "abort of {len} bytes");

        let mut sink = b.blobs.create(&blob).await.unwrap();
        for p in data.chunks(1 << 20) {
            sink.write(p).await.unwrap();
        }
        drop(sink);
        assert_eq!(b.blobs.len(&blob).await.unwrap(), None);
        assert_eq!(b.leftovers().await, 0, "drop of {len} bytes");

        assert!(put(b.blobs.as_ref(), &blob, &data, 1 << 20).await);
        assert_eq!(read_all(b.blobs.as_ref(), &blob, 0, len as u64).await, data);
    }
    assert_eq!(b.stored().await, 2);
}

/// Lengths, a missing blob, deletes (once), and a write after a delete.
async fn delete_missing_len(b: Backend) {
    let blob = id(5);
    assert_eq!(b.blobs.len(&blob).await.unwrap(), None);
    assert!(b.blobs.read(&blob, 0, 10).await.unwrap().is_none());
    assert!(!b.blobs.delete(&blob).await.unwrap());
    let data = bytes(5, 70_001);
    assert!(put(b.blobs.as_ref(), &blob, &data, 4096).await);
    assert_eq!(b.blobs.len(&blob).await.unwrap(), Some(70_001));
    assert_eq!(
        read_all(b.blobs.as_ref(), &blob, 70_000, 1).await,
        &data[70_000..]
    );
    assert_eq!(read_all(b.blobs.as_ref(), &blob, 5, 0).await, b"");
    // Another id is untouched by this one's delete.
    let other = id(6);
    assert!(put(b.blobs.as_ref(), &other, b"other", 10).await);
    assert!(b.blobs.delete(&blob).await.unwrap());
    assert!(!b.blobs.delete(&blob).await.unwrap());
    assert_eq!(b.blobs.len(&blob).await.unwrap(), None);
    assert!(b.blobs.read(&blob, 0, 1).await.unwrap().is_none());
    assert_eq!(b.blobs.len(&other).await.unwrap(), Some(5));
    // Stored again after the delete: a new blob.
    assert!(put(b.blobs.as_ref(), &blob, &data, 70_001).await);
    assert_eq!(read_all(b.blobs.as_ref(), &blob, 0, 70_001).await, data);
    b.blobs.health().await.unwrap();
    assert_eq!(b.stored().await, 2);
    assert_eq!(b.leftovers().await, 0);
}

macro_rules! suite {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_writers_race_on_one_id_both_succeed_one_object() {
                race(Backend::$backend().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_40_mib_blob_round_trips_with_ranges_across_parts() {
                large(Backend::$backend().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_aborted_or_dropped_upload_leaves_nothing() {
                abort(Backend::$backend().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn delete_missing_and_length() {
                delete_missing_len(Backend::$backend().await).await;
            }
        }
    };
}

suite!(memory);
suite!(object_dir);
suite!(files);
suite!(s3);

// ---------------------------------------------------------------------------
// Start-up of a bucket store.

/// Temporary objects a crash left (older than the age given) are removed at
/// start; younger ones (another relay's upload being published) are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_temporary_objects_are_removed_at_start_young_ones_kept() {
    let sw = SeaweedFs::start().await;
    let raw = raw_s3(&sw);
    let blobs = sw.blobs("p");
    for k in ["p/tmp/left-by-a-crash", "p/tmp/another"] {
        raw.put(&k.into(), bytes::Bytes::from_static(b"x").into())
            .await
            .unwrap();
    }
    raw.put(
        &"p/blobs/keep".into(),
        bytes::Bytes::from_static(b"x").into(),
    )
    .await
    .unwrap();
    blobs.start_checks().await.unwrap();
    assert_eq!(tmp_objects(raw.as_ref(), "p/").await, 2, "young: kept");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    blobs.remove_old_tmp(Duration::from_secs(1)).await.unwrap();
    assert_eq!(tmp_objects(raw.as_ref(), "p/").await, 0);
    assert_eq!(objects(raw.as_ref(), "p/blobs").await, 1, "blobs untouched");
}

/// A bucket that does not answer, or does not exist, stops the relay at
/// start with a message naming the store and no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_missing_bucket_refuses_to_open() {
    use sesphr_relay::relay::blobs::{open, BlobStoreUrl};
    let dir = tempfile::tempdir().unwrap();
    let sw = SeaweedFs::start().await;
    let missing = BlobStoreUrl::S3 {
        bucket: "no-such-bucket".into(),
        prefix: String::new(),
        options: sw.options(),
    };
    let e = open(&missing, dir.path(), 1 << 30).unwrap_err().to_string();
    assert!(e.contains("s3://no-such-bucket"), "{e}");
    assert!(!e.contains(sesphr_testkit::seaweed::SECRET_KEY), "{e}");
    let closed = sesphr_testkit::deploy::free_port();
    let mut options = sw.options();
    for (k, v) in options.iter_mut() {
        if k == "aws_endpoint" {
            *v = format!("http://127.0.0.1:{closed}");
        }
    }
    let unreachable = BlobStoreUrl::S3 {
        bucket: sw.bucket.clone(),
        prefix: String::new(),
        options: options.clone(),
    };
    let started = std::time::Instant::now();
    let e = open(&unreachable, dir.path(), 1 << 30)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("s3://{}", sw.bucket)), "{e}");
    assert!(!e.contains(sesphr_testkit::seaweed::SECRET_KEY), "{e}");
    assert!(started.elapsed() < Duration::from_secs(70));
    // Blobs larger than a create-only copy takes are refused up front.
    let ok = sw.url("");
    let e = open(&ok, dir.path(), 6 << 30).unwrap_err().to_string();
    assert!(e.contains("--max-blob-bytes"), "{e}");
    assert!(open(&ok, dir.path(), 4 << 30).is_ok());
    // Nor does the configuration print a secret.
    let shown = format!("{:?} {}", ok, ok);
    assert!(
        !shown.contains(sesphr_testkit::seaweed::SECRET_KEY),
        "{shown}"
    );
}

#[test]
fn blob_store_urls_parse_or_are_refused() {
    use sesphr_relay::relay::blobs::BlobStoreUrl;
    assert_eq!("file".parse::<BlobStoreUrl>().unwrap(), BlobStoreUrl::File);
    assert_eq!(
        "memory".parse::<BlobStoreUrl>().unwrap(),
        BlobStoreUrl::Memory
    );
    let s3 = |bucket: &str, prefix: &str| BlobStoreUrl::S3 {
        bucket: bucket.into(),
        prefix: prefix.into(),
        options: Vec::new(),
    };
    assert_eq!("s3://phr".parse::<BlobStoreUrl>().unwrap(), s3("phr", ""));
    assert_eq!("s3://phr/".parse::<BlobStoreUrl>().unwrap(), s3("phr", ""));
    assert_eq!(
        "s3://phr-1.x/relay/a/".parse::<BlobStoreUrl>().unwrap(),
        s3("phr-1.x", "relay/a")
    );
    for bad in [
        "s3://",
        "s3://ab",
        "s3://Upper",
        "s3://-phr",
        "s3://phr//x",
        "s3://phr/../x",
        "gs://phr",
        "files",
        "",
    ] {
        assert!(bad.parse::<BlobStoreUrl>().is_err(), "{bad}");
    }
}

/// `--blob-store memory` and `file` open what they say, and work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_and_file_stores_open_and_work() {
    use sesphr_relay::relay::blobs::{open, BlobStoreUrl};
    let dir = tempfile::tempdir().unwrap();
    for url in [BlobStoreUrl::Memory, BlobStoreUrl::File] {
        let blobs = open(&url, dir.path(), 4 << 30).unwrap();
        let data = bytes(77, PART_BYTES + 1);
        assert!(put(blobs.as_ref(), &id(77), &data, 1 << 20).await, "{url}");
        assert!(read_all(blobs.as_ref(), &id(77), 0, data.len() as u64).await == data);
        blobs.health().await.unwrap();
    }
    // Only the file store wrote files.
    assert_eq!(count_files(&dir.path().join("blobs")), 1);
}
