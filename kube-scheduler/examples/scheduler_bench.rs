//! How fast does kube-scheduler place a backlog of pods, end to end through the apiserver?
//!
//! Run with: `cargo build --release --bins --examples && target/release/examples/scheduler_bench --nodes 1000 --pods 10000`
//!
//! 1. Starts a private etcd and the real kube-apiserver (from the same target directory).
//! 2. Registers `--nodes` simulated nodes (32 CPUs, 128Gi, 110 pods each; leases renewed).
//! 3. Creates `--pods` pending pods (100m, 128Mi each), *before* any scheduler runs.
//! 4. Starts the real kube-scheduler binary and watches the pods get bound.
//!
//! Prints: pods bound per second (scheduler start → last binding), the p50/p99 time from a
//! pod's creation and from the scheduler's start to its binding, the scheduler's own
//! timings from `/metrics` (filter + score vs. the binding round trip), and the CPU time
//! each process used — which one is the bottleneck.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::{stream, StreamExt, TryStreamExt};
use kube_api::core::{Container, Pod};
use kube_client::reflector::Selectors;
use kube_client::{Api, CancellationToken, Change, Client, Config, Informer};
use testutil::sim::{SimNodes, SimOptions};
use testutil::{ApiServer, Process};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    #[arg(long, default_value_t = 10000)]
    pods: usize,
    /// Concurrent creates.
    #[arg(long, default_value_t = 64)]
    parallelism: usize,
}

fn pod(i: usize) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = format!("bench-{i:05}");
    let mut c = Container { name: "c".into(), image: "pause".into(), ..Default::default() };
    c.resources.requests.insert("cpu".into(), "100m".into());
    c.resources.requests.insert("memory".into(), "128Mi".into());
    p.spec.containers.push(c);
    p
}

/// utime + stime of a process, from /proc.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api = ApiServer::start()?;
    let client = Client::new(Config::from_server(&api.url)?)?;
    println!("apiserver {} (pid {:?})", api.url, api.pid());

    let t = Instant::now();
    let sim_opts = SimOptions { count: args.nodes, cpu: "32".into(), memory: "128Gi".into(), ..Default::default() };
    let _sim = SimNodes::start(client.clone(), sim_opts).await?;
    println!("registered {} nodes in {:.1?}", args.nodes, t.elapsed());

    // Watch bindings from the start, so that every one is seen.
    let bound_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let cancel = CancellationToken::new();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let informer = Informer::start(pods_api.clone(), Selectors::default(), Vec::new(), cancel.clone());
    informer.add_handler({
        let bound_at = bound_at.clone();
        move |change: &Change<Pod>| {
            let p = change.object();
            if !p.spec.node_name.is_empty() {
                bound_at.lock().unwrap_or_else(|e| e.into_inner()).entry(p.metadata.name.clone()).or_insert_with(Instant::now);
            }
        }
    });
    informer.synced().wait().await;

    let t = Instant::now();
    let created_at: Vec<(String, Instant)> = stream::iter(0..args.pods)
        .map(|i| {
            let api = pods_api.clone();
            async move {
                let p = pod(i);
                api.create(&p).await.map(|_| (p.metadata.name.clone(), Instant::now()))
            }
        })
        .buffer_unordered(args.parallelism)
        .try_collect()
        .await?;
    let create_secs = t.elapsed().as_secs_f64();
    println!("created {} pods in {create_secs:.1}s ({:.0}/s)", args.pods, args.pods as f64 / create_secs);

    let api_cpu_before = cpu_seconds(api.pid());
    let port = testutil::free_port();
    let start = Instant::now();
    let sched = Process::start_with_env(
        "kube-scheduler",
        &[&format!("--master={}", api.url), "--leader-elect=false", "--bind-address=127.0.0.1", &format!("--secure-port={port}")],
        &[("RUST_LOG", "warn")],
    )?;
    let deadline = start + Duration::from_secs(600);
    loop {
        let n = bound_at.lock().unwrap_or_else(|e| e.into_inner()).len();
        if n >= args.pods {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {n} of {} pods bound after 10 minutes", args.pods);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sched_cpu = cpu_seconds(sched.pid());
    let api_cpu = cpu_seconds(api.pid()) - api_cpu_before;
    let bound_at = bound_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let last = bound_at.values().max().copied().context("no bindings")?;
    let total = last.duration_since(start).as_secs_f64();
    let mut from_start: Vec<Duration> = bound_at.values().map(|b| b.duration_since(start)).collect();
    let mut from_create: Vec<Duration> = created_at.iter().filter_map(|(n, c)| bound_at.get(n).map(|b| b.duration_since(*c))).collect();
    from_start.sort();
    from_create.sort();

    let metrics = fetch_metrics(port).await.unwrap_or_default();
    let metric = |name: &str| -> f64 {
        metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    };
    println!("\n== {} pods on {} nodes ==", args.pods, args.nodes);
    println!("bound per second (scheduler start → last binding): {:.0} ({} pods in {total:.2}s)", args.pods as f64 / total, args.pods);
    println!("scheduler start → bound: p50 {:.2?}  p99 {:.2?}", percentile(&from_start, 0.5), percentile(&from_start, 0.99));
    println!("pod created → bound:     p50 {:.2?}  p99 {:.2?}", percentile(&from_create, 0.5), percentile(&from_create, 0.99));
    let (alg_sum, alg_n) = (metric("scheduler_scheduling_algorithm_duration_seconds_sum"), metric("scheduler_scheduling_algorithm_duration_seconds_count"));
    let (bind_sum, bind_n) = (metric("scheduler_binding_duration_seconds_sum"), metric("scheduler_binding_duration_seconds_count"));
    println!("scheduler: filter+score {:.0} µs/pod (total {alg_sum:.2}s), binding round trip {:.1} ms/pod (≤64 in flight)", alg_sum / alg_n.max(1.0) * 1e6, bind_sum / bind_n.max(1.0) * 1e3);
    println!("CPU during scheduling: kube-scheduler {sched_cpu:.1}s, kube-apiserver {api_cpu:.1}s (wall {total:.1}s, 2 cores)");
    cancel.cancel();
    Ok(())
}

/// GET /metrics from the scheduler, with a plain TCP request (no HTTP client needed).
async fn fetch_metrics(port: u16) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}
