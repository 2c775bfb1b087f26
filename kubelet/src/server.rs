//! The kubelet's HTTP server on `--address:--port` (upstream's `pkg/kubelet/server`), and the
//! healthz server on `127.0.0.1:--healthz-port`.
//!
//! - `GET /healthz`: `ok`.
//! - `GET /pods`: a `PodList` of the pods this kubelet runs, with the status it computed.
//! - `GET /containerLogs/{namespace}/{pod}/{container}`: the container's log, read from the
//!   file containerd writes, with `follow`, `tailLines`, `timestamps`, `previous`,
//!   `sinceSeconds` and `limitBytes` ([`crate::logs`]). The apiserver's `pods/log` proxies
//!   here, which is how `kubectl logs [-f]` works.
//! - `GET /metrics`: a few gauges in the Prometheus text format.
//!
//! Requests are answered in [`app`], a plain function of the request and the shared
//! [`Context`], so tests can call it without a socket; [`serve`] only accepts connections.
//!
//! `--port` is HTTPS, as upstream: `--tls-cert-file`/`--tls-private-key-file`, or a
//! self-signed certificate made at start for the node's names. With `--client-ca-file`,
//! a client certificate (the apiserver's `--kubelet-client-certificate`) is checked after
//! the handshake and a bad one is answered 401; requests without one are served (upstream's
//! defaults: `--anonymous-auth=true`, `--authorization-mode=AlwaysAllow`).

use std::convert::Infallible;
use std::future::Future;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_api::core::Pod;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use kube_certs::tls::ClientCa;

use crate::logs::{self, Decoder, Options};
use crate::sandbox;
use crate::sync_pod::Context;

type Body = BoxBody<Bytes, Infallible>;

/// How often a followed log file is checked for more lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r
}

/// Answers one request.
pub async fn app(ctx: Arc<Context>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    if req.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok"),
        ["pods"] => pods(&ctx),
        ["metrics"] => metrics(&ctx),
        ["containerLogs", ns, pod, container] => container_logs(ctx.clone(), ns, pod, container, &query).await,
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

fn snapshot(ctx: &Context) -> Vec<Pod> {
    ctx.pods.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
}

fn pods(ctx: &Context) -> Response<Body> {
    let list = serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": snapshot(ctx)});
    let mut r = text(StatusCode::OK, serde_json::to_vec(&list).unwrap_or_default());
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn metrics(ctx: &Context) -> Response<Body> {
    let pods = snapshot(ctx);
    let running = pods.iter().flat_map(|p| &p.status.container_statuses).filter(|s| s.state.running.is_some()).count();
    let body = format!(
        "# HELP kubelet_running_pods Number of pods that have a running pod sandbox\n# TYPE kubelet_running_pods gauge\nkubelet_running_pods {}\n\
         # HELP kubelet_running_containers Number of containers currently running\n# TYPE kubelet_running_containers gauge\nkubelet_running_containers{{container_state=\"running\"}} {running}\n",
        pods.iter().filter(|p| !p.status.pod_ip.is_empty()).count()
    );
    text(StatusCode::OK, body)
}

/// The log file of the current (or previous) instance of a container, and whether that
/// instance still runs (a followed log ends when it stops).
fn log_file(ctx: &Context, ns: &str, name: &str, container: &str, previous: bool) -> Result<(PathBuf, bool), (StatusCode, String)> {
    let pods = snapshot(ctx);
    let pod = pods
        .iter()
        .find(|p| p.metadata.namespace == ns && p.metadata.name == name)
        .ok_or((StatusCode::NOT_FOUND, format!("pod {ns}/{name} not found")))?;
    let status = pod
        .status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .find(|s| s.name == container)
        .ok_or((StatusCode::BAD_REQUEST, format!("container {container} is not valid for pod {name}")))?;
    let attempt = status.restart_count as i64 - i64::from(previous);
    let started = !status.container_id.is_empty();
    if attempt < 0 || !started {
        let what = if previous { "previous terminated" } else { "current" };
        return Err((StatusCode::BAD_REQUEST, format!("{what} container \"{container}\" in pod \"{name}\" not found")));
    }
    let dir = sandbox::log_directory(&ctx.config.pod_logs_dir, pod);
    let running = !previous && status.state.running.is_some();
    Ok((dir.join(container).join(format!("{attempt}.log")), running))
}

async fn container_logs(ctx: Arc<Context>, ns: &str, name: &str, container: &str, query: &str) -> Response<Body> {
    let opts = match Options::from_query(query) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let (path, running) = match log_file(&ctx, ns, name, container, opts.previous) {
        Ok(found) => found,
        Err((code, message)) => return text(code, message),
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("open {}: {e}", path.display())),
    };
    let mut content = String::new();
    if let Err(e) = file.read_to_string(&mut content).await {
        return text(StatusCode::INTERNAL_SERVER_ERROR, format!("read {}: {e}", path.display()));
    }
    // Only whole lines now; a line still being written is read again when following.
    let complete = content.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut out: String = logs::select(&content[..complete], &opts, chrono::Utc::now()).iter().map(|l| l.render(opts.timestamps)).collect();
    let limit = opts.limit_bytes.unwrap_or(usize::MAX);
    if !(opts.follow && running) || out.len() >= limit {
        out.truncate(limit);
        return text(StatusCode::OK, out);
    }
    // Follow: send what is there, then new lines as they come, until the container stops
    // or the client goes away.
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let (ns, name, container) = (ns.to_string(), name.to_string(), container.to_string());
    let mut sent = out.len();
    let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
    tokio::spawn(async move {
        let mut offset = complete as u64;
        let mut decoder = Decoder::default();
        let mut buf = String::new();
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            let still_running = matches!(log_file(&ctx, &ns, &name, &container, false), Ok((p, true)) if p == path);
            buf.clear();
            if file.seek(SeekFrom::Start(offset)).await.is_err() || file.read_to_string(&mut buf).await.is_err() {
                return;
            }
            let complete = buf.rfind('\n').map(|i| i + 1).unwrap_or(0);
            offset += complete as u64;
            let chunk: String =
                buf[..complete].lines().filter_map(|l| decoder.push(l)).map(|l| l.render(opts.timestamps)).collect();
            if !chunk.is_empty() {
                sent += chunk.len();
                if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() || sent >= limit {
                    return;
                }
            }
            if !still_running || tx.is_closed() {
                return;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Response::new(BodyExt::boxed(StreamBody::new(stream)))
}

/// The HTTPS side of `--port`: our certificate and the CA of client certificates.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    client_ca: Option<Arc<ClientCa>>,
}

impl Tls {
    pub fn from_config(config: &crate::Config) -> Result<Tls, kube_certs::Error> {
        let client_ca = config.client_ca_file.as_deref().map(ClientCa::from_file).transpose()?;
        let server = match (&config.tls_cert_file, &config.tls_private_key_file) {
            (Some(cert), Some(key)) => kube_certs::tls::server_config_from_files(cert, key, client_ca.as_ref())?,
            _ => {
                let mut names = vec![config.node_name.clone(), "localhost".to_string(), "127.0.0.1".to_string()];
                for ip in [&config.node_ip, &config.address] {
                    if !ip.is_empty() && ip.as_str() != "0.0.0.0" && !names.contains(ip) {
                        names.push(ip.clone());
                    }
                }
                tracing::info!("no --tls-cert-file: generated a self-signed certificate for {}", names.join(", "));
                kube_certs::tls::self_signed_server_config(&format!("{}@kubelet", config.node_name), &names, client_ca.as_ref())?
            }
        };
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)), client_ca: client_ca.map(Arc::new) })
    }
}

/// Serve on `listener` (HTTPS with `tls`, else plain HTTP) until `shutdown` completes.
pub async fn serve(ctx: Arc<Context>, listener: TcpListener, tls: Option<Tls>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("kubelet server: accept: {e}");
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let ctx = ctx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let Some(tls) = tls else {
                let service = hyper::service::service_fn(move |req| app_for(ctx.clone(), true, req));
                if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!("kubelet server connection: {e}");
                }
                return;
            };
            let stream = match tokio::time::timeout(Duration::from_secs(10), tls.acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!("kubelet server: TLS handshake with {peer}: {e}"),
                Err(_) => return tracing::debug!("kubelet server: TLS handshake with {peer} timed out"),
            };
            let authenticated = match (&tls.client_ca, stream.get_ref().1.peer_certificates()) {
                (Some(ca), Some(chain)) => match ca.verify(chain) {
                    Ok(id) => {
                        tracing::debug!("kubelet server: {peer} is {:?} {:?}", id.common_name, id.organizations);
                        true
                    }
                    Err(why) => {
                        tracing::info!("kubelet server: client certificate of {peer} refused: {why}");
                        false
                    }
                },
                _ => true,
            };
            let service = hyper::service::service_fn(move |req| app_for(ctx.clone(), authenticated, req));
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("kubelet server connection: {e}");
            }
        });
    }
}

/// [`app`], or 401 for a connection whose client certificate was refused.
async fn app_for(ctx: Arc<Context>, authenticated: bool, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    if !authenticated {
        return Ok(text(StatusCode::UNAUTHORIZED, "Unauthorized\n"));
    }
    Ok(app(ctx, req).await)
}
