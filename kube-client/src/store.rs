//! The informer's cache — client-go's *store* / *indexer*, read through a *lister*.
//!
//! A control loop reads the objects it compares from memory, never from the apiserver:
//! a reconcile that needs "every pod on node-1" looks it up in an index instead of sending
//! a list request, so a thousand reconciles per second cost the apiserver nothing.
//!
//! - Objects are kept by key (`namespace/name`, or `name` when cluster-scoped) as
//!   `Arc<K>`: readers get a cheap shared pointer to an immutable object. **Never modify
//!   objects from the cache** — the types make it impossible: clone, change the clone, send it.
//! - Secondary **indexes** map a computed value to keys: [`pods_by_node`] (`spec.nodeName`),
//!   [`by_owner_uid`] (`metadata.ownerReferences[].uid`), [`by_label`] (one label's value).
//! - **One writer, many readers, enforced by the types**: [`Writer`] is not `Clone` and is
//!   owned by the reflector; [`Store`] (alias [`Lister`]) is a cloneable read-only handle.
//! - [`Store::has_synced`] is false until the first complete list has been written: a loop
//!   that acted on a partial cache would, say, create pods it believes missing.
//!
//! The writer turns each watch event into a [`Change`] (with the old object for updates)
//! and a re-list into the *difference* with what it held: objects that vanished while we
//! were away become deletions (with their last known state — upstream wraps these in a
//! `DeletedFinalStateUnknown` tombstone).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kube_api::core::Pod;
use kube_api::Object;
use tokio::sync::watch;

/// `namespace/name` (or `name`), the key of caches and work queues.
pub fn key_of<K: Object>(obj: &K) -> String {
    obj.metadata().key()
}

/// Computes the index values of an object (none, one or several).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Pods by `spec.nodeName` (unbound pods are indexed under `""`).
pub fn pods_by_node() -> (&'static str, IndexFn<Pod>) {
    ("nodeName", Arc::new(|p: &Pod| vec![p.spec.node_name.clone()]))
}

/// Objects by the UID of each of their owners.
pub fn by_owner_uid<K: Object>() -> (&'static str, IndexFn<K>) {
    (
        "ownerUID",
        Arc::new(|o: &K| {
            o.metadata()
                .owner_references
                .iter()
                .map(|r| r.uid.clone())
                .collect()
        }),
    )
}

/// Objects by the value of the label `label` (objects without it are not indexed).
pub fn by_label<K: Object>(label: &'static str) -> (&'static str, IndexFn<K>) {
    (
        label,
        Arc::new(move |o: &K| o.metadata().labels.get(label).cloned().into_iter().collect()),
    )
}

/// What one write did to the cache: what the informer tells its handlers.
#[derive(Debug)]
pub enum Change<K> {
    /// A new object (`OnAdd`).
    Added(Arc<K>),
    /// An object changed (`OnUpdate`).
    Updated { old: Arc<K>, new: Arc<K> },
    /// An object is gone (`OnDelete`); its last known state.
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Added(o) => Change::Added(o.clone()),
            Change::Updated { old, new } => Change::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            Change::Deleted(o) => Change::Deleted(o.clone()),
        }
    }
}

impl<K> Change<K> {
    /// The object as it is now (for a deletion: as it was last).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) => o,
            Change::Updated { new, .. } => new,
        }
    }
}

struct Index<K> {
    func: IndexFn<K>,
    /// index value → keys. `BTreeSet` so that lookups come out in a stable order.
    entries: HashMap<String, BTreeSet<String>>,
}

struct Inner<K> {
    objects: HashMap<String, Arc<K>>,
    indexes: HashMap<&'static str, Index<K>>,
}

impl<K: Object> Inner<K> {
    fn unindex(&mut self, key: &str, obj: &K) {
        for index in self.indexes.values_mut() {
            for value in (index.func)(obj) {
                if let Some(keys) = index.entries.get_mut(&value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.entries.remove(&value);
                    }
                }
            }
        }
    }

    fn index(&mut self, key: &str, obj: &K) {
        for index in self.indexes.values_mut() {
            for value in (index.func)(obj) {
                index.entries.entry(value).or_default().insert(key.to_string());
            }
        }
    }

    /// Stores `obj`; answers what it replaced.
    fn put(&mut self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = key_of(obj.as_ref());
        let old = self.objects.insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.unindex(&key, old);
        }
        self.index(&key, &obj);
        old
    }

    fn remove(&mut self, key: &str) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        self.unindex(key, &old);
        Some(old)
    }
}

/// A read-only handle on the cache — client-go's *lister*. Clone it freely.
pub struct Store<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Receiver<bool>,
}

/// client-go's name for the read side of the cache.
pub type Lister<K> = Store<K>;

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
        }
    }
}

impl<K: Object> Store<K> {
    // A std RwLock: held only for in-memory lookups, never across an `.await`. A poisoned
    // lock (a panic inside an index function) still holds consistent maps: we go on.
    fn read(&self) -> RwLockReadGuard<'_, Inner<K>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The object with this key (`namespace/name`).
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object (in no particular order).
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// Every key.
    pub fn keys(&self) -> Vec<String> {
        self.read().objects.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects whose index `index` has the value `value`, e.g.
    /// `by_index("nodeName", "node-1")`. An unknown index answers nothing.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let inner = self.read();
        let Some(keys) = inner.indexes.get(index).and_then(|i| i.entries.get(value)) else {
            return Vec::new();
        };
        keys.iter().filter_map(|k| inner.objects.get(k).cloned()).collect()
    }

    /// True once the first complete list is in: before that, the cache is a partial view.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// A handle the runner waits on before starting workers.
    pub fn synced(&self) -> HasSynced {
        HasSynced(self.synced.clone())
    }
}

/// "Has this cache synced?", without knowing the cache's type (a runner waits on several).
#[derive(Clone, Debug)]
pub struct HasSynced(watch::Receiver<bool>);

impl HasSynced {
    pub fn is_synced(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once synced (or when the writer is gone, which never syncs it again).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The one writer of a cache: owned by the reflector. Not `Clone`, by design.
pub struct Writer<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Sender<bool>,
}

impl<K: Object> Default for Writer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Object> Writer<K> {
    pub fn new() -> Writer<K> {
        Writer {
            inner: Arc::new(RwLock::new(Inner {
                objects: HashMap::new(),
                indexes: HashMap::new(),
            })),
            synced: watch::channel(false).0,
        }
    }

    /// Adds a secondary index (before the first write), e.g. `.with_index(pods_by_node())`.
    pub fn with_index(self, (name, func): (&'static str, IndexFn<K>)) -> Writer<K> {
        {
            let mut inner = self.write();
            let mut index = Index {
                func,
                entries: HashMap::new(),
            };
            for (key, obj) in &inner.objects {
                for value in (index.func)(obj) {
                    index.entries.entry(value).or_default().insert(key.clone());
                }
            }
            inner.indexes.insert(name, index);
        }
        self
    }

    /// A reader of this cache.
    pub fn reader(&self) -> Store<K> {
        Store {
            inner: self.inner.clone(),
            synced: self.synced.subscribe(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<K>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// An object was added or modified.
    pub fn apply(&mut self, obj: K) -> Change<K> {
        let new = Arc::new(obj);
        match self.write().put(new.clone()) {
            Some(old) => Change::Updated { old, new },
            None => Change::Added(new),
        }
    }

    /// An object was deleted. `None` if we did not hold it.
    pub fn delete(&mut self, obj: K) -> Option<Change<K>> {
        let removed = self.write().remove(&key_of(&obj));
        // The watch's last state is fresher than ours.
        removed.map(|_| Change::Deleted(Arc::new(obj)))
    }

    /// Replaces everything with a fresh list; answers the difference: new objects, changed
    /// objects (a different `resourceVersion`), and vanished ones as deletions. Marks the
    /// cache synced.
    pub fn replace(&mut self, items: Vec<K>) -> Vec<Change<K>> {
        let mut changes = Vec::new();
        {
            let mut inner = self.write();
            let mut fresh: HashMap<String, K> =
                items.into_iter().map(|o| (key_of(&o), o)).collect();
            let gone: Vec<String> = inner
                .objects
                .keys()
                .filter(|k| !fresh.contains_key(*k))
                .cloned()
                .collect();
            for key in gone {
                if let Some(old) = inner.remove(&key) {
                    changes.push(Change::Deleted(old));
                }
            }
            for (key, obj) in fresh.drain() {
                let same = inner.objects.get(&key).is_some_and(|old| {
                    old.metadata().resource_version == obj.metadata().resource_version
                });
                if same {
                    continue;
                }
                let new = Arc::new(obj);
                changes.push(match inner.put(new.clone()) {
                    Some(old) => Change::Updated { old, new },
                    None => Change::Added(new),
                });
            }
        }
        self.synced.send_replace(true);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_api::OwnerReference;

    fn pod(name: &str, node: &str, rv: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.metadata.resource_version = rv.into();
        p.spec.node_name = node.into();
        p
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut n: Vec<String> = pods.iter().map(|p| p.metadata.name.clone()).collect();
        n.sort();
        n
    }

    #[test]
    fn pods_by_node_follows_a_pod_when_it_is_bound_and_deleted() {
        let mut w = Writer::new().with_index(pods_by_node());
        let r = w.reader();
        w.apply(pod("a", "", "1"));
        w.apply(pod("b", "node-1", "2"));
        assert_eq!(names(r.by_index("nodeName", "")), ["a"]);
        w.apply(pod("a", "node-1", "3"));
        assert_eq!(names(r.by_index("nodeName", "node-1")), ["a", "b"]);
        assert!(r.by_index("nodeName", "").is_empty());
        w.delete(pod("b", "node-1", "4"));
        assert_eq!(names(r.by_index("nodeName", "node-1")), ["a"]);
        assert!(r.by_index("noSuchIndex", "x").is_empty());
    }

    #[test]
    fn owner_and_label_indexes_find_dependents() {
        let mut w = Writer::new()
            .with_index(by_owner_uid())
            .with_index(by_label("app"));
        let r = w.reader();
        let mut a = pod("a", "", "1");
        a.metadata.owner_references.push(OwnerReference {
            uid: "rs-1".into(),
            kind: "ReplicaSet".into(),
            ..Default::default()
        });
        a.metadata.labels.insert("app".into(), "web".into());
        w.apply(a);
        w.apply(pod("b", "", "1"));
        assert_eq!(names(r.by_index("ownerUID", "rs-1")), ["a"]);
        assert_eq!(names(r.by_index("app", "web")), ["a"]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn replace_answers_the_difference_and_marks_the_cache_synced() {
        let mut w = Writer::new();
        let r = w.reader();
        assert!(!r.has_synced());
        w.apply(pod("kept", "", "1"));
        w.apply(pod("changed", "", "1"));
        w.apply(pod("vanished", "", "1"));
        let changes = w.replace(vec![
            pod("kept", "", "1"),
            pod("changed", "", "2"),
            pod("new", "", "3"),
        ]);
        let mut seen: Vec<String> = changes
            .iter()
            .map(|c| {
                let kind = match c {
                    Change::Added(_) => "added",
                    Change::Updated { .. } => "updated",
                    Change::Deleted(_) => "deleted",
                };
                format!("{kind} {}", c.object().metadata.name)
            })
            .collect();
        seen.sort();
        assert_eq!(seen, ["added new", "deleted vanished", "updated changed"]);
        assert!(r.has_synced());
        assert_eq!(r.get("default/changed").unwrap().metadata.resource_version, "2");
        assert!(r.get("default/vanished").is_none());
    }
}
