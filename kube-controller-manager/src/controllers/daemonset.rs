//! The DaemonSet controller: one pod on every eligible node — upstream's
//! `pkg/controller/daemon`.
//!
//! - **Observes**: DaemonSets; Nodes (a node joining, leaving or changing labels or taints
//!   wakes every DaemonSet); Pods (a change wakes its controlling DaemonSet).
//! - **Key**: `namespace/name` of the DaemonSet.
//! - **Desired**: on each node whose labels match the template's `nodeSelector` and whose
//!   NoSchedule/NoExecute taints the pod tolerates (with the tolerations every daemon pod
//!   gets: not-ready, unreachable, disk/memory/pid-pressure, unschedulable), exactly one
//!   active pod; on other nodes, none.
//! - **Actual**: its pods, by node (`spec.nodeName`, or the node its affinity names
//!   while unbound).
//! - **Does**: creates the missing pods with a required node affinity on
//!   `metadata.name` so that the scheduler binds each to its node; deletes pods on nodes
//!   that are gone or no longer eligible, and duplicates. Expectations as the ReplicaSet
//!   controller. Events: `SuccessfulCreate`, `SuccessfulDelete`.
//! - **Status**: `desiredNumberScheduled`, `currentNumberScheduled`, `numberMisscheduled`,
//!   `numberReady`, `numberAvailable`, `updatedNumberScheduled`, `observedGeneration`.
//! - **Requeues**: on errors; otherwise on the next change. (Template updates apply to
//!   new pods only — `OnDelete` behaviour; RollingUpdate is not implemented yet.)

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use kube_api::apps::DaemonSet;
use kube_api::core::{Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Toleration};
use kube_client::handlers::owner_keys;
use kube_client::store::key_of;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, EventType, Expectations, PatchType, Recorder, Store, WorkQueue};
use serde_json::json;
use tracing::info;

use super::pod_control::{self, is_pod_available, is_pod_ready};
use crate::ControllerContext;

struct Ctx {
    daemon_sets: Store<DaemonSet>,
    nodes: Store<Node>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
    expectations: Arc<Expectations>,
}

/// The `daemonset` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let daemon_sets = cc.informer::<DaemonSet>();
    let nodes = cc.informer::<Node>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    let expectations = Arc::new(Expectations::new());
    daemon_sets.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    nodes.add_handler({
        let (queue, ds) = (queue.clone(), daemon_sets.store());
        move |_: &Change<Node>| {
            for d in ds.list() {
                queue.add(key_of(d.as_ref()));
            }
        }
    });
    pods.add_handler({
        let (queue, expectations) = (queue.clone(), expectations.clone());
        move |change: &Change<Pod>| {
            for key in owner_keys(change.object().as_ref(), "DaemonSet") {
                match change {
                    Change::Added(_) => expectations.creation_observed(&key),
                    Change::Updated { old, new } if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() => expectations.deletion_observed(&key),
                    Change::Deleted(p) if p.metadata.deletion_timestamp.is_none() => expectations.deletion_observed(&key),
                    _ => {}
                }
                queue.add(key);
            }
        }
    });
    let ctx = Arc::new(Ctx { daemon_sets: daemon_sets.store(), nodes: nodes.store(), pods: pods.store(), client: cc.client.clone(), recorder: cc.recorder("daemonset-controller"), expectations });
    let controller = Controller::new("daemonset", queue).workers(2).wait_for(daemon_sets.synced()).wait_for(nodes.synced()).wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// The tolerations upstream adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`).
pub fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration { key: key.into(), operator: "Exists".into(), effect: effect.into(), ..Default::default() };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// Should a pod of `ds` run on `node` (upstream's `NodeShouldRunDaemonPod`, simplified to
/// the node selector and taints)?
pub fn should_run(ds: &DaemonSet, node: &Node) -> bool {
    let spec = &ds.spec.template.spec;
    if !spec.node_selector.iter().all(|(k, v)| node.metadata.labels.get(k) == Some(v)) {
        return false;
    }
    let tolerations: Vec<Toleration> = spec.tolerations.iter().cloned().chain(daemon_tolerations()).collect();
    node.spec.taints.iter().filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute").all(|taint| {
        tolerations.iter().any(|t| {
            (t.effect.is_empty() || t.effect == taint.effect)
                && (t.key == taint.key || t.key.is_empty() && t.operator == "Exists")
                && (t.operator == "Exists" || t.value == taint.value)
        })
    })
}

/// The node a daemon pod is for: where it is bound, or the node its affinity names.
pub fn pod_node(pod: &Pod) -> Option<String> {
    if !pod.spec.node_name.is_empty() {
        return Some(pod.spec.node_name.clone());
    }
    let terms = &pod.spec.affinity.as_ref()?.node_affinity.as_ref()?.required.as_ref()?.node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter()).find(|r| r.key == "metadata.name" && r.operator == "In").and_then(|r| r.values.first().cloned())
}

/// The daemon pod for `node`: the template, the daemon tolerations, and a required node
/// affinity on the node's name (the scheduler binds it there).
pub fn pod_for_node(ds: &DaemonSet, node: &str) -> Pod {
    let mut pod = pod_control::pod_from_template(ds, &ds.spec.template);
    for t in daemon_tolerations() {
        if !pod.spec.tolerations.iter().any(|x| x.key == t.key && x.effect == t.effect) {
            pod.spec.tolerations.push(t);
        }
    }
    let term = NodeSelectorTerm {
        match_fields: vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: vec![node.into()] }],
        ..Default::default()
    };
    let affinity = pod.spec.affinity.get_or_insert_with(Affinity::default);
    affinity.node_affinity = Some(NodeAffinity { required: Some(NodeSelector { node_selector_terms: vec![term] }), preferred: Vec::new() });
    pod
}

/// Nodes that need a pod, and pods to delete (upstream's `podsShouldBeOnNode` over all
/// nodes).
pub fn plan(ds: &DaemonSet, nodes: &[Arc<Node>], pods: &[Arc<Pod>]) -> (Vec<String>, Vec<Arc<Pod>>) {
    let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for p in pods.iter().filter(|p| pod_control::is_pod_active(p)) {
        by_node.entry(pod_node(p).unwrap_or_default()).or_default().push(p.clone());
    }
    let (mut create, mut delete) = (Vec::new(), Vec::new());
    for node in nodes {
        let name = &node.metadata.name;
        let mut on_node = by_node.remove(name).unwrap_or_default();
        if should_run(ds, node) {
            if on_node.is_empty() {
                create.push(name.clone());
            } else if on_node.len() > 1 {
                // Keep the oldest.
                on_node.sort_by_key(|p| p.metadata.creation_timestamp.map(|t| t.0));
                delete.extend(on_node.into_iter().skip(1));
            }
        } else {
            delete.extend(on_node);
        }
    }
    // Pods of nodes that no longer exist.
    delete.extend(by_node.into_values().flatten());
    (create, delete)
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let Some(ds) = ctx.daemon_sets.get(&key) else {
        ctx.expectations.delete(&key);
        return Ok(Action::Done);
    };
    let ns = ds.metadata.namespace.clone();
    let nodes = ctx.nodes.list();
    let pods: Vec<Arc<Pod>> = ctx.pods.by_index("ownerUID", &ds.metadata.uid).into_iter().filter(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == ds.metadata.uid)).collect();
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if ctx.expectations.satisfied(&key) && ds.metadata.deletion_timestamp.is_none() {
        let (create, delete) = plan(&ds, &nodes, &pods);
        if !create.is_empty() {
            info!("DaemonSet {key}: creating pods for nodes {create:?}");
            ctx.expectations.expect_creations(&key, create.len());
            let mut first_err = None;
            for node in &create {
                match pod_api.create(&pod_for_node(&ds, node)).await {
                    Ok(p) => ctx.recorder.record(ds.as_ref(), EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", p.metadata.name)),
                    Err(e) => {
                        ctx.expectations.creation_observed(&key);
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        } else if !delete.is_empty() {
            ctx.expectations.expect_deletions(&key, delete.len());
            for p in &delete {
                info!("DaemonSet {key}: deleting pod {} (node gone, ineligible or duplicate)", p.metadata.name);
                match pod_api.delete(&p.metadata.name, &DeleteParams::default()).await {
                    Ok(_) => ctx.recorder.record(ds.as_ref(), EventType::Normal, "SuccessfulDelete", &format!("Deleted pod: {}", p.metadata.name)),
                    Err(_) => ctx.expectations.deletion_observed(&key),
                }
            }
        }
    }
    // Status.
    let now = Utc::now();
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let active: Vec<_> = pods.iter().filter(|p| pod_control::is_pod_active(p)).collect();
    let (mut desired, mut current, mut misscheduled, mut ready, mut available) = (0, 0, 0, 0, 0);
    for node in &nodes {
        let here: Vec<_> = active.iter().filter(|p| pod_node(p).as_deref() == Some(node.metadata.name.as_str())).collect();
        if should_run(&ds, node) {
            desired += 1;
            if !here.is_empty() {
                current += 1;
                ready += i32::from(here.iter().any(|p| is_pod_ready(p)));
                available += i32::from(here.iter().any(|p| is_pod_available(p, min_ready, now)));
            }
        } else if !here.is_empty() {
            misscheduled += 1;
        }
    }
    let s = &ds.status;
    let generation = ds.metadata.generation.unwrap_or(0);
    let changed = (s.desired_number_scheduled, s.current_number_scheduled, s.number_misscheduled, s.number_ready) != (desired, current, misscheduled, ready)
        || s.number_available != Some(available)
        || s.observed_generation != Some(generation);
    if changed {
        let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"status": {
            "desiredNumberScheduled": desired, "currentNumberScheduled": current, "numberMisscheduled": misscheduled,
            "numberReady": ready, "numberAvailable": available, "numberUnavailable": desired - available,
            "updatedNumberScheduled": current, "observedGeneration": generation,
        }});
        match api.patch_status(&ds.metadata.name, &PatchType::Merge, &patch).await {
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
    use kube_api::core::Taint;

    fn node(name: &str, labels: &[(&str, &str)], taint: Option<&str>) -> Arc<Node> {
        let mut n = Node::default();
        n.metadata.name = name.into();
        n.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(t) = taint {
            n.spec.taints.push(Taint { key: t.into(), effect: "NoSchedule".into(), ..Default::default() });
        }
        Arc::new(n)
    }

    #[test]
    fn one_pod_per_eligible_node_by_selector_and_taints() {
        let mut ds = DaemonSet::default();
        ds.metadata.name = "agent".into();
        ds.spec.template.spec.node_selector.insert("disk".into(), "ssd".into());
        let nodes = vec![
            node("a", &[("disk", "ssd")], None),
            node("b", &[("disk", "hdd")], None),
            node("c", &[("disk", "ssd")], Some("dedicated")),
            node("d", &[("disk", "ssd")], Some("node.kubernetes.io/unschedulable")),
        ];
        let (create, delete) = plan(&ds, &nodes, &[]);
        assert_eq!(create, ["a", "d"], "not b (selector), not c (taint); d's taint is tolerated by every daemon pod");
        assert!(delete.is_empty());
    }

    #[test]
    fn pods_on_gone_or_ineligible_nodes_and_duplicates_are_deleted() {
        let ds = DaemonSet::default();
        let on = |name: &str, node: &str, created: i64| {
            let mut p = pod_for_node(&ds, node);
            p.metadata.name = name.into();
            p.metadata.creation_timestamp = Some(kube_api::meta::Time(chrono::DateTime::from_timestamp(created, 0).unwrap()));
            Arc::new(p)
        };
        let pods = vec![on("a1", "a", 1), on("a2", "a", 2), on("gone", "zzz", 1)];
        assert_eq!(pod_node(&pods[0]).as_deref(), Some("a"), "the node an unbound pod is for comes from its affinity");
        let (create, delete) = plan(&ds, &[node("a", &[], None)], &pods);
        assert!(create.is_empty());
        let mut names: Vec<_> = delete.iter().map(|p| p.metadata.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["a2", "gone"]);
    }
}
