//! # kube-proxy: Services as iptables rules
//!
//! Upstream's `cmd/kube-proxy` in iptables mode. It watches every Service and Endpoints
//! object and turns them into NAT chains, so that a connection to a Service's virtual IP
//! (`10.0.0.34:3000`) is DNATed to one of its ready pods (`192.168.238.4:80`) — by the
//! kernel, without kube-proxy on the data path. Seed 003's "Jouer avec notre cluster"
//! section reads these chains with `iptables -t nat -L`.
//!
//! ## Layout
//! - [`rules`]: **pure** — Services + Endpoints + flags → the exact `iptables-restore`
//!   text upstream writes (chain names, comments, probabilities). Golden-tested.
//! - [`iptables`]: the only I/O on the kernel — `iptables-restore --noflush`,
//!   `iptables-save`, the jump rules (`iptables -C`/`-I`), `--cleanup`, sysctls.
//! - [`proxier`]: the control loop — informers mark the rules dirty; a sync runs at most
//!   every min-sync-period and at least every sync-period, and applies only what changed.
//! - [`server`]: `/healthz` and `/metrics`.
//!
//! `main.rs` only parses flags and calls [`run`] (or [`cleanup`]).

pub mod iptables;
pub mod proxier;
pub mod rules;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use kube_client::CancellationToken;
use tracing::info;

pub use proxier::{Proxier, ProxierOptions};
pub use rules::ProxyConfig;

/// Everything [`run`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub client: kube_client::Config,
    /// The node's name (`--hostname-override`), for logs.
    pub hostname: String,
    pub proxier: ProxierOptions,
    /// `--healthz-bind-address`; `None` disables it.
    pub healthz_bind_address: Option<SocketAddr>,
    /// `--metrics-bind-address`; `None` disables it.
    pub metrics_bind_address: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apiserver configuration is unusable.
    #[error("client: {0}")]
    Client(#[from] kube_client::Error),
    /// A sysctl or iptables call failed at start-up.
    #[error(transparent)]
    Iptables(#[from] iptables::IptablesError),
    /// The healthz or metrics port is taken.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Runs kube-proxy until `shutdown` completes. The rules stay in place afterwards.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let cancel = CancellationToken::new();
    let client = kube_client::Client::new(config.client.clone().with_user_agent("kube-proxy"))?;
    info!(
        "kube-proxy starting on node {:?} in iptables mode (cluster CIDR {:?}, masquerade-all {})",
        config.hostname, config.proxier.rules.cluster_cidr, config.proxier.rules.masquerade_all
    );
    let mut options = config.proxier.clone();
    options.rules.conntrack_tcp_be_liberal = iptables::conntrack_tcp_be_liberal();
    iptables::set_sysctls(&options.rules)?;

    let metrics = Arc::new(server::Metrics::new(options.sync_period));
    let mut addrs: Vec<SocketAddr> = config.healthz_bind_address.into_iter().collect();
    addrs.extend(config.metrics_bind_address.filter(|m| Some(*m) != config.healthz_bind_address));
    for addr in addrs {
        server::serve(addr, metrics.clone(), cancel.clone()).await.map_err(|source| Error::Bind { addr, source })?;
    }

    let proxier = tokio::spawn(Proxier::new(options, metrics).run(client, cancel.clone()));
    shutdown.await;
    info!("Shutting down kube-proxy");
    cancel.cancel();
    let _ = proxier.await;
    Ok(())
}

/// `kube-proxy --cleanup`: removes every chain and jump rule kube-proxy creates.
pub async fn cleanup(config: &ProxyConfig) -> Result<usize, iptables::IptablesError> {
    let removed = iptables::cleanup(config).await?;
    info!("Removed {removed} kube-proxy chains and their jump rules");
    Ok(removed)
}

pub use kube_client::shutdown_signal;
