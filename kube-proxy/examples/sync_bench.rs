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
//! - **initial**: from the last create answered to the rules applied (the proxier's
//!   metrics show a restore covering every service port);
//! - **one change**: the Endpoints of one Service updated, to the rules applied — a full
//!   regeneration and `iptables-restore` of everything (upstream's partial syncs would
//!   rewrite only that Service's chains);
//! - **floor**: a bare `iptables-restore --noflush --counters` of the same text, into an
//!   empty namespace and again into the proxier's (replacing identical rules).

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
    println!("| services | endpoints | restore input | nat rules | initial: last create → applied | one change → applied | sync (build + restore) | bare restore, empty ns | bare restore, same rules | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        bench(n)?;
    }
    Ok(())
}

fn bench(n: usize) -> anyhow::Result<()> {
    let etcd = testutil::Etcd::start()?;
    let api = testutil::ApiServer::start_on(&etcd.endpoint, &["--service-cluster-ip-range=10.96.0.0/12"])?;
    let ns = NetNs::create("kp-bench")?;
    ns.forward_loopback(api.port)?;
    let metrics = Arc::new(Metrics::new(Duration::from_secs(30)));
    let cancel = CancellationToken::new();

    // The proxier, on a runtime whose threads all live in the namespace: a thread that
    // entered it creates the runtime, and threads inherit their creator's namespace.
    let proxier_thread = {
        let (path, url, metrics, cancel) = (ns.path(), api.url.clone(), metrics.clone(), cancel.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            nix::sched::setns(std::fs::File::open(&path)?, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let client = Client::new(kube_client::Config::from_server(&url)?)?;
                let options = ProxierOptions {
                    rules: ProxyConfig { cluster_cidr: Some("10.244.0.0/16".into()), ..Default::default() },
                    node_port_cidrs: Vec::new(),
                    sync_period: Duration::from_secs(30),
                    min_sync_period: Duration::from_secs(1),
                };
                Proxier::new(options, metrics).run(client, cancel).await;
                anyhow::Ok(())
            })
        })
    };

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

        // One change: a different endpoint for one Service.
        let before = metrics.snapshot().restores;
        let mut ep = endpoints.get("svc-0").await?;
        ep.subsets = endpoints_of(0, 1).subsets;
        endpoints.replace(&ep).await?;
        let changed = Instant::now();
        let one_change = wait_applied(&metrics, total_ports, before, changed).await?;
        let snap = metrics.snapshot();

        // The same text, built here from the same objects, restored bare.
        let svcs = services.list(&ListParams::default()).await?.items;
        let eps = Api::<Endpoints>::all(client).list(&ListParams::default()).await?.items;
        let text = rules::build(&rules::service_ports(&svcs, &eps), &ProxyConfig { cluster_cidr: Some("10.244.0.0/16".into()), ..Default::default() }).restore_input(&[]);
        anyhow::Ok((initial, one_change, snap, text))
    });
    cancel.cancel();
    let _ = proxier_thread.join();
    let (initial, one_change, snap, text) = result?;
    let fresh = NetNs::create("kp-floor")?;
    let floor_empty = bare_restore(&fresh, &text)?;
    let floor_same = bare_restore(&ns, &text)?;
    println!(
        "| {n} | {} | {:.1} MB | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.1}× |",
        snap.endpoints,
        snap.last_restore_bytes as f64 / 1e6,
        snap.nat_rules,
        initial.as_secs_f64(),
        one_change.as_secs_f64(),
        snap.last_duration.as_secs_f64(),
        floor_empty.as_secs_f64(),
        floor_same.as_secs_f64(),
        one_change.as_secs_f64() / floor_same.as_secs_f64(),
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

fn bare_restore(ns: &NetNs, text: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut child = ns.command("iptables-restore").args(["-w", "5", "--noflush", "--counters"]).stdin(Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "iptables-restore failed");
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
