//! The harness of the kubelet end-to-end tests: a node is a network namespace, a private
//! containerd (with its local registry) and the kubelet binary as a child process, all
//! removed on drop (the kubelet killed by PID). The kubelet serves on 127.0.0.1:10250 of
//! the namespace; [`Node::get`] reaches it with curl through `nsenter`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kube_api::core::{ContainerStatus, Pod};
use kubelet::cri::{api, Cri};
use testutil::containerd::Containerd;
use testutil::netns::NetNs;

/// The kubelet serves HTTPS with a self-signed certificate (curl `-k`).
pub const KUBELET: &str = "https://127.0.0.1:10250";

pub struct Node {
    pub dir: PathBuf,
    kubelet: Option<Child>,
    pub ctd: Containerd,
    pub netns: NetNs,
}

impl Node {
    pub fn start() -> anyhow::Result<Node> {
        let netns = NetNs::create("kubelet-e2e")?;
        let ctd = Containerd::start_in(&netns)?;
        let dir = testutil::unique_temp_dir()?;
        std::fs::create_dir_all(dir.join("manifests"))?;
        let mut node = Node { dir, kubelet: None, ctd, netns };
        node.start_kubelet()?;
        Ok(node)
    }

    /// Starts the kubelet (again), appending to `kubelet.log`.
    pub fn start_kubelet(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("kubelet.log"))?;
        let kubelet = self
            .netns
            .command(testutil::binary("kubelet")?.to_str().context("path")?)
            .arg("--pod-manifest-path")
            .arg(self.dir.join("manifests"))
            .arg(format!("--container-runtime-endpoint=unix://{}", self.ctd.socket.display()))
            .args(["--pod-cidr", "10.88.0.0/24", "--hostname-override", "node1"])
            .args(["--address", "127.0.0.1", "--port", "10250", "--healthz-port", "10248"])
            .arg("--root-dir")
            .arg(self.dir.join("root"))
            .arg("--pod-logs-dir")
            .arg(self.dir.join("logs"))
            .arg("--cni-conf-dir")
            .arg(&self.ctd.cni_conf_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start kubelet")?;
        self.kubelet = Some(kubelet);
        Ok(())
    }

    /// Kills the kubelet (SIGKILL, by PID): its pods keep running in containerd.
    pub fn kill_kubelet(&mut self) {
        if let Some(mut k) = self.kubelet.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
    }

    pub fn manifest(&self, name: &str) -> PathBuf {
        self.dir.join("manifests").join(name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kubelet.log")).unwrap_or_default()
    }

    pub async fn cri(&self) -> anyhow::Result<Cri> {
        Ok(Cri::connect(&format!("unix://{}", self.ctd.socket.display())).await?)
    }

    /// `curl -s URL` inside the node's namespace: (HTTP status, body).
    pub fn get(&self, path_and_query: &str) -> anyhow::Result<(u16, String)> {
        let out = self
            .netns
            .command("curl")
            .args(["-sk", "-m", "10", "-w", "\n%{http_code}", &format!("{KUBELET}{path_and_query}")])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }

    /// The pod named `name` (a static pod is `NAME-node1`) from the kubelet's `/pods`.
    pub fn pod(&self, name: &str) -> anyhow::Result<Option<Pod>> {
        let (code, body) = self.get("/pods")?;
        if code != 200 {
            return Ok(None);
        }
        let list: serde_json::Value = serde_json::from_str(&body).context("parse /pods")?;
        let items: Vec<Pod> = serde_json::from_value(list["items"].clone())?;
        Ok(items.into_iter().find(|p| p.metadata.name == format!("{name}-node1")))
    }

    /// The status of container `container` of pod `name`, once the kubelet reports one.
    pub fn container_status(&self, name: &str, container: &str) -> anyhow::Result<Option<ContainerStatus>> {
        Ok(self.pod(name)?.and_then(|p| p.status.container_statuses.into_iter().find(|s| s.name == container)))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_kubelet();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, node: &Node, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}; kubelet log:\n{}", node.log());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The running containers, by spec name → container id.
pub async fn running(cri: &Cri) -> anyhow::Result<Vec<(String, String)>> {
    Ok(cri
        .list_containers(Default::default())
        .await?
        .into_iter()
        .filter(|c| c.state == api::ContainerState::ContainerRunning as i32)
        .map(|c| (c.metadata.map(|m| m.name).unwrap_or_default(), c.id))
        .collect())
}

pub async fn exec(cri: &Cri, id: &str, script: &str) -> anyhow::Result<String> {
    let out = cri.exec_sync(id, vec!["/bin/sh".into(), "-c".into(), script.into()], 10).await?;
    if out.exit_code != 0 {
        bail!("exec {script:?} exited {}: {}", out.exit_code, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes the manifest and waits until the pod's containers, sandbox and directory are gone.
pub async fn remove_and_wait_until_gone(node: &Node, file: &str) -> anyhow::Result<()> {
    std::fs::remove_file(node.manifest(file))?;
    wait_until_gone(node, &node.cri().await?, &node.dir.join("root")).await
}

pub async fn wait_until_gone(node: &Node, cri: &Cri, root: &Path) -> anyhow::Result<()> {
    eventually("the pod's containers and sandbox to be removed", Duration::from_secs(60), node, || async {
        let containers = cri.list_containers(Default::default()).await?;
        let sandboxes = cri.list_pod_sandboxes(Default::default()).await?;
        Ok((containers.is_empty() && sandboxes.is_empty()).then_some(()))
    })
    .await?;
    let pods = std::fs::read_dir(root.join("pods")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(pods, 0, "the pod's directory (and its emptyDir) is removed");
    assert!(node.ctd.containers()?.is_empty(), "containerd has no containers left");
    Ok(())
}
