//! The kubelet in standalone mode (seed 000): static pods from `--pod-manifest-path`, on a
//! private containerd with real runc and CNI, everything inside a network namespace the
//! test creates. The test reads the runtime through the kubelet's own CRI client.
//!
//! Seed 000's manifest is used verbatim: `image: nginx` defaults to `imagePullPolicy:
//! Always`, so the kubelet pulls, from the test's local registry (testutil's `Containerd`
//! points containerd's `docker.io` mirror at it).

mod kubelet_node;

use std::time::Duration;

use anyhow::Context;
use kubelet_node::{eventually, exec, running, wait_until_gone, Node};

/// Seed 000's pod, verbatim (our hello image is pushed as `nginx`).
const SEED_000_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx
    ports:
    - containerPort: 80
    volumeMounts:
    - mountPath: /var/log/nginx
      name: nginx-logs
  - name: log-truncator
    image: busybox
    command:
    - /bin/sh
    args: [-c, 'while true; do cat /dev/null > /logdir/access.log; sleep 10; done']
    volumeMounts:
    - mountPath: /logdir
      name: nginx-logs
  volumes:
  - name: nginx-logs
    emptyDir: {}
"#;

const HELLO_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hello
    image: docker.io/library/hello:latest
    imagePullPolicy: Never
"#;

#[tokio::test(flavor = "multi_thread")]
async fn seed_000_pod_runs_both_containers_shares_its_empty_dir_and_goes_away_with_its_file() -> anyhow::Result<()> {
    let node = Node::start()?;
    std::fs::write(node.manifest("nginx.yml"), SEED_000_POD)?;
    let cri = node.cri().await?;

    let containers = eventually("nginx and log-truncator to run", Duration::from_secs(60), &node, || async {
        let r = running(&cri).await?;
        Ok((r.len() == 2).then_some(r))
    })
    .await?;
    let id = |name: &str| containers.iter().find(|(n, _)| n == name).map(|(_, id)| id.clone()).context(name.to_string());
    let (nginx, truncator) = (id("nginx")?, id("log-truncator")?);

    // `image: nginx` (no tag) defaults to `Always`: both images came from the local registry.
    for image in ["nginx", "busybox"] {
        assert!(node.log().contains(&format!("Successfully pulled image \"{image}\"")), "{}", node.log());
    }

    // The sandbox carries upstream's labels, so a restarted kubelet can find the pod again.
    let sandboxes = cri.list_pod_sandboxes(Default::default()).await?;
    assert_eq!(sandboxes.len(), 1);
    assert_eq!(sandboxes[0].labels["io.kubernetes.pod.name"], "nginx-node1");
    assert_eq!(sandboxes[0].labels["io.kubernetes.pod.namespace"], "default");

    // One container writes into the emptyDir, the other reads it.
    exec(&cri, &nginx, "echo written-by-nginx > /var/log/nginx/shared.txt").await?;
    assert_eq!(exec(&cri, &truncator, "cat /logdir/shared.txt").await?.trim(), "written-by-nginx");

    std::fs::remove_file(node.manifest("nginx.yml"))?;
    // The busybox shell ignores SIGTERM as PID 1: the stop takes the 30 s grace period.
    wait_until_gone(&node, &cri, &node.dir.join("root")).await?;
    assert!(node.log().contains("pod killed"), "{}", node.log());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hello_container_answers_http_on_its_pod_ip_inside_the_node_namespace() -> anyhow::Result<()> {
    let node = Node::start()?;
    std::fs::write(node.manifest("hello.yaml"), HELLO_POD)?;
    let cri = node.cri().await?;
    let ip = eventually("the hello pod to run with an IP", Duration::from_secs(60), &node, || async {
        if running(&cri).await?.is_empty() {
            return Ok(None);
        }
        let sandboxes = cri.list_pod_sandboxes(Default::default()).await?;
        let Some(s) = sandboxes.first() else { return Ok(None) };
        let ip = cri.pod_sandbox_status(&s.id).await?.network.map(|n| n.ip).unwrap_or_default();
        Ok((!ip.is_empty()).then_some(ip))
    })
    .await?;
    assert!(ip.starts_with("10.88.0."), "pod IP {ip} from --pod-cidr");

    let body = eventually("an HTTP answer", Duration::from_secs(20), &node, || async {
        let out = node.netns.command("curl").args(["-s", "-m", "3", &format!("http://{ip}/")]).output()?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(body.contains("My hostname is").then_some(body))
    })
    .await?;
    assert!(body.contains("My hostname is hello-node1"), "{body}");

    std::fs::remove_file(node.manifest("hello.yaml"))?;
    wait_until_gone(&node, &cri, &node.dir.join("root")).await
}
