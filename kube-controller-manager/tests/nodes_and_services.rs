//! Endpoints, node lifecycle and node IPAM end to end.
//!
//! Run with: `cargo build --bins && cargo test -p kube-controller-manager --test nodes_and_services`

mod support;

use std::time::Duration;

use kube_api::core::{Endpoints, Node};
use kube_client::{Api, ListParams};
use support::{is_ready, live_pods, wait_for, Cluster, FakeKubelet};

const WAIT: Duration = Duration::from_secs(30);

fn web(replicas: i32, toleration_seconds: Option<i64>) -> String {
    let tolerations = match toleration_seconds {
        Some(s) => format!("      tolerations:\n      - key: node.kubernetes.io/unreachable\n        operator: Exists\n        effect: NoExecute\n        tolerationSeconds: {s}\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n{tolerations}      containers:\n      - name: web\n        image: nginx\n        ports:\n        - name: http\n          containerPort: 8080\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_list_ready_pods_with_the_named_target_port_and_follow_scaling() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into(), "node-2".into()]).await?;
    c.apply(&web(2, None))?;
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n")?;
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: web-headless\nspec:\n  clusterIP: None\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n")?;
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let addresses = |e: &Endpoints| e.subsets.iter().map(|s| s.addresses.len()).sum::<usize>();
    let ep = wait_for("2 ready addresses", WAIT, || async {
        Ok(eps.get_opt("web").await?.filter(|e| addresses(e) == 2))
    })
    .await?;
    let s = &ep.subsets[0];
    assert_eq!((s.ports[0].name.as_str(), s.ports[0].port, s.ports[0].protocol.as_str()), ("http", 8080, "TCP"));
    let pods = live_pods(&c.client, "default", "app=web").await?;
    for a in &s.addresses {
        let pod = pods.iter().find(|p| p.status.pod_ip == a.ip).expect("address of a pod");
        assert_eq!(a.node_name.as_deref(), Some(pod.spec.node_name.as_str()));
        assert_eq!(a.target_ref.as_ref().map(|r| (r.kind.as_str(), r.name.as_str())), Some(("Pod", pod.metadata.name.as_str())));
    }
    let out = c.kubectl().ok(&["get", "endpoints", "web"])?;
    assert!(out.contains(":8080"), "{out}");
    wait_for("headless endpoints", WAIT, || async { Ok(eps.get_opt("web-headless").await?.filter(|e| addresses(e) == 2)) }).await?;

    c.kubectl().ok(&["scale", "deploy", "web", "--replicas=3"])?;
    wait_for("3 ready addresses", WAIT, || async { Ok(eps.get_opt("web").await?.filter(|e| addresses(e) == 3)) }).await?;
    c.kubectl().ok(&["delete", "service", "web"])?;
    wait_for("endpoints deleted with the service", WAIT, || async { Ok(eps.get_opt("web").await?.is_none().then_some(())) }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_is_tainted_its_pods_are_evicted_and_recreated_on_the_other_node_and_the_taint_goes_when_it_returns() -> anyhow::Result<()> {
    let c = Cluster::start(&["--allocate-node-cidrs", "--cluster-cidr=10.244.0.0/16"])?;
    let kubelet = FakeKubelet::start(&c.client, &["node-1".into(), "node-2".into()]).await?;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let cidrs = wait_for("pod CIDRs", WAIT, || async {
        let mut cidrs: Vec<String> = nodes.list(&ListParams::default()).await?.items.into_iter().map(|n| n.spec.pod_cidr).collect();
        cidrs.sort();
        Ok((cidrs.iter().all(|c| !c.is_empty())).then_some(cidrs))
    })
    .await?;
    assert_eq!(cidrs, ["10.244.0.0/24", "10.244.1.0/24"]);

    c.apply(&web(4, Some(2)))?;
    wait_for("4 ready pods on both nodes", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=web").await?;
        let on_1 = p.iter().filter(|p| p.spec.node_name == "node-1").count();
        Ok((p.len() == 4 && p.iter().all(is_ready) && on_1 > 0).then_some(()))
    })
    .await?;

    kubelet.kill_node("node-1");
    let node = wait_for("node-1 Unknown and tainted", WAIT, || async {
        let n = nodes.get("node-1").await?;
        let unknown = n.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "Unknown");
        let tainted = n.spec.taints.iter().any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute");
        Ok((unknown && tainted).then_some(n))
    })
    .await?;
    assert!(node.status.conditions.iter().any(|c| c.reason == "NodeStatusUnknown"));
    wait_for("4 ready pods, all on node-2", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=web").await?;
        Ok((p.len() == 4 && p.iter().all(|p| p.spec.node_name == "node-2" && is_ready(p))).then_some(()))
    })
    .await?;
    let out = c.kubectl().ok(&["get", "events", "-A"])?;
    assert!(out.contains("TaintManagerEviction"), "{out}");
    assert!(nodes.get("node-2").await?.spec.taints.is_empty(), "the healthy node is untouched");

    kubelet.revive_node("node-1");
    wait_for("node-1 Ready and untainted", WAIT, || async {
        let n = nodes.get("node-1").await?;
        let ready = n.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        Ok((ready && n.spec.taints.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}
