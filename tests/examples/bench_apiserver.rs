//! The apiserver benchmark of issue 2: prints, in one run,
//! 1. the raw etcd put rate (etcd-client) and the pod create rate through the apiserver,
//!    both at the same concurrency, and their ratio;
//! 2. with 1,000 concurrent watchers on pods (HTTP watch streams through the apiserver),
//!    the latency from a write's response to the event's delivery at every watcher, p50/p99;
//! 3. the apiserver's RSS (VmRSS from /proc/PID/status) idle and with 10,000 pods stored.
//!
//! It starts its own etcd and the apiserver binary found beside it (a release build, so
//! build that first). Run with:
//!
//! ```text
//! cargo build --release -p kube-apiserver --bin kube-apiserver
//! cargo run --release -p e2e --example bench_apiserver
//! ```
//!
//! Not part of the test suite: the figures depend on the machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use kube_api::registry;
use kube_client::{DynamicApi, ListParams, PostParams, WatchParams};
use serde_json::{json, Value};
use testutil::ApiServer;

/// Concurrent writers in part 1.
const CONCURRENCY: usize = 32;
/// Raw etcd puts in part 1.
const ETCD_PUTS: usize = 10_000;
/// Pods created through the apiserver in part 1.
const POD_CREATES: usize = 3_000;
/// Watchers and writes in part 2.
const WATCHERS: usize = 1_000;
const WATCHED_WRITES: usize = 20;
/// Pods stored for part 3.
const STORED_PODS: usize = 10_000;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"app": "bench"}},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}})
}

/// The apiserver's resident memory, in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `count` jobs `job(i)` with `CONCURRENCY` workers; returns the elapsed time.
async fn run_concurrently<F, Fut>(count: usize, job: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    job(i).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let pid = api.pid().context("apiserver pid")?;
    let apiserver_bin = testutil::binary("kube-apiserver")?;
    println!("apiserver: {} (pid {pid}), etcd {}", apiserver_bin.display(), api.etcd_endpoint);
    let client = e2e::client(&api)?;
    let pods = DynamicApi::new(client.clone(), registry::by_plural("", "pods").expect("pods"), "default");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_mib(pid)?;

    // 1. Raw etcd puts vs pod creates, same concurrency.
    let etcd = etcd_client::Client::connect([api.etcd_endpoint.as_str()], None).await?;
    let value = serde_json::to_vec(&pod("raw-put-value-of-a-pods-size"))?;
    let etcd_time = {
        let etcd = etcd.clone();
        run_concurrently(ETCD_PUTS, move |i| {
            let (mut kv, value) = (etcd.kv_client(), value.clone());
            async move {
                kv.put(format!("/bench/raw/{i}"), value, None).await?;
                Ok(())
            }
        })
        .await?
    };
    let etcd_rate = ETCD_PUTS as f64 / etcd_time.as_secs_f64();
    let create_time = {
        let pods = pods.clone();
        run_concurrently(POD_CREATES, move |i| {
            let pods = pods.clone();
            async move {
                pods.create(&pod(&format!("p-{i:05}")), &PostParams::default()).await?;
                Ok(())
            }
        })
        .await?
    };
    let create_rate = POD_CREATES as f64 / create_time.as_secs_f64();
    println!("\n1. writes at concurrency {CONCURRENCY}");
    println!("   etcd put (etcd-client):        {etcd_rate:>8.0}/s  ({ETCD_PUTS} puts in {etcd_time:.2?})");
    println!("   pod create (via apiserver):    {create_rate:>8.0}/s  ({POD_CREATES} pods in {create_time:.2?})");
    println!("   ratio apiserver/etcd:          {:>8.3}  (etcd is {:.1}x faster)", create_rate / etcd_rate, etcd_rate / create_rate);

    // 2. 1,000 watchers; latency from each write's response to its delivery at each watcher.
    let from = pods.list(&ListParams::default().limit(1)).await?.metadata.resource_version;
    let mut watchers = Vec::with_capacity(WATCHERS);
    let opened = Instant::now();
    for _ in 0..WATCHERS {
        let stream = pods.watch(&WatchParams::from_version(&from)).await?;
        watchers.push(tokio::spawn(async move {
            let mut stream = stream;
            let mut arrivals: Vec<(String, Instant)> = Vec::with_capacity(WATCHED_WRITES);
            while arrivals.len() < WATCHED_WRITES {
                match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
                    Ok(Some(Ok(event))) => {
                        let name = event.object().and_then(|o| o.pointer("/metadata/name")).and_then(Value::as_str).unwrap_or("").to_string();
                        if name.starts_with("w-") {
                            arrivals.push((name, Instant::now()));
                        }
                    }
                    _ => break,
                }
            }
            arrivals
        }));
    }
    println!("\n2. {WATCHERS} watchers opened in {:.2?}", opened.elapsed());
    let mut answered = std::collections::HashMap::new();
    for i in 0..WATCHED_WRITES {
        let name = format!("w-{i:02}");
        pods.create(&pod(&name), &PostParams::default()).await?;
        answered.insert(name, Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::with_capacity(WATCHERS * WATCHED_WRITES);
    let mut early = 0usize;
    let mut complete = 0usize;
    for w in watchers {
        let arrivals = w.await?;
        if arrivals.len() == WATCHED_WRITES {
            complete += 1;
        }
        for (name, at) in arrivals {
            let Some(sent) = answered.get(&name) else { continue };
            match at.checked_duration_since(*sent) {
                Some(d) => latencies.push(d),
                None => {
                    // Delivered before the writer had read its own answer.
                    early += 1;
                    latencies.push(Duration::ZERO);
                }
            }
        }
    }
    latencies.sort();
    println!("   {WATCHED_WRITES} writes, 100 ms apart; {} deliveries ({complete}/{WATCHERS} watchers saw all)", latencies.len());
    println!("   write response -> delivery:   p50 {:.2?}  p99 {:.2?}  max {:.2?}  ({early} arrived before the response)",
        percentile(&latencies, 0.50), percentile(&latencies, 0.99), latencies.last().copied().unwrap_or_default());

    // 3. RSS idle and with 10,000 pods stored (measured before any big list, whose answer
    //    would grow the heap by itself).
    let have = POD_CREATES + WATCHED_WRITES;
    {
        let pods = pods.clone();
        run_concurrently(STORED_PODS - have, move |i| {
            let pods = pods.clone();
            async move {
                pods.create(&pod(&format!("q-{i:05}")), &PostParams::default()).await?;
                Ok(())
            }
        })
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_mib(pid)?;
    let first = pods.list(&ListParams::default().limit(1)).await?;
    let count = 1 + first.metadata.remaining_item_count.unwrap_or(0);
    println!("\n3. apiserver RSS");
    println!("   idle:                         {idle:>8.1} MiB");
    println!("   with {count} pods stored:    {loaded:>8.1} MiB");
    let _ = pods.list(&ListParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("   after one full list of them:  {:>8.1} MiB", rss_mib(pid)?);
    Ok(())
}
