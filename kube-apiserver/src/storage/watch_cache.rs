//! The watch cache: one per resource (e.g. `/registry/pods/`), fed by ONE backend watch,
//! serving every client watch and every `resourceVersion=0` list from memory — upstream's
//! `Cacher` + `watchCache`, so that a thousand watchers cost one etcd watch.
//!
//! How it works:
//! - A background task ([`WatchCache::start`]) **lists** the prefix (in pages, at one
//!   revision), keeps every object decoded as an `Arc<serde_json::Value>` with
//!   `metadata.resourceVersion` set to the key's mod revision, then **watches** from the
//!   list's revision. Each change updates the objects, is appended to a bounded **window**
//!   of recent events, and is **broadcast** to the watchers as one shared `Arc<CacheEvent>`
//!   (no per-watcher copy).
//! - When the backend watch breaks (etcd restarts, the network fails) the task **resumes**
//!   from the last revision it saw, waiting with exponential back-off and jitter
//!   (100 ms .. 5 s) while etcd is down: no event is lost or repeated, watchers notice
//!   nothing but a delay.
//! - When the revision to resume from was **compacted**, events are lost for good: the task
//!   **re-lists**, replaces the objects, drops the window and **closes every watcher** (as
//!   upstream's cacher does when it re-initialises). Clients re-watch; a version older than
//!   the re-list is then [`TooOld`] (HTTP 410 Gone).
//! - [`WatchCache::watch`] replays the window's events after the client's revision and
//!   subscribes to live events under the same lock, so that replay and live join with no
//!   gap and no duplicate.
//!
//! Bounds: the window keeps `window` events. A watcher may fall at most [`WATCHER_BUFFER`]
//! live events behind; beyond that its stream ends (the client re-watches from its last
//! revision, which is usually still in the window).

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::{Backend, EventType, StorageError, StorageEvent};

/// How many live events a watcher may have unread before its stream is ended.
pub const WATCHER_BUFFER: usize = 1024;
/// Page size of the cache's own lists.
const LIST_PAGE: i64 = 500;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One change, as served to watchers. Shared by all of them.
#[derive(Debug)]
pub struct CacheEvent {
    pub type_: EventType,
    pub key: String,
    /// The object after the change; for `Deleted`, the last state with resourceVersion set
    /// to the deletion's revision (as upstream).
    pub object: Arc<Value>,
    /// The object before the change (lets the apiserver turn a label-selector transition
    /// into ADDED or DELETED, as upstream).
    pub prev_object: Option<Arc<Value>>,
    pub revision: i64,
}

/// The asked-for revision is no longer in the cache's window: the client must re-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too old resource version: {requested} (oldest available: {oldest})")]
pub struct TooOld {
    pub requested: i64,
    /// Watches from this revision (or newer) are served.
    pub oldest: i64,
}

/// The cache did not catch up with a revision in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("watch cache for {prefix} is at revision {current}, not {wanted}, after {waited:?}")]
pub struct NotFresh {
    pub prefix: String,
    pub wanted: i64,
    pub current: i64,
    pub waited: Duration,
}

/// The cache of one resource. Dropping it stops its task and, once the task is gone,
/// closes its watchers.
pub struct WatchCache {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

/// What the cache and its task share.
struct Shared {
    prefix: String,
    window: usize,
    /// A std mutex: held only for in-memory updates, never across an `.await`.
    state: Mutex<State>,
    /// Readiness and revision, for the waiters of `wait_ready`/`wait_for_revision`.
    progress: watch::Sender<Progress>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    ready: bool,
    revision: i64,
}

struct State {
    objects: BTreeMap<String, Arc<Value>>,
    /// Recent events, oldest first; every event with a revision above `oldest` is here.
    events: VecDeque<Arc<CacheEvent>>,
    oldest: i64,
    /// The last revision seen (list, event or progress notification).
    revision: i64,
    /// Live events to watchers; replaced on re-list, which closes every current watcher.
    sender: broadcast::Sender<Arc<CacheEvent>>,
}

impl WatchCache {
    /// Starts the cache of `prefix`, keeping `window` recent events (e.g. 10 000), and its
    /// background task. Call [`wait_ready`](Self::wait_ready) before serving from it.
    pub fn start(backend: Arc<dyn Backend>, prefix: String, window: usize) -> Arc<WatchCache> {
        let (sender, _) = broadcast::channel(WATCHER_BUFFER);
        let shared = Arc::new(Shared {
            prefix,
            window: window.max(1),
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                events: VecDeque::new(),
                oldest: 0,
                revision: 0,
                sender,
            }),
            progress: watch::channel(Progress::default()).0,
        });
        let cancel = CancellationToken::new();
        tokio::spawn(run(shared.clone(), backend, cancel.clone()));
        Arc::new(WatchCache { shared, cancel })
    }

    /// The prefix this cache serves.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Stops the background task (also done on drop).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Waits until the first list is done.
    pub async fn wait_ready(&self) {
        let mut rx = self.shared.progress.subscribe();
        // Err only if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|p| p.ready).await;
    }

    /// The last revision the cache has seen: the resourceVersion of a list from the cache,
    /// and of bookmarks.
    pub fn revision(&self) -> i64 {
        self.shared.progress.borrow().revision
    }

    /// Waits until the cache has seen `revision` (for a consistent read from the cache:
    /// ask the backend for its current revision, then wait for it here).
    pub async fn wait_for_revision(
        &self,
        revision: i64,
        timeout: Duration,
    ) -> Result<(), NotFresh> {
        let mut rx = self.shared.progress.subscribe();
        let caught_up = tokio::time::timeout(timeout, async {
            rx.wait_for(|p| p.ready && p.revision >= revision)
                .await
                .is_ok()
        })
        .await;
        match caught_up {
            Ok(true) => Ok(()),
            _ => Err(NotFresh {
                prefix: self.shared.prefix.clone(),
                wanted: revision,
                current: self.revision(),
                waited: timeout,
            }),
        }
    }

    /// All current objects, sorted by key, and the revision they are consistent at.
    pub fn snapshot(&self) -> (Vec<(String, Arc<Value>)>, i64) {
        let state = self.shared.lock();
        let objects = state
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (objects, state.revision)
    }

    /// The current object at `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.shared.lock().objects.get(key).cloned()
    }

    /// Events after `after_revision`, then live ones. `0` means "from now" (no replay).
    /// A revision older than the window (or than the last re-list) is [`TooOld`].
    pub fn watch(&self, after_revision: i64) -> Result<CacheWatcher, TooOld> {
        let state = self.shared.lock();
        let (replay, after) = if after_revision == 0 {
            (Vec::new(), state.revision)
        } else if after_revision < state.oldest {
            return Err(TooOld {
                requested: after_revision,
                oldest: state.oldest,
            });
        } else {
            let start = state
                .events
                .partition_point(|e| e.revision <= after_revision);
            (
                state.events.range(start..).cloned().collect(),
                after_revision,
            )
        };
        // Subscribed under the lock that also guards dispatch: the first live event is the
        // one after the replay.
        let live = state.sender.subscribe();
        tracing::debug!(prefix = %self.shared.prefix, after_revision, replay = replay.len(), "new watcher");
        Ok(CacheWatcher {
            replay: replay.into_iter(),
            live: Some(live),
            after,
        })
    }

    /// How many watchers are attached (for metrics).
    pub fn watcher_count(&self) -> usize {
        self.shared.lock().sender.receiver_count()
    }

    /// How many objects the cache holds (for metrics).
    pub fn len(&self) -> usize {
        self.shared.lock().objects.len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// One client's view of the cache's events. Ends when the watcher falls more than
/// [`WATCHER_BUFFER`] events behind, when the cache re-lists, or when the cache stops.
pub struct CacheWatcher {
    replay: std::vec::IntoIter<Arc<CacheEvent>>,
    live: Option<broadcast::Receiver<Arc<CacheEvent>>>,
    after: i64,
}

impl CacheWatcher {
    /// The next event, or `None` when the watch has ended.
    pub async fn next(&mut self) -> Option<Arc<CacheEvent>> {
        if let Some(event) = self.replay.next() {
            return Some(event);
        }
        let live = self.live.as_mut()?;
        loop {
            match live.recv().await {
                Ok(event) if event.revision <= self.after => continue,
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "watcher fell too far behind; ending its watch");
                    self.live = None;
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.live = None;
                    return None;
                }
            }
        }
    }

    /// The same events as a `Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Arc<CacheEvent>> + Send {
        futures::stream::unfold(self, |mut w| async move { w.next().await.map(|e| (e, w)) })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish_progress(&self, revision: i64) {
        self.progress.send_modify(|p| {
            p.ready = true;
            p.revision = revision;
        });
    }

    /// Lists the whole prefix at one revision and replaces the cache's contents with it,
    /// closing every current watcher. Returns the list's revision.
    async fn relist(&self, backend: &dyn Backend) -> Result<i64, StorageError> {
        let first = backend.list(&self.prefix, None, LIST_PAGE, 0).await?;
        let revision = first.revision;
        let (mut items, mut more) = (first.items, first.more);
        while more {
            let last = items.last().map(|kv| kv.key.clone());
            let page = backend
                .list(&self.prefix, last.as_deref(), LIST_PAGE, revision)
                .await?;
            more = page.more;
            items.extend(page.items);
        }
        let mut objects = BTreeMap::new();
        for kv in items {
            if let Some(object) = decode(&kv.key, &kv.value, kv.mod_revision) {
                objects.insert(kv.key, Arc::new(object));
            }
        }
        let count = objects.len();
        let mut state = self.lock();
        let closed = state.sender.receiver_count();
        state.objects = objects;
        state.events.clear();
        state.oldest = revision;
        state.revision = revision;
        // Dropping the old sender ends every current watcher's stream.
        state.sender = broadcast::channel(WATCHER_BUFFER).0;
        drop(state);
        self.publish_progress(revision);
        tracing::debug!(prefix = %self.prefix, objects = count, revision, closed_watchers = closed, "watch cache listed");
        Ok(revision)
    }

    /// Applies one backend event: update the objects, append to the window, tell watchers.
    fn apply(&self, event: StorageEvent) {
        let mut state = self.lock();
        if event.type_ == EventType::Progress {
            // Nothing changed under the prefix up to `event.revision`.
            if event.revision > state.revision {
                state.revision = event.revision;
                drop(state);
                self.publish_progress(event.revision);
            }
            return;
        }
        if event.revision <= state.revision {
            // Cannot happen with a correct backend; never deliver anything twice.
            tracing::warn!(prefix = %self.prefix, revision = event.revision, seen = state.revision, "ignoring an old event");
            return;
        }
        state.revision = event.revision;
        if let Some(cached) = self.to_cache_event(&mut state, event) {
            tracing::debug!(key = %cached.key, revision = cached.revision, type_ = ?cached.type_, "watch cache event");
            let cached = Arc::new(cached);
            state.events.push_back(cached.clone());
            while state.events.len() > self.window {
                if let Some(evicted) = state.events.pop_front() {
                    state.oldest = evicted.revision;
                }
            }
            // No watchers is fine.
            let _ = state.sender.send(cached);
        }
        let revision = state.revision;
        drop(state);
        self.publish_progress(revision);
    }

    /// Updates `objects` and builds the event; `None` for values that cannot be decoded
    /// (logged and skipped).
    fn to_cache_event(&self, state: &mut State, event: StorageEvent) -> Option<CacheEvent> {
        let StorageEvent {
            type_,
            key,
            value,
            revision,
            ..
        } = event;
        match type_ {
            EventType::Progress => None, // handled in `apply`
            EventType::Added | EventType::Modified => {
                let object = Arc::new(decode(&key, &value, revision)?);
                let prev_object = state.objects.insert(key.clone(), object.clone());
                // Named after what the cache saw: a key it did not hold is ADDED to it.
                let type_ = if prev_object.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                Some(CacheEvent {
                    type_,
                    key,
                    object,
                    prev_object,
                    revision,
                })
            }
            EventType::Deleted => {
                let prev_object = state.objects.remove(&key);
                let mut last = match &prev_object {
                    Some(prev) => Value::clone(prev),
                    None => decode(&key, &value, revision)?,
                };
                set_resource_version(&mut last, revision);
                Some(CacheEvent {
                    type_,
                    key,
                    object: Arc::new(last),
                    prev_object,
                    revision,
                })
            }
        }
    }
}

/// The cache's task: list, watch, resume, re-list — until cancelled.
async fn run(shared: Arc<Shared>, backend: Arc<dyn Backend>, cancel: CancellationToken) {
    let prefix = shared.prefix.clone();
    let mut backoff = Backoff::default();
    'relist: loop {
        loop {
            let listed = tokio::select! {
                _ = cancel.cancelled() => return,
                listed = shared.relist(&*backend) => listed,
            };
            match listed {
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(%prefix, %err, "watch cache could not list; retrying");
                    if !backoff.wait(&cancel).await {
                        return;
                    }
                }
            }
        }
        backoff.reset();
        loop {
            let from = shared.lock().revision;
            let opened = tokio::select! {
                _ = cancel.cancelled() => return,
                opened = backend.watch(&prefix, from) => opened,
            };
            let mut stream = match opened {
                Ok(stream) => stream,
                Err(StorageError::Compacted { compacted, .. }) => {
                    tracing::info!(%prefix, from, compacted, "revision to resume from was compacted; re-listing");
                    continue 'relist;
                }
                Err(err) => {
                    tracing::warn!(%prefix, %err, "watch cache could not watch; retrying");
                    if !backoff.wait(&cancel).await {
                        return;
                    }
                    continue;
                }
            };
            tracing::debug!(%prefix, from, "watch cache watching");
            loop {
                let item = tokio::select! {
                    _ = cancel.cancelled() => return,
                    item = stream.next() => item,
                };
                match item {
                    Some(Ok(event)) => {
                        backoff.reset();
                        shared.apply(event);
                    }
                    Some(Err(StorageError::Compacted { compacted, .. })) => {
                        tracing::info!(%prefix, compacted, "watch compacted; re-listing");
                        continue 'relist;
                    }
                    Some(Err(err)) => {
                        tracing::info!(%prefix, %err, resume_from = shared.lock().revision, "watch broke; resuming");
                        break;
                    }
                    None => {
                        tracing::info!(%prefix, resume_from = shared.lock().revision, "watch ended; resuming");
                        break;
                    }
                }
            }
            if !backoff.wait(&cancel).await {
                return;
            }
        }
    }
}

/// Exponential back-off with jitter, 100 ms .. 5 s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Sleeps for the next delay; false if cancelled meanwhile.
    async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let base = BACKOFF_MIN
            .saturating_mul(1 << self.attempt.min(6))
            .min(BACKOFF_MAX);
        self.attempt += 1;
        // Jitter: somewhere in [base/2, base), so that many caches do not retry in step.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let delay = base / 2 + base.mul_f64((random % 1000) as f64 / 2000.0);
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// The stored JSON as an object with `metadata.resourceVersion` set; `None` (and a warning)
/// if it is not a JSON object.
fn decode(key: &str, value: &[u8], revision: i64) -> Option<Value> {
    match serde_json::from_slice::<Value>(value) {
        Ok(mut object @ Value::Object(_)) => set_resource_version(&mut object, revision)
            .then_some(object)
            .or_else(|| {
                tracing::warn!(
                    key,
                    revision,
                    "stored object has a non-object metadata; skipped"
                );
                None
            }),
        Ok(_) => {
            tracing::warn!(key, revision, "stored value is not a JSON object; skipped");
            None
        }
        Err(err) => {
            tracing::warn!(key, revision, %err, "stored value is not valid JSON; skipped");
            None
        }
    }
}

/// Sets `metadata.resourceVersion`; false if the value or its metadata is not an object.
fn set_resource_version(object: &mut Value, revision: i64) -> bool {
    let Some(map) = object.as_object_mut() else {
        return false;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    match metadata.as_object_mut() {
        Some(metadata) => {
            metadata.insert(
                "resourceVersion".into(),
                Value::String(revision.to_string()),
            );
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
