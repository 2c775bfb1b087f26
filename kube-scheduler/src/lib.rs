//! # kube-scheduler: gives each pending pod a node
//!
//! Mirrors upstream's `kube-scheduler`. It watches pods and nodes; for every pod with no
//! `spec.nodeName` whose `spec.schedulerName` is ours, it finds the nodes the pod may run
//! on (**filter**), ranks them (**score**), and **binds** the pod to the best one through
//! `POST /api/v1/namespaces/{ns}/pods/{name}/binding`. The kubelet of that node takes it
//! from there. Nothing else: the scheduler never starts a container.
//!
//! ## Layout
//! - [`scheduler`]: **the loop** — pop a pod, filter, score, assume, bind; its header says
//!   what it observes, compares, does and writes. Start reading here.
//! - [`queue`]: pending pods — activeQ (priority, then age), backoffQ (1 s doubling to
//!   10 s), the unschedulable pods waiting for a cluster event.
//! - [`cache`]: nodes with the pods counted on them, **assumed** pods included, so that a
//!   burst of pods does not all land on the node that looked emptiest.
//! - [`framework`]: the plugin traits (one per extension point: [`framework::FilterPlugin`],
//!   [`framework::ScorePlugin`]) and a plugin's [`framework::Status`].
//! - [`plugins`]: one file per plugin (`NodeResourcesFit`, `TaintToleration`, ...), each
//!   with its table of cases. [`registry`]: names → plugins, the default profile.
//! - [`resource`]: a pod's requests as upstream computes them (init containers,
//!   sidecars, overhead). [`fit_error`]: the `FailedScheduling` message.
//! - [`server`]: `/healthz`, `/readyz`, `/metrics` ([`metrics`]).
//!
//! [`run`] wires it up: the HTTP endpoint, then leader election (`kube-system/kube-scheduler`),
//! then — while leading — the informers, the handlers and the loop.

pub mod cache;
pub mod fit_error;
pub mod framework;
pub mod metrics;
pub mod plugins;
pub mod queue;
pub mod registry;
pub mod resource;
pub mod scheduler;
pub mod server;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use kube_api::core::{Node, Pod};
use kube_client::{CancellationToken, ClientArgs, Client, InformerFactory, LeaderElectionArgs, LeaderElector};
use tracing::info;

use crate::registry::Profile;
use crate::scheduler::Scheduler;
use crate::server::Health;

/// kube-scheduler's flags (upstream's names and defaults).
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "kube-scheduler", version, about = "The Kubernetes scheduler: binds pending pods to nodes.")]
pub struct Config {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub leader_election: LeaderElectionArgs,
    /// The name of the scheduler; pods whose spec.schedulerName is another are left alone.
    #[arg(long, default_value = "default-scheduler")]
    pub scheduler_name: String,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The port on which to serve /healthz, /readyz and /metrics (plain HTTP for now); 0 picks one.
    #[arg(long, default_value_t = 10259)]
    pub secure_port: u16,
    /// Number for the log level verbosity (0-2 info, 3-4 debug, 5+ trace); RUST_LOG overrides.
    #[arg(short = 'v', long = "v", default_value_t = 2)]
    pub verbosity: u8,
}

impl Config {
    /// The tracing filter `-v` stands for.
    pub fn log_filter(&self) -> &'static str {
        match self.verbosity {
            0..=2 => "info",
            3..=4 => "debug",
            _ => "trace",
        }
    }
}

/// Why the scheduler stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--master`/`--kubeconfig` do not describe a usable apiserver.
    #[error("invalid client configuration: {0}")]
    Config(#[from] kube_client::ConfigError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] kube_client::Error),
    /// `--bind-address:--secure-port` could not be served.
    #[error(transparent)]
    Serve(#[from] kube_client::secure_serving::ServingError),
    /// We led and lost the lease: another scheduler may be binding now, so we stop.
    #[error(transparent)]
    LeaderElection(#[from] kube_client::leader_election::LeaderElectionError),
}

/// Runs the scheduler until `shutdown` completes (or the lease is lost).
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    let client = Client::new(config.client.config()?.with_user_agent("kube-scheduler"))?;
    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown.await;
            info!("Received shutdown signal; stopping");
            cancel.cancel();
        }
    });

    let health = Health::default();
    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    server::serve(addr, health.clone(), cancel.clone()).await?;

    let identity = LeaderElector::default_identity();
    let elector = LeaderElector::new(client.clone(), "kube-scheduler", &identity, config.leader_election.clone());
    let profile = Profile::default_profile(&config.scheduler_name);
    elector.run(cancel.clone(), |leading| lead(client, profile, health, leading)).await?;
    cancel.cancel();
    Ok(())
}

/// While leading: informers, handlers, the loop.
async fn lead(client: Client, profile: Profile, health: Health, leading: CancellationToken) {
    let factory = InformerFactory::new(client.clone(), leading.clone());
    let pods = factory.informer::<Pod>();
    let nodes = factory.informer::<Node>();
    let scheduler = Arc::new(Scheduler::new(profile, pods.store(), client, health.metrics.clone()));
    nodes.add_handler({
        let s = scheduler.clone();
        move |change| s.on_node(change)
    });
    pods.add_handler({
        let s = scheduler.clone();
        move |change| s.on_pod(change)
    });
    info!("Waiting for caches to sync");
    let (pods_synced, nodes_synced) = (pods.synced(), nodes.synced());
    tokio::select! {
        _ = futures::future::join(pods_synced.wait(), nodes_synced.wait()) => {}
        _ = leading.cancelled() => return,
    }
    info!("Caches are synced: {} nodes, {} pods", scheduler.cache.node_count(), pods.store().len());
    health.ready.store(true, Ordering::Relaxed);
    scheduler.run(leading).await;
}

pub use kube_client::shutdown_signal;
