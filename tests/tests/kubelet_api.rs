//! The kubelet in API mode (seed 000's `kubelet --api-servers=127.0.0.1:8080`): etcd, the
//! apiserver, containerd and the kubelet all run inside one network namespace the test
//! creates (a namespace cannot reach the host's loopback), and the test drives them with the
//! real kubectl through `nsenter`. It reads the runtime through the kubelet's CRI client.
//!
//! Until the local registry exists, pods say `imagePullPolicy: IfNotPresent`.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kubelet::cri::{api, Cri};
use serde_json::Value;
use testutil::containerd::Containerd;
use testutil::netns::{run, NetNs};
use testutil::netns_apiserver::NetnsApiServer;
use testutil::Kubectl;

/// The node's own address inside the namespace (its InternalIP).
const NODE_IP: &str = "10.200.0.2";

/// One node and its control plane, in one namespace. Drop order: kubelet, containerd,
/// apiserver, namespace.
struct Cluster {
    dir: PathBuf,
    kubelet: Child,
    kubectl: Kubectl,
    ctd: Containerd,
    api: NetnsApiServer,
    netns: NetNs,
}

impl Cluster {
    fn start() -> anyhow::Result<Cluster> {
        let netns = NetNs::create("kubelet-api")?;
        run(netns.command("ip").args(["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"]))?;
        let api = NetnsApiServer::start_in(&netns)?;
        let kubectl = api.kubectl()?;
        let ctd = Containerd::start_in(&netns)?;
        let dir = testutil::unique_temp_dir()?;
        std::fs::create_dir_all(dir.join("manifests"))?;
        let log = std::fs::File::create(dir.join("kubelet.log"))?;
        let kubelet = netns
            .command(testutil::binary("kubelet")?.to_str().context("path")?)
            .arg("--api-servers=127.0.0.1:8080")
            .arg("--pod-manifest-path")
            .arg(dir.join("manifests"))
            .arg(format!("--container-runtime-endpoint=unix://{}", ctd.socket.display()))
            .args(["--pod-cidr", "10.88.0.0/24", "--hostname-override", "Node1"])
            .args(["--node-labels=tier=lab", "--node-status-update-frequency=1s"])
            .arg("--root-dir")
            .arg(dir.join("root"))
            .arg("--pod-logs-dir")
            .arg(dir.join("logs"))
            .arg("--cni-conf-dir")
            .arg(&ctd.cni_conf_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start kubelet")?;
        Ok(Cluster { dir, kubelet, kubectl, ctd, api, netns })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kubelet.log")).unwrap_or_default()
    }

    /// `kubectl get ARGS -o json`, or `None` when kubectl fails (not found, ...).
    fn get_json(&self, args: &[&str]) -> anyhow::Result<Option<Value>> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl.run(&all)?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Some(serde_json::from_slice(&out.stdout)?))
    }

    fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self.kubectl.run_with_input(&["create", "-f", "-"], yaml)?;
        if !out.status.success() {
            bail!("kubectl create failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    async fn cri(&self) -> anyhow::Result<Cri> {
        Ok(Cri::connect(&format!("unix://{}", self.ctd.socket.display())).await?)
    }

    /// Polls `check` every 250 ms until it returns `Some`, or fails after `timeout`.
    async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
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
                bail!("timed out waiting for {what}; kubelet log:\n{}\napiserver log (tail):\n{}", self.log(), tail(&self.api.log(), 30));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.kubelet.kill();
        let _ = self.kubelet.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == type_)
}

/// The running containers of pod `name`: spec name → container id.
async fn running(cri: &Cri, pod: &str) -> anyhow::Result<Vec<(String, String)>> {
    let labels = [("io.kubernetes.pod.name".to_string(), pod.to_string())].into();
    Ok(cri
        .list_containers(labels)
        .await?
        .into_iter()
        .filter(|c| c.state == api::ContainerState::ContainerRunning as i32)
        .map(|c| (c.metadata.map(|m| m.name).unwrap_or_default(), c.id))
        .collect())
}

async fn exec(cri: &Cri, id: &str, script: &str) -> anyhow::Result<String> {
    let out = cri.exec_sync(id, vec!["/bin/sh".into(), "-c".into(), script.into()], 10).await?;
    if out.exit_code != 0 {
        bail!("exec {script:?} exited {}: {}", out.exit_code, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const STATIC_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: docker.io/library/hello:latest
    imagePullPolicy: IfNotPresent
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_node_registers_ready_renews_its_lease_and_mirrors_its_static_pods() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    std::fs::write(c.dir.join("manifests/static-web.yaml"), STATIC_POD)?;

    let node = c
        .eventually("node1 to be Ready", Duration::from_secs(60), || async {
            let node = c.get_json(&["node", "node1"])?;
            Ok(node.filter(|n| condition(n, "Ready").is_some_and(|r| r["status"] == "True")))
        })
        .await?;
    let ready = condition(&node, "Ready").context("Ready")?;
    assert_eq!((ready["reason"].as_str(), ready["message"].as_str()), (Some("KubeletReady"), Some("kubelet is posting ready status")));
    assert_eq!(str_at(&node, "/metadata/labels/kubernetes.io~1hostname"), "node1", "the name is lowercased");
    assert_eq!(str_at(&node, "/metadata/labels/kubernetes.io~1os"), "linux");
    assert_eq!(str_at(&node, "/metadata/labels/tier"), "lab", "--node-labels");
    assert_eq!(str_at(&node, "/spec/podCIDR"), "10.88.0.0/24");
    assert_eq!(str_at(&node, "/status/capacity/pods"), "110");
    assert!(str_at(&node, "/status/capacity/memory").ends_with("Ki"));
    assert_eq!(str_at(&node, "/status/addresses/0/address"), NODE_IP, "InternalIP from the namespace");
    assert!(str_at(&node, "/status/nodeInfo/containerRuntimeVersion").starts_with("containerd://1.6"));
    assert_eq!(str_at(&node, "/status/nodeInfo/kubeletVersion"), "v1.33.0");
    assert_eq!(node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port"), Some(&Value::from(10250)));

    let wide = c.kubectl.ok(&["get", "nodes"])?;
    assert!(wide.contains("node1") && wide.contains("Ready"), "{wide}");

    // The heartbeat: the Lease's renewTime moves (every 10 s).
    let lease = c
        .eventually("the node's lease", Duration::from_secs(20), || async { c.get_json(&["lease", "-n", "kube-node-lease", "node1"]) })
        .await?;
    assert_eq!(lease.pointer("/spec/leaseDurationSeconds"), Some(&Value::from(40)));
    let first = str_at(&lease, "/spec/renewTime").to_string();
    c.eventually("the lease to be renewed", Duration::from_secs(25), || async {
        let lease = c.get_json(&["lease", "-n", "kube-node-lease", "node1"])?;
        Ok(lease.filter(|l| str_at(l, "/spec/renewTime") != first))
    })
    .await?;

    // The static pod runs and shows up in the API as a mirror pod with its status.
    let mirror = c
        .eventually("the mirror pod to be Running", Duration::from_secs(60), || async {
            let pod = c.get_json(&["pod", "static-web-node1"])?;
            Ok(pod.filter(|p| str_at(p, "/status/phase") == "Running"))
        })
        .await?;
    assert_eq!(str_at(&mirror, "/metadata/annotations/kubernetes.io~1config.source"), "file");
    assert!(!str_at(&mirror, "/metadata/annotations/kubernetes.io~1config.mirror").is_empty());
    assert_eq!(str_at(&mirror, "/metadata/ownerReferences/0/kind"), "Node");
    assert_eq!(str_at(&mirror, "/spec/nodeName"), "node1");

    // Deleting a mirror pod does not stop the static pod: the kubelet creates it again.
    c.kubectl.ok(&["delete", "pod", "static-web-node1", "--wait=false"])?;
    let old_uid = str_at(&mirror, "/metadata/uid").to_string();
    c.eventually("a new mirror pod", Duration::from_secs(30), || async {
        let pod = c.get_json(&["pod", "static-web-node1"])?;
        Ok(pod.filter(|p| str_at(p, "/metadata/uid") != old_uid && p.pointer("/metadata/deletionTimestamp").is_none()))
    })
    .await?;

    // Removing the file removes the pod and its mirror.
    std::fs::remove_file(c.dir.join("manifests/static-web.yaml"))?;
    c.eventually("the mirror pod to be gone", Duration::from_secs(30), || async {
        Ok(c.get_json(&["pod", "static-web-node1"])?.is_none().then_some(()))
    })
    .await?;
    let cri = c.cri().await?;
    c.eventually("the static pod's containers to be gone", Duration::from_secs(30), || async {
        Ok(cri.list_containers(Default::default()).await?.is_empty().then_some(()))
    })
    .await?;
    Ok(())
}

const HELLO: &str = r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "hello"},
  "spec": {
    "nodeName": "node1",
    "terminationGracePeriodSeconds": 1,
    "containers": [{"name": "hello", "image": "hello", "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 80}]}]
  }
}"#;

const CONFIGURED: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: bonjour
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: configured
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    envFrom:
    - prefix: CFG_
      configMapRef: {name: settings}
    volumeMounts:
    - {name: conf, mountPath: /etc/conf}
    - {name: creds, mountPath: /etc/creds}
  volumes:
  - name: conf
    configMap: {name: settings, items: [{key: greeting, path: greeting.txt}]}
  - name: creds
    secret: {secretName: creds, defaultMode: 0400}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn pods_bound_to_the_node_run_report_status_and_events_and_go_away_when_deleted() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    // Seed 001's service, so that the pods see its link variables.
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n")?;
    let web_ip = str_at(&c.get_json(&["service", "web"])?.context("service web")?, "/spec/clusterIP").to_string();
    let started = Instant::now();
    c.apply(HELLO)?;
    c.apply(CONFIGURED)?;

    let pod = c
        .eventually("hello to be Running and Ready with an IP", Duration::from_secs(60), || async {
            let pod = c.get_json(&["pod", "hello"])?;
            Ok(pod.filter(|p| {
                str_at(p, "/status/phase") == "Running"
                    && !str_at(p, "/status/podIP").is_empty()
                    && condition(p, "Ready").is_some_and(|r| r["status"] == "True")
            }))
        })
        .await?;
    eprintln!("hello Running after {:?}", started.elapsed());
    let ip = str_at(&pod, "/status/podIP").to_string();
    assert!(ip.starts_with("10.88.0."), "{ip}");
    assert_eq!(str_at(&pod, "/status/hostIP"), NODE_IP);
    assert_eq!(str_at(&pod, "/status/containerStatuses/0/state/running/startedAt").is_empty(), false);
    assert!(str_at(&pod, "/status/containerStatuses/0/containerID").starts_with("containerd://"));
    assert!(!str_at(&pod, "/status/startTime").is_empty());
    assert_eq!(str_at(&pod, "/status/qosClass"), "BestEffort");

    // The pod IP answers HTTP from the node's namespace.
    let out = c.netns.command("curl").args(["-s", "-m", "5", &format!("http://{ip}/")]).output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("My hostname is hello"), "{out:?}");

    // kubectl shows it as upstream does: Running, its IP, its node.
    let wide = c.kubectl.ok(&["get", "pods", "-o", "wide"])?;
    let line = wide.lines().find(|l| l.starts_with("hello ")).context(wide.clone())?;
    assert!(line.contains("1/1") && line.contains("Running") && line.contains(&ip) && line.contains("node1"), "{wide}");

    // Events, from the kubelet on node1.
    let describe = c
        .eventually("the Started event", Duration::from_secs(10), || async {
            let d = c.kubectl.ok(&["describe", "pod", "hello"])?;
            Ok(d.contains("Started container hello").then_some(d))
        })
        .await?;
    for want in ["Pulled", "Container image \"hello\" already present on machine", "Created container hello", "kubelet"] {
        assert!(describe.contains(want), "missing {want:?} in:\n{describe}");
    }

    // configMap/secret env and volumes, and the service links.
    let cri = c.cri().await?;
    let app = c
        .eventually("the configured pod to run", Duration::from_secs(60), || async {
            Ok(running(&cri, "configured").await?.into_iter().find(|(n, _)| n == "app").map(|(_, id)| id))
        })
        .await?;
    let env = exec(&cri, &app, "env").await?;
    for want in [
        "GREETING=bonjour".to_string(),
        "PASSWORD=s3cret".into(),
        "CFG_color=blue".into(),
        format!("WEB_SERVICE_HOST={web_ip}"),
        "WEB_SERVICE_PORT=80".into(),
        format!("WEB_PORT=tcp://{web_ip}:80"),
        format!("WEB_PORT_80_TCP=tcp://{web_ip}:80"),
        "WEB_PORT_80_TCP_PROTO=tcp".into(),
        "KUBERNETES_SERVICE_HOST=".into(),
    ] {
        assert!(env.lines().any(|l| l.starts_with(&want)), "missing {want} in:\n{env}");
    }
    assert_eq!(exec(&cri, &app, "cat /etc/conf/greeting.txt").await?, "bonjour");
    assert_eq!(exec(&cri, &app, "cat /etc/creds/password").await?, "s3cret");
    assert_eq!(exec(&cri, &app, "stat -c %a /etc/creds/password").await?.trim(), "400");
    // A changed ConfigMap reaches the running pod's volume.
    c.kubectl.ok(&["patch", "configmap", "settings", "--type=merge", "-p", r#"{"data":{"greeting":"salut"}}"#])?;
    c.eventually("the volume to follow the ConfigMap", Duration::from_secs(20), || async {
        Ok((exec(&cri, &app, "cat /etc/conf/greeting.txt").await? == "salut").then_some(()))
    })
    .await?;

    // Deleting the pod stops its containers, and then the object is gone.
    let deleted = Instant::now();
    c.kubectl.ok(&["delete", "pod", "hello", "--timeout=60s"])?;
    eprintln!("hello deleted after {:?}", deleted.elapsed());
    assert!(running(&cri, "hello").await?.is_empty(), "hello's containers are stopped");
    assert!(c.get_json(&["pod", "hello"])?.is_none());
    let describe = c.kubectl.ok(&["get", "events", "--field-selector", "involvedObject.name=hello"])?;
    assert!(describe.contains("Stopping container hello"), "{describe}");

    c.kubectl.ok(&["delete", "pod", "configured", "--timeout=60s"])?;
    c.eventually("no containers or sandboxes left", Duration::from_secs(30), || async {
        let containers = cri.list_containers(Default::default()).await?;
        let sandboxes = cri.list_pod_sandboxes(Default::default()).await?;
        Ok((containers.is_empty() && sandboxes.is_empty()).then_some(()))
    })
    .await?;
    let pods = std::fs::read_dir(c.dir.join("root/pods")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(pods, 0, "the pods' directories are removed");
    Ok(())
}

const COUNTER: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: counter
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: count
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 1; done; exit 3']
"#;

/// `kubectl logs` through the apiserver's `pods/log` to the kubelet's `/containerLogs`.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_logs_follows_tails_and_shows_the_previous_instance() -> anyhow::Result<()> {
    use std::io::BufRead;
    let c = Cluster::start()?;
    c.apply(COUNTER)?;
    c.eventually("counter to run", Duration::from_secs(60), || async {
        Ok(c.get_json(&["pod", "counter"])?.filter(|p| str_at(p, "/status/phase") == "Running").map(|_| ()))
    })
    .await?;

    // -f: lines arrive as the container writes them, and the command ends when it exits.
    let mut follow = c.kubectl.command(&["logs", "-f", "counter"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(follow.stdout.take().context("stdout")?).lines() {
        seen.push((line?, started.elapsed()));
    }
    let status = follow.wait()?;
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert!(status.success(), "kubectl logs -f: {status}");
    assert_eq!(lines.last(), Some(&"line 8"), "{lines:?}");
    let last = seen.iter().find(|(l, _)| l == "line 8").map(|(_, t)| *t).context("line 8")?;
    assert!(seen[0].1 + Duration::from_millis(1500) < last, "lines came one by one, not at the end: {seen:?}");

    // --tail on the exited (or restarted) container, then --previous once it restarted.
    let pod = c
        .eventually("counter to restart", Duration::from_secs(40), || async {
            Ok(c.get_json(&["pod", "counter"])?.filter(|p| p.pointer("/status/containerStatuses/0/restartCount").and_then(Value::as_i64) >= Some(1)))
        })
        .await?;
    assert_eq!(pod.pointer("/status/containerStatuses/0/lastState/terminated/exitCode"), Some(&Value::from(3)), "{:#}", pod["status"]);
    let previous = c.kubectl.ok(&["logs", "counter", "--previous"])?;
    assert_eq!(previous, (1..=8).map(|i| format!("line {i}\n")).collect::<String>());
    let tail = c.kubectl.ok(&["logs", "counter", "--previous", "--tail=2"])?;
    assert_eq!(tail, "line 7\nline 8\n");
    c.kubectl.ok(&["delete", "pod", "counter", "--timeout=60s"])?;
    Ok(())
}

const LABELLED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: labelled
  labels: {app: web}
  annotations: {note: first}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: info, mountPath: /etc/podinfo}
    - {name: all, mountPath: /etc/all}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      defaultMode: 0440
      sources:
      - configMap: {name: settings, items: [{key: greeting, path: greeting}]}
      - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: bonjour
"#;

const TOKENED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: tokened
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    volumeMounts:
    - {name: token, mountPath: /var/run/secrets/tokens}
  volumes:
  - name: token
    projected:
      sources:
      - serviceAccountToken: {audience: vault, expirationSeconds: 3600, path: vault-token}
"#;

/// downwardAPI and projected volumes, a spec change, a deletion with its own grace period,
/// and a token volume (FailedMount while the apiserver has no TokenRequest).
#[tokio::test(flavor = "multi_thread")]
async fn volumes_follow_the_pod_a_changed_image_restarts_and_deletion_honours_its_grace() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    c.apply(LABELLED)?;
    let cri = c.cri().await?;
    let app = c
        .eventually("labelled to run", Duration::from_secs(60), || async {
            Ok(running(&cri, "labelled").await?.into_iter().next().map(|(_, id)| id))
        })
        .await?;
    assert_eq!(exec(&cri, &app, "cat /etc/podinfo/name").await?, "labelled");
    assert_eq!(exec(&cri, &app, "cat /etc/podinfo/labels").await?, "app=\"web\"");
    assert_eq!(exec(&cri, &app, "cat /etc/podinfo/mem").await?, "64");
    assert_eq!(exec(&cri, &app, "cat /etc/all/greeting /etc/all/namespace").await?, "bonjourdefault");
    assert_eq!(exec(&cri, &app, "stat -L -c %a /etc/all/greeting").await?.trim(), "440");
    // A new label reaches the running pod's file.
    c.kubectl.ok(&["label", "pod", "labelled", "color=red"])?;
    c.eventually("the labels file to follow", Duration::from_secs(20), || async {
        Ok((exec(&cri, &app, "cat /etc/podinfo/labels").await? == "app=\"web\"\ncolor=\"red\"").then_some(()))
    })
    .await?;

    // kubectl set image on a bare pod: the container is killed and recreated.
    c.kubectl.ok(&["set", "image", "pod/labelled", "app=docker.io/library/busybox:latest"])?;
    let pod = c
        .eventually("the new container", Duration::from_secs(60), || async {
            let pod = c.get_json(&["pod", "labelled"])?;
            Ok(pod.filter(|p| {
                p.pointer("/status/containerStatuses/0/restartCount") == Some(&Value::from(1))
                    && !str_at(p, "/status/containerStatuses/0/state/running/startedAt").is_empty()
            }))
        })
        .await?;
    assert_eq!(str_at(&pod, "/status/containerStatuses/0/image"), "docker.io/library/busybox:latest");
    let events = c.kubectl.ok(&["get", "events", "--field-selector", "involvedObject.name=labelled"])?;
    assert!(events.contains("Container app definition changed, will be restarted"), "{events}");

    // The token volume: when the apiserver cannot issue tokens (this one has no
    // --service-account-signing-key-file, so TokenRequest answers 404) the mount fails and
    // nothing starts; when it can, the token is there.
    c.apply(TOKENED)?;
    let issues_tokens = c.kubectl.run(&["create", "token", "default"])?.status.success();
    if issues_tokens {
        let app = c
            .eventually("tokened to run", Duration::from_secs(60), || async {
                Ok(running(&cri, "tokened").await?.into_iter().next().map(|(_, id)| id))
            })
            .await?;
        assert!(exec(&cri, &app, "cat /var/run/secrets/tokens/vault-token").await?.len() > 20);
    } else {
        c.eventually("FailedMount for the token", Duration::from_secs(30), || async {
            let events = c.kubectl.ok(&["get", "events", "--field-selector", "involvedObject.name=tokened"])?;
            Ok(events.contains("MountVolume.SetUp failed for volume \"token\" : failed to fetch token").then_some(()))
        })
        .await?;
        assert!(running(&cri, "tokened").await?.is_empty(), "no container starts without its volume");
    }
    c.kubectl.ok(&["delete", "pod", "tokened", "--timeout=60s"])?;

    // `sleep` as PID 1 ignores SIGTERM: the delete's 3 s grace, not the spec's 30 s, is
    // what it gets before SIGKILL; its last status is written before the object goes.
    c.kubectl.ok(&["delete", "pod", "labelled", "--grace-period=3", "--timeout=60s"])?;
    let log = c.log();
    assert!(log.contains("Killing container app with a grace period of 3s"), "{}", tail(&log, 40));
    assert!(log.contains("final status written: Failed"), "{}", tail(&log, 40));
    assert!(running(&cri, "labelled").await?.is_empty());
    Ok(())
}
