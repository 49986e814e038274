//! The relay's routes, one warp filter each, over the handlers of
//! [`Relay`]; the portal's static files; and, in a two-process deployment,
//! the forwarding of every SRS route.

use std::sync::Arc;

use bytes::Bytes;
use warp::http::{header, Method, StatusCode};

use warp::{Filter, Rejection, Reply};

use super::peer::{Forwarded, HttpPeer};
use super::shl::ManifestRequest;
use super::{InboxItem, Relay};
use crate::config::{Config, Limits};
use crate::http::error::{reject, ApiError};
use crate::http::{
    forwarded_for, json, json_body, later_body, octet_body, octets, token, LaterBody, Paced, Peer,
    MAX_OBJECT_BYTES, OCTETS,
};

type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

fn forwarded(f: Forwarded) -> warp::reply::Response {
    let mut resp = warp::reply::with_status(f.body.to_vec(), f.status).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&f.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = f
        .retry_after
        .and_then(|v| header::HeaderValue::from_str(&v).ok())
    {
        h.insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Every relay route under `/v1/`.
pub fn routes(relay: Arc<Relay>, limits: Limits) -> Route {
    let r = warp::any().map(move || relay.clone());
    let base = warp::path("v1");
    let put_blob =
        base.and(warp::path!("blobs" / String))
            .and(warp::put())
            .and(token())
            .and(warp::header::optional::<u64>("content-length"))
            .and(warp::body::stream())
            .and(r.clone())
            .and_then(
                move |hash: String,
                      token: Option<String>,
                      len: Option<u64>,
                      body,
                      r: Arc<Relay>| async move {
                    let body = Paced::new(Box::pin(body), limits);
                    let status = reject(r.put_blob(&hash, token.as_deref(), len, body).await)?;
                    Ok::<_, Rejection>(json(status, &serde_json::json!({ "id": hash })))
                },
            );
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
        .and(token())
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
        .and(octet_body(limits))
        .and(r.clone())
        .and_then(|rec: String, body: Bytes, r: Arc<Relay>| async move {
            let (status, v) = reject(r.post_manifest(&rec, &body).await)?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({ "version": v })))
        });
    let client_config = base
        .and(warp::path!("config"))
        .and(warp::get())
        .and(r.clone())
        .map(|r: Arc<Relay>| json(StatusCode::OK, &r.client_config()));
    let get_manifest = base
        .and(warp::path!("records" / String / "manifests" / String))
        .and(warp::get())
        .and(r.clone())
        .and_then(|rec: String, which: String, r: Arc<Relay>| async move {
            let m = reject(r.get_manifest(&rec, &which).await)?;
            Ok::<_, Rejection>(octets(StatusCode::OK, m))
        });
    let post_inbox = base
        .and(warp::path!("inbox"))
        .and(warp::post())
        .and(json_body::<InboxItem>(limits))
        .and(r.clone())
        .and_then(|item: InboxItem, r: Arc<Relay>| async move {
            let status = reject(r.post_inbox(&item).await)?;
            Ok::<_, Rejection>(json(status, &serde_json::json!({})))
        });
    let get_inbox = base
        .and(warp::path!("inbox"))
        .and(warp::get())
        .and(token())
        .and(r.clone())
        .and_then(|t: Option<String>, r: Arc<Relay>| async move {
            let items = reject(r.get_inbox(t.as_deref()).await)?;
            Ok::<_, Rejection>(json(StatusCode::OK, &items))
        });
    let delete_inbox = base
        .and(warp::path!("inbox" / String))
        .and(warp::delete())
        .and(token())
        .and(r.clone())
        .and_then(|id: String, t: Option<String>, r: Arc<Relay>| async move {
            reject(r.delete_inbox(&id, t.as_deref()).await)?;
            Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::json!({ "deleted": id })))
        });
    let post_mail = base
        .and(warp::path!("mail"))
        .and(warp::post())
        .and(token())
        .and(later_body(limits, "application/json", MAX_OBJECT_BYTES))
        .and(r.clone())
        .and_then(
            |t: Option<String>, body: LaterBody, r: Arc<Relay>| async move {
                let status = reject(r.post_mail(body, t.as_deref()).await)?;
                Ok::<_, Rejection>(json(status, &serde_json::json!({})))
            },
        );
    let get_mail = base
        .and(warp::path!("mail"))
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(token())
        .and(r.clone())
        .and_then(
            |q: std::collections::HashMap<String, String>, t: Option<String>, r: Arc<Relay>| async move {
                let after = q.get("after").map(String::as_str);
                let items = reject(r.get_mail(after, t.as_deref()).await)?;
                Ok::<_, Rejection>(json(StatusCode::OK, &items))
            },
        );
    let delete_mail = base
        .and(warp::path!("mail" / String))
        .and(warp::delete())
        .and(token())
        .and(r.clone())
        .and_then(|id: String, t: Option<String>, r: Arc<Relay>| async move {
            reject(r.delete_mail(&id, t.as_deref()).await)?;
            Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::json!({ "deleted": id })))
        });
    let put_link = base
        .and(warp::path!("shl" / String))
        .and(warp::put())
        .and(token())
        .and(later_body(
            limits,
            "application/json",
            super::shl::MAX_LINK_BODY,
        ))
        .and(r.clone())
        .and_then(
            |id: String, t: Option<String>, body: LaterBody, r: Arc<Relay>| async move {
                let status = reject(r.put_link(&id, body, t.as_deref()).await)?;
                Ok::<_, Rejection>(json(status, &serde_json::json!({ "id": id })))
            },
        );
    let list_links = base
        .and(warp::path!("shl"))
        .and(warp::get())
        .and(token())
        .and(r.clone())
        .and_then(|t: Option<String>, r: Arc<Relay>| async move {
            let links = reject(r.list_links(t.as_deref()).await)?;
            Ok::<_, Rejection>(json(StatusCode::OK, &links))
        });
    let revoke_link = base
        .and(warp::path!("shl" / String))
        .and(warp::delete())
        .and(token())
        .and(r.clone())
        .and_then(|id: String, t: Option<String>, r: Arc<Relay>| async move {
            reject(r.revoke_link(&id, t.as_deref()).await)?;
            Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::json!({ "deleted": id })))
        });
    let link_manifest =
        base.and(warp::path!("shl" / String))
            .and(warp::post())
            .and(Peer::filter())
            .and(forwarded_for())
            .and(json_body::<ManifestRequest>(limits))
            .and(r.clone())
            .and_then(
                |id: String,
                 peer: Peer,
                 xff: Option<String>,
                 req: ManifestRequest,
                 r: Arc<Relay>| async move {
                    let client = r.client(peer, xff.as_deref());
                    let m = reject(r.link_manifest(&id, req, r.public_url(), client).await)?;
                    // Never kept by a cache: a manifest names live locations.
                    Ok::<_, Rejection>(
                        warp::reply::with_header(
                            json(StatusCode::OK, &m),
                            header::CACHE_CONTROL,
                            "no-store",
                        )
                        .into_response(),
                    )
                },
            );
    let link_direct = base
        .and(warp::path!("shl" / String))
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(Peer::filter())
        .and(forwarded_for())
        .and(r.clone())
        .and_then(
            |id: String,
             q: std::collections::HashMap<String, String>,
             peer: Peer,
             xff: Option<String>,
             r: Arc<Relay>| async move {
                let client = r.client(peer, xff.as_deref());
                let jwe = reject(
                    r.link_direct(&id, q.get("recipient").cloned(), client)
                        .await,
                )?;
                Ok::<_, Rejection>(jose(jwe))
            },
        );
    // The CORS preflight of a viewer on another origin (the headers are
    // added for every public SHL route in `server::shl_cors`).
    let link_preflight = base
        .and(warp::path!("shl" / String))
        .and(warp::options())
        .map(|_id: String| {
            warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response()
        });
    let link_file = base
        .and(warp::path!("shl-files" / String))
        .and(warp::get())
        .and(Peer::filter())
        .and(forwarded_for())
        .and(r.clone())
        .and_then(
            |token: String, peer: Peer, xff: Option<String>, r: Arc<Relay>| async move {
                let jwe = reject(r.link_file(&token, r.client(peer, xff.as_deref())).await)?;
                Ok::<_, Rejection>(jose(jwe))
            },
        );
    // Boxed apart: one long chain of `or` makes the type checker crawl.
    let shl: Route = put_link
        .or(list_links)
        .unify()
        .or(revoke_link)
        .unify()
        .or(link_manifest)
        .unify()
        .or(link_preflight)
        .unify()
        .or(link_direct)
        .unify()
        .or(link_file)
        .unify()
        .boxed();
    let put_state = base
        .and(warp::path!("state" / String))
        .and(warp::put())
        .and(token())
        .and(later_body(limits, OCTETS, MAX_OBJECT_BYTES))
        .and(r.clone())
        .and_then(
            |slot: String, t: Option<String>, body: LaterBody, r: Arc<Relay>| async move {
                let (status, v) = reject(r.put_state(&slot, body, t.as_deref()).await)?;
                Ok::<_, Rejection>(json(status, &serde_json::json!({ "version": v })))
            },
        );
    let get_state = base
        .and(warp::path!("state" / String))
        .and(warp::get())
        .and(token())
        .and(r.clone())
        .and_then(
            |slot: String, t: Option<String>, r: Arc<Relay>| async move {
                let b = reject(r.get_state(&slot, t.as_deref()).await)?;
                Ok::<_, Rejection>(octets(StatusCode::OK, b))
            },
        );
    let state: Route = put_state.or(get_state).unify().boxed();
    let reencrypt = base
        .and(warp::path!("reencrypt"))
        .and(warp::post())
        .and(octet_body(limits))
        .and(r)
        .and_then(|body: Bytes, r: Arc<Relay>| async move {
            let f = reject(r.reencrypt(body).await)?;
            Ok::<_, Rejection>(forwarded(f))
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
        .or(client_config)
        .unify()
        .or(post_inbox)
        .unify()
        .or(get_inbox)
        .unify()
        .or(delete_inbox)
        .unify()
        .or(post_mail)
        .unify()
        .or(get_mail)
        .unify()
        .or(delete_mail)
        .unify()
        .or(shl)
        .unify()
        .or(state)
        .unify()
        .or(reencrypt)
        .unify()
        .boxed()
}

/// Every `/srs/…` request forwarded to the SRS, for a relay whose SRS runs
/// in another process: the portal then needs one origin only. Bodies are
/// bounded and paced like the relay's own.
pub fn srs_proxy(peer: HttpPeer, limits: Limits) -> Route {
    let r = warp::any().map(move || peer.clone());
    warp::path("srs")
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("content-type"))
        .and(token())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and(r)
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  ct: Option<String>,
                  token: Option<String>,
                  len: Option<u64>,
                  body,
                  r: HttpPeer| async move {
                let len = len.unwrap_or(0);
                if len > MAX_OBJECT_BYTES {
                    return Err(warp::reject::custom(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        "request bodies are limited to 1 MiB",
                    )));
                }
                let body =
                    reject(crate::http::collect(Paced::new(Box::pin(body), limits), len).await)?;
                let target = if query.is_empty() {
                    path.as_str().to_string()
                } else {
                    format!("{}?{query}", path.as_str())
                };
                let f = reject(r.forward(method, &target, ct, token, body).await)?;
                Ok::<_, Rejection>(forwarded(f))
            },
        )
        .boxed()
}

/// The portal (`--www-dir`) and the built wasm package (`--pkg-dir`).
pub fn static_routes(config: &Config) -> Route {
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

/// A link's JWE as `application/jose`, never kept by a cache (a revoked
/// link must not be served again from one).
fn jose(jwe: String) -> warp::reply::Response {
    let reply = warp::reply::with_header(jwe, header::CONTENT_TYPE, "application/jose");
    warp::reply::with_header(reply, header::CACHE_CONTROL, "no-store").into_response()
}
