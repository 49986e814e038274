//! The deployment harness: several `sesphr-relay relay` and `sesphr-relay
//! srs` processes of the built binary on loopback ports, behind one front
//! origin (a small TCP load balancer here that spreads connections over the
//! relays, skipping any it cannot connect to), each process killable with
//! SIGKILL and restartable on its port and data directory.
//!
//! Every relay is given every SRS (`--srs-url a,b`). Several SRS processes
//! share one identity: the first one's seed file (`<data>/srs/identity.seed`,
//! created at its first start) is copied into the others' data directories
//! before they start, as an operator would copy it between hosts. A shared
//! identity is only sound over shared state (one database: `--srs-db
//! postgres://…` in the extra arguments); on separate SQLite files two SRS
//! processes would each keep their own log and directory.
//!
//! Every process is SIGKILLed when the cluster drops, so a failed test
//! leaves none running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::deploy::free_port;

/// Real shared backends for a cluster on loopback: a new SeaweedFS with a
/// new bucket (S3, for `--blob-store`) and a new PostgreSQL database (for
/// `--relay-db` and `--srs-db`: each service in its own schema), with the
/// flags and the `AWS_*` environment the processes need. Keep it alive
/// while the cluster runs; dropping it stops SeaweedFS and drops the
/// database.
#[derive(Debug)]
pub struct SharedBackends {
    /// The S3 service.
    pub s3: crate::seaweed::SeaweedFs,
    /// The database.
    pub pg: crate::pg::Postgres,
    /// `--blob-store s3://… --relay-db postgres://…`.
    pub relay_args: Vec<String>,
    /// `--srs-db postgres://…`.
    pub srs_args: Vec<String>,
    /// The `AWS_*` variables of the relay processes.
    pub env: Vec<(String, String)>,
}

/// Starts [`SharedBackends`].
pub async fn shared_backends() -> SharedBackends {
    let s3 = crate::seaweed::SeaweedFs::start().await;
    let pg = crate::pg::Postgres::new();
    let bucket = match s3.url("") {
        sesphr_relay::relay::blobs::BlobStoreUrl::S3 { bucket, .. } => bucket,
        other => panic!("not a bucket: {other}"),
    };
    SharedBackends {
        relay_args: vec![
            "--blob-store".into(),
            format!("s3://{bucket}"),
            "--relay-db".into(),
            pg.url().to_owned(),
        ],
        srs_args: vec!["--srs-db".into(), pg.url().to_owned()],
        env: s3.env(),
        s3,
        pg,
    }
}

/// Which service a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `sesphr-relay relay`.
    Relay,
    /// `sesphr-relay srs`.
    Srs,
}

/// One server process of the cluster.
#[derive(Debug)]
pub struct Process {
    /// What it runs.
    pub role: Role,
    /// Its data directory.
    pub data: PathBuf,
    /// Its public port.
    pub port: u16,
    /// Its operator port (`--metrics-listen`), if the cluster has them.
    pub metrics_port: Option<u16>,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// `http://127.0.0.1:metrics_port`.
    pub fn metrics_base(&self) -> Option<String> {
        self.metrics_port.map(|p| format!("http://127.0.0.1:{p}"))
    }
    /// Whether it runs (was started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    /// Its log so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// How to build a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    bin: PathBuf,
    relays: usize,
    srs: usize,
    relay_args: Vec<String>,
    srs_args: Vec<String>,
    extra_srs_urls: Vec<String>,
    metrics: bool,
    log: String,
    env: Vec<(String, String)>,
}

impl ClusterBuilder {
    /// Relay processes (default 1).
    pub fn relays(mut self, n: usize) -> Self {
        self.relays = n;
        self
    }
    /// SRS processes (default 1).
    pub fn srs(mut self, n: usize) -> Self {
        self.srs = n;
        self
    }
    /// Environment variables of every process (`AWS_*` for a bucket).
    pub fn env(mut self, vars: &[(String, String)]) -> Self {
        self.env = vars.to_vec();
        self
    }
    /// Extra arguments of every relay (`--blob-store s3://…`, `--relay-db …`).
    pub fn relay_args(mut self, args: &[&str]) -> Self {
        self.relay_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
    /// Extra arguments of every SRS (`--srs-db postgres://…`).
    pub fn srs_args(mut self, args: &[&str]) -> Self {
        self.srs_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
    /// SRS URLs the relays are given before the cluster's own (a URL
    /// where nothing listens tests the relays' failover).
    pub fn extra_srs_urls(mut self, urls: &[&str]) -> Self {
        self.extra_srs_urls = urls.iter().map(|a| a.to_string()).collect();
        self
    }
    /// Give every process an operator listener (`--metrics-listen`).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }
    /// The processes' log filter (default `warn`; `SESPHR_TEST_LOG` overrides).
    pub fn log(mut self, filter: &str) -> Self {
        self.log = filter.to_string();
        self
    }

    /// Starts every SRS, then every relay, then the origin; returns once
    /// every relay is ready (its `/readyz` answers 200).
    pub async fn start(self) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let log = std::env::var("SESPHR_TEST_LOG").unwrap_or(self.log.clone());
        let mut procs = Vec::new();
        let make = |role: Role, i: usize, args: Vec<String>| {
            let name = match role {
                Role::Relay => format!("relay{i}"),
                Role::Srs => format!("srs{i}"),
            };
            Process {
                role,
                data: dir.path().join(&name),
                port: free_port(),
                metrics_port: self.metrics.then(free_port),
                args,
                child: None,
                log: dir.path().join(format!("{name}.log")),
            }
        };
        let srs: Vec<Process> = (0..self.srs)
            .map(|i| make(Role::Srs, i, self.srs_args.clone()))
            .collect();
        let mut urls = self.extra_srs_urls.clone();
        urls.extend(srs.iter().map(Process::base));
        let mut relay_args = vec!["--srs-url".to_string(), urls.join(",")];
        relay_args.extend(self.relay_args.iter().cloned());
        let relays: Vec<Process> = (0..self.relays)
            .map(|i| make(Role::Relay, i, relay_args.clone()))
            .collect();
        procs.extend(srs);
        procs.extend(relays);
        let origin = Origin::start(
            procs
                .iter()
                .filter(|p| p.role == Role::Relay)
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p.port)))
                .collect(),
        )
        .await;
        let mut cluster = Cluster {
            bin: self.bin,
            env: self.env,
            log,
            procs,
            origin,
            dir,
        };
        // The first SRS creates the identity the others are given.
        let srs: Vec<usize> = cluster.indices(Role::Srs);
        for (n, &i) in srs.iter().enumerate() {
            if n > 0 {
                let seed = cluster.procs[srs[0]].data.join("srs/identity.seed");
                let to = cluster.procs[i].data.join("srs");
                std::fs::create_dir_all(&to).unwrap();
                if !to.join("identity.seed").exists() {
                    std::fs::copy(&seed, to.join("identity.seed")).unwrap();
                }
            }
            cluster.spawn(i);
            cluster.wait_ready(i).await;
        }
        for i in cluster.indices(Role::Relay) {
            cluster.spawn(i);
            cluster.wait_ready(i).await;
        }
        cluster
    }
}

/// A running multi-process deployment (see the module's documentation).
pub struct Cluster {
    bin: PathBuf,
    env: Vec<(String, String)>,
    log: String,
    procs: Vec<Process>,
    origin: Origin,
    /// The data directories and logs (kept until the cluster drops).
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("procs", &self.procs)
            .field("origin", &self.origin.addr)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A cluster of processes of the binary at `bin`.
    pub fn builder(bin: &Path) -> ClusterBuilder {
        ClusterBuilder {
            bin: bin.to_path_buf(),
            relays: 1,
            srs: 1,
            relay_args: Vec::new(),
            srs_args: Vec::new(),
            extra_srs_urls: Vec::new(),
            metrics: false,
            log: "warn".into(),
            env: Vec::new(),
        }
    }

    /// The front origin's base URL, as clients reach the deployment.
    pub fn origin(&self) -> String {
        format!("http://{}", self.origin.addr)
    }

    /// Connections the origin has handed to relay `n` (by relay index).
    pub fn origin_connections(&self, n: usize) -> usize {
        self.origin.counts[n].load(Ordering::Relaxed)
    }

    /// How many relay processes the cluster has.
    pub fn relays(&self) -> usize {
        self.indices(Role::Relay).len()
    }

    /// How many SRS processes the cluster has.
    pub fn srs_count(&self) -> usize {
        self.indices(Role::Srs).len()
    }

    /// Relay `n`.
    pub fn relay(&self, n: usize) -> &Process {
        &self.procs[self.indices(Role::Relay)[n]]
    }

    /// SRS `n`.
    pub fn srs(&self, n: usize) -> &Process {
        &self.procs[self.indices(Role::Srs)[n]]
    }

    fn indices(&self, role: Role) -> Vec<usize> {
        (0..self.procs.len())
            .filter(|&i| self.procs[i].role == role)
            .collect()
    }

    fn index(&self, role: Role, n: usize) -> usize {
        self.indices(role)[n]
    }

    fn spawn(&mut self, i: usize) {
        let p = &mut self.procs[i];
        assert!(p.child.is_none(), "process {i} already runs");
        std::fs::create_dir_all(&p.data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.log)
            .unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.arg(match p.role {
            Role::Relay => "relay",
            Role::Srs => "srs",
        })
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", p.port))
        .arg("--data-dir")
        .arg(&p.data)
        .arg("--www-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www"));
        if let Some(m) = p.metrics_port {
            cmd.arg("--metrics-listen").arg(format!("127.0.0.1:{m}"));
        }
        cmd.args(&p.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("SESPHR_LOG", &self.log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        p.child = Some(cmd.spawn().unwrap());
    }

    async fn wait_ready(&mut self, i: usize) {
        let url = format!("{}/readyz", self.procs[i].base());
        for _ in 0..750 {
            if let Ok(r) = reqwest::get(&url).await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.procs[i].child.as_mut().map(Child::try_wait) {
                panic!(
                    "{:?} {i} exited ({status}) at start:\n{}",
                    self.procs[i].role,
                    self.procs[i].log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{:?} {i} was not ready in time:\n{}",
            self.procs[i].role,
            self.procs[i].log()
        );
    }

    fn kill_index(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILLs relay `n`.
    pub fn kill_relay(&mut self, n: usize) {
        let i = self.index(Role::Relay, n);
        self.kill_index(i);
    }

    /// SIGKILLs SRS `n`.
    pub fn kill_srs(&mut self, n: usize) {
        let i = self.index(Role::Srs, n);
        self.kill_index(i);
    }

    /// Starts relay `n` again on its port and data directory, once ready.
    pub async fn restart_relay(&mut self, n: usize) {
        let i = self.index(Role::Relay, n);
        self.kill_index(i);
        self.spawn(i);
        self.wait_ready(i).await;
    }

    /// Starts SRS `n` again on its port and data directory, once ready.
    pub async fn restart_srs(&mut self, n: usize) {
        let i = self.index(Role::Srs, n);
        self.kill_index(i);
        self.spawn(i);
        self.wait_ready(i).await;
    }

    /// Every process's log, for a failure message.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| format!("--- {:?} :{} ---\n{}", p.role, p.port, p.log()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill_index(i);
        }
        self.origin.task.abort();
    }
}

/// The front origin: accepts connections and pipes each to the next relay
/// in turn that accepts a connection (a relay that refuses, being down, is
/// skipped), as a TCP load balancer in front of a deployment does.
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) counts: Arc<Vec<AtomicUsize>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub(crate) async fn start(backends: Vec<SocketAddr>) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let next = Arc::new(Mutex::new(0usize));
        let backends = Arc::new(backends);
        let c = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (backends, next, counts) = (backends.clone(), next.clone(), c.clone());
                tokio::spawn(async move {
                    let n = backends.len();
                    let first = {
                        let mut g = next.lock().unwrap();
                        let f = *g;
                        *g = (f + 1) % n.max(1);
                        f
                    };
                    for k in 0..n {
                        let b = (first + k) % n;
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(backends[b]).await
                        {
                            counts[b].fetch_add(1, Ordering::Relaxed);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                    // No relay accepts: the client sees its connection close.
                });
            }
        });
        Origin { addr, counts, task }
    }
}
