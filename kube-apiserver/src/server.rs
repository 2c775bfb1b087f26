//! The HTTP server: accept connections, route each request, measure it.
//!
//! Routing is two-level, as upstream: the fixed paths (health, version, discovery,
//! OpenAPI, metrics) first, then resource requests parsed by [`request::parse`] and
//! served by [`handlers::serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::{self, authn, Attributes, UserInfo};
use crate::errors::ApiError;
use crate::handlers::{self, error_response, full, value_response, Body};
use crate::negotiate::Format;
use crate::{discovery, openapi, openapi_v2, request, State};

/// Request bodies above this size are refused (413), as upstream's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Serve HTTP on `listener` until `shutdown` completes; then stop accepting and let the
/// connections in flight finish (watches end when their clients see the stream close).
/// Everyone on this port is [`UserInfo::insecure`].
pub async fn serve(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                serve_connection(TokioIo::new(stream), state.clone(), Who::Insecure, graceful.watcher());
            }
            _ = &mut shutdown => break,
        }
    }
    drain(graceful).await;
}

/// How the requests of a connection are authenticated.
#[derive(Clone)]
pub enum Who {
    /// The insecure port: everyone is [`UserInfo::insecure`].
    Insecure,
    /// The secure port: the connection's client certificate (checked once), then each
    /// request's bearer token, else anonymous ([`authn::authenticate`]).
    Secure(Arc<authn::PeerCert>),
}

/// Serve HTTP/1.1 or HTTP/2 on one connection (plain TCP or TLS), until it closes or the
/// server shuts down.
pub fn serve_connection<I>(io: I, state: Arc<State>, who: Who, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let who = who.clone();
        async move {
            let user = match &who {
                Who::Insecure => UserInfo::insecure(),
                Who::Secure(peer) => match authn::authenticate(&state, peer, req.headers()).await {
                    Ok(user) => user,
                    Err(why) => {
                        tracing::info!("401 {} {}: {why}", req.method(), req.uri().path());
                        state.metrics.observe(req.method().as_str(), "", 401, std::time::Duration::ZERO);
                        return Ok::<_, std::convert::Infallible>(error_response(&ApiError::Unauthorized));
                    }
                },
            };
            Ok(handle(&state, req, user).await)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = watcher.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// Long-running watches would hold shutdown forever: give connections a moment.
pub async fn drain(graceful: GracefulShutdown) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), graceful.shutdown()).await;
}

/// Serve one request from an authenticated `user` (also what tests call, without a socket).
pub async fn handle(state: &State, req: Request<Incoming>, user: UserInfo) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = request::parse_query(req.uri().query());
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_response(&ApiError::RequestEntityTooLarge(MAX_BODY)),
    };
    let (response, verb, resource) = match route(state, &user, &method, &path, query, parts.headers, body).await {
        Ok(r) => r,
        Err((e, verb, resource)) => (error_response(&e), verb, resource),
    };
    let code = response.status().as_u16();
    state.metrics.observe(&verb, &resource, code, started.elapsed());
    tracing::debug!("{method} {path} {code} {:?}", started.elapsed());
    response
}

type Routed = Result<(Response<Body>, String, String), (ApiError, String, String)>;

async fn route(state: &State, user: &UserInfo, method: &Method, path: &str, query: request::Query, mut headers: http::HeaderMap, body: Bytes) -> Routed {
    let fixed = |v: serde_json::Value| Ok((value_response(StatusCode::OK, &v, Format::Json, &[]), method.to_string(), String::new()));
    let trimmed = path.trim_end_matches('/');
    // `kubectl --as`: from here on the request is the impersonated user's.
    let user = &match auth::impersonation::impersonate(&state.authorizer, user, &mut headers) {
        Ok(u) => u,
        Err(e) => return Err((e, method.to_string(), String::new())),
    };
    let info = match request::parse(method, trimmed, &query) {
        Ok(info) => info,
        Err(e) => return Err((e, method.to_string(), String::new())),
    };
    if info.is_none() {
        // Non-resource requests (`/healthz`, `/version`, discovery, OpenAPI, `/metrics`) are
        // authorized on their path with the lower-case HTTP method as verb.
        let attrs = Attributes {
            user: user.clone(),
            verb: method.as_str().to_ascii_lowercase(),
            resource_request: false,
            path: path.to_string(),
            ..Attributes::default()
        };
        if let Err(reason) = state.authorizer.check(&attrs) {
            return Err((auth::forbidden(&attrs, &reason), method.to_string(), String::new()));
        }
    }
    if method == Method::GET {
        match trimmed {
            "/healthz" | "/livez" => return Ok((text(StatusCode::OK, "ok"), method.to_string(), String::new())),
            "/readyz" => {
                let ok = state.store.backend().current_revision().await.is_ok();
                let (code, msg) = if ok { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "[-]etcd failed: not ready") };
                return Ok((text(code, msg), method.to_string(), String::new()));
            }
            "/version" => return fixed(discovery::version()),
            "/metrics" => return Ok((text(StatusCode::OK, &state.metrics.render()), method.to_string(), String::new())),
            "/api" => return fixed(discovery::core_versions(&state.config.server_address())),
            "/apis" => return fixed(discovery::group_list()),
            "/openapi/v3" => return fixed(openapi::index()),
            "/openapi/v2" => {
                let doc = Response::builder()
                    .status(StatusCode::OK)
                    .header(http::header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
                    .body(full(Bytes::from(openapi_v2::document())))
                    .unwrap_or_else(|_| Response::new(full(Bytes::new())));
                return Ok((doc, method.to_string(), String::new()));
            }
            "" => {
                let paths = json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v3", "/readyz", "/version"]});
                return fixed(paths);
            }
            _ => {}
        }
        if let Some(doc) = trimmed.starts_with("/openapi/v3/").then(|| openapi::document_for_path(trimmed)).flatten() {
            return fixed(doc);
        }
        let parts: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
        let discovered = match parts.as_slice() {
            ["api", v] => discovery::resource_list("", v),
            ["apis", g] => discovery::group(g),
            ["apis", g, v] => discovery::resource_list(g, v),
            _ => None,
        };
        if let Some(doc) = discovered {
            return fixed(doc);
        }
    }
    let Some(info) = info else {
        return Err((ApiError::NoSuchResource, method.to_string(), String::new()));
    };
    let verb = info.verb.as_str().to_ascii_uppercase();
    let resource = info.resource.plural.to_string();
    let attrs = Attributes {
        user: user.clone(),
        verb: info.verb.as_str().to_string(),
        resource_request: true,
        namespace: info.namespace.clone(),
        api_group: info.resource.group.to_string(),
        api_version: info.resource.version.to_string(),
        resource: resource.clone(),
        subresource: info.subresource.clone(),
        name: info.name.clone(),
        path: path.to_string(),
        field_selector: query.get("fieldSelector").cloned().unwrap_or_default(),
        label_selector: query.get("labelSelector").cloned().unwrap_or_default(),
    };
    if let Err(reason) = state.authorizer.check(&attrs) {
        return Err((auth::forbidden(&attrs, &reason), verb, resource));
    }
    match handlers::serve(state, user, info, method, query, headers, body).await {
        Ok(r) => Ok((r, verb, resource)),
        Err(e) => Err((e, verb, resource)),
    }
}

fn text(code: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// Where to listen: `--insecure-bind-address:--insecure-port`.
pub fn insecure_address(state: &State) -> Option<SocketAddr> {
    (state.config.insecure_port != 0).then(|| SocketAddr::new(state.config.insecure_bind_address, state.config.insecure_port))
}
