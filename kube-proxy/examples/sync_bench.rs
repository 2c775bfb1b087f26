//! How long does a full sync take with 1,000 and 10,000 Services × 5 endpoints?
//!
//! Run with (root; the apiserver binary from a debug build is fine, it is not measured):
//! ```text
//! cargo build --bins && KUBE_BIN_DIR=target/debug cargo run --release -p kube-proxy --example sync_bench -- 1000 10000
//! ```
//!
//! For each size: a fresh etcd + kube-apiserver on the host's loopback, a fresh network
//! namespace, and the proxier (this crate's library, built in release) running inside it on
//! its own tokio runtime. The objects are created through the API while the proxier runs.
//! Measured:
//! - **full sync**: from the last create answered to the rules applied (the proxier's
//!   metrics show a restore covering every service port). While objects are being created,
//!   the proxier already syncs (partially) every second; the figure is the catch-up after
//!   the last one;
//! - **full sync, alone**: the proxier's own duration of a full sync from scratch (a second
//!   proxier, started on the complete caches, in a fresh namespace);
//! - **one change**: the Endpoints of one Service updated, to the rules applied — a
//!   *partial* sync: the shared chains plus that Service's chains;
//! - **floors**, bare `iptables-restore --noflush --counters` of the same texts: the full
//!   text in one transaction (upstream's way; skipped above 2,000 Services, where it takes
//!   minutes: see docs/kube-proxy.md), the full text in the proxier's transactions, both
//!   into an empty namespace; the partial text into the proxier's namespace.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{stream, StreamExt, TryStreamExt};
use kube_api::core::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort};
use kube_client::{Api, CancellationToken, Client, ListParams};
use kube_proxy::server::Metrics;
use kube_proxy::{rules, Proxier, ProxierOptions, ProxyConfig};
use testutil::netns::NetNs;

const ENDPOINTS_PER_SERVICE: usize = 5;

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() { vec![1000, 10_000] } else { sizes };
    println!("| services | endpoints | nat rules | full input | last create → applied | full sync, alone | floor: 1 transaction | floor: our transactions | ratio | one change → applied (partial) | partial input | floor: partial | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        bench(n)?;
    }
    Ok(())
}

fn options() -> ProxierOptions {
    ProxierOptions { rules: config(), node_port_cidrs: Vec::new(), sync_period: Duration::from_secs(30), min_sync_period: Duration::from_secs(1) }
}

fn config() -> ProxyConfig {
    ProxyConfig { cluster_cidr: Some("10.244.0.0/16".into()), ..Default::default() }
}

/// Runs a proxier inside `ns` on its own runtime, whose threads all live in the namespace
/// (a thread that entered it creates the runtime, and threads inherit their creator's).
fn spawn_proxier(ns: &NetNs, url: &str, metrics: Arc<Metrics>, cancel: CancellationToken) -> std::thread::JoinHandle<anyhow::Result<()>> {
    let (path, url) = (ns.path(), url.to_string());
    std::thread::spawn(move || -> anyhow::Result<()> {
        nix::sched::setns(std::fs::File::open(&path)?, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        rt.block_on(async move {
            let client = Client::new(kube_client::Config::from_server(&url)?)?;
            Proxier::new(options(), metrics).run(client, cancel).await;
            anyhow::Ok(())
        })
    })
}

fn bench(n: usize) -> anyhow::Result<()> {
    let etcd = testutil::Etcd::start()?;
    let api = testutil::ApiServer::start_on(&etcd.endpoint, &["--service-cluster-ip-range=10.96.0.0/12"])?;
    let ns = NetNs::create("kp-bench")?;
    ns.forward_loopback(api.port)?;
    let metrics = Arc::new(Metrics::new(Duration::from_secs(30)));
    let cancel = CancellationToken::new();
    let proxier_thread = spawn_proxier(&ns, &api.url, metrics.clone(), cancel.clone());

    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        let client = Client::new(kube_client::Config::from_server(&api.url)?)?;
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
        stream::iter(0..n)
            .map(|i| {
                let (services, endpoints) = (services.clone(), endpoints.clone());
                async move {
                    // The apiserver's ClusterIP allocator is one etcd key: concurrent
                    // creates may fail with "too much contention"; try again.
                    let mut tries = 0;
                    while let Err(e) = services.create(&service(i)).await {
                        tries += 1;
                        anyhow::ensure!(tries < 20, "create svc-{i}: {e}");
                    }
                    endpoints.create(&endpoints_of(i, 0)).await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        let last_create = Instant::now();
        let total_ports = services.list(&ListParams::default()).await?.items.len();
        let initial = wait_applied(&metrics, total_ports, 0, last_create).await?;

        // A second proxier in a fresh namespace: one full sync of everything, alone.
        let fresh = NetNs::create("kp-bench2")?;
        fresh.forward_loopback(api.port)?;
        let metrics2 = Arc::new(Metrics::new(Duration::from_secs(30)));
        let cancel2 = CancellationToken::new();
        let second = spawn_proxier(&fresh, &api.url, metrics2.clone(), cancel2.clone());
        wait_applied(&metrics2, total_ports, 0, Instant::now()).await?;
        let alone = metrics2.snapshot();
        cancel2.cancel();
        let _ = second.join();
        anyhow::ensure!(alone.full_syncs == 1, "the second proxier did not do one full sync: {alone:?}");

        // One change: a different endpoint for one Service.
        let before = metrics.snapshot().restores;
        let mut ep = endpoints.get("svc-0").await?;
        ep.subsets = endpoints_of(0, 1).subsets;
        endpoints.replace(&ep).await?;
        let changed = Instant::now();
        let one_change = wait_applied(&metrics, total_ports, before, changed).await?;
        let snap = metrics.snapshot();

        // The same texts, built here from the same objects, restored bare.
        let svcs = services.list(&ListParams::default()).await?.items;
        let eps = Api::<Endpoints>::all(client).list(&ListParams::default()).await?.items;
        let rules = rules::build(&rules::service_ports(&svcs, &eps, ""), &config());
        anyhow::Ok((initial, alone, one_change, snap, rules))
    });
    cancel.cancel();
    let _ = proxier_thread.join();
    let (initial, alone, one_change, snap, rules) = result?;
    let full = rules.restore_input(&[]);
    let floor_one = if n <= 2000 { Some(bare_restore(&NetNs::create("kp-floor")?, &[full.clone()])?) } else { None };
    let floor_ours = bare_restore(&NetNs::create("kp-floor")?, &rules.restore_inputs(|_| true, &[], rules::MAX_CHAINS_PER_RESTORE))?;
    let partial = rules.partial_restore_input(|name| name == "default/svc-0", &[]);
    let floor_partial = bare_restore(&ns, &[partial.clone()])?;
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "| {n} | {} | {} | {:.1} MB | {} | {} | {} | {} | {:.1}× | {} | {:.2} MB | {} | {:.1}× |",
        snap.endpoints,
        snap.nat_rules,
        full.len() as f64 / 1e6,
        secs(initial),
        secs(alone.last_duration),
        floor_one.map(secs).unwrap_or_else(|| "skipped".into()),
        secs(floor_ours),
        alone.last_duration.as_secs_f64() / floor_ours.as_secs_f64(),
        secs(one_change),
        partial.len() as f64 / 1e6,
        secs(floor_partial),
        one_change.as_secs_f64() / floor_partial.as_secs_f64(),
    );
    Ok(())
}

/// Waits until a restore beyond `restores_before` covered `ports` service ports.
async fn wait_applied(metrics: &Metrics, ports: usize, restores_before: u64, since: Instant) -> anyhow::Result<Duration> {
    loop {
        let s = metrics.snapshot();
        if s.restores > restores_before && s.service_ports == ports {
            return Ok(since.elapsed());
        }
        if since.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("rules not applied after 10 minutes: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `iptables-restore` of each input in turn, in `ns`; the total time.
fn bare_restore(ns: &NetNs, inputs: &[String]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for text in inputs {
        let mut child = ns.command("iptables-restore").args(["-w", "5", "--noflush", "--counters"]).stdin(Stdio::piped()).spawn()?;
        child.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
        anyhow::ensure!(child.wait()?.success(), "iptables-restore failed");
    }
    Ok(start.elapsed())
}

fn service(i: usize) -> Service {
    let mut s = Service::default();
    s.metadata.name = format!("svc-{i}");
    s.spec.ports = vec![ServicePort { port: 80, target_port: Some(8080.into()), ..Default::default() }];
    s
}

/// Five endpoints; `shift` moves them (a "change").
fn endpoints_of(i: usize, shift: usize) -> Endpoints {
    let mut e = Endpoints::default();
    e.metadata.name = format!("svc-{i}");
    let addresses = (0..ENDPOINTS_PER_SERVICE)
        .map(|k| {
            let pod = i * ENDPOINTS_PER_SERVICE + k + shift;
            EndpointAddress { ip: format!("10.244.{}.{}", pod / 250, pod % 250 + 1), ..Default::default() }
        })
        .collect();
    e.subsets = vec![EndpointSubset { addresses, ports: vec![EndpointPort { port: 8080, ..Default::default() }], ..Default::default() }];
    e
}
