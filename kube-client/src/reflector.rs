//! The reflector: keeps a [`Writer`] equal to the apiserver's truth — client-go's
//! `Reflector` (and `ListAndWatch`), kube-rs' `watcher` + `reflector`.
//!
//! **Observes** one resource (optionally narrowed by label and field selectors);
//! **writes** the cache; **tells** the informer each [`Change`]. It is a state machine:
//!
//! ```text
//!            ┌──────────── list failed: back off ───────────┐
//!            ▼                                              │
//!   ┌──▶ Listing ── list OK: replace the cache, ──▶ Watching(rv) ──┐ event: apply, rv = its version
//!   │    (all pages,   emit the DIFFERENCE          │   ▲  ▲    ◀──┘ BOOKMARK: rv = its version
//!   │     one snapshot)                             │   │  │
//!   │                       stream ended / broken ──┘   │  └─ connection refused: back off, retry
//!   │                       (resume from rv) ───────────┘
//!   └── 410 Gone / ERROR event: rv is compacted ── re-list
//! ```
//!
//! Why each arrow:
//! - **List, then watch from the list's `resourceVersion`**: the list is a snapshot at one
//!   version; the watch delivers every change *after* it. Together: no gap, no duplicate.
//! - **Resume from the last seen version** when a watch ends (the server's timeout, a proxy,
//!   a restart of the apiserver): cheap, and nothing is missed.
//! - **Re-list on `410 Gone`**: etcd compacts old versions; the apiserver's watch cache only
//!   remembers a window. When our version is older than either, the changes in between are
//!   lost for good. Only a new list tells the truth; the store compares it with what it held
//!   and emits the difference — an object deleted while we were away becomes a deletion.
//! - **Bookmarks** (`allowWatchBookmarks=true`): a quiet watch still learns the current
//!   version, so a resume after a long silence does not start from a compacted version.
//! - **Back-off with jitter** while the apiserver is unreachable (800 ms doubling to 30 s,
//!   as client-go): a restarted apiserver is not flattened by every client at once.

use std::time::Duration;

use kube_api::Object;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::api::Api;
use crate::params::{ListParams, WatchParams};
use crate::store::{Change, Writer};
use crate::watch::Event;

/// Which objects to reflect, and how long each watch request lasts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selectors {
    /// e.g. `app=web`.
    pub labels: Option<String>,
    /// e.g. `spec.nodeName=node-1`.
    pub fields: Option<String>,
}

impl Selectors {
    pub fn labels(mut self, s: &str) -> Self {
        self.labels = Some(s.to_string());
        self
    }
    pub fn fields(mut self, s: &str) -> Self {
        self.fields = Some(s.to_string());
        self
    }
}

/// Exponential back-off with full jitter: each delay is drawn in `[d, 2d)`, `d` doubling
/// from `initial` to `max`. Reset after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The next delay, jittered.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::rng().random_range(0.0..1.0);
        base.mul_f64(1.0 + jitter).min(self.max)
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    /// client-go's reflector: 800 ms, doubling, at most 30 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(800), Duration::from_secs(30))
    }
}

/// Where the state machine is (see the module comment).
#[derive(Debug, PartialEq)]
enum State {
    Listing,
    Watching { resource_version: String },
}

/// Keeps one [`Writer`] in line with the apiserver.
pub struct Reflector<K> {
    api: Api<K>,
    selectors: Selectors,
    backoff: Backoff,
    /// Each watch request asks the server to end after this long (client-go: 5–10 min).
    watch_timeout: Duration,
    /// Page size of lists.
    page_size: u32,
}

impl<K: Object> Reflector<K> {
    pub fn new(api: Api<K>, selectors: Selectors) -> Reflector<K> {
        Reflector {
            api,
            selectors,
            backoff: Backoff::default(),
            watch_timeout: Duration::from_secs(300 + rand::rng().random_range(0..300)),
            page_size: 500,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn with_watch_timeout(mut self, timeout: Duration) -> Self {
        self.watch_timeout = timeout;
        self
    }

    fn what(&self) -> String {
        let res = Api::<K>::resource();
        format!("*{}.{}", res.kind, res.api_version())
    }

    /// Runs until `cancel`: writes every change into `writer` and hands it to `emit`.
    pub async fn run(
        mut self,
        mut writer: Writer<K>,
        mut emit: impl FnMut(Change<K>) + Send,
        cancel: CancellationToken,
    ) {
        let mut state = State::Listing;
        loop {
            let step = async {
                match &state {
                    State::Listing => self.list(&mut writer, &mut emit).await,
                    State::Watching { resource_version } => {
                        self.watch(resource_version.clone(), &mut writer, &mut emit)
                            .await
                    }
                }
            };
            let next = tokio::select! {
                next = step => next,
                _ = cancel.cancelled() => return,
            };
            state = match next {
                Next::Go(s) => s,
                Next::BackOff(s) => {
                    let delay = self.backoff.next_delay();
                    debug!(?delay, "reflector for {} backing off", self.what());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => s,
                        _ = cancel.cancelled() => return,
                    }
                }
            };
        }
    }

    async fn list(&mut self, writer: &mut Writer<K>, emit: &mut impl FnMut(Change<K>)) -> Next {
        let lp = ListParams {
            label_selector: self.selectors.labels.clone(),
            field_selector: self.selectors.fields.clone(),
            limit: Some(self.page_size),
            ..Default::default()
        };
        match self.api.list_all(&lp).await {
            Ok(list) => {
                let n = list.items.len();
                let changes = writer.replace(list.items);
                debug!(
                    "listed {n} {} at version {}; {} changes",
                    self.what(),
                    list.metadata.resource_version,
                    changes.len()
                );
                changes.into_iter().for_each(&mut *emit);
                self.backoff.reset();
                Next::Go(State::Watching {
                    resource_version: list.metadata.resource_version,
                })
            }
            Err(e) => {
                warn!("failed to list {}: {e}", self.what());
                Next::BackOff(State::Listing)
            }
        }
    }

    async fn watch(
        &mut self,
        mut resource_version: String,
        writer: &mut Writer<K>,
        emit: &mut impl FnMut(Change<K>),
    ) -> Next {
        let wp = WatchParams {
            resource_version: Some(resource_version.clone()),
            label_selector: self.selectors.labels.clone(),
            field_selector: self.selectors.fields.clone(),
            timeout_seconds: Some(self.watch_timeout.as_secs().max(1) as u32),
            allow_bookmarks: true,
        };
        let mut stream = match self.api.watch(&wp).await {
            Ok(s) => s,
            Err(e) if e.is_gone() => return self.relist(&e),
            Err(e) => {
                warn!("failed to watch {}: {e}", self.what());
                return Next::BackOff(State::Watching { resource_version });
            }
        };
        use futures::StreamExt;
        let mut seen_any = false;
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) if e.is_gone() => return self.relist(&e),
                Err(e) if e.status().is_some() => {
                    // Any other ERROR event: we cannot know what we missed.
                    warn!("watch of {} ended with an error: {e}; re-listing", self.what());
                    return Next::Go(State::Listing);
                }
                Err(e) => {
                    debug!("watch of {} broke: {e}; resuming from {resource_version}", self.what());
                    break;
                }
            };
            seen_any = true;
            self.backoff.reset();
            match event {
                Event::Added(obj) | Event::Modified(obj) => {
                    resource_version = obj.metadata().resource_version.clone();
                    emit(writer.apply(obj));
                }
                Event::Deleted(obj) => {
                    resource_version = obj.metadata().resource_version.clone();
                    if let Some(change) = writer.delete(obj) {
                        emit(change);
                    }
                }
                Event::Bookmark {
                    resource_version: rv,
                } => resource_version = rv,
            }
        }
        let next = State::Watching { resource_version };
        if seen_any {
            Next::Go(next)
        } else {
            // A stream that ends at once, again and again, must not become a busy loop.
            Next::BackOff(next)
        }
    }

    fn relist(&self, e: &crate::Error) -> Next {
        info!("watch of {} expired ({e}): re-listing", self.what());
        Next::Go(State::Listing)
    }
}

/// What the state machine does next: go on at once, or after a back-off delay.
enum Next {
    Go(State),
    BackOff(State),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(100) && d1 < Duration::from_millis(200));
        let d2 = b.next_delay();
        assert!(d2 >= Duration::from_millis(200) && d2 < Duration::from_millis(400));
        for _ in 0..10 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(200));
    }
}
