//! The StatefulSet controller: pods with stable names, started in order — upstream's
//! `pkg/controller/statefulset`. Seed 004: "in a StatefulSet, domain names are kept, and
//! instances are always started one after the other, in the same order".
//!
//! - **Observes**: StatefulSets; Pods (a change wakes its controlling StatefulSet).
//! - **Key**: `namespace/name` of the StatefulSet.
//! - **Desired**: pods `<name>-0` … `<name>-(replicas-1)` (from `spec.ordinals.start`),
//!   each with `hostname: <pod name>` and `subdomain: <serviceName>` (its DNS name under
//!   the headless service), none beyond; every pod of the current template revision.
//! - **Actual**: its pods, by ordinal.
//! - **Does**: with `podManagementPolicy: OrderedReady` (the default), **one step at a
//!   time**: replace a Failed pod; else create the lowest missing ordinal, but only once
//!   every lower one is Running and Ready; else delete the highest surplus ordinal; else,
//!   for `updateStrategy: RollingUpdate`, delete the highest pod of an old revision (at or
//!   above `partition`) so that it comes back with the new template. With `Parallel`,
//!   every creation and scale-down deletion at once. Stable names make a duplicate
//!   creation fail with AlreadyExists, so no expectations are needed. Events:
//!   `SuccessfulCreate`, `SuccessfulDelete` (upstream's words: "create Pod web-0 in
//!   StatefulSet web successful").
//! - **Status**: `replicas`, `readyReplicas`, `availableReplicas`, `currentReplicas`,
//!   `updatedReplicas`, `currentRevision`, `updateRevision`, `observedGeneration`.
//!   Revisions are `<name>-<template hash>` (upstream stores ControllerRevision objects,
//!   a kind we do not serve yet); pods carry it as `controller-revision-hash`.
//! - **Requeues**: on errors; otherwise when a pod changes (which is what paces the order).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::apps::StatefulSet;
use kube_api::core::Pod;
use kube_client::{Action, Api, Client, Controller, DeleteParams, EventType, PatchType, Recorder, Store, WorkQueue};
use serde_json::json;
use tracing::info;

use super::deployment::util::compute_hash;
use super::pod_control::{self, is_pod_ready};
use crate::ControllerContext;

pub const REVISION_LABEL: &str = "controller-revision-hash";
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

struct Ctx {
    sets: Store<StatefulSet>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
}

/// The `statefulset` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let sets = cc.informer::<StatefulSet>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    sets.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    pods.add_handler(kube_client::handlers::enqueue_owner::<Pod>(queue.clone(), "StatefulSet"));
    let ctx = Arc::new(Ctx { sets: sets.store(), pods: pods.store(), client: cc.client.clone(), recorder: cc.recorder("statefulset-controller") });
    let controller = Controller::new("statefulset", queue).workers(5).wait_for(sets.synced()).wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// The revision of the current template: `<name>-<hash>`.
pub fn update_revision(sts: &StatefulSet) -> String {
    format!("{}-{}", sts.metadata.name, compute_hash(&sts.spec.template, sts.status.collision_count))
}

/// The ordinal in a pod's name `<set>-<ordinal>`.
pub fn ordinal(sts: &StatefulSet, pod: &Pod) -> Option<i32> {
    pod.metadata.name.strip_prefix(&format!("{}-", sts.metadata.name))?.parse().ok()
}

fn running_and_ready(p: &Pod) -> bool {
    p.status.phase == "Running" && is_pod_ready(p) && p.metadata.deletion_timestamp.is_none()
}

/// One thing to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Create(i32),
    Delete(String),
}

/// Upstream's `updateStatefulSet` decision: the steps to take now (at most one unless
/// the policy is Parallel).
pub fn plan(sts: &StatefulSet, pods: &BTreeMap<i32, Arc<Pod>>, revision: &str) -> Vec<Step> {
    let start = sts.spec.ordinals.as_ref().map_or(0, |o| o.start);
    let end = start + sts.spec.replicas.unwrap_or(1).max(0);
    let ordered = sts.spec.pod_management_policy != "Parallel";
    let mut steps = Vec::new();
    // 1. Failed pods are replaced (deleted now, created again below on a later sync).
    for (_, p) in pods.range(start..end) {
        if p.status.phase == "Failed" && p.metadata.deletion_timestamp.is_none() {
            steps.push(Step::Delete(p.metadata.name.clone()));
            if ordered {
                return steps;
            }
        }
    }
    // 2. Missing ordinals, lowest first; in order, each waits for its predecessors.
    for ord in start..end {
        match pods.get(&ord) {
            None => {
                steps.push(Step::Create(ord));
                if ordered {
                    return steps;
                }
            }
            Some(p) if ordered && !running_and_ready(p) => return steps,
            Some(_) => {}
        }
    }
    // 3. Surplus ordinals, highest first.
    for (_, p) in pods.iter().rev().filter(|(o, _)| **o < start || **o >= end) {
        if p.metadata.deletion_timestamp.is_some() {
            if ordered {
                return steps;
            }
            continue;
        }
        steps.push(Step::Delete(p.metadata.name.clone()));
        if ordered {
            return steps;
        }
    }
    if !steps.is_empty() {
        return steps;
    }
    // 4. Rolling update, highest ordinal first, one pod at a time.
    if sts.spec.update_strategy.type_ == "OnDelete" {
        return steps;
    }
    let partition = sts.spec.update_strategy.rolling_update.as_ref().and_then(|r| r.partition).unwrap_or(0);
    if pods.range(start..end).any(|(_, p)| !running_and_ready(p)) {
        return steps; // wait for the last updated pod to be back
    }
    for (ord, p) in pods.range(start..end).rev() {
        if *ord < partition {
            break;
        }
        if p.metadata.labels.get(REVISION_LABEL).map(String::as_str) != Some(revision) {
            steps.push(Step::Delete(p.metadata.name.clone()));
            break;
        }
    }
    steps
}

/// Pod `<set>-<ordinal>` of the current template.
pub fn new_pod(sts: &StatefulSet, ord: i32, revision: &str) -> Pod {
    let mut pod = pod_control::pod_from_template(sts, &sts.spec.template);
    let name = format!("{}-{ord}", sts.metadata.name);
    pod.metadata.generate_name.clear();
    pod.metadata.name = name.clone();
    pod.metadata.labels.insert(POD_NAME_LABEL.into(), name.clone());
    pod.metadata.labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
    pod.metadata.labels.insert(REVISION_LABEL.into(), revision.into());
    pod.spec.hostname = name;
    pod.spec.subdomain = sts.spec.service_name.clone();
    pod
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let Some(sts) = ctx.sets.get(&key) else { return Ok(Action::Done) };
    let ns = sts.metadata.namespace.clone();
    let pods: BTreeMap<i32, Arc<Pod>> = ctx
        .pods
        .by_index("ownerUID", &sts.metadata.uid)
        .into_iter()
        .filter(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == sts.metadata.uid))
        .filter_map(|p| Some((ordinal(&sts, &p)?, p)))
        .collect();
    let revision = update_revision(&sts);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if sts.metadata.deletion_timestamp.is_none() {
        for step in plan(&sts, &pods, &revision) {
            match step {
                Step::Create(ord) => {
                    let pod = new_pod(&sts, ord, &revision);
                    match pod_api.create(&pod).await {
                        Ok(_) => {
                            info!("StatefulSet {key}: created pod {}", pod.metadata.name);
                            let msg = format!("create Pod {} in StatefulSet {} successful", pod.metadata.name, sts.metadata.name);
                            ctx.recorder.record(sts.as_ref(), EventType::Normal, "SuccessfulCreate", &msg);
                        }
                        Err(e) if e.is_already_exists() => {} // our cache is behind
                        Err(e) => return Err(e),
                    }
                }
                Step::Delete(name) => {
                    info!("StatefulSet {key}: deleting pod {name}");
                    match pod_api.delete(&name, &DeleteParams::default()).await {
                        Ok(_) => {
                            let msg = format!("delete Pod {name} in StatefulSet {} successful", sts.metadata.name);
                            ctx.recorder.record(sts.as_ref(), EventType::Normal, "SuccessfulDelete", &msg);
                        }
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    // Status.
    let live: Vec<_> = pods.values().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let ready = live.iter().filter(|p| is_pod_ready(p)).count() as i32;
    let updated = live.iter().filter(|p| p.metadata.labels.get(REVISION_LABEL) == Some(&revision)).count() as i32;
    let current_revision = if updated == live.len() as i32 { revision.clone() } else { sts.status.current_revision.clone() };
    let current_revision = if current_revision.is_empty() { revision.clone() } else { current_revision };
    let current = live.iter().filter(|p| p.metadata.labels.get(REVISION_LABEL) == Some(&current_revision)).count() as i32;
    let s = &sts.status;
    let generation = sts.metadata.generation;
    let status = json!({"status": {
        "replicas": live.len(), "readyReplicas": ready, "availableReplicas": ready,
        "currentReplicas": current, "updatedReplicas": updated,
        "currentRevision": current_revision, "updateRevision": revision,
        "observedGeneration": generation,
    }});
    let unchanged = s.replicas == live.len() as i32
        && s.ready_replicas.unwrap_or(0) == ready
        && s.updated_replicas.unwrap_or(0) == updated
        && s.current_replicas.unwrap_or(0) == current
        && s.update_revision == revision
        && s.current_revision == current_revision
        && s.observed_generation == generation;
    if !unchanged {
        let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
        match api.patch_status(&sts.metadata.name, &PatchType::Merge, &status).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pod_control::tests::{pod, running};

    fn sts(replicas: i32, policy: &str) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.name = "web".into();
        s.spec.replicas = Some(replicas);
        s.spec.service_name = "nginx".into();
        s.spec.pod_management_policy = policy.into();
        s
    }

    fn pods(list: &[(i32, bool, &str)]) -> BTreeMap<i32, Arc<Pod>> {
        list.iter()
            .map(|(o, ready, rev)| {
                let mut p = if *ready { running(pod(&format!("web-{o}")), "n", Some(1)) } else { pod(&format!("web-{o}")) };
                p.metadata.labels.insert(REVISION_LABEL.into(), rev.to_string());
                (*o, Arc::new(p))
            })
            .collect()
    }

    #[test]
    fn ordered_ready_creates_one_pod_at_a_time_after_its_predecessors_are_ready() {
        let s = sts(3, "");
        assert_eq!(plan(&s, &pods(&[]), "r"), [Step::Create(0)]);
        assert!(plan(&s, &pods(&[(0, false, "r")]), "r").is_empty(), "web-0 not ready: wait");
        assert_eq!(plan(&s, &pods(&[(0, true, "r")]), "r"), [Step::Create(1)]);
        let p = new_pod(&s, 1, "r");
        assert_eq!((p.metadata.name.as_str(), p.spec.hostname.as_str(), p.spec.subdomain.as_str()), ("web-1", "web-1", "nginx"));
    }

    #[test]
    fn parallel_creates_and_deletes_all_at_once_and_scale_down_goes_highest_first() {
        assert_eq!(plan(&sts(3, "Parallel"), &pods(&[]), "r"), [Step::Create(0), Step::Create(1), Step::Create(2)]);
        let all = pods(&[(0, true, "r"), (1, true, "r"), (2, true, "r")]);
        assert_eq!(plan(&sts(1, ""), &all, "r"), [Step::Delete("web-2".into())]);
        assert_eq!(plan(&sts(1, "Parallel"), &all, "r"), [Step::Delete("web-2".into()), Step::Delete("web-1".into())]);
    }

    #[test]
    fn a_rolling_update_replaces_the_highest_old_pod_first_and_respects_the_partition() {
        let s = sts(3, "");
        let old = pods(&[(0, true, "old"), (1, true, "old"), (2, true, "old")]);
        assert_eq!(plan(&s, &old, "new"), [Step::Delete("web-2".into())]);
        let mid = pods(&[(0, true, "old"), (1, true, "old"), (2, true, "new")]);
        assert_eq!(plan(&s, &mid, "new"), [Step::Delete("web-1".into())]);
        let mut partitioned = sts(3, "");
        partitioned.spec.update_strategy.rolling_update = Some(kube_api::apps::RollingUpdateStatefulSetStrategy { partition: Some(2), max_unavailable: None });
        assert!(plan(&partitioned, &mid, "new").is_empty(), "ordinals below the partition keep the old revision");
    }
}
