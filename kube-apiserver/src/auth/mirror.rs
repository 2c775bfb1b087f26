//! A typed, in-memory copy of one resource, kept current from the apiserver's own watch
//! cache: what the RBAC and Node authorizers read on every request.
//!
//! Authorizers are synchronous (they run on every request, before any `.await`), so the
//! copy sits behind a `std::sync::RwLock` and a background task applies the cache's events:
//!
//! ```text
//! loop: snapshot the cache → replace everything → watch from the snapshot's revision →
//!       apply each ADDED/MODIFIED/DELETED → (watch ended: re-list, cache restarted) → loop
//! ```
//!
//! The task holds only a `Weak` reference to the cache: when the store is dropped it ends.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::storage::watch_cache::WatchCache;
use crate::storage::EventType;

/// What a mirror keeps of each object: built from its JSON (objects that do not decode are skipped).
pub trait FromObject: Sized + Send + Sync + 'static {
    fn from_object(object: &Value) -> Option<Self>;
}

/// Decodes a typed kind as is.
pub fn decode<T: DeserializeOwned>(object: &Value) -> Option<T> {
    serde_json::from_value(object.clone()).ok()
}

/// The objects of one resource, by store key (`/registry/roles/ns/name`).
pub struct Mirror<T> {
    objects: RwLock<HashMap<String, Arc<T>>>,
}

impl<T: FromObject> Mirror<T> {
    /// An empty mirror, and the task that fills it from `cache` and keeps it current.
    pub fn follow(cache: &Arc<WatchCache>) -> Arc<Mirror<T>> {
        let mirror = Arc::new(Mirror { objects: RwLock::new(HashMap::new()) });
        // Filled once now, so that the first requests after start-up see the objects.
        let (objects, _) = cache.snapshot();
        mirror.replace(objects);
        tokio::spawn(run(Arc::downgrade(cache), Arc::downgrade(&mirror)));
        mirror
    }

    /// A mirror of fixed objects, following nothing (for tests).
    pub fn from_values(objects: Vec<(String, Value)>) -> Arc<Mirror<T>> {
        let mirror = Arc::new(Mirror { objects: RwLock::new(HashMap::new()) });
        mirror.replace(objects.into_iter().map(|(k, v)| (k, Arc::new(v))).collect());
        mirror
    }

    /// Reads the current objects.
    pub fn read<R>(&self, f: impl FnOnce(&HashMap<String, Arc<T>>) -> R) -> R {
        let objects = self.objects.read().unwrap_or_else(|p| p.into_inner());
        f(&objects)
    }

    fn replace(&self, objects: Vec<(String, Arc<Value>)>) {
        let map = objects.into_iter().filter_map(|(k, v)| Some((k, Arc::new(T::from_object(&v)?)))).collect();
        *self.objects.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    fn apply(&self, type_: EventType, key: &str, object: &Value) {
        let mut objects = self.objects.write().unwrap_or_else(|p| p.into_inner());
        match type_ {
            EventType::Deleted => {
                objects.remove(key);
            }
            EventType::Added | EventType::Modified => match T::from_object(object) {
                Some(t) => {
                    objects.insert(key.to_string(), Arc::new(t));
                }
                None => {
                    objects.remove(key);
                }
            },
            EventType::Progress => {}
        }
    }
}

async fn run<T: FromObject>(cache: Weak<WatchCache>, mirror: Weak<Mirror<T>>) {
    loop {
        let watcher = {
            let (Some(cache), Some(mirror)) = (cache.upgrade(), mirror.upgrade()) else { return };
            let (objects, revision) = cache.snapshot();
            mirror.replace(objects);
            cache.watch(revision)
        };
        let Ok(mut watcher) = watcher else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while let Some(event) = watcher.next().await {
            let Some(mirror) = mirror.upgrade() else { return };
            mirror.apply(event.type_, &event.key, &event.object);
        }
        // The watch ended (the cache re-listed, or we fell behind): start over.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
