//! Prometheus metrics of one process, in one registry, served in the text
//! exposition format on the operator's separate listener only
//! (`--metrics-listen`): which routes are used, and when, is exactly the
//! access pattern the relay must not publish, so the public port never
//! answers `/metrics`.
//!
//! No label carries a record, party, blob, link or grant identifier: HTTP
//! series are labelled by the route's *template* ([`route`]: a fixed table,
//! every unknown path is `unmatched`, so a stranger cannot mint series),
//! store series by store, backend and operation name.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Every series of this process.
pub struct Metrics {
    registry: Registry,
    /// `sesphr_http_requests_total{service, route, method, status}`.
    pub requests: IntCounterVec,
    /// `sesphr_http_request_duration_seconds{service, route}`.
    pub latency: HistogramVec,
    /// `sesphr_srs_audit_batch_entries`: entries per group commit.
    pub audit_batch: Histogram,
    /// `sesphr_store_operation_duration_seconds{store, backend, operation}`.
    pub store_latency: HistogramVec,
    /// `sesphr_store_errors_total{store, backend, operation}`.
    pub store_errors: IntCounterVec,
    /// `sesphr_srs_peer_requests_total{outcome}`: the relay's requests to
    /// its SRS processes (`ok`, `failover`: a connection could not be made
    /// and the next SRS was tried, `error`: no answer).
    pub srs_peer: IntCounterVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "sesphr_http_requests_total",
            "HTTP requests answered, by service, route template, method and status",
        ),
        &["service", "route", "method", "status"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "sesphr_http_request_duration_seconds",
            "Time from a request's arrival to its answer's headers, by route template",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]),
        &["service", "route"],
    )?;
    let audit_batch = Histogram::with_opts(
        HistogramOpts::new(
            "sesphr_srs_audit_batch_entries",
            "Audit entries committed in one group-commit transaction",
        )
        .buckets(vec![
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
        ]),
    )?;
    let store_latency = HistogramVec::new(
        HistogramOpts::new(
            "sesphr_store_operation_duration_seconds",
            "Time of one store operation, by store, backend and operation",
        )
        .buckets(vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0,
        ]),
        &["store", "backend", "operation"],
    )?;
    let store_errors = IntCounterVec::new(
        Opts::new(
            "sesphr_store_errors_total",
            "Store operations that failed, by store, backend and operation",
        ),
        &["store", "backend", "operation"],
    )?;
    let srs_peer = IntCounterVec::new(
        Opts::new(
            "sesphr_srs_peer_requests_total",
            "The relay's requests to its SRS processes, by outcome",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(audit_batch.clone()))?;
    registry.register(Box::new(store_latency.clone()))?;
    registry.register(Box::new(store_errors.clone()))?;
    registry.register(Box::new(srs_peer.clone()))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(Metrics {
        registry,
        requests,
        latency,
        audit_batch,
        store_latency,
        store_errors,
        srs_peer,
    })
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    // Only a duplicate name can fail, and the names above are distinct.
    #[allow(clippy::expect_used)]
    build().expect("metric definitions are valid")
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// One answered request.
    pub fn request(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        let (service, route) = route(path);
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[service, route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[service, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(%e, "metrics encoding failed");
        }
        out
    }
}

/// `(service, template)` of every route, `*` standing for one parameter.
const ROUTES: &[(&str, &[&str], &str)] = &[
    ("relay", &["v1", "blobs", "*"], "/v1/blobs/{id}"),
    (
        "relay",
        &["v1", "records", "*", "manifests"],
        "/v1/records/{record}/manifests",
    ),
    (
        "relay",
        &["v1", "records", "*", "manifests", "*"],
        "/v1/records/{record}/manifests/{version}",
    ),
    ("relay", &["v1", "inbox"], "/v1/inbox"),
    ("relay", &["v1", "inbox", "*"], "/v1/inbox/{id}"),
    ("relay", &["v1", "mail"], "/v1/mail"),
    ("relay", &["v1", "mail", "*"], "/v1/mail/{id}"),
    ("relay", &["v1", "shl"], "/v1/shl"),
    ("relay", &["v1", "shl", "*"], "/v1/shl/{id}"),
    ("relay", &["v1", "shl-files", "*"], "/v1/shl-files/{token}"),
    ("relay", &["v1", "state", "*"], "/v1/state/{slot}"),
    ("relay", &["v1", "reencrypt"], "/v1/reencrypt"),
    ("srs", &["srs", "v1", "info"], "/srs/v1/info"),
    ("srs", &["srs", "v1", "directory"], "/srs/v1/directory"),
    (
        "srs",
        &["srs", "v1", "directory", "*"],
        "/srs/v1/directory/{id}",
    ),
    ("srs", &["srs", "v1", "heads"], "/srs/v1/heads"),
    (
        "srs",
        &["srs", "v1", "heads", "*"],
        "/srs/v1/heads/{record}",
    ),
    ("srs", &["srs", "v1", "grants"], "/srs/v1/grants"),
    (
        "srs",
        &["srs", "v1", "records", "*", "grants"],
        "/srs/v1/records/{record}/grants",
    ),
    (
        "srs",
        &["srs", "v1", "records", "*", "audit"],
        "/srs/v1/records/{record}/audit",
    ),
    (
        "srs",
        &["srs", "v1", "records", "*", "emergency"],
        "/srs/v1/records/{record}/emergency",
    ),
    (
        "srs",
        &["srs", "v1", "records", "*", "emergency", "*"],
        "/srs/v1/records/{record}/emergency/{grant}",
    ),
    (
        "srs",
        &["srs", "v1", "audit", "consistency", "*", "*"],
        "/srs/v1/audit/consistency/{first}/{second}",
    ),
    (
        "srs",
        &["srs", "v1", "audit", "inclusion", "*", "*"],
        "/srs/v1/audit/inclusion/{index}/{tree_size}",
    ),
    ("srs", &["srs", "v1", "reencrypt"], "/srs/v1/reencrypt"),
    ("srs", &["srs", "v1", "revocations"], "/srs/v1/revocations"),
    (
        "srs",
        &["srs", "v1", "emergency", "activations"],
        "/srs/v1/emergency/activations",
    ),
    (
        "srs",
        &["srs", "v1", "emergency", "decisions"],
        "/srs/v1/emergency/decisions",
    ),
    ("ops", &["healthz"], "/healthz"),
    ("ops", &["readyz"], "/readyz"),
    ("ops", &["metrics"], "/metrics"),
];

/// The service and route template of a request path (without its query):
/// a fixed table, so label values are bounded whatever strangers send.
/// API paths that match no route are `unmatched`; everything else is the
/// portal's `static`.
pub fn route(path: &str) -> (&'static str, &'static str) {
    let path = path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (service, pattern, template) in ROUTES {
        if pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| *p == *s || (*p == "*" && !s.is_empty()))
        {
            return (service, template);
        }
    }
    match segments.first() {
        Some(&"v1") => ("relay", "unmatched"),
        Some(&"srs") => ("srs", "unmatched"),
        _ => ("portal", "static"),
    }
}

/// The `/metrics` route (for the operator's listener only).
pub fn route_filter(
) -> impl warp::Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    use warp::Filter;
    warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| {
            let mut resp = warp::reply::Response::new(metrics().encode().into());
            resp.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::header::HeaderValue::from_static(
                    "text/plain; version=0.0.4; charset=utf-8",
                ),
            );
            resp
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_without_ids() {
        let id = "ab".repeat(32);
        assert_eq!(
            route(&format!("/v1/blobs/{id}")),
            ("relay", "/v1/blobs/{id}")
        );
        assert_eq!(
            route(&format!("/v1/records/{id}/manifests/latest")),
            ("relay", "/v1/records/{record}/manifests/{version}")
        );
        assert_eq!(
            route(&format!(
                "/srs/v1/records/{id}/emergency/{}",
                "cd".repeat(16)
            )),
            ("srs", "/srs/v1/records/{record}/emergency/{grant}")
        );
        assert_eq!(route("/v1/mail?after=12"), ("relay", "/v1/mail"));
        assert_eq!(
            route("/srs/v1/audit/inclusion/3/9").1,
            "/srs/v1/audit/inclusion/{index}/{tree_size}"
        );
        // Unknown API paths share one label; portal files another.
        assert_eq!(route(&format!("/v1/{id}/x")), ("relay", "unmatched"));
        assert_eq!(route("/v1/blobs/"), ("relay", "unmatched"));
        assert_eq!(route(&format!("/srs/{id}")), ("srs", "unmatched"));
        assert_eq!(route(&format!("/pkg/{id}.js")), ("portal", "static"));
        assert_eq!(route("/"), ("portal", "static"));
    }

    /// Every API route of the README's route table has its template here
    /// (a route added without one would be counted as `unmatched`).
    #[test]
    fn every_documented_route_has_a_template() {
        let readme = include_str!("../../../README.md");
        let mut checked = 0;
        for line in readme.lines().filter(|l| l.starts_with("| ")) {
            let Some(path) = line.split('`').nth(1) else {
                continue;
            };
            if !(path.starts_with("/v1/") || path.starts_with("/srs/") || path.ends_with("z")) {
                continue;
            }
            // Placeholders as a client fills them in.
            let fill = |p: &str| -> String {
                p.split('?')
                    .next()
                    .unwrap()
                    .split('/')
                    .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let (_, template) = route(&fill(path));
            assert_ne!(template, "unmatched", "{path} has no template");
            assert_eq!(fill(template), fill(path), "{path}");
            checked += 1;
        }
        assert!(checked >= 40, "{checked} routes checked");
    }

    #[test]
    fn requests_are_counted_by_template() {
        let m = metrics();
        let id = "ef".repeat(32);
        let before = m
            .requests
            .with_label_values(&["relay", "/v1/blobs/{id}", "GET", "404"])
            .get();
        m.request(
            "GET",
            &format!("/v1/blobs/{id}"),
            404,
            Duration::from_millis(3),
        );
        assert_eq!(
            m.requests
                .with_label_values(&["relay", "/v1/blobs/{id}", "GET", "404"])
                .get(),
            before + 1
        );
        let text = String::from_utf8(m.encode()).unwrap();
        assert!(text.contains("sesphr_http_request_duration_seconds_bucket"));
        assert!(!text.contains(&id), "no id in any series");
    }
}
