//! Tests of the watch cache: decoding and event shapes on the in-memory store, then the
//! promises that matter on real etcd (replay from an old revision, a thousand watchers on
//! one etcd watch, an etcd restart in the middle of writes, re-list after compaction).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::*;
use crate::storage::conformance_tests::etcd_backend;
use crate::storage::memory::MemoryBackend;
use crate::storage::{KeyValue, ListResult, Result as StorageResult};

const WAIT: Duration = Duration::from_secs(20);

fn pod(name: &str, label: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"kind": "Pod", "metadata": {"name": name, "labels": {"app": label}}}),
    )
    .unwrap()
}

fn rv(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

async fn next(w: &mut CacheWatcher) -> Arc<CacheEvent> {
    tokio::time::timeout(WAIT, w.next())
        .await
        .expect("an event in time")
        .expect("the watch goes on")
}

async fn started(backend: Arc<dyn Backend>, window: usize) -> Arc<WatchCache> {
    let cache = WatchCache::start(backend, "/registry/pods/".into(), window);
    tokio::time::timeout(WAIT, cache.wait_ready())
        .await
        .expect("ready in time");
    cache
}

/// A backend wrapper for tests: counts watches, and can break every watch stream and hold
/// new ones back (what the cache sees while etcd is unreachable).
struct Faulty {
    inner: Arc<dyn Backend>,
    watches: AtomicUsize,
    paused: watch::Sender<bool>,
}

impl Faulty {
    fn new(inner: Arc<dyn Backend>) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner,
            watches: AtomicUsize::new(0),
            paused: watch::channel(false).0,
        })
    }
    fn pause(&self) {
        self.paused.send_replace(true);
    }
    fn resume(&self) {
        self.paused.send_replace(false);
    }
}

#[async_trait]
impl Backend for Faulty {
    async fn get(&self, key: &str) -> StorageResult<Option<KeyValue>> {
        self.inner.get(key).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: i64,
        revision: i64,
    ) -> StorageResult<ListResult> {
        self.inner.list(prefix, start_after, limit, revision).await
    }
    async fn create(&self, key: &str, value: Vec<u8>) -> StorageResult<i64> {
        self.inner.create(key, value).await
    }
    async fn update(&self, key: &str, value: Vec<u8>, expected: i64) -> StorageResult<i64> {
        self.inner.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: i64) -> StorageResult<i64> {
        self.inner.delete(key, expected).await
    }
    async fn watch(
        &self,
        prefix: &str,
        after: i64,
    ) -> StorageResult<BoxStream<'static, StorageResult<StorageEvent>>> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        let _ = self.paused.subscribe().wait_for(|paused| !paused).await;
        let events = self.inner.watch(prefix, after).await?;
        let mut paused = self.paused.subscribe();
        let broken = async move {
            let _ = paused.wait_for(|paused| *paused).await;
        };
        let error =
            stream::once(async { Err(StorageError::Unavailable("broken by the test".into())) });
        Ok(events.take_until(broken).chain(error).boxed())
    }
    async fn current_revision(&self) -> StorageResult<i64> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: i64) -> StorageResult<()> {
        self.inner.compact(revision).await
    }
}

// --- On the in-memory store: shapes of objects and events ---

#[tokio::test]
async fn cached_objects_carry_their_mod_revision_as_resource_version() {
    let backend = Arc::new(MemoryBackend::new());
    let created = backend
        .create("/registry/pods/default/a", pod("a", "x"))
        .await
        .unwrap();
    let cache = started(backend.clone(), 100).await;
    let object = cache
        .get("/registry/pods/default/a")
        .expect("listed object");
    assert_eq!(rv(&object), created);
    let (items, revision) = cache.snapshot();
    assert_eq!((items.len(), revision), (1, created));
}

#[tokio::test]
async fn events_carry_previous_objects_and_a_deletion_carries_the_deletion_revision() {
    let backend = Arc::new(MemoryBackend::new());
    let cache = started(backend.clone(), 100).await;
    let mut w = cache.watch(0).unwrap();
    let key = "/registry/pods/default/a";
    let created = backend.create(key, pod("a", "x")).await.unwrap();
    let updated = backend.update(key, pod("a", "y"), created).await.unwrap();
    let deleted = backend.delete(key, updated).await.unwrap();

    let added = next(&mut w).await;
    assert_eq!(
        (added.type_, added.revision, rv(&added.object)),
        (EventType::Added, created, created)
    );
    assert!(added.prev_object.is_none());
    let modified = next(&mut w).await;
    assert_eq!(
        (modified.type_, rv(&modified.object)),
        (EventType::Modified, updated)
    );
    let prev = modified.prev_object.as_ref().expect("previous object");
    assert_eq!(
        (prev["metadata"]["labels"]["app"].as_str(), rv(prev)),
        (Some("x"), created)
    );
    assert!(
        Arc::ptr_eq(prev, &added.object),
        "the previous object is the cached one, not a copy"
    );
    let gone = next(&mut w).await;
    assert_eq!(
        (gone.type_, rv(&gone.object)),
        (EventType::Deleted, deleted)
    );
    assert_eq!(gone.object["metadata"]["labels"]["app"], "y");
    assert_eq!(gone.prev_object.as_ref().map(|p| rv(p)), Some(updated));
    assert!(cache.get(key).is_none());
}

#[tokio::test]
async fn undecodable_values_are_skipped_without_stopping_the_cache() {
    let backend = Arc::new(MemoryBackend::new());
    backend
        .create("/registry/pods/default/bad", b"not json".to_vec())
        .await
        .unwrap();
    let cache = started(backend.clone(), 100).await;
    assert!(cache.is_empty());
    let mut w = cache.watch(0).unwrap();
    backend
        .create("/registry/pods/default/array", b"[1,2]".to_vec())
        .await
        .unwrap();
    let good = backend
        .create("/registry/pods/default/good", pod("good", "x"))
        .await
        .unwrap();
    let event = next(&mut w).await;
    assert_eq!(
        (event.key.as_str(), event.revision),
        ("/registry/pods/default/good", good)
    );
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn a_watch_older_than_the_window_is_too_old() {
    let backend = Arc::new(MemoryBackend::new());
    let cache = started(backend.clone(), 3).await;
    let start = cache.revision();
    let mut last = 0;
    for i in 0..5 {
        last = backend
            .create(&format!("/registry/pods/default/p{i}"), pod("p", "x"))
            .await
            .unwrap();
    }
    cache.wait_for_revision(last, WAIT).await.unwrap();
    let err = cache
        .watch(start)
        .err()
        .expect("the first events left the window");
    assert_eq!(
        err,
        TooOld {
            requested: start,
            oldest: last - 3
        }
    );
    let mut w = cache.watch(last - 3).expect("the window's start is served");
    for expected in last - 2..=last {
        assert_eq!(next(&mut w).await.revision, expected);
    }
}

#[tokio::test]
async fn a_watcher_that_falls_too_far_behind_is_ended() {
    let backend = Arc::new(MemoryBackend::new());
    let cache = started(backend.clone(), 10).await;
    let mut slow = cache.watch(0).unwrap();
    let mut last = 0;
    for i in 0..WATCHER_BUFFER + 10 {
        last = backend
            .create(&format!("/registry/pods/default/p{i}"), pod("p", "x"))
            .await
            .unwrap();
    }
    cache.wait_for_revision(last, WAIT).await.unwrap();
    assert!(tokio::time::timeout(WAIT, slow.next())
        .await
        .expect("answers")
        .is_none());
}

#[tokio::test]
async fn wait_for_revision_follows_writes_under_other_prefixes() {
    let backend = Arc::new(MemoryBackend::new());
    let cache = started(backend.clone(), 10).await;
    let elsewhere = backend
        .create("/registry/services/default/s", pod("s", "x"))
        .await
        .unwrap();
    cache
        .wait_for_revision(elsewhere, WAIT)
        .await
        .expect("progress moves the cache on");
    let err = cache
        .wait_for_revision(elsewhere + 10, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!((err.wanted, err.current), (elsewhere + 10, elsewhere));
}

#[tokio::test]
async fn dropping_the_cache_stops_its_task_and_ends_its_watchers() {
    let backend = Arc::new(MemoryBackend::new());
    let cache = started(backend.clone(), 10).await;
    let mut w = cache.watch(0).unwrap();
    drop(cache);
    assert!(tokio::time::timeout(WAIT, w.next())
        .await
        .expect("answers")
        .is_none());
}

// --- On real etcd ---

#[tokio::test]
async fn a_watcher_from_an_old_revision_receives_every_event_after_it_in_order() {
    let (_etcd, backend) = etcd_backend().await;
    let cache = started(backend.clone(), 10_000).await;
    let start = cache.revision();
    let mut revisions = Vec::new();
    for i in 0..20 {
        revisions.push(
            backend
                .create(&format!("/registry/pods/default/p{i}"), pod("p", "x"))
                .await
                .unwrap(),
        );
    }
    let rev = backend
        .update("/registry/pods/default/p0", pod("p", "y"), revisions[0])
        .await
        .unwrap();
    revisions.push(rev);
    revisions.push(
        backend
            .delete("/registry/pods/default/p1", revisions[1])
            .await
            .unwrap(),
    );
    cache
        .wait_for_revision(*revisions.last().unwrap(), WAIT)
        .await
        .unwrap();

    // From the start, and from the middle.
    for (from, expected) in [(start, &revisions[..]), (revisions[9], &revisions[10..])] {
        let mut w = cache.watch(from).unwrap();
        for &revision in expected {
            assert_eq!(next(&mut w).await.revision, revision);
        }
    }
    // Live events follow the replay with no gap.
    let mut w = cache.watch(start).unwrap();
    let live = backend
        .create("/registry/pods/default/live", pod("live", "x"))
        .await
        .unwrap();
    for &revision in revisions.iter().chain([&live]) {
        assert_eq!(next(&mut w).await.revision, revision);
    }
}

#[tokio::test]
async fn a_thousand_watchers_all_receive_an_event_from_one_etcd_watch() {
    let (_etcd, backend) = etcd_backend().await;
    let faulty = Faulty::new(backend.clone());
    let cache = started(faulty.clone(), 10_000).await;
    let watchers: Vec<CacheWatcher> = (0..1000).map(|_| cache.watch(0).unwrap()).collect();
    assert_eq!(cache.watcher_count(), 1000);
    let created = backend
        .create("/registry/pods/default/a", pod("a", "x"))
        .await
        .unwrap();
    let mut first: Option<Arc<CacheEvent>> = None;
    for mut w in watchers {
        let event = next(&mut w).await;
        assert_eq!(event.revision, created);
        // All share one decoded object.
        let first = first.get_or_insert_with(|| event.clone());
        assert!(Arc::ptr_eq(&first.object, &event.object));
    }
    assert_eq!(
        faulty.watches.load(Ordering::SeqCst),
        1,
        "one backend watch for all"
    );
    assert_eq!(
        cache.watcher_count(),
        0,
        "dropped watchers are no longer counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_an_etcd_restart_a_watcher_sees_every_successful_write_exactly_once_in_order() {
    let (mut etcd, backend) = etcd_backend().await;
    let cache = started(backend.clone(), 10_000).await;
    let mut w = cache.watch(cache.revision()).unwrap();
    let written = Arc::new(AtomicUsize::new(0));

    let writer = tokio::spawn({
        let (backend, written) = (backend.clone(), written.clone());
        async move {
            let mut successes: Vec<(String, i64)> = Vec::new();
            for i in 0..200 {
                let key = format!("/registry/pods/default/p{i:03}");
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                loop {
                    match backend.create(&key, pod("p", "x")).await {
                        Ok(revision) => break successes.push((key, revision)),
                        // An attempt that failed while etcd went down may have been applied.
                        Err(StorageError::AlreadyExists(_)) => {
                            let kv = backend.get(&key).await.unwrap().expect("key exists");
                            break successes.push((key, kv.mod_revision));
                        }
                        Err(err) => {
                            assert!(
                                tokio::time::Instant::now() < deadline,
                                "etcd back within 30 s: {err}"
                            );
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
            successes
        }
    });

    while written.load(Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| etcd.restart()).expect("etcd restarts");
    let successes = writer.await.expect("writer task");
    assert_eq!(successes.len(), 200);

    for (key, revision) in &successes {
        let event = next(&mut w).await;
        assert_eq!(
            (&event.key, event.revision, event.type_),
            (key, *revision, EventType::Added)
        );
    }
    let last = successes.last().map(|s| s.1).unwrap();
    cache.wait_for_revision(last, WAIT).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(300), w.next()).await;
    assert!(extra.is_err(), "no duplicate or extra event: {extra:?}");

    let (snapshot, revision) = cache.snapshot();
    let fresh = backend
        .list("/registry/pods/", None, 0, revision)
        .await
        .unwrap();
    let cached: Vec<(String, i64)> = snapshot.iter().map(|(k, v)| (k.clone(), rv(v))).collect();
    let stored: Vec<(String, i64)> = fresh
        .items
        .iter()
        .map(|kv| (kv.key.clone(), kv.mod_revision))
        .collect();
    assert_eq!(cached, stored);
}

#[tokio::test]
async fn after_compaction_forces_a_relist_old_revisions_are_too_old_and_watchers_are_closed() {
    let (_etcd, backend) = etcd_backend().await;
    let faulty = Faulty::new(backend.clone());
    let cache = started(faulty.clone(), 10_000).await;
    let first = backend
        .create("/registry/pods/default/a", pod("a", "x"))
        .await
        .unwrap();
    cache.wait_for_revision(first, WAIT).await.unwrap();
    let mut w = cache.watch(first).unwrap();

    // The cache loses its watch; meanwhile writes happen and etcd compacts past them.
    faulty.pause();
    backend
        .create("/registry/pods/default/b", pod("b", "x"))
        .await
        .unwrap();
    let last = backend
        .create("/registry/pods/default/c", pod("c", "x"))
        .await
        .unwrap();
    backend.compact(last).await.unwrap();
    faulty.resume();

    cache.wait_for_revision(last, WAIT).await.unwrap();
    assert!(
        tokio::time::timeout(WAIT, w.next())
            .await
            .expect("answers")
            .is_none(),
        "watcher closed by the re-list"
    );
    assert_eq!(
        cache.watch(first).err(),
        Some(TooOld {
            requested: first,
            oldest: last
        })
    );
    assert_eq!(
        cache.len(),
        3,
        "the re-list saw the writes made while the watch was down"
    );
    assert!(cache.watch(last).is_ok());
}
