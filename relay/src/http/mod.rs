//! The HTTP layer both services share: errors ([`error`]), request tokens
//! ([`auth`]), per-party rate limits ([`limits`]), the accept loop with its
//! connection limits ([`listener`]), and the replies and body filters every
//! route uses. Nothing here knows a protocol object beyond a token.

pub mod auth;
pub mod error;
pub mod limits;
pub mod listener;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};
use warp::http::{header, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::config::Limits;
use error::{reject, ApiError};

/// Largest request body for everything but blobs (manifests, grants, requests).
pub const MAX_OBJECT_BYTES: u64 = 1 << 20;
/// The request-token header.
pub const TOKEN_HEADER: &str = "x-sesphr-token";
/// The content type of every binary body and reply.
pub const OCTETS: &str = "application/octet-stream";
const JSON: &str = "application/json";

/// The client address of a request's connection (set by the listener), or
/// `None` where none is known (a test calling the filters directly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer(pub Option<std::net::IpAddr>);

impl Peer {
    /// Extracts the connection's peer.
    pub fn filter() -> impl Filter<Extract = (Peer,), Error = std::convert::Infallible> + Clone {
        warp::ext::optional::<Peer>().map(|p: Option<Peer>| p.unwrap_or(Peer(None)))
    }
    /// A rate-limiter key for this address (all unknown peers share one).
    pub fn key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        match self.0 {
            Some(std::net::IpAddr::V4(a)) => k[..4].copy_from_slice(&a.octets()),
            Some(std::net::IpAddr::V6(a)) => k[..16].copy_from_slice(&a.octets()),
            None => k[31] = 1,
        }
        k
    }
}

/// The client of a request for per-address limits: the connection's peer,
/// or, when that peer is the operator's `trusted_proxy`, the right-most
/// address of its `X-Forwarded-For` (the one that proxy appended; entries
/// further left are the client's own word and never trusted). Anything
/// unparsable falls back to the peer.
pub fn client_addr(
    peer: Peer,
    forwarded_for: Option<&str>,
    trusted_proxy: Option<std::net::IpAddr>,
) -> Peer {
    match (peer.0, trusted_proxy, forwarded_for) {
        (Some(p), Some(t), Some(xff)) if p == t => xff
            .rsplit(',')
            .next()
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .map_or(peer, |a| Peer(Some(a))),
        _ => peer,
    }
}

/// The last `X-Forwarded-For` header line, if any (only [`client_addr`]
/// reads it): a proxy that adds its own line instead of appending to the
/// client's (HAProxy's `option forwardfor`) leaves the client's lines first.
pub fn forwarded_for(
) -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().map(|h: warp::http::HeaderMap| {
        h.get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// The request token of a request ([`TOKEN_HEADER`]), if it has one.
pub fn token() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::optional::<String>(TOKEN_HEADER)
}

/// A binary reply.
pub fn octets(status: StatusCode, body: Vec<u8>) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::with_header(body, header::CONTENT_TYPE, OCTETS),
        status,
    )
    .into_response()
}

/// A JSON reply.
pub fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(v), status).into_response()
}

/// Runs a synchronous handler (store I/O, signatures) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Rejection> {
    reject(
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ApiError::internal)
            .and_then(|r| r),
    )
}

/// Passes requests whose `content-type` is `want` (parameters ignored);
/// anything else is `415 unsupported_media_type`.
pub fn content_type(want: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(move |ct: Option<String>| async move {
            let essence = ct
                .as_deref()
                .and_then(|c| c.split(';').next())
                .map(str::trim);
            if essence.is_some_and(|e| e.eq_ignore_ascii_case(want)) {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("the body must be {want}"),
                )))
            }
        })
        .untuple_one()
}

/// A binary body of at most [`MAX_OBJECT_BYTES`] with a `content-length`,
/// read within the body deadline of `limits`.
pub fn octet_body(limits: Limits) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    content_type(OCTETS).and(bounded_body(limits))
}

/// A JSON body of at most [`MAX_OBJECT_BYTES`], read within the body
/// deadline, parsed as `T` (`400 malformed_json` otherwise).
pub fn json_body<T: serde::de::DeserializeOwned + Send>(
    limits: Limits,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    content_type(JSON)
        .and(bounded_body(limits))
        .and_then(|body: Bytes| async move {
            serde_json::from_slice::<T>(&body).map_err(|e| {
                warp::reject::custom(ApiError::bad_request("malformed_json", e.to_string()))
            })
        })
}

/// A JSON body of at most [`MAX_OBJECT_BYTES`], read within the body
/// deadline, as bytes (for a handler that hashes the exact body before
/// parsing it, as a token over the body requires).
pub fn json_bytes(limits: Limits) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    content_type(JSON).and(bounded_body(limits))
}

/// A request body not read yet, of at most its cap, with its declared
/// length: the route hands it to the handler, which checks the request's
/// token from the headers and the signer's limits first and only then
/// [`LaterBody::read`]s it, so a stranger's request costs its headers only.
pub struct LaterBody {
    len: u64,
    limits: Limits,
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>,
}

impl LaterBody {
    /// The declared length (`content-length`, within the cap).
    pub fn len(&self) -> u64 {
        self.len
    }
    /// Whether the body is declared empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Reads the body within the body deadline (`408 body_timeout`).
    pub async fn read(self) -> Result<Bytes, ApiError> {
        collect(Paced::new(self.stream, self.limits), self.len).await
    }
}

/// A body of content type `want` and at most `max` bytes with a
/// `content-length` (`413`/`411` from the headers alone), left unread
/// ([`LaterBody`]).
pub fn later_body(
    limits: Limits,
    want: &'static str,
    max: u64,
) -> impl Filter<Extract = (LaterBody,), Error = Rejection> + Clone {
    content_type(want)
        .and(warp::body::content_length_limit(max))
        .and(warp::header::<u64>("content-length"))
        .and(warp::body::stream())
        .map(move |len: u64, body| {
            let stream = futures_util::StreamExt::map(body, |r: Result<_, warp::Error>| {
                r.map(|mut b: _| {
                    let n = Buf::remaining(&b);
                    Buf::copy_to_bytes(&mut b, n)
                })
            });
            LaterBody {
                len,
                limits,
                stream: Box::pin(stream),
            }
        })
}

fn bounded_body(limits: Limits) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    bounded_body_up_to(limits, MAX_OBJECT_BYTES)
}

fn bounded_body_up_to(
    limits: Limits,
    max: u64,
) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(max)
        .and(warp::header::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(move |len: u64, body| async move {
            reject(collect(Paced::new(body, limits), len).await)
        })
}

/// Collects a (paced) body of `len` bytes into one buffer.
pub async fn collect<S, B>(mut body: S, len: u64) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, ApiError>> + Unpin,
    B: Buf,
{
    let mut out = BytesMut::with_capacity(len.min(64 << 20) as usize);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

/// A request body that must keep arriving: it fails with `408
/// body_timeout` (and closes the connection) once `grace + received /
/// min_rate` has passed since it started (Apache `mod_reqtimeout`'s rule),
/// so a body that trickles in holds a connection for a bounded time however
/// long it claims to be.
pub struct Paced<S> {
    inner: S,
    start: Instant,
    received: u64,
    grace: Duration,
    min_rate: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Paced<S> {
    /// Paces `inner` under `limits`.
    pub fn new(inner: S, limits: Limits) -> Paced<S> {
        let start = Instant::now();
        Paced {
            inner,
            start,
            received: 0,
            grace: limits.body_grace,
            min_rate: limits.body_min_rate.max(1),
            deadline: Box::pin(tokio::time::sleep_until(start + limits.body_grace)),
        }
    }
    fn due(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        self.start + self.grace + earned
    }
}

fn too_slow() -> ApiError {
    ApiError {
        close: true,
        ..ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body arrived too slowly",
        )
    }
}

impl<S, B> Stream for Paced<S>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    type Item = Result<B, ApiError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.remaining() as u64;
                let due = self.due();
                self.deadline.as_mut().reset(due);
                if Instant::now() > due {
                    return Poll::Ready(Some(Err(too_slow())));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(ApiError::bad_request(
                "body_error",
                e.to_string(),
            )))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(too_slow()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
