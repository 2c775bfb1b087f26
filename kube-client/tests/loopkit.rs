//! The control-loop kit against the real kube-apiserver on a real etcd.
//!
//! Build the binaries first: `cargo build --bins && cargo test -p kube-client --test loopkit`.
//!
//! The reflector tests keep creating, updating and deleting pods while the apiserver or
//! etcd restarts (or etcd compacts), then check that the reflector's cache equals a fresh
//! list, and that no object's events arrived out of order.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kube_api::core::{Container, Pod};
use kube_client::reflector::Backoff;
use kube_client::{
    Api, CancellationToken, Change, Client, Config, DeleteParams, Informer, LeaderElectionArgs,
    LeaderElector, ListParams, PatchType, Reflector, Selectors, Store, WatchParams,
};
use testutil::ApiServer;

fn client(api: &ApiServer) -> anyhow::Result<Client> {
    // `RUST_LOG=kube_client=debug cargo test ... -- --nocapture` shows the loops narrate.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Ok(Client::new(Config::from_server(&api.url)?)?)
}

fn pod(name: &str, labelled: bool) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = name.into();
    if labelled {
        p.metadata.labels.insert("app".into(), "churn".into());
    }
    p.spec.containers.push(Container {
        name: "c".into(),
        image: "busybox".into(),
        ..Default::default()
    });
    p
}

/// Per object uid: the (resourceVersion, type) of every change the handler saw.
type Seen = Arc<Mutex<HashMap<String, Vec<(u64, &'static str)>>>>;

fn start_informer(client: Client, cancel: &CancellationToken) -> (Informer<Pod>, Seen) {
    let reflector = Reflector::new(
        Api::<Pod>::namespaced(client, "default"),
        Selectors::default().labels("app=churn"),
    )
    .with_backoff(Backoff::new(Duration::from_millis(50), Duration::from_secs(1)))
    .with_watch_timeout(Duration::from_secs(20));
    let informer = Informer::start_with(reflector, Vec::new(), cancel.clone());
    let seen: Seen = Arc::default();
    informer.add_handler({
        let seen = seen.clone();
        move |change: &Change<Pod>| {
            let (kind, obj) = match change {
                Change::Added(o) => ("added", o),
                Change::Updated { new, .. } => ("updated", new),
                Change::Deleted(o) => ("deleted", o),
            };
            let rv = obj.metadata.resource_version.parse().unwrap_or(0);
            seen.lock()
                .unwrap()
                .entry(obj.metadata.uid.clone())
                .or_default()
                .push((rv, kind));
        }
    });
    (informer, seen)
}

/// Creates, updates and deletes labelled pods (and creates unlabelled ones the selector
/// must hide) until `stop`. Errors (the apiserver is down) are ignored: we just go on.
fn churn(pods: Api<Pod>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut i = 0usize;
        let mut ok = 0usize;
        while !stop.load(Ordering::SeqCst) {
            i += 1;
            let name = format!("churn-{i}");
            if pods.create(&pod(&name, !i.is_multiple_of(5))).await.is_ok() {
                ok += 1;
            }
            if i > 3 {
                let patch = serde_json::json!({"metadata":{"annotations":{"touch":i.to_string()}}});
                let _ = pods.patch(&format!("churn-{}", i - 2), &PatchType::Merge, &patch).await;
            }
            if i > 6 && i.is_multiple_of(2) {
                let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
                let _ = pods.delete(&format!("churn-{}", i - 5), &dp).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ok
    })
}

fn snapshot(store: &Store<Pod>) -> BTreeMap<String, String> {
    store
        .list()
        .iter()
        .map(|p| (p.metadata.name.clone(), p.metadata.resource_version.clone()))
        .collect()
}

/// Waits (at most 30 s) until the cache equals a fresh list of the same selection.
async fn assert_store_equals_fresh_list(pods: &Api<Pod>, store: &Store<Pod>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = pods.list(&ListParams::default().labels("app=churn")).await?;
        let fresh: BTreeMap<String, String> = list
            .items
            .iter()
            .map(|p| (p.metadata.name.clone(), p.metadata.resource_version.clone()))
            .collect();
        let cached = snapshot(store);
        if cached == fresh {
            assert!(!fresh.is_empty());
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the cache never matched a fresh list:\ncache: {cached:?}\nfresh: {fresh:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every object's changes arrive in version order, and nothing after its deletion.
fn assert_in_order(seen: &Seen) {
    for (uid, events) in seen.lock().unwrap().iter() {
        for pair in events.windows(2) {
            let ((rv1, k1), (rv2, _)) = (pair[0], pair[1]);
            assert!(k1 != "deleted", "{uid}: a change after its deletion: {events:?}");
            assert!(rv1 <= rv2, "{uid}: out of order: {events:?}");
        }
    }
}

enum Disruption {
    ApiServerRestart,
    EtcdRestart,
    CompactionThenApiServerRestart,
}

async fn reflector_survives(disruption: Disruption) -> anyhow::Result<()> {
    let mut api = ApiServer::start()?;
    let client = client(&api)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        pods.create(&pod(&format!("before-{i}"), true)).await?;
    }
    let cancel = CancellationToken::new();
    let (informer, seen) = start_informer(client.clone(), &cancel);
    informer.synced().wait().await;
    assert_eq!(informer.store().len(), 10);
    let stop = Arc::new(AtomicBool::new(false));
    let churner = churn(pods.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(700)).await;

    match disruption {
        Disruption::ApiServerRestart => tokio::task::block_in_place(|| api.restart())?,
        Disruption::EtcdRestart => {
            tokio::task::block_in_place(|| api.etcd.as_mut().context("etcd")?.restart())?
        }
        Disruption::CompactionThenApiServerRestart => {
            // An old version the reflector has seen, and the current one.
            let old = pods.list(&ListParams::default()).await?.metadata.resource_version;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = pods.list(&ListParams::default()).await?.metadata.resource_version;
            let out = std::process::Command::new(testutil::ETCDCTL_BIN)
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", api.etcd_endpoint))
                .args(["compact", &now])
                .output()?;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            // A new apiserver's watch cache starts at the present: older versions are gone.
            tokio::task::block_in_place(|| api.restart())?;
            let mut gone = false;
            if let Ok(mut s) = pods.watch(&WatchParams::from_version(&old)).await {
                use futures::StreamExt;
                if let Ok(Some(Err(e))) = tokio::time::timeout(Duration::from_secs(5), s.next()).await {
                    gone = e.is_gone();
                }
            }
            assert!(gone, "a watch from a compacted version answers 410 Gone");
        }
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let created = churner.await?;
    assert!(created > 20, "the churn made progress ({created} pods)");
    assert_store_equals_fresh_list(&pods, &informer.store()).await?;
    assert_in_order(&seen);
    cancel.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_equals_a_fresh_list_after_an_apiserver_restart() -> anyhow::Result<()> {
    reflector_survives(Disruption::ApiServerRestart).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_equals_a_fresh_list_after_an_etcd_restart() -> anyhow::Result<()> {
    reflector_survives(Disruption::EtcdRestart).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_equals_a_fresh_list_after_a_compaction_forces_410_gone() -> anyhow::Result<()> {
    reflector_survives(Disruption::CompactionThenApiServerRestart).await
}

/// A candidate running in its own task; `leading` says whether its loops run now.
struct Candidate {
    shutdown: CancellationToken,
    leading: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn candidate(client: Client, id: &str, args: &LeaderElectionArgs) -> Candidate {
    let shutdown = CancellationToken::new();
    let leading = Arc::new(AtomicBool::new(false));
    let elector = LeaderElector::new(client, "test-controller", id, args.clone());
    let task = tokio::spawn({
        let (shutdown, leading) = (shutdown.clone(), leading.clone());
        async move {
            let _ = elector
                .run(shutdown, |token| async move {
                    leading.store(true, Ordering::SeqCst);
                    token.cancelled().await;
                    leading.store(false, Ordering::SeqCst);
                })
                .await;
        }
    });
    Candidate { shutdown, leading, task }
}

fn leaders(cs: &[&Candidate]) -> usize {
    cs.iter().filter(|c| c.leading.load(Ordering::SeqCst)).count()
}

async fn wait_for_leader(cs: &[&Candidate], within: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        match leaders(cs) {
            1 => return Ok(start.elapsed()),
            0 if start.elapsed() < within => tokio::time::sleep(Duration::from_millis(20)).await,
            n => bail!("{n} leaders after {:?}", start.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_candidate_leads_and_another_takes_over_when_it_dies() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let args = LeaderElectionArgs {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
        ..Default::default()
    };
    let a = candidate(client.clone(), "a", &args);
    let b = candidate(client.clone(), "b", &args);
    wait_for_leader(&[&a, &b], Duration::from_secs(5)).await?;
    // Stays exactly one for a while (several renewals).
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(leaders(&[&a, &b]), 1);
    }
    let (leader, other) = if a.leading.load(Ordering::SeqCst) { (a, b) } else { (b, a) };

    // A crash: the task vanishes without releasing the lease.
    leader.task.abort();
    let took = wait_for_leader(&[&other], Duration::from_secs(5)).await?;
    assert!(
        took < args.lease_duration + 3 * args.retry_period,
        "took over after {took:?}, lease duration {:?}",
        args.lease_duration
    );

    // A graceful shutdown releases the lease: the next candidate need not wait it out.
    let c = candidate(client.clone(), "c", &args);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.leading.load(Ordering::SeqCst));
    other.shutdown.cancel();
    other.task.await?;
    let took = wait_for_leader(&[&c], Duration::from_secs(5)).await?;
    assert!(took < Duration::from_secs(1), "a released lease is taken at once, not after {took:?}");
    c.shutdown.cancel();
    c.task.await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_are_counted_on_one_event() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let client = client(&api)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p = pods.create(&pod("web", true)).await?;
    let recorder = kube_client::Recorder::new(client.clone(), "test-controller", "host-1");
    let reference = kube_client::events::reference(&p);
    let first = recorder
        .publish(reference.clone(), kube_client::EventType::Warning, "FailedScheduling", "no nodes")
        .await?;
    assert!(first.metadata.name.starts_with("web."), "{}", first.metadata.name);
    let again = recorder
        .publish(reference.clone(), kube_client::EventType::Warning, "FailedScheduling", "no nodes")
        .await?;
    assert_eq!(again.metadata.name, first.metadata.name);
    assert_eq!(again.count, Some(2));
    let other = recorder
        .publish(reference, kube_client::EventType::Normal, "Scheduled", "assigned to node-1")
        .await?;
    assert_ne!(other.metadata.name, first.metadata.name);
    let out = api.kubectl().ok(&["get", "events", "-o", "wide"])?;
    assert!(out.contains("FailedScheduling") && out.contains("pod/web"), "{out}");
    Ok(())
}
