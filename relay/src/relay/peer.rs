//! How the relay reaches the SRS, behind a trait so the relay never imports
//! the SRS: over HTTP ([`HttpPeer`], a relay process of its own), or, when
//! one process serves both, in that process (the server's composition layer
//! implements [`SrsPeer`] for the SRS it runs), where a hop through the
//! listener would cost time and connection slots for nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warp::http::StatusCode;

use crate::http::error::ApiError;
use crate::http::{OCTETS, TOKEN_HEADER};
use crate::ops::health::{CheckFuture, State};

/// A boxed future of a peer call.
pub type PeerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// What the SRS answered a forwarded request.
#[derive(Debug)]
pub struct Forwarded {
    /// Its status.
    pub status: StatusCode,
    /// Its content type.
    pub content_type: String,
    /// Its `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Its body.
    pub body: bytes::Bytes,
}

/// The SRS as the relay uses it.
pub trait SrsPeer: Send + Sync {
    /// Whether `party` is in the SRS directory.
    fn registered<'a>(&'a self, party: &'a [u8; 32]) -> PeerFuture<'a, bool>;
    /// Forwards a sealed re-encryption request; the SRS's reply, unchanged.
    fn reencrypt(&self, sealed: bytes::Bytes) -> PeerFuture<'_, Forwarded>;
}

/// The SRS could not be asked.
pub fn srs_unreachable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "srs_unreachable", e.to_string())
}

/// After a connection to an SRS failed, it is skipped this long (while
/// another answers), then tried again.
pub const RETRY_DOWN_AFTER: Duration = Duration::from_secs(5);

/// The SRS processes of a deployment, each at a base URL (`--srs-url`, a
/// comma-separated list; they share one identity and one database).
///
/// Requests are spread over them in turn. A request moves on to the next
/// SRS only when it cannot have reached the one it was sent to:
///
/// - any request, when no connection could be made (refused, unreachable,
///   connect timeout: nothing was sent);
/// - `GET` and `HEAD` (directory look-ups, heads, audit proofs, info),
///   after any transport failure too (they change nothing).
///
/// Anything else that failed after its bytes may have left (a `POST` whose
/// connection broke or timed out after it was written: a re-encryption
/// request, whose nonce is single-use and whose answer must not be issued
/// twice, a grant, an emergency activation) is answered `502
/// srs_unreachable` and never re-sent; the client decides. Each SRS that
/// failed a transport is skipped for [`RETRY_DOWN_AFTER`] while another is
/// up (all down: all are tried), and a readiness probe that reaches it
/// takes it back at once.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    inner: Arc<Targets>,
}

#[derive(Debug)]
struct Targets {
    urls: Vec<Target>,
    next: AtomicUsize,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Target {
    url: String,
    down_until: Mutex<Option<Instant>>,
}

impl Target {
    fn is_up(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .map_or(true, |d| d.is_none_or(|until| now >= until))
    }
    fn mark(&self, up: bool) {
        if let Ok(mut d) = self.down_until.lock() {
            *d = if up {
                None
            } else {
                Some(Instant::now() + RETRY_DOWN_AFTER)
            };
        }
    }
}

impl HttpPeer {
    /// The SRS processes at `urls`: one base URL, or several separated by
    /// commas.
    pub fn new(urls: &str) -> Result<HttpPeer, ApiError> {
        let mut targets = Vec::new();
        for url in urls.split(',').map(str::trim) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ApiError::bad_request(
                    "bad_srs_url",
                    "each SRS URL must start with http:// or https://",
                ));
            }
            targets.push(Target {
                url: url.trim_end_matches('/').to_string(),
                down_until: Mutex::new(None),
            });
        }
        Ok(HttpPeer {
            inner: Arc::new(Targets {
                urls: targets,
                next: AtomicUsize::new(0),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .connect_timeout(Duration::from_secs(2))
                    .build()
                    .map_err(ApiError::internal)?,
            }),
        })
    }

    /// How many SRS processes this relay spreads requests over.
    pub fn len(&self) -> usize {
        self.inner.urls.len()
    }

    /// Whether there is none (never: [`HttpPeer::new`] makes at least one).
    pub fn is_empty(&self) -> bool {
        self.inner.urls.is_empty()
    }

    /// The order to try the SRS processes in for one request: the next in
    /// turn first, those that failed lately after every other.
    fn order(&self) -> Vec<usize> {
        let n = self.inner.urls.len();
        let first = self.inner.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let now = Instant::now();
        let (mut up, down): (Vec<usize>, Vec<usize>) = (0..n)
            .map(|i| (first + i) % n)
            .partition(|&i| self.inner.urls[i].is_up(now));
        up.extend(down);
        up
    }

    /// Sends the request `build` makes for an SRS base URL, moving on to
    /// the next SRS as [`HttpPeer`] says (`safe`: a `GET` or `HEAD`).
    async fn send(
        &self,
        safe: bool,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let counter = |outcome: &str| {
            crate::ops::metrics::metrics()
                .srs_peer
                .with_label_values(&[outcome])
                .inc()
        };
        let mut last = None;
        for i in self.order() {
            let target = &self.inner.urls[i];
            match build(&target.url).send().await {
                Ok(resp) => {
                    target.mark(true);
                    counter("ok");
                    return Ok(resp);
                }
                Err(e) => {
                    target.mark(false);
                    if e.is_connect() || safe {
                        tracing::warn!(
                            srs = i,
                            connect = e.is_connect(),
                            "SRS failed; trying the next"
                        );
                        counter("failover");
                        last = Some(e);
                        continue;
                    }
                    counter("error");
                    return Err(srs_unreachable(e));
                }
            }
        }
        counter("error");
        Err(srs_unreachable(last.map_or_else(
            || "no SRS configured".to_string(),
            |e| e.to_string(),
        )))
    }

    /// Readiness: `ok` if every SRS's `/readyz` answers 200, `degraded` if
    /// some do, `unreachable` if none does. An SRS that answers is taken
    /// back at once.
    pub fn health(&self) -> CheckFuture {
        let me = self.clone();
        Box::pin(async move {
            let probes = me.inner.urls.iter().map(|t| async {
                let ok = me
                    .inner
                    .http
                    .get(format!("{}/readyz", t.url))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    t.mark(true);
                }
                ok
            });
            let up = futures_util::future::join_all(probes)
                .await
                .into_iter()
                .filter(|ok| *ok)
                .count();
            match up {
                0 => State::Unreachable,
                n if n == me.inner.urls.len() => State::Ok,
                _ => State::Degraded,
            }
        })
    }

    /// Forwards any request (a relay of its own forwards every SRS route, so
    /// the portal has one origin).
    pub async fn forward(
        &self,
        method: warp::http::Method,
        path_and_query: &str,
        content_type: Option<String>,
        token: Option<String>,
        body: bytes::Bytes,
    ) -> Result<Forwarded, ApiError> {
        let safe = method == warp::http::Method::GET || method == warp::http::Method::HEAD;
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|_| ApiError::bad_request("bad_request", "unsupported method"))?;
        let resp = self
            .send(safe, |base| {
                let mut req = self
                    .inner
                    .http
                    .request(method.clone(), format!("{base}{path_and_query}"));
                if let Some(ct) = &content_type {
                    req = req.header("content-type", ct);
                }
                if let Some(t) = &token {
                    req = req.header(TOKEN_HEADER, t);
                }
                req.body(body.clone())
            })
            .await?;
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_else(|| OCTETS.into());
        let retry_after = header("retry-after");
        let body = resp.bytes().await.map_err(srs_unreachable)?;
        Ok(Forwarded {
            status,
            content_type,
            retry_after,
            body,
        })
    }
}

impl SrsPeer for HttpPeer {
    fn registered<'a>(&'a self, party: &'a [u8; 32]) -> PeerFuture<'a, bool> {
        Box::pin(async move {
            let path = format!("/srs/v1/directory/{}", hex::encode(party));
            let resp = self
                .send(true, |base| self.inner.http.get(format!("{base}{path}")))
                .await?;
            match resp.status().as_u16() {
                200 => Ok(true),
                404 => Ok(false),
                s => Err(srs_unreachable(format!("the SRS directory answered {s}"))),
            }
        })
    }

    fn reencrypt(&self, sealed: bytes::Bytes) -> PeerFuture<'_, Forwarded> {
        Box::pin(self.forward(
            warp::http::Method::POST,
            "/srs/v1/reencrypt",
            Some(OCTETS.into()),
            None,
            sealed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_turns_and_a_failed_srs_comes_last_until_its_time_is_up() {
        let peer = HttpPeer::new("http://a, http://b/ ,http://c").unwrap();
        assert_eq!(peer.inner.urls[1].url, "http://b");
        assert_eq!(peer.order(), [0, 1, 2]);
        assert_eq!(peer.order(), [1, 2, 0]);
        peer.inner.urls[2].mark(false);
        assert_eq!(peer.order(), [0, 1, 2], "c skipped until the others fail");
        assert_eq!(peer.order(), [0, 1, 2]);
        peer.inner.urls[0].mark(false);
        assert_eq!(peer.order(), [1, 2, 0], "the down ones last, still tried");
        // Its time up, a failed SRS takes its turn again.
        *peer.inner.urls[2].down_until.lock().unwrap() = Some(Instant::now());
        assert_eq!(peer.order(), [2, 1, 0]);
        peer.inner.urls[0].mark(true);
        assert_eq!(peer.order(), [0, 1, 2]);
    }
}
