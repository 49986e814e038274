//! Start-up: the configured services' routes, composed, and the server entry
//! point `run(listener, shutdown, config)`, so tests bind port 0 and stop the
//! server when they are done.

use std::future::Future;
use std::sync::Arc;

use warp::http::{header, StatusCode};
use warp::Filter;

use crate::config::{Config, Services, StartError};
use crate::http::error::{recover, ApiError};
use crate::http::json;
use crate::relay::store::LocalStore;
use crate::relay::{routes as relay_routes, Relay};
use crate::srs::store::SqliteStore;
use crate::srs::{routes as srs_routes, Srs};

/// Security headers on every response.
fn secure(mut resp: warp::reply::Response) -> warp::reply::Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
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

/// Builds every route of the configured services.
pub fn routes(
    config: &Config,
) -> Result<warp::filters::BoxedFilter<(warp::reply::Response,)>, StartError> {
    let setup = |e: ApiError| StartError::Setup(e.message);
    let health = warp::path("healthz")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| json(StatusCode::OK, &serde_json::json!({ "status": "ok" })));
    let mut all = health.boxed();
    if config.services != Services::Relay {
        let dir = config.data_dir.join("srs");
        std::fs::create_dir_all(&dir)?;
        let identity = crate::srs::identity::load_or_create(&dir.join("identity.seed"))?;
        let store = SqliteStore::open(&dir.join("srs.sqlite3"))
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let srs = Srs::new(
            identity,
            Arc::new(store),
            config.replay_window_ms,
            config.quotas,
        )
        .map_err(setup)?;
        tracing::info!(fingerprint = %srs.info().fingerprint, id = %srs.info().id, "SRS identity");
        all = all
            .or(srs_routes::routes(Arc::new(srs), config.limits))
            .unify()
            .boxed();
    }
    if config.services != Services::Srs {
        let srs_url = config
            .srs_url
            .clone()
            .ok_or_else(|| StartError::Setup("the relay needs the SRS URL (--srs-url)".into()))?;
        let store = LocalStore::open(config.data_dir.join("relay"))
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let relay = Arc::new(
            Relay::new(
                Arc::new(store),
                config.max_blob_bytes,
                srs_url,
                config.replay_window_ms,
                config.quotas,
            )
            .map_err(setup)?,
        );
        if config.services == Services::Relay {
            all = all
                .or(relay_routes::srs_proxy(relay.clone(), config.limits))
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
    Ok(all.recover(recover).unify().map(secure).boxed())
}

/// The configured services, ready to serve on a listener.
pub struct Prepared {
    routes: warp::filters::BoxedFilter<(warp::reply::Response,)>,
    limits: crate::config::Limits,
}

/// Opens the stores and builds the routes for `listener` (a relay whose SRS
/// URL is not set forwards to this same listener). Fails before anything is
/// served, so a caller reports a bad data directory before it says it
/// listens.
pub fn prepare(
    listener: &tokio::net::TcpListener,
    mut config: Config,
) -> Result<Prepared, StartError> {
    if config.srs_url.is_none() && config.services == Services::All {
        config.srs_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let log = warp::log::custom(|info| {
        tracing::info!(
            method = %info.method(),
            path = info.path(),
            status = info.status().as_u16(),
            elapsed_ms = info.elapsed().as_millis() as u64,
            "request"
        );
    });
    Ok(Prepared {
        routes: routes(&config)?
            .with(log)
            .map(warp::Reply::into_response)
            .boxed(),
        limits: config.limits,
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
    config: Config,
) -> Result<(), StartError> {
    let prepared = prepare(&listener, config)?;
    serve(listener, prepared, shutdown).await;
    Ok(())
}
