//! An in-memory [`Backend`], **for unit tests only**: it forgets everything when dropped and
//! serves one process. The apiserver itself always runs on etcd.
//!
//! It follows etcd's model closely enough that the conformance tests pass on both: one
//! revision counter for the whole store, `mod_revision`/`create_revision` per key, and a log
//! of every change since the last compaction. That log is what makes it honest:
//! - a list at an old revision starts from the current keys and undoes newer changes;
//! - a watch from an old revision replays the log, then follows live changes (a tokio
//!   broadcast channel, subscribed under the same lock as the replay, so nothing is lost
//!   or repeated);
//! - `compact(r)` drops the log up to `r`, after which reads and watches before `r` fail
//!   with `Compacted`, as on etcd.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use super::{Backend, EventType, KeyValue, ListResult, Result, StorageError, StorageEvent};

/// How many changes a live watcher may fall behind before its stream ends.
const WATCH_BUFFER: usize = 4096;

/// An in-memory store with revisions, compaction and watches. Unit tests only.
pub struct MemoryBackend {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
}

struct Inner {
    revision: i64,
    compacted: i64,
    keys: BTreeMap<String, KeyValue>,
    /// Every change with a revision above `compacted`, oldest first.
    log: VecDeque<Arc<Change>>,
}

/// One write: the key before and after.
struct Change {
    key: String,
    revision: i64,
    before: Option<KeyValue>,
    after: Option<KeyValue>,
}

impl Change {
    fn event(&self) -> StorageEvent {
        let prev_value = self.before.as_ref().map(|kv| kv.value.clone());
        match &self.after {
            Some(kv) => StorageEvent {
                type_: if self.before.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                },
                key: self.key.clone(),
                value: kv.value.clone(),
                prev_value,
                revision: self.revision,
            },
            None => StorageEvent {
                type_: EventType::Deleted,
                key: self.key.clone(),
                value: prev_value.clone().unwrap_or_default(),
                prev_value,
                revision: self.revision,
            },
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store at revision 1 (etcd's initial revision).
    pub fn new() -> MemoryBackend {
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        MemoryBackend {
            inner: Mutex::new(Inner {
                revision: 1,
                compacted: 0,
                keys: BTreeMap::new(),
                log: VecDeque::new(),
            }),
            changes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a test store; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one change under the lock and tells the watchers.
    fn write(&self, inner: &mut Inner, key: &str, value: Option<Vec<u8>>) -> i64 {
        inner.revision += 1;
        let revision = inner.revision;
        let before = inner.keys.get(key).cloned();
        let after = value.map(|value| KeyValue {
            key: key.to_string(),
            value,
            mod_revision: revision,
            create_revision: before.as_ref().map_or(revision, |kv| kv.create_revision),
        });
        match &after {
            Some(kv) => inner.keys.insert(key.to_string(), kv.clone()),
            None => inner.keys.remove(key),
        };
        let change = Arc::new(Change {
            key: key.to_string(),
            revision,
            before,
            after,
        });
        inner.log.push_back(change.clone());
        // No receivers is fine.
        let _ = self.changes.send(change);
        revision
    }

    fn check_revision(inner: &Inner, key: &str, expected: i64) -> Result<()> {
        match inner.keys.get(key) {
            None => Err(StorageError::NotFound(key.to_string())),
            Some(kv) if kv.mod_revision != expected => Err(StorageError::Conflict {
                key: key.to_string(),
                expected,
                actual: kv.mod_revision,
            }),
            Some(_) => Ok(()),
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock().keys.get(key).cloned())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: i64,
        revision: i64,
    ) -> Result<ListResult> {
        let inner = self.lock();
        if revision > inner.revision {
            return Err(StorageError::Unavailable(format!(
                "revision {revision} is in the future"
            )));
        }
        if revision > 0 && revision < inner.compacted {
            return Err(StorageError::Compacted {
                requested: revision,
                compacted: inner.compacted,
            });
        }
        let in_range =
            |key: &str| key.starts_with(prefix) && start_after.is_none_or(|after| key > after);
        let mut keys: BTreeMap<&str, &KeyValue> = inner
            .keys
            .iter()
            .filter(|(k, _)| in_range(k))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        if revision > 0 {
            // Undo the changes made after `revision`, newest first.
            for change in inner.log.iter().rev().take_while(|c| c.revision > revision) {
                if !in_range(&change.key) {
                    continue;
                }
                match &change.before {
                    Some(kv) => keys.insert(&change.key, kv),
                    None => keys.remove(change.key.as_str()),
                };
            }
        }
        let total = keys.len() as i64;
        let take = if limit > 0 {
            limit as usize
        } else {
            usize::MAX
        };
        let items: Vec<KeyValue> = keys.into_values().take(take).cloned().collect();
        let more = (items.len() as i64) < total;
        Ok(ListResult {
            remaining: if more { total - items.len() as i64 } else { 0 },
            items,
            revision: if revision > 0 {
                revision
            } else {
                inner.revision
            },
            more,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64> {
        let mut inner = self.lock();
        if inner.keys.contains_key(key) {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        Ok(self.write(&mut inner, key, Some(value)))
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64> {
        let mut inner = self.lock();
        Self::check_revision(&inner, key, expected_revision)?;
        Ok(self.write(&mut inner, key, Some(value)))
    }

    async fn delete(&self, key: &str, expected_revision: i64) -> Result<i64> {
        let mut inner = self.lock();
        Self::check_revision(&inner, key, expected_revision)?;
        Ok(self.write(&mut inner, key, None))
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
    ) -> Result<BoxStream<'static, Result<StorageEvent>>> {
        let inner = self.lock();
        if after_revision < inner.compacted {
            return Err(StorageError::Compacted {
                requested: after_revision + 1,
                compacted: inner.compacted,
            });
        }
        let prefix = prefix.to_string();
        let replay: Vec<Result<StorageEvent>> = inner
            .log
            .iter()
            .filter(|c| c.revision > after_revision && c.key.starts_with(&prefix))
            .map(|c| Ok(c.event()))
            .collect();
        // Subscribed under the lock: the first live change is the one after the replay.
        let live = self.changes.subscribe();
        drop(inner);
        let live = stream::unfold(Some(live), move |rx| {
            let prefix = prefix.clone();
            async move {
                let mut rx = rx?;
                loop {
                    match rx.recv().await {
                        Ok(change) if change.revision <= after_revision => continue,
                        Ok(change) if change.key.starts_with(&prefix) => {
                            return Some((Ok(change.event()), Some(rx)))
                        }
                        // A change elsewhere in the store: the watcher is up to date until then.
                        Ok(change) => {
                            let progress = StorageEvent {
                                type_: EventType::Progress,
                                key: String::new(),
                                value: Vec::new(),
                                prev_value: None,
                                revision: change.revision,
                            };
                            return Some((Ok(progress), Some(rx)));
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            let err = StorageError::Unavailable(format!(
                                "watcher fell {n} changes behind"
                            ));
                            return Some((Err(err), None));
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            return Some((
                                Err(StorageError::Unavailable("store closed".into())),
                                None,
                            ));
                        }
                    }
                }
            }
        });
        Ok(stream::iter(replay).chain(live).boxed())
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.lock().revision)
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut inner = self.lock();
        if revision > inner.revision {
            return Err(StorageError::Unavailable(format!(
                "revision {revision} is in the future"
            )));
        }
        if revision <= inner.compacted {
            return Err(StorageError::Compacted {
                requested: revision,
                compacted: inner.compacted,
            });
        }
        while inner.log.front().is_some_and(|c| c.revision <= revision) {
            inner.log.pop_front();
        }
        inner.compacted = revision;
        Ok(())
    }
}
