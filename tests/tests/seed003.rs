//! Seed 003's controller-manager scenario with real containers: real etcd, the apiserver,
//! containerd (pulling `zwindler/vhelloworld` from the local registry mirror, pull policy
//! `Always` as the untagged image defaults to), the kubelet, the scheduler and the
//! controller-manager, all inside one network namespace the test creates, driven by the
//! real kubectl — in the seed's order:
//!
//! 1. `kubectl apply -f deploy.yaml` before the controller-manager runs: the Deployment
//!    exists, no pods ("Mais... rien ne se passe");
//! 2. the controller-manager starts: a ReplicaSet and two Pending pods, unbound;
//! 3. the scheduler starts: both bound to the node;
//! 4. the kubelet runs them: `kubectl get pods` shows them Running;
//! 5. `kubectl delete pod` one: it is replaced (Kube-Wars);
//! 6. `kubectl scale deploy web --replicas=4`: four Running, `kubectl get deploy` READY 4/4;
//! 7. `kubectl delete deploy web`: the garbage collector and the kubelet leave nothing
//!    behind in the runtime.
//!
//! Build the binaries first:
//! `cargo build -p kube-apiserver -p kubelet -p kube-scheduler -p kube-controller-manager --bins`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use testutil::containerd::Containerd;
use testutil::netns::{run, NetNs};
use testutil::netns_apiserver::NetnsApiServer;
use testutil::{Kubectl, Process};

/// The node's own address inside the namespace (its InternalIP).
const NODE_IP: &str = "10.201.0.2";
const NODE: &str = "node1";

const DEPLOY_YAML: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - image: zwindler/vhelloworld
        name: web
";

/// Everything the scenario starts; fields drop in order: components first, the namespace last.
struct Cluster {
    components: Vec<Process>,
    kubectl: Kubectl,
    ctd: Containerd,
    api: NetnsApiServer,
    netns: NetNs,
}

impl Cluster {
    fn logs(&self) -> String {
        let mut all = String::new();
        for p in &self.components {
            all.push_str(&format!("--- {} (tail)\n{}\n", p.name, tail(&p.log(), 40)));
        }
        all.push_str(&format!("--- kube-apiserver (tail)\n{}\n", tail(&self.api.log(), 20)));
        all
    }

    fn start(&mut self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let p = Process::start_in(&self.netns, name, args)?;
        self.components.push(p);
        Ok(())
    }

    /// The `web` pods, as JSON items.
    fn pods(&self) -> anyhow::Result<Vec<Value>> {
        let out = self.kubectl.ok(&["get", "pods", "-l", "app=web", "-o", "json"])?;
        let list: Value = serde_json::from_str(&out)?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// Polls `check` every 300 ms until it returns `Some`, or fails after `timeout` with
    /// every component's log.
    fn eventually<T>(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> anyhow::Result<Option<T>>) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check()? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let pods = self.kubectl.run(&["get", "pods", "-o", "wide"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
                bail!("timed out waiting for {what}\npods:\n{}\n{}", pods.unwrap_or_default(), self.logs());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"].as_str().unwrap_or("").to_string()
}

fn running_and_ready(pod: &Value) -> bool {
    phase(pod) == "Running"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["containerStatuses"].as_array().is_some_and(|cs| cs.iter().all(|c| c["ready"] == true))
}

#[test]
fn seed_003_a_deployment_is_run_by_the_controller_manager_the_scheduler_and_the_kubelet() -> anyhow::Result<()> {
    let netns = NetNs::create("seed003")?;
    run(netns.command("ip").args(["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"]))?;
    let api = NetnsApiServer::start_in(&netns)?;
    let kubectl = api.kubectl()?;
    let ctd = Containerd::start_in(&netns)?;
    let mut c = Cluster { components: Vec::new(), kubectl, ctd, api, netns };
    let master = format!("--master={}", c.api.url);

    // The node: a kubelet (seed 003 starts it with --kubeconfig; the insecure port here).
    let dir = c.ctd.dir.join("kubelet");
    let endpoint = format!("--container-runtime-endpoint=unix://{}", c.ctd.socket.display());
    let (root, logs, cni) = (dir.join("root"), dir.join("logs"), c.ctd.cni_conf_dir.clone());
    let root = format!("--root-dir={}", root.display());
    let logs = format!("--pod-logs-dir={}", logs.display());
    let cni = format!("--cni-conf-dir={}", cni.display());
    let kubelet_args = [
        "--api-servers=127.0.0.1:8080",
        endpoint.as_str(),
        "--pod-cidr=10.89.0.0/24",
        "--hostname-override",
        NODE,
        root.as_str(),
        logs.as_str(),
        cni.as_str(),
        "--port=0",
        "--healthz-port=0",
    ];
    c.start("kubelet", &kubelet_args)?;
    c.eventually("the node to be Ready", Duration::from_secs(60), || {
        let out = c.kubectl.run(&["get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])?;
        Ok((String::from_utf8_lossy(&out.stdout) == "True").then_some(()))
    })?;

    // 1. The Deployment, before any controller runs: it exists, nothing else happens.
    let file = c.api.dir.join("deploy.yaml");
    std::fs::write(&file, DEPLOY_YAML)?;
    let out = c.kubectl.ok(&["apply", "-f", file.to_str().context("path")?])?;
    assert_eq!(out.trim(), "deployment.apps/web created");
    std::thread::sleep(Duration::from_secs(2));
    let deploy = c.kubectl.ok(&["get", "deploy"])?;
    assert!(deploy.lines().nth(1).is_some_and(|l| l.starts_with("web ")), "{deploy}");
    let pods = c.kubectl.run(&["get", "pods"])?;
    assert_eq!(String::from_utf8_lossy(&pods.stderr).trim(), "No resources found in default namespace.");

    // 2. The controller-manager: a ReplicaSet and two Pending pods, not bound yet.
    c.start("kube-controller-manager", &[&master, "--leader-elect=false", "--secure-port=0"])?;
    let pending = c.eventually("a ReplicaSet and 2 Pending pods", Duration::from_secs(60), || {
        let pods = c.pods()?;
        Ok((pods.len() == 2).then_some(pods))
    })?;
    for p in &pending {
        assert_eq!(phase(p), "Pending");
        assert!(p["spec"]["nodeName"].is_null(), "no scheduler yet: {p}");
    }
    let rs = c.kubectl.ok(&["get", "rs", "-o", "name"])?;
    assert!(rs.trim().starts_with("replicaset.apps/web-"), "{rs}");

    // 3 and 4. The scheduler binds them to the node; the kubelet pulls and runs them.
    let scheduler_port = "--secure-port=0";
    c.start("kube-scheduler", &[&master, "--leader-elect=false", scheduler_port])?;
    c.eventually("2 pods bound and Running", Duration::from_secs(120), || {
        let pods = c.pods()?;
        let ok = pods.len() == 2 && pods.iter().all(|p| p["spec"]["nodeName"] == NODE && running_and_ready(p));
        Ok(ok.then_some(()))
    })?;
    let table = c.kubectl.ok(&["get", "pods"])?;
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows.iter().all(|r| r.split_whitespace().nth(1) == Some("1/1") && r.split_whitespace().nth(2) == Some("Running")), "{table}");
    let events = c.kubectl.ok(&["get", "events", "-o", "json"])?;
    assert!(events.contains("Successfully pulled image \\\"zwindler/vhelloworld\\\""), "pulled through the registry mirror");

    // 5. Kube-Wars: a deleted pod is replaced.
    let victim = name(&c.pods()?[0]);
    c.kubectl.ok(&["delete", "pod", &victim])?;
    c.eventually("the deleted pod replaced by a new Running one", Duration::from_secs(90), || {
        let pods = c.pods()?;
        let ok = pods.len() == 2 && pods.iter().all(|p| name(p) != victim && running_and_ready(p));
        Ok(ok.then_some(()))
    })?;

    // 6. Scale to 4.
    let out = c.kubectl.ok(&["scale", "deploy", "web", "--replicas=4"])?;
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    c.eventually("4 Running pods and READY 4/4", Duration::from_secs(120), || {
        let pods = c.pods()?;
        if pods.len() != 4 || !pods.iter().all(running_and_ready) {
            return Ok(None);
        }
        let deploy = c.kubectl.ok(&["get", "deploy", "web"])?;
        let ready = deploy.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).map(String::from);
        Ok((ready.as_deref() == Some("4/4")).then_some(()))
    })?;

    // 7. Deleting the Deployment leaves nothing in the runtime.
    c.kubectl.ok(&["delete", "deploy", "web"])?;
    c.eventually("no pods and no containers or sandboxes left", Duration::from_secs(120), || {
        let containers = c.ctd.containers()?;
        Ok((c.pods()?.is_empty() && containers.is_empty()).then_some(()))
    })?;
    Ok(())
}
