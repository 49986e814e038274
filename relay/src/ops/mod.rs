//! What an operator watches: Prometheus metrics ([`metrics`], served on a
//! listener of their own), store latency and errors measured at the store
//! traits ([`metered`]), health and readiness ([`health`]), and the logs
//! (text or JSON, one line per request: [`init_logging`], [`log_request`]).

pub mod health;
pub mod metered;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use crate::relay::store::RelayStore;
use crate::srs::store::SrsStore;
use health::Readiness;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// Installs the process's log subscriber: `filter` in tracing's
/// `EnvFilter` syntax (`info` if it does not parse), lines to stdout.
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// One answered request: counted and timed ([`metrics::Metrics::request`])
/// and logged as one line with the method, the route *template*, the status
/// and the duration: never the path itself (it holds record, blob and link
/// ids), a query, a header or a body.
pub fn log_request(method: &str, path: &str, status: u16, elapsed: Duration) {
    let (service, route) = metrics::route(path);
    metrics::metrics().request(method, path, status, elapsed);
    tracing::info!(
        target: "sesphr::request",
        method,
        service,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
}

/// An opened relay store as the server uses it: measured
/// ([`metered::MeteredRelay`], `backend` its label) and checked by
/// `/readyz` (`relay_store`).
pub fn relay_store(
    store: Arc<dyn RelayStore>,
    backend: &'static str,
    ready: &mut Readiness,
) -> Arc<dyn RelayStore> {
    let store: Arc<dyn RelayStore> = Arc::new(metered::MeteredRelay::new(store, backend));
    let probe = store.clone();
    ready.add(
        "relay_store",
        Readiness::probe("relay_store", move || {
            let s = probe.clone();
            async move { s.health().await }
        }),
    );
    store
}

/// An opened SRS store as the server uses it: measured
/// ([`metered::MeteredSrs`], `backend` its label) and checked by `/readyz`
/// (`srs_store`, on the blocking pool).
pub fn srs_store(
    store: Arc<dyn SrsStore>,
    backend: &'static str,
    ready: &mut Readiness,
) -> Arc<dyn SrsStore> {
    let store: Arc<dyn SrsStore> = Arc::new(metered::MeteredSrs::new(store, backend));
    let probe = store.clone();
    ready.add(
        "srs_store",
        Readiness::probe("srs_store", move || {
            let s = probe.clone();
            async move {
                match tokio::task::spawn_blocking(move || s.health()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }),
    );
    store
}
