//! Benchmark: an informer over 10,000 pods, and how fast the kit feeds `reconcile`.
//!
//! Run with: `cargo build --bins && KUBE_BIN_DIR=target/debug cargo run --release -p kube-client --example informer_bench`
//!
//! Starts a private etcd and the real kube-apiserver (from `KUBE_BIN_DIR`), creates the pods
//! concurrently, then prints:
//! 1. the time from starting the informer to `has_synced`, and the process's RSS growth;
//! 2. the time until `reconcile` has run for every pod (informer → handler → queue → workers);
//! 3. the raw rate of the queue and runner alone (keys in, `reconcile` calls out).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use kube_api::core::{Container, Pod};
use kube_client::{
    handlers, Action, Api, CancellationToken, Client, Config, Controller, InformerFactory,
    WorkQueue,
};

const PODS: usize = 10_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pod(i: usize) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = format!("bench-{i:05}");
    p.metadata.namespace = "default".into();
    p.metadata.labels.insert("app".into(), "bench".into());
    p.spec.node_name = format!("node-{}", i % 100);
    p.spec.containers.push(Container {
        name: "web".into(),
        image: "nginx:1.27".into(),
        ..Default::default()
    });
    p
}

/// A reconcile that only counts.
fn counting(n: Arc<AtomicUsize>) -> impl Fn(String) -> futures::future::Ready<Result<Action, String>> + Clone {
    move |_key| {
        n.fetch_add(1, Ordering::Relaxed);
        futures::future::ready(Ok(Action::Done))
    }
}

async fn wait_until(n: &AtomicUsize, target: usize) {
    while n.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api = testutil::ApiServer::start()?;
    let client = Client::new(Config::from_server(&api.url)?)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let t = Instant::now();
    let created = stream::iter(0..PODS)
        .map(|i| {
            let pods = pods.clone();
            async move { pods.create(&pod(i)).await.is_ok() }
        })
        .buffer_unordered(32)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    println!("created {created} pods in {:.1?} ({:.0}/s)", t.elapsed(), created as f64 / t.elapsed().as_secs_f64());

    // 1 + 2: informer → handler → queue → 4 workers.
    let cancel = CancellationToken::new();
    let rss_before = rss_kib();
    let t = Instant::now();
    let factory = InformerFactory::new(client.clone(), cancel.clone());
    let informer = factory.informer::<Pod>();
    let queue = WorkQueue::new();
    informer.add_handler(handlers::enqueue_self(queue.clone()));
    let reconciled = Arc::new(AtomicUsize::new(0));
    let runner = tokio::spawn(
        Controller::new("bench", queue)
            .workers(4)
            .wait_for(informer.synced())
            .run(counting(reconciled.clone()), cancel.clone()),
    );
    informer.synced().wait().await;
    let synced_after = t.elapsed();
    let rss_after = rss_kib();
    println!(
        "informer synced {} pods in {synced_after:.1?}; RSS +{:.1} MiB ({} -> {} MiB, {:.1} KiB per pod)",
        informer.store().len(),
        (rss_after - rss_before) as f64 / 1024.0,
        rss_before / 1024,
        rss_after / 1024,
        (rss_after - rss_before) as f64 / informer.store().len().max(1) as f64
    );
    wait_until(&reconciled, created).await;
    println!(
        "reconciled every pod {:.1?} after starting the informer ({:.1?} after sync)",
        t.elapsed(),
        t.elapsed() - synced_after
    );
    cancel.cancel();
    runner.await?;

    // 3: the queue and runner alone.
    for workers in [1, 4] {
        const KEYS: usize = 200_000;
        let cancel = CancellationToken::new();
        let queue = WorkQueue::new();
        let reconciled = Arc::new(AtomicUsize::new(0));
        let runner = tokio::spawn(
            Controller::new("bench", queue.clone())
                .workers(workers)
                .run(counting(reconciled.clone()), cancel.clone()),
        );
        let t = Instant::now();
        for i in 0..KEYS {
            queue.add(format!("default/key-{i}"));
        }
        wait_until(&reconciled, KEYS).await;
        let took = t.elapsed();
        println!(
            "queue + runner, {workers} worker(s): {KEYS} keys reconciled in {took:.1?} = {:.0} reconciles/s",
            KEYS as f64 / took.as_secs_f64()
        );
        cancel.cancel();
        runner.await?;
    }
    Ok(())
}
