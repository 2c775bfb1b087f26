//! kube-proxy end to end with **real pods**: etcd, the apiserver, containerd, the kubelet,
//! the controller-manager (Deployment → ReplicaSet → Pods, and Endpoints) and kube-proxy all
//! run inside one network namespace the test creates ("the node"; a namespace cannot reach
//! the host's loopback, so the control plane joins it). The `hello` pods (busybox httpd
//! answering "My hostname is POD") get addresses on the kubelet's CNI bridge `cbr0`.
//!
//! This is seed 003's "Jouer avec notre cluster": a Deployment behind a Service, 300
//! requests spread over the pods, `iptables -t nat -L` showing the chains, scaling to 4
//! replicas and the 0.25 / 0.33 / 0.5 ladder.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use testutil::containerd::Containerd;
use testutil::netns::{run, NetNs};
use testutil::netns_apiserver::NetnsApiServer;
use testutil::Kubectl;

/// The node's own address inside the namespace (where NodePorts answer).
const NODE_IP: &str = "10.200.0.2";
const NODE: &str = "node1";

/// The node and its control plane. Drop order: our children (newest first), containerd,
/// the apiserver, the namespace.
struct Cluster {
    dir: PathBuf,
    children: Vec<Child>,
    proxy: Option<Child>,
    kubectl: Kubectl,
    ctd: Containerd,
    api: NetnsApiServer,
    netns: NetNs,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.proxy.iter_mut().chain(self.children.iter_mut().rev()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    fn start() -> anyhow::Result<Cluster> {
        let netns = NetNs::create("kp-pods")?;
        run(netns.command("ip").args(["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"]))?;
        let api = NetnsApiServer::start_in(&netns)?;
        let kubectl = api.kubectl()?;
        let ctd = Containerd::start_in(&netns)?;
        let dir = testutil::unique_temp_dir()?;
        let mut c = Cluster { dir, children: Vec::new(), proxy: None, kubectl, ctd, api, netns };
        let kubelet = c.spawn(
            "kubelet",
            &[
                "--api-servers=127.0.0.1:8080",
                &format!("--container-runtime-endpoint=unix://{}", c.ctd.socket.display()),
                "--pod-cidr=10.88.0.0/24",
                &format!("--hostname-override={NODE}"),
                "--node-status-update-frequency=1s",
                &format!("--root-dir={}", c.dir.join("root").display()),
                &format!("--pod-logs-dir={}", c.dir.join("logs").display()),
                &format!("--cni-conf-dir={}", c.ctd.cni_conf_dir.display()),
            ],
        )?;
        c.children.push(kubelet);
        let kcm = c.spawn(
            "kube-controller-manager",
            &["--master=http://127.0.0.1:8080", "--controllers=deployment,replicaset,endpoint,garbagecollector", "--secure-port=0"],
        )?;
        c.children.push(kcm);
        Ok(c)
    }

    /// Starts the binary `name` in the node's namespace, its output in `DIR/NAME.log`.
    fn spawn(&self, name: &str, args: &[&str]) -> anyhow::Result<Child> {
        std::fs::create_dir_all(&self.dir)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("{name}.log")))?;
        self.netns
            .command(testutil::binary(name)?.to_str().context("path")?)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {name}"))
    }

    fn start_proxy(&mut self) -> anyhow::Result<()> {
        let args = ["--master=http://127.0.0.1:8080", "--cluster-cidr=10.88.0.0/16", "--hostname-override=node1", "--healthz-bind-address=127.0.0.1:10256"];
        self.proxy = Some(self.spawn("kube-proxy", &args)?);
        Ok(())
    }

    fn stop_proxy(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.proxy.take() {
            run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
            child.wait()?;
        }
        Ok(())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn create(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self.kubectl.run_with_input(&["create", "-f", "-"], yaml)?;
        if !out.status.success() {
            bail!("kubectl create failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn curl(&self, url: &str) -> anyhow::Result<String> {
        run(self.netns.command("curl").args(["-sS", "--max-time", "3", url]))
    }

    fn iptables(&self, args: &[&str]) -> anyhow::Result<String> {
        run(self.netns.command("iptables").args(args))
    }

    /// The ready addresses of Endpoints `name`.
    fn endpoint_ips(&self, name: &str) -> Vec<String> {
        let Ok(out) = self.kubectl.run(&["get", "endpoints", name, "-o", "jsonpath={.subsets[*].addresses[*].ip}"]) else { return Vec::new() };
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !ok() {
            if Instant::now() > deadline {
                let pods = self.kubectl.run(&["get", "pods", "-o", "wide"]).map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
                bail!(
                    "timed out waiting for {what}\npods:\n{pods}\nkube-proxy log:\n{}\nkubelet log (tail):\n{}\ncontroller-manager log (tail):\n{}\napiserver log (tail):\n{}",
                    self.log("kube-proxy"),
                    tail(&self.log("kubelet"), 40),
                    tail(&self.log("kube-controller-manager"), 20),
                    tail(&self.api.log(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

const OBJECTS: &str = "
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
  spec:
    replicas: 3
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        nodeName: node1
        containers:
        - {name: hello, image: 'docker.io/library/hello:latest', ports: [{containerPort: 80}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: echo, labels: {app: echo}}
  spec:
    nodeName: node1
    containers:
    - {name: echo, image: 'docker.io/library/busybox:latest', command: [nc, -ll, -p, '9000', -e, /bin/cat]}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec: {clusterIP: 10.0.0.34, selector: {app: web}, ports: [{port: 3000, targetPort: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: web-np}
  spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, targetPort: 80, nodePort: 30080}]}
- apiVersion: v1
  kind: Service
  metadata: {name: empty}
  spec: {clusterIP: 10.0.0.50, selector: {app: nobody}, ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: echo}
  spec: {clusterIP: 10.0.0.40, selector: {app: echo}, ports: [{port: 9000}]}
";

#[test]
fn kube_proxy_balances_a_service_over_real_kubelet_pods_as_in_seed_003() -> anyhow::Result<()> {
    let mut c = Cluster::start()?;
    c.start_proxy()?;
    c.create(OBJECTS)?;
    c.wait_for("3 ready web endpoints and the echo endpoint", Duration::from_secs(120), || {
        c.endpoint_ips("web").len() == 3 && c.endpoint_ips("echo").len() == 1
    })?;
    // Local traffic to a ClusterIP is DNATed in nat OUTPUT, after routing: the service
    // range needs a route, here through the pods' bridge (as a node's default route would).
    run(c.netns.command("ip").args(["route", "replace", "10.0.0.0/24", "dev", "cbr0"]))?;
    c.wait_for("the ClusterIP to answer", Duration::from_secs(30), || c.curl("http://10.0.0.34:3000/").is_ok())?;

    // 300 requests reach all three pods, each at least 50 times.
    let pods: Vec<String> = c.kubectl.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"])?.split_whitespace().map(String::from).collect();
    assert_eq!(pods.len(), 3, "{pods:?}");
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        let body = c.curl("http://10.0.0.34:3000/")?;
        let pod = pods.iter().find(|p| body.contains(&format!("My hostname is {p}"))).with_context(|| format!("unexpected answer {body:?}"))?;
        *hits.entry(pod.clone()).or_default() += 1;
    }
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.values().all(|&n| n >= 50), "uneven balancing: {hits:?}");

    // Seed 003's structure.
    let services = c.iptables(&["-t", "nat", "-L", "KUBE-SERVICES"])?;
    let web = services.lines().find(|l| l.contains("default/web cluster IP")).context("no web rule")?;
    assert!(web.starts_with("KUBE-SVC-LOLE4ISW44XBNF3G  tcp  --  anywhere             10.0.0.34 "), "{services}");
    assert!(services.lines().last().unwrap_or_default().contains("KUBE-NODEPORTS"), "{services}");
    let svc = c.iptables(&["-t", "nat", "-L", "KUBE-SVC-LOLE4ISW44XBNF3G"])?;
    assert_eq!(svc.lines().filter(|l| l.starts_with("KUBE-SEP-")).count(), 3, "{svc}");
    assert!(svc.contains("statistic mode random probability 0.33333333349") && svc.contains("statistic mode random probability 0.50000000000"), "{svc}");

    // Scaling to 4 replicas: seed 003's ladder.
    c.kubectl.ok(&["scale", "deployment", "web", "--replicas=4"])?;
    c.wait_for("four endpoints with the probability ladder", Duration::from_secs(90), || {
        let svc = c.iptables(&["-t", "nat", "-L", "KUBE-SVC-LOLE4ISW44XBNF3G"]).unwrap_or_default();
        svc.lines().filter(|l| l.starts_with("KUBE-SEP-")).count() == 4
            && svc.contains("probability 0.25000000000")
            && svc.contains("probability 0.33333333349")
            && svc.contains("probability 0.50000000000")
    })?;

    // The NodePort answers on the node's address.
    assert!(c.curl(&format!("http://{NODE_IP}:30080/"))?.contains("My hostname is web-"));

    // A Service without endpoints is refused at once.
    let start = Instant::now();
    let err = c.curl("http://10.0.0.50:80/").expect_err("no endpoints, no answer").to_string();
    assert!(err.contains("Connection refused") || err.contains("Couldn't connect"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());

    // Restarting kube-proxy does not interrupt an established connection to a pod.
    let mut conn = c.netns.command("busybox").args(["nc", "10.0.0.40", "9000"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut to_echo = conn.stdin.take().context("stdin")?;
    let (tx, lines) = mpsc::channel();
    let stdout = conn.stdout.take().context("stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    c.children.push(conn);
    writeln!(to_echo, "before restart")?;
    assert_eq!(lines.recv_timeout(Duration::from_secs(5))?, "before restart");
    c.stop_proxy()?;
    let syncs = c.log("kube-proxy").matches("Synced iptables rules").count();
    c.start_proxy()?;
    c.wait_for("the restarted kube-proxy to sync", Duration::from_secs(30), || c.log("kube-proxy").matches("Synced iptables rules").count() > syncs)?;
    writeln!(to_echo, "after restart")?;
    assert_eq!(lines.recv_timeout(Duration::from_secs(5))?, "after restart");
    drop(to_echo);

    // --cleanup leaves no KUBE-* chain.
    c.stop_proxy()?;
    run(c.netns.command(testutil::binary("kube-proxy")?.to_str().context("path")?).arg("--cleanup"))?;
    let all = run(&mut c.netns.command("iptables-save"))?;
    assert!(!all.contains("KUBE-"), "left behind:\n{all}");
    Ok(())
}
