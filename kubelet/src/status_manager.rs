//! The status manager: the pod loop's statuses, written to the apiserver (upstream's
//! `pkg/kubelet/status/status_manager.go`).
//!
//! - **Observes**: what the pod loop computed in its last pass ([`Observed`]: every desired
//!   pod with its status, and which pods still have containers), and this node's pods in
//!   the informer's cache.
//! - **Key**: the pod UID (a static pod's status goes to its mirror pod).
//! - **Compares**: the computed status with the one the apiserver holds, ignoring timestamps
//!   that move on their own (for 10 s after a write, with the one written, while the cache
//!   catches up; after that the API wins, e.g. a pod marked not Ready by the node controller).
//! - **Does**: PATCHes `pods/NAME/status` only when they differ — a steady node writes
//!   nothing. For a pod being deleted (`deletionTimestamp`) whose containers are all gone,
//!   it sends the final `DELETE` with `gracePeriodSeconds=0` and the pod's UID as a
//!   precondition, so that the apiserver removes the object (and never a new pod of the
//!   same name). It also rewrites the file volumes whose source changed (configMap, secret,
//!   downwardAPI labels and annotations, service account tokens due for refresh).
//! - **Requeues**: it runs after every pass of the pod loop (1 s); a failed write is
//!   simply tried again on the next one.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_api::core::{Pod, PodStatus};
use kube_client::{Api, DeleteParams, PatchType, Preconditions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api_mode::{ApiMode, Observed};
use crate::config::api::is_mirror;
use crate::labels;

/// Runs until `cancel`.
pub async fn run(api: Arc<ApiMode>, root_dir: PathBuf, cancel: CancellationToken) {
    let mut observed = api.subscribe();
    // UID → the status last written (without times), and when.
    let mut written: HashMap<String, (PodStatus, Instant)> = HashMap::new();
    // UIDs whose final delete was sent.
    let mut deleted: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            changed = observed.changed() => if changed.is_err() { return },
            _ = cancel.cancelled() => return,
        }
        let now = observed.borrow_and_update().clone();
        write_statuses(&api, &now, &mut written).await;
        delete_finished(&api, &now, &mut deleted).await;
        for (pod, _) in now.pods.values() {
            crate::volumes_api::refresh(&api, &root_dir, pod).await;
        }
        api.tokens.retain_pods(&now.pods.keys().cloned().collect());
    }
}

/// Where a pod's status goes: itself, or the mirror pod of a static pod.
fn target(api: &ApiMode, pod: &Pod) -> Option<Arc<Pod>> {
    let key = pod.metadata.key();
    let in_api = api.pods.get(&key)?;
    let static_pod = pod.metadata.annotations.get(labels::CONFIG_SOURCE).is_some_and(|s| s == "file");
    let matches = if static_pod { is_mirror(&in_api) } else { in_api.metadata.uid == pod.metadata.uid };
    matches.then_some(in_api)
}

/// How long a status we wrote may differ from the cached API object before we believe the
/// cache (someone else changed it: the node lifecycle controller marking the pod not Ready
/// while this kubelet was away) rather than a cache that has not seen our write yet —
/// upstream's status manager also re-compares with the API every 10 s.
const RECHECK_AFTER: Duration = Duration::from_secs(10);

async fn write_statuses(api: &ApiMode, now: &Observed, written: &mut HashMap<String, (PodStatus, Instant)>) {
    for (uid, (pod, status)) in &now.pods {
        let mut stable = without_times(status);
        if stable.qos_class.is_empty() {
            stable.qos_class = kube_api::core::pod_qos_class(&pod.spec).to_string();
        }
        let Some(in_api) = target(api, pod) else { continue };
        if without_times(&in_api.status) == stable {
            written.insert(uid.clone(), (stable, Instant::now()));
            continue;
        }
        if written.get(uid).is_some_and(|(last, at)| *last == stable && at.elapsed() < RECHECK_AFTER) {
            // Written already; the cache has not caught up yet.
            continue;
        }
        let mut status = status.clone();
        if status.qos_class.is_empty() {
            // As upstream's generateAPIPodStatus: the QoS class from the spec's resources.
            status.qos_class = kube_api::core::pod_qos_class(&pod.spec).to_string();
        }
        // Keep the first startTime the API recorded (a restarted kubelet computes a new one).
        if in_api.status.start_time.is_some() {
            status.start_time = in_api.status.start_time;
        }
        let pods: Api<Pod> = Api::namespaced(api.client.clone(), &in_api.metadata.namespace);
        match pods.patch_status(&in_api.metadata.name, &PatchType::Merge, &json!({ "status": status })).await {
            Ok(_) => {
                tracing::info!(pod = %in_api.metadata.key(), "status written: {}", crate::status::summary(&status));
                written.insert(uid.clone(), (stable, Instant::now()));
            }
            Err(e) => tracing::warn!(pod = %in_api.metadata.key(), "writing pod status failed, will retry: {e}"),
        }
    }
    written.retain(|uid, _| now.pods.contains_key(uid));
}

/// Final deletion of pods that are being deleted and have nothing left running.
async fn delete_finished(api: &ApiMode, now: &Observed, deleted: &mut HashSet<String>) {
    let mut still_there = HashSet::new();
    for pod in api.pods.list() {
        let uid = &pod.metadata.uid;
        if pod.metadata.deletion_timestamp.is_none() || is_mirror(&pod) {
            continue;
        }
        still_there.insert(uid.clone());
        if now.busy.contains(uid) || deleted.contains(uid) {
            continue;
        }
        let pods: Api<Pod> = Api::namespaced(api.client.clone(), &pod.metadata.namespace);
        // First the containers' final states (terminated, with their exit codes), as
        // upstream does before the object goes.
        let last = api.final_statuses.lock().unwrap_or_else(|e| e.into_inner()).get(uid).cloned();
        if let Some(status) = last {
            match pods.patch_status(&pod.metadata.name, &PatchType::Merge, &json!({ "status": status })).await {
                Ok(_) => tracing::info!(pod = %pod.metadata.key(), "final status written: {}", crate::status::summary(&status)),
                Err(e) => tracing::warn!(pod = %pod.metadata.key(), "writing the final status failed: {e}"),
            }
        }
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match pods.delete(&pod.metadata.name, &params).await {
            Ok(_) => {
                tracing::info!(pod = %pod.metadata.key(), "pod terminated: deleted from the API");
                deleted.insert(uid.clone());
            }
            Err(e) if e.is_not_found() || e.is_conflict() => {
                deleted.insert(uid.clone());
            }
            Err(e) => tracing::warn!(pod = %pod.metadata.key(), "final delete failed, will retry: {e}"),
        }
    }
    deleted.retain(|uid| still_there.contains(uid));
    api.final_statuses.lock().unwrap_or_else(|e| e.into_inner()).retain(|uid, _| still_there.contains(uid) && !deleted.contains(uid));
}

/// Status equality ignoring timestamps that move on their own.
pub fn without_times(s: &PodStatus) -> PodStatus {
    let mut s = s.clone();
    s.start_time = None;
    for c in &mut s.conditions {
        c.last_transition_time = None;
        c.last_probe_time = None;
    }
    s
}
