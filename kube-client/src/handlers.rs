//! Event handlers → keys: which loop must look again when an object changes.
//!
//! An informer's handler receives a [`Change`] and should only answer one question: *whose
//! desired-versus-actual comparison might this change affect?* — then enqueue those keys.
//!
//! - A change of an object wakes **its own** loop: [`enqueue_self`] (a Deployment change
//!   wakes the Deployment controller for that Deployment).
//! - A change of a dependent wakes its **controller owner**: [`owner_keys`] (a Pod change
//!   wakes the ReplicaSet whose `ownerReferences` entry has `controller: true`). For an
//!   update, the old owner is woken too: an orphaned pod must make its former owner count
//!   again.
//! - A change of something many objects depend on wakes **all of them**: [`pending_pod_keys`]
//!   (a Node becoming ready may let every unscheduled pod fit).
//!
//! The handler never says *what* changed: the reconcile reads the cache and works it out.

use std::collections::BTreeSet;

use kube_api::core::Pod;
use kube_api::Object;

use crate::store::{key_of, Change, Store};
use crate::workqueue::WorkQueue;

/// `namespace/name` of `obj`'s controller owner if it is a `kind` (e.g. `"ReplicaSet"`).
/// Owners live in their dependent's namespace (cluster-scoped owners: no namespace).
pub fn owner_keys<K: Object>(obj: &K, kind: &str) -> Vec<String> {
    let meta = obj.metadata();
    meta.controller_ref()
        .filter(|r| r.kind == kind)
        .map(|r| {
            if meta.namespace.is_empty() {
                r.name.clone()
            } else {
                format!("{}/{}", meta.namespace, r.name)
            }
        })
        .into_iter()
        .collect()
}

/// The owner keys a change wakes: the new owner, and for an update the old one too.
pub fn owner_keys_of_change<K: Object>(change: &Change<K>, kind: &str) -> Vec<String> {
    let mut keys: BTreeSet<String> = owner_keys(change.object().as_ref(), kind).into_iter().collect();
    if let Change::Updated { old, .. } = change {
        keys.extend(owner_keys(old.as_ref(), kind));
    }
    keys.into_iter().collect()
}

/// A handler that enqueues the changed object's own key.
pub fn enqueue_self<K: Object>(queue: WorkQueue) -> impl Fn(&Change<K>) + Send + Sync + 'static {
    move |change| queue.add(key_of(change.object().as_ref()))
}

/// A handler that enqueues the changed object's controller owner of `kind`.
pub fn enqueue_owner<K: Object>(
    queue: WorkQueue,
    kind: &'static str,
) -> impl Fn(&Change<K>) + Send + Sync + 'static {
    move |change| {
        for key in owner_keys_of_change(change, kind) {
            queue.add(key);
        }
    }
}

/// The keys of every pod not yet bound to a node (what a Node change wakes in a scheduler).
pub fn pending_pod_keys(pods: &Store<Pod>) -> Vec<String> {
    pods.list()
        .iter()
        .filter(|p| p.spec.node_name.is_empty() && p.metadata.deletion_timestamp.is_none())
        .map(|p| key_of(p.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Writer;
    use kube_api::OwnerReference;
    use std::sync::Arc;

    fn pod_owned_by(name: &str, kind: &str, owner: &str, controller: bool) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.metadata.owner_references.push(OwnerReference {
            kind: kind.into(),
            name: owner.into(),
            controller: Some(controller),
            ..Default::default()
        });
        p
    }

    #[test]
    fn a_pod_change_wakes_its_controller_owner_of_the_asked_kind_only() {
        let p = pod_owned_by("web-x", "ReplicaSet", "web", true);
        assert_eq!(owner_keys(&p, "ReplicaSet"), ["default/web"]);
        assert!(owner_keys(&p, "StatefulSet").is_empty());
        let not_controller = pod_owned_by("web-y", "ReplicaSet", "web", false);
        assert!(owner_keys(&not_controller, "ReplicaSet").is_empty());
    }

    #[test]
    fn an_update_that_changes_the_owner_wakes_both_owners() {
        let change = Change::Updated {
            old: Arc::new(pod_owned_by("p", "ReplicaSet", "old", true)),
            new: Arc::new(pod_owned_by("p", "ReplicaSet", "new", true)),
        };
        assert_eq!(
            owner_keys_of_change(&change, "ReplicaSet"),
            ["default/new", "default/old"]
        );
    }

    #[test]
    fn pending_pods_are_the_unbound_ones() {
        let mut w = Writer::new();
        let mut bound = Pod::default();
        bound.metadata.namespace = "default".into();
        bound.metadata.name = "bound".into();
        bound.spec.node_name = "node-1".into();
        let mut pending = bound.clone();
        pending.metadata.name = "pending".into();
        pending.spec.node_name.clear();
        w.apply(bound);
        w.apply(pending);
        assert_eq!(pending_pod_keys(&w.reader()), ["default/pending"]);
    }
}
