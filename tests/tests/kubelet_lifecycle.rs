//! The kubelet's pod lifecycle, standalone, on a private containerd inside a network
//! namespace: restart policy and crash-loop back-off, liveness and readiness probes, image
//! pull failures, adopting running containers after a kubelet restart, and container logs
//! served on `/containerLogs`. The tests read the pod status the kubelet computes from its
//! `/pods` endpoint. Every pod has `terminationGracePeriodSeconds: 1`: busybox shells ignore
//! SIGTERM as PID 1, and a 30 s grace period per test would make the suite slow.

mod kubelet_node;

use std::time::{Duration, Instant};

use kubelet_node::{eventually, exec, remove_and_wait_until_gone, running, Node};

/// A one-container busybox pod; `extra` is YAML appended to the container (indented 4).
fn pod(name: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    command: [/bin/sh, -c, '{script}']\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_container_restarts_with_growing_back_off_and_shows_crash_loop_back_off() -> anyhow::Result<()> {
    let node = Node::start()?;
    std::fs::write(node.manifest("crash.yaml"), pod("crash", "echo crashing; exit 1", ""))?;

    // The first restart is immediate and arms a 10 s back-off; the second waits it out.
    let first = eventually("restartCount 1", Duration::from_secs(60), &node, || async {
        Ok(node.container_status("crash", "main")?.filter(|s| s.restart_count == 1).map(|_| Instant::now()))
    })
    .await?;
    let waiting = eventually("CrashLoopBackOff", Duration::from_secs(30), &node, || async {
        let s = node.container_status("crash", "main")?;
        Ok(s.filter(|s| s.state.waiting.as_ref().is_some_and(|w| w.reason == "CrashLoopBackOff")))
    })
    .await?;
    let last = waiting.last_state.terminated.as_ref().expect("the last exit is the last state");
    assert_eq!((last.exit_code, last.reason.as_str()), (1, "Error"));
    assert!(waiting.state.waiting.unwrap().message.starts_with("back-off 10s restarting failed container=main pod=crash-node1"));
    let pod = node.pod("crash")?.expect("pod listed");
    assert_eq!(pod.status.phase, "Running", "Always restarts: the pod stays Running");

    let second = eventually("restartCount 2", Duration::from_secs(40), &node, || async {
        Ok(node.container_status("crash", "main")?.filter(|s| s.restart_count >= 2).map(|_| Instant::now()))
    })
    .await?;
    let waited = second - first;
    assert!(waited >= Duration::from_secs(8), "the back-off was respected: restarted after {waited:?}");

    remove_and_wait_until_gone(&node, "crash.yaml").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_failing_its_liveness_probe_is_restarted() -> anyhow::Result<()> {
    let node = Node::start()?;
    let probe = "    livenessProbe:\n      exec:\n        command: [cat, /tmp/healthy]\n      periodSeconds: 1\n      failureThreshold: 2\n";
    std::fs::write(node.manifest("live.yaml"), pod("live", "touch /tmp/healthy; exec sleep 3600", probe))?;
    let cri = node.cri().await?;
    let id = eventually("the container to run", Duration::from_secs(60), &node, || async {
        Ok(running(&cri).await?.into_iter().next().map(|(_, id)| id))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = node.container_status("live", "main")?.expect("status");
    assert_eq!(s.restart_count, 0, "a passing liveness probe leaves the container alone");

    exec(&cri, &id, "rm /tmp/healthy").await?;
    let restarted = eventually("a restart after the liveness probe failed", Duration::from_secs(30), &node, || async {
        Ok(node.container_status("live", "main")?.filter(|s| s.restart_count == 1 && s.state.running.is_some()))
    })
    .await?;
    assert_ne!(restarted.container_id, format!("containerd://{id}"), "a new container");
    let log = node.log();
    assert!(log.contains("Liveness probe failed"), "{log}");
    assert!(log.contains("Container main failed liveness probe, will be restarted"), "{log}");

    remove_and_wait_until_gone(&node, "live.yaml").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_readiness_probe_toggles_the_container_and_the_pod_ready() -> anyhow::Result<()> {
    let node = Node::start()?;
    let probe = "    readinessProbe:\n      exec:\n        command: [cat, /tmp/ready]\n      periodSeconds: 1\n";
    std::fs::write(node.manifest("ready.yaml"), pod("ready", "exec sleep 3600", probe))?;
    let cri = node.cri().await?;
    let ready = |want: bool| {
        let node = &node;
        async move {
            let Some(p) = node.pod("ready")? else { return Ok(None) };
            let cond = |t: &str| p.status.conditions.iter().any(|c| c.type_ == t && c.status == if want { "True" } else { "False" });
            let s = p.status.container_statuses.first();
            let running = s.is_some_and(|s| s.state.running.is_some());
            Ok((running && s.is_some_and(|s| s.ready == want) && cond("Ready") && cond("ContainersReady")).then_some(()))
        }
    };
    eventually("running but not ready", Duration::from_secs(60), &node, || ready(false)).await?;
    let (_, id) = running(&cri).await?.into_iter().next().expect("running");
    exec(&cri, &id, "touch /tmp/ready").await?;
    eventually("ready", Duration::from_secs(10), &node, || ready(true)).await?;
    exec(&cri, &id, "rm /tmp/ready").await?;
    eventually("not ready again", Duration::from_secs(10), &node, || ready(false)).await?;
    assert_eq!(node.container_status("ready", "main")?.expect("status").restart_count, 0, "readiness never restarts");

    remove_and_wait_until_gone(&node, "ready.yaml").await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_in_no_registry_gives_err_image_pull_then_image_pull_back_off() -> anyhow::Result<()> {
    let node = Node::start()?;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: missing\nspec:\n  containers:\n  - name: main\n    image: no-such-image\n";
    std::fs::write(node.manifest("missing.yaml"), manifest)?;
    let waiting = |reason: &'static str| {
        let node = &node;
        async move {
            let s = node.container_status("missing", "main")?;
            Ok(s.and_then(|s| s.state.waiting).filter(|w| w.reason == reason))
        }
    };
    let err = eventually("ErrImagePull", Duration::from_secs(60), &node, || waiting("ErrImagePull")).await?;
    assert!(err.message.contains("docker.io/library/no-such-image:latest") && err.message.contains("not found"), "{}", err.message);
    let back_off = eventually("ImagePullBackOff", Duration::from_secs(20), &node, || waiting("ImagePullBackOff")).await?;
    assert_eq!(back_off.message, "Back-off pulling image \"no-such-image\"");
    assert_eq!(node.pod("missing")?.expect("pod").status.phase, "Pending");

    remove_and_wait_until_gone(&node, "missing.yaml").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_kubelet_adopts_the_running_containers() -> anyhow::Result<()> {
    let mut node = Node::start()?;
    std::fs::write(node.manifest("adopt.yaml"), pod("adopt", "exec sleep 3600", ""))?;
    let cri = node.cri().await?;
    let before = eventually("the container to run", Duration::from_secs(60), &node, || async {
        let r = running(&cri).await?;
        Ok((!r.is_empty()).then_some(r))
    })
    .await?;
    let sandboxes = cri.list_pod_sandboxes(Default::default()).await?;

    node.kill_kubelet();
    node.start_kubelet()?;
    let s = eventually("the new kubelet to report the pod", Duration::from_secs(30), &node, || async {
        Ok(node.container_status("adopt", "main")?.filter(|s| s.state.running.is_some()))
    })
    .await?;
    // A few relists later nothing has been touched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(running(&cri).await?, before, "the same containers run");
    let after: Vec<String> = cri.list_pod_sandboxes(Default::default()).await?.into_iter().map(|s| s.id).collect();
    assert_eq!(after, sandboxes.into_iter().map(|s| s.id).collect::<Vec<_>>(), "the same sandbox");
    assert_eq!(s.restart_count, 0);
    assert_eq!(s.container_id, format!("containerd://{}", before[0].1));

    remove_and_wait_until_gone(&node, "adopt.yaml").await
}

#[tokio::test(flavor = "multi_thread")]
async fn container_logs_are_served_with_tail_timestamps_and_follow() -> anyhow::Result<()> {
    let node = Node::start()?;
    let script = "for i in 0 1 2 3 4; do echo line $i; done; i=5; while true; do echo line $i; i=$((i+1)); sleep 0.2; done";
    std::fs::write(node.manifest("logs.yaml"), pod("logs", script, ""))?;
    let path = "/containerLogs/default/logs-node1/main";
    eventually("five lines of log", Duration::from_secs(60), &node, || async {
        let (code, body) = node.get(path)?;
        Ok((code == 200 && body.lines().count() >= 5).then_some(()))
    })
    .await?;

    let (_, all) = node.get(path)?;
    assert!(all.starts_with("line 0\nline 1\nline 2\nline 3\nline 4\n"), "{all}");
    let (_, tail) = node.get(&format!("{path}?tailLines=2"))?;
    assert_eq!(tail.lines().count(), 2, "{tail}");
    let (_, stamped) = node.get(&format!("{path}?tailLines=1&timestamps=true"))?;
    let (ts, text) = stamped.trim_end().split_once(' ').expect("timestamp and text");
    assert!(chrono_like(ts) && text.starts_with("line "), "{stamped}");

    // follow: the answer keeps growing until the client hangs up (curl -m 2).
    let out = node
        .netns
        .command("curl")
        .args(["-sk", "-N", "-m", "2", &format!("{}{path}?follow=true&tailLines=1", kubelet_node::KUBELET)])
        .output()?;
    let followed = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u32> = followed.lines().filter_map(|l| l.strip_prefix("line ")?.parse().ok()).collect();
    assert!(numbers.len() >= 5, "followed lines keep coming: {followed:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "in order, none lost: {numbers:?}");

    let (code, body) = node.get("/containerLogs/default/logs-node1/nope")?;
    assert_eq!(code, 400, "{body}");
    let (code, _) = node.get("/healthz")?;
    assert_eq!(code, 200);
    let (_, metrics) = node.get("/metrics")?;
    assert!(metrics.contains("kubelet_running_pods 1"), "{metrics}");

    remove_and_wait_until_gone(&node, "logs.yaml").await
}

/// `2026-11-24T22:17:59.290446266Z`-shaped.
fn chrono_like(ts: &str) -> bool {
    ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T'
}
