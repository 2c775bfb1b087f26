//! The API pod source: the pods the apiserver binds to this node (upstream's
//! `pkg/kubelet/config/apiserver.go`).
//!
//! - **Observes**: an informer on pods with `fieldSelector=spec.nodeName=NODE` — the
//!   apiserver sends this node its own pods only.
//! - **Does**: after every change, hands the complete list to the [`PodConfig`] as
//!   [`Source::Api`], like the file source does: the pod loop compares, never reacts to
//!   one event.
//! - Leaves out two kinds of pods:
//!   - **mirror pods** (annotation `kubernetes.io/config.mirror`): they are the API's copy
//!     of a static pod the file source already runs;
//!   - **pods being deleted** (`deletionTimestamp` set): no source wants them any more, so
//!     the pod loop kills them — gracefully, with the grace the delete asked for — and the
//!     status manager then deletes the object with `gracePeriodSeconds=0`.
//!
//! A pod that disappears from the API (deleted with grace 0, or its node changed) drops out
//! of the list the same way and is killed.

use std::sync::Arc;

use kube_api::core::Pod;
use kube_client::{Informer, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{PodConfig, Source};
use crate::labels;

/// Publishes the node's API pods into `config` after every change, until `cancel`.
pub async fn run(informer: Informer<Pod>, node_name: String, config: PodConfig, cancel: CancellationToken) {
    let changed = Arc::new(Notify::new());
    let notify = changed.clone();
    informer.add_handler(move |_| notify.notify_one());
    let store = informer.store();
    let synced = store.synced();
    tokio::select! {
        _ = synced.wait() => {}
        _ = cancel.cancelled() => return,
    }
    tracing::info!("pods bound to node {node_name} are watched in the apiserver");
    loop {
        config.set(Source::Api, desired(&store));
        tokio::select! {
            _ = changed.notified() => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// The pods of the store this kubelet must run.
pub fn desired(store: &Store<Pod>) -> Vec<Pod> {
    let mut pods: Vec<Pod> = store.list().iter().filter(|p| wanted(p)).map(|p| (**p).clone()).collect();
    pods.sort_by(|a, b| a.metadata.uid.cmp(&b.metadata.uid));
    pods
}

/// Not a mirror pod, not being deleted.
pub fn wanted(pod: &Pod) -> bool {
    !is_mirror(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// A mirror pod is the API's view of a static pod, never run from the API.
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata.annotations.contains_key(labels::CONFIG_MIRROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn mirror_pods_and_pods_being_deleted_are_not_run() {
        assert!(wanted(&pod(serde_json::json!({"metadata": {"name": "a"}}))));
        let mirror = pod(serde_json::json!({"metadata": {"name": "m", "annotations": {"kubernetes.io/config.mirror": "h"}}}));
        assert!(!wanted(&mirror));
        let deleting = pod(serde_json::json!({"metadata": {"name": "d", "deletionTimestamp": "2025-01-01T00:00:00Z"}}));
        assert!(!wanted(&deleting));
    }
}
