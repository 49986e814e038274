//! SeaweedFS, the real S3 service the blob tests run against: [`SeaweedFs`]
//! starts `weed mini` (installed by `scripts/setup.sh` through
//! `scripts/seaweedfs.sh install`) on free loopback ports in a temporary
//! directory with a new bucket, waits until S3 answers for that bucket, and
//! kills it when dropped. Every test starts its own; a missing binary fails
//! the test (never a silent skip).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sesphr_relay::relay::blobs::{BlobStoreUrl, Blobs, ObjectBlobs};

/// The access key the test servers accept (loopback only).
pub const ACCESS_KEY: &str = "sesphr-test";
/// Its secret.
pub const SECRET_KEY: &str = "sesphr-test-secret";

/// The `weed` binary: `SESPHR_WEED`, or the one `scripts/seaweedfs.sh
/// install` puts under `target/seaweedfs`.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SESPHR_WEED") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/seaweedfs/bin/weed")
}

/// `object_store` settings for a test SeaweedFS at `endpoint` (what the
/// `AWS_*` environment says in a deployment).
pub fn options(endpoint: &str) -> Vec<(String, String)> {
    [
        ("aws_endpoint", endpoint),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", ACCESS_KEY),
        ("aws_secret_access_key", SECRET_KEY),
        ("aws_allow_http", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A running SeaweedFS with one bucket; killed on drop.
pub struct SeaweedFs {
    /// The S3 endpoint, `http://127.0.0.1:port`.
    pub endpoint: String,
    /// The bucket made for this server.
    pub bucket: String,
    /// The filer's HTTP address (to look at what S3 does not list, such as
    /// multipart uploads in progress).
    pub filer: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for SeaweedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeaweedFs({} bucket {})", self.endpoint, self.bucket)
    }
}

/// `n` loopback ports that were free a moment ago (held together, so they
/// differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl SeaweedFs {
    /// Starts one with a new bucket and waits until S3 answers for it.
    pub async fn start() -> SeaweedFs {
        let weed = weed_binary();
        assert!(
            weed.is_file(),
            "SeaweedFS `weed` not found at {}: run scripts/setup.sh (it runs \
             scripts/seaweedfs.sh install), or set SESPHR_WEED",
            weed.display()
        );
        // A port taken between choosing and binding makes weed exit: try again.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(&weed).await {
                Ok(s) => return s,
                Err(log) => last_log = log,
            }
        }
        panic!("SeaweedFS did not start; the end of its log:\n{last_log}");
    }

    async fn try_start(weed: &std::path::Path) -> Result<SeaweedFs, String> {
        let dir = tempfile::tempdir().unwrap();
        let bucket = format!(
            "sesphr-{}",
            hex::encode(sesphr_client::primitives::random_bytes::<6, _>(
                &mut sesphr_client::primitives::os_rng()
            ))
        );
        let p = free_ports(10);
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let child = Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-bucket={bucket}"))
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .arg(format!("-admin.port={}", p[8]))
            .arg(format!("-admin.port.grpc={}", p[9]))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut s = SeaweedFs {
            endpoint: format!("http://127.0.0.1:{}", p[6]),
            bucket,
            filer: format!("http://127.0.0.1:{}", p[4]),
            child,
            dir,
        };
        let blobs = s.blobs("");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = s.child.try_wait() {
                return Err(s.log_tail());
            }
            // Up when a signed listing of the bucket succeeds (the bucket
            // is made a moment after S3 starts answering).
            if blobs.health().await.is_ok() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(s.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `object_store` settings for this server (what the `AWS_*`
    /// environment says in a deployment).
    pub fn options(&self) -> Vec<(String, String)> {
        options(&self.endpoint)
    }

    /// The `AWS_*` environment of a relay process using this server.
    pub fn env(&self) -> Vec<(String, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect()
    }

    /// `--blob-store` for this server's bucket under `prefix` (`""`: none),
    /// with this server's settings.
    pub fn url(&self, prefix: &str) -> BlobStoreUrl {
        let s = if prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{prefix}", self.bucket)
        };
        match s.parse::<BlobStoreUrl>().unwrap() {
            BlobStoreUrl::S3 { bucket, prefix, .. } => BlobStoreUrl::S3 {
                bucket,
                prefix,
                options: self.options(),
            },
            other => other,
        }
    }

    /// The relay's blob store on this server's bucket under `prefix`.
    pub fn blobs(&self, prefix: &str) -> ObjectBlobs {
        ObjectBlobs::s3(&self.url(prefix)).unwrap()
    }

    /// Multipart uploads begun and neither completed nor aborted, as the
    /// filer keeps them (`/buckets/<bucket>/.uploads`).
    pub async fn uploads_in_progress(&self) -> usize {
        let resp = reqwest::Client::new()
            .get(format!("{}/buckets/{}/.uploads/", self.filer, self.bucket))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return 0;
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        v["Entries"].as_array().map_or(0, |e| e.len())
    }

    /// Stops it now (SIGKILL), as a crash or an outage would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
    }
}
