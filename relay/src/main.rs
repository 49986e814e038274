//! `sesphr-relay`: runs the relay, the SRS and the portal.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sesphr_relay::server::{prepare, serve};
use sesphr_relay::{Config, Quotas, Services};

#[derive(Parser)]
#[command(name = "sesphr-relay", version, about = "SeSPHR relay and SRS servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Address to listen on.
    #[arg(long, env = "SESPHR_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory.
    #[arg(long, env = "SESPHR_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Where the relay keeps blob bytes: `file` (under the data directory),
    /// `memory` (tests only: gone at exit) or `s3://bucket[/prefix]`
    /// (endpoint, region and credentials from the AWS_* variables).
    #[arg(long, env = "SESPHR_BLOB_STORE", default_value = "file")]
    blob_store: sesphr_relay::relay::blobs::BlobStoreUrl,
    /// Largest blob accepted, in bytes.
    #[arg(long, env = "SESPHR_MAX_BLOB_BYTES", default_value_t = 4 << 30)]
    max_blob_bytes: u64,
    /// Where the SRS keeps its state: `sqlite` (the default: srs/srs.sqlite3
    /// in the data directory), an SQLite file path, or a PostgreSQL URL
    /// postgres://user:password@host/db (several SRS processes may share one).
    #[arg(long, env = "SESPHR_SRS_DB")]
    srs_db: Option<String>,
    /// Base URL of the SRS (relay only; `serve` uses its own), or several,
    /// comma-separated (SRS processes sharing one identity and database:
    /// requests are spread over them, and move on to the next only when no
    /// connection could be made, or for GET).
    #[arg(long, env = "SESPHR_SRS_URL")]
    srs_url: Option<String>,
    /// Other relays (independent deployments with this SRS), comma-separated
    /// base URLs: the portal then erasure-codes section bodies over this
    /// relay and them, so that none holds a section (`GET /v1/config`).
    #[arg(long, env = "SESPHR_SHARD_RELAYS")]
    shard_relays: Option<String>,
    /// Portal origins allowed to use this relay from the browser as one
    /// of their shard relays (comma-separated scheme://host[:port]; set on
    /// the relays another relay's --shard-relays lists).
    #[arg(long, env = "SESPHR_CORS_ORIGINS")]
    cors_origins: Option<String>,
    /// The code over the shard relays: `k/n` or `k/n/happy` (default 2/3:
    /// any 2 of 3 shards decode; a write needs all 3 relays).
    #[arg(long, env = "SESPHR_SHARDS")]
    shards: Option<String>,
    /// The relay's public base URL as viewers reach it, e.g.
    /// https://phr.example.org (the prefix of SMART Health Link file
    /// locations; default http:// and the listen address).
    #[arg(long, env = "SESPHR_PUBLIC_URL")]
    public_url: Option<String>,
    /// The address of a reverse proxy in front of the relay: only for
    /// connections from it, the public SMART Health Link routes take the
    /// client address from the right-most X-Forwarded-For entry (for their
    /// per-address limits). Default: none, the header is ignored.
    #[arg(long, env = "SESPHR_TRUSTED_PROXY")]
    trusted_proxy: Option<std::net::IpAddr>,
    /// Portal directory.
    #[arg(long, env = "SESPHR_WWW_DIR", default_value = "www")]
    www_dir: PathBuf,
    /// Built wasm package directory.
    #[arg(long, env = "SESPHR_PKG_DIR", default_value = "pkg")]
    pkg_dir: PathBuf,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, env = "SESPHR_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Connections one client address may hold at once (127.0.0.1 and ::1
    /// are exempt unless --cap-localhost).
    #[arg(long, env = "SESPHR_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    max_connections_per_ip: usize,
    /// Apply the per-address cap to 127.0.0.1 and ::1 too.
    #[arg(long, env = "SESPHR_CAP_LOCALHOST")]
    cap_localhost: bool,
    /// Seconds a request body may take, plus one per --body-min-rate bytes it delivers.
    #[arg(long, env = "SESPHR_BODY_GRACE_SECS", default_value_t = 10)]
    body_grace_secs: u64,
    /// Slowest sustained request body accepted, bytes per second.
    #[arg(long, env = "SESPHR_BODY_MIN_RATE", default_value_t = 1024)]
    body_min_rate: u64,
    /// One request per connection (`Connection: close` on every answer):
    /// behind a load balancer that spreads connections over several
    /// processes, so that each request is balanced.
    #[arg(long, env = "SESPHR_NO_KEEP_ALIVE")]
    no_keep_alive: bool,
    /// Writes per party and second (sustained) at either service.
    #[arg(long, env = "SESPHR_WRITES_PER_SEC", default_value_t = Quotas::default().writes_per_sec)]
    writes_per_sec: f64,
    /// Writes per party at once.
    #[arg(long, env = "SESPHR_WRITE_BURST", default_value_t = Quotas::default().write_burst)]
    write_burst: u32,
    /// Re-encryption requests per grantee and second (sustained).
    #[arg(long, env = "SESPHR_READS_PER_SEC", default_value_t = Quotas::default().reads_per_sec)]
    reads_per_sec: f64,
    /// Re-encryption requests per grantee at once.
    #[arg(long, env = "SESPHR_READ_BURST", default_value_t = Quotas::default().read_burst)]
    read_burst: u32,
    /// Bytes of blobs one party may store at the relay.
    #[arg(long, env = "SESPHR_QUOTA_BYTES", default_value_t = Quotas::default().stored_bytes)]
    quota_bytes: u64,
    /// Records one owner may have at the relay.
    #[arg(long, env = "SESPHR_QUOTA_RECORDS", default_value_t = Quotas::default().records)]
    quota_records: u64,
    /// Items one sender may have in one grantee's inbox.
    #[arg(long, env = "SESPHR_QUOTA_INBOX_PER_SENDER", default_value_t = Quotas::default().inbox_per_sender)]
    quota_inbox_per_sender: u64,
    /// Items one grantee's inbox may hold.
    #[arg(long, env = "SESPHR_QUOTA_INBOX", default_value_t = Quotas::default().inbox_total)]
    quota_inbox: u64,
    /// Mail one sender may have waiting in one party's mailbox.
    #[arg(long, env = "SESPHR_QUOTA_MAIL_PER_SENDER", default_value_t = Quotas::default().mail_per_sender)]
    quota_mail_per_sender: u64,
    /// Mail one party's mailbox may hold.
    #[arg(long, env = "SESPHR_QUOTA_MAIL", default_value_t = Quotas::default().mail_total)]
    quota_mail: u64,
    /// No rate limits and no quotas (benchmarks at saturation only).
    #[arg(long, env = "SESPHR_UNLIMITED")]
    unlimited: bool,
    /// Seconds allowed for a request's headers to arrive.
    #[arg(long, env = "SESPHR_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a connection may stall (no byte read or written) before it is closed.
    #[arg(long, env = "SESPHR_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    idle_timeout_secs: u64,
    /// TEST ONLY, never in a deployment: the SRS's emergency waits run this
    /// many times faster than the clock (3600: an hour's wait passes in a
    /// second), for end-to-end tests of emergency access.
    #[arg(long, env = "SESPHR_TEST_ONLY_EMERGENCY_CLOCK_SPEEDUP")]
    test_only_emergency_clock_speedup: Option<u64>,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "SESPHR_LOG", default_value = "info")]
    log: String,
    /// Log lines as `text` or `json` (one object per line).
    #[arg(long, env = "SESPHR_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: sesphr_relay::ops::LogFormat,
    /// Address of the operator's listener for `/metrics` (Prometheus),
    /// `/healthz` and `/readyz`; off by default. Never the public port:
    /// the metrics describe access patterns.
    #[arg(long, env = "SESPHR_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The relay's metadata database: `sqlite` (the default, the file
    /// relay/meta.sqlite3 in the data directory), an SQLite file path, or
    /// postgres://user@host/db, which several relay processes may share.
    #[arg(long, env = "SESPHR_RELAY_DB")]
    relay_db: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Relay + SRS + portal in one process.
    Serve(Common),
    /// Relay and portal only; forwards the SRS routes to --srs-url.
    Relay(Common),
    /// SRS only.
    Srs(Common),
    /// The SRS audit log, for auditors.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copies a deployment's stores onto the scale-out engines (stop the
    /// servers first); run again to resume an interrupted copy.
    Migrate(MigrateArgs),
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// Data directory of the deployment being migrated.
    #[arg(long, env = "SESPHR_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Where the relay's metadata goes: postgres://user@host/db (the
    /// --relay-db the relays then run with).
    #[arg(long, env = "SESPHR_RELAY_DB")]
    relay_db: Option<String>,
    /// Where the relay's blob files go: s3://bucket[/prefix] (the
    /// --blob-store the relays then run with; endpoint, region and
    /// credentials from the AWS_* variables).
    #[arg(long, env = "SESPHR_BLOB_STORE")]
    blob_store: Option<sesphr_relay::relay::blobs::BlobStoreUrl>,
    /// Where the SRS's state goes: postgres://user@host/db (the --srs-db
    /// the SRS processes then run with, each with a copy of
    /// srs/identity.seed).
    #[arg(long, env = "SESPHR_SRS_DB")]
    srs_db: Option<String>,
}

/// `migrate`: one line per copied item on stdout, a failure on stderr.
fn migrate(args: MigrateArgs) -> std::process::ExitCode {
    use sesphr_relay::db::DbLocation;
    use sesphr_relay::migrate;
    let mut steps = Vec::new();
    // Each database target must be PostgreSQL: the source is the SQLite file.
    let postgres = |flag: &str, value: Option<&str>, from: &std::path::Path| match value
        .map(|v| DbLocation::parse(Some(v), from))
    {
        Some(to @ DbLocation::Postgres(_)) => Ok(Some(to)),
        Some(DbLocation::Sqlite(_)) => Err(format!(
            "migrate: {flag} must be a postgres:// database (the source is {})",
            from.display()
        )),
        None => Ok(None),
    };
    let relay_meta = args.data_dir.join("relay/meta.sqlite3");
    let srs_file = args.data_dir.join("srs/srs.sqlite3");
    let targets = (
        postgres("--relay-db", args.relay_db.as_deref(), &relay_meta),
        postgres("--srs-db", args.srs_db.as_deref(), &srs_file),
    );
    let (relay_db, srs_db) = match targets {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(to) = relay_db {
        steps.push(migrate::relay_meta_step(relay_meta, to));
    }
    if let Some(to) = args.blob_store {
        steps.push(migrate::relay_blobs_step(args.data_dir.join("relay"), to));
    }
    if let Some(to) = srs_db {
        steps.push(migrate::srs_step(srs_file, to));
    }
    if steps.is_empty() {
        eprintln!(
            "migrate: nothing to do (give --relay-db postgres://…, --blob-store s3://… or --srs-db postgres://…)"
        );
        return std::process::ExitCode::FAILURE;
    }
    let outcome = migrate::run(steps, |step, copied| {
        for c in copied {
            let how = if c.already_done {
                "done earlier"
            } else {
                "copied"
            };
            println!("{step}: {} {} {} {how}, verified", c.item, c.rows, c.unit);
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Writes the SRS's whole audit log, with a head signed now (run on the
    /// SRS host: it reads the data directory and the SRS seed).
    Export {
        /// Data directory of the SRS (`serve` or `srs`).
        #[arg(long, env = "SESPHR_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Where to write the export.
        #[arg(long)]
        out: PathBuf,
        /// Where the SRS keeps its state (as `srs --srs-db`).
        #[arg(long, env = "SESPHR_SRS_DB")]
        srs_db: Option<String>,
    },
    /// Checks an export from its first entry to its largest head: every
    /// entry, every head's signature and root (so every pair of heads is
    /// consistent). Exit status 0 only if everything checks out.
    Verify {
        /// The export file.
        export: PathBuf,
        /// The SRS fingerprint the auditor trusts (published by the
        /// operator); without it, compare the one printed.
        #[arg(long)]
        srs_fingerprint: Option<String>,
        /// A signed tree head (hex) collected elsewhere, from a receipt or
        /// an owner's portal, to check against the export too (repeatable).
        #[arg(long = "head")]
        heads: Vec<String>,
    },
}

/// `audit export` / `audit verify`: the report on stdout, failures on stderr.
fn audit(cmd: AuditCommand) -> std::process::ExitCode {
    use sesphr_client::audit::AuditExport;
    use std::process::ExitCode;
    let fail = |what: String| {
        eprintln!("audit: {what}");
        ExitCode::FAILURE
    };
    match cmd {
        AuditCommand::Export {
            data_dir,
            out,
            srs_db,
        } => {
            let bytes = match sesphr_relay::srs::export::export(&data_dir, srs_db.as_deref()) {
                Ok(b) => b,
                Err(e) => return fail(e.to_string()),
            };
            if let Err(e) = std::fs::write(&out, &bytes) {
                return fail(format!("{}: {e}", out.display()));
            }
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
            ExitCode::SUCCESS
        }
        AuditCommand::Verify {
            export,
            srs_fingerprint,
            heads,
        } => {
            let bytes = match std::fs::read(&export) {
                Ok(b) => b,
                Err(e) => return fail(format!("{}: {e}", export.display())),
            };
            let mut x = match AuditExport::from_bytes(&bytes) {
                Ok(x) => x,
                Err(e) => return fail(format!("not an audit export ({}): {e}", e.code())),
            };
            let fingerprint = x.srs.fingerprint();
            if let Some(pinned) = &srs_fingerprint {
                if pinned != &fingerprint {
                    return fail(format!(
                        "the export is the log of SRS {fingerprint}, not of {pinned}"
                    ));
                }
            }
            for h in &heads {
                match hex::decode(h) {
                    Ok(b) => x.heads.push(b),
                    Err(_) => return fail(format!("--head {h} is not hex")),
                }
            }
            match x.verify(None) {
                Ok(v) => {
                    println!("SRS {fingerprint}");
                    if srs_fingerprint.is_none() {
                        println!("(compare this fingerprint with the one the operator publishes)");
                    }
                    let counts: Vec<String> = v
                        .decisions
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(d, n)| format!("{d} {n}"))
                        .collect();
                    println!(
                        "{} entries, every one decoded: {}",
                        v.entries,
                        if counts.is_empty() {
                            "none".to_string()
                        } else {
                            counts.join(", ")
                        }
                    );
                    for h in &v.heads {
                        println!(
                            "head of {} entries, root {}, signed at {} ms: verified",
                            h.tree_size,
                            hex::encode(h.root),
                            h.timestamp
                        );
                    }
                    println!(
                        "verified: the log from entry 0 to its head, and every head against it"
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{e} ({})", e.error.code())),
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (services, c) = match Cli::parse().command {
        Command::Serve(c) => (Services::All, c),
        Command::Relay(c) => (Services::Relay, c),
        Command::Srs(c) => (Services::Srs, c),
        Command::Audit(cmd) => return audit(cmd),
        // The blocking database clients run their own runtime: off this one.
        Command::Migrate(args) => {
            return tokio::task::spawn_blocking(move || migrate(args))
                .await
                .unwrap_or(std::process::ExitCode::FAILURE)
        }
    };
    sesphr_relay::ops::init_logging(c.log_format, &c.log);
    let mut config = Config::new(c.data_dir);
    config.services = services;
    config.max_blob_bytes = c.max_blob_bytes;
    config.blob_store = c.blob_store;
    config.srs_url = c.srs_url;
    config.srs_db = c.srs_db.as_deref().map(|v| {
        sesphr_relay::db::DbLocation::parse(Some(v), &config.data_dir.join("srs/srs.sqlite3"))
    });
    config.trusted_proxy = c.trusted_proxy;
    config.www_dir = c.www_dir;
    config.pkg_dir = c.pkg_dir;
    config.limits.max_connections = c.max_connections;
    config.limits.max_connections_per_ip = c.max_connections_per_ip;
    config.limits.cap_localhost = c.cap_localhost;
    config.limits.body_grace = std::time::Duration::from_secs(c.body_grace_secs);
    config.limits.body_min_rate = c.body_min_rate;
    config.limits.keep_alive = !c.no_keep_alive;
    config.relay_db = c.relay_db.as_deref().map(|v| {
        sesphr_relay::db::DbLocation::parse(Some(v), &config.data_dir.join("relay/meta.sqlite3"))
    });
    config.quotas = if c.unlimited {
        Quotas::unlimited()
    } else {
        Quotas {
            writes_per_sec: c.writes_per_sec,
            write_burst: c.write_burst,
            reads_per_sec: c.reads_per_sec,
            read_burst: c.read_burst,
            stored_bytes: c.quota_bytes,
            records: c.quota_records,
            inbox_per_sender: c.quota_inbox_per_sender,
            inbox_total: c.quota_inbox,
            mail_per_sender: c.quota_mail_per_sender,
            mail_total: c.quota_mail,
        }
    };
    config.limits.header_timeout = std::time::Duration::from_secs(c.header_timeout_secs);
    config.limits.idle_timeout = std::time::Duration::from_secs(c.idle_timeout_secs);
    if let Some(factor) = c.test_only_emergency_clock_speedup.filter(|&f| f > 1) {
        config.test_only_emergency_clock = Some(sesphr_relay::EmergencyClock(
            sesphr_relay::srs::emergency::sped_up_clock(factor),
        ));
    }
    config.sharding = match (c.shard_relays.as_deref(), c.shards.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => {
            tracing::error!("--shards needs --shard-relays (the other relays)");
            return std::process::ExitCode::FAILURE;
        }
        (Some(relays), code) => match sesphr_relay::config::Sharding::parse(relays, code) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    config.cors_origins = c
        .cors_origins
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect();
    if let Some(o) = config.cors_origins.iter().find(|o| {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        !rest.is_some_and(|r| !r.is_empty() && !r.contains(['/', '?', '#']))
    }) {
        tracing::error!(origin = %o, "--cors-origins takes origins: scheme://host[:port]");
        return std::process::ExitCode::FAILURE;
    }
    if services == Services::Relay && config.srs_url.is_none() {
        tracing::error!("`relay` needs the SRS's base URL: --srs-url (or SESPHR_SRS_URL)");
        return std::process::ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(c.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%e, addr = %c.listen, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    config.public_url = match c.public_url {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => Some(u),
        Some(u) => {
            tracing::error!(url = %u, "--public-url must start with https:// or http://");
            return std::process::ExitCode::FAILURE;
        }
        None => match listener.local_addr() {
            Ok(addr) => {
                if addr.ip().is_unspecified() {
                    tracing::warn!(%addr, "listening on every address without --public-url: SMART Health Link file locations will name this address; set --public-url");
                }
                Some(format!("http://{addr}"))
            }
            Err(_) => None,
        },
    };
    let prepared = match prepare(config) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(%e, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops = match c.metrics_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                if let Ok(addr) = l.local_addr() {
                    println!("metrics on http://{addr}");
                }
                Some(tokio::spawn(prepared.serve_ops(l, async {
                    let _ = ops_stopped.await;
                })))
            }
            Err(e) => {
                tracing::error!(%e, %addr, "cannot listen for metrics");
                return std::process::ExitCode::FAILURE;
            }
        },
        None => None,
    };
    // One machine-readable line, so scripts and tests can listen on port 0.
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => tracing::warn!(%e, "no local address"),
    }
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return std::mem::drop(ctrl_c.await),
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    };
    serve(listener, prepared, shutdown).await;
    let _ = ops_stop.send(());
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    std::process::ExitCode::SUCCESS
}
