//! kube-proxy end to end, on real iptables: the real `kube-proxy` binary runs inside a
//! network namespace the test creates ("the node"), against the real apiserver (on the host's
//! loopback, relayed into the namespace by [`NetNs::forward_loopback`]). Its endpoints are
//! real listeners in a second namespace ("the pods": `busybox httpd` on 10.244.0.5-8),
//! joined to the node by a veth pair, as a CNI bridge would. Every private address stays
//! inside these two namespaces (ENVIRONMENT.md).
//!
//! Services and Endpoints are created directly with the real kubectl: no controller-manager
//! is needed, the Services have no selector.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use testutil::netns::{run, NetNs};
use testutil::ApiServer;

/// The node, the pods, the apiserver, and every process the test started (killed by PID).
struct Lab {
    api: ApiServer,
    proxy: Option<Child>,
    proxy_log: PathBuf,
    children: Vec<Child>,
    dir: PathBuf,
    pods: NetNs,
    node: NetNs,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Newest first: the echo client before the echo server, so that the server's
        // per-connection `cat` sees end-of-file and exits instead of outliving the test.
        for c in self.proxy.iter_mut().chain(self.children.iter_mut().rev()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever still runs in the pods' namespace was started by this test (the echo
        // server forks a `cat` per connection): kill those by PID too.
        if let Ok(pids) = run(Command::new("ip").args(["netns", "pids", &self.pods.name])) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // The namespaces (and every rule in them) go when `node` and `pods` drop.
    }
}

impl Lab {
    fn start() -> anyhow::Result<Lab> {
        let node = NetNs::create("kp-node")?;
        let pods = NetNs::create("kp-pods")?;
        let api = ApiServer::start()?;
        node.forward_loopback(api.port)?;
        let dir = std::env::temp_dir().join(format!("kube-proxy-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut lab = Lab { proxy_log: dir.join("kube-proxy.log"), api, proxy: None, children: Vec::new(), dir, pods, node };
        // The pod network: node 10.244.0.1 <-veth-> pods 10.244.0.5-8; ClusterIPs routed to it.
        run(lab.node.command("ip").args(["link", "add", "kp-host", "type", "veth", "peer", "name", "kp-pod"]))?;
        run(lab.node.command("ip").args(["link", "set", "kp-pod", "netns", &lab.pods.name]))?;
        run(lab.node.command("ip").args(["addr", "add", "10.244.0.1/24", "dev", "kp-host"]))?;
        run(lab.node.command("ip").args(["link", "set", "kp-host", "up"]))?;
        run(lab.node.command("ip").args(["route", "add", "10.0.0.0/24", "dev", "kp-host"]))?;
        for last in 5..=8 {
            run(lab.pods.command("ip").args(["addr", "add", &format!("10.244.0.{last}/24"), "dev", "kp-pod"]))?;
        }
        run(lab.pods.command("ip").args(["link", "set", "kp-pod", "up"]))?;
        run(lab.pods.command("ip").args(["route", "add", "default", "via", "10.244.0.1"]))?;
        for last in 5..=8 {
            let www = lab.dir.join(format!("www{last}"));
            std::fs::create_dir_all(&www)?;
            std::fs::write(www.join("index.html"), format!("backend 10.244.0.{last}\n"))?;
            let httpd = lab.pods.command("busybox").args(["httpd", "-f", "-p", &format!("10.244.0.{last}:80"), "-h"]).arg(&www).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
            lab.children.push(httpd);
        }
        // A persistent echo service for the "established connection" check.
        let echo = lab.pods.command("busybox").args(["nc", "-ll", "-p", "9000", "-e", "/bin/cat"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        lab.children.push(echo);
        Ok(lab)
    }

    fn start_proxy(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.proxy_log)?;
        let child = self
            .node
            .command(testutil::binary("kube-proxy")?.to_str().context("path")?)
            .arg(format!("--master={}", self.api.url))
            .args(["--cluster-cidr=10.244.0.0/16", "--healthz-bind-address=127.0.0.1:10256"])
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.proxy = Some(child);
        Ok(())
    }

    /// SIGTERM, as a service manager would, and wait for the exit.
    fn stop_proxy(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.proxy.take() {
            run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
            child.wait()?;
        }
        Ok(())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.proxy_log).unwrap_or_default()
    }

    fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self.api.kubectl().run_with_input(&["apply", "--validate=false", "-f", "-"], yaml)?;
        if !out.status.success() {
            bail!("kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// `curl` from the node; Ok(body) or Err(curl's error).
    fn curl(&self, url: &str) -> anyhow::Result<String> {
        run(self.node.command("curl").args(["-sS", "--max-time", "3", url]))
    }

    fn iptables(&self, args: &[&str]) -> anyhow::Result<String> {
        run(self.node.command("iptables").args(args))
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok() {
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; kube-proxy log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

fn endpoints(name: &str, port: u16, ips: &[&str]) -> String {
    let addresses: Vec<String> = ips.iter().map(|ip| format!("  - ip: {ip}")).collect();
    format!("apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\nsubsets:\n- addresses:\n{}\n  ports:\n  - port: {port}\n    protocol: TCP\n", addresses.join("\n"))
}

const SERVICES: &str = "
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, labels: {app: web}}
  spec: {clusterIP: 10.0.0.34, ports: [{port: 3000, protocol: TCP, targetPort: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: web-np}
  spec: {type: NodePort, clusterIP: 10.0.0.35, ports: [{port: 80, targetPort: 80, nodePort: 30080}]}
- apiVersion: v1
  kind: Service
  metadata: {name: empty}
  spec: {clusterIP: 10.0.0.50, ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: echo}
  spec: {clusterIP: 10.0.0.40, ports: [{port: 9000}]}
";

#[test]
fn kube_proxy_programs_services_as_iptables_rules_that_really_balance_traffic() -> anyhow::Result<()> {
    let mut lab = Lab::start()?;
    lab.apply(SERVICES)?;
    lab.apply(&endpoints("web", 80, &["10.244.0.5", "10.244.0.6", "10.244.0.7"]))?;
    lab.apply(&endpoints("web-np", 80, &["10.244.0.5", "10.244.0.6", "10.244.0.7"]))?;
    lab.apply(&endpoints("echo", 9000, &["10.244.0.5"]))?;
    lab.start_proxy()?;
    lab.wait_for("the ClusterIP to answer", || lab.curl("http://10.0.0.34:3000/").is_ok())?;

    // 300 requests reach all three backends, each at least 50 times.
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        *hits.entry(lab.curl("http://10.0.0.34:3000/")?.trim().to_string()).or_default() += 1;
    }
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.values().all(|&n| n >= 50), "uneven balancing: {hits:?}");

    // Seed 003's structure, as `iptables -t nat -L` prints it.
    let services = lab.iptables(&["-t", "nat", "-L", "KUBE-SERVICES"])?;
    let web = services.lines().find(|l| l.contains("default/web cluster IP")).context("no web rule")?;
    assert!(web.starts_with("KUBE-SVC-LOLE4ISW44XBNF3G  tcp  --  anywhere             10.0.0.34 "), "{services}");
    let last = services.lines().last().unwrap_or_default();
    assert!(
        last.contains("KUBE-NODEPORTS") && last.contains("/* kubernetes service nodeports; NOTE: this must be the last rule in this chain */ ADDRTYPE match dst-type LOCAL"),
        "{services}"
    );
    let svc = lab.iptables(&["-t", "nat", "-L", "KUBE-SVC-LOLE4ISW44XBNF3G"])?;
    let seps: Vec<&str> = svc.lines().filter(|l| l.starts_with("KUBE-SEP-")).collect();
    assert_eq!(seps.len(), 3, "{svc}");
    assert!(seps[0].contains("/* default/web -> 10.244.0.5:80 */ statistic mode random probability 0.33333333349"), "{svc}");
    assert!(seps[1].contains("/* default/web -> 10.244.0.6:80 */ statistic mode random probability 0.50000000000"), "{svc}");
    assert!(seps[2].ends_with("/* default/web -> 10.244.0.7:80 */"), "{svc}");

    // Scaling to four: seed 003's ladder, 0.25 / 0.33 / 0.5 / the rest.
    lab.apply(&endpoints("web", 80, &["10.244.0.5", "10.244.0.6", "10.244.0.7", "10.244.0.8"]))?;
    let ladder = || {
        let svc = lab.iptables(&["-t", "nat", "-L", "KUBE-SVC-LOLE4ISW44XBNF3G"]).unwrap_or_default();
        svc.contains("probability 0.25000000000") && svc.contains("probability 0.33333333349") && svc.contains("/* default/web -> 10.244.0.8:80 */")
    };
    lab.wait_for("four endpoints with seed 003's probabilities", ladder)?;
    // ... and down to one: the other endpoint chains are deleted.
    lab.apply(&endpoints("web", 80, &["10.244.0.5"]))?;
    lab.wait_for("one endpoint left", || {
        let nat = lab.iptables(&["-t", "nat", "-S", "KUBE-SVC-LOLE4ISW44XBNF3G"]).unwrap_or_default();
        nat.lines().filter(|l| l.contains("-j KUBE-SEP-")).count() == 1
    })?;
    assert_eq!(lab.curl("http://10.0.0.34:3000/")?.trim(), "backend 10.244.0.5");
    let nat = lab.iptables(&["-t", "nat", "-S"])?;
    for gone in ["10.244.0.6:80", "10.244.0.7:80", "10.244.0.8:80"] {
        let chain = kube_proxy::rules::endpoint_chain_name("default/web", "tcp", gone);
        assert!(!nat.contains(&chain), "stale {chain} ({gone}) not deleted:\n{nat}");
    }

    // A NodePort answers on the node's address and on 127.0.0.1 (route_localnet).
    assert!(lab.curl("http://10.244.0.1:30080/")?.starts_with("backend 10.244.0."));
    assert!(lab.curl("http://127.0.0.1:30080/")?.starts_with("backend 10.244.0."));

    // A Service without endpoints is rejected at once: "connection refused", not a timeout.
    let start = Instant::now();
    let err = lab.curl("http://10.0.0.50:80/").expect_err("no endpoints, no answer").to_string();
    assert!(err.contains("Connection refused") || err.contains("Couldn't connect"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());

    // /metrics and /healthz.
    let metrics = lab.curl("http://127.0.0.1:10249/metrics")?;
    assert!(metrics.contains("kubeproxy_sync_proxy_rules_iptables_total{table=\"nat\"}"), "{metrics}");
    assert!(lab.curl("http://127.0.0.1:10256/healthz")?.contains("lastUpdated"));

    // Restarting kube-proxy does not interrupt an established connection.
    let mut conn = lab.node.command("busybox").args(["nc", "10.0.0.40", "9000"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut to_echo = conn.stdin.take().context("stdin")?;
    let (tx, lines) = mpsc::channel();
    let stdout = conn.stdout.take().context("stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    lab.children.push(conn);
    writeln!(to_echo, "before restart")?;
    assert_eq!(lines.recv_timeout(Duration::from_secs(5))?, "before restart");
    lab.stop_proxy()?;
    let syncs_before = lab.log().matches("Synced iptables rules").count();
    lab.start_proxy()?;
    lab.wait_for("the restarted kube-proxy to sync", || lab.log().matches("Synced iptables rules").count() > syncs_before)?;
    writeln!(to_echo, "after restart")?;
    assert_eq!(lines.recv_timeout(Duration::from_secs(5))?, "after restart");

    // --cleanup leaves no KUBE-* chain (and no jump to one) in either table.
    lab.stop_proxy()?;
    run(lab.node.command(testutil::binary("kube-proxy")?.to_str().context("path")?).arg("--cleanup"))?;
    let all = run(&mut lab.node.command("iptables-save"))?;
    assert!(!all.contains("KUBE-"), "left behind:\n{all}");
    Ok(())
}
