//! kube-scheduler against the real kube-apiserver on a real etcd, with simulated nodes.
//!
//! Build the binaries first: `cargo build --bins && cargo test -p kube-scheduler --test scheduling`.
//!
//! Each test starts its own etcd, apiserver and scheduler binary (on free ports), registers
//! plain Node objects with [`SimNodes`], creates pods, and checks where they went — and
//! what the scheduler told the user when they could go nowhere.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kube_api::apps::ReplicaSet;
use kube_api::core::{Container, Event, Pod, Taint, Toleration};
use kube_api::OwnerReference;
use kube_client::{Api, Client, Config, ListParams};
use testutil::sim::{SimNodes, SimOptions};
use testutil::{ApiServer, Process};

const DEADLINE: Duration = Duration::from_secs(20);

fn client(api: &ApiServer) -> anyhow::Result<Client> {
    Ok(Client::new(Config::from_server(&api.url)?)?)
}

/// The scheduler binary, without leader election unless `extra` turns it on.
fn scheduler(api: &ApiServer, extra: &[&str]) -> anyhow::Result<Process> {
    let master = format!("--master={}", api.url);
    let port = format!("--secure-port={}", testutil::free_port());
    let mut args = vec![master.as_str(), port.as_str(), "--bind-address=127.0.0.1"];
    if !extra.iter().any(|a| a.starts_with("--leader-elect")) {
        args.push("--leader-elect=false");
    }
    args.extend_from_slice(extra);
    let p = Process::start("kube-scheduler", &args)?;
    Ok(p)
}

fn nodes(count: usize) -> SimOptions {
    SimOptions { count, ..Default::default() }
}

/// A pod whose one container asks for `cpu` ("" = nothing).
fn pod(name: &str, cpu: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = name.into();
    let mut c = Container { name: "nginx".into(), image: "nginx".into(), ..Default::default() };
    if !cpu.is_empty() {
        c.resources.requests.insert("cpu".into(), cpu.into());
    }
    p.spec.containers.push(c);
    p
}

/// Polls `check` until it answers `Some`, or fails after `DEADLINE` saying `what`.
async fn eventually<T, F, Fut>(what: &str, sched: &Process, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}; scheduler log:\n{}", sched.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The node `name` gets bound to.
async fn bound(pods: &Api<Pod>, name: &str, sched: &Process) -> anyhow::Result<String> {
    eventually(&format!("pod {name} to be bound"), sched, || async {
        let p = pods.get(name).await?;
        Ok((!p.spec.node_name.is_empty()).then_some(p.spec.node_name))
    })
    .await
}

/// The message of the first event with `reason` about pod `name`.
async fn event(client: &Client, name: &str, reason: &str, sched: &Process) -> anyhow::Result<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(&format!("a {reason} event for {name}"), sched, || async {
        let list = events.list(&ListParams::default()).await?;
        Ok(list.items.into_iter().find(|e| e.involved_object.name == name && e.reason == reason).map(|e| e.message))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_without_a_node_name_gets_the_only_node_as_in_seed_000() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    // The simulated node plays the kubelet's part too: bound pods become Running.
    let _nodes = SimNodes::start(client.clone(), SimOptions { run_pods: true, ..nodes(1) }).await?;
    let sched = scheduler(&api, &[])?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("nginx", "")).await?;
    assert_eq!(bound(&pods, "nginx", &sched).await?, "node-0");
    eventually("nginx to be Running", &sched, || async { Ok((pods.get("nginx").await?.status.phase == "Running").then_some(())) }).await?;
    let msg = event(&client, "nginx", "Scheduled", &sched).await?;
    assert_eq!(msg, "Successfully assigned default/nginx to node-0");
    let wide = api.kubectl().ok(&["get", "pods", "-o", "wide"])?;
    let row = wide.lines().find(|l| l.starts_with("nginx")).context("nginx row")?;
    assert!(row.contains("node-0"), "kubectl get pods -o wide shows the node:\n{wide}");
    assert!(sched.log().contains("Successfully bound pod to node pod=default/nginx node=node-0"), "the log narrates the decision");
    // Deleting it: the simulated kubelet finishes the graceful deletion.
    api.kubectl().ok(&["delete", "pod", "nginx", "--wait=false"])?;
    eventually("nginx to be gone", &sched, || async { Ok(pods.get_opt("nginx").await?.is_none().then_some(())) }).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_that_fits_nowhere_gets_failed_scheduling_and_is_scheduled_as_soon_as_a_node_is_added() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let not_ready = Taint { key: "node.kubernetes.io/not-ready".into(), effect: "NoSchedule".into(), ..Default::default() };
    let sim = SimNodes::start(client.clone(), SimOptions { count: 1, cpu: "1".into(), ..Default::default() }).await?;
    let tainted = SimOptions { taints: vec![not_ready], ..Default::default() };
    sim.add_node("tainted-1", &tainted).await?;
    sim.add_node("tainted-2", &tainted).await?;
    let sched = scheduler(&api, &[])?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("big", "1")).await?;
    assert_eq!(bound(&pods, "big", &sched).await?, "node-0");
    pods.create(&pod("web-x", "500m")).await?;
    let msg = event(&client, "web-x", "FailedScheduling", &sched).await?;
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );
    let condition = eventually("the PodScheduled condition", &sched, || async {
        let p = pods.get("web-x").await?;
        Ok(p.status.conditions.into_iter().find(|c| c.type_ == "PodScheduled" && c.status == "False"))
    })
    .await?;
    assert_eq!((condition.reason.as_str(), condition.message.as_str()), ("Unschedulable", msg.as_str()));

    let added = Instant::now();
    sim.add_node("node-new", &SimOptions::default()).await?;
    assert_eq!(bound(&pods, "web-x", &sched).await?, "node-new");
    assert!(added.elapsed() < Duration::from_secs(5), "scheduled on the node event, not on a timer: {:?}", added.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_selectors_and_taints_decide_where_a_pod_may_go() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let sim = SimNodes::start(client.clone(), nodes(2)).await?;
    let ssd = SimOptions { labels: BTreeMap::from([("disk".to_string(), "ssd".to_string())]), ..Default::default() };
    sim.add_node("ssd-node", &ssd).await?;
    let gpu = Taint { key: "dedicated".into(), value: "gpu".into(), effect: "NoSchedule".into(), time_added: None };
    sim.add_node("gpu-node", &SimOptions { taints: vec![gpu], ..Default::default() }).await?;
    let sched = scheduler(&api, &[])?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let mut p = pod("wants-ssd", "");
    p.spec.node_selector.insert("disk".into(), "ssd".into());
    pods.create(&p).await?;
    assert_eq!(bound(&pods, "wants-ssd", &sched).await?, "ssd-node");

    let mut p = pod("wants-nvme", "");
    p.spec.node_selector.insert("disk".into(), "nvme".into());
    pods.create(&p).await?;
    let msg = event(&client, "wants-nvme", "FailedScheduling", &sched).await?;
    // Filters run in upstream's order: the tainted node reports its taint first.
    assert_eq!(
        msg,
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 3 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );

    // Ten pods without a toleration: never on the tainted node.
    for i in 0..10 {
        pods.create(&pod(&format!("plain-{i}"), "")).await?;
    }
    for i in 0..10 {
        assert_ne!(bound(&pods, &format!("plain-{i}"), &sched).await?, "gpu-node");
    }
    let mut p = pod("tolerates-gpu", "");
    p.spec.node_selector.insert("kubernetes.io/hostname".into(), "gpu-node".into());
    p.spec.tolerations.push(Toleration { key: "dedicated".into(), operator: "Equal".into(), value: "gpu".into(), effect: "NoSchedule".into(), toleration_seconds: None });
    pods.create(&p).await?;
    assert_eq!(bound(&pods, "tolerates-gpu", &sched).await?, "gpu-node");

    let mut p = pod("intolerant", "");
    p.spec.node_selector.insert("kubernetes.io/hostname".into(), "gpu-node".into());
    pods.create(&p).await?;
    let msg = event(&client, "intolerant", "FailedScheduling", &sched).await?;
    assert!(msg.contains("1 node(s) had untolerated taint {dedicated: gpu}"), "{msg}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cordoned_node_takes_no_new_pods_until_it_is_uncordoned() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let _sim = SimNodes::start(client.clone(), nodes(2)).await?;
    let sched = scheduler(&api, &[])?;
    let kubectl = api.kubectl();
    kubectl.ok(&["cordon", "node-0"])?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        pods.create(&pod(&format!("p{i}"), "")).await?;
    }
    for i in 0..5 {
        assert_eq!(bound(&pods, &format!("p{i}"), &sched).await?, "node-1");
    }
    kubectl.ok(&["cordon", "node-1"])?;
    pods.create(&pod("waits", "")).await?;
    let msg = event(&client, "waits", "FailedScheduling", &sched).await?;
    assert!(msg.starts_with("0/2 nodes are available: 2 node(s) were unschedulable."), "{msg}");
    kubectl.ok(&["uncordon", "node-0"])?;
    assert_eq!(bound(&pods, "waits", &sched).await?, "node-0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_pods_of_one_replicaset_spread_evenly_over_ten_nodes() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let _sim = SimNodes::start(client.clone(), nodes(10)).await?;
    // The owner only needs to exist for its UID: no controller manager runs here.
    let mut rs = ReplicaSet::default();
    rs.metadata.name = "web-7f9c".into();
    rs.spec.selector = Some(kube_api::core::LabelSelector { match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]), ..Default::default() });
    rs.spec.template.metadata.labels.insert("app".into(), "web".into());
    rs.spec.template.spec.containers.push(Container { name: "nginx".into(), image: "nginx".into(), ..Default::default() });
    rs.spec.replicas = Some(0);
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default").create(&rs).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // A busy cluster: the pods arrive while the scheduler is already running.
    let sched = scheduler(&api, &[])?;
    for i in 0..100 {
        let mut p = pod(&format!("web-7f9c-{i:03}"), "100m");
        p.metadata.labels.insert("app".into(), "web".into());
        p.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: rs.metadata.name.clone(),
            uid: rs.metadata.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
        pods.create(&p).await?;
    }
    let per_node = eventually("all 100 pods to be bound", &sched, || async {
        let list = pods.list(&ListParams::default()).await?;
        if list.items.iter().any(|p| p.spec.node_name.is_empty()) {
            return Ok(None);
        }
        let mut per_node: HashMap<String, usize> = HashMap::new();
        for p in list.items {
            *per_node.entry(p.spec.node_name).or_default() += 1;
        }
        Ok(Some(per_node))
    })
    .await?;
    let (min, max) = (per_node.values().min().copied().unwrap_or(0), per_node.values().max().copied().unwrap_or(0));
    assert_eq!(per_node.len(), 10, "every node got pods: {per_node:?}");
    assert!(max - min <= 1, "spread evenly (max − min ≤ 1): {per_node:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_two_schedulers_only_the_leader_binds_and_the_other_takes_over_when_it_dies() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let _sim = SimNodes::start(client.clone(), nodes(2)).await?;
    let le = ["--leader-elect=true", "--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms"];
    let mut first = scheduler(&api, &le)?;
    first.wait_for_log("successfully acquired lease kube-system/kube-scheduler", DEADLINE)?;
    let second = scheduler(&api, &le)?;
    second.wait_for_log("attempting to acquire leader lease kube-system/kube-scheduler", DEADLINE)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        pods.create(&pod(&format!("p{i}"), "")).await?;
    }
    for i in 0..5 {
        bound(&pods, &format!("p{i}"), &first).await?;
    }
    // The binding is in the API before the scheduler logs it: wait for the fifth line.
    wait_until(|| first.log().matches("Successfully bound pod to node").count() == 5).await;
    assert_eq!(first.log().matches("Successfully bound pod to node").count(), 5);
    assert!(!second.log().contains("Successfully bound"), "the follower binds nothing:\n{}", second.log());
    assert!(!second.log().contains("successfully acquired lease"));

    first.kill(); // a crash: the lease is not released, the follower waits for it to expire
    pods.create(&pod("after", "")).await?;
    second.wait_for_log("successfully acquired lease kube-system/kube-scheduler", DEADLINE)?;
    bound(&pods, "after", &second).await?;
    assert!(second.log().contains("pod=default/after"), "{}", second.log());
    Ok(())
}

/// Polls `done` every 50 ms for at most 10 s.
async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
