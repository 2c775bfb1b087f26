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
//!
//! The control-loop kit (reflector, informer cache, work queue, leader election, event
//! recorder) will sit on top of [`Api::list`] and [`Api::watch`] in modules of its own.

pub mod api;
pub mod client;
pub mod config;
pub mod dynamic;
pub mod error;
pub mod kubeconfig;
pub mod params;
mod verbs;
pub mod watch;

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
