//! The SRS's routes, one warp filter each, over the handlers of [`Srs`].

use std::sync::Arc;

use bytes::Bytes;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::{GrantUpload, Srs};
use crate::config::Limits;
use crate::http::{blocking, json, json_body, octet_body, octets, Peer, TOKEN_HEADER};

type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

/// Every SRS route under `/srs/v1/`.
pub fn routes(srs: Arc<Srs>, limits: Limits) -> Route {
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
        .and(Peer::filter())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|peer: Peer, body: Bytes, s: Arc<Srs>| async move {
            let (status, id) = blocking(move || s.register(peer, &body)).await?;
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
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| async move {
            let (status, head) = blocking(move || s.post_head(&body)).await?;
            Ok::<_, Rejection>(octets(status, head))
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
        .and(json_body::<GrantUpload>(limits))
        .and(s.clone())
        .and_then(|g: GrantUpload, s: Arc<Srs>| async move {
            let (status, id) = blocking(move || s.post_grant(&g)).await?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({ "grantId": id })))
        });
    let list_grants = base
        .and(warp::path!("records" / String / "grants"))
        .and(warp::get())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| async move {
            let listing = blocking(move || s.list_grants(&r, t.as_deref())).await?;
            Ok::<_, Rejection>(json(StatusCode::OK, &listing))
        });
    let audit = base
        .and(warp::path!("records" / String / "audit"))
        .and(warp::get())
        .and(warp::header::optional::<String>(TOKEN_HEADER))
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| async move {
            let listing = blocking(move || s.read_audit(&r, t.as_deref())).await?;
            Ok::<_, Rejection>(json(StatusCode::OK, &listing))
        });
    let consistency = base
        .and(warp::path!("audit" / "consistency" / u64 / u64))
        .and(warp::get())
        .and(s.clone())
        .and_then(|first: u64, second: u64, s: Arc<Srs>| async move {
            let proof = blocking(move || s.consistency(first, second)).await?;
            Ok::<_, Rejection>(json(StatusCode::OK, &proof))
        });
    let reencrypt = base
        .and(warp::path("reencrypt"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| async move {
            Ok::<_, Rejection>(octets(
                StatusCode::OK,
                blocking(move || s.reencrypt(&body)).await?,
            ))
        });
    let revoke = base
        .and(warp::path("revocations"))
        .and(warp::path::end())
        .and(warp::post())
        .and(octet_body(limits))
        .and(s)
        .and_then(|body: Bytes, s: Arc<Srs>| async move {
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
