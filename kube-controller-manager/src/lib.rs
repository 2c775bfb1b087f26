//! # kube-controller-manager: the loops that make the cluster do what was asked
//!
//! Mirrors upstream's `kube-controller-manager`. Seed 003 says it best: "most of the magic
//! of Kubernetes is done by the controller manager". A Deployment written by `kubectl`
//! is only a wish; the Deployment controller turns it into a ReplicaSet, the ReplicaSet
//! controller turns that into Pods, the Endpoints controller puts the Pods behind their
//! Service, the node lifecycle controller moves Pods off a lost node, and the garbage
//! collector deletes what nobody owns any more.
//!
//! Every controller here is the same loop, built on kube-client's control-loop kit
//! (informers → work queue → N workers → `reconcile(key)`), and every controller file
//! opens with what it **observes**, its **key**, the **desired** and **actual** state it
//! compares, what it **does**, what **status** it writes and when it **requeues**.
//!
//! ## Layout
//! - `main.rs`: flags, logging, then [`run`] until Ctrl-C or SIGTERM.
//! - [`options`]: the flags (upstream names and defaults) and the `--controllers` rule.
//! - this file: [`CONTROLLERS`], the descriptor table (name → start function) that
//!   `--controllers` selects from, the [`ControllerContext`] every controller starts from,
//!   and [`run`]: serve `/healthz`, win the `kube-controller-manager` lease, start the
//!   enabled controllers, stop them all on shutdown.
//! - [`serve`]: `/healthz` and `/metrics` on `--secure-port` (plain HTTP for now).
//! - [`credentials`]: `--use-service-account-credentials`, one service account per controller.
//! - [`controllers`]: one file per controller; shared helpers in
//!   [`controllers::pod_control`] (pod ranking, readiness, adoption, slow-start batches).
//!
//! Shutdown: one [`CancellationToken`]. SIGTERM cancels it; every controller's queue
//! shuts down, workers finish the reconcile they are in, the lease is released.

pub mod controllers;
pub mod credentials;
pub mod options;
pub mod serve;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::core::Pod;
use kube_api::Object;
use kube_client::store::{by_owner_uid, pods_by_node, IndexFn};
use kube_client::{Api, CancellationToken, Client, Informer, InformerFactory, LeaderElector, Recorder, Selectors};
use tracing::{info, warn};

pub use options::Options;

/// What a controller's start function gets: the client, the shared informers, the flags,
/// and the token that stops it (cancelled on shutdown or when leadership is lost).
#[derive(Clone)]
pub struct ControllerContext {
    /// The controller's own client: the manager's identity, or with
    /// `--use-service-account-credentials` the controller's service account.
    pub client: Client,
    /// The manager's identity, which the shared informers read with.
    pub root_client: Client,
    pub factory: InformerFactory,
    pub options: Arc<Options>,
    pub cancel: CancellationToken,
}

/// Objects by namespace: "every ReplicaSet in `default`" without scanning the cluster.
pub fn by_namespace<K: Object>() -> (&'static str, IndexFn<K>) {
    ("namespace", Arc::new(|o: &K| vec![o.metadata().namespace.clone()]))
}

/// Objects by UID: the garbage collector finds an owner by its UID.
pub fn by_uid<K: Object>() -> (&'static str, IndexFn<K>) {
    ("uid", Arc::new(|o: &K| vec![o.metadata().uid.clone()]))
}

impl ControllerContext {
    /// A context whose shared pod informer is created first, with the pod indexes
    /// (`nodeName` as well as the common ones), so that every controller shares it.
    pub fn new(client: Client, options: Arc<Options>, cancel: CancellationToken) -> ControllerContext {
        let ctx = ControllerContext {
            factory: InformerFactory::new(client.clone(), cancel.clone()),
            root_client: client.clone(),
            client,
            options,
            cancel,
        };
        ctx.pods();
        ctx
    }

    /// The shared informer of every `K`, indexed by namespace, owner UID and UID. (One
    /// index set for every kind, so whichever controller asks first, the others find the
    /// indexes they need.)
    pub fn informer<K: Object>(&self) -> Informer<K> {
        self.factory.informer_with(
            Api::all(self.root_client.clone()),
            Selectors::default(),
            vec![by_namespace(), by_owner_uid(), by_uid()],
        )
    }

    /// The shared pod informer (also indexed by `spec.nodeName`).
    pub fn pods(&self) -> Informer<Pod> {
        self.factory.informer_with(
            Api::all(self.root_client.clone()),
            Selectors::default(),
            vec![by_namespace(), by_owner_uid(), by_uid(), pods_by_node()],
        )
    }

    /// An event recorder reporting as `component` (e.g. `replicaset-controller`).
    pub fn recorder(&self, component: &str) -> Recorder {
        Recorder::new(self.client.clone(), component, "")
    }
}

/// Sets a controller up (informers, handlers) and answers its running loop.
pub type StartFn = fn(&ControllerContext) -> BoxFuture<'static, ()>;

/// One row of the controller table: upstream's `ControllerDescriptor`.
pub struct ControllerDescriptor {
    /// The name `--controllers` uses.
    pub name: &'static str,
    /// Whether `*` enables it.
    pub on_by_default: bool,
    /// The service account it runs as with `--use-service-account-credentials`
    /// (`kube-system/<name>`; upstream's names, which RBAC's `system:controller:*` roles use).
    pub service_account: &'static str,
    pub start: StartFn,
}

/// Every controller this binary knows, in upstream's names. `--controllers` picks from it.
pub static CONTROLLERS: &[ControllerDescriptor] = &[
    ControllerDescriptor { name: "replicaset", on_by_default: true, service_account: "replicaset-controller", start: controllers::replicaset::start_replicaset },
    ControllerDescriptor { name: "replicationcontroller", on_by_default: true, service_account: "replication-controller", start: controllers::replicaset::start_replication_controller },
    ControllerDescriptor { name: "deployment", on_by_default: true, service_account: "deployment-controller", start: controllers::deployment::start },
    ControllerDescriptor { name: "garbagecollector", on_by_default: true, service_account: "generic-garbage-collector", start: controllers::garbage_collector::start },
    ControllerDescriptor { name: "namespace", on_by_default: true, service_account: "namespace-controller", start: controllers::namespace::start },
    ControllerDescriptor { name: "endpoint", on_by_default: true, service_account: "endpoint-controller", start: controllers::endpoints::start },
    ControllerDescriptor { name: "nodelifecycle", on_by_default: true, service_account: "node-controller", start: controllers::node_lifecycle::start },
    ControllerDescriptor { name: "nodeipam", on_by_default: true, service_account: "node-controller", start: controllers::node_ipam::start },
    ControllerDescriptor { name: "job", on_by_default: true, service_account: "job-controller", start: controllers::job::start },
    ControllerDescriptor { name: "daemonset", on_by_default: true, service_account: "daemon-set-controller", start: controllers::daemonset::start },
    ControllerDescriptor { name: "statefulset", on_by_default: true, service_account: "statefulset-controller", start: controllers::statefulset::start },
    ControllerDescriptor { name: "serviceaccount", on_by_default: true, service_account: "service-account-controller", start: controllers::serviceaccount::start },
    ControllerDescriptor { name: "root-ca-cert-publisher", on_by_default: true, service_account: "root-ca-cert-publisher", start: controllers::root_ca_publisher::start },
];

/// The names `--controllers` enables.
pub fn enabled_controllers(options: &Options) -> Vec<&'static ControllerDescriptor> {
    CONTROLLERS
        .iter()
        .filter(|d| options::is_enabled(d.name, d.on_by_default, &options.controllers))
        .collect()
}

/// Errors that stop the controller manager.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable apiserver address or kubeconfig.
    #[error("loading the client configuration: {0}")]
    Config(#[from] kube_client::ConfigError),
    /// The HTTP client could not be built.
    #[error("building the client: {0}")]
    Client(#[from] kube_client::Error),
    /// Leadership was lost: upstream exits, and so do we (a supervisor restarts us).
    #[error(transparent)]
    LeaderElection(#[from] kube_client::leader_election::LeaderElectionError),
    /// `--controllers` named a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
}

/// Runs the enabled controllers until `shutdown` completes.
pub async fn run(options: Options, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    for c in &options.controllers {
        let name = c.trim().trim_start_matches('-');
        if name != "*" && !CONTROLLERS.iter().any(|d| d.name == name) {
            return Err(RunError::UnknownController(name.to_string()));
        }
    }
    let config = options.client.config()?.with_user_agent("kube-controller-manager");
    let client = Client::new(config.clone())?;
    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown.await;
            info!("shutting down: stopping every controller");
            cancel.cancel();
        }
    });
    let health = serve::Health::default();
    if options.secure_port != 0 {
        let addr = std::net::SocketAddr::new(options.bind_address, options.secure_port);
        tokio::spawn(serve::serve(addr, health.clone(), cancel.clone()));
    }

    let options = Arc::new(options);
    let identity = LeaderElector::default_identity();
    let elector = LeaderElector::new(client.clone(), "kube-controller-manager", &identity, options.leader_election.clone());
    elector
        .run(cancel, |leading| async move {
            health.set_leader(true);
            let ctx = ControllerContext::new(client, options.clone(), leading);
            if !options.use_service_account_credentials {
                info!("--use-service-account-credentials=false: every controller uses the kubeconfig's identity");
            }
            let mut running = Vec::new();
            for d in enabled_controllers(&options) {
                info!("Starting controller {}", d.name);
                let mut own = ctx.clone();
                if options.use_service_account_credentials {
                    match credentials::controller_client(&ctx.root_client, &config, d.service_account).await {
                        Ok(c) => own.client = c,
                        Err(e) => warn!("controller {}: cannot get the credentials of serviceaccount kube-system/{}: {e}; it uses the kubeconfig's identity", d.name, d.service_account),
                    }
                }
                running.push(tokio::spawn((d.start)(&own)));
            }
            if running.is_empty() {
                warn!("no controller enabled by --controllers={}", options.controllers.join(","));
            }
            for r in running {
                let _ = r.await;
            }
            health.set_leader(false);
        })
        .await?;
    Ok(())
}

pub use kube_client::shutdown_signal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_table_drives_controllers() {
        let o = Options::from_args(["--controllers=*,-garbagecollector"]).unwrap();
        let names: Vec<_> = enabled_controllers(&o).iter().map(|d| d.name).collect();
        assert!(names.contains(&"deployment") && names.contains(&"replicaset"));
        assert!(!names.contains(&"garbagecollector"));
        let o = Options::from_args(["--controllers=replicaset"]).unwrap();
        let names: Vec<_> = enabled_controllers(&o).iter().map(|d| d.name).collect();
        assert_eq!(names, ["replicaset"]);
    }
}
