//! The multi-node lab (`hack/lab.sh`, docs/lab.md) and the Vagrant provisioning it shares
//! its command lines with (`vagrant/components.sh`, `vagrant/provision.sh`).
//!
//! The lab test brings up a control plane and two nodes, each in its own network namespace
//! joined by a bridge, with the real binaries (this build's debug ones), real containerd,
//! CNI and iptables, then checks what a cluster of machines must do: pods on different
//! nodes reach each other, a ClusterIP balances over pods of both nodes from either node,
//! a NodePort answers on every node, and a node that is cut off is noticed and its pods
//! are recreated elsewhere while the Service keeps answering. `down` must leave nothing.
//! Every private address stays inside the lab's namespaces; the test reaches the apiserver
//! through the lab's loopback relay only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2e::{json, str_at};
use serde_json::Value;
use testutil::netns::{run, NetNs};
use testutil::Kubectl;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

fn bin_dir() -> anyhow::Result<PathBuf> {
    Ok(testutil::binary("kubelet")?.parent().context("bin dir")?.to_path_buf())
}

/// One lab, named uniquely; `down` on drop (even when the test fails).
struct Lab {
    prefix: String,
    kubectl: Kubectl,
    down: bool,
}

impl Lab {
    fn sh(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new("bash").arg(repo().join("hack/lab.sh")).args(["--prefix", &self.prefix]).args(args).output().context("run hack/lab.sh")
    }

    /// `hack/lab.sh ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.sh(args)?;
        if !out.status.success() {
            bail!("hack/lab.sh {} failed:\n{}{}", args.join(" "), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn state(&self) -> PathBuf {
        repo().join("_output/lab").join(&self.prefix)
    }

    fn pid(&self, machine: &str, component: &str) -> Option<u32> {
        std::fs::read_to_string(self.state().join(machine).join("pids").join(format!("{component}.pid"))).ok()?.trim().parse().ok()
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        json(&self.kubectl.ok(&all)?)
    }

    fn ready(&self, node: &str) -> String {
        let Ok(n) = self.json(&["node", node]) else { return String::new() };
        n["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Ready").map(|c| str_at(c, "/status").to_string()).unwrap_or_default()
    }

    /// The Running, not deleted pods of the Deployment: (name, node, ip).
    fn pods(&self) -> Vec<(String, String, String)> {
        let Ok(list) = self.json(&["pods", "-l", "app=web"]) else { return Vec::new() };
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| str_at(p, "/status/phase") == "Running" && p.pointer("/metadata/deletionTimestamp").is_none() && !str_at(p, "/status/podIP").is_empty())
            .map(|p| (str_at(p, "/metadata/name").to_string(), str_at(p, "/spec/nodeName").to_string(), str_at(p, "/status/podIP").to_string()))
            .collect()
    }

    /// [`poll`], with the lab's status and pods in the error.
    fn poll<T>(&self, what: &str, deadline: Duration, check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
        poll(what, deadline, check).map_err(|e| {
            let status = self.ok(&["status"]).unwrap_or_default();
            let pods = self.kubectl.ok(&["get", "pods", "-o", "wide"]).unwrap_or_default();
            e.context(format!("lab {}:\n{status}\n{pods}", self.prefix))
        })
    }

    /// `curl` run inside machine `m`; the hostname the hello page names, or curl's error.
    fn hello_from(&self, m: &str, url: &str) -> anyhow::Result<String> {
        hostname(&self.ok(&["in", m, "curl", "-sS", "--max-time", "3", url])?)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.sh(&["down"]);
        }
    }
}

/// "web-xyz" out of the hello page's `<h3>My hostname is web-xyz</h3>`.
fn hostname(page: &str) -> anyhow::Result<String> {
    let rest = page.split("My hostname is ").nth(1).with_context(|| format!("not the hello page: {page:?}"))?;
    Ok(rest.split('<').next().unwrap_or_default().trim().to_string())
}

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: zwindler/vhelloworld}
      # Upstream gives every pod 300 s on an unreachable node; the test has no such time.
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
";

#[test]
fn a_two_node_lab_routes_pods_and_services_across_nodes_and_survives_losing_a_node() -> anyhow::Result<()> {
    let started = Instant::now();
    let port = testutil::free_port();
    let mut lab = Lab {
        prefix: format!("lt{}", std::process::id()),
        kubectl: Kubectl::new("/usr/bin/kubectl", &format!("http://127.0.0.1:{port}")),
        down: false,
    };
    let bin = bin_dir()?;
    let up = lab.ok(&["up", "--nodes", "2", "--api-port", &port.to_string(), "--bin-dir", bin.to_str().context("path")?, "--node-monitor-grace-period", "16s"])?;
    println!("up in {:?}", started.elapsed());
    assert!(up.contains("node node1: podCIDR 10.244.") && up.contains("node node2: podCIDR 10.244."), "{up}");

    // Both nodes registered, Ready, each with its own pod CIDR from the controller-manager.
    let nodes = lab.json(&["nodes"])?;
    let cidrs: BTreeSet<&str> = nodes["items"].as_array().context("items")?.iter().map(|n| str_at(n, "/spec/podCIDR")).collect();
    assert_eq!(cidrs.len(), 2, "{nodes}");
    assert_eq!(lab.ready("node1"), "True");
    assert_eq!(lab.ready("node2"), "True");

    // The lab ran exactly the command lines the Vagrant VMs' units would run.
    for (m, ip, role, component) in [("node1", "192.168.56.11", "node", "kubelet"), ("node2", "192.168.56.12", "node", "kube-proxy"), ("cp", "192.168.56.10", "control-plane", "kube-controller-manager")] {
        let pid = lab.pid(m, component).context("no pid")?;
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))?.trim_end_matches('\0').replace('\0', " ");
        let units = testutil::unique_temp_dir()?;
        let env = [("NODE_NAME", m), ("NODE_IP", ip), ("CP_IP", "192.168.56.10"), ("BIN_DIR", bin.to_str().context("path")?), ("NODE_MONITOR_GRACE_PERIOD", "16s")];
        run(Command::new("bash").arg(repo().join("vagrant/components.sh")).args(["units", role]).arg(&units).envs(env).env("DATA_DIR", lab.state().join(m)))?;
        let unit = std::fs::read_to_string(units.join(format!("lab-{component}.service")))?;
        std::fs::remove_dir_all(&units)?;
        assert!(unit.lines().any(|l| l == format!("ExecStart={cmdline}")), "{m}'s {component} runs `{cmdline}`; its unit says:\n{unit}");
    }

    // A Deployment spread over both nodes.
    let out = lab.kubectl.run_with_input(&["apply", "-f", "-"], WEB)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pods = lab.poll("4 web pods running", Duration::from_secs(60), || Some(lab.pods()).filter(|p| p.len() == 4))?;
    let on = |node: &str| pods.iter().filter(|p| p.1 == node).cloned().collect::<Vec<_>>();
    let (on1, on2) = (on("node1"), on("node2"));
    assert!(!on1.is_empty() && !on2.is_empty(), "the scheduler spreads one owner's pods: {pods:?}");
    println!("pods running at {:?}: {pods:?}", started.elapsed());

    // Pod to pod across nodes, by pod IP: from inside a pod on node1 to one on node2.
    let page = lab.ok(&["in-pod", &on1[0].0, "curl", "-sS", "--max-time", "3", &format!("http://{}/", on2[0].2)])?;
    assert_eq!(hostname(&page)?, on2[0].0);

    // The apiserver (on cp) reaches each kubelet at its node's address for `kubectl logs`.
    for (name, _, _) in [&on1[0], &on2[0]] {
        lab.kubectl.ok(&["logs", name])?;
    }

    // The ClusterIP, from every node, reaches pods on both nodes.
    let svc = lab.json(&["service", "web"])?;
    let cluster_ip = str_at(&svc, "/spec/clusterIP").to_string();
    let node_port = svc.pointer("/spec/ports/0/nodePort").and_then(Value::as_u64).context("nodePort")?;
    let names = |list: &[(String, String, String)]| list.iter().map(|p| p.0.clone()).collect::<BTreeSet<_>>();
    for m in ["node1", "node2"] {
        // Each node's kube-proxy syncs the new Service and its endpoints on its own schedule
        // (until then the ClusterIP is rejected): wait for the first answer.
        e2e::wait_for(&format!("{cluster_ip} to answer from {m}"), Duration::from_secs(30), || lab.hello_from(m, &format!("http://{cluster_ip}/")).ok())?;
        let mut seen = BTreeSet::new();
        for _ in 0..30 {
            seen.insert(lab.hello_from(m, &format!("http://{cluster_ip}/"))?);
        }
        assert!(seen.iter().any(|h| names(&on1).contains(h)) && seen.iter().any(|h| names(&on2).contains(h)), "from {m}, {cluster_ip} reached only {seen:?}; pods {pods:?}");
    }
    // The NodePort answers on every node's address (asked from the control plane's machine).
    for ip in ["192.168.56.11", "192.168.56.12"] {
        let h = lab.hello_from("cp", &format!("http://{ip}:{node_port}/"))?;
        assert!(names(&pods).contains(&h), "{ip}:{node_port} answered {h}");
    }

    // node2 loses its link: Unknown after the grace period, its pods recreated on node1, and
    // the Service keeps answering, from node1's pods only.
    let cut = Instant::now();
    lab.ok(&["partition", "node2"])?;
    lab.poll("node2 Ready=Unknown", Duration::from_secs(60), || (lab.ready("node2") == "Unknown").then_some(()))?;
    println!("node2 Unknown {:?} after the partition", cut.elapsed());
    let moved = lab.poll("4 running pods on node1", Duration::from_secs(60), || Some(lab.pods()).filter(|p| p.len() == 4 && p.iter().all(|p| p.1 == "node1")))?;
    println!("pods recreated on node1 {:?} after the partition", cut.elapsed());
    lab.poll("the Service to answer from node1 only", Duration::from_secs(20), || {
        (0..10).all(|_| lab.hello_from("node1", &format!("http://{cluster_ip}/")).is_ok_and(|h| names(&moved).contains(&h))).then_some(())
    })?;

    // Healed, node2 comes back Ready.
    lab.ok(&["heal", "node2"])?;
    lab.poll("node2 Ready again", Duration::from_secs(60), || (lab.ready("node2") == "True").then_some(()))?;

    // Its kubelet dies: Unknown again.
    let kubelet = lab.pid("node2", "kubelet").context("node2's kubelet")?;
    lab.ok(&["kill-node", "node2"])?;
    assert!(!running(kubelet), "kill-node left the kubelet running");
    lab.poll("node2 Ready=Unknown after kill-node", Duration::from_secs(60), || (lab.ready("node2") == "Unknown").then_some(()))?;

    // `down` leaves nothing: processes, namespaces (the lab's and its pods'), state.
    let mut pids: Vec<u32> = Vec::new();
    for entry in walk(&lab.state())? {
        if entry.extension().is_some_and(|e| e == "pid") {
            pids.extend(std::fs::read_to_string(&entry)?.trim().parse::<u32>().ok());
        }
    }
    let mut pod_netns = Vec::new();
    for m in ["node1", "node2"] {
        let sock = lab.state().join(m).join("containerd/containerd.sock");
        let ids = run(Command::new("ctr").arg("--address").arg(&sock).args(["-n", "k8s.io", "containers", "ls", "-q"]))?;
        for id in ids.lines() {
            let info = run(Command::new("ctr").arg("--address").arg(&sock).args(["-n", "k8s.io", "containers", "info", id]))?;
            pod_netns.extend(info.split('"').filter(|s| s.starts_with("/var/run/netns/cni-")).map(String::from));
        }
    }
    assert!(!pod_netns.is_empty(), "the pods' network namespaces were found");
    let t = Instant::now();
    lab.down = true;
    lab.ok(&["down"])?;
    println!("down in {:?}; whole test {:?}", t.elapsed(), started.elapsed());
    let left: Vec<String> = pids
        .into_iter()
        .filter(|&p| running(p))
        .map(|p| format!("{p}: {}", std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")))
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    let netns = run(Command::new("ip").args(["netns", "list"]))?;
    assert!(!netns.contains(&format!("{}-", lab.prefix)), "{netns}");
    for path in &pod_netns {
        assert!(!Path::new(path).exists(), "pod network namespace {path} left");
    }
    assert!(!lab.state().exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the relay still listens");
    Ok(())
}

/// Whether process `pid` runs: it is in /proc and not a zombie (the lab's processes are
/// orphans once `hack/lab.sh` exits; a killed one stays a zombie until PID 1 reaps it).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| status.lines().any(|l| l.starts_with("State:") && !l.contains("zombie")))
}

/// Polls `check` every half second (each poll runs kubectl or curl) until it returns
/// `Some`, or fails after `deadline`.
fn poll<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(t) = check() {
            return Ok(t);
        }
        if Instant::now() > until {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let ty = e.file_type()?;
            if ty.is_dir() && !e.path().ends_with("containerd") && !e.path().ends_with("etcd") {
                todo.push(e.path());
            } else if ty.is_file() {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

#[test]
fn vagrant_provisioning_writes_one_unit_per_component_with_the_labs_command_lines() -> anyhow::Result<()> {
    let root = repo();
    let scripts = ["vagrant/components.sh", "vagrant/provision.sh", "hack/lab.sh"];
    for s in scripts {
        run(Command::new("bash").arg("-n").arg(root.join(s)))?;
    }
    if Command::new("shellcheck").arg("--version").output().is_ok() {
        run(Command::new("shellcheck").arg("-x").args(scripts.map(|s| root.join(s))))?;
    }

    // Provisioning runs inside a network namespace of its own: a node's sets a sysctl.
    let ns = NetNs::create("vagrant-prov")?;
    let dir = testutil::unique_temp_dir()?;
    let registry_data = &testutil::registry::images()?.registry_data;
    let provision = |role: &str, name: &str, ip: &str| -> anyhow::Result<String> {
        let machine = dir.join(name);
        run(ns
            .command("bash")
            .arg(root.join("vagrant/provision.sh"))
            .args([role, name, ip, "192.168.56.10"])
            .env("NO_START", "1")
            .env("SRC", &root)
            .env("BUILD_DIR", bin_dir()?)
            .env("BIN_DIR", machine.join("bin"))
            .env("DATA_DIR", machine.join("data"))
            .env("UNIT_DIR", machine.join("units"))
            .env("SYSCTL_DIR", machine.join("sysctl.d"))
            .env("REGISTRY_DATA", registry_data))
    };
    let unit = |name: &str, component: &str| std::fs::read_to_string(dir.join(name).join("units").join(format!("lab-{component}.service")));
    let exec = |text: &str| text.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap_or_default().to_string();

    let out = provision("control-plane", "cp", "192.168.56.10")?;
    assert!(out.contains("lab-kube-apiserver.service"), "{out}");
    let cp = dir.join("cp");
    let (bin, data) = (cp.join("bin").display().to_string(), cp.join("data").display().to_string());
    assert_eq!(exec(&unit("cp", "kube-apiserver")?), format!("{bin}/kube-apiserver --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.0.0.0/24 --insecure-bind-address=0.0.0.0 --insecure-port=8080 --advertise-address=192.168.56.10"));
    assert_eq!(exec(&unit("cp", "kube-controller-manager")?), format!("{bin}/kube-controller-manager --master=http://127.0.0.1:8080 --allocate-node-cidrs --cluster-cidr=10.244.0.0/16 --node-monitor-grace-period=40s"));
    assert_eq!(exec(&unit("cp", "kube-scheduler")?), format!("{bin}/kube-scheduler --master=http://127.0.0.1:8080"));
    assert!(exec(&unit("cp", "etcd")?).starts_with(&format!("etcd --name cp --data-dir {data}/etcd ")));
    assert_eq!(exec(&unit("cp", "registry")?), format!("docker-registry serve {data}/registry.yml"));
    assert!(std::fs::read_to_string(cp.join("data/registry.yml"))?.contains("addr: 192.168.56.10:5000"));
    assert!(cp.join("bin/kube-apiserver").exists() && !cp.join("bin/kubelet").exists(), "the control plane gets its binaries only");

    provision("node", "node1", "192.168.56.11")?;
    let n1 = dir.join("node1");
    let (bin, data) = (n1.join("bin").display().to_string(), n1.join("data").display().to_string());
    let kubelet = unit("node1", "kubelet")?;
    assert_eq!(exec(&kubelet), format!("{bin}/kubelet --api-servers=192.168.56.10:8080 --hostname-override=node1 --node-ip=192.168.56.11 --container-runtime-endpoint=unix://{data}/containerd/containerd.sock --cni-conf-dir={data}/containerd/cni --root-dir={data}/kubelet --pod-logs-dir={data}/pod-logs"));
    assert!(kubelet.contains("Restart=always") && kubelet.contains("WantedBy=multi-user.target"), "{kubelet}");
    assert_eq!(exec(&unit("node1", "kube-proxy")?), format!("{bin}/kube-proxy --master=http://192.168.56.10:8080 --hostname-override=node1 --cluster-cidr=10.244.0.0/16"));
    assert_eq!(exec(&unit("node1", "containerd")?), format!("containerd --config {data}/containerd/config.toml"));
    assert!(exec(&unit("node1", "routes")?).contains("CP_IP=192.168.56.10 NODE_IP=192.168.56.11 SERVICE_CIDR=10.0.0.0/24 bash "));
    let config = std::fs::read_to_string(n1.join("data/containerd/config.toml"))?;
    assert!(config.contains(&format!("address = \"{data}/containerd/containerd.sock\"")) && config.contains("restrict_oom_score_adj = true"), "{config}");
    let mirror = std::fs::read_to_string(n1.join("data/containerd/certs.d/docker.io/hosts.toml"))?;
    assert!(mirror.contains("server = \"http://192.168.56.10:5000\""), "{mirror}");
    assert_eq!(run(ns.command("cat").arg("/proc/sys/net/ipv4/ip_forward"))?.trim(), "1");
    assert_eq!(std::fs::read_to_string(n1.join("sysctl.d/90-kube-lab.conf"))?.trim(), "net.ipv4.ip_forward = 1");

    // Bad input: one line, non-zero exit.
    let bad = Command::new("bash").arg(root.join("vagrant/provision.sh")).args(["worker", "n", "1.2.3.4", "1.2.3.4"]).output()?;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown role worker"));
    let bad = Command::new("bash").arg(root.join("hack/lab.sh")).args(["--prefix", "Bad_Name", "status"]).output()?;
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad --prefix"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
