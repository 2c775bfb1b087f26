//! Pod start-up latency: the bare CRI floor against the kubelet, standalone and through the
//! apiserver.
//!
//! Run with (as root; builds the binaries first, release as the figures should be):
//!     cargo build --release -p kubelet -p kube-apiserver --bins --examples && target/release/examples/pod_startup
//!
//! Inside a network namespace it creates, on a private containerd (testutil's, with the
//! local registry), for 1, 10 and 50 pods started at once:
//! - **API**: the whole path — etcd and the apiserver on the host's loopback (relayed into
//!   the namespace), the kubelet in API mode; the pods are created through the API with
//!   `spec.nodeName` set, all at once, and a pod's latency is from the start of the batch
//!   until a watcher (a watch on the namespace's pods) sees it `Running`.
//! - **CRI**: RunPodSandbox + CreateContainer + StartContainer per pod, all pods
//!   concurrently; a pod's latency is from the start of the batch to its StartContainer
//!   returning.
//! - **kubelet**: the manifests are written into `--pod-manifest-path` at once; a pod's
//!   latency is from then until the runtime reports its container running (polled every
//!   20 ms through CRI).
//!
//! Pods are busybox `exec sleep 3600` with `imagePullPolicy: IfNotPresent` (the image is
//! imported), so neither side pulls. Everything is removed between batches.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kubelet::cri::{api, Cri};
use testutil::containerd::Containerd;
use testutil::netns::NetNs;

const COUNTS: [usize; 3] = [1, 10, 50];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let netns = NetNs::create("pod-startup")?;
    let ctd = Containerd::start_in(&netns)?;
    let cri = Cri::connect(&format!("unix://{}", ctd.socket.display())).await?;
    let dir = testutil::unique_temp_dir()?;
    // The bare CRI pods need a network config too: the kubelet writes the same one.
    kubelet::cni::write(&ctd.cni_conf_dir, "10.88.0.0/16", &dir)?;

    let mut rows = Vec::new();
    for n in COUNTS {
        let cri_latencies = bare_cri(&cri, &dir, n).await?;
        cleanup(&cri).await?;
        rows.push(("CRI RunPodSandbox+CreateContainer+StartContainer", n, cri_latencies));
    }
    let result = kubelet_runs(&netns, &ctd, &cri, &dir, &mut rows).await;
    cleanup(&cri).await?;
    result?;
    let result = api_runs(&netns, &ctd, &cri, &dir, &mut rows).await;
    cleanup(&cri).await?;
    let _ = std::fs::remove_dir_all(&dir);
    result?;

    println!("\n{:<56} {:>5} {:>9} {:>9} {:>13}", "path", "pods", "p50 (ms)", "p99 (ms)", "p50 / floor");
    let percentile = |l: &[Duration], q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1].as_secs_f64() * 1000.0;
    let mut floor: HashMap<usize, f64> = HashMap::new();
    for (what, n, mut l) in rows {
        l.sort();
        let (p50, p99) = (percentile(&l, 0.5), percentile(&l, 0.99));
        let ratio = match floor.get(&n) {
            Some(f) => format!("{:.1}x", p50 / f),
            None => {
                floor.insert(n, p50);
                "(floor)".to_string()
            }
        };
        println!("{what:<56} {n:>5} {p50:>9.0} {p99:>9.0} {ratio:>13}");
    }
    Ok(())
}

fn sandbox_config(name: &str, log_dir: &std::path::Path) -> api::PodSandboxConfig {
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata { name: name.into(), uid: format!("uid-{name}"), namespace: "bench".into(), attempt: 0 }),
        hostname: name.into(),
        log_directory: log_dir.join(name).display().to_string(),
        linux: Some(api::LinuxPodSandboxConfig::default()),
        ..Default::default()
    }
}

async fn bare_cri(cri: &Cri, dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<Duration>> {
    let start = Instant::now();
    let runs = (0..n).map(|i| {
        let cri = cri.clone();
        let sandbox = sandbox_config(&format!("cri-{n}-{i}"), &dir.join("logs"));
        async move {
            std::fs::create_dir_all(&sandbox.log_directory)?;
            let id = cri.run_pod_sandbox(sandbox.clone()).await?;
            let config = api::ContainerConfig {
                metadata: Some(api::ContainerMetadata { name: "main".into(), attempt: 0 }),
                image: Some(api::ImageSpec { image: "docker.io/library/busybox:latest".into(), ..Default::default() }),
                command: vec!["/bin/sh".into(), "-c".into(), "exec sleep 3600".into()],
                log_path: "main.log".into(),
                ..Default::default()
            };
            let c = cri.create_container(&id, config, sandbox).await?;
            cri.start_container(&c).await?;
            anyhow::Ok(start.elapsed())
        }
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

async fn kubelet_runs(
    netns: &NetNs,
    ctd: &Containerd,
    cri: &Cri,
    dir: &std::path::Path,
    rows: &mut Vec<(&'static str, usize, Vec<Duration>)>,
) -> anyhow::Result<()> {
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests)?;
    let log = std::fs::File::create(dir.join("kubelet.log"))?;
    let mut kubelet = netns
        .command(testutil::binary("kubelet")?.to_str().context("path")?)
        .arg("--pod-manifest-path")
        .arg(&manifests)
        .arg(format!("--container-runtime-endpoint=unix://{}", ctd.socket.display()))
        .args(["--pod-cidr", "10.88.0.0/16", "--hostname-override", "bench", "--port", "0", "--healthz-port", "0"])
        .arg("--root-dir")
        .arg(dir.join("root"))
        .arg("--pod-logs-dir")
        .arg(dir.join("pod-logs"))
        .arg("--cni-conf-dir")
        .arg(&ctd.cni_conf_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let result = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for n in COUNTS {
            let start = Instant::now();
            for i in 0..n {
                let name = format!("k-{n}-{i}");
                let pod = format!(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: bench\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [/bin/sh, -c, 'exec sleep 3600']\n"
                );
                std::fs::write(manifests.join(format!("{name}.yaml")), pod)?;
            }
            let mut seen: HashMap<String, Duration> = HashMap::new();
            while seen.len() < n {
                if start.elapsed() > Duration::from_secs(180) {
                    bail!("only {} of {n} pods ran within 180 s; see {}", seen.len(), dir.join("kubelet.log").display());
                }
                for c in cri.list_containers(Default::default()).await? {
                    if c.state == api::ContainerState::ContainerRunning as i32 {
                        let pod = c.labels.get("io.kubernetes.pod.name").cloned().unwrap_or_default();
                        seen.entry(pod).or_insert_with(|| start.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            rows.push(("standalone kubelet: manifest file -> container running", n, seen.into_values().collect()));
            for entry in std::fs::read_dir(&manifests)? {
                std::fs::remove_file(entry?.path())?;
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while !cri.list_pod_sandboxes(Default::default()).await?.is_empty() {
                if Instant::now() > deadline {
                    bail!("pods were not removed in time");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = kubelet.kill();
    let _ = kubelet.wait();
    result
}

/// The whole path: pods created through the apiserver with `nodeName`, Running seen by a
/// watcher.
async fn api_runs(
    netns: &NetNs,
    ctd: &Containerd,
    cri: &Cri,
    dir: &std::path::Path,
    rows: &mut Vec<(&'static str, usize, Vec<Duration>)>,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    use kube_api::core::Pod;
    use kube_client::{Api, Client, PostParams, WatchParams};

    let apiserver = testutil::ApiServer::start()?;
    netns.forward_loopback(apiserver.port)?;
    let client = Client::new(kube_client::Config::from_server(&apiserver.url)?)?;
    let log = std::fs::File::create(dir.join("kubelet-api.log"))?;
    let mut kubelet = netns
        .command(testutil::binary("kubelet")?.to_str().context("path")?)
        .arg(format!("--api-servers=127.0.0.1:{}", apiserver.port))
        .arg(format!("--container-runtime-endpoint=unix://{}", ctd.socket.display()))
        .args(["--pod-cidr", "10.88.0.0/16", "--hostname-override", "bench", "--port", "0", "--healthz-port", "0"])
        .arg("--root-dir")
        .arg(dir.join("root-api"))
        .arg("--pod-logs-dir")
        .arg(dir.join("pod-logs-api"))
        .arg("--cni-conf-dir")
        .arg(&ctd.cni_conf_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let result = async {
        let ns: kube_api::core::Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "bench"}}))?;
        Api::all(client.clone()).create(&ns).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
        let nodes: Api<kube_api::core::Node> = Api::all(client.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        while nodes.get_opt("bench").await?.is_none() {
            if Instant::now() > deadline {
                bail!("the kubelet did not register; see {}", dir.join("kubelet-api.log").display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for n in COUNTS {
            let list = pods.list(&Default::default()).await?;
            let mut watch = pods.watch(&WatchParams::from_version(&list.metadata.resource_version)).await?;
            let start = Instant::now();
            let creates = (0..n).map(|i| {
                let pods = pods.clone();
                async move {
                    let pod: Pod = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": format!("a-{n}-{i}")},
                        "spec": {"nodeName": "bench", "terminationGracePeriodSeconds": 1, "containers": [{
                            "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-c", "exec sleep 3600"]}]}
                    }))?;
                    pods.create_with(&pod, &PostParams::default()).await?;
                    anyhow::Ok(())
                }
            });
            futures::future::try_join_all(creates).await?;
            let mut seen: HashMap<String, Duration> = HashMap::new();
            while seen.len() < n {
                let event = tokio::time::timeout(Duration::from_secs(180), watch.next()).await;
                let Ok(Some(event)) = event else { bail!("only {} of {n} pods Running; see {}", seen.len(), dir.join("kubelet-api.log").display()) };
                if let kube_client::Event::Modified(p) | kube_client::Event::Added(p) = event? {
                    if p.status.phase == "Running" {
                        seen.entry(p.metadata.name.clone()).or_insert_with(|| start.elapsed());
                    }
                }
            }
            rows.push(("API: create with nodeName -> Running seen by a watcher", n, seen.into_values().collect()));
            for i in 0..n {
                pods.delete(&format!("a-{n}-{i}"), &Default::default()).await?;
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while !pods.list(&Default::default()).await?.items.is_empty() || !cri.list_pod_sandboxes(Default::default()).await?.is_empty() {
                if Instant::now() > deadline {
                    bail!("pods were not removed in time");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = kubelet.kill();
    let _ = kubelet.wait();
    drop(apiserver);
    result
}

async fn cleanup(cri: &Cri) -> anyhow::Result<()> {
    for c in cri.list_containers(Default::default()).await? {
        let _ = cri.stop_container(&c.id, 0).await;
        let _ = cri.remove_container(&c.id).await;
    }
    for s in cri.list_pod_sandboxes(Default::default()).await? {
        let _ = cri.stop_pod_sandbox(&s.id).await;
        let _ = cri.remove_pod_sandbox(&s.id).await;
    }
    Ok(())
}
