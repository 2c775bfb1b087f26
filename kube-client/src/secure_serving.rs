//! A component's own HTTPS endpoint on `--bind-address:--secure-port` (kube-scheduler's
//! 10259, kube-controller-manager's 10257): `/healthz`, `/readyz`, `/metrics`.
//!
//! As upstream's secure serving: HTTPS with `--tls-cert-file`/`--tls-private-key-file`, or
//! else a self-signed certificate made at start for `localhost` and `127.0.0.1` (upstream
//! logs "Generated self-signed cert" then "Serving securely on [::]:10259"). `/healthz` needs
//! no credentials (`curl -k https://127.0.0.1:10259/healthz` prints `ok`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why the endpoint cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key cannot be used, or none could be generated.
    #[error("serving certificate: {0}")]
    Certificate(#[from] kube_certs::Error),
}

/// A bound HTTPS listener, ready to [`serve`](SecureServing::serve).
pub struct SecureServing {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl SecureServing {
    /// Binds `addr` now (a busy port fails at start) with the given certificate files, or a
    /// self-signed certificate named after `component`.
    pub async fn bind(
        addr: SocketAddr,
        component: &str,
        cert_and_key: Option<(&Path, &Path)>,
    ) -> Result<SecureServing, ServingError> {
        let config = match cert_and_key {
            Some((cert, key)) => kube_certs::tls::server_config_from_files(cert, key, None)?,
            None => {
                tracing::info!("Generated self-signed cert for {component} (localhost, 127.0.0.1)");
                kube_certs::tls::self_signed_server_config(
                    &format!("{component}@localhost"),
                    &["localhost".to_string(), "127.0.0.1".to_string()],
                    None,
                )?
            }
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServingError::Bind { addr, source })?;
        Ok(SecureServing {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers each GET with `answer(path)` until `cancel`.
    pub async fn serve<F>(self, answer: F, cancel: CancellationToken)
    where
        F: Fn(&str) -> (StatusCode, String) + Clone + Send + Sync + 'static,
    {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!("Serving securely on {addr}");
        }
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!("accept: {e}");
                        continue;
                    }
                },
                _ = cancel.cancelled() => return,
            };
            let (acceptor, answer) = (self.acceptor.clone(), answer.clone());
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    _ => return tracing::debug!("TLS handshake with {peer} failed"),
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let (status, body) = answer(req.uri().path());
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() = status;
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    async move { Ok::<_, Infallible>(resp) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!("connection from {peer}: {e}");
                }
            });
        }
    }
}
