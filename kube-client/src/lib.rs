//! # kube-client: how a component talks to the apiserver
//!
//! Every binary of the workspace reaches the cluster through this crate: kubectl-lite, the
//! scheduler, the controller manager, the kubelet and kube-proxy. They never talk to each
//! other — only to the apiserver, with list, watch and writes.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kube_api::core::Pod;
//! use kube_client::{Api, Client, Config, ListParams};
//! let client = Client::new(Config::from_server("http://127.0.0.1:8080")?.with_user_agent("kube-scheduler"))?;
//! let pods: Api<Pod> = Api::all(client);
//! let list = pods.list(&ListParams::default().fields("spec.nodeName=")).await?;
//! println!("{} pods to schedule at version {}", list.items.len(), list.metadata.resource_version);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//! - [`config`]: where the apiserver is — `--master`, a kubeconfig (`--kubeconfig`,
//!   `$KUBECONFIG`, `~/.kube/config`) — and the [`ClientArgs`] flags every binary flattens.
//! - [`kubeconfig`]: the kubeconfig file format (clusters, users, contexts), parse only.
//! - [`client`]: [`Client`], the pooled HTTP/1.1 connection to the apiserver; raw requests
//!   and streamed answers.
//! - [`params`]: the options of each verb (`ListParams`, `WatchParams`, `PatchType`,
//!   `DeleteParams`, ...) and their query strings.
//! - `verbs` (private): each verb's method, path and body, written once for both faces:
//! - [`api`]: [`Api<K>`], typed access to one kind of [`kube_api::registry`].
//! - [`dynamic`]: [`DynamicApi`], the same on `serde_json::Value`, plus server-side tables.
//! - [`watch`]: watch streams — line-delimited JSON to typed [`Event`]s.
//! - [`error`]: the one [`Error`] type; a `Status` from the server becomes [`Error::Api`].
//! - [`secure_serving`]: a component's own HTTPS `/healthz` and `/metrics` (`--secure-port`).
//!
//!
//! ### The control-loop kit
//! Every component is a loop: observe → compare desired with actual → act → write status.
//! These modules are that loop's machinery, written once (read `docs/control-loop.md`
//! for the lesson, and `examples/label_pods_with_node.rs` for a whole controller):
//! - [`reflector`]: list, then watch; resume; re-list on `410 Gone` (client-go's
//!   *Reflector*, kube-rs' *watcher*). A documented state machine.
//! - [`store`]: the cache the reflector writes and loops read — *store*/*indexer*, read
//!   through a [`Lister`] — with secondary indexes (pods by node, by owner, by label).
//! - [`informer`]: a reflector, its store and its event handlers, shared per resource by an
//!   [`InformerFactory`] (client-go's *SharedInformer*).
//! - [`handlers`]: event handlers → keys (a Pod change wakes its ReplicaSet).
//! - [`workqueue`]: keys de-duplicated, never processed twice at once, retried with
//!   back-off.
//! - [`controller`]: the runner — N workers calling `reconcile(key)`.
//! - [`expectations`]: "I created 3 pods; wait until the cache has seen them".
//! - [`leader_election`]: one active replica, on a Lease.
//! - [`events`]: the event recorder (`kubectl describe` shows what we did).
//!
//! Shutdown is one `tokio_util::sync::CancellationToken`, passed down to every part.

pub mod api;
pub mod client;
pub mod config;
pub mod controller;
pub mod dynamic;
pub mod error;
pub mod events;
pub mod expectations;
pub mod handlers;
pub mod informer;
pub mod kubeconfig;
pub mod leader_election;
pub mod params;
pub mod reflector;
pub mod secure_serving;
pub mod store;
mod verbs;
pub mod watch;
pub mod workqueue;

pub use api::Api;
pub use client::Client;
pub use config::{ClientArgs, Config, ConfigError, LoadOptions};
pub use dynamic::DynamicApi;
pub use error::{Error, Result};
pub use params::{
    DeleteParams, ListParams, LogParams, PatchType, PostParams, Preconditions, PropagationPolicy,
    WatchParams,
};
pub use verbs::Deleted;
pub use watch::Event;

pub use controller::{Action, Controller};
pub use events::{EventType, Recorder};
pub use expectations::Expectations;
pub use informer::{Informer, InformerFactory};
pub use leader_election::{LeaderElectionArgs, LeaderElector};
pub use reflector::{Reflector, Selectors};
pub use store::{Change, HasSynced, Lister, Store, Writer};
pub use tokio_util::sync::CancellationToken;
pub use workqueue::WorkQueue;

/// Completes on Ctrl-C or SIGTERM: every component's one shutdown signal (what `run` is
/// given, so that a component stops its loops and releases its lease cleanly).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
