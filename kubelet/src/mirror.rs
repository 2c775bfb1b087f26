//! Mirror pods: the apiserver's copy of each static pod (upstream's
//! `pkg/kubelet/pod/mirror_client.go` and the mirror part of `syncPod`).
//!
//! A static pod comes from a file on the node; the apiserver would never know about it, and
//! `kubectl get pods` would not show it. So the kubelet creates a *mirror pod* for it: the
//! same name, namespace and spec, bound to this node, with the annotations
//! `kubernetes.io/config.mirror: HASH` (the static pod's UID) and
//! `kubernetes.io/config.source: file`, owned by the Node. The mirror is for looking only:
//! the API source never runs it, and deleting it merely makes the kubelet create it again.
//!
//! - **Observes**: the static pods ([`Source::File`] of the [`PodConfig`]) and the mirror
//!   pods in the informer's cache.
//! - **Key**: `namespace/name`.
//! - **Compares**: each static pod with the mirror of that name.
//! - **Does**: creates missing mirrors; deletes (grace 0) mirrors whose static pod changed
//!   (the hash differs), is gone, or that someone is deleting — the next pass creates the
//!   new one.
//! - **Requeues**: every second and after every change of the static pods.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube_api::core::{Node, Pod};
use kube_client::{Api, DeleteParams, Preconditions};
use tokio_util::sync::CancellationToken;

use crate::api_mode::{node_owner, ApiMode};
use crate::config::api::is_mirror;
use crate::config::{PodConfig, Source};
use crate::labels;

/// Runs until `cancel`.
pub async fn run(api: Arc<ApiMode>, config: PodConfig, cancel: CancellationToken) {
    let mut changes = config.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut node: Option<Node> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = changes.changed() => {}
            _ = cancel.cancelled() => return,
        }
        if !api.pods.has_synced() {
            continue;
        }
        let static_pods = changes.borrow_and_update().get(&Source::File).cloned().unwrap_or_default();
        if static_pods.is_empty() && !api.pods.list().iter().any(|p| is_mirror(p)) {
            continue;
        }
        // The owner reference needs the Node's UID: wait until it is registered.
        if node.is_none() {
            node = Api::<Node>::all(api.client.clone()).get_opt(&api.node_name).await.ok().flatten();
            let Some(_) = &node else { continue };
        }
        let Some(node) = &node else { continue };
        sync(&api, node, &static_pods).await;
    }
}

/// One pass: create what is missing, delete what is stale.
async fn sync(api: &ApiMode, node: &Node, static_pods: &[Pod]) {
    let mirrors: HashMap<String, Arc<Pod>> =
        api.pods.list().into_iter().filter(|p| is_mirror(p)).map(|p| (p.metadata.key(), p)).collect();
    for pod in static_pods {
        let key = pod.metadata.key();
        match mirrors.get(&key) {
            Some(m) if m.metadata.annotations.get(labels::CONFIG_MIRROR) == Some(&pod.metadata.uid) && m.metadata.deletion_timestamp.is_none() => {}
            Some(m) => delete(api, m, "its static pod changed or it is being deleted").await,
            None => {
                let pods: Api<Pod> = Api::namespaced(api.client.clone(), &pod.metadata.namespace);
                match pods.create(&mirror_of(pod, node)).await {
                    Ok(_) => tracing::info!(pod = %key, "created mirror pod for static pod"),
                    Err(e) if e.is_already_exists() => {} // a plain pod of that name: upstream also leaves it
                    Err(e) => tracing::warn!(pod = %key, "creating mirror pod failed, will retry: {e}"),
                }
            }
        }
    }
    for (key, m) in &mirrors {
        if !static_pods.iter().any(|p| &p.metadata.key() == key) {
            delete(api, m, "its static pod is gone").await;
        }
    }
}

async fn delete(api: &ApiMode, mirror: &Pod, why: &str) {
    let pods: Api<Pod> = Api::namespaced(api.client.clone(), &mirror.metadata.namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(mirror.metadata.uid.clone()), resource_version: None }),
        ..Default::default()
    };
    match pods.delete(&mirror.metadata.name, &params).await {
        Ok(_) => tracing::info!(pod = %mirror.metadata.key(), "deleted mirror pod: {why}"),
        Err(e) if e.is_not_found() || e.is_conflict() => {}
        Err(e) => tracing::warn!(pod = %mirror.metadata.key(), "deleting mirror pod failed, will retry: {e}"),
    }
}

/// The mirror pod of `pod`: its spec and metadata, a fresh identity, the mirror
/// annotation, and the Node as owner (so that deleting the Node deletes its mirrors).
pub fn mirror_of(pod: &Pod, node: &Node) -> Pod {
    let mut m = Pod { metadata: pod.metadata.clone(), spec: pod.spec.clone(), ..Default::default() };
    m.metadata.uid = String::new();
    m.metadata.resource_version = String::new();
    m.metadata.annotations.insert(labels::CONFIG_MIRROR.into(), pod.metadata.uid.clone());
    m.metadata.owner_references = vec![node_owner(node)];
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_pod_carries_the_static_pods_hash_and_is_owned_by_the_node() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-node1", "namespace": "default", "uid": "abc123",
                         "annotations": {"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": "abc123"}},
            "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "busybox"}]}
        }))
        .unwrap();
        let mut node = Node::default();
        node.metadata.name = "node1".into();
        node.metadata.uid = "n-uid".into();
        let m = mirror_of(&pod, &node);
        assert_eq!(m.metadata.uid, "");
        assert_eq!(m.metadata.annotations[labels::CONFIG_MIRROR], "abc123");
        assert_eq!(m.metadata.annotations[labels::CONFIG_SOURCE], "file");
        assert_eq!(m.metadata.owner_references[0].kind, "Node");
        assert_eq!(m.metadata.owner_references[0].uid, "n-uid");
        assert_eq!(m.spec.node_name, "node1");
        assert!(is_mirror(&m));
    }
}
