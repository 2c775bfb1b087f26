//! A private containerd for one test: its own root, state, socket and CNI conf dir under a
//! temp dir, configured by `hack/containerd.sh config` (so tests and humans use the same
//! configuration), running inside the test's [`NetNs`], with the project's images
//! (`hack/build-images.sh`) imported and a local [`Registry`] serving them under the seeds'
//! names (containerd's `docker.io` and `registry.k8s.io` mirrors point at it, so
//! `imagePullPolicy: Always` really pulls). Dropping it kills every task it runs, then
//! containerd and the registry, by PID, and removes the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::netns::{run, NetNs};
use crate::registry::{images, Registry, REGISTRY_ADDR};
use crate::unique_temp_dir;

/// The repository's `hack/` directory.
pub fn hack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack")
}

pub struct Containerd {
    /// The directory holding config, root, state, `cni/` and `containerd.log`.
    pub dir: PathBuf,
    /// The gRPC (CRI) socket.
    pub socket: PathBuf,
    /// The CNI conf dir containerd reads (the kubelet's `--cni-conf-dir`).
    pub cni_conf_dir: PathBuf,
    child: Option<Child>,
    _registry: Registry,
}

impl Containerd {
    /// Starts containerd in `netns` and imports the local images.
    pub fn start_in(netns: &NetNs) -> anyhow::Result<Containerd> {
        let images = images()?;
        let dir = unique_temp_dir()?;
        run(Command::new("bash").arg(hack_dir().join("containerd.sh")).arg("config").arg(&dir))?;
        let registry = Registry::serve_in(netns, &dir)?;
        let certs = dir.join("certs.d");
        run(Command::new("bash").arg(hack_dir().join("registry.sh")).arg("mirrors").arg(&certs).arg(REGISTRY_ADDR))?;
        let log = std::fs::File::create(dir.join("containerd.log")).context("create containerd.log")?;
        let child = netns
            .command("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start containerd")?;
        let ctd = Containerd { socket: dir.join("containerd.sock"), cni_conf_dir: dir.join("cni"), dir, child: Some(child), _registry: registry };
        let deadline = Instant::now() + Duration::from_secs(20);
        while run(&mut ctd.ctr(&["version"])).is_err() {
            if Instant::now() > deadline {
                bail!("containerd did not answer; see {}", ctd.dir.join("containerd.log").display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for name in ["pause", "busybox", "hello"] {
            let tar = images.images_dir.join(format!("{name}.tar"));
            run(&mut ctd.ctr(&["images", "import", tar.to_str().context("image path")?]))?;
        }
        Ok(ctd)
    }

    /// `ctr --address SOCK -n k8s.io ARGS...`
    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket).args(["-n", "k8s.io"]).args(args);
        c
    }

    /// IDs of the containers (sandboxes included) containerd knows.
    pub fn containers(&self) -> anyhow::Result<Vec<String>> {
        Ok(run(&mut self.ctr(&["containers", "ls", "-q"]))?.lines().map(String::from).collect())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let pod_netns = remove_all_containers(&self.socket);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_pod_netns(pod_netns);
        let _ = Command::new("umount").arg("-R").arg(self.dir.join("root")).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills every task of the containerd on `socket` and removes every container (sandboxes
/// included), so that no shim outlives it. Returns the pods' network namespaces (made by
/// CNI, named in each sandbox's spec), to remove with [`remove_pod_netns`] once containerd
/// is gone.
pub fn remove_all_containers(socket: &Path) -> Vec<String> {
    let ctr = |args: &[&str]| {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(socket).args(["-n", "k8s.io"]).args(args);
        c
    };
    // Tasks first: their shims outlive containerd otherwise.
    if let Ok(ids) = run(&mut ctr(&["tasks", "ls", "-q"])) {
        for id in ids.lines() {
            let _ = ctr(&["tasks", "kill", "-s", "SIGKILL", id]).status();
            let _ = ctr(&["tasks", "delete", "-f", id]).output();
        }
    }
    let mut pod_netns = Vec::new();
    if let Ok(ids) = run(&mut ctr(&["containers", "ls", "-q"])) {
        for id in ids.lines() {
            if let Ok(out) = ctr(&["containers", "info", id]).output() {
                pod_netns.extend(netns_paths(&String::from_utf8_lossy(&out.stdout)));
            }
            let _ = ctr(&["containers", "rm", id]).output();
        }
    }
    pod_netns.sort();
    pod_netns.dedup();
    pod_netns
}

/// Unmounts and removes the pods' network namespaces found by [`remove_all_containers`].
pub fn remove_pod_netns(paths: Vec<String>) {
    for path in paths {
        let _ = Command::new("umount").arg(&path).output();
        let _ = std::fs::remove_file(&path);
    }
}

/// The `/var/run/netns/cni-…` paths named in `ctr containers info` output.
fn netns_paths(info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = info;
    while let Some(i) = rest.find("/var/run/netns/cni-") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| c == '"' || c.is_whitespace()).unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}
