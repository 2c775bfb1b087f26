//! ReplicaSets, ReplicationControllers and Deployments end to end: the real apiserver on a
//! real etcd, the real kube-controller-manager binary, the real kubectl, and the fake
//! kubelet of `support` in place of the scheduler and kubelets.
//!
//! Run with: `cargo build --bins && cargo test -p kube-controller-manager --test workloads`

mod support;

use std::time::Duration;

use kube_api::apps::{Deployment, ReplicaSet};
use kube_api::core::{Pod, ReplicationController};
use kube_client::{Api, DeleteParams, ListParams};
use support::{is_ready, live_pods, wait_for, Cluster, FakeKubelet};

const WAIT: Duration = Duration::from_secs(30);

fn deployment_yaml(name: &str, replicas: i32, image: &str, strategy: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  strategy:
{strategy}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - image: {image}
        name: web
"#
    )
}

const ROLLING_1_0: &str = "    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_a_deployment_applied_before_the_controller_manager_gets_its_replica_set_and_pending_pods_once_it_starts() -> anyhow::Result<()> {
    let mut c = Cluster::apiserver_only()?;
    let yaml = deployment_yaml("web", 2, "zwindler/vhelloworld", "    type: RollingUpdate");
    assert!(c.apply(&yaml)?.contains("deployment.apps/web created"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.kubectl().ok(&["get", "pods"])?.is_empty() || c.kubectl().ok(&["get", "pods"])?.contains("No resources"));
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    assert!(rs.list(&ListParams::default()).await?.items.is_empty(), "no ReplicaSet without a controller manager");

    c.start_kcm(&[])?;
    let pods = wait_for("2 pods", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=web").await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    let rs_list = rs.list(&ListParams::default()).await?.items;
    assert_eq!(rs_list.len(), 1);
    let rs0 = &rs_list[0];
    let hash = rs0.metadata.labels.get("pod-template-hash").cloned().unwrap_or_default();
    assert_eq!(rs0.metadata.name, format!("web-{hash}"));
    assert_eq!(rs0.metadata.annotations.get("deployment.kubernetes.io/revision").map(String::as_str), Some("1"));
    for p in &pods {
        assert_eq!(p.status.phase, "Pending", "no scheduler: the pods wait");
        assert!(p.metadata.name.starts_with(&format!("web-{hash}-")) && p.metadata.name.len() == "web-".len() + hash.len() + 6, "{}", p.metadata.name);
        let owner = p.metadata.controller_ref().expect("controlled");
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.block_owner_deletion), ("ReplicaSet", rs0.metadata.name.as_str(), Some(true)));
        assert_eq!(p.metadata.labels.get("pod-template-hash"), Some(&hash));
    }
    let events = c.kubectl().ok(&["get", "events"])?;
    assert!(events.contains("SuccessfulCreate") && events.contains("ScalingReplicaSet"), "{events}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_set_scales_up_and_down_adopts_orphans_and_replaces_a_killed_pod() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into(), "node-2".into()]).await?;
    // An orphan with matching labels, before the ReplicaSet exists.
    c.kubectl().ok(&["run", "orphan", "--image=nginx", "--labels=app=kw"])?;
    let rs_yaml = |n: i32| format!("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: kw\nspec:\n  replicas: {n}\n  selector:\n    matchLabels:\n      app: kw\n  template:\n    metadata:\n      labels:\n        app: kw\n    spec:\n      containers:\n      - name: c\n        image: nginx\n");
    c.apply(&rs_yaml(3))?;
    let pods = wait_for("3 ready pods", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=kw").await?;
        Ok((p.len() == 3 && p.iter().all(is_ready)).then_some(p))
    })
    .await?;
    let orphan = pods.iter().find(|p| p.metadata.name == "orphan").expect("the orphan was kept, not replaced");
    assert_eq!(orphan.metadata.controller_ref().map(|r| r.name.as_str()), Some("kw"), "adopted");

    // Kube-Wars: kill one, it comes back.
    let victim = pods.iter().find(|p| p.metadata.name != "orphan").unwrap().metadata.name.clone();
    c.kubectl().ok(&["delete", "pod", &victim, "--wait=false"])?;
    wait_for("a replacement", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=kw").await?;
        Ok((p.len() == 3 && p.iter().all(|p| p.metadata.name != victim) && p.iter().all(is_ready)).then_some(()))
    })
    .await?;

    c.kubectl().ok(&["scale", "rs", "kw", "--replicas=5"])?;
    wait_for("5 pods", WAIT, || async { Ok((live_pods(&c.client, "default", "app=kw").await?.len() == 5).then_some(())) }).await?;
    c.kubectl().ok(&["scale", "rs", "kw", "--replicas=1"])?;
    wait_for("1 pod", WAIT, || async { Ok((live_pods(&c.client, "default", "app=kw").await?.len() == 1).then_some(())) }).await?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let status = wait_for("status of 1 replica", WAIT, || async {
        let r = rs.get("kw").await?;
        Ok((r.status.replicas == 1 && r.status.ready_replicas == Some(1) && r.status.available_replicas == Some(1)).then_some(r))
    })
    .await?;
    assert_eq!(status.status.observed_generation, status.metadata.generation);
    let events = c.kubectl().ok(&["get", "events", "--field-selector=involvedObject.name=kw"])?;
    assert!(events.contains("SuccessfulDelete"), "{events}");

    // A pod relabelled out of the selector is released, and replaced.
    let kept = live_pods(&c.client, "default", "app=kw").await?.remove(0).metadata.name;
    c.kubectl().ok(&["label", "pod", &kept, "app=other", "--overwrite"])?;
    wait_for("the released pod has no owner and a new one exists", WAIT, || async {
        let released = c.pods("default").get(&kept).await?;
        let mine = live_pods(&c.client, "default", "app=kw").await?;
        Ok((released.metadata.owner_references.is_empty() && mine.len() == 1).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_wars_a_replication_controller_keeps_its_pods_and_scales() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let yaml = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: xwing\nspec:\n  replicas: 2\n  selector:\n    game: starwars\n  template:\n    metadata:\n      labels:\n        game: starwars\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    c.apply(yaml)?;
    let pods = wait_for("2 pods", WAIT, || async {
        let p = live_pods(&c.client, "default", "game=starwars").await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    c.kubectl().ok(&["delete", "pod", &pods[0].metadata.name])?;
    wait_for("a replacement", WAIT, || async {
        let p = live_pods(&c.client, "default", "game=starwars").await?;
        Ok((p.len() == 2 && p.iter().all(|x| x.metadata.name != pods[0].metadata.name)).then_some(()))
    })
    .await?;
    c.kubectl().ok(&["scale", "rc", "xwing", "--replicas=4"])?;
    wait_for("4 pods and status", WAIT, || async {
        let rc: ReplicationController = Api::namespaced(c.client.clone(), "default").get("xwing").await?;
        Ok((live_pods(&c.client, "default", "game=starwars").await?.len() == 4 && rc.status.replicas == 4).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_never_goes_below_max_unavailable_and_rollout_undo_brings_the_old_template_back() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into(), "node-2".into()]).await?;
    c.apply(&deployment_yaml("web", 4, "nginx:1.0", ROLLING_1_0))?;
    let out = c.kubectl().ok(&["rollout", "status", "deployment/web", "--timeout=60s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let get = c.kubectl().ok(&["get", "deploy", "web"])?;
    assert!(get.contains("4/4") && get.split_whitespace().filter(|w| *w == "4").count() >= 2, "{get}");

    // Watch availability during the update: with maxUnavailable 0, never fewer than 4
    // ready pods; with maxSurge 1, never more than 5 pods.
    let watcher = {
        let client = c.client.clone();
        tokio::spawn(async move {
            let (mut min_ready, mut max_total) = (usize::MAX, 0);
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok(p) = live_pods(&client, "default", "app=web").await {
                    min_ready = min_ready.min(p.iter().filter(|p| is_ready(p)).count());
                    max_total = max_total.max(p.len());
                    let all_new = p.len() == 4 && p.iter().all(|p| p.spec.containers[0].image == "nginx:2.0" && is_ready(p));
                    if all_new {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (min_ready, max_total)
        })
    };
    c.kubectl().ok(&["set", "image", "deployment/web", "web=nginx:2.0"])?;
    let out = c.kubectl().ok(&["rollout", "status", "deployment/web", "--timeout=60s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let (min_ready, max_total) = watcher.await?;
    assert!(min_ready >= 4, "availability dropped to {min_ready} ready pods");
    assert!(max_total <= 5, "surged to {max_total} pods");

    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let list = rs.list(&ListParams::default()).await?.items;
    assert_eq!(list.len(), 2);
    let revision = |r: &ReplicaSet| r.metadata.annotations.get("deployment.kubernetes.io/revision").cloned().unwrap_or_default();
    let old = list.iter().find(|r| r.spec.template.spec.containers[0].image == "nginx:1.0").unwrap();
    let new = list.iter().find(|r| r.spec.template.spec.containers[0].image == "nginx:2.0").unwrap();
    assert_eq!((old.spec.replicas, revision(old).as_str()), (Some(0), "1"));
    assert_eq!((new.spec.replicas, revision(new).as_str()), (Some(4), "2"));
    let d: Deployment = Api::namespaced(c.client.clone(), "default").get("web").await?;
    let s = &d.status;
    assert_eq!((s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas), (Some(4), Some(4), Some(4), Some(4)));
    let progressing = s.conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(progressing.reason, "NewReplicaSetAvailable");

    // The real kubectl's rollout undo patches the template back; the old ReplicaSet
    // becomes the new one, with revision 3.
    let out = c.kubectl().ok(&["rollout", "undo", "deployment/web"])?;
    assert!(out.contains("rolled back"), "{out}");
    c.kubectl().ok(&["rollout", "status", "deployment/web", "--timeout=60s"])?;
    let back = rs.get(&old.metadata.name).await?;
    assert_eq!((back.spec.replicas, revision(&back).as_str()), (Some(4), "3"));
    let history = c.kubectl().ok(&["rollout", "history", "deployment/web"])?;
    assert!(history.contains('2') && history.contains('3'), "{history}");

    // Scaling through the scale subresource writes spec.replicas.
    c.kubectl().ok(&["scale", "deploy", "web", "--replicas=6"])?;
    wait_for("6 ready pods", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=web").await?;
        Ok((p.len() == 6 && p.iter().all(is_ready)).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreate_deployment_removes_every_old_pod_before_starting_new_ones_and_history_is_limited() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    let yaml = deployment_yaml("db", 2, "postgres:1", "    type: Recreate").replace("spec:\n  replicas", "spec:\n  revisionHistoryLimit: 1\n  replicas");
    c.apply(&yaml)?;
    c.kubectl().ok(&["rollout", "status", "deployment/db", "--timeout=60s"])?;
    let mixed = {
        let client = c.client.clone();
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                let api: Api<Pod> = Api::namespaced(client.clone(), "default");
                if let Ok(list) = api.list(&ListParams::default().labels("app=db")).await {
                    let images: std::collections::BTreeSet<_> = list.items.iter().map(|p| p.spec.containers[0].image.clone()).collect();
                    if images.len() > 1 {
                        return true;
                    }
                    if list.items.len() == 2 && images.contains("postgres:3") && list.items.iter().all(is_ready) {
                        return false;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    };
    c.kubectl().ok(&["set", "image", "deployment/db", "web=postgres:2"])?;
    c.kubectl().ok(&["rollout", "status", "deployment/db", "--timeout=60s"])?;
    c.kubectl().ok(&["set", "image", "deployment/db", "web=postgres:3"])?;
    c.kubectl().ok(&["rollout", "status", "deployment/db", "--timeout=60s"])?;
    assert!(!mixed.await?, "old and new pods ran side by side");
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    wait_for("revisionHistoryLimit 1: two ReplicaSets left", WAIT, || async {
        Ok((rs.list(&ListParams::default()).await?.items.len() == 2).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_cannot_progress_reports_progress_deadline_exceeded() -> anyhow::Result<()> {
    // No kubelet: pods never become ready.
    let c = Cluster::start(&[])?;
    let yaml = deployment_yaml("stuck", 1, "nginx", "    type: RollingUpdate").replace("spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 2\n  replicas");
    c.apply(&yaml)?;
    let out = c.kubectl().run(&["rollout", "status", "deployment/stuck", "--timeout=30s"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("exceeded its progress deadline"), "{err}");
    let d: Deployment = Api::namespaced(c.client.clone(), "default").get("stuck").await?;
    let p = d.status.conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!((p.status.as_str(), p.reason.as_str()), ("False", "ProgressDeadlineExceeded"));
    let _ = DeleteParams::default();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_answer_on_the_secure_port_and_the_lease_is_held() -> anyhow::Result<()> {
    let port = testutil::free_port();
    let c = Cluster::start(&[&format!("--secure-port={port}"), "--bind-address=127.0.0.1", "--leader-elect=true", "--controllers=*,-garbagecollector"])?;
    // HTTPS with a self-signed certificate, as upstream: curl -k.
    let get = |path: &str| -> anyhow::Result<String> {
        let out = std::process::Command::new("curl").args(["-sk", "--max-time", "5", &format!("https://127.0.0.1:{port}{path}")]).output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    wait_for("healthz", WAIT, || async { Ok(get("/healthz").ok().filter(|r| r.ends_with("ok"))) }).await?;
    let leases: Api<kube_api::coordination::Lease> = Api::namespaced(c.client.clone(), "kube-system");
    wait_for("the lease held and reported", WAIT, || async {
        let held = leases.get_opt("kube-controller-manager").await?.and_then(|l| l.spec.holder_identity).is_some_and(|h| !h.is_empty());
        let metrics = get("/metrics")?;
        Ok((held && metrics.contains("leader_election_master_status{name=\"kube-controller-manager\"} 1")).then_some(()))
    })
    .await?;
    assert!(!c.kcm_log().contains("Starting controller garbagecollector"), "--controllers=*,-garbagecollector");
    Ok(())
}
