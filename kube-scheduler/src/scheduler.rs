//! The scheduling loop — upstream's `scheduleOne`.
//!
//! - **Observes**: pods (pending ones fill the [queue](crate::queue); bound ones fill the
//!   [cache](crate::cache)) and nodes (the cache; a node added or changed, or a bound pod
//!   deleted, wakes the unschedulable pods).
//! - **Key**: a pending pod, `namespace/name`, popped from the queue by priority then age.
//! - **Desired**: every pod whose `spec.schedulerName` is ours has a `spec.nodeName`, on
//!   a node that passes every filter and scores best.
//! - **Actual**: `spec.nodeName` empty, as the informer's cache shows it (never modified).
//! - **Does**: filter all nodes → score the feasible ones → pick the best (ties at random)
//!   → *assume* the pod on it → `POST pods/{name}/binding` in the background, so the next
//!   pod is scheduled while this one is bound.
//! - **Status**: events `Scheduled` / `FailedScheduling`; while no node fits, the pod's
//!   `PodScheduled` condition is `False`, reason `Unschedulable` (the apiserver sets it
//!   `True` on binding).
//! - **Requeues**: no node fits → unschedulable until a cluster event (then back-off
//!   1 s…10 s); binding failed → forget the assumption, back-off.

use std::sync::Arc;
use std::time::Instant;

use kube_api::core::{Node, Pod};
use kube_client::{Api, CancellationToken, Change, Client, EventType, PatchType, Recorder, Store};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::cache::{Cache, NodeInfo};
use crate::fit_error::FitError;
use crate::framework::{PodInfo, Status};
use crate::metrics::Metrics;
use crate::queue::{QueuedPod, SchedulingQueue};
use crate::registry::Profile;

/// How many bindings may be in flight at once; more waits (back-pressure on the loop).
const MAX_BINDINGS_IN_FLIGHT: usize = 64;

/// Upstream's `minFeasibleNodesToFind`.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;

/// What the loop decided for one pod.
#[derive(Debug)]
pub struct Decision {
    pub node: String,
    pub evaluated: usize,
    pub feasible: usize,
    /// The best few (node, total score), best first.
    pub top: Vec<(String, i64)>,
}

/// The scheduler: a profile, its queue and cache, and the API to bind through.
pub struct Scheduler {
    pub profile: Profile,
    pub queue: SchedulingQueue,
    pub cache: Cache,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    bindings: Arc<Semaphore>,
    /// Where the next search for feasible nodes starts (upstream's `nextStartNodeIndex`).
    next_start: std::sync::atomic::AtomicUsize,
}

/// How many feasible nodes to look for before scoring (upstream's
/// `numFeasibleNodesToFind` with the adaptive `percentageOfNodesToScore`): all of them in a
/// small cluster; in a large one, enough for a good choice — 42 % of 1,000 nodes, 10 % of
/// 5,000 — because checking every node of a big cluster for every pod costs more than the
/// last few score points are worth.
pub fn num_feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = (50 - (all / 125) as i64).max(5) as usize;
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

impl Scheduler {
    pub fn new(profile: Profile, pods: Store<Pod>, client: Client, metrics: Arc<Metrics>) -> Scheduler {
        let host = hostname();
        Scheduler {
            recorder: Recorder::new(client.clone(), &profile.scheduler_name, &host),
            profile,
            queue: SchedulingQueue::default(),
            cache: Cache::default(),
            pods,
            client,
            metrics,
            bindings: Arc::new(Semaphore::new(MAX_BINDINGS_IN_FLIGHT)),
            next_start: Default::default(),
        }
    }

    /// Is this pod ours to schedule?
    pub fn responsible(&self, pod: &Pod) -> bool {
        let name = if pod.spec.scheduler_name.is_empty() { "default-scheduler" } else { pod.spec.scheduler_name.as_str() };
        name == self.profile.scheduler_name
    }

    /// The pod informer's handler: pending pods to the queue, bound pods to the cache.
    pub fn on_pod(&self, change: &Change<Pod>) {
        let pod = change.object();
        let key = pod.metadata.key();
        let terminal = matches!(pod.status.phase.as_str(), "Succeeded" | "Failed");
        match change {
            Change::Deleted(_) => {
                self.queue.delete(&key);
                self.cache.remove_pod(&key);
                if !pod.spec.node_name.is_empty() {
                    self.queue.move_all_to_active_or_backoff("AssignedPodDelete");
                }
            }
            _ if !pod.spec.node_name.is_empty() => {
                self.queue.delete(&key);
                if terminal {
                    // A finished pod no longer uses its node: like a deletion for the others.
                    self.cache.remove_pod(&key);
                    self.queue.move_all_to_active_or_backoff("AssignedPodDelete");
                } else {
                    self.cache.add_or_update_pod(pod.clone());
                }
            }
            _ if self.responsible(pod) && pod.metadata.deletion_timestamp.is_none() && !terminal => {
                self.queue.add_or_update(pod.clone());
            }
            _ => self.queue.delete(&key),
        }
    }

    /// The node informer's handler.
    pub fn on_node(&self, change: &Change<Node>) {
        match change {
            Change::Added(n) => {
                self.cache.add_or_update_node(n.clone());
                self.queue.move_all_to_active_or_backoff("NodeAdd");
            }
            Change::Updated { old, new } => {
                self.cache.add_or_update_node(new.clone());
                if scheduling_properties_changed(old, new) {
                    self.queue.move_all_to_active_or_backoff("NodeUpdate");
                }
            }
            Change::Deleted(n) => self.cache.remove_node(&n.metadata.name),
        }
    }

    /// Pops and schedules pods until `cancel`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        info!("Starting scheduling loop for {}", self.profile.scheduler_name);
        loop {
            let queued = tokio::select! {
                q = self.queue.pop() => q,
                _ = cancel.cancelled() => None,
            };
            let Some(queued) = queued else { break };
            self.metrics.set_pending(self.queue.pending());
            self.clone().schedule_one(queued).await;
        }
        self.queue.close();
        info!("Stopped scheduling loop");
    }

    async fn schedule_one(self: Arc<Self>, queued: QueuedPod) {
        let key = queued.pod.metadata.key();
        // Read the pod again from the cache: it may have been bound, deleted or changed.
        let pod = match self.pods.get(&key) {
            Some(p) if p.spec.node_name.is_empty() && p.metadata.deletion_timestamp.is_none() && self.responsible(&p) => p,
            _ => return self.queue.delete(&key),
        };
        if self.cache.is_assumed(&key) {
            debug!(pod = %key, "pod is assumed (binding in flight); skipping");
            return;
        }
        let started = Instant::now();
        let info = PodInfo::new(pod.clone());
        let nodes = self.cache.snapshot();
        let result = self.schedule_pod(&info, &nodes);
        self.metrics.observe_algorithm(started.elapsed());
        match result {
            Ok(decision) => {
                // Assume: the pod counts on its node from now on, before the apiserver knows.
                let mut assumed = (*pod).clone();
                assumed.spec.node_name = decision.node.clone();
                self.cache.assume(Arc::new(assumed), &decision.node);
                let Ok(permit) = self.bindings.clone().acquire_owned().await else { return };
                let me = self.clone();
                tokio::spawn(async move {
                    me.bind(&pod, decision, queued.attempts).await;
                    drop(permit);
                });
            }
            Err(fit) => self.unschedulable(&pod, &fit),
        }
    }

    /// Filter, score, select: upstream's `schedulePod`. Pure: reads the snapshot only.
    pub fn schedule_pod(&self, pod: &PodInfo, nodes: &[Arc<NodeInfo>]) -> Result<Decision, FitError> {
        let (feasible, statuses, evaluated) = self.find_feasible(pod, nodes);
        if feasible.is_empty() {
            return Err(FitError { num_all_nodes: nodes.len(), statuses });
        }
        let totals = self.prioritize(pod, &feasible);
        let mut ranked: Vec<(String, i64)> = feasible.iter().map(|n| n.name().to_string()).zip(totals.iter().copied()).collect();
        let node = select_host(&ranked);
        ranked.sort_by(|a, b| b.1.cmp(&a.1));
        ranked.truncate(3);
        Ok(Decision { node, evaluated, feasible: feasible.len(), top: ranked })
    }

    /// Runs the filters over the nodes, from a rotating start, until enough fit.
    fn find_feasible(&self, pod: &PodInfo, nodes: &[Arc<NodeInfo>]) -> (Vec<Arc<NodeInfo>>, Vec<Status>, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = nodes.len();
        let want = num_feasible_nodes_to_find(n);
        let start = if n == 0 { 0 } else { self.next_start.load(Relaxed) % n };
        let (mut feasible, mut failed) = (Vec::new(), Vec::new());
        let mut evaluated = 0;
        for i in 0..n {
            if feasible.len() >= want {
                break;
            }
            let node = &nodes[(start + i) % n];
            evaluated += 1;
            let status = self.profile.filters.iter().map(|f| f.filter(pod, node)).find(|s| !s.is_success());
            match status {
                None => feasible.push(node.clone()),
                Some(s) => failed.push(s),
            }
        }
        if n > 0 {
            self.next_start.store((start + evaluated) % n, Relaxed);
        }
        (feasible, failed, evaluated)
    }

    /// Σ over score plugins of weight × normalized score, per feasible node.
    fn prioritize(&self, pod: &PodInfo, nodes: &[Arc<NodeInfo>]) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        for (plugin, weight) in &self.profile.scores {
            let mut scores: Vec<i64> = nodes.iter().map(|n| plugin.score(pod, n)).collect();
            plugin.normalize(&mut scores);
            for (t, s) in totals.iter_mut().zip(scores) {
                *t += s * weight;
            }
        }
        totals
    }

    /// Binds (in the background task); on failure forgets the assumption and backs off.
    async fn bind(&self, pod: &Pod, decision: Decision, attempts: u32) {
        let key = pod.metadata.key();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.metadata.namespace);
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": decision.node},
        });
        let started = Instant::now();
        let result: Result<serde_json::Value, _> = api.create_subresource("binding", &pod.metadata.name, &binding).await;
        self.metrics.observe_binding(started.elapsed());
        match result {
            Ok(_) => {
                self.queue.done(&key);
                self.metrics.scheduled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let top: Vec<String> = decision.top.iter().map(|(n, s)| format!("{n}={s}")).collect();
                info!(
                    pod = %key, node = %decision.node, evaluatedNodes = decision.evaluated, feasibleNodes = decision.feasible,
                    topScores = %top.join(","), attempts = attempts + 1,
                    "Successfully bound pod to node"
                );
                let msg = format!("Successfully assigned {key} to {}", decision.node);
                self.recorder.record(pod, EventType::Normal, "Scheduled", &msg);
            }
            Err(e) => {
                self.cache.forget(&key);
                self.metrics.error.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                warn!(pod = %key, node = %decision.node, "Error scheduling pod; retrying: binding rejected: {e}");
                if !e.is_conflict() {
                    self.recorder.record(pod, EventType::Warning, "FailedScheduling", &format!("Binding rejected: {e}"));
                }
                self.queue.add_backoff(&key);
            }
        }
    }

    /// No node fits: tell the user (event, condition), then wait in the queue.
    fn unschedulable(&self, pod: &Arc<Pod>, fit: &FitError) {
        let key = pod.metadata.key();
        let msg = fit.message(pod);
        self.metrics.unschedulable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        info!(pod = %key, err = %msg, "Unable to schedule pod; no fit; waiting");
        self.recorder.record(pod.as_ref(), EventType::Warning, "FailedScheduling", &msg);
        self.queue.add_unschedulable(&key);
        let current = pod.status.conditions.iter().find(|c| c.type_ == "PodScheduled");
        if current.is_some_and(|c| c.status == "False" && c.reason == "Unschedulable" && c.message == msg) {
            return; // already says so: no write
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.metadata.namespace);
        let name = pod.metadata.name.clone();
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
            "lastProbeTime": null, "lastTransitionTime": kube_api::meta::Time::now(),
        }]}});
        tokio::spawn(async move {
            if let Err(e) = api.patch_status(&name, &PatchType::Strategic, &patch).await {
                debug!("could not update the PodScheduled condition of {name}: {e}");
            }
        });
    }
}

/// The best-scoring node; ties broken at random (reservoir sampling, as upstream's `selectHost`).
fn select_host(scores: &[(String, i64)]) -> String {
    let mut best: Option<&(String, i64)> = None;
    let mut ties = 0u32;
    for entry in scores {
        match best {
            Some(b) if entry.1 < b.1 => {}
            Some(b) if entry.1 == b.1 => {
                ties += 1;
                if rand::random_range(0..ties + 1) == 0 {
                    best = Some(entry);
                }
            }
            _ => {
                best = Some(entry);
                ties = 0;
            }
        }
    }
    best.map(|b| b.0.clone()).unwrap_or_default()
}

/// Whether a node update could make a waiting pod fit (heartbeats alone do not).
pub fn scheduling_properties_changed(old: &Node, new: &Node) -> bool {
    let conditions = |n: &Node| n.status.conditions.iter().map(|c| (c.type_.clone(), c.status.clone())).collect::<Vec<_>>();
    old.spec.unschedulable != new.spec.unschedulable
        || old.spec.taints != new.spec.taints
        || old.metadata.labels != new.metadata.labels
        || old.status.allocatable != new.status.allocatable
        || conditions(old) != conditions(new)
}

/// This host's name, for the events' `reportingInstance`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[tokio::test]
    async fn a_burst_of_pods_is_spread_because_each_is_assumed_on_its_node_at_once() {
        use crate::plugins::testing::{node, pod};
        let client = Client::new(kube_client::Config::from_server("http://127.0.0.1:9").unwrap()).unwrap();
        let pods = kube_client::Writer::<Pod>::new().reader();
        let s = Scheduler::new(Profile::default_profile("default-scheduler"), pods, client, Arc::default());
        for i in 0..3 {
            s.cache.add_or_update_node(Arc::new(node(&format!("n{i}")))); // 4 CPUs each
        }
        let mut per_node: HashMap<String, usize> = HashMap::new();
        for i in 0..12 {
            let p = Arc::new(pod(&format!("p{i}"), "1", ""));
            let d = s.schedule_pod(&PodInfo::new(p.clone()), &s.cache.snapshot()).expect("fits");
            // What the loop does before the binding is even sent:
            let mut assumed = (*p).clone();
            assumed.spec.node_name = d.node.clone();
            s.cache.assume(Arc::new(assumed), &d.node);
            *per_node.entry(d.node).or_default() += 1;
        }
        assert_eq!(per_node.values().collect::<Vec<_>>(), [&4, &4, &4], "{per_node:?}");
        let full = s.schedule_pod(&PodInfo::new(Arc::new(pod("one-more", "1", ""))), &s.cache.snapshot()).unwrap_err();
        assert!(full.message(&Pod::default()).starts_with("0/3 nodes are available: 3 Insufficient cpu."));
        s.cache.forget("default/p0"); // its binding failed
        assert!(s.schedule_pod(&PodInfo::new(Arc::new(pod("one-more", "1", ""))), &s.cache.snapshot()).is_ok());
    }

    #[test]
    fn the_number_of_nodes_to_find_is_all_in_small_clusters_and_a_share_in_big_ones() {
        let cases = [(3, 3), (99, 99), (100, 100), (1000, 420), (5000, 500), (10000, 500)];
        for (all, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(all), want, "{all} nodes");
        }
    }

    #[test]
    fn the_best_node_wins_and_ties_are_broken_at_random() {
        let s = |v: &[(&str, i64)]| v.iter().map(|(n, s)| (n.to_string(), *s)).collect::<Vec<_>>();
        assert_eq!(select_host(&s(&[("a", 1), ("b", 3), ("c", 2)])), "b");
        let mut seen: HashMap<String, u32> = HashMap::new();
        for _ in 0..300 {
            *seen.entry(select_host(&s(&[("a", 5), ("b", 5), ("c", 1), ("d", 5)]))).or_default() += 1;
        }
        assert_eq!(seen.len(), 3, "each of the tied nodes is picked sometimes: {seen:?}");
        assert!(!seen.contains_key("c"));
    }

    #[test]
    fn heartbeats_do_not_wake_unschedulable_pods_but_real_changes_do() {
        let mut old = Node::default();
        old.status.conditions.push(kube_api::core::NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() });
        let mut heartbeat = old.clone();
        heartbeat.status.conditions[0].last_heartbeat_time = Some(kube_api::meta::Time::now());
        assert!(!scheduling_properties_changed(&old, &heartbeat));
        let mut uncordoned = old.clone();
        uncordoned.spec.unschedulable = Some(false);
        assert!(scheduling_properties_changed(&old, &uncordoned));
        let mut not_ready = old.clone();
        not_ready.status.conditions[0].status = "False".into();
        assert!(scheduling_properties_changed(&old, &not_ready));
    }
}
