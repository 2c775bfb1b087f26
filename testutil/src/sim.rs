//! Simulated nodes: Node objects with no kubelet behind them, enough to exercise the
//! scheduler and the controllers at scale without containers (a "hollow" kubelet, minus
//! the containers).
//!
//! [`SimNodes::start`] registers N nodes — `Ready=True`, the capacity you give, an
//! `InternalIP` — and a Lease for each in `kube-node-lease`, then keeps them fresh in
//! the background the way a kubelet does:
//! - every [`SimOptions::lease_interval`] (10 s, upstream's default) it renews each
//!   node's Lease (what the node lifecycle controller reads);
//! - every [`SimOptions::status_interval`] (60 s) it bumps the `Ready` condition's
//!   `lastHeartbeatTime` in the node's status.
//!
//! With [`SimOptions::run_pods`] it also plays the kubelet's part for pods: a pod bound to
//! one of its nodes is marked `Running` and `Ready` (through the status subresource, with a
//! pod IP), and a pod being deleted there is removed at once (as a kubelet does once its
//! containers have stopped).
//!
//! ```no_run
//! # async fn demo(client: kube_client::Client) -> anyhow::Result<()> {
//! use testutil::sim::{SimNodes, SimOptions};
//! let nodes = SimNodes::start(client, SimOptions { count: 3, cpu: "2".into(), ..Default::default() }).await?;
//! assert_eq!(nodes.names(), ["node-0", "node-1", "node-2"]);
//! nodes.stop(); // heartbeats stop; the nodes go NotReady for whoever watches
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{stream, StreamExt, TryStreamExt};
use kube_api::coordination::{Lease, LeaseSpec};
use kube_api::core::{Node, NodeAddress, NodeCondition, Pod, Taint};
use kube_api::meta::{MicroTime, Time};
use kube_api::OwnerReference;
use kube_client::reflector::Selectors;
use kube_client::{Api, CancellationToken, Change, Client, DeleteParams, Informer, PatchType};
use serde_json::json;
use tracing::{debug, warn};

/// What to register.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// How many nodes.
    pub count: usize,
    /// Names are `<prefix><index>`: `node-0`, `node-1`, ...
    pub prefix: String,
    /// Capacity (and allocatable) of each node.
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    /// Extra labels (every node also gets `kubernetes.io/hostname` and `kubernetes.io/os`).
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// How often each Lease is renewed.
    pub lease_interval: Duration,
    /// How often the Ready condition's heartbeat is written.
    pub status_interval: Duration,
    /// Mark pods bound to these nodes Running, and finish their deletion.
    pub run_pods: bool,
    /// How many writes at once while registering.
    pub parallelism: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            count: 1,
            prefix: "node-".into(),
            cpu: "4".into(),
            memory: "8Gi".into(),
            pods: "110".into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            lease_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(60),
            run_pods: false,
            parallelism: 32,
        }
    }
}

/// Registered simulated nodes; their heartbeats run until [`SimNodes::stop`] or drop.
pub struct SimNodes {
    shared: Arc<Shared>,
}

/// What the background tasks share with the handle.
struct Shared {
    client: Client,
    options: SimOptions,
    names: RwLock<Vec<String>>,
    cancel: CancellationToken,
}

impl Shared {
    fn names(&self) -> Vec<String> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A Ready node as a kubelet registers it (`index` picks its address).
pub fn node_object(name: &str, index: usize, o: &SimOptions) -> Node {
    let mut n = Node::default();
    n.metadata.name = name.to_string();
    n.metadata.labels = o.labels.clone();
    n.metadata.labels.insert("kubernetes.io/hostname".into(), name.to_string());
    n.metadata.labels.insert("kubernetes.io/os".into(), "linux".into());
    n.spec.taints = o.taints.clone();
    for (k, v) in [("cpu", &o.cpu), ("memory", &o.memory), ("pods", &o.pods)] {
        n.status.capacity.insert(k.into(), v.as_str().into());
    }
    n.status.allocatable = n.status.capacity.clone();
    let now = Some(Time::now());
    let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        last_heartbeat_time: now,
        last_transition_time: now,
        reason: reason.into(),
        message: message.into(),
    };
    n.status.conditions = vec![
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ];
    let ip = format!("10.{}.{}.{}", 200 + (index >> 16) % 50, (index >> 8) & 255, index & 255);
    n.status.addresses = vec![
        NodeAddress {
            type_: "InternalIP".into(),
            address: ip,
        },
        NodeAddress {
            type_: "Hostname".into(),
            address: name.to_string(),
        },
    ];
    n.status.node_info.kubelet_version = "v1.33.0-sim".into();
    n.status.node_info.operating_system = "linux".into();
    n.status.node_info.architecture = "amd64".into();
    n
}

impl SimNodes {
    /// Registers `options.count` nodes with their Leases and starts the heartbeats.
    pub async fn start(client: Client, options: SimOptions) -> anyhow::Result<SimNodes> {
        let sim = SimNodes {
            shared: Arc::new(Shared {
                client,
                names: RwLock::default(),
                cancel: CancellationToken::new(),
                options: options.clone(),
            }),
        };
        let names: Vec<String> = (0..options.count).map(|i| format!("{}{i}", options.prefix)).collect();
        stream::iter(names.iter().enumerate())
            .map(|(i, name)| sim.register(name, i, &options))
            .buffer_unordered(options.parallelism.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        sim.shared.names.write().unwrap_or_else(|e| e.into_inner()).extend(names);
        tokio::spawn(heartbeats(sim.shared.clone()));
        if options.run_pods {
            run_pods(sim.shared.clone());
        }
        Ok(sim)
    }

    /// Registers one more node now (e.g. "the pod schedules as soon as a node is added"),
    /// with these options' capacity, labels and taints.
    pub async fn add_node(&self, name: &str, options: &SimOptions) -> anyhow::Result<()> {
        let index = self.shared.names().len();
        self.register(name, index, options).await?;
        self.shared.names.write().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
        Ok(())
    }

    /// The names of the nodes, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.shared.names()
    }

    /// Stops the heartbeats (and pod handling). The Node objects stay.
    pub fn stop(&self) {
        self.shared.cancel.cancel();
    }

    async fn register(&self, name: &str, index: usize, o: &SimOptions) -> anyhow::Result<()> {
        let nodes: Api<Node> = Api::all(self.shared.client.clone());
        let created = nodes.create(&node_object(name, index, o)).await?;
        let mut lease = Lease::default();
        lease.metadata.name = name.to_string();
        lease.metadata.namespace = "kube-node-lease".into();
        lease.metadata.owner_references.push(OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: name.to_string(),
            uid: created.metadata.uid.clone(),
            ..Default::default()
        });
        lease.spec = LeaseSpec {
            holder_identity: Some(name.to_string()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime::now()),
            ..Default::default()
        };
        Api::<Lease>::namespaced(self.shared.client.clone(), "kube-node-lease")
            .create(&lease)
            .await?;
        Ok(())
    }
}

/// Renews the leases and the Ready heartbeats until cancelled.
async fn heartbeats(sim: Arc<Shared>) {
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(sim.client.clone());
    let mut lease_tick = tokio::time::interval(sim.options.lease_interval);
    let mut status_tick = tokio::time::interval(sim.options.status_interval);
    lease_tick.tick().await; // the first tick is immediate: just registered
    status_tick.tick().await;
    loop {
        let renew_leases = tokio::select! {
            _ = lease_tick.tick() => true,
            _ = status_tick.tick() => false,
            _ = sim.cancel.cancelled() => return,
        };
        let par = sim.options.parallelism.max(1);
        let names = sim.names();
        if renew_leases {
            let patch = json!({"spec": {"renewTime": MicroTime::now()}});
            stream::iter(names)
                .for_each_concurrent(par, |name| {
                    let (leases, patch) = (&leases, &patch);
                    async move {
                        if let Err(e) = leases.patch(&name, &PatchType::Merge, patch).await {
                            debug!("sim: renewing lease {name}: {e}");
                        }
                    }
                })
                .await;
        } else {
            let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": Time::now(),
                    "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
            stream::iter(names)
                .for_each_concurrent(par, |name| {
                    let (nodes, patch) = (&nodes, &patch);
                    async move {
                        if let Err(e) = nodes.patch_status(&name, &PatchType::Strategic, patch).await {
                            debug!("sim: node status {name}: {e}");
                        }
                    }
                })
                .await;
        }
    }
}

/// Watches pods; those bound to our nodes are marked Running, or deleted when being deleted.
fn run_pods(sim: Arc<Shared>) {
    let pods = Informer::start(
        Api::<Pod>::all(sim.client.clone()),
        Selectors::default(),
        Vec::new(),
        sim.cancel.clone(),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<Pod>>();
    let names = sim.clone();
    pods.add_handler(move |change| {
        if let Change::Added(p) | Change::Updated { new: p, .. } = change {
            let ours = !p.spec.node_name.is_empty() && names.names.read().unwrap_or_else(|e| e.into_inner()).contains(&p.spec.node_name);
            if ours && (p.status.phase == "Pending" || p.status.phase.is_empty() || p.metadata.deletion_timestamp.is_some()) {
                let _ = tx.send(p.clone());
            }
        }
    });
    let client = sim.client.clone();
    let cancel = sim.cancel.clone();
    tokio::spawn(async move {
        let next_ip = AtomicU32::new(2);
        let mut done: HashSet<String> = HashSet::new();
        loop {
            let pod = tokio::select! {
                p = rx.recv() => match p { Some(p) => p, None => return },
                _ = cancel.cancelled() => return,
            };
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.metadata.namespace);
            let name = &pod.metadata.name;
            if pod.metadata.deletion_timestamp.is_some() {
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                };
                if let Err(e) = api.delete(name, &dp).await {
                    debug!("sim: finishing the deletion of {name}: {e}");
                }
                continue;
            }
            if !done.insert(pod.metadata.uid.clone()) {
                continue;
            }
            let n = next_ip.fetch_add(1, Ordering::Relaxed);
            let ip = format!("10.244.{}.{}", (n >> 8) & 255, n & 255);
            if let Err(e) = api.patch_status(name, &PatchType::Strategic, &running_status(&pod, &ip)).await {
                warn!("sim: marking {name} Running: {e}");
                done.remove(&pod.metadata.uid);
            }
        }
    });
}

impl Drop for SimNodes {
    /// The background tasks stop with the handle.
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// The status a kubelet writes once every container runs.
fn running_status(pod: &Pod, ip: &str) -> serde_json::Value {
    let now = Time::now();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let containers: Vec<serde_json::Value> = pod
        .spec
        .containers
        .iter()
        .map(|c| {
            json!({"name": c.name, "ready": true, "restartCount": 0, "started": true, "image": c.image, "imageID": "",
            "state": {"running": {"startedAt": now}}})
        })
        .collect();
    json!({"status": {
        "phase": "Running",
        "conditions": [condition("Initialized"), condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
        "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
        "containerStatuses": containers,
    }})
}
