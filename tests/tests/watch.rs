//! Watch through the real apiserver on a real etcd: replay from an old version, no event
//! lost or repeated across an etcd restart, 410 after compaction, selectors.
//!
//! The watches are kube-client's (`DynamicApi::watch`) on ConfigMaps, the simplest kind.

use std::collections::HashSet;
use std::time::Duration;

use e2e::{client, str_at};
use futures::StreamExt;
use kube_api::registry;
use kube_client::{DynamicApi, Event, ListParams, PatchType, PostParams, WatchParams};
use serde_json::{json, Value};
use testutil::ApiServer;
use tokio::time::{timeout, Instant};

fn configmaps(api: &ApiServer) -> anyhow::Result<DynamicApi> {
    let res = registry::by_plural("", "configmaps").expect("configmaps are registered");
    Ok(DynamicApi::new(client(api)?, res, "default"))
}

fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": name}})
}

fn rv(object: &Value) -> i64 {
    str_at(object, "/metadata/resourceVersion").parse().unwrap_or(0)
}

/// (type, name, resourceVersion) of an event.
fn summary(event: &Event<Value>) -> (String, String, i64) {
    let object = event.object().cloned().unwrap_or_default();
    (event.type_name().to_string(), str_at(&object, "/metadata/name").to_string(), rv(&object))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_an_old_version_receives_every_later_event_in_order() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = configmaps(&api)?;
    let pp = PostParams::default();
    let first = cms.create(&configmap("cm-0", json!({})), &pp).await?;
    let start = rv(&first);

    let mut expected = Vec::new();
    for i in 1..=10 {
        let created = cms.create(&configmap(&format!("cm-{i}"), json!({})), &pp).await?;
        expected.push(("ADDED".to_string(), format!("cm-{i}"), rv(&created)));
    }
    for i in [3, 5, 7] {
        let patched = cms.patch(&format!("cm-{i}"), &PatchType::Merge, &json!({"data": {"k": "changed"}}), &pp).await?;
        expected.push(("MODIFIED".to_string(), format!("cm-{i}"), rv(&patched)));
    }
    for i in [0, 4] {
        cms.delete(&format!("cm-{i}"), &Default::default()).await?;
        // The deletion's revision is etcd's; only its place in the order is checked below.
        expected.push(("DELETED".to_string(), format!("cm-{i}"), 0));
    }

    let mut stream = cms.watch(&WatchParams::from_version(&start.to_string())).await?;
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        match timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(event)) => seen.push(summary(&event?)),
            Ok(None) => anyhow::bail!("the watch ended after {seen:?}"),
            Err(_) => anyhow::bail!("no event within 10 s; seen {seen:?}, expected {expected:?}"),
        }
    }
    let without_delete_versions: Vec<_> =
        seen.iter().map(|(t, n, v)| (t.clone(), n.clone(), if t == "DELETED" { 0 } else { *v })).collect();
    assert_eq!(without_delete_versions, expected);
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "versions increase: {seen:?}");
    // Nothing more: the replay stops at the present.
    assert!(timeout(Duration::from_millis(500), stream.next()).await.is_err(), "an extra event");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_watch_sees_every_write_exactly_once_across_an_etcd_restart() -> anyhow::Result<()> {
    const WRITES: usize = 60;
    let mut api = ApiServer::start()?;
    let cms = configmaps(&api)?;
    let start = cms.list(&ListParams::default()).await?.metadata.resource_version;
    let mut etcd = Some(api.etcd.take().expect("ApiServer::start owns its etcd"));

    // The watcher: from `start`, re-watching from the last version it saw when a stream ends.
    let watcher = {
        let cms = configmaps(&api)?;
        tokio::spawn(async move {
            let mut last = start;
            let mut seen: Vec<(String, i64)> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen.len() < WRITES && Instant::now() < deadline {
                let Ok(mut stream) = cms.watch(&WatchParams::from_version(&last)).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                while let Ok(Some(event)) = timeout(Duration::from_secs(15), stream.next()).await {
                    let Ok(event) = event else { break };
                    let (type_, name, version) = summary(&event);
                    assert_eq!(type_, "ADDED", "only creates happen");
                    last = version.to_string();
                    seen.push((name, version));
                    if seen.len() >= WRITES {
                        break;
                    }
                }
            }
            seen
        })
    };

    // The writer: creates w-0 .. w-59, retrying each until etcd takes it. A create whose
    // answer was lost may have been stored: AlreadyExists then means "written once".
    let mut written = Vec::new();
    let mut restarted = None;
    for i in 0..WRITES {
        if i == WRITES / 3 {
            let mut etcd = etcd.take().expect("restarted once");
            let handle = tokio::task::spawn_blocking(move || etcd.restart().map(|_| etcd));
            restarted = Some(handle);
        }
        let name = format!("w-{i}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match cms.create(&configmap(&name, json!({})), &PostParams::default()).await {
                Ok(_) => break,
                Err(e) if e.is_already_exists() => break,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        written.push(name);
    }
    let etcd = restarted.expect("restarted in the loop").await??;
    api.etcd = Some(etcd);

    let seen = watcher.await?;
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a duplicate event: {names:?}");
    assert_eq!(names, written.iter().map(String::as_str).collect::<Vec<_>>(), "every write, once, in order");
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "versions increase: {seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_older_than_the_compacted_history_gets_410_expired() -> anyhow::Result<()> {
    let mut api = ApiServer::start()?;
    let cms = configmaps(&api)?;
    let pp = PostParams::default();
    let old = cms.create(&configmap("old", json!({})), &pp).await?;
    for i in 0..5 {
        cms.create(&configmap(&format!("cm-{i}"), json!({})), &pp).await?;
    }
    // A paged list holds a continue token at the list's revision.
    let page = cms.list(&ListParams::default().limit(2)).await?;
    assert!(!page.metadata.continue_.is_empty());
    // Compacting at a revision keeps it readable: compact at a later one.
    let after = cms.create(&configmap("after", json!({})), &pp).await?;
    let etcd = api.etcd.as_ref().expect("own etcd");
    let out = etcd.ctl(&["compact", &rv(&after).to_string()])?;
    anyhow::ensure!(out.status.success(), "etcdctl compact: {}", String::from_utf8_lossy(&out.stderr));

    // The next page was to be read at a compacted revision.
    let mut next = ListParams::default().limit(2);
    next.continue_token = Some(page.metadata.continue_.clone());
    let err = cms.list(&next).await.expect_err("a continue token from before the compaction");
    assert_eq!(err.status_code(), Some(410), "{err}");

    // A restarted apiserver's watch cache starts at the present: an older version is gone.
    api.restart()?;
    let cms = configmaps(&api)?;
    let mut stream = cms.watch(&WatchParams::from_version(&rv(&old).to_string())).await?;
    let first = timeout(Duration::from_secs(10), stream.next()).await?.expect("an ERROR event");
    let err = first.expect_err("410 as an ERROR event");
    let status = err.status().expect("a Status");
    assert_eq!(status.code, Some(410), "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("Expired"), "{status:?}");
    assert!(status.message.as_deref().unwrap_or("").contains("too old resource version"), "{status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apiserver_compacts_etcd_every_compaction_interval() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--etcd-compaction-interval=1s"])?;
    let cms = configmaps(&api)?;
    let first = cms.create(&configmap("first", json!({})), &PostParams::default()).await?;
    cms.patch("first", &PatchType::Merge, &json!({"data": {"k": "2"}}), &PostParams::default()).await?;
    let etcd = api.etcd.as_ref().expect("own etcd");
    let revision = rv(&first).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = etcd.ctl(&["get", "--prefix", "/registry/configmaps", "--keys-only", "--rev", &revision])?;
        if String::from_utf8_lossy(&out.stderr).contains("compacted") {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "revision {revision} still readable after 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The apiserver keeps serving through its own compactions.
    assert_eq!(str_at(&cms.get("first").await?, "/data/k"), "2");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_with_a_label_selector_sees_an_object_leave_as_deleted_and_return_as_added() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = configmaps(&api)?;
    let pp = PostParams::default();
    let wp = WatchParams { label_selector: Some("app=web".into()), ..WatchParams::from_version("0") };
    let mut stream = cms.watch(&wp).await?;
    cms.create(&configmap("other", json!({"app": "db"})), &pp).await?;
    cms.create(&configmap("web", json!({"app": "web"})), &pp).await?;
    cms.patch("web", &PatchType::Merge, &json!({"metadata": {"labels": {"app": "db"}}}), &pp).await?;
    cms.patch("other", &PatchType::Merge, &json!({"data": {"k": "x"}}), &pp).await?;
    cms.patch("web", &PatchType::Merge, &json!({"metadata": {"labels": {"app": "web"}}}), &pp).await?;
    cms.patch("web", &PatchType::Merge, &json!({"data": {"k": "y"}}), &pp).await?;

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = timeout(Duration::from_secs(10), stream.next()).await?.expect("the watch goes on")?;
        let (type_, name, _) = summary(&event);
        seen.push(format!("{type_} {name}"));
    }
    assert_eq!(seen, ["ADDED web", "DELETED web", "ADDED web", "MODIFIED web"]);
    assert!(timeout(Duration::from_millis(300), stream.next()).await.is_err(), "nothing about `other`");
    Ok(())
}
