//! Every failure is an [`ApiError`]: an HTTP status, a stable code and a
//! message without secrets. One `recover` maps every rejection to JSON
//! `{code, message}`.

use std::convert::Infallible;
use warp::filters::body::BodyDeserializeError;
use warp::http::StatusCode;
use warp::reject::{
    InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
    UnsupportedMediaType,
};
use warp::{Rejection, Reply};

/// An API error: status, stable code, human message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Message (never contains secret material or request bodies).
    pub message: String,
    /// Seconds after which a rate-limited request may be retried
    /// (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Whether the connection must close after the reply (a body that was
    /// cut off mid-way cannot be resynchronised).
    pub close: bool,
    /// For `401 wrong_passcode` at an SHL manifest: the attempts left
    /// (`remainingAttempts` in the body, as the SHL specification names it).
    pub remaining_attempts: Option<u32>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            close: false,
            remaining_attempts: None,
        }
    }
    /// 429 `rate_limited`, retry after `seconds`.
    pub fn rate_limited(seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {} s", seconds.max(1)),
            )
        }
    }
    /// 413 `quota_exceeded`.
    pub fn quota(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", message)
    }
    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 403 with a code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }
    /// 500; the cause is logged, not returned.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

/// The HTTP status of a protocol error in a request: input that does not
/// parse or is out of range is the client's fault (400); a signature, proof,
/// binding or freshness check that fails is a refusal (403). Every class is
/// named, so a new one does not compile until it is mapped.
pub fn protocol_status(kind: sesphr_client::error::ErrorKind) -> StatusCode {
    use sesphr_client::error::ErrorKind as K;
    match kind {
        K::BadSignature
        | K::BindingMismatch
        | K::GrantInconsistent
        | K::BadProof
        | K::Stale
        | K::Refused
        | K::NotGranted
        | K::AuditFork
        | K::AuditIncomplete => StatusCode::FORBIDDEN,
        K::Malformed
        | K::UnknownVersion
        | K::WrongKind
        | K::InvalidPoint
        | K::InvalidScalar
        | K::DecryptionFailed
        | K::ContentMismatch
        | K::Truncated
        | K::TrailingData
        | K::InvalidState
        | K::UnsupportedChunkSize
        | K::ChainBroken
        | K::NoSuchSection
        | K::BeforeFromVersion
        | K::TooLarge => StatusCode::BAD_REQUEST,
    }
}

impl From<sesphr_client::Error> for ApiError {
    /// A protocol error about a request keeps its stable code
    /// ([`protocol_status`] gives the status).
    fn from(e: sesphr_client::Error) -> ApiError {
        ApiError::new(protocol_status(e.kind()), e.code(), e.to_string())
    }
}

/// Converts a result into a warp result with a custom rejection.
pub fn reject<T>(r: Result<T, ApiError>) -> Result<T, Rejection> {
    r.map_err(warp::reject::custom)
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_attempts: Option<u32>,
}

/// The JSON reply for an error.
pub fn reply(e: &ApiError) -> warp::reply::Response {
    let json = warp::reply::json(&Body {
        code: e.code,
        message: &e.message,
        remaining_attempts: e.remaining_attempts,
    });
    let mut resp = warp::reply::with_status(json, e.status).into_response();
    let h = resp.headers_mut();
    if let Some(s) = e.retry_after {
        h.insert(warp::http::header::RETRY_AFTER, s.into());
    }
    if e.close {
        h.insert(
            warp::http::header::CONNECTION,
            warp::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Maps every rejection to `{code, message}` JSON.
pub async fn recover(r: Rejection) -> Result<warp::reply::Response, Infallible> {
    let e = if let Some(e) = r.find::<ApiError>() {
        e.clone()
    } else if r.is_not_found() {
        ApiError::not_found("no such endpoint")
    } else if let Some(e) = warp_rejection(&r) {
        e
    } else {
        // warp's rejections are an open set: one this server does not name
        // (none of its routes produces one today) is logged so it can be.
        tracing::warn!(rejection = ?r, "unnamed rejection");
        ApiError::bad_request("bad_request", "bad request")
    };
    Ok(reply(&e))
}

/// warp's own rejections that a request can cause, looked for in this
/// order: warp's message of one, and the status and code it is answered with.
#[rustfmt::skip]
const WARP_REJECTIONS: [(Message, StatusCode, &str); 8] = [
    (message::<PayloadTooLarge>, StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
    (message::<LengthRequired>, StatusCode::LENGTH_REQUIRED, "length_required"),
    (message::<UnsupportedMediaType>, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    (message::<BodyDeserializeError>, StatusCode::BAD_REQUEST, "malformed_json"),
    (message::<MethodNotAllowed>, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    (message::<MissingHeader>, StatusCode::BAD_REQUEST, "missing_header"),
    (message::<InvalidHeader>, StatusCode::BAD_REQUEST, "invalid_header"),
    (message::<InvalidQuery>, StatusCode::BAD_REQUEST, "invalid_query"),
];

/// Finds warp's message of one kind of rejection.
type Message = fn(&Rejection) -> Option<String>;

/// warp's message of a rejection of type `T`, if `r` holds one.
fn message<T: std::fmt::Display + 'static>(r: &Rejection) -> Option<String> {
    r.find::<T>().map(T::to_string)
}

/// The error for one of [`WARP_REJECTIONS`].
fn warp_rejection(r: &Rejection) -> Option<ApiError> {
    WARP_REJECTIONS
        .iter()
        .find_map(|(message, status, code)| Some(ApiError::new(*status, code, message(r)?)))
}

/// Parses a lower-case hex id of exactly `N` bytes from a path (`400 invalid_id`).
pub(crate) fn hex_id<const N: usize>(s: &str) -> Result<[u8; N], ApiError> {
    let mut out = [0u8; N];
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("id must be {} lower-case hex characters", 2 * N),
        ));
    }
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| ApiError::bad_request("invalid_id", "id is not hex"))?;
    Ok(out)
}

/// Decodes a hex field of a request body (`400 malformed`).
///
/// Public (not `pub(crate)`) only so the fuzz targets and the corpus replay
/// (`fuzz/src/relay.rs`) parse JSON bodies with the server's own function.
pub fn unhex(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(s).map_err(|_| ApiError::bad_request("malformed", format!("{what} is not hex")))
}
