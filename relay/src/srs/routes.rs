//! The SRS's routes, one warp filter each, over the handlers of [`Srs`]:
//! each handler runs on the blocking pool and makes its route's reply there.

use std::sync::Arc;

use bytes::Bytes;
use warp::http::StatusCode;
use warp::Filter;

use super::{GrantUpload, Srs};
use crate::config::Limits;
use crate::http::{blocking, json, json_body, octet_body, octets, token, Peer};

type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

/// Every SRS route under `/srs/v1/`.
pub fn routes(srs: Arc<Srs>, limits: Limits) -> Route {
    let emergency = super::emergency::routes(srs.clone(), limits);
    let s = warp::any().map(move || srs.clone());
    let base = warp::path("srs").and(warp::path("v1"));
    let info = base
        .and(warp::path!("info"))
        .and(warp::get())
        .and(s.clone())
        .map(|s: Arc<Srs>| json(StatusCode::OK, &s.info()));
    let register = base
        .and(warp::path!("directory"))
        .and(warp::post())
        .and(Peer::filter())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|peer: Peer, body: Bytes, s: Arc<Srs>| {
            blocking(move || {
                let (status, id) = s.register(peer, &body)?;
                Ok(json(status, &serde_json::json!({ "id": id })))
            })
        });
    let lookup = base
        .and(warp::path!("directory" / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|id: String, s: Arc<Srs>| {
            blocking(move || Ok(octets(StatusCode::OK, s.lookup(&id)?)))
        });
    let post_head = base
        .and(warp::path!("heads"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| {
            blocking(move || {
                let (status, head) = s.post_head(&body)?;
                Ok(octets(status, head))
            })
        });
    let get_head = base
        .and(warp::path!("heads" / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|r: String, s: Arc<Srs>| {
            blocking(move || Ok(octets(StatusCode::OK, s.get_head(&r)?)))
        });
    let post_grant = base
        .and(warp::path!("grants"))
        .and(warp::post())
        .and(json_body::<GrantUpload>(limits))
        .and(s.clone())
        .and_then(|g: GrantUpload, s: Arc<Srs>| {
            blocking(move || {
                let (status, id) = s.post_grant(&g)?;
                Ok(json(status, &serde_json::json!({ "grantId": id })))
            })
        });
    let list_grants = base
        .and(warp::path!("records" / String / "grants"))
        .and(warp::get())
        .and(token())
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.list_grants(&r, t.as_deref())?)))
        });
    let audit = base
        .and(warp::path!("records" / String / "audit"))
        .and(warp::get())
        .and(token())
        .and(s.clone())
        .and_then(|r: String, t: Option<String>, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.read_audit(&r, t.as_deref())?)))
        });
    let consistency = base
        .and(warp::path!("audit" / "consistency" / String / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|first: String, second: String, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.consistency(&first, &second)?)))
        });
    let inclusion = base
        .and(warp::path!("audit" / "inclusion" / String / String))
        .and(warp::get())
        .and(s.clone())
        .and_then(|index: String, size: String, s: Arc<Srs>| {
            blocking(move || Ok(json(StatusCode::OK, &s.inclusion(&index, &size)?)))
        });
    let reencrypt = base
        .and(warp::path!("reencrypt"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(s.clone())
        .and_then(|body: Bytes, s: Arc<Srs>| {
            blocking(move || Ok(octets(StatusCode::OK, s.reencrypt(&body)?)))
        });
    let revoke = base
        .and(warp::path!("revocations"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(s)
        .and_then(|body: Bytes, s: Arc<Srs>| {
            blocking(move || Ok(octets(StatusCode::OK, s.revoke(&body)?)))
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
        .or(inclusion)
        .unify()
        .or(reencrypt)
        .unify()
        .or(revoke)
        .unify()
        .or(emergency)
        .unify()
        .boxed()
}
