//! The node lifecycle controller: a node that stops reporting is marked, tainted, and its
//! pods are evicted so that their controllers recreate them elsewhere — upstream's
//! `pkg/controller/nodelifecycle` with its NoExecute taint manager. Seed 000: "if a node
//! fails, its pods are redistributed to the other nodes".
//!
//! - **Observes**: Nodes; their Leases in `kube-node-lease` (the kubelet's cheap
//!   heartbeat); Pods, by node. Every `--node-monitor-period` (5 s) every node is
//!   looked at again, because *silence* is what this loop detects and silence makes no
//!   watch event.
//! - **Key**: the node's name.
//! - **Desired**: a node heard from within `--node-monitor-grace-period` (40 s) keeps the
//!   conditions its kubelet writes; one not heard from has `Ready=Unknown` (and its other
//!   conditions Unknown), reason `NodeStatusUnknown`. A node whose Ready condition is
//!   Unknown carries the `node.kubernetes.io/unreachable:NoExecute` taint, one whose
//!   Ready is False `node.kubernetes.io/not-ready:NoExecute`, a Ready one neither. No pod
//!   stays on a node with a NoExecute taint it does not tolerate, nor beyond its
//!   `tolerationSeconds` (the apiserver gives every pod 300 s for these two taints).
//! - **Actual**: when the heartbeat (the Ready condition's `lastHeartbeatTime`, the
//!   Lease's `renewTime`) last *changed*, measured on our own clock — no clock skew
//!   between machines matters; the node's conditions and taints; its pods.
//! - **Does**: writes the Unknown conditions (`nodes/{name}/status`), adds or removes the
//!   taints, marks the pods of an unreachable node not ready, deletes (evicts) pods whose
//!   toleration expired. Event: `TaintManagerEviction` on the pod.
//! - **Status**: the node's conditions (as above).
//! - **Requeues**: every `--node-monitor-period`, and at the next eviction deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kube_api::coordination::Lease;
use kube_api::core::{Node, NodeCondition, Pod, Taint, Toleration};
use kube_api::meta::Time;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, EventType, PatchType, Recorder, Store, WorkQueue};
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::ControllerContext;

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
const LEASE_NAMESPACE: &str = "kube-node-lease";

struct Ctx {
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
    grace: Duration,
    /// Node → (the heartbeat we last saw, when we saw it change).
    heard: Mutex<HashMap<String, (String, Instant)>>,
}

/// The `nodelifecycle` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let nodes = cc.informer::<Node>();
    let leases = cc.informer::<Lease>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    nodes.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    leases.add_handler({
        let queue = queue.clone();
        move |change: &Change<Lease>| {
            if change.object().metadata.namespace == LEASE_NAMESPACE {
                queue.add(change.object().metadata.name.clone());
            }
        }
    });
    pods.add_handler({
        let queue = queue.clone();
        move |change: &Change<Pod>| {
            let node = &change.object().spec.node_name;
            if !node.is_empty() && !matches!(change, Change::Deleted(_)) {
                queue.add(node.clone());
            }
        }
    });
    // Silence makes no event: look at every node each monitor period.
    let period = cc.options.node_monitor_period;
    tokio::spawn({
        let (queue, store, cancel) = (queue.clone(), nodes.store(), cc.cancel.clone());
        async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = cancel.cancelled() => return,
                }
                for key in store.keys() {
                    queue.add(key);
                }
            }
        }
    });
    let ctx = Arc::new(Ctx {
        nodes: nodes.store(),
        leases: leases.store(),
        pods: pods.store(),
        client: cc.client.clone(),
        recorder: cc.recorder("node-controller"),
        grace: cc.options.node_monitor_grace_period,
        heard: Mutex::default(),
    });
    let controller = Controller::new("nodelifecycle", queue)
        .workers(2)
        .wait_for(nodes.synced())
        .wait_for(leases.synced())
        .wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.conditions.iter().find(|c| c.type_ == "Ready")
}

/// The NoExecute taint a node's Ready condition calls for.
pub fn wanted_taint(node: &Node) -> Option<&'static str> {
    match ready_condition(node).map(|c| c.status.as_str()) {
        Some("Unknown") => Some(UNREACHABLE),
        Some("False") => Some(NOT_READY),
        _ => None,
    }
}

/// The node's taints with the lifecycle taints set as `wanted` (others untouched).
pub fn taints_with(node: &Node, wanted: Option<&str>, now: DateTime<Utc>) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| !(t.effect == "NoExecute" && (t.key == UNREACHABLE || t.key == NOT_READY) && Some(t.key.as_str()) != wanted))
        .cloned()
        .collect();
    if let Some(key) = wanted {
        if !taints.iter().any(|t| t.key == key && t.effect == "NoExecute") {
            taints.push(Taint { key: key.into(), value: String::new(), effect: "NoExecute".into(), time_added: Some(Time(now)) });
        }
    }
    taints
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t.effect.is_empty() || t.effect == taint.effect;
    let key_ok = t.key.is_empty() && t.operator == "Exists" || t.key == taint.key;
    let value_ok = t.operator == "Exists" || t.value == taint.value;
    effect_ok && key_ok && value_ok
}

/// When `pod` must leave a node with these taints: `None` = never, `Some(t)` = at `t`
/// (now or in the past = evict now). Upstream's `getMinTolerationTime`.
pub fn eviction_time(pod: &Pod, taints: &[Taint], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut at: Option<DateTime<Utc>> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<_> = pod.spec.tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now); // not tolerated at all
        }
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue; // tolerated for ever
        }
        let secs = matching.iter().filter_map(|t| t.toleration_seconds).min().unwrap_or(0).max(0);
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let deadline = added + chrono::Duration::seconds(secs);
        at = Some(at.map_or(deadline, |a| a.min(deadline)));
    }
    at
}

/// The conditions of a node not heard from: every condition Unknown (upstream's
/// `tryUpdateNodeHealth`), Ready added if the kubelet never wrote it.
pub fn unknown_conditions(node: &Node, now: DateTime<Utc>) -> Vec<NodeCondition> {
    let mut conds = node.status.conditions.clone();
    if !conds.iter().any(|c| c.type_ == "Ready") {
        conds.push(NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: "NodeStatusNeverUpdated".into(),
            message: "Kubelet never posted node status.".into(),
            last_transition_time: Some(Time(now)),
            last_heartbeat_time: node.metadata.creation_timestamp,
        });
    }
    for c in conds.iter_mut().filter(|c| c.status != "Unknown") {
        c.status = "Unknown".into();
        c.reason = "NodeStatusUnknown".into();
        c.message = "Kubelet stopped posting node status.".into();
        c.last_transition_time = Some(Time(now));
    }
    conds
}

async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Action, kube_client::Error> {
    let Some(node) = ctx.nodes.get(&name) else {
        ctx.heard.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        return Ok(Action::Done);
    };
    let now = Utc::now();
    let api: Api<Node> = Api::all(ctx.client.clone());

    // 1. Health: when did the heartbeat last change, on our clock?
    let heartbeat = format!(
        "{:?}|{:?}",
        ready_condition(&node).and_then(|c| c.last_heartbeat_time.map(|t| t.0)),
        ctx.leases.get(&format!("{LEASE_NAMESPACE}/{name}")).and_then(|l| l.spec.renew_time.map(|t| t.0))
    );
    let silent_for = {
        let mut heard = ctx.heard.lock().unwrap_or_else(|e| e.into_inner());
        let entry = heard.entry(name.clone()).or_insert_with(|| (heartbeat.clone(), Instant::now()));
        if entry.0 != heartbeat {
            *entry = (heartbeat, Instant::now());
        }
        entry.1.elapsed()
    };
    let mut node = node;
    if silent_for > ctx.grace && ready_condition(&node).is_none_or(|c| c.status != "Unknown") {
        warn!("node {name} hasn't been updated for {silent_for:?}: marking its conditions Unknown");
        let patch = json!({"status": {"conditions": unknown_conditions(&node, now)}});
        node = Arc::new(api.patch_status(&name, &PatchType::Merge, &patch).await?);
        ctx.recorder.record(node.as_ref(), EventType::Normal, "NodeNotReady", &format!("Node {name} status is now: NodeNotReady"));
    }

    // 2. Taints follow the Ready condition.
    let taints = taints_with(&node, wanted_taint(&node), now);
    if taints != node.spec.taints {
        let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": taints}});
        node = Arc::new(api.patch(&name, &PatchType::Merge, &patch).await?);
        match wanted_taint(&node) {
            Some(t) => info!("node {name}: added taint {t}:NoExecute"),
            None => info!("node {name} is ready again: removed the NoExecute taints"),
        }
    }

    // 3. Pods: not ready on an unreachable node; evicted when their toleration expires.
    let unreachable = wanted_taint(&node) == Some(UNREACHABLE);
    let mut next: Option<DateTime<Utc>> = None;
    for pod in ctx.pods.by_index("nodeName", &name) {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.metadata.namespace);
        match eviction_time(&pod, &node.spec.taints, now) {
            Some(at) if at <= now => {
                info!("evicting pod {}/{} from node {name}: its toleration of the NoExecute taint expired", pod.metadata.namespace, pod.metadata.name);
                ctx.recorder.record(pod.as_ref(), EventType::Normal, "TaintManagerEviction", &format!("Marking for deletion Pod {}/{}", pod.metadata.namespace, pod.metadata.name));
                match pods.delete(&pod.metadata.name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
            None => {}
        }
        let ready = pod.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        if unreachable && ready {
            let mut conds = pod.status.conditions.clone();
            for c in conds.iter_mut().filter(|c| c.type_ == "Ready") {
                c.status = "False".into();
                c.reason = "NodeNotReady".into();
                c.last_transition_time = Some(Time(now));
            }
            match pods.patch_status(&pod.metadata.name, &PatchType::Merge, &json!({"status": {"conditions": conds}})).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(match next {
        Some(at) => Action::RequeueAfter((at - now).to_std().unwrap_or_default() + Duration::from_millis(50)),
        None => Action::Done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = "node-1".into();
        n.status.conditions.push(NodeCondition { type_: "Ready".into(), status: ready.into(), ..Default::default() });
        n
    }

    fn toleration(key: &str, secs: Option<i64>) -> Toleration {
        Toleration { key: key.into(), operator: "Exists".into(), effect: "NoExecute".into(), toleration_seconds: secs, ..Default::default() }
    }

    #[test]
    fn the_taint_follows_the_ready_condition_and_other_taints_are_kept() {
        let now = Utc::now();
        let mut n = node("Unknown");
        n.spec.taints.push(Taint { key: "dedicated".into(), effect: "NoSchedule".into(), ..Default::default() });
        let t = taints_with(&n, wanted_taint(&n), now);
        assert_eq!(t.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["dedicated", UNREACHABLE]);
        n.spec.taints = t;
        n.status.conditions[0].status = "True".into();
        let t = taints_with(&n, wanted_taint(&n), now);
        assert_eq!(t.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["dedicated"], "back: taint removed");
        assert_eq!(wanted_taint(&node("False")), Some(NOT_READY));
    }

    #[test]
    fn a_pod_leaves_when_its_toleration_expires_or_at_once_if_it_has_none() {
        let t0 = Utc::now();
        let taints = vec![Taint { key: UNREACHABLE.into(), effect: "NoExecute".into(), time_added: Some(Time(t0)), ..Default::default() }];
        let mut pod = Pod::default();
        assert_eq!(eviction_time(&pod, &taints, t0), Some(t0), "no toleration: now");
        pod.spec.tolerations.push(toleration(UNREACHABLE, Some(300)));
        assert_eq!(eviction_time(&pod, &taints, t0), Some(t0 + chrono::Duration::seconds(300)));
        pod.spec.tolerations.push(toleration(UNREACHABLE, None));
        assert_eq!(eviction_time(&pod, &taints, t0), None, "tolerated for ever");
        assert_eq!(eviction_time(&Pod::default(), &[], t0), None, "no taint, no eviction");
    }

    #[test]
    fn a_silent_node_gets_every_condition_unknown() {
        let mut n = node("True");
        n.status.conditions.push(NodeCondition { type_: "MemoryPressure".into(), status: "False".into(), ..Default::default() });
        let conds = unknown_conditions(&n, Utc::now());
        assert!(conds.iter().all(|c| c.status == "Unknown" && c.reason == "NodeStatusUnknown"));
        let never = unknown_conditions(&Node::default(), Utc::now());
        assert_eq!((never[0].type_.as_str(), never[0].reason.as_str()), ("Ready", "NodeStatusNeverUpdated"));
    }
}
