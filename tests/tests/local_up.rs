//! `hack/local-up-cluster.sh`, the README's first command, end to end: it brings up the whole
//! cluster (etcd, the apiserver, the controller manager, the scheduler, a registry,
//! containerd, the kubelet and kube-proxy) in a network namespace of its own, the host's
//! real kubectl reaches it through the relay, seed 003's Deployment and Service work, and
//! `--down` leaves nothing behind: no process, no namespace, no pod network namespace, no
//! data directory.
//!
//! Each test gives the script unique names (namespace, tmux session, directory, host port),
//! so it runs beside a learner's cluster and beside the other tests, and prebuilt debug
//! binaries and images (`LOCAL_UP_BIN_DIR`, `LOCAL_UP_IMAGES_DIR`, `LOCAL_UP_REGISTRY_DATA`),
//! so it builds nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2e::wait_for;
use testutil::netns::run;
use testutil::Kubectl;

/// One cluster started by the script; `--down` on drop if the test did not get that far.
struct LocalUp {
    dir: PathBuf,
    netns: String,
    port: u16,
    env: Vec<(&'static str, String)>,
    kubectl: Kubectl,
    downed: bool,
}

impl LocalUp {
    /// Runs `hack/local-up-cluster.sh ARGS` with unique settings; returns the cluster and the
    /// script's output.
    fn up(args: &[&str]) -> anyhow::Result<(LocalUp, String)> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("lu-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let images = testutil::registry::images()?;
        let bin_dir = testutil::binary("kube-apiserver")?.parent().context("bin dir")?.to_path_buf();
        let port = testutil::free_port();
        let dir = testutil::unique_temp_dir()?.join("local-up");
        let env = vec![
            ("LOCAL_UP_DIR", dir.display().to_string()),
            ("LOCAL_UP_NETNS", name.clone()),
            ("LOCAL_UP_API_PORT", port.to_string()),
            ("LOCAL_UP_NODE_NAME", "node1".to_string()),
            ("LOCAL_UP_BIN_DIR", bin_dir.display().to_string()),
            ("LOCAL_UP_IMAGES_DIR", images.images_dir.display().to_string()),
            ("LOCAL_UP_REGISTRY_DATA", images.registry_data.display().to_string()),
        ];
        let kubectl = Kubectl::new("/usr/bin/kubectl", &format!("http://127.0.0.1:{port}"));
        let mut cluster = LocalUp { dir, netns: name, port, env, kubectl, downed: false };
        let out = cluster.script(args)?;
        if !out.status.success() {
            let logs = cluster.logs();
            cluster.downed = true;
            let _ = cluster.script(&["--down"]);
            bail!("local-up-cluster.sh failed:\n{}\n{}\n{logs}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        Ok((cluster, String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    fn script(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/local-up-cluster.sh");
        Command::new("bash").arg(script).args(args).envs(self.env.iter().map(|(k, v)| (k, v))).output().context("run local-up-cluster.sh")
    }

    /// `--down`; returns its output.
    fn down(&mut self) -> anyhow::Result<String> {
        self.downed = true;
        let out = self.script(&["--down"])?;
        if !out.status.success() {
            bail!("--down failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A command run in the node's network namespace.
    fn innode(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/var/run/netns/{}", self.netns)).arg(program);
        c
    }

    /// Every component's log, for failure messages.
    fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("logs")) {
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                all += &format!("--- {} (last 15 lines)\n{}\n", e.path().display(), lines[lines.len().saturating_sub(15)..].join("\n"));
            }
        }
        all
    }

    /// The PIDs the script recorded, by component.
    fn pids(&self) -> anyhow::Result<Vec<(String, u32)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.join("pids"))? {
            let path = e?.path();
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            out.push((name, std::fs::read_to_string(&path)?.trim().parse()?));
        }
        out.sort();
        Ok(out)
    }

    /// The pods' network namespaces (`/var/run/netns/cni-…`) of this cluster's containerd.
    fn pod_netns(&self) -> anyhow::Result<BTreeSet<String>> {
        let sock = self.dir.join("containerd/containerd.sock");
        let ctr = |args: &[&str]| run(Command::new("ctr").arg("--address").arg(&sock).args(["-n", "k8s.io"]).args(args));
        let mut paths = BTreeSet::new();
        for id in ctr(&["containers", "ls", "-q"])?.lines() {
            let info = ctr(&["containers", "info", id])?;
            for (i, _) in info.match_indices("/var/run/netns/cni-") {
                let tail = &info[i..];
                let end = tail.find(|c: char| c == '"' || c.is_whitespace()).unwrap_or(tail.len());
                paths.insert(tail[..end].to_string());
            }
        }
        Ok(paths)
    }

    /// Polls `check` every 200 ms for `secs` seconds; the logs on failure.
    fn eventually<T>(&self, what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
        wait_for(what, Duration::from_secs(secs), || {
            let v = check();
            if v.is_none() {
                std::thread::sleep(Duration::from_millis(150));
            }
            v
        })
        .with_context(|| self.logs())
    }
}

impl Drop for LocalUp {
    fn drop(&mut self) {
        if !self.downed {
            let _ = self.script(&["--down"]);
        }
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// The process exists and is not a zombie (exited, not yet reaped by whoever adopted it).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Processes (not zombies) whose command line mentions `needle` (components, shims, the relay).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().parse().unwrap_or(0);
        if pid == 0 || !running(pid) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) {
                found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn local_up_cluster_runs_seed_003s_deployment_and_service_and_down_removes_everything() -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut c, out) = LocalUp::up(&["--no-tmux"])?;
    let ready_after = started.elapsed();
    assert!(out.contains("The cluster is up: node node1 is Ready"), "{out}");
    assert!(out.contains(&format!("export KUBECONFIG={}/kubeconfig", c.dir.display())), "{out}");
    assert!(out.contains(&format!("alias innode='nsenter --net=/var/run/netns/{}'", c.netns)), "{out}");

    // The host's real kubectl, through the relay, and through the kubeconfig the script wrote.
    let nodes = c.kubectl.ok(&["get", "nodes", "-o", "wide"])?;
    assert!(nodes.contains("node1") && nodes.contains(" Ready ") && nodes.contains("192.168.56.10"), "{nodes}");
    let via_kubeconfig = run(Command::new("kubectl").env("KUBECONFIG", c.dir.join("kubeconfig")).args(["get", "node", "node1", "-o", "name"]))?;
    assert_eq!(via_kubeconfig.trim(), "node/node1");
    let lite = run(Command::new(testutil::binary("kubectl-lite")?).env("KUBECONFIG", c.dir.join("kubeconfig")).args(["get", "nodes"]))?;
    assert!(lite.contains("node1") && lite.contains("Ready"), "kubectl-lite: {lite}");
    // The controller manager gave the node its pod CIDR.
    assert_eq!(c.kubectl.ok(&["get", "node", "node1", "-o", "jsonpath={.spec.podCIDR}"])?, "10.244.0.0/24");

    // Seed 003: a Deployment of zwindler/vhelloworld, scaled to 2, exposed on port 3000.
    let t = Instant::now();
    c.kubectl.ok(&["create", "deployment", "web", "--image=zwindler/vhelloworld"])?;
    c.kubectl.ok(&["scale", "deployment", "web", "--replicas=2"])?;
    c.eventually("2 web pods Running", 90, || {
        let phases = c.kubectl.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.phase}"]).ok()?;
        (phases.split_whitespace().filter(|p| *p == "Running").count() == 2).then_some(())
    })?;
    let running_after = t.elapsed();
    c.kubectl.ok(&["expose", "deployment", "web", "--port", "3000", "--target-port", "80"])?;
    let ip = c.kubectl.ok(&["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"])?;
    assert!(ip.starts_with("10.0.0."), "{ip}");

    // The ClusterIP answers inside the node's namespace, from both pods in turn.
    let url = format!("http://{ip}:3000/");
    let mut hostnames = BTreeSet::new();
    c.eventually("the ClusterIP to answer from both pods", 60, || {
        let body = run(c.innode("curl").args(["-sS", "--max-time", "3", &url])).ok()?;
        let host = body.split("My hostname is ").nth(1)?.split('<').next()?.to_string();
        hostnames.insert(host);
        (hostnames.len() == 2).then_some(())
    })?;
    assert!(hostnames.iter().all(|h| h.starts_with("web-")), "{hostnames:?}");
    // The host's network is untouched: no route for the Service or pod CIDRs there (looked
    // up, never tried: private addresses are only used inside the namespace).
    for cidr in ["10.0.0.0/24", "10.244.0.0/24"] {
        assert_eq!(run(Command::new("ip").args(["route", "show", cidr]))?.trim(), "", "a host route for {cidr}");
    }

    // kube-proxy's chains, in the namespace (seed 003's `iptables -t nat -L KUBE-SERVICES`).
    let services = run(c.innode("iptables").args(["-t", "nat", "-L", "KUBE-SERVICES"]))?;
    let rule = services.lines().find(|l| l.contains("default/web cluster IP")).with_context(|| services.clone())?;
    let chain = rule.split_whitespace().next().context("chain")?;
    assert!(chain.starts_with("KUBE-SVC-"), "{services}");
    let svc = run(c.innode("iptables").args(["-t", "nat", "-L", chain]))?;
    assert_eq!(svc.lines().filter(|l| l.starts_with("KUBE-SEP-")).count(), 2, "{svc}");

    // kubectl logs: the apiserver reaches the kubelet at the node's address.
    c.kubectl.ok(&["run", "hello", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hello from the pod; sleep 3600"])?;
    c.eventually("kubectl logs hello", 60, || c.kubectl.ok(&["logs", "hello"]).ok().filter(|l| l.contains("hello from the pod")))?;

    // --down: nothing of this cluster is left.
    let pids = c.pids()?;
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet", "registry", "relay"]
    );
    let pod_netns = c.pod_netns()?;
    assert_eq!(pod_netns.len(), 3, "one per pod: {pod_netns:?}");
    let t = Instant::now();
    let out = c.down()?;
    let down_after = t.elapsed();
    for (name, pid) in &pids {
        assert!(!running(*pid), "{name} (pid {pid}) still runs after --down:\n{out}");
    }
    let dir = c.dir.display().to_string();
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new(), "processes left (shims?)");
    assert_eq!(processes_mentioning(&format!("/var/run/netns/{} ", c.netns)), Vec::<String>::new());
    assert!(!Path::new(&format!("/var/run/netns/{}", c.netns)).exists(), "namespace left:\n{out}");
    for p in &pod_netns {
        assert!(!Path::new(p).exists(), "pod network namespace {p} left");
    }
    assert!(!c.dir.exists(), "data directory left:\n{out}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", c.port)).is_err(), "the relay still listens");
    // Idempotent.
    c.down()?;
    eprintln!("timings: node Ready {ready_after:?} after the script started; 2 pods Running {running_after:?} after create; --down {down_after:?}");
    Ok(())
}

#[test]
fn tmux_mode_opens_one_window_per_component_whose_first_line_is_its_command() -> anyhow::Result<()> {
    let (mut c, out) = LocalUp::up(&[])?;
    assert!(out.contains(&format!("tmux attach -t {}", c.netns)), "{out}");
    let session = format!("={}", c.netns);
    let windows = run(Command::new("tmux").args(["list-windows", "-t", &session, "-F", "#{window_name}"]))?;
    let windows: Vec<&str> = windows.lines().collect();
    assert_eq!(
        windows,
        ["etcd", "kube-apiserver", "relay", "kube-controller-manager", "kube-scheduler", "registry", "containerd", "kubelet", "kube-proxy"]
    );
    let ns = format!("$ nsenter --net=/var/run/netns/{} ", c.netns);
    for w in &windows {
        let pane = run(Command::new("tmux").args(["capture-pane", "-p", "-J", "-S", "-", "-t", &format!("{session}:{w}")]))?;
        let first = pane.lines().next().unwrap_or_default();
        let program = match *w {
            "relay" => "$ socat TCP-LISTEN:".to_string(),
            "registry" => format!("{ns}docker-registry serve "),
            "etcd" | "containerd" => format!("{ns}{w} "),
            _ => format!("{ns}{}/{w} ", testutil::binary(w)?.parent().context("dir")?.display()),
        };
        assert!(first.starts_with(&program), "window {w}: first line {first:?}, want {program:?}...");
        // The same line opens the component's log file.
        let log = std::fs::read_to_string(c.dir.join(format!("logs/{w}.log")))?;
        assert_eq!(log.lines().next(), Some(first), "window {w}");
    }
    let out = c.down()?;
    assert!(out.contains(&format!("closed tmux session {}", c.netns)), "{out}");
    assert!(Command::new("tmux").args(["has-session", "-t", &session]).output()?.status.code() != Some(0));
    assert!(!Path::new(&format!("/var/run/netns/{}", c.netns)).exists());
    Ok(())
}
