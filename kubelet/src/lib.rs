//! The kubelet: the node agent that runs pods on the container runtime (upstream's
//! `cmd/kubelet`). `main.rs` parses flags into a [`Config`] and calls [`run`].
//!
//! # Layout
//!
//! The control loop observes desired pods (`config`) and actual containers
//! (`runtime_pods`), compares them (`actions`) and acts (`sync_pod`); `pod_workers` is the
//! loop itself — start reading there.
//!
//! - [`pod_workers`]: the sync loop and one worker per pod.
//! - [`config`]: the desired pods, merged from sources; [`config::file`] reads
//!   `--pod-manifest-path` (static pods, standalone mode).
//! - [`runtime_pods`]: the actual state, listed from the runtime and grouped by pod.
//! - [`actions`]: compare desired with actual for one pod (pure, table-tested).
//! - [`sync_pod`]: carry the actions out: sandbox, images, containers, kill.
//! - [`sandbox`], [`container`]: a pod / container spec → CRI config.
//! - [`env`]: environment variables, the downward API and `$(VAR)` expansion.
//! - [`resources`]: requests and limits to CRI resources; the pod's cgroup.
//! - [`labels`]: the labels that let a restarted kubelet find its pods.
//! - [`backoff`]: crash-loop and image-pull back-off (10 s doubling to 5 min).
//! - [`volumes`]: emptyDir (on disk or tmpfs) and hostPath; [`volumes_projected`]:
//!   downwardAPI and projected volumes (configMap, secret, downwardAPI, serviceAccountToken
//!   sources; tokens from [`token_manager`]).
//! - [`prober`]: liveness, readiness and startup probes, one worker per probe.
//! - [`status`]: PodStatus from CRI statuses (phase, conditions, containerStatuses).
//! - [`server`]: the HTTP server on `--port`: `/healthz`, `/pods`, `/containerLogs`
//!   (decoded by [`logs`]), `/metrics`.
//! - [`cni`]: the node's CNI conflist for its pod CIDR.
//! - [`cri`]: the gRPC client of the runtime over its Unix socket.
//!
//!
//! API mode (`--api-servers` / `--kubeconfig`), wired by [`api_mode`]:
//! - [`config::api`]: pods bound to this node, from an informer, as another source.
//! - [`node_status`]: registration, the Lease heartbeat, the node's status.
//! - [`status_manager`]: pod statuses written to the apiserver on change; final deletes.
//! - [`mirror`]: mirror pods of static pods.
//! - [`env_api`], [`volumes_api`]: service links, configMap/secret env and volumes.
//! - [`recorder`]: events (Pulling, Pulled, Created, Started, Killing, BackOff, Failed).
//!
//! Not yet: exec and port-forward on the server.

pub mod actions;
pub mod api_mode;
pub mod backoff;
pub mod cni;
pub mod config;
pub mod container;
pub mod cri;
pub mod env;
pub mod env_api;
pub mod labels;
pub mod logs;
pub mod mirror;
pub mod node_status;
pub mod pod_workers;
pub mod prober;
pub mod recorder;
pub mod resources;
pub mod runtime_pods;
pub mod sandbox;
pub mod server;
pub mod status;
pub mod status_manager;
pub mod sync_pod;
pub mod token_manager;
pub mod volumes;
pub mod volumes_api;
pub mod volumes_projected;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Everything `run` needs, filled from the flags by `main.rs`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The node's name (`--hostname-override` or the machine's hostname, lowercased).
    pub node_name: String,
    /// `--node-ip`: reported as the pods' hostIP.
    pub node_ip: String,
    /// `--pod-manifest-path`: the static pod directory, if any.
    pub pod_manifest_path: Option<PathBuf>,
    /// `--container-runtime-endpoint`.
    pub runtime_endpoint: String,
    /// `--root-dir`: pod directories and volumes.
    pub root_dir: PathBuf,
    /// Where containerd writes container logs (`/var/log/pods`).
    pub pod_logs_dir: PathBuf,
    /// `--pod-cidr`: when set, the CNI conflist for it is written.
    pub pod_cidr: Option<String>,
    /// `--cni-conf-dir`.
    pub cni_conf_dir: PathBuf,
    /// `--cluster-dns` and `--cluster-domain`.
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
    /// `--address` and `--port` of the kubelet server (port 0: no server).
    pub address: String,
    pub port: u16,
    /// `--healthz-port` (on 127.0.0.1; 0: none).
    pub healthz_port: u16,
    /// `--tls-cert-file`, `--tls-private-key-file`: the server's certificate on `--port`
    /// (without them, a self-signed one is made at start, as upstream).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    /// `--client-ca-file`: the CA of client certificates (the apiserver's
    /// `--kubelet-client-certificate`); a certificate it did not sign is answered 401.
    pub client_ca_file: Option<PathBuf>,
    /// How long to keep trying to reach the runtime at start.
    pub runtime_connect_timeout: Duration,
    /// API mode: the apiserver and the node's registration; `None` runs standalone.
    pub api: Option<api_mode::ApiConfig>,
}

/// Why the kubelet could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime did not answer in time.
    #[error(transparent)]
    Cri(#[from] cri::CriError),
    /// The server's certificate, key or client CA cannot be used.
    #[error("kubelet server TLS: {0}")]
    Tls(#[source] kube_certs::Error),
    /// The server's port could not be bound.
    #[error("listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The apiserver client could not be built (API mode).
    #[error("API client")]
    Api(#[from] kube_client::Error),
    /// A directory or the CNI configuration could not be written.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the kubelet until `shutdown` completes.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let io = |what: String| move |source| Error::Io { what, source };
    for dir in [&config.root_dir, &config.pod_logs_dir] {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    }
    let cri = connect(&config).await?;
    let version = cri.version().await?;
    tracing::info!(
        "container runtime {} {} (CRI {}) at {}",
        version.runtime_name,
        version.runtime_version,
        version.runtime_api_version,
        config.runtime_endpoint
    );
    match &config.pod_cidr {
        Some(cidr) => {
            let path = cni::write(&config.cni_conf_dir, cidr, &config.root_dir)
                .map_err(io(format!("write CNI config into {}", config.cni_conf_dir.display())))?;
            tracing::info!("wrote CNI config {} for pod CIDR {cidr}", path.display());
        }
        None => tracing::warn!("no --pod-cidr: pods get a network only if the runtime has a CNI config already"),
    }

    if config.node_ip.is_empty() {
        // The pods' hostIP and the node's InternalIP (upstream detects it the same way).
        config.node_ip = node_status::detect_node_ip().unwrap_or_default();
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sources = Vec::new();
    if config.api.is_some() {
        sources.push(config::Source::Api);
    }
    if config.pod_manifest_path.is_some() {
        sources.push(config::Source::File);
    }
    let pod_config = config::PodConfig::new(sources);
    let mut tasks = tokio::task::JoinSet::new();
    let api = match &config.api {
        Some(api_config) => {
            tracing::info!("API mode: apiserver {}", api_config.client.server);
            let api = api_mode::start(api_config, &config, cri.clone(), pod_config.clone(), &mut tasks, stop_rx.clone())?;
            Some(api)
        }
        None => None,
    };
    if let Some(dir) = config.pod_manifest_path.clone() {
        tracing::info!("watching static pod manifests in {}", dir.display());
        tasks.spawn(config::file::run(dir, config.node_name.clone(), pod_config.clone(), stop_rx.clone()));
    }
    let ctx = Arc::new(sync_pod::Context {
        cri: cri.clone(),
        resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        backoff: Mutex::new(backoff::Backoff::default()),
        prober: prober::Prober::new(cri.clone()),
        pods: Mutex::default(),
        config,
        api,
    });
    // `--port` over HTTPS (the apiserver's `logs` come here), `--healthz-port` plain HTTP
    // on 127.0.0.1, as upstream.
    let mut listeners = vec![];
    if ctx.config.port != 0 {
        let tls = server::Tls::from_config(&ctx.config).map_err(Error::Tls)?;
        listeners.push((format!("{}:{}", ctx.config.address, ctx.config.port), Some(tls)));
    }
    if ctx.config.healthz_port != 0 {
        listeners.push((format!("127.0.0.1:{}", ctx.config.healthz_port), None));
    }
    for (addr, tls) in listeners {
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|source| Error::Listen { addr: addr.clone(), source })?;
        match &tls {
            Some(_) => tracing::info!("kubelet server listening securely on {addr}"),
            None => tracing::info!("kubelet healthz server listening on {addr}"),
        }
        let mut stop = stop_rx.clone();
        tasks.spawn(server::serve(ctx.clone(), listener, tls, async move {
            let _ = stop.changed().await;
        }));
    }
    tasks.spawn(pod_workers::run(ctx, pod_config, stop_rx));

    shutdown.await;
    tracing::info!("shutting down: stopping the sync loop (pods keep running)");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Connects to the runtime, retrying for a while: at boot containerd may start after us.
async fn connect(config: &Config) -> Result<cri::Cri, cri::CriError> {
    let deadline = tokio::time::Instant::now() + config.runtime_connect_timeout;
    loop {
        match cri::Cri::connect(&config.runtime_endpoint).await {
            Ok(cri) => return Ok(cri),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!("{e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
