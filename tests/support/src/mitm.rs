//! A relay that lies or lags: an HTTP front of the real servers that
//! forwards every request and, by rule, hides the newest manifests, serves
//! other bytes for a blob, cuts a blob short, loses a reply after the real
//! server acted on the request, or fails a route outright. It stands for the
//! untrusted relay (and the network) of the threat model, never for a
//! server: the servers behind it are the real ones.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use warp::http::{HeaderMap, Method, StatusCode};
use warp::{Filter, Reply};

/// What the front does to the traffic.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Serve no manifest above this version: `latest` is this version.
    pub hide_manifests_above: Option<u64>,
    /// Serve the bytes of the second blob for the first.
    pub swap_blob: Option<([u8; 32], [u8; 32])>,
    /// Serve a blob without its last `n` bytes.
    pub truncate_blob: Option<([u8; 32], usize)>,
    /// Forward requests whose path starts with this, then lose the reply
    /// (`502`): the server acted, the client never heard.
    pub lose_reply: Option<String>,
    /// Fail requests whose path starts with this with `503`, unforwarded
    /// (the server behind is down or unreachable).
    pub fail: Option<String>,
}

/// A running front.
pub struct Mitm {
    /// Its base URL: point the clients here.
    pub base: String,
    /// The rules, changeable at any time.
    pub rules: Arc<Mutex<Rules>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn reply(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> warp::reply::Response {
    let mut resp = warp::reply::with_status(body, status).into_response();
    for name in ["content-type", "retry-after"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if let Ok(v) = warp::http::HeaderValue::from_str(v) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

fn gone(status: StatusCode) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "code": "not_found", "message": "hidden" })),
        status,
    )
    .into_response()
}

impl Mitm {
    /// Starts a front of `upstream` on a loopback port.
    pub async fn start(upstream: &str) -> Mitm {
        let rules = Arc::new(Mutex::new(Rules::default()));
        let upstream = upstream.trim_end_matches('/').to_string();
        let http = reqwest::Client::new();
        let r = rules.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |method: Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers: HeaderMap,
                      body: bytes::Bytes| {
                    let (rules, upstream, http) =
                        (r.lock().unwrap().clone(), upstream.clone(), http.clone());
                    async move {
                        forward(
                            &rules,
                            &upstream,
                            &http,
                            method,
                            path.as_str(),
                            &query,
                            &headers,
                            body,
                        )
                        .await
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(route)
                .incoming(listener)
                .graceful(async move {
                    let _ = rx.await;
                })
                .run(),
        );
        Mitm {
            base: format!("http://{addr}"),
            rules,
            stop: Some(tx),
        }
    }

    /// Changes the rules.
    pub fn set(&self, f: impl FnOnce(&mut Rules)) {
        f(&mut self.rules.lock().unwrap());
    }
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    rules: &Rules,
    upstream: &str,
    http: &reqwest::Client,
    method: Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> warp::reply::Response {
    if rules.fail.as_deref().is_some_and(|p| path.starts_with(p)) {
        return gone(StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut path = path.to_string();
    // Manifests: /v1/records/{r}/manifests/{v|latest}
    if let (Some(max), Some(rest)) = (
        rules.hide_manifests_above,
        path.strip_prefix("/v1/records/"),
    ) {
        if let Some((record, which)) = rest.split_once("/manifests/") {
            match which {
                "latest" => path = format!("/v1/records/{record}/manifests/{max}"),
                v if v.parse::<u64>().is_ok_and(|v| v > max) => return gone(StatusCode::NOT_FOUND),
                _ => {}
            }
        }
    }
    let blob = |id: &[u8; 32]| format!("/v1/blobs/{}", hex::encode(id));
    if let Some((from, to)) = rules.swap_blob {
        if path == blob(&from) {
            path = blob(&to);
        }
    }
    let target = if query.is_empty() {
        format!("{upstream}{path}")
    } else {
        format!("{upstream}{path}?{query}")
    };
    let mut req = http.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        target,
    );
    for (name, value) in headers {
        if ["content-type", "x-sesphr-token", "range"].contains(&name.as_str()) {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(resp) = req.body(body).send().await else {
        return gone(StatusCode::BAD_GATEWAY);
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let resp_headers = resp.headers().clone();
    let mut bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    if rules
        .lose_reply
        .as_deref()
        .is_some_and(|p| path.starts_with(p))
    {
        return gone(StatusCode::BAD_GATEWAY);
    }
    if let Some((id, n)) = rules.truncate_blob {
        if path == blob(&id) {
            bytes.truncate(bytes.len().saturating_sub(n));
        }
    }
    reply(status, &resp_headers, bytes)
}
