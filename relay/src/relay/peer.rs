//! How the relay reaches the SRS, behind a trait so the relay never imports
//! the SRS: over HTTP ([`HttpPeer`], a relay process of its own), or, when
//! one process serves both, in that process (the server's composition layer
//! implements [`SrsPeer`] for the SRS it runs), where a hop through the
//! listener would cost time and connection slots for nothing.

use std::future::Future;
use std::pin::Pin;

use warp::http::StatusCode;

use crate::http::error::ApiError;
use crate::http::{OCTETS, TOKEN_HEADER};

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

/// An SRS in another process, at a base URL.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    url: String,
    http: reqwest::Client,
}

impl HttpPeer {
    /// The SRS at `url`.
    pub fn new(url: &str) -> Result<HttpPeer, ApiError> {
        Ok(HttpPeer {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(ApiError::internal)?,
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
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|_| ApiError::bad_request("bad_request", "unsupported method"))?;
        let mut req = self
            .http
            .request(method, format!("{}{path_and_query}", self.url));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(t) = token {
            req = req.header(TOKEN_HEADER, t);
        }
        let resp = req.body(body).send().await.map_err(srs_unreachable)?;
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
            let resp = self
                .http
                .get(format!(
                    "{}/srs/v1/directory/{}",
                    self.url,
                    hex::encode(party)
                ))
                .send()
                .await
                .map_err(srs_unreachable)?;
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
