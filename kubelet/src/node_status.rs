//! The node's registration and heartbeats (upstream's `kubelet_node_status.go` and the node
//! lease controller).
//!
//! - **Registers** the Node once at start (`--register-node`): name, labels
//!   (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch`, `--node-labels`),
//!   `--register-with-taints`, `spec.podCIDR` from `--pod-cidr`. An existing Node is kept.
//! - **Observes** the machine (cpu, memory, `--max-pods`, machine and boot IDs, kernel,
//!   OS image, addresses) and the runtime (CRI `Version` and `Status`).
//! - **Status**: every `--node-status-update-frequency` (10 s) computes the NodeStatus —
//!   capacity, allocatable, addresses, `daemonEndpoints`, `nodeInfo`, and the conditions
//!   `Ready` (False while the runtime or its network is not ready, with CRI's reason) and
//!   `MemoryPressure`/`DiskPressure`/`PIDPressure` (False) — and PATCHes `nodes/status`
//!   only when it changed or when [`REPORT_INTERVAL`] has passed (upstream's
//!   `nodeStatusReportFrequency`, 5 min there; 1 min here, so a tutorial reader sees it).
//! - **Heartbeat**: the Lease `kube-node-lease/NODE` is renewed every [`LEASE_RENEW`]
//!   (`leaseDurationSeconds` 40). The node lifecycle controller marks a node whose lease
//!   stops moving `Unknown` — this is cheaper than a full status every 10 s.
//! - **Pod CIDR**: when no `--pod-cidr` was given, the Node is read on every status tick
//!   until the controller-manager sets `spec.podCIDR`; then the CNI config for it is written.
//! - **Requeues**: it is a ticker; a failed write is retried on the next tick.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_api::coordination::{Lease, LeaseSpec};
use kube_api::core::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo, QuantityString,
    Taint,
};
use kube_api::meta::{MicroTime, Time};
use kube_client::{Api, PatchType};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api_mode::{ApiConfig, ApiMode};
use crate::cri::Cri;

/// The kubelet version the node reports (the API level this project follows).
pub const KUBELET_VERSION: &str = kube_api::KUBERNETES_VERSION;
/// How often the Lease is renewed (upstream: a quarter of its 40 s duration).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// An unchanged status is still written this often.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// The namespace of node heartbeats.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the node loop needs.
pub struct NodeContext {
    api: Arc<ApiMode>,
    flags: ApiConfig,
    config: crate::Config,
    cri: Cri,
}

impl NodeContext {
    pub fn new(api: Arc<ApiMode>, flags: ApiConfig, config: crate::Config, cri: Cri) -> NodeContext {
        NodeContext { api, flags, config, cri }
    }
}

/// Registers the node, then keeps its lease and status fresh until `cancel`.
pub async fn run(ctx: NodeContext, cancel: CancellationToken) {
    let nodes: Api<Node> = Api::all(ctx.api.client.clone());
    let machine = Machine::read(&ctx.config.node_ip);
    let runtime_version = match ctx.cri.version().await {
        Ok(v) => format!("{}://{}", v.runtime_name, v.runtime_version),
        Err(e) => {
            tracing::warn!("CRI Version: {e}");
            String::new()
        }
    };
    // Register, retrying: the apiserver may come up after the kubelet.
    let mut node = loop {
        match register(&ctx, &nodes, &machine).await {
            Ok(node) => break node,
            Err(e) => tracing::warn!("unable to register node {:?} with the API server: {e}; retrying", ctx.config.node_name),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = cancel.cancelled() => return,
        }
    };
    let mut cni_written = ctx.config.pod_cidr.is_some();
    let mut last_report: Option<(NodeStatus, Instant)> = None;
    let mut status_tick = tokio::time::interval(ctx.flags.node_status_update_frequency.max(Duration::from_secs(1)));
    let mut lease_tick = tokio::time::interval(LEASE_RENEW);
    loop {
        tokio::select! {
            _ = lease_tick.tick() => {
                if let Err(e) = renew_lease(&ctx, &node).await {
                    tracing::warn!("failed to renew lease {LEASE_NAMESPACE}/{}: {e}", node.metadata.name);
                }
                continue;
            }
            _ = status_tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let runtime = runtime_problem(&ctx.cri).await;
        let previous = last_report.as_ref().map(|(s, _)| s).unwrap_or(&node.status);
        let status = node_status(&machine, &ctx.flags, &runtime_version, runtime.as_deref(), previous);
        let due = last_report.as_ref().is_none_or(|(s, at)| !same(s, &status) || at.elapsed() >= REPORT_INTERVAL);
        if due {
            match nodes.patch_status(&node.metadata.name, &PatchType::Merge, &json!({ "status": status })).await {
                Ok(updated) => {
                    if last_report.as_ref().is_none_or(|(s, _)| !same(s, &status)) {
                        tracing::info!("node status updated: Ready={}", ready_summary(&status));
                    }
                    node = updated;
                    last_report = Some((status, Instant::now()));
                }
                Err(e) => tracing::warn!("error updating node status, will retry: {e}"),
            }
        }
        // Waiting for the controller-manager's pod CIDR: read the Node on every tick, as
        // upstream does, instead of only when a status write returns it (once a minute
        // for a steady node).
        if !cni_written && !due {
            match nodes.get(&node.metadata.name).await {
                Ok(fresh) => node = fresh,
                Err(e) => tracing::warn!("reading node {}: {e}", node.metadata.name),
            }
        }
        if !cni_written && !node.spec.pod_cidr.is_empty() {
            match crate::cni::write(&ctx.config.cni_conf_dir, &node.spec.pod_cidr, &ctx.config.root_dir) {
                Ok(path) => {
                    tracing::info!("node was given pod CIDR {}: wrote {}", node.spec.pod_cidr, path.display());
                    cni_written = true;
                }
                Err(e) => tracing::warn!("writing the CNI config for {}: {e}", node.spec.pod_cidr),
            }
        }
    }
}

/// Creates the Node, or takes the existing one (a restarted kubelet, or registered before).
async fn register(ctx: &NodeContext, nodes: &Api<Node>, machine: &Machine) -> Result<Node, kube_client::Error> {
    if !ctx.flags.register_node {
        return nodes.get(&ctx.config.node_name).await;
    }
    let node = initial_node(&ctx.config, &ctx.flags, machine);
    match nodes.create(&node).await {
        Ok(created) => {
            tracing::info!("successfully registered node {}", created.metadata.name);
            Ok(created)
        }
        Err(e) if e.is_already_exists() => {
            tracing::info!("node {} was already registered", node.metadata.name);
            nodes.get(&node.metadata.name).await
        }
        Err(e) => Err(e),
    }
}

/// The Node object a kubelet registers (upstream's `initialNode`).
pub fn initial_node(config: &crate::Config, flags: &ApiConfig, machine: &Machine) -> Node {
    let mut node = Node::default();
    node.metadata.name = config.node_name.clone();
    let labels = &mut node.metadata.labels;
    labels.insert("kubernetes.io/hostname".into(), config.node_name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), machine.arch.clone());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("beta.kubernetes.io/arch".into(), machine.arch.clone());
    labels.extend(flags.node_labels.clone());
    node.spec.taints = flags.register_with_taints.clone();
    if let Some(cidr) = &config.pod_cidr {
        node.spec.pod_cidr = cidr.clone();
        node.spec.pod_cidrs = vec![cidr.clone()];
    }
    node.status = node_status(machine, flags, "", Some("kubelet is starting"), &NodeStatus::default());
    node
}

/// Renews (or creates) the node's Lease.
async fn renew_lease(ctx: &NodeContext, node: &Node) -> Result<(), kube_client::Error> {
    let leases: Api<Lease> = Api::namespaced(ctx.api.client.clone(), LEASE_NAMESPACE);
    let name = &node.metadata.name;
    match leases.get_opt(name).await? {
        Some(mut lease) => {
            lease.spec.renew_time = Some(MicroTime::now());
            lease.spec.holder_identity = Some(name.clone());
            lease.spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
            leases.replace(&lease).await?;
            tracing::debug!("renewed lease {LEASE_NAMESPACE}/{name}");
        }
        None => {
            let mut lease = Lease {
                spec: LeaseSpec {
                    holder_identity: Some(name.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                    renew_time: Some(MicroTime::now()),
                    ..Default::default()
                },
                ..Default::default()
            };
            lease.metadata.name = name.clone();
            lease.metadata.namespace = LEASE_NAMESPACE.into();
            lease.metadata.owner_references = vec![crate::api_mode::node_owner(node)];
            leases.create(&lease).await?;
            tracing::info!("created lease {LEASE_NAMESPACE}/{name}");
        }
    }
    Ok(())
}

/// `None` when the runtime and its network are ready, else upstream's NotReady message.
async fn runtime_problem(cri: &Cri) -> Option<String> {
    let status = match cri.status().await {
        Ok(s) => s,
        Err(e) => return Some(format!("container runtime is down: {e}")),
    };
    let mut problems = Vec::new();
    for wanted in ["RuntimeReady", "NetworkReady"] {
        match status.conditions.iter().find(|c| c.r#type == wanted) {
            Some(c) if c.status => {}
            Some(c) => problems.push(format!("{wanted}=false reason:{} message:{}", c.reason, c.message)),
            None => problems.push(format!("{wanted} missing")),
        }
    }
    if problems.is_empty() {
        return None;
    }
    let what = if problems.iter().all(|p| p.starts_with("NetworkReady")) { "container runtime network not ready" } else { "container runtime not ready" };
    Some(format!("{what}: {}", problems.join(", ")))
}

/// What the node reports about itself, read once at start.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpus: usize,
    /// `MemTotal` of /proc/meminfo, in KiB.
    pub memory_kib: u64,
    pub machine_id: String,
    pub boot_id: String,
    pub kernel_version: String,
    pub os_image: String,
    /// Go's name: `amd64`, `arm64`.
    pub arch: String,
    pub hostname: String,
    pub internal_ip: String,
}

impl Machine {
    pub fn read(node_ip: &str) -> Machine {
        let file = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_kib: mem_total_kib(&file("/proc/meminfo")),
            machine_id: file("/etc/machine-id"),
            boot_id: file("/proc/sys/kernel/random/boot_id"),
            kernel_version: file("/proc/sys/kernel/osrelease"),
            os_image: os_image(&file("/etc/os-release")),
            arch: go_arch(std::env::consts::ARCH).into(),
            hostname: file("/proc/sys/kernel/hostname"),
            internal_ip: if node_ip.is_empty() { detect_node_ip().unwrap_or_default() } else { node_ip.into() },
        }
    }
}

fn mem_total_kib(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `PRETTY_NAME` of /etc/os-release, as upstream's `osImage`.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The first global IPv4 address of the network namespace the kubelet runs in (upstream
/// picks the address of the default route's interface; a lab namespace may have no route).
pub fn detect_node_ip() -> Option<String> {
    let out = std::process::Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output().ok()?;
    first_inet(&String::from_utf8_lossy(&out.stdout))
}

fn first_inet(ip_output: &str) -> Option<String> {
    ip_output.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        words.find(|w| *w == "inet")?;
        words.next()?.split('/').next().map(String::from)
    })
}

/// The status to report, keeping each condition's `lastTransitionTime` from `previous`
/// unless its status changed.
pub fn node_status(m: &Machine, flags: &ApiConfig, runtime_version: &str, problem: Option<&str>, previous: &NodeStatus) -> NodeStatus {
    let capacity: BTreeMap<String, QuantityString> = [
        ("cpu", m.cpus.to_string()),
        ("memory", format!("{}Ki", m.memory_kib)),
        ("pods", flags.max_pods.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), QuantityString(v)))
    .collect();
    let now = Time::now();
    let condition = |type_: &str, ok: bool, reason: &str, message: &str| {
        let status = if ok { "True" } else { "False" };
        let since = previous.conditions.iter().find(|c| c.type_ == type_ && c.status == status).and_then(|c| c.last_transition_time);
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            last_heartbeat_time: Some(now),
            last_transition_time: since.or(Some(now)),
            reason: reason.into(),
            message: message.into(),
        }
    };
    let ready = match problem {
        None => condition("Ready", true, "KubeletReady", "kubelet is posting ready status"),
        Some(p) => condition("Ready", false, "KubeletNotReady", p),
    };
    let mut addresses = Vec::new();
    if !m.internal_ip.is_empty() {
        addresses.push(NodeAddress { type_: "InternalIP".into(), address: m.internal_ip.clone() });
    }
    addresses.push(NodeAddress { type_: "Hostname".into(), address: m.hostname.clone() });
    NodeStatus {
        allocatable: capacity.clone(),
        capacity,
        conditions: vec![
            condition("MemoryPressure", false, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ready,
        ],
        addresses,
        daemon_endpoints: NodeDaemonEndpoints { kubelet_endpoint: DaemonEndpoint { port: flags.port as i32 } },
        node_info: NodeSystemInfo {
            machine_id: m.machine_id.clone(),
            system_uuid: m.machine_id.clone(),
            boot_id: m.boot_id.clone(),
            kernel_version: m.kernel_version.clone(),
            os_image: m.os_image.clone(),
            container_runtime_version: runtime_version.into(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: m.arch.clone(),
            swap: None,
        },
        ..Default::default()
    }
}

/// Equal but for heartbeat times.
fn same(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

fn ready_summary(s: &NodeStatus) -> String {
    match s.conditions.iter().find(|c| c.type_ == "Ready") {
        Some(c) if c.status == "True" => "True".into(),
        Some(c) => format!("{} ({})", c.status, c.message),
        None => "unknown".into(),
    }
}

/// `--node-labels=a=b,c=d`.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None => Err(format!("invalid label {kv:?}: want key=value")),
        })
        .collect()
}

/// `--register-with-taints=key=value:Effect,key:Effect`.
pub fn parse_taints(s: &str) -> Result<Vec<Taint>, String> {
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (kv, effect) = t.trim().rsplit_once(':').ok_or(format!("invalid taint {t:?}: want key[=value]:Effect"))?;
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                return Err(format!("invalid taint effect {effect:?} in {t:?}"));
            }
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            Ok(Taint { key: key.into(), value: value.into(), effect: effect.into(), time_added: None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ApiConfig {
        ApiConfig {
            client: kube_client::Config::from_server("127.0.0.1:8080").unwrap(),
            register_node: true,
            node_labels: BTreeMap::new(),
            register_with_taints: vec![],
            max_pods: 110,
            port: 10250,
            node_status_update_frequency: Duration::from_secs(10),
        }
    }

    #[test]
    fn flags_parse_into_labels_and_taints() {
        assert_eq!(parse_labels("a=b, c=d").unwrap(), BTreeMap::from([("a".into(), "b".into()), ("c".into(), "d".into())]));
        assert!(parse_labels("nope").is_err());
        let t = parse_taints("dedicated=gpu:NoSchedule,spot:NoExecute").unwrap();
        assert_eq!((t[0].key.as_str(), t[0].value.as_str(), t[0].effect.as_str()), ("dedicated", "gpu", "NoSchedule"));
        assert_eq!((t[1].key.as_str(), t[1].value.as_str()), ("spot", ""));
        assert!(parse_taints("a=b:Sometimes").is_err());
    }

    #[test]
    fn machine_files_are_read_as_upstream_reports_them() {
        assert_eq!(mem_total_kib("MemTotal:       24567890 kB\nMemFree: 1 kB\n"), 24567890);
        assert_eq!(os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(go_arch("x86_64"), "amd64");
        let ip = "2: eth0    inet 10.200.0.2/24 brd 10.200.0.255 scope global eth0\\       valid_lft forever";
        assert_eq!(first_inet(ip).as_deref(), Some("10.200.0.2"));
    }

    #[test]
    fn ready_follows_the_runtime_and_keeps_its_transition_time_while_unchanged() {
        let m = Machine { cpus: 2, memory_kib: 1024, internal_ip: "10.0.0.2".into(), hostname: "n".into(), arch: "amd64".into(), ..Default::default() };
        let first = node_status(&m, &flags(), "containerd://1.6.20", None, &NodeStatus::default());
        let ready = first.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "KubeletReady"));
        assert_eq!(first.capacity["pods"].0, "110");
        assert_eq!(first.capacity["memory"].0, "1024Ki");
        assert_eq!(first.addresses[0].address, "10.0.0.2");
        std::thread::sleep(Duration::from_millis(5));
        let again = node_status(&m, &flags(), "containerd://1.6.20", None, &first);
        assert!(same(&first, &again), "only heartbeat times moved");
        let down = node_status(&m, &flags(), "containerd://1.6.20", Some("container runtime network not ready"), &again);
        assert!(!same(&again, &down));
        assert_eq!(down.conditions.iter().find(|c| c.type_ == "Ready").unwrap().reason, "KubeletNotReady");
    }
}
