//! Start-up: the configured services' routes, composed, and the server entry
//! point `run(listener, shutdown, config)`, so tests bind port 0 and stop the
//! server when they are done.

use std::future::Future;
use std::sync::Arc;

use warp::filters::path::FullPath;
use warp::http::{header, Method, StatusCode};
use warp::Filter;

use crate::config::{Config, Services, StartError};
use crate::http::error::{recover, ApiError};
use crate::ops::health::Readiness;
use crate::relay::peer::{Forwarded, HttpPeer, PeerFuture, SrsPeer};
use crate::relay::store::LocalStore;
use crate::relay::{routes as relay_routes, Relay};
use crate::srs::{routes as srs_routes, Srs};

/// Whether a public URL names this machine (a development relay).
fn loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Security headers on every response (`path`: the request's; `dev`: the
/// relay is reached on this machine only).
fn secure(
    path: &str,
    dev: bool,
    portal: Option<&header::HeaderValue>,
    mut resp: warp::reply::Response,
) -> warp::reply::Response {
    let h = resp.headers_mut();
    if let Some(csp) = portal.filter(|_| path != "/view.html") {
        h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    } else {
        h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(if path == "/view.html" && dev {
            // The SMART Health Link viewer also opens links of other SHL
            // servers: it may fetch from any https origin, and, on a relay
            // reached on this machine (development), plain http here too;
            // scripts stay 'self'.
            "default-src 'self'; connect-src 'self' https: http://localhost:* http://127.0.0.1:*; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        } else if path == "/view.html" {
            "default-src 'self'; connect-src 'self' https:; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        } else {
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        }),
    );
    }
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    resp
}

/// The SRS of this process as the relay's peer: the relay and the SRS still
/// share nothing but wire types; only this composition layer sees both.
struct LocalSrs(Arc<Srs>);

impl SrsPeer for LocalSrs {
    fn registered<'a>(&'a self, party: &'a [u8; 32]) -> PeerFuture<'a, bool> {
        let (srs, id) = (self.0.clone(), hex::encode(party));
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || srs.lookup(&id))
                .await
                .map_err(ApiError::internal)?
            {
                Ok(_) => Ok(true),
                Err(e) if e.status == StatusCode::NOT_FOUND => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn reencrypt(&self, sealed: bytes::Bytes) -> PeerFuture<'_, Forwarded> {
        let srs = self.0.clone();
        Box::pin(async move {
            let answer = tokio::task::spawn_blocking(move || srs.reencrypt(&sealed))
                .await
                .map_err(ApiError::internal)?;
            Ok(match answer {
                Ok(bytes) => Forwarded {
                    status: StatusCode::OK,
                    content_type: crate::http::OCTETS.into(),
                    retry_after: None,
                    body: bytes.into(),
                },
                Err(e) => Forwarded {
                    status: e.status,
                    content_type: "application/json".into(),
                    retry_after: e.retry_after.map(|s| s.to_string()),
                    body: serde_json::to_vec(
                        &serde_json::json!({ "code": e.code, "message": e.message }),
                    )
                    .map_err(ApiError::internal)?
                    .into(),
                },
            })
        })
    }
}

/// Builds every route of the configured services.
pub fn routes(
    config: &Config,
) -> Result<warp::filters::BoxedFilter<(warp::reply::Response,)>, StartError> {
    Ok(build(config)?.0)
}

/// Every route of the configured services, and the readiness checks of
/// the backends they opened.
fn build(
    config: &Config,
) -> Result<
    (
        warp::filters::BoxedFilter<(warp::reply::Response,)>,
        Readiness,
    ),
    StartError,
> {
    let setup = |e: ApiError| StartError::Setup(e.message);
    let mut ready = Readiness::default();
    // Rejects everything: the services' routes are `or`ed onto it, and
    // health goes in front once every readiness check is known.
    let mut all = warp::any()
        .and_then(|| async { Err::<warp::reply::Response, _>(warp::reject::not_found()) })
        .boxed();
    let mut local: Option<Arc<Srs>> = None;
    if config.services != Services::Relay {
        let dir = config.data_dir.join("srs");
        std::fs::create_dir_all(&dir)?;
        let identity = crate::srs::identity::load_or_create(&dir.join("identity.seed"))?;
        let at = config
            .srs_db
            .clone()
            .unwrap_or_else(|| crate::db::DbLocation::Sqlite(dir.join("srs.sqlite3")));
        let backend = match at {
            crate::db::DbLocation::Sqlite(_) => "sqlite",
            crate::db::DbLocation::Postgres(_) => "postgres",
        };
        let srs = Srs::open(
            identity,
            &at,
            |store| crate::ops::srs_store(store, backend, &mut ready),
            config.replay_window_ms,
            config.quotas,
        )?;
        let srs = match &config.test_only_emergency_clock {
            Some(clock) => {
                tracing::warn!("TEST ONLY: emergency waits run on a test clock");
                srs.with_emergency_clock(clock.0.clone())
            }
            None => srs,
        };
        tracing::info!(fingerprint = %srs.info().fingerprint, id = %srs.info().id, "SRS identity");
        let srs = Arc::new(srs);
        all = all
            .or(srs_routes::routes(srs.clone(), config.limits))
            .unify()
            .boxed();
        local = Some(srs);
    }
    if config.services != Services::Srs {
        let (peer, proxy): (Arc<dyn SrsPeer>, Option<HttpPeer>) = match (&config.srs_url, local) {
            (Some(url), _) => {
                let http = HttpPeer::new(url).map_err(setup)?;
                let probe = http.clone();
                ready.add("srs", move || probe.health());
                (Arc::new(http.clone()), Some(http))
            }
            (None, Some(srs)) => (Arc::new(LocalSrs(srs)), None),
            (None, None) => {
                return Err(StartError::Setup(
                    "the relay needs the SRS URL (--srs-url)".into(),
                ))
            }
        };
        let root = config.data_dir.join("relay");
        let meta = config
            .relay_db
            .clone()
            .unwrap_or_else(|| crate::db::DbLocation::Sqlite(root.join("meta.sqlite3")));
        let store = crate::relay::blobs::open(&config.blob_store, &root, config.max_blob_bytes)
            .and_then(|blobs| LocalStore::open_parts(root, blobs, &meta))
            .map_err(|e| StartError::Setup(e.to_string()))?;
        // The metrics' `backend` label: where blob bytes, then metadata, are.
        use crate::db::DbLocation::{Postgres, Sqlite};
        use crate::relay::blobs::BlobStoreUrl::{File, Memory, S3};
        let backend = match (&config.blob_store, &meta) {
            (File, Sqlite(_)) => "files+sqlite",
            (File, Postgres(_)) => "files+postgres",
            (Memory, Sqlite(_)) => "memory+sqlite",
            (Memory, Postgres(_)) => "memory+postgres",
            (S3 { .. }, Sqlite(_)) => "s3+sqlite",
            (S3 { .. }, Postgres(_)) => "s3+postgres",
        };
        let store = crate::ops::relay_store(Arc::new(store), backend, &mut ready);
        let relay = Arc::new(
            Relay::new(
                store,
                config.max_blob_bytes,
                peer,
                config.replay_window_ms,
                config.quotas,
            )
            .map_err(setup)?
            .with_public_url(config.public_url.as_deref().unwrap_or("http://localhost"))
            .with_trusted_proxy(config.trusted_proxy)
            .with_sharding(config.sharding.clone()),
        );
        if let Some(http) = proxy.filter(|_| config.services == Services::Relay) {
            all = all
                .or(relay_routes::srs_proxy(http, config.limits))
                .unify()
                .boxed();
        }
        all = all
            .or(relay_routes::routes(relay, config.limits))
            .unify()
            .or(relay_routes::static_routes(config))
            .unify()
            .boxed();
    }
    let all = ready.clone().routes().or(all).unify();
    let dev = config.public_url.as_deref().is_none_or(loopback_url);
    let portals: Arc<[String]> = config.cors_origins.clone().into();
    // A sharded deployment's portal also connects to the other relays.
    let portal_csp = config.sharding.as_ref().and_then(|s| {
        header::HeaderValue::from_str(&format!(
            "default-src 'self'; connect-src 'self' {}; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            s.relays.join(" ")
        ))
        .ok()
    });
    Ok((
        warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("origin"))
            .and(all.recover(recover).unify())
            .map(move |m: Method, p: FullPath, origin: Option<String>, r| {
                let r = portal_cors(&portals, origin.as_deref(), &m, p.as_str(), r);
                secure(
                    p.as_str(),
                    dev,
                    portal_csp.as_ref(),
                    shl_cors(&m, p.as_str(), r),
                )
            })
            .boxed(),
        ready,
    ))
}

/// The routes a portal on another origin uses at a relay of its set
/// (docs/protocol.md, "Sharded placement"): shards, manifests, inboxes, the
/// SRS forwarding. Each is authorised by a signed token or needs none;
/// none reads a cookie, so allowing a configured origin adds no ambient
/// authority.
fn shard_route(path: &str) -> bool {
    path.starts_with("/v1/blobs/")
        || path.starts_with("/v1/records/")
        || path == "/v1/inbox"
        || path == "/v1/reencrypt"
        || path == "/v1/config"
}

/// CORS for the portal origins this relay serves as a shard relay
/// (`--cors-origins`): the exact origin echoed, preflights answered. Any
/// other origin gets no CORS header (the browser then refuses the read).
fn portal_cors(
    portals: &[String],
    origin: Option<&str>,
    method: &Method,
    path: &str,
    resp: warp::reply::Response,
) -> warp::reply::Response {
    let Some(origin) = origin.filter(|o| portals.iter().any(|p| p == o)) else {
        return resp;
    };
    if !shard_route(path) {
        return resp;
    }
    let Ok(value) = header::HeaderValue::from_str(origin) else {
        return resp;
    };
    let mut resp = if method == Method::OPTIONS {
        let mut pre = warp::Reply::into_response(warp::reply::with_status(
            warp::reply(),
            StatusCode::NO_CONTENT,
        ));
        let h = pre.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::HeaderValue::from_static("GET, PUT, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::HeaderValue::from_static("content-type, range, x-sesphr-token"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            header::HeaderValue::from_static("600"),
        );
        pre
    } else {
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    h.insert(header::VARY, header::HeaderValue::from_static("origin"));
    resp
}

/// The public SMART Health Link routes (manifest, its preflight, a direct
/// file, files behind locations) may
/// be read from any origin, as the SHL specification expects of a viewer
/// elsewhere: they need no credential and answer the same to everyone.
/// The owner's routes (`PUT`, `DELETE`, the listing) stay same-origin.
fn shl_cors(method: &Method, path: &str, mut resp: warp::reply::Response) -> warp::reply::Response {
    let manifest = path
        .strip_prefix("/v1/shl/")
        .is_some_and(|id| !id.contains('/'))
        && (method == Method::POST || method == Method::OPTIONS || method == Method::GET);
    let file = path.starts_with("/v1/shl-files/") && method == Method::GET;
    if manifest || file {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::HeaderValue::from_static("*"),
        );
        if method == Method::OPTIONS {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                header::HeaderValue::from_static("600"),
            );
        }
    }
    resp
}

/// The configured services, ready to serve on a listener.
pub struct Prepared {
    routes: warp::filters::BoxedFilter<(warp::reply::Response,)>,
    limits: crate::config::Limits,
    ready: Readiness,
}

impl Prepared {
    /// The operator's routes, for a listener of their own
    /// (`--metrics-listen`), never the public one: `/metrics`, `/healthz`,
    /// `/readyz`.
    pub fn ops_routes(&self) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
        crate::ops::metrics::route_filter()
            .or(self.ready.clone().routes())
            .unify()
            .recover(recover)
            .unify()
            .boxed()
    }

    /// Serves [`Prepared::ops_routes`] on `listener` until `shutdown`.
    pub fn serve_ops(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        crate::http::listener::serve(listener, self.ops_routes(), shutdown, self.limits)
    }
}

/// Opens the stores and builds the routes (`serve` without an SRS URL
/// reaches its own SRS in process). Fails before anything is served, so a
/// caller reports a bad data directory before it says it listens.
pub fn prepare(config: Config) -> Result<Prepared, StartError> {
    let log = warp::log::custom(|info| {
        crate::ops::log_request(
            info.method().as_str(),
            info.path(),
            info.status().as_u16(),
            info.elapsed(),
        );
    });
    let (routes, ready) = build(&config)?;
    Ok(Prepared {
        routes: routes.with(log).map(warp::Reply::into_response).boxed(),
        limits: config.limits,
        ready,
    })
}

/// Serves prepared services on `listener` until `shutdown` resolves;
/// in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    prepared: Prepared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
    }
    crate::http::listener::serve(listener, prepared.routes, shutdown, prepared.limits).await;
}

/// [`prepare`] then [`serve`].
pub async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut config: Config,
) -> Result<(), StartError> {
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let prepared = prepare(config)?;
    serve(listener, prepared, shutdown).await;
    Ok(())
}
