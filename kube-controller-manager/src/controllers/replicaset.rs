//! The ReplicaSet controller, which is also the ReplicationController controller (one
//! implementation over [`ReplicaOwner`], as upstream's `replication` package wraps
//! `replicaset`). Seed 001: "ReplicationControllers keep a precise number of Pods running
//! — this is what lets us scale"; delete a pod, and it comes back.
//!
//! - **Observes**: ReplicaSets (or RCs) and Pods (shared informers). A pod change wakes its
//!   controller owner; an orphan pod wakes every owner whose selector matches it.
//! - **Key**: `namespace/name` of the ReplicaSet.
//! - **Desired**: `spec.replicas` active pods matching the selector, each controlled by it.
//! - **Actual**: the active (not finished, not deleting) pods in its namespace that it
//!   controls, after adopting matching orphans and releasing controlled pods that no
//!   longer match.
//! - **Does**: creates the missing pods from the template (`generateName: <rs>-`) in
//!   slow-start batches, or deletes the surplus, best candidates first (unscheduled,
//!   pending, not ready, ...); at most 500 per sync. It registers *expectations* before
//!   writing and does not compare again until the informer has seen every write.
//!   Events: `SuccessfulCreate`, `SuccessfulDelete` (`FailedCreate`, `FailedDelete`).
//! - **Status**: `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`
//!   (ready for `minReadySeconds`), `observedGeneration`.
//! - **Requeues**: on errors (back-off); after `minReadySeconds` when a ready pod is not yet
//!   available; otherwise on the next change.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use kube_api::apps::ReplicaSet;
use kube_api::core::{Pod, PodTemplateSpec, ReplicationController};
use kube_api::Object;
use kube_client::handlers::owner_keys;
use kube_client::store::key_of;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, EventType, Expectations, PatchType, Recorder, Store, WorkQueue};
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use super::pod_control::{self, claim, is_pod_active, is_pod_available, is_pod_ready, BURST_REPLICAS};
use crate::ControllerContext;

/// What the controller needs to know of a ReplicaSet or a ReplicationController.
pub trait ReplicaOwner: Object {
    /// `replicaset-controller` or `replication-controller` (events, logs).
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// Does the selector select these labels? (An empty selector selects nothing here.)
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool;
    fn current_status(&self) -> ReplicaStatus;
}

/// The status fields both kinds share, with the same JSON names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: i64,
}

impl ReplicaStatus {
    fn patch(&self) -> Value {
        json!({"status": {
            "replicas": self.replicas,
            "fullyLabeledReplicas": self.fully_labeled_replicas,
            "readyReplicas": self.ready_replicas,
            "availableReplicas": self.available_replicas,
            "observedGeneration": self.observed_generation,
        }})
    }
}

impl ReplicaOwner for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";
    fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        Some(&self.spec.template)
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.spec.selector.as_ref().is_some_and(|s| !s.is_empty() && s.matches(labels))
    }
    fn current_status(&self) -> ReplicaStatus {
        let s = &self.status;
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
        }
    }
}

impl ReplicaOwner for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";
    fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.template.as_ref()
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.spec.selector.is_empty() && self.spec.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
    fn current_status(&self) -> ReplicaStatus {
        let s = &self.status;
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
        }
    }
}

/// What one reconcile reads and writes with.
struct Ctx<R> {
    owners: Store<R>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
    expectations: Arc<Expectations>,
}

/// The `replicaset` entry of the controller table.
pub fn start_replicaset(ctx: &ControllerContext) -> BoxFuture<'static, ()> {
    start::<ReplicaSet>(ctx, "replicaset", ctx.options.concurrent_replicaset_syncs)
}

/// The `replicationcontroller` entry of the controller table.
pub fn start_replication_controller(ctx: &ControllerContext) -> BoxFuture<'static, ()> {
    start::<ReplicationController>(ctx, "replicationcontroller", ctx.options.concurrent_rc_syncs)
}

fn start<R: ReplicaOwner>(cc: &ControllerContext, name: &'static str, workers: usize) -> BoxFuture<'static, ()> {
    let owners = cc.informer::<R>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    let expectations = Arc::new(Expectations::new());
    owners.add_handler({
        let (queue, expectations) = (queue.clone(), expectations.clone());
        move |change: &Change<R>| {
            let key = key_of(change.object().as_ref());
            if let Change::Deleted(_) = change {
                expectations.delete(&key);
            }
            queue.add(key);
        }
    });
    pods.add_handler({
        let (queue, expectations, owners) = (queue.clone(), expectations.clone(), owners.store());
        move |change: &Change<Pod>| on_pod_change::<R>(change, &queue, &expectations, &owners)
    });
    let ctx = Arc::new(Ctx {
        owners: owners.store(),
        pods: pods.store(),
        client: cc.client.clone(),
        recorder: cc.recorder(R::COMPONENT),
        expectations,
    });
    let controller = Controller::new(name, queue).workers(workers).wait_for(owners.synced()).wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// Pod change → which owners must look again, and which expectations it fulfils.
fn on_pod_change<R: ReplicaOwner>(change: &Change<Pod>, queue: &WorkQueue, expectations: &Expectations, owners: &Store<R>) {
    let enqueue_matching = |pod: &Pod| {
        for o in owners.by_index("namespace", &pod.metadata.namespace) {
            if o.selects(&pod.metadata.labels) {
                queue.add(key_of(o.as_ref()));
            }
        }
    };
    match change {
        Change::Added(pod) => {
            let keys = owner_keys(pod.as_ref(), R::KIND);
            for key in &keys {
                expectations.creation_observed(key);
                queue.add(key.clone());
            }
            if pod.metadata.controller_ref().is_none() {
                enqueue_matching(pod);
            }
        }
        Change::Updated { old, new } => {
            // A graceful deletion starts: that is the deletion we expected.
            if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                for key in owner_keys(new.as_ref(), R::KIND) {
                    expectations.deletion_observed(&key);
                }
            }
            for key in owner_keys(old.as_ref(), R::KIND).into_iter().chain(owner_keys(new.as_ref(), R::KIND)) {
                queue.add(key);
            }
            if new.metadata.controller_ref().is_none() && (old.metadata.labels != new.metadata.labels || old.metadata.controller_ref().is_some()) {
                enqueue_matching(new);
            }
        }
        Change::Deleted(pod) => {
            for key in owner_keys(pod.as_ref(), R::KIND) {
                if pod.metadata.deletion_timestamp.is_none() {
                    expectations.deletion_observed(&key);
                }
                queue.add(key);
            }
        }
    }
}

/// What to do about the number of pods.
#[derive(Debug, PartialEq)]
pub enum Diff {
    /// Create this many pods.
    Create(usize),
    /// Delete these pods (best candidates first).
    Delete(Vec<Arc<Pod>>),
    Nothing,
}

/// Compares `wanted` with the `owned` active pods (upstream's `manageReplicas` decision).
pub fn replica_diff(owned: &[Arc<Pod>], wanted: i32) -> Diff {
    let have = owned.len() as i64;
    let wanted = i64::from(wanted.max(0));
    if have < wanted {
        Diff::Create(((wanted - have) as usize).min(BURST_REPLICAS))
    } else if have > wanted {
        let n = ((have - wanted) as usize).min(BURST_REPLICAS);
        let mut pods = owned.to_vec();
        pod_control::sort_for_deletion(&mut pods, owned);
        pods.truncate(n);
        Diff::Delete(pods)
    } else {
        Diff::Nothing
    }
}

/// Upstream's `calculateStatus` over the owned active pods; also answers when a ready pod
/// will become available (to requeue then).
pub fn calculate_status<R: ReplicaOwner>(owner: &R, owned: &[Arc<Pod>], now: chrono::DateTime<Utc>) -> (ReplicaStatus, Option<std::time::Duration>) {
    let template_labels = owner.template().map(|t| t.metadata.labels.clone()).unwrap_or_default();
    let min_ready = owner.min_ready_seconds();
    let mut s = ReplicaStatus {
        replicas: owned.len() as i32,
        observed_generation: owner.metadata().generation.unwrap_or(0),
        ..Default::default()
    };
    let mut next = None;
    for p in owned {
        if template_labels.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)) {
            s.fully_labeled_replicas += 1;
        }
        if is_pod_ready(p) {
            s.ready_replicas += 1;
            if is_pod_available(p, min_ready, now) {
                s.available_replicas += 1;
            } else if let Some(d) = pod_control::time_until_available(p, min_ready, now) {
                next = Some(next.map_or(d, |n: std::time::Duration| n.min(d)));
            }
        }
    }
    (s, next)
}

async fn reconcile<R: ReplicaOwner>(ctx: Arc<Ctx<R>>, key: String) -> Result<Action, kube_client::Error> {
    let Some(owner) = ctx.owners.get(&key) else {
        debug!("{} {key} has been deleted", R::KIND);
        ctx.expectations.delete(&key);
        return Ok(Action::Done);
    };
    let meta = owner.metadata();
    let satisfied = ctx.expectations.satisfied(&key);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &meta.namespace);

    // Actual: the active pods we control, after adoption and release.
    let candidates = ctx
        .pods
        .by_index("namespace", &meta.namespace)
        .into_iter()
        .filter(|p| is_pod_active(p));
    let deleting = meta.deletion_timestamp.is_some();
    let claimed = claim(&meta.uid, deleting, |l| owner.selects(l), candidates);
    let mut owned = claimed.owned;
    let mut first_err = None;
    for pod in claimed.adopt {
        match pod_control::adopt(&pod_api, pod.as_ref(), pod_control::controller_ref(owner.as_ref())).await {
            Ok(adopted) => {
                info!("adopted pod {} into {} {key}", pod.metadata.name, R::KIND);
                owned.push(Arc::new(adopted));
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    for pod in claimed.release {
        match pod_control::release(&pod_api, pod.as_ref(), &meta.uid).await {
            Ok(_) => info!("released pod {} from {} {key}: its labels no longer match", pod.metadata.name, R::KIND),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }

    // Compare and act, only once the cache reflects our previous writes.
    if satisfied && !deleting && first_err.is_none() {
        if let Err(e) = manage_replicas(&ctx, &owner, &key, &owned, &pod_api).await {
            first_err = Some(e);
        }
    }

    // Status, from what we counted (upstream does the same, before its writes land).
    let (status, next) = calculate_status(owner.as_ref(), &owned, Utc::now());
    if status != owner.current_status() {
        let api: Api<R> = Api::namespaced(ctx.client.clone(), &meta.namespace);
        match api.patch_status(&meta.name, &PatchType::Merge, &status.patch()).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(next.map_or(Action::Done, Action::RequeueAfter))
}

async fn manage_replicas<R: ReplicaOwner>(ctx: &Ctx<R>, owner: &Arc<R>, key: &str, owned: &[Arc<Pod>], pod_api: &Api<Pod>) -> Result<(), kube_client::Error> {
    match replica_diff(owned, owner.replicas()) {
        Diff::Nothing => Ok(()),
        Diff::Create(n) => {
            let Some(template) = owner.template() else {
                warn!("{} {key} has no pod template: cannot create pods", R::KIND);
                return Ok(());
            };
            info!("Too few replicas for {} {key}, need {}, creating {n}", R::KIND, owner.replicas());
            ctx.expectations.expect_creations(key, n);
            let pod = pod_control::pod_from_template(owner.as_ref(), template);
            let (ok, failed, err) = pod_control::slow_start_batch(n, 1, || async {
                match pod_api.create(&pod).await {
                    Ok(created) => {
                        debug!("created pod {}", created.metadata.name);
                        ctx.recorder.record(owner.as_ref(), EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", created.metadata.name));
                        Ok(())
                    }
                    Err(e) => {
                        ctx.recorder.record(owner.as_ref(), EventType::Warning, "FailedCreate", &format!("Error creating: {e}"));
                        Err(e)
                    }
                }
            })
            .await;
            // Rule 3 of expectations: creations that failed or were skipped never show up.
            for _ in ok..n {
                ctx.expectations.creation_observed(key);
            }
            if let Some(e) = err {
                warn!("{} {key}: {failed} pod creation(s) failed, {} skipped: {e}", R::KIND, n - ok - failed);
                return Err(e);
            }
            Ok(())
        }
        Diff::Delete(victims) => {
            info!("Too many replicas for {} {key}, need {}, deleting {}", R::KIND, owner.replicas(), victims.len());
            ctx.expectations.expect_deletions(key, victims.len());
            let results = futures::future::join_all(victims.iter().map(|p| async move {
                let name = &p.metadata.name;
                match pod_api.delete(name, &DeleteParams::default()).await {
                    Ok(_) => {
                        ctx.recorder.record(owner.as_ref(), EventType::Normal, "SuccessfulDelete", &format!("Deleted pod: {name}"));
                        Ok(())
                    }
                    Err(e) => {
                        ctx.expectations.deletion_observed(key);
                        if e.is_not_found() {
                            return Ok(());
                        }
                        ctx.recorder.record(owner.as_ref(), EventType::Warning, "FailedDelete", &format!("Error deleting: {e}"));
                        Err(e)
                    }
                }
            }))
            .await;
            results.into_iter().collect::<Result<Vec<()>, _>>().map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pod_control::tests::{pod, running};
    use kube_api::core::LabelSelector;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.namespace = "default".into();
        rs.metadata.name = "web".into();
        rs.metadata.generation = Some(3);
        rs.spec.replicas = Some(replicas);
        rs.spec.min_ready_seconds = Some(min_ready);
        rs.spec.selector = Some(LabelSelector {
            match_labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        });
        rs.spec.template.metadata.labels = [("app".to_string(), "web".to_string()), ("tier".to_string(), "front".to_string())].into();
        rs
    }

    #[test]
    fn too_few_pods_means_create_the_difference_capped_at_the_burst() {
        assert_eq!(replica_diff(&[Arc::new(pod("a"))], 3), Diff::Create(2));
        assert_eq!(replica_diff(&[], 10_000), Diff::Create(500));
        assert_eq!(replica_diff(&[Arc::new(pod("a"))], 1), Diff::Nothing);
    }

    #[test]
    fn too_many_pods_means_delete_the_worst_ones() {
        let pods: Vec<Arc<Pod>> = vec![
            Arc::new(running(pod("ready"), "n1", Some(100))),
            Arc::new(pod("pending")),
            Arc::new(running(pod("not-ready"), "n2", None)),
        ];
        let Diff::Delete(victims) = replica_diff(&pods, 1) else { panic!("expected deletions") };
        let names: Vec<_> = victims.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(names, ["pending", "not-ready"]);
    }

    #[test]
    fn status_counts_fully_labeled_ready_and_available_pods() {
        let now = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        let mut labeled = running(pod("labeled"), "n1", Some(100));
        labeled.metadata.labels.insert("tier".into(), "front".into());
        let young = running(pod("young"), "n1", Some(995));
        let pods = vec![Arc::new(labeled), Arc::new(young), Arc::new(pod("pending"))];
        let (s, next) = calculate_status(&rs(3, 10), &pods, now);
        assert_eq!(
            s,
            ReplicaStatus {
                replicas: 3,
                fully_labeled_replicas: 1,
                ready_replicas: 2,
                available_replicas: 1,
                observed_generation: 3
            }
        );
        assert_eq!(next, Some(std::time::Duration::from_secs(5)), "look again when `young` becomes available");
    }

    #[test]
    fn a_replication_controller_selects_by_its_label_map() {
        let mut rc = ReplicationController::default();
        rc.spec.selector = [("game".to_string(), "starwars".to_string())].into();
        assert!(rc.selects(&[("game".to_string(), "starwars".to_string()), ("x".to_string(), "y".to_string())].into()));
        assert!(!rc.selects(&BTreeMap::new()));
        assert!(!ReplicationController::default().selects(&BTreeMap::new()), "an empty selector selects nothing");
    }
}
