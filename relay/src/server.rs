//! Routes and the server entry point `run(listener, shutdown, config)`, so
//! tests bind port 0 and stop the server when they are done.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use warp::http::{header, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::error::{recover, reject, ApiError};
use crate::relay::{InboxItem, Relay};
use crate::srs::{GrantUpload, Srs};
use crate::srs_store::SqliteStore;

/// Largest request body for everything but blobs (manifests, grants, requests).
pub const MAX_OBJECT_BYTES: u64 = 1 << 20;
const TOKEN_HEADER: &str = "x-sesphr-token";
const OCTETS: &str = "application/octet-stream";

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

/// Server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory (`relay/` and `srs/` beneath it).
    pub data_dir: PathBuf,
    /// Which services to run.
    pub services: Services,
    /// Largest blob, bytes.
    pub max_blob_bytes: u64,
    /// Base URL of the SRS the relay forwards to (`None`: this process).
    pub srs_url: Option<String>,
    /// Portal files.
    pub www_dir: PathBuf,
    /// Built wasm package (`scripts/build-wasm.sh`).
    pub pkg_dir: PathBuf,
    /// Replay window for signed requests, ms.
    pub replay_window_ms: u64,
    /// Connection count and timeouts.
    pub limits: crate::listener::Limits,
}

impl Config {
    /// Defaults for a data directory: everything in one process.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            services: Services::All,
            max_blob_bytes: 4 << 30,
            srs_url: None,
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            replay_window_ms: 5 * 60 * 1000,
            limits: crate::listener::Limits::default(),
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

fn octets(status: StatusCode, body: Vec<u8>) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::with_header(body, header::CONTENT_TYPE, OCTETS),
        status,
    )
    .into_response()
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(v), status).into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Rejection> {
    reject(
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ApiError::internal)
            .and_then(|r| r),
    )
}

fn octet_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_OBJECT_BYTES).and(warp::body::bytes())
}

fn srs_routes(srs: Arc<Srs>) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let s = warp::any().map(move || srs.clone());
    let base = warp::path("srs").and(warp::path("v1"));
    let info = base
        .and(warp::path("info"))
        .and(warp::path::end())
        .and(warp::get())
        .and(s.clone())
        .map(|s: Arc<Srs>| json(StatusCode::OK, &s.info()));
    let register = base
        .and(warp::path("directory"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body())
        .and(s.clone())
        .and_then(|body: bytes::Bytes, s: Arc<Srs>| async move {
            let (status, id) = blocking(move || s.register(&body)).await?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({ "id": id })))
        });
    let lookup = base
        .and(warp::path!("directory" / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|id: String, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                blocking(move || s.lookup(&id)).await?,
            ))
        });
    let post_head = base
        .and(warp::path("heads"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body())
        .and(s.clone())
        .and_then(|body: bytes::Bytes, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::CREATED,
                blocking(move || s.post_head(&body)).await?,
            ))
        });
    let get_head = base
        .and(warp::path!("heads" / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|r: String, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                blocking(move || s.get_head(&r)).await?,
            ))
        });
    let post_grant = base
        .and(warp::path("grants"))
        .and(warp::path::end())
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_OBJECT_BYTES))
        .and(warp::body::json())
        .and(s.clone())
        .and_then(|g: GrantUpload, s: Arc<Srs>| async move {
            let id = blocking(move || s.post_grant(&g)).await?;
            Ok::<_, Rejection>(json(
                StatusCode::CREATED,
                &serde_json::json!({ "grantId": id }),
            ))
        });
    let list_grants = base
        .and(warp::path!("records" / String / "grants"))
        .and(warp::get())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &blocking(move || s.list_grants(&r, t.as_deref())).await?,
            ))
        });
    let audit = base
        .and(warp::path!("records" / String / "audit"))
        .and(warp::get())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &blocking(move || s.read_audit(&r, t.as_deref())).await?,
            ))
        });
    let consistency = base
        .and(warp::path!("audit" / "consistency" / u64 / u64))
        .and(warp::get())
        .and(s.clone())
        .and_then(|first: u64, second: u64, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &blocking(move || s.consistency(first, second)).await?,
            ))
        });
    let reencrypt = base
        .and(warp::path("reencrypt"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body())
        .and(s.clone())
        .and_then(|body: bytes::Bytes, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                blocking(move || s.reencrypt(&body)).await?,
            ))
        });
    let revoke = base
        .and(warp::path("revocations"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body())
        .and(s)
        .and_then(|body: bytes::Bytes, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                blocking(move || s.revoke(&body)).await?,
            ))
        });
    info.or(register)
        .unify()
        .or(lookup)
        .unify()
        .or(post_head)
        .unify()
        .or(get_head)
        .unify()
        .or(post_grant)
        .unify()
        .or(list_grants)
        .unify()
        .or(audit)
        .unify()
        .or(consistency)
        .unify()
        .or(reencrypt)
        .unify()
        .or(revoke)
        .unify()
        .boxed()
}

fn relay_routes(relay: Arc<Relay>) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let r = warp::any().map(move || relay.clone());
    let base = warp::path("v1");
    let put_blob = base
        .and(warp::path!("blobs" / String))
        .and(warp::put())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and(r.clone())
        .and_then(|hash: String, token: Option<String>, len: Option<u64>, body, r: Arc<Relay>| async move {
            let status = reject(r.put_blob(&hash, token.as_deref(), len, Box::pin(body)).await)?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({ "id": hash })))
        });
    let get_blob = base
        .and(warp::path!("blobs" / String))
        .and(warp::get().or(warp::head()).unify())
        .and(warp::header::optional::<String>("range"))
        .and(r.clone())
        .and_then(
            |hash: String, range: Option<String>, r: Arc<Relay>| async move {
                let read = reject(r.get_blob(&hash, range.as_deref()).await)?;
                let mut resp = warp::reply::stream(read.body).into_response();
                *resp.status_mut() = read.status;
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(OCTETS),
                );
                h.insert(
                    header::CONTENT_LENGTH,
                    header::HeaderValue::from(read.length),
                );
                h.insert(
                    header::ACCEPT_RANGES,
                    header::HeaderValue::from_static("bytes"),
                );
                if let Some(cr) = read
                    .content_range
                    .and_then(|v| header::HeaderValue::from_str(&v).ok())
                {
                    h.insert(header::CONTENT_RANGE, cr);
                }
                Ok::<_, Rejection>(resp)
            },
        );
    let delete_blob = base
        .and(warp::path!("blobs" / String))
        .and(warp::delete())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(r.clone())
        .and_then(
            |hash: String, token: Option<String>, r: Arc<Relay>| async move {
                reject(r.delete_blob(&hash, token.as_deref()).await)?;
                Ok::<_, Rejection>(json(
                    StatusCode::OK,
                    &serde_json::json!({ "deleted": hash }),
                ))
            },
        );
    let post_manifest = base
        .and(warp::path!("records" / String / "manifests"))
        .and(warp::post())
        .and(octet_body())
        .and(r.clone())
        .and_then(
            |rec: String, body: bytes::Bytes, r: Arc<Relay>| async move {
                let v = reject(r.post_manifest(&rec, &body).await)?;
                Ok::<_, Rejection>(json(
                    StatusCode::CREATED,
                    &serde_json::json!({ "version": v }),
                ))
            },
        );
    let get_manifest = base
        .and(warp::path!("records" / String / "manifests" / String))
        .and(warp::get())
        .and(r.clone())
        .and_then(|rec: String, which: String, r: Arc<Relay>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                reject(r.get_manifest(&rec, &which).await)?,
            ))
        });
    let post_inbox = base
        .and(warp::path("inbox"))
        .and(warp::path::end())
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_OBJECT_BYTES))
        .and(warp::body::json())
        .and(r.clone())
        .and_then(|item: InboxItem, r: Arc<Relay>| async move {
            let status = reject(r.post_inbox(&item).await)?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({})))
        });
    let get_inbox = base
        .and(warp::path("inbox"))
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(r.clone())
        .and_then(|t: Option<String>, r: Arc<Relay>| async move {
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &reject(r.get_inbox(t.as_deref()).await)?,
            ))
        });
    let reencrypt = base
        .and(warp::path("reencrypt"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body())
        .and(r)
        .and_then(|body: bytes::Bytes, r: Arc<Relay>| async move {
            let (status, ctype, bytes) = reject(r.forward_reencrypt(body).await)?;
            Ok::<_, Rejection>(
                warp::reply::with_status(
                    warp::reply::with_header(bytes, header::CONTENT_TYPE, ctype),
                    status,
                )
                .into_response(),
            )
        });
    put_blob
        .or(get_blob)
        .unify()
        .or(delete_blob)
        .unify()
        .or(post_manifest)
        .unify()
        .or(get_manifest)
        .unify()
        .or(post_inbox)
        .unify()
        .or(get_inbox)
        .unify()
        .or(reencrypt)
        .unify()
        .boxed()
}

fn static_routes(config: &Config) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let read = || warp::get().or(warp::head()).unify();
    let www = read()
        .and(warp::fs::dir(config.www_dir.clone()))
        .map(|f: warp::fs::File| f.into_response());
    let pkg = read()
        .and(warp::path("pkg"))
        .and(warp::fs::dir(config.pkg_dir.clone()))
        .map(|f: warp::fs::File| f.into_response());
    pkg.or(www).unify().boxed()
}

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
        let identity = crate::identity::load_or_create(&dir.join("identity.seed"))?;
        let store = SqliteStore::open(&dir.join("srs.sqlite3"))
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let srs = Srs::new(identity, Arc::new(store), config.replay_window_ms).map_err(setup)?;
        tracing::info!(fingerprint = %srs.info().fingerprint, id = %srs.info().id, "SRS identity");
        all = all.or(srs_routes(Arc::new(srs))).unify().boxed();
    }
    if config.services != Services::Srs {
        let srs_url = config
            .srs_url
            .clone()
            .ok_or_else(|| StartError::Setup("the relay needs the SRS URL".into()))?;
        let store = crate::relay_store::FsStore::open(config.data_dir.join("relay"))
            .map_err(|e| StartError::Setup(e.to_string()))?;
        let relay = Relay::new(
            Arc::new(store),
            config.max_blob_bytes,
            srs_url,
            config.replay_window_ms,
        )
        .map_err(setup)?;
        all = all
            .or(relay_routes(Arc::new(relay)))
            .unify()
            .or(static_routes(config))
            .unify()
            .boxed();
    }
    Ok(all.recover(recover).unify().map(secure).boxed())
}

/// Serves the configured services on `listener` until `shutdown` resolves;
/// in-flight requests finish first. A relay whose SRS URL is not set forwards
/// to this same listener.
pub async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut config: Config,
) -> Result<(), StartError> {
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
    let routes = routes(&config)?.with(log).boxed();
    tracing::info!(addr = %listener.local_addr()?, services = ?config.services, "serving");
    crate::listener::serve(listener, routes, shutdown, config.limits).await;
    Ok(())
}
