//! Benchmark: a Deployment of 1,000 replicas over 100 simulated nodes, then a rolling
//! update of it. Prints how long until every pod exists, is bound and is Running (the
//! fake kubelet of `tests/support` binds and "runs" pods), and for the update the total
//! time and the peak number of unavailable pods (maxUnavailable 25% allows 250).
//!
//! Run with: `cargo build --release --bins -p kube-apiserver -p kube-controller-manager &&
//! cargo run --release -p kube-controller-manager --example deployment_bench [-- REPLICAS NODES]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use kube_api::apps::Deployment;
use kube_api::core::Pod;
use kube_client::{Api, ListParams};
use support::{is_ready, Cluster, FakeKubelet};

#[derive(Default, Debug, Clone, Copy)]
struct Sample {
    live: usize,
    bound: usize,
    running: usize,
    ready_new: usize,
    ready: usize,
}

async fn sample(api: &Api<Pod>, image: &str) -> anyhow::Result<Sample> {
    let pods = api.list(&ListParams::default().labels("app=bench")).await?.items;
    let mut s = Sample::default();
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        s.live += 1;
        s.bound += usize::from(!p.spec.node_name.is_empty());
        s.running += usize::from(p.status.phase == "Running");
        s.ready += usize::from(is_ready(p));
        s.ready_new += usize::from(is_ready(p) && p.spec.containers[0].image == image);
    }
    Ok(s)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let replicas = args.first().copied().unwrap_or(1000);
    let node_count = args.get(1).copied().unwrap_or(100);
    let c = Cluster::start(&["--node-monitor-grace-period=40s"])?;
    let nodes: Vec<String> = (0..node_count).map(|i| format!("node-{i:03}")).collect();
    let _kubelet = FakeKubelet::start(&c.client, &nodes).await?;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    println!("{replicas} replicas over {node_count} simulated nodes");

    let yaml = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bench\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: bench\n  template:\n    metadata:\n      labels:\n        app: bench\n    spec:\n      containers:\n      - name: c\n        image: nginx:1\n");
    let t0 = Instant::now();
    c.apply(&yaml)?;
    let (mut exist, mut bound) = (None, None);
    let running = loop {
        let s = sample(&pods, "nginx:1").await?;
        if exist.is_none() && s.live >= replicas {
            exist = Some(t0.elapsed());
        }
        if bound.is_none() && s.bound >= replicas {
            bound = Some(t0.elapsed());
        }
        if s.running >= replicas && s.ready >= replicas {
            break t0.elapsed();
        }
        anyhow::ensure!(t0.elapsed() < Duration::from_secs(600), "scale-up did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("all {replicas} pods exist:   {:>7.2?}", exist.unwrap_or_default());
    println!("all {replicas} pods bound:   {:>7.2?}", bound.unwrap_or_default());
    println!("all {replicas} pods Running: {:>7.2?}", running);
    // Let the deployment's status settle.
    loop {
        let d = deployments.get("bench").await?;
        if d.status.available_replicas == Some(replicas as i32) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let t1 = Instant::now();
    c.kubectl().ok(&["set", "image", "deployment/bench", "c=nginx:2"])?;
    let (mut peak_unavailable, mut peak_live, mut peak_total) = (0usize, 0usize, 0usize);
    let total = loop {
        let s = sample(&pods, "nginx:2").await?;
        peak_unavailable = peak_unavailable.max(replicas.saturating_sub(s.ready));
        peak_live = peak_live.max(s.live);
        let all = pods.list(&ListParams::default().labels("app=bench")).await?.items.len();
        peak_total = peak_total.max(all);
        let d = deployments.get("bench").await?;
        let st = &d.status;
        let done = st.updated_replicas == Some(replicas as i32)
            && st.available_replicas == Some(replicas as i32)
            && st.replicas == Some(replicas as i32)
            && s.ready_new >= replicas
            && all == replicas;
        if done {
            break t1.elapsed();
        }
        anyhow::ensure!(t1.elapsed() < Duration::from_secs(900), "rolling update did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("rolling update (25%/25%):  {:>7.2?}", total);
    println!("peak unavailable:          {peak_unavailable} (maxUnavailable allows {})", replicas / 4);
    println!("peak pods not terminating: {peak_live} (maxSurge allows {})", replicas + replicas.div_ceil(4));
    println!("peak pods incl. terminating: {peak_total}");
    Ok(())
}
