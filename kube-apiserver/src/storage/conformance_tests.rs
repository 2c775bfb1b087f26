//! Conformance tests of the [`Backend`] contract, written once and run on both backends:
//! real etcd (a private one per test, from `testutil`) and the in-memory store. Then a few
//! etcd-only tests: what clients see when etcd goes away and comes back.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::etcd::EtcdBackend;
use super::memory::MemoryBackend;
use super::{Backend, EventType, StorageError, StorageEvent};

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=kube_apiserver=debug`).
pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A private etcd and a backend connected to it (keep the `Etcd` alive for the test).
pub(crate) async fn etcd_backend() -> (testutil::Etcd, Arc<dyn Backend>) {
    init_logs();
    let etcd = tokio::task::spawn_blocking(testutil::Etcd::start)
        .await
        .expect("etcd start task")
        .expect("start etcd");
    let backend = EtcdBackend::connect(std::slice::from_ref(&etcd.endpoint))
        .await
        .expect("connect");
    (etcd, Arc::new(backend))
}

/// Runs each named test function on MemoryBackend and on a real etcd.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            $( #[tokio::test] async fn $name() { super::$name(std::sync::Arc::new(super::MemoryBackend::new())).await } )*
        }
        mod on_etcd {
            $( #[tokio::test] async fn $name() { let (_etcd, backend) = super::etcd_backend().await; super::$name(backend).await } )*
        }
    };
}

conformance!(
    create_get_and_update_with_a_stale_revision_conflicts,
    delete_with_a_stale_revision_conflicts_and_a_missing_key_is_not_found,
    list_pages_with_limit_and_start_after_and_counts_the_remaining_keys,
    list_at_an_old_revision_shows_the_old_state_and_at_a_compacted_revision_fails,
    watch_delivers_added_modified_and_deleted_with_previous_values,
    watch_from_a_compacted_revision_is_compacted,
    watch_reports_progress_when_only_other_prefixes_change,
);

async fn next_event(
    stream: &mut futures::stream::BoxStream<'static, super::Result<StorageEvent>>,
) -> StorageEvent {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("an event, not an error");
        if item.type_ != EventType::Progress {
            return item;
        }
    }
}

async fn create_get_and_update_with_a_stale_revision_conflicts(b: Arc<dyn Backend>) {
    let created = b.create("/t/a", b"1".to_vec()).await.unwrap();
    assert_eq!(
        b.create("/t/a", b"x".to_vec()).await,
        Err(StorageError::AlreadyExists("/t/a".into()))
    );
    let kv = b.get("/t/a").await.unwrap().expect("created key");
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.create_revision),
        (&b"1"[..], created, created)
    );

    let updated = b.update("/t/a", b"2".to_vec(), created).await.unwrap();
    assert!(updated > created);
    assert_eq!(
        b.update("/t/a", b"3".to_vec(), created).await,
        Err(StorageError::Conflict {
            key: "/t/a".into(),
            expected: created,
            actual: updated
        })
    );
    let kv = b.get("/t/a").await.unwrap().expect("key");
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.create_revision),
        (&b"2"[..], updated, created)
    );
    assert_eq!(
        b.update("/t/none", b"x".to_vec(), 5).await,
        Err(StorageError::NotFound("/t/none".into()))
    );
    assert_eq!(b.get("/t/none").await.unwrap(), None);
    assert_eq!(b.current_revision().await.unwrap(), updated);
}

async fn delete_with_a_stale_revision_conflicts_and_a_missing_key_is_not_found(
    b: Arc<dyn Backend>,
) {
    let created = b.create("/t/a", b"1".to_vec()).await.unwrap();
    let updated = b.update("/t/a", b"2".to_vec(), created).await.unwrap();
    assert_eq!(
        b.delete("/t/a", created).await,
        Err(StorageError::Conflict {
            key: "/t/a".into(),
            expected: created,
            actual: updated
        })
    );
    let deleted = b.delete("/t/a", updated).await.unwrap();
    assert!(deleted > updated);
    assert_eq!(b.get("/t/a").await.unwrap(), None);
    assert_eq!(
        b.delete("/t/a", updated).await,
        Err(StorageError::NotFound("/t/a".into()))
    );
}

async fn list_pages_with_limit_and_start_after_and_counts_the_remaining_keys(b: Arc<dyn Backend>) {
    for name in ["e", "a", "c", "b", "d"] {
        b.create(&format!("/t/pods/{name}"), name.as_bytes().to_vec())
            .await
            .unwrap();
    }
    // Neighbours that must not show up: a longer prefix sibling and a key before.
    b.create("/t/podsx/z", b"z".to_vec()).await.unwrap();
    b.create("/t/pod", b"p".to_vec()).await.unwrap();

    let all = b.list("/t/pods/", None, 0, 0).await.unwrap();
    let keys: Vec<&str> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/t/pods/a",
            "/t/pods/b",
            "/t/pods/c",
            "/t/pods/d",
            "/t/pods/e"
        ]
    );
    assert_eq!((all.more, all.remaining), (false, 0));
    assert_eq!(all.revision, b.current_revision().await.unwrap());

    let page1 = b.list("/t/pods/", None, 2, 0).await.unwrap();
    assert_eq!(page1.items.len(), 2);
    assert_eq!((page1.more, page1.remaining), (true, 3));
    let page2 = b
        .list("/t/pods/", Some("/t/pods/b"), 2, page1.revision)
        .await
        .unwrap();
    let keys: Vec<&str> = page2.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/t/pods/c", "/t/pods/d"]);
    assert_eq!(
        (page2.more, page2.remaining, page2.revision),
        (true, 1, page1.revision)
    );
    let page3 = b
        .list("/t/pods/", Some("/t/pods/d"), 2, page1.revision)
        .await
        .unwrap();
    assert_eq!(page3.items.len(), 1);
    assert_eq!((page3.more, page3.remaining), (false, 0));
}

async fn list_at_an_old_revision_shows_the_old_state_and_at_a_compacted_revision_fails(
    b: Arc<dyn Backend>,
) {
    let first = b.create("/t/a", b"1".to_vec()).await.unwrap();
    let second = b.update("/t/a", b"2".to_vec(), first).await.unwrap();
    b.create("/t/b", b"b".to_vec()).await.unwrap();

    let old = b.list("/t/", None, 0, first).await.unwrap();
    assert_eq!(old.items.len(), 1, "only /t/a existed at {first}");
    assert_eq!(
        (old.items[0].value.as_slice(), old.revision),
        (&b"1"[..], first)
    );

    b.compact(second).await.unwrap();
    match b.list("/t/", None, 0, first).await {
        Err(StorageError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, first);
            assert_eq!(compacted, second);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert_eq!(
        b.list("/t/", None, 0, 0).await.unwrap().items.len(),
        2,
        "the latest revision is still readable"
    );
}

async fn watch_delivers_added_modified_and_deleted_with_previous_values(b: Arc<dyn Backend>) {
    let start = b.current_revision().await.unwrap();
    let created = b.create("/t/pods/a", b"1".to_vec()).await.unwrap();
    // Started after the create: the create is replayed, the rest arrives live.
    let mut watch = b.watch("/t/pods/", start).await.unwrap();
    let updated = b.update("/t/pods/a", b"2".to_vec(), created).await.unwrap();
    b.create("/t/other/x", b"x".to_vec()).await.unwrap();
    let deleted = b.delete("/t/pods/a", updated).await.unwrap();

    let expected = [
        (EventType::Added, &b"1"[..], None, created),
        (EventType::Modified, &b"2"[..], Some(&b"1"[..]), updated),
        (EventType::Deleted, &b"2"[..], Some(&b"2"[..]), deleted),
    ];
    for (type_, value, prev, revision) in expected {
        let event = next_event(&mut watch).await;
        assert_eq!(event.key, "/t/pods/a");
        assert_eq!(
            (
                event.type_,
                event.value.as_slice(),
                event.prev_value.as_deref(),
                event.revision
            ),
            (type_, value, prev, revision)
        );
    }
}

async fn watch_from_a_compacted_revision_is_compacted(b: Arc<dyn Backend>) {
    let first = b.create("/t/a", b"1".to_vec()).await.unwrap();
    let second = b.update("/t/a", b"2".to_vec(), first).await.unwrap();
    b.update("/t/a", b"3".to_vec(), second).await.unwrap();
    b.compact(second).await.unwrap();
    // etcd answers in the stream, the memory store at once: both are allowed.
    let error = match b.watch("/t/", first - 1).await {
        Err(err) => err,
        Ok(mut stream) => tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an answer within 10 s")
            .expect("an item")
            .expect_err("an error, not an event"),
    };
    assert!(
        matches!(error, StorageError::Compacted { compacted, .. } if compacted == second),
        "{error:?}"
    );
}

async fn watch_reports_progress_when_only_other_prefixes_change(b: Arc<dyn Backend>) {
    let start = b.current_revision().await.unwrap();
    let mut watch = b.watch("/t/quiet/", start).await.unwrap();
    let elsewhere = b.create("/t/busy/a", b"1".to_vec()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, watch.next())
            .await
            .expect("progress within 10 s")
            .expect("stream goes on")
            .expect("no error");
        assert_eq!(
            event.type_,
            EventType::Progress,
            "nothing changed under the prefix"
        );
        if event.revision >= elsewhere {
            return;
        }
    }
}

mod etcd_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_fail_as_unavailable_while_etcd_is_down_and_work_again_after_a_restart() {
        let (mut etcd, b) = etcd_backend().await;
        let created = b.create("/t/a", b"1".to_vec()).await.unwrap();
        let mut watch = b.watch("/t/", created).await.unwrap();

        tokio::task::block_in_place(|| etcd.stop()).unwrap();
        let err = b.get("/t/a").await.expect_err("etcd is down");
        assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
        let ended = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match watch.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Some(err),
                    None => return None,
                }
            }
        })
        .await
        .expect("the watch notices within 15 s");
        assert!(
            matches!(ended, Some(StorageError::Unavailable(_))),
            "{ended:?}"
        );

        tokio::task::block_in_place(|| etcd.restart()).unwrap();
        let kv = b
            .get("/t/a")
            .await
            .expect("the same client works after the restart");
        assert_eq!(kv.map(|kv| kv.value), Some(b"1".to_vec()));
        b.update("/t/a", b"2".to_vec(), created)
            .await
            .expect("writes work too");
    }
}
