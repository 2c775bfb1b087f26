//! # kube-apiserver
//!
//! Mirrors upstream's `kube-apiserver`: the only component that talks to etcd. It
//! validates and stores API objects, and serves them over REST with list and watch; every
//! other component observes and changes the cluster only through it.
//!
//! ## Layout
//! - [`config`]: the flags (upstream's names and defaults).
//! - [`server`]: HTTP serving and the first routing level (health, discovery, OpenAPI, metrics).
//! - [`secure`]: the secure port: TLS, client certificates, and who each request is.
//! - [`request`]: URL + method → which resource, namespace, name, subresource and verb.
//! - [`handlers`]: one function per verb (`read`, `write`, `delete`, `subresources`).
//! - [`store`]: the generic object store: keys, the typed pipeline, compare-and-swap writes,
//!   finalizers, generation.
//! - [`auth`]: who is asking ([`auth::UserInfo`]) and may they ([`auth::Chain`] of authorizers).
//! - [`admission`]: kind-specific rules (namespace lifecycle, service IPs, pod grace periods).
//! - [`alloc`]: ClusterIP and NodePort bitmaps in etcd.
//! - [`storage`]: the key-value backend (etcd) and the watch cache.
//! - [`compaction`]: forgetting old etcd history every `--etcd-compaction-interval`.
//! - [`negotiate`]: JSON, YAML and Table representations.
//! - [`protobuf`]: `application/vnd.kubernetes.protobuf` request bodies (kubectl's `create deployment|secret|...`) read as JSON, from the schemas in `proto/k8s/`.
//! - [`discovery`], [`openapi`], [`openapi_v2`]: what clients read to learn what is served.
//! - [`bootstrap`]: the namespaces and the `kubernetes` Service that always exist.
//! - [`errors`]: every failure, and its `Status`.
//! - [`metrics`]: `/metrics`.

pub mod admission;
pub mod alloc;
pub mod auth;
pub mod bootstrap;
pub mod compaction;
pub mod config;
pub mod discovery;
pub mod errors;
pub mod handlers;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod openapi_v2;
pub mod protobuf;
pub mod request;
pub mod secure;
pub mod server;
pub mod storage;
pub mod store;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::Empty;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use crate::alloc::{Cidr, NodePorts, ServiceIps};
use crate::config::{Config, DEFAULT_SERVICE_RANGE};
use crate::storage::etcd::EtcdBackend;
use crate::storage::Backend;
use crate::store::Store;

/// The client the apiserver uses to reach kubelets (for `pods/log`), over HTTPS.
pub type KubeletClient = HttpClient<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Empty<bytes::Bytes>>;

/// Everything a request handler can reach.
pub struct State {
    pub config: ResolvedConfig,
    pub store: Store,
    pub service_ips: ServiceIps,
    pub node_ports: NodePorts,
    pub metrics: Arc<metrics::Metrics>,
    pub kubelet_client: KubeletClient,
    /// `--authorization-mode`, in order.
    pub authorizer: auth::Chain,
    /// Bearer-token authenticators of the secure port, asked in order.
    pub token_authenticators: Vec<Arc<dyn auth::TokenAuthenticator>>,
    /// Service-account token issuing (`--service-account-signing-key-file`); `None`
    /// without a signing key: no TokenRequest, and pods get no token volume.
    pub service_account_tokens: Option<auth::serviceaccount::Tokens>,
}

/// The configuration after defaults that depend on other flags are applied.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    pub insecure_bind_address: IpAddr,
    pub insecure_port: u16,
    pub secure_port: u16,
    pub advertise_address: String,
    pub service_cidr: Cidr,
    pub node_port_range: (u16, u16),
    /// `--authorization-mode`, parsed.
    pub authorization_modes: Vec<auth::Mode>,
    /// The secure port is served (`--tls-cert-file`).
    pub serves_tls: bool,
    /// `--anonymous-auth`: a request with no credentials is `system:anonymous`.
    pub anonymous_auth: bool,
}

impl ResolvedConfig {
    /// `host:port` clients are told to use (`/api`'s serverAddressByClientCIDRs).
    pub fn server_address(&self) -> String {
        let port = if self.serves_tls { self.secure_port } else { self.insecure_port };
        format!("{}:{}", self.advertise_address, port)
    }

    pub fn from_flags(config: &Config) -> anyhow::Result<ResolvedConfig> {
        let range = match &config.service_cluster_ip_range {
            Some(r) => r.clone(),
            None => {
                tracing::warn!("--service-cluster-ip-range not given; defaulting to {DEFAULT_SERVICE_RANGE}, as upstream does");
                DEFAULT_SERVICE_RANGE.to_string()
            }
        };
        let service_cidr = Cidr::parse(&range)
            .filter(|c| c.prefix >= 12 && c.prefix <= 30)
            .with_context(|| format!("--service-cluster-ip-range={range}: expected an IPv4 CIDR between /12 and /30"))?;
        let node_port_range = alloc::parse_port_range(&config.service_node_port_range)
            .with_context(|| format!("--service-node-port-range={}: expected FROM-TO", config.service_node_port_range))?;
        let advertise = config.advertise_address.unwrap_or(config.insecure_bind_address);
        let authorization_modes = auth::Mode::parse_list(&config.authorization_mode).map_err(anyhow::Error::msg)?;
        Ok(ResolvedConfig {
            insecure_bind_address: config.insecure_bind_address,
            insecure_port: config.effective_insecure_port(),
            secure_port: config.secure_port,
            advertise_address: advertise.to_string(),
            service_cidr,
            node_port_range,
            authorization_modes,
            serves_tls: config.serves_tls(),
            anonymous_auth: config.anonymous_auth,
        })
    }
}

impl State {
    /// Build the state on a storage backend: start the watch caches, wait for them.
    pub async fn new(config: ResolvedConfig, backend: Arc<dyn Backend>, prefix: &str) -> State {
        let store = Store::new(backend.clone(), prefix);
        store.wait_ready().await;
        let prefix = store.prefix().to_string();
        let authorizer = auth::Chain::from_modes(&config.authorization_modes, &store);
        State {
            service_ips: ServiceIps::new(backend.clone(), &prefix, config.service_cidr),
            node_ports: NodePorts::new(backend, &prefix, config.node_port_range.0, config.node_port_range.1),
            config,
            store,
            metrics: metrics::Metrics::new(),
            kubelet_client: kubelet_client(&secure::KubeletTls::default()).expect("a kubelet client without files cannot fail"),
            authorizer,
            token_authenticators: Vec::new(),
            service_account_tokens: None,
        }
    }
}

/// The HTTPS client to kubelets: with `--kubelet-client-certificate`/`--kubelet-client-key`
/// it proves who the apiserver is; with `--kubelet-certificate-authority` it checks the
/// kubelet's serving certificate (without, it does not, as upstream).
pub fn kubelet_client(tls: &secure::KubeletTls) -> anyhow::Result<KubeletClient> {
    let config = tls.client_config()?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().wrap_connector(http);
    Ok(HttpClient::builder(TokioExecutor::new()).build(https))
}

/// Run the apiserver until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let resolved = ResolvedConfig::from_flags(&config)?;
    // Read every certificate first: a wrong path fails now, before anything is served.
    let tls = secure::Tls::from_flags(&config)?;
    let etcd_tls = secure::etcd_tls(&config)?;
    let kubelet = kubelet_client(&secure::KubeletTls::from_flags(&config))?;
    if resolved.insecure_port == 0 && tls.is_none() {
        anyhow::bail!("--insecure-port=0 and no --tls-cert-file: nothing to serve on");
    }
    let service_accounts = auth::serviceaccount::Settings::from_flags(&config).map_err(anyhow::Error::msg)?;
    tracing::info!("connecting to etcd at {}", config.etcd_servers.join(","));
    let backend = EtcdBackend::connect_with(&config.etcd_servers, etcd_tls)
        .await
        .with_context(|| format!("cannot reach etcd at {}", config.etcd_servers.join(",")))?;
    let backend: Arc<dyn Backend> = Arc::new(backend);
    let compactor = tokio::spawn(compaction::run(backend.clone(), config.etcd_compaction_interval));
    let mut state = State::new(resolved, backend, &config.etcd_prefix).await;
    state.kubelet_client = kubelet;
    if let Some(path) = &config.token_auth_file {
        state.token_authenticators.push(Arc::new(auth::token_file::StaticTokens::from_file(path)?));
    }
    if let Some(settings) = service_accounts {
        let (tokens, authenticator) = settings.build(state.store.clone()).map_err(anyhow::Error::msg)?;
        if tokens.is_none() {
            tracing::info!("no --service-account-signing-key-file: service-account tokens are verified but not issued");
        }
        state.service_account_tokens = tokens;
        state.token_authenticators.push(Arc::new(authenticator));
    }
    let state = Arc::new(state);
    bootstrap::ensure_defaults(&state).await.context("creating the default namespaces, the kubernetes Service and the bootstrap RBAC policy")?;

    // One shutdown signal for both ports.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();
    if let Some(addr) = server::insecure_address(&state) {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!("serving insecurely on {addr}");
        servers.spawn(server::serve(listener, state.clone(), stop.clone().cancelled_owned()));
    }
    if let Some(tls) = tls {
        let addr = std::net::SocketAddr::new(config.bind_address, config.secure_port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!("Serving securely on {addr}");
        servers.spawn(secure::serve(listener, tls, state.clone(), stop.clone().cancelled_owned()));
    }
    shutdown.await;
    stop.cancel();
    while servers.join_next().await.is_some() {}
    compactor.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM: the one shutdown signal.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
