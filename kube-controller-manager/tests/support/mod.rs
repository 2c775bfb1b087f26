//! What the controller-manager tests share: a cluster (real etcd, real apiserver, the real
//! kube-controller-manager binary) and a **fake kubelet**.
//!
//! The fake kubelet stands in for the scheduler and the kubelets (until `testutil::sim`
//! lands): every few hundred milliseconds it lists the pods, binds unbound ones to its
//! nodes in turn (`pods/{name}/binding`), marks bound ones Running and Ready with a pod IP
//! (`pods/{name}/status`), and confirms graceful deletions (delete with grace 0) — except
//! on nodes the test has "killed", which also stop heartbeating.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_api::core::{Node, NodeCondition, Pod};
use kube_api::meta::Time;
use kube_client::{Api, Client, Config, DeleteParams, ListParams, PatchType};
use serde_json::json;
use testutil::{ApiServer, Process};

pub struct Cluster {
    pub api: ApiServer,
    pub kcm: Option<Process>,
    pub client: Client,
}

/// The flags every test gives the controller manager (fast node monitoring).
pub const FAST_NODE_FLAGS: &[&str] = &["--node-monitor-grace-period=4s", "--node-monitor-period=1s"];

impl Cluster {
    /// etcd + apiserver, without a controller manager yet.
    pub fn apiserver_only() -> anyhow::Result<Cluster> {
        let api = ApiServer::start()?;
        let client = Client::new(Config::from_server(&api.url)?)?;
        Ok(Cluster { api, kcm: None, client })
    }

    /// etcd + apiserver + kube-controller-manager with `extra` flags.
    pub fn start(extra: &[&str]) -> anyhow::Result<Cluster> {
        let mut c = Cluster::apiserver_only()?;
        c.start_kcm(extra)?;
        Ok(c)
    }

    pub fn start_kcm(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        let master = format!("--master={}", self.api.url);
        // The caller's flags win over these defaults (clap refuses a flag given twice).
        let name = |f: &str| f.split('=').next().unwrap_or("").to_string();
        let defaults = [master.as_str(), "--leader-elect=false", "--secure-port=0"].into_iter().chain(FAST_NODE_FLAGS.iter().copied());
        let mut args: Vec<&str> = defaults.filter(|f| !extra.iter().any(|e| name(e) == name(f))).collect();
        args.extend_from_slice(extra);
        let mut kcm = Process::start("kube-controller-manager", &args)?;
        std::thread::sleep(Duration::from_millis(300));
        if let Some(status) = kcm.exited() {
            anyhow::bail!("kube-controller-manager exited with {status}:\n{}", kcm.log());
        }
        self.kcm = Some(kcm);
        Ok(())
    }

    pub fn kcm_log(&self) -> String {
        self.kcm.as_ref().map(|p| p.log()).unwrap_or_default()
    }

    pub fn kubectl(&self) -> testutil::Kubectl {
        self.api.kubectl()
    }

    pub fn apply(&self, yaml: &str) -> anyhow::Result<String> {
        let out = self.kubectl().run_with_input(&["apply", "-f", "-"], yaml)?;
        anyhow::ensure!(out.status.success(), "kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }
}

/// Polls `check` every 100 ms until it answers `Some`, or fails after `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {within:?} waiting for {what} (last error: {last_err:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pods matching `selector` in `ns` that are not being deleted.
pub async fn live_pods(client: &Client, ns: &str, selector: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = api.list(&ListParams::default().labels(selector)).await?;
    Ok(list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect())
}

pub fn is_ready(p: &Pod) -> bool {
    p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The fake kubelet(s) of the module comment. Dropping it stops it.
pub struct FakeKubelet {
    dead: Arc<Mutex<HashSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeKubelet {
    /// Registers `nodes` (Ready) and starts acting as their kubelets.
    pub async fn start(client: &Client, nodes: &[String]) -> anyhow::Result<FakeKubelet> {
        let api: Api<Node> = Api::all(client.clone());
        for name in nodes {
            let mut n = Node::default();
            n.metadata.name = name.clone();
            n.metadata.labels.insert("kubernetes.io/hostname".into(), name.clone());
            api.create(&n).await?;
        }
        let dead: Arc<Mutex<HashSet<String>>> = Arc::default();
        let task = tokio::spawn(run(client.clone(), nodes.to_vec(), dead.clone()));
        Ok(FakeKubelet { dead, task })
    }

    /// The node stops heartbeating and its pods are left as they are (a lost machine).
    pub fn kill_node(&self, name: &str) {
        self.dead.lock().unwrap().insert(name.to_string());
    }

    pub fn revive_node(&self, name: &str) {
        self.dead.lock().unwrap().remove(name);
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(client: Client, nodes: Vec<String>, dead: Arc<Mutex<HashSet<String>>>) {
    let pods: Api<Pod> = Api::all(client.clone());
    let node_api: Api<Node> = Api::all(client.clone());
    let mut next = 0usize;
    let mut last_heartbeat = Instant::now() - Duration::from_secs(60);
    loop {
        let dead_now = dead.lock().unwrap().clone();
        if last_heartbeat.elapsed() >= Duration::from_secs(1) {
            last_heartbeat = Instant::now();
            let alive: Vec<_> = nodes.iter().filter(|n| !dead_now.contains(*n)).cloned().collect();
            futures::stream::iter(alive)
                .for_each_concurrent(16, |n| {
                    let node_api = node_api.clone();
                    async move {
                        let now = Time::now();
                        let ready = NodeCondition {
                            type_: "Ready".into(),
                            status: "True".into(),
                            last_heartbeat_time: Some(now),
                            last_transition_time: Some(now),
                            reason: "KubeletReady".into(),
                            message: "kubelet is posting ready status".into(),
                        };
                        let patch = json!({"status": {"conditions": [ready]}});
                        let _ = node_api.patch_status(&n, &PatchType::Strategic, &patch).await;
                    }
                })
                .await;
        }
        let Ok(list) = pods.list(&ListParams::default()).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut work = Vec::new();
        for p in list.items {
            let node = p.spec.node_name.clone();
            if !node.is_empty() && dead_now.contains(&node) {
                continue;
            }
            if p.metadata.deletion_timestamp.is_some() {
                if !node.is_empty() {
                    work.push(Work::ConfirmDelete(p));
                }
            } else if node.is_empty() {
                let live: Vec<_> = nodes.iter().filter(|n| !dead_now.contains(*n)).collect();
                if let Some(wanted) = affinity_node(&p) {
                    // A daemon pod names its node: bind it there (if that node is ours).
                    if nodes.contains(&wanted) && !dead_now.contains(&wanted) {
                        work.push(Work::Bind(p, wanted));
                    }
                } else if !live.is_empty() {
                    next += 1;
                    work.push(Work::Bind(p, live[next % live.len()].clone()));
                }
            } else if p.status.phase == "Succeeded" || p.status.phase == "Failed" {
                // finished: a real kubelet leaves it so too
            } else if p.status.phase != "Running" || !is_ready(&p) {
                work.push(Work::Run(p));
            }
        }
        futures::stream::iter(work)
            .for_each_concurrent(32, |w| {
                let client = client.clone();
                async move {
                    let _ = w.apply(&client).await;
                }
            })
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The node a pod's required affinity names by `metadata.name` (daemon pods).
fn affinity_node(pod: &Pod) -> Option<String> {
    let terms = &pod.spec.affinity.as_ref()?.node_affinity.as_ref()?.required.as_ref()?.node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter()).find(|r| r.key == "metadata.name").and_then(|r| r.values.first().cloned())
}

enum Work {
    Bind(Pod, String),
    Run(Pod),
    ConfirmDelete(Pod),
}

impl Work {
    async fn apply(self, client: &Client) -> anyhow::Result<()> {
        match self {
            Work::Bind(p, node) => {
                let api: Api<Pod> = Api::namespaced(client.clone(), &p.metadata.namespace);
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": p.metadata.name}, "target": {"kind": "Node", "name": node}});
                let _: serde_json::Value = api.create_subresource("binding", &p.metadata.name, &binding).await?;
            }
            Work::Run(p) => {
                let api: Api<Pod> = Api::namespaced(client.clone(), &p.metadata.namespace);
                let n = p.metadata.uid.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
                let ip = format!("10.244.{}.{}", (n >> 8) % 250, n % 250 + 2);
                let now = Time::now();
                let patch = json!({"status": {
                    "phase": "Running",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "hostIP": "192.168.0.1",
                    "startTime": now,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                    ],
                }});
                api.patch_status(&p.metadata.name, &PatchType::Merge, &patch).await?;
            }
            Work::ConfirmDelete(p) => {
                let api: Api<Pod> = Api::namespaced(client.clone(), &p.metadata.namespace);
                let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
                api.delete(&p.metadata.name, &dp).await?;
            }
        }
        Ok(())
    }
}
