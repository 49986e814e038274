//! Configuration of a server process: which services, where their data
//! lives, connection limits and per-party quotas. Flags and environment
//! variables map onto these one to one (`main.rs`, `docs/operations.md`).

use std::path::PathBuf;
use std::time::Duration;

/// Which services one process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Services {
    /// Relay, SRS and portal.
    All,
    /// Relay and portal only (the SRS runs elsewhere: `srs_url`).
    Relay,
    /// SRS only.
    Srs,
}

/// Connection limits: what a stranger's connections may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once (more wait in the listen backlog).
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are closed
    /// as soon as they are accepted. The host itself (`127.0.0.1`, `::1`:
    /// a reverse proxy or health checker on the same machine) is exempt
    /// unless `cap_localhost`.
    pub max_connections_per_ip: usize,
    /// Whether the per-address cap applies to `127.0.0.1` and `::1` too.
    pub cap_localhost: bool,
    /// Time allowed for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Longest stall of a read or a write before the connection is closed.
    pub idle_timeout: Duration,
    /// A request body has this long, plus one second for every
    /// `body_min_rate` bytes it delivered, to arrive (Apache's
    /// `mod_reqtimeout` rule): a body that trickles in slower is cut off
    /// with `408 body_timeout`, however large the upload.
    pub body_grace: Duration,
    /// The slowest sustained body rate accepted, bytes per second.
    pub body_min_rate: u64,
    /// After shutdown starts, how long in-flight requests may take.
    pub drain_timeout: Duration,
    /// Whether a connection serves more than one request. Off behind a
    /// load balancer that spreads connections, not requests, over several
    /// processes: then each request is balanced.
    pub keep_alive: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_connections_per_ip: 64,
            cap_localhost: false,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_grace: Duration::from_secs(10),
            body_min_rate: 1024,
            drain_timeout: Duration::from_secs(30),
            keep_alive: true,
        }
    }
}

/// What one party may write. Rates are token buckets: `*_per_sec`
/// sustained, `*_burst` at once; going over is `429 rate_limited` with a
/// `Retry-After`. Amounts over a quota are `413 quota_exceeded`.
#[derive(Clone, Copy, Debug)]
pub struct Quotas {
    /// Writes per party and second, sustained: uploads, manifests, inbox
    /// deliveries and clearings at the relay; registrations, heads, grants
    /// and revocations at the SRS.
    pub writes_per_sec: f64,
    /// Writes per party at once.
    pub write_burst: u32,
    /// Re-encryption requests per grantee and second, sustained (each one
    /// is a durable audit entry).
    pub reads_per_sec: f64,
    /// Re-encryption requests per grantee at once.
    pub read_burst: u32,
    /// Bytes of blobs one party may hold at the relay (the blobs it first
    /// uploaded).
    pub stored_bytes: u64,
    /// Records one owner may have at the relay.
    pub records: u64,
    /// Items one sender may have in one grantee's inbox.
    pub inbox_per_sender: u64,
    /// Items one grantee's inbox may hold in all.
    pub inbox_total: u64,
    /// Mail one sender may have waiting in one party's mailbox.
    pub mail_per_sender: u64,
    /// Mail one party's mailbox may hold in all.
    pub mail_total: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            writes_per_sec: 50.0,
            write_burst: 500,
            reads_per_sec: 200.0,
            read_burst: 2000,
            stored_bytes: 64 << 30,
            records: 1000,
            inbox_per_sender: 4096,
            inbox_total: 65_536,
            // A reader's receipts of one visit share a mail, and the owner
            // clears them at each audit: 64 visits between two audits. Well
            // under a page (256), so one sender's kept mail never fills one.
            mail_per_sender: 64,
            mail_total: 4096,
        }
    }
}

impl Quotas {
    /// No rate limit and no quota: for benchmarks that measure the servers
    /// at saturation from a handful of parties.
    pub fn unlimited() -> Quotas {
        Quotas {
            writes_per_sec: f64::INFINITY,
            write_burst: u32::MAX,
            reads_per_sec: f64::INFINITY,
            read_burst: u32::MAX,
            stored_bytes: u64::MAX,
            records: u64::MAX,
            inbox_per_sender: u64::MAX,
            inbox_total: u64::MAX,
            mail_per_sender: u64::MAX,
            mail_total: u64::MAX,
        }
    }
}

/// Server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory (`relay/` and `srs/` beneath it).
    pub data_dir: PathBuf,
    /// Where the relay keeps blob bytes (`--blob-store`; default files
    /// under `relay/blobs`).
    pub blob_store: crate::relay::blobs::BlobStoreUrl,
    /// Which services to run.
    pub services: Services,
    /// Largest blob, bytes.
    pub max_blob_bytes: u64,
    /// Base URL of the SRS the relay forwards to and checks parties with
    /// (`None`: this process).
    pub srs_url: Option<String>,
    /// Portal files.
    pub www_dir: PathBuf,
    /// Built wasm package (`scripts/build-wasm.sh`).
    pub pkg_dir: PathBuf,
    /// Replay window for signed requests, ms.
    pub replay_window_ms: u64,
    /// Connection count and timeouts.
    pub limits: Limits,
    /// Per-party rates and quotas.
    pub quotas: Quotas,
    /// The relay's public base URL as viewers reach it (e.g.
    /// `https://phr.example.org`): the prefix of SMART Health Link file
    /// locations. `None`: `http://` and the address the server listens on
    /// ([`crate::server::run`] and `main` fill it in); request headers are
    /// never trusted for it.
    pub public_url: Option<String>,
    /// A reverse proxy in front of the relay: for requests whose connection
    /// comes from this address, the public SMART Health Link routes take
    /// the client address (for their per-address limits) from the
    /// right-most `X-Forwarded-For` entry. `None` (the default): the
    /// header is ignored.
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// TEST ONLY: the clock the SRS's emergency waits run on instead of
    /// the system clock (a manual clock in tests, or a sped-up one from
    /// `--test-only-emergency-clock-speedup`). `None` in every deployment.
    pub test_only_emergency_clock: Option<EmergencyClock>,
    /// The relay's metadata database (`--relay-db`): `None` is the SQLite
    /// file `relay/meta.sqlite3` in the data directory; a PostgreSQL
    /// database may be shared by several relay processes.
    pub relay_db: Option<crate::db::DbLocation>,
    /// Where the SRS keeps its state (`--srs-db`): `None`, the SQLite file
    /// `srs/srs.sqlite3` in the data directory.
    pub srs_db: Option<crate::db::DbLocation>,
    /// The other relays this deployment's clients shard section bodies over
    /// (`--shard-relays`), and the code (`--shards`): served to the portal
    /// at `GET /v1/config`.
    pub sharding: Option<Sharding>,
    /// Portal origins (scheme://host:port) allowed to use this relay's
    /// shard, manifest, inbox and forwarding routes from the browser
    /// (`--cors-origins`): set on the other relays of a sharded deployment.
    pub cors_origins: Vec<String>,
}

/// Sharded placement over independent relays, as the portal is told to
/// use it (docs/protocol.md, "Sharded placement").
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sharding {
    /// Base URLs of the other relays (this one is the first of the set).
    pub relays: Vec<String>,
    /// Shards that decode a section.
    pub k: u8,
    /// Shards written.
    pub n: u8,
    /// Distinct relays a write needs.
    pub happy: u8,
}

impl Sharding {
    /// From `--shard-relays a,b,…` and `--shards k/n[/happy]` (default
    /// `2/3`): the relays must be distinct http(s) base URLs, with this
    /// relay enough for `n` (`2 ≤ k < n ≤ 16`, `k ≤ happy ≤ n`).
    pub fn parse(relays: &str, code: Option<&str>) -> Result<Sharding, String> {
        let relays: Vec<String> = relays
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        for u in &relays {
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(['?', '#', ' ', ';', '\'', '"'])
            {
                return Err(format!("--shard-relays: {u} is not an http(s) base URL"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        if !relays.iter().all(|u| seen.insert(u.to_ascii_lowercase())) {
            return Err(
                "--shard-relays lists a relay twice (it would hold two shards of a section)".into(),
            );
        }
        let parts: Vec<&str> = code.unwrap_or("2/3").split('/').collect();
        let num = |i: usize| -> Result<Option<u8>, String> {
            parts
                .get(i)
                .map(|p| {
                    p.parse::<u8>()
                        .map_err(|_| format!("--shards: {p} is not a number"))
                })
                .transpose()
        };
        let (k, n) = match (num(0)?, num(1)?) {
            (Some(k), Some(n)) if parts.len() <= 3 => (k, n),
            _ => return Err("--shards is k/n or k/n/happy, e.g. 2/3".into()),
        };
        let happy = num(2)?.unwrap_or(n);
        if !(2 <= k && k < n && n <= 16 && k <= happy && happy <= n) {
            return Err("--shards needs 2 <= k < n <= 16 and k <= happy <= n".into());
        }
        if relays.len() + 1 < usize::from(n) {
            return Err(format!(
                "--shards {k}/{n} needs {n} relays: this one and {} more in --shard-relays",
                n - 1
            ));
        }
        Ok(Sharding {
            relays,
            k,
            n,
            happy,
        })
    }
}

/// A replacement clock for emergency waits (ms), for tests only.
#[derive(Clone)]
pub struct EmergencyClock(pub crate::srs::emergency::Clock);

impl std::fmt::Debug for EmergencyClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmergencyClock(test only)")
    }
}

impl Config {
    /// Defaults for a data directory: everything in one process.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            blob_store: crate::relay::blobs::BlobStoreUrl::File,
            services: Services::All,
            max_blob_bytes: 4 << 30,
            srs_url: None,
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            replay_window_ms: 5 * 60 * 1000,
            limits: Limits::default(),
            quotas: Quotas::default(),
            test_only_emergency_clock: None,
            public_url: None,
            trusted_proxy: None,
            relay_db: None,
            srs_db: None,
            sharding: None,
            cors_origins: Vec::new(),
        }
    }
}

/// A server error at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// I/O on the data directory or listener.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Opening a store or identity.
    #[error("{0}")]
    Setup(String),
}

#[cfg(test)]
mod tests {
    use super::Sharding;

    #[test]
    fn shard_relays_and_code_are_checked() {
        let s = Sharding::parse("http://a:1, https://b/", None).unwrap();
        assert_eq!(s.relays, ["http://a:1", "https://b"]);
        assert_eq!((s.k, s.n, s.happy), (2, 3, 3));
        let s = Sharding::parse("http://a,http://b,http://c", Some("2/4/3")).unwrap();
        assert_eq!((s.n, s.happy), (4, 3));
        for (relays, code) in [
            ("http://a", None),                   // 2 relays for n = 3
            ("ftp://a,http://b", None),           // not http
            ("http://a,HTTP://A", None),          // twice
            ("http://a,http://b", Some("1/3")),   // k = 1 is a copy
            ("http://a,http://b", Some("3/3")),   // k = n
            ("http://a,http://b", Some("2/3/4")), // happy > n
            ("http://a,http://b", Some("2/x")),
            ("http://a,http://b", Some("2/3/3/3")),
        ] {
            assert!(Sharding::parse(relays, code).is_err(), "{relays} {code:?}");
        }
    }
}
