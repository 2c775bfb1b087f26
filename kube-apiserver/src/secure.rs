//! The secure port (`--secure-port`, 6443) and the apiserver's other TLS connections.
//!
//! - **Serving**: `--tls-cert-file`/`--tls-private-key-file` are the certificate clients
//!   check (its SANs must name the address they dial: see docs/tls.md). With
//!   `--client-ca-file`, clients may present a certificate; it is checked after the
//!   handshake ([`kube_certs::tls`]), so that a bad one is answered 401 like upstream rather
//!   than with a TLS alert. Each request is then authenticated ([`crate::auth::authn`]).
//! - **etcd**: `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile` for `https://` endpoints
//!   and etcd's `--client-cert-auth`.
//! - **kubelets**: `--kubelet-client-certificate`, `--kubelet-client-key`,
//!   `--kubelet-certificate-authority` for `pods/log` (see [`crate::kubelet_client`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use kube_certs::tls::{self as certs_tls, ClientCa};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::authn::PeerCert;
use crate::config::Config;
use crate::server::{self, Who};
use crate::State;

/// A client that does not finish its handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving side: our certificate, and the CA of client certificates.
pub struct Tls {
    acceptor: TlsAcceptor,
    client_ca: Option<ClientCa>,
}

impl Tls {
    /// `None` without `--tls-cert-file`: no secure port.
    pub fn from_flags(config: &Config) -> anyhow::Result<Option<Tls>> {
        let Some(cert) = &config.tls_cert_file else {
            if config.client_ca_file.is_some() || config.tls_private_key_file.is_some() {
                anyhow::bail!("--client-ca-file and --tls-private-key-file need --tls-cert-file");
            }
            return Ok(None);
        };
        let key = config.tls_private_key_file.as_ref().context("--tls-cert-file needs --tls-private-key-file")?;
        let client_ca = match &config.client_ca_file {
            Some(path) => Some(ClientCa::from_file(path).with_context(|| format!("--client-ca-file={}", path.display()))?),
            None => None,
        };
        let server = certs_tls::server_config_from_files(cert, key, client_ca.as_ref())
            .with_context(|| format!("--tls-cert-file={} --tls-private-key-file={}", cert.display(), key.display()))?;
        Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(server)), client_ca }))
    }
}

/// Serve HTTPS on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, tls: Tls, state: Arc<State>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let graceful = GracefulShutdown::new();
    let client_ca = tls.client_ca.map(Arc::new);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // The handshake runs in the connection's own task: a slow client must not
                // hold up the accept loop.
                let (acceptor, state, client_ca, watcher) = (tls.acceptor.clone(), state.clone(), client_ca.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => return tracing::debug!("TLS handshake with {peer} timed out"),
                    };
                    let cert = PeerCert::check(client_ca.as_deref(), stream.get_ref().1.peer_certificates());
                    if let PeerCert::Invalid(why) = &cert {
                        tracing::info!("client certificate of {peer} refused: {why}");
                    }
                    server::serve_connection(TokioIo::new(stream), state, Who::Secure(Arc::new(cert)), watcher);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    server::drain(graceful).await;
}

/// The TLS options for etcd, if its endpoints are `https://` or certificates are given.
pub fn etcd_tls(config: &Config) -> anyhow::Result<Option<etcd_client::TlsOptions>> {
    let https = config.etcd_servers.iter().any(|s| s.starts_with("https://"));
    if !https && config.etcd_cafile.is_none() && config.etcd_certfile.is_none() {
        return Ok(None);
    }
    let read = |flag: &str, path: &PathBuf| std::fs::read(path).with_context(|| format!("--{flag}={}", path.display()));
    let mut tls = etcd_client::TlsOptions::new();
    match &config.etcd_cafile {
        Some(ca) => tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read("etcd-cafile", ca)?)),
        None => anyhow::bail!("an https:// etcd endpoint needs --etcd-cafile (the CA that signed etcd's certificate)"),
    }
    match (&config.etcd_certfile, &config.etcd_keyfile) {
        (Some(cert), Some(key)) => tls = tls.identity(etcd_client::Identity::from_pem(read("etcd-certfile", cert)?, read("etcd-keyfile", key)?)),
        (None, None) => {}
        _ => anyhow::bail!("--etcd-certfile and --etcd-keyfile go together"),
    }
    Ok(Some(tls))
}

/// The certificates the apiserver dials kubelets with.
#[derive(Clone, Debug, Default)]
pub struct KubeletTls {
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub certificate_authority: Option<PathBuf>,
}

impl KubeletTls {
    pub fn from_flags(config: &Config) -> KubeletTls {
        KubeletTls {
            client_certificate: config.kubelet_client_certificate.clone(),
            client_key: config.kubelet_client_key.clone(),
            certificate_authority: config.kubelet_certificate_authority.clone(),
        }
    }

    pub fn client_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let read = |flag: &str, path: &Option<PathBuf>| -> anyhow::Result<Option<Vec<u8>>> {
            path.as_ref().map(|p| std::fs::read(p).with_context(|| format!("--{flag}={}", p.display()))).transpose()
        };
        let ca = read("kubelet-certificate-authority", &self.certificate_authority)?;
        let cert = read("kubelet-client-certificate", &self.client_certificate)?;
        let key = read("kubelet-client-key", &self.client_key)?;
        let dial = certs_tls::Dial {
            ca_pem: ca.as_deref(),
            client_cert_pem: cert.as_deref(),
            client_key_pem: key.as_deref(),
            insecure_skip_verify: ca.is_none(),
            alpn: Vec::new(), // hyper-rustls sets ALPN from enable_http1()
        };
        certs_tls::client_config(&dial).context("kubelet client TLS")
    }
}
