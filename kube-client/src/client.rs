//! [`Client`]: HTTP/1.1 to the apiserver, one shared pool of connections.
//!
//! Why a *pooled* client: a component makes many small requests (a get, an update, a
//! status write) and a few long ones (watches). Opening a TCP connection per request would
//! cost a round trip each time and leave thousands of sockets in TIME_WAIT under load; the
//! pool keeps idle connections open and reuses them. A watch holds its connection for as
//! long as it runs, so each open watch costs one connection — just as with client-go.
//!
//! `Client` is cheap to clone (an `Arc`): every `Api`, watch and controller of a process
//! shares one pool.
//!
//! TLS: the [`Connector`] speaks plain HTTP to `http://` servers and HTTPS (rustls) to
//! `https://` ones, with the kubeconfig's CA, client certificate and key
//! ([`kube_certs::tls::client_config`]). A `tls-server-name` replaces the URL's host in
//! the server certificate check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use http::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use crate::config::{authority, Auth, Config};
use crate::error::{error_from_response, Error, Result};

/// How we open connections: TCP, wrapped in rustls for `https://`.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The body of a streamed answer (a watch, `logs -f`): chunks as they arrive.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// The version we claim in `User-Agent` (and, in the apiserver, `/version`).
pub const KUBERNETES_VERSION: &str = kube_api::KUBERNETES_VERSION;

/// `JSON`, what every typed call sends and accepts.
pub const JSON: &str = "application/json";

/// A handle on the apiserver. Clone it freely.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient<Connector, Full<Bytes>>,
    /// `http://127.0.0.1:8080` (plus any path prefix), without a trailing `/`.
    base: String,
    /// `127.0.0.1:8080`, for messages.
    server: String,
    authorization: Option<HeaderValue>,
    user_agent: HeaderValue,
    request_timeout: Duration,
    namespace: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// Upstream's `User-Agent` shape: `kube-scheduler/v1.33.0 (linux/amd64) kubernetes/rust`.
pub fn user_agent(component: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "{component}/{KUBERNETES_VERSION} ({}/{arch}) kubernetes/rust",
        std::env::consts::OS
    )
}

/// Wraps TCP in rustls for `https://` servers, configured from the kubeconfig's TLS fields.
fn https_connector(config: &Config, tcp: HttpConnector) -> Result<Connector> {
    let tls = &config.tls;
    let tls_error = |source| Error::Tls {
        server: config.server.to_string(),
        source,
    };
    let rustls = kube_certs::tls::client_config(&kube_certs::tls::Dial {
        ca_pem: tls.ca_pem.as_deref(),
        client_cert_pem: tls.client_cert_pem.as_deref(),
        client_key_pem: tls.client_key_pem.as_deref(),
        insecure_skip_verify: tls.insecure_skip_verify,
        alpn: Vec::new(), // hyper-rustls sets ALPN from enable_http1()
    })
    .map_err(tls_error)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(rustls)
        .https_or_http();
    let builder = match tls.server_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => {
            let name = rustls_pki_types::ServerName::try_from(name.to_string()).map_err(|e| {
                tls_error(kube_certs::Error::Tls(rustls::Error::General(format!(
                    "tls-server-name {name:?}: {e}"
                ))))
            })?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    Ok(builder.enable_http1().wrap_connector(tcp))
}

impl Client {
    /// A client for `config`. No connection is made until the first request.
    pub fn new(config: Config) -> Result<Client> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(config.connect_timeout));
        tcp.set_nodelay(true);
        // Detects an apiserver that vanished without closing the socket (a watch would
        // otherwise wait forever).
        tcp.set_keepalive(Some(Duration::from_secs(30)));
        tcp.enforce_http(false);
        let connector = https_connector(&config, tcp)?;
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let authorization = match &config.auth {
            Auth::None => None,
            Auth::Bearer(token) => Some(header_value(&format!("Bearer {token}"))?),
            Auth::Basic { username, password } => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Some(header_value(&format!("Basic {raw}"))?)
            }
        };
        let mut authorization = authorization;
        if let Some(v) = authorization.as_mut() {
            v.set_sensitive(true);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base: config.server.as_str().trim_end_matches('/').to_string(),
                server: authority(&config.server),
                authorization,
                user_agent: header_value(&config.user_agent)?,
                request_timeout: config.request_timeout,
                namespace: config.namespace,
            }),
        })
    }

    /// The namespace of the kubeconfig's context (`default` otherwise).
    pub fn default_namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// `host:port` of the apiserver.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// One request, whole answer in memory. A 2xx answer comes back as is; anything else is
    /// an [`Error::Api`]. `accept` defaults to JSON.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let seconds = self.inner.request_timeout.as_secs();
        let work = async {
            let response = self
                .send(method, path_and_query, body, content_type, accept)
                .await?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| self.transport(e))?
                .to_bytes();
            if !parts.status.is_success() {
                return Err(error_from_response(parts.status, &bytes));
            }
            Ok((parts.status, parts.headers, bytes))
        };
        tokio::time::timeout(self.inner.request_timeout, work)
            .await
            .map_err(|_| Error::Timeout {
                server: self.inner.server.clone(),
                seconds,
            })?
    }

    /// One request whose answer is read as it arrives: watches and `logs -f`. Only the wait
    /// for the response head is bounded by the request timeout; the body may flow forever.
    pub async fn request_stream(
        &self,
        method: Method,
        path_and_query: &str,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, ByteStream)> {
        let seconds = self.inner.request_timeout.as_secs();
        let response = tokio::time::timeout(
            self.inner.request_timeout,
            self.send(method, path_and_query, None, None, accept),
        )
        .await
        .map_err(|_| Error::Timeout {
            server: self.inner.server.clone(),
            seconds,
        })??;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| self.transport(e))?
                .to_bytes();
            return Err(error_from_response(parts.status, &bytes));
        }
        let server = self.inner.server.clone();
        let stream = body
            .into_data_stream()
            .map_err(move |e| Error::Transport {
                server: server.clone(),
                source: Box::new(e),
            })
            .boxed();
        Ok((parts.status, parts.headers, stream))
    }

    /// A JSON request whose 2xx answer is decoded as `T`.
    pub(crate) async fn request_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Result<T> {
        let (_, _, bytes) = self
            .request(method, path_and_query, body, content_type, Some(JSON))
            .await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            what: format!("the answer to {path_and_query}"),
            source,
        })
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let uri = format!("{}{}", self.inner.base, path_and_query);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(USER_AGENT, self.inner.user_agent.clone())
            .header(ACCEPT, header_value(accept.unwrap_or(JSON))?);
        if let Some(auth) = &self.inner.authorization {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, header_value(content_type.unwrap_or(JSON))?);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::InvalidRequest(format!("{method} {uri}: {e}")))?;
        let started = Instant::now();
        let result = self.inner.http.request(request).await;
        match result {
            Ok(response) => {
                tracing::debug!(%method, path = path_and_query, code = response.status().as_u16(),
                    elapsed_ms = started.elapsed().as_millis() as u64, "apiserver answered");
                Ok(response)
            }
            Err(e) if e.is_connect() => Err(Error::Connect {
                server: self.inner.server.clone(),
                source: Box::new(e),
            }),
            Err(e) => Err(self.transport(e)),
        }
    }

    fn transport(&self, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Transport {
            server: self.inner.server.clone(),
            source: Box::new(e),
        }
    }
}

fn header_value(s: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(s)
        .map_err(|_| Error::InvalidRequest(format!("{s:?} is not a valid header value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_reads_like_upstreams() {
        let ua = user_agent("kube-scheduler");
        assert!(ua.starts_with("kube-scheduler/v1.33.0 ("), "{ua}");
        assert!(ua.ends_with(") kubernetes/rust"), "{ua}");
    }

    #[test]
    fn unusable_tls_material_is_refused_clearly() {
        let mut config = Config::from_server("https://127.0.0.1:6443").unwrap();
        assert!(Client::new(config.clone()).is_ok(), "https itself is fine");
        config.tls.ca_pem = Some(b"not a certificate".to_vec());
        let err = Client::new(config.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TLS configuration for https://127.0.0.1:6443/: certificate-authority: no PEM certificate found"
        );
        config.tls.ca_pem = None;
        config.tls.client_cert_pem = Some(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".to_vec());
        let err = Client::new(config).unwrap_err();
        assert!(err.to_string().contains("a client-certificate needs its key"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_as_kubectl_does() {
        // Bind then drop a listener: the port is free and nobody listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client =
            Client::new(Config::from_server(&format!("127.0.0.1:{port}")).unwrap()).unwrap();
        let err = client
            .request(Method::GET, "/version", None, None, None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?")
        );
    }
}
