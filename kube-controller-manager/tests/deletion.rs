//! Cascading deletion in the three propagation modes, and namespace deletion, end to end.
//!
//! Run with: `cargo build --bins && cargo test -p kube-controller-manager --test deletion`

mod support;

use std::time::Duration;

use kube_api::apps::{Deployment, ReplicaSet};
use kube_api::core::{ConfigMap, Namespace};
use kube_client::{Api, ListParams};
use support::{live_pods, wait_for, Cluster, FakeKubelet};

const WAIT: Duration = Duration::from_secs(30);

async fn deploy_web(c: &Cluster, ns: &str) -> anyhow::Result<()> {
    // (kubectl's typed `create deployment` sends protobuf, which our apiserver does not
    // speak yet: apply sends JSON.)
    let yaml = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx\n");
    c.apply(&yaml)?;
    wait_for("2 pods", WAIT, || async { Ok((live_pods(&c.client, ns, "app=web").await?.len() == 2).then_some(())) }).await
}

async fn counts(c: &Cluster, ns: &str) -> anyhow::Result<(usize, usize, usize)> {
    let d: Api<Deployment> = Api::namespaced(c.client.clone(), ns);
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), ns);
    let pods = c.pods(ns).list(&ListParams::default().labels("app=web")).await?.items.len();
    Ok((d.list(&ListParams::default()).await?.items.len(), rs.list(&ListParams::default()).await?.items.len(), pods))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_deploy_removes_its_replica_sets_and_pods_in_the_background() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    deploy_web(&c, "default").await?;
    c.kubectl().ok(&["delete", "deploy", "web"])?;
    wait_for("everything gone", WAIT, || async { Ok((counts(&c, "default").await? == (0, 0, 0)).then_some(())) }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_keeps_the_owner_until_its_dependents_are_gone() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    deploy_web(&c, "default").await?;
    wait_for("pods bound", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=web").await?;
        Ok(p.iter().all(|p| !p.spec.node_name.is_empty()).then_some(()))
    })
    .await?;
    // The node stops confirming deletions: the pods linger, Terminating, and so must the
    // Deployment and its ReplicaSet.
    kubelet.kill_node("node-1");
    c.kubectl().ok(&["delete", "deploy", "web", "--cascade=foreground", "--wait=false"])?;
    let d: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    wait_for("the deployment waits with its finalizer", WAIT, || async {
        let dep = d.get("web").await?;
        let pods_terminating = c.pods("default").list(&ListParams::default().labels("app=web")).await?.items.iter().all(|p| p.metadata.deletion_timestamp.is_some());
        Ok((dep.metadata.deletion_timestamp.is_some() && dep.metadata.finalizers.contains(&"foregroundDeletion".to_string()) && pods_terminating).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts(&c, "default").await?.0, 1, "the owner is still there while its pods terminate");
    kubelet.revive_node("node-1");
    wait_for("everything gone", WAIT, || async { Ok((counts(&c, "default").await? == (0, 0, 0)).then_some(())) }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_leaves_the_replica_set_and_pods_without_an_owner() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    deploy_web(&c, "default").await?;
    c.kubectl().ok(&["delete", "deploy", "web", "--cascade=orphan"])?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    wait_for("deployment gone, ReplicaSet orphaned", WAIT, || async {
        let (d, r, p) = counts(&c, "default").await?;
        let list = rs.list(&ListParams::default()).await?.items;
        Ok((d == 0 && r == 1 && p == 2 && list[0].metadata.owner_references.is_empty()).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts(&c, "default").await?, (0, 1, 2), "the orphans stay");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_whose_owner_never_existed_is_collected_and_one_with_a_live_owner_is_not() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let cm = |name: &str, owner_uid: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: owner\n    uid: {owner_uid}\n")
    };
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner\n")?;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let owner_uid = cms.get("owner").await?.metadata.uid;
    c.apply(&cm("kept", &owner_uid))?;
    c.apply(&cm("dangling", "00000000-0000-0000-0000-000000000000"))?;
    wait_for("the dangling one collected", WAIT, || async { Ok(cms.get_opt("dangling").await?.is_none().then_some(())) }).await?;
    assert!(cms.get_opt("kept").await?.is_some());
    c.kubectl().ok(&["delete", "configmap", "owner"])?;
    wait_for("the dependent follows its owner", WAIT, || async { Ok(cms.get_opt("kept").await?.is_none().then_some(())) }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_everything_in_it_then_the_namespace() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    c.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n")?;
    deploy_web(&c, "demo").await?;
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: demo\ndata:\n  a: b\n")?;
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n")?;
    c.kubectl().ok(&["delete", "namespace", "demo", "--wait=false"])?;
    let ns: Api<Namespace> = Api::all(c.client.clone());
    let phase = ns.get("demo").await.map(|n| n.status.phase).unwrap_or_default();
    assert!(phase == "Terminating" || phase.is_empty(), "{phase}");
    wait_for("namespace gone", WAIT, || async { Ok(ns.get_opt("demo").await?.is_none().then_some(())) }).await?;
    let leftovers = c.pods("demo").list(&ListParams::default()).await?.items.len();
    assert_eq!(leftovers, 0);
    Ok(())
}
