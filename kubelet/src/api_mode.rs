//! API mode: the kubelet as a member of a cluster (`--api-servers` or `--kubeconfig`),
//! instead of a standalone agent reading only `--pod-manifest-path`.
//!
//! Nothing of the pod loop changes: the apiserver is one more *source* of desired pods,
//! and a few side loops report what the pod loop does. [`start`] wires them up:
//!
//! | loop | file | observes | does |
//! |---|---|---|---|
//! | node status | [`crate::node_status`] | the machine, the runtime | registers the Node, renews its Lease every 10 s, patches its status on change or every minute |
//! | API pod source | [`crate::config::api`] | pods with `spec.nodeName=NODE` (informer) | hands them to the [`PodConfig`] |
//! | status manager | [`crate::status_manager`] | the statuses the pod loop computes | writes them to `pods/status` when they change; deletes (grace 0) terminated pods being deleted |
//! | mirror pods | [`crate::mirror`] | static pods, mirror pods in the API | creates/deletes mirror pods so `kubectl get pods` shows static pods |
//!
//! The pod loop shares what it sees through [`ApiMode::observe`] (once per pass); the
//! workers read ConfigMaps, Secrets and Services from the informers' caches here
//! ([`crate::env_api`], [`crate::volumes_api`]) and record events with [`ApiMode::recorder`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube_api::core::{ConfigMap, Node, Pod, PodStatus, Secret, Service, Taint};
use kube_client::{Api, Client, InformerFactory, Recorder, Selectors, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::PodConfig;
use crate::cri::Cri;

/// The flags of API mode, filled by `main.rs`.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Where the apiserver is (`--api-servers` / `--kubeconfig`).
    pub client: kube_client::Config,
    /// `--register-node`.
    pub register_node: bool,
    /// `--node-labels`.
    pub node_labels: BTreeMap<String, String>,
    /// `--register-with-taints`.
    pub register_with_taints: Vec<Taint>,
    /// `--max-pods`: the node's `pods` capacity.
    pub max_pods: u32,
    /// `--port`: published as `daemonEndpoints.kubeletEndpoint.Port`.
    pub port: u16,
    /// `--node-status-update-frequency`: how often the node status is computed (it is
    /// written only when it changed, or every [`crate::node_status::REPORT_INTERVAL`]).
    pub node_status_update_frequency: Duration,
}

/// What the pod loop saw in its last pass.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Every desired pod and its computed status, by UID.
    pub pods: HashMap<String, (Pod, PodStatus)>,
    /// UIDs that still have sandboxes or containers, or a worker at work: not finished.
    pub busy: HashSet<String>,
}

/// The handles every API-mode part shares (held by the pod workers' context).
pub struct ApiMode {
    pub client: Client,
    pub node_name: String,
    /// Events from `kubelet` on this host.
    pub recorder: Recorder,
    /// This node's pods (and mirror pods), from the informer.
    pub pods: Store<Pod>,
    pub config_maps: Store<ConfigMap>,
    pub secrets: Store<Secret>,
    pub services: Store<Service>,
    /// The last status of each pod killed because it is being deleted, by UID: the status
    /// manager writes it before the final delete. A std Mutex, never held across `.await`.
    pub final_statuses: std::sync::Mutex<HashMap<String, PodStatus>>,
    /// Service account tokens for projected volumes.
    pub tokens: crate::token_manager::TokenManager,
    observed: watch::Sender<Observed>,
}

impl ApiMode {
    /// Called by the pod loop after every pass.
    pub fn observe(&self, desired: &HashMap<String, Pod>, statuses: &HashMap<String, PodStatus>, busy: HashSet<String>) {
        let pods = desired
            .iter()
            .filter_map(|(uid, pod)| statuses.get(uid).map(|s| (uid.clone(), (pod.clone(), s.clone()))))
            .collect();
        self.observed.send_replace(Observed { pods, busy });
    }

    /// The API pod `namespace/name` if it is the one of `uid` and is being deleted.
    pub fn deleting(&self, namespace: &str, name: &str, uid: &str) -> Option<Arc<Pod>> {
        self.pods.get(&format!("{namespace}/{name}")).filter(|p| p.metadata.uid == uid && p.metadata.deletion_timestamp.is_some())
    }

    /// Records the final status of a pod being deleted, once its containers are stopped.
    pub fn set_final_status(&self, uid: &str, status: PodStatus) {
        self.final_statuses.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.to_string(), status);
    }

    /// Wakes after each pass of the pod loop.
    pub fn subscribe(&self) -> watch::Receiver<Observed> {
        self.observed.subscribe()
    }
}

/// Starts the informers and the API-mode loops on `tasks`; they stop when `stop` fires.
pub fn start(
    api_config: &ApiConfig,
    config: &crate::Config,
    cri: Cri,
    pod_config: PodConfig,
    tasks: &mut JoinSet<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<Arc<ApiMode>, kube_client::Error> {
    let client = Client::new(api_config.client.clone().with_user_agent("kubelet"))?;
    let cancel = CancellationToken::new();
    let on_stop = cancel.clone();
    tasks.spawn(async move {
        let _ = stop.changed().await;
        on_stop.cancel();
    });

    let factory = InformerFactory::new(client.clone(), cancel.clone());
    // Only this node's pods: the apiserver filters, so a node never sees the others.
    let selectors = Selectors::default().fields(&format!("spec.nodeName={}", config.node_name));
    let pods = factory.informer_with::<Pod>(Api::all(client.clone()), selectors, Vec::new());
    let api = Arc::new(ApiMode {
        recorder: Recorder::new(client.clone(), "kubelet", &config.node_name),
        node_name: config.node_name.clone(),
        pods: pods.store(),
        config_maps: factory.informer::<ConfigMap>().store(),
        secrets: factory.informer::<Secret>().store(),
        services: factory.informer::<Service>().store(),
        tokens: Default::default(),
        final_statuses: Default::default(),
        observed: watch::Sender::new(Observed::default()),
        client,
    });

    tasks.spawn(crate::node_status::run(
        crate::node_status::NodeContext::new(api.clone(), api_config.clone(), config.clone(), cri),
        cancel.clone(),
    ));
    tasks.spawn(crate::config::api::run(pods, config.node_name.clone(), pod_config.clone(), cancel.clone()));
    tasks.spawn(crate::status_manager::run(api.clone(), config.root_dir.clone(), cancel.clone()));
    tasks.spawn(crate::mirror::run(api.clone(), pod_config, cancel));
    Ok(api)
}

/// The Node this kubelet registers, as an owner for mirror pods and Leases.
pub fn node_owner(node: &Node) -> kube_api::meta::OwnerReference {
    kube_api::meta::OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.metadata.name.clone(),
        uid: node.metadata.uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}
