//! The scheduler's own view of the cluster: every node with the pods counted on it —
//! upstream's `internal/cache` (`schedulerCache`, `NodeInfo`).
//!
//! Why not just read the informers? Because of **assumed** pods. Binding takes a round trip
//! to the apiserver and the watch takes another to report it; meanwhile the next pods are
//! being scheduled. If a pod only counted on its node once the informer saw it bound, a
//! burst of 100 pods would all see the same empty node and all go there. So:
//!
//! ```text
//!   chosen ──assume──▶ Assumed (counts on its node at once)
//!                        │ bind OK, informer sees it bound ──▶ Added (confirmed; same node)
//!                        │ bind failed ──forget──▶ gone (the node gets its room back)
//!   informer: a bound pod we never assumed ──▶ Added      (another scheduler, a restart)
//!   informer: pod deleted or finished      ──▶ gone
//! ```
//!
//! [`Cache::snapshot`] hands the scheduling cycle a consistent list of [`NodeInfo`]s. Each is
//! an `Arc`, changed copy-on-write: a snapshot costs one pointer per node, and a change
//! made while a cycle runs does not disturb the nodes that cycle is reading.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kube_api::core::{Node, Pod};

use crate::resource::{pod_requests, Resource};

/// A host port in use: (host IP, protocol, port).
pub type HostPort = (String, String, i32);

/// One node and what is placed on it.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// `None` while pods are known on a node the informer has not shown us (yet).
    pub node: Option<Arc<Node>>,
    /// Pods on the node, assumed ones included.
    pub pods: Vec<Arc<Pod>>,
    /// Σ requests of those pods (`pods` = their number).
    pub requested: Resource,
    /// Σ non-zero requests (for scoring).
    pub non_zero_requested: Resource,
    pub allocatable: Resource,
    pub used_ports: Vec<HostPort>,
}

impl NodeInfo {
    /// A node with these pods on it (handy for tests of plugins).
    pub fn new(node: Node, pods: Vec<Pod>) -> NodeInfo {
        let mut info = NodeInfo::default();
        info.set_node(Arc::new(node));
        for p in pods {
            info.add_pod(Arc::new(p));
        }
        info
    }

    pub fn name(&self) -> &str {
        self.node.as_ref().map(|n| n.metadata.name.as_str()).unwrap_or("")
    }

    /// The node, or an empty one.
    pub fn node(&self) -> &Node {
        static EMPTY: std::sync::OnceLock<Node> = std::sync::OnceLock::new();
        self.node.as_deref().unwrap_or_else(|| EMPTY.get_or_init(Node::default))
    }

    fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = Resource::allocatable(&node);
        self.node = Some(node);
    }

    pub fn add_pod(&mut self, pod: Arc<Pod>) {
        self.requested.add(&pod_requests(&pod, false));
        self.non_zero_requested.add(&pod_requests(&pod, true));
        self.used_ports.extend(host_ports(&pod));
        self.pods.push(pod);
    }

    fn remove_pod(&mut self, key: &str) {
        let Some(i) = self.pods.iter().position(|p| p.metadata.key() == key) else {
            return;
        };
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod_requests(&pod, false));
        self.non_zero_requested.sub(&pod_requests(&pod, true));
        for port in host_ports(&pod) {
            if let Some(j) = self.used_ports.iter().position(|p| *p == port) {
                self.used_ports.swap_remove(j);
            }
        }
    }
}

/// The host ports a pod's containers claim; the host IP defaults to `0.0.0.0` (all) and
/// the protocol to `TCP`.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let mut ports = Vec::new();
    for c in pod.spec.all_containers() {
        for p in &c.ports {
            if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                let ip = if p.host_ip.is_empty() { "0.0.0.0" } else { p.host_ip.as_str() };
                let proto = if p.protocol.is_empty() { "TCP" } else { p.protocol.as_str() };
                ports.push((ip.to_string(), proto.to_string(), hp));
            }
        }
    }
    ports
}

/// Where a pod is counted, and whether it is only assumed.
#[derive(Clone, Debug)]
struct PodState {
    node: String,
    assumed: bool,
}

#[derive(Default)]
struct State {
    /// By node name: a stable order, so that the cycle's rotation over nodes is fair.
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    pods: HashMap<String, PodState>,
}

/// The cache, shared by the informers' handlers and the scheduling loop. Clone it freely.
#[derive(Clone, Default)]
pub struct Cache {
    // A std mutex: held for map updates only, never across an `.await`.
    state: Arc<Mutex<State>>,
}

impl Cache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_or_update_node(&self, node: Arc<Node>) {
        let mut st = self.lock();
        let info = st.nodes.entry(node.metadata.name.clone()).or_default();
        Arc::make_mut(info).set_node(node);
    }

    pub fn remove_node(&self, name: &str) {
        let mut st = self.lock();
        // Pods still bound there keep their NodeInfo (without a node) until they go.
        let keep = st.nodes.get(name).is_some_and(|n| !n.pods.is_empty());
        if keep {
            if let Some(info) = st.nodes.get_mut(name) {
                Arc::make_mut(info).node = None;
            }
        } else {
            st.nodes.remove(name);
        }
    }

    /// Counts `pod` on `node` now, before the binding is even sent.
    pub fn assume(&self, pod: Arc<Pod>, node: &str) {
        let key = pod.metadata.key();
        let mut st = self.lock();
        if st.pods.contains_key(&key) {
            return;
        }
        Arc::make_mut(st.nodes.entry(node.to_string()).or_default()).add_pod(pod);
        st.pods.insert(key, PodState { node: node.to_string(), assumed: true });
    }

    /// The binding failed: the pod no longer counts on the node it was assumed on.
    pub fn forget(&self, key: &str) {
        let mut st = self.lock();
        if st.pods.get(key).is_some_and(|s| s.assumed) {
            Self::remove_locked(&mut st, key);
        }
    }

    /// The informer shows `pod` bound (new or updated): confirm an assumed pod, count a
    /// new one, or move it if its object changed.
    pub fn add_or_update_pod(&self, pod: Arc<Pod>) {
        let key = pod.metadata.key();
        let mut st = self.lock();
        Self::remove_locked(&mut st, &key);
        let node = pod.spec.node_name.clone();
        Arc::make_mut(st.nodes.entry(node.clone()).or_default()).add_pod(pod);
        st.pods.insert(key, PodState { node, assumed: false });
    }

    /// The pod is gone (deleted, or finished: it no longer uses the node).
    pub fn remove_pod(&self, key: &str) {
        Self::remove_locked(&mut self.lock(), key);
    }

    fn remove_locked(st: &mut State, key: &str) {
        let Some(state) = st.pods.remove(key) else {
            return;
        };
        if let Some(info) = st.nodes.get_mut(&state.node) {
            Arc::make_mut(info).remove_pod(key);
            if info.node.is_none() && info.pods.is_empty() {
                st.nodes.remove(&state.node);
            }
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.lock().pods.get(key).is_some_and(|s| s.assumed)
    }

    /// The nodes as they are now (only those the informer has shown us), in name order.
    pub fn snapshot(&self) -> Vec<Arc<NodeInfo>> {
        self.lock().nodes.values().filter(|n| n.node.is_some()).cloned().collect()
    }

    pub fn node_count(&self) -> usize {
        self.lock().nodes.values().filter(|n| n.node.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::tests::container;

    fn node(name: &str) -> Arc<Node> {
        let mut n = Node::default();
        n.metadata.name = name.into();
        n.status.allocatable.insert("cpu".into(), "2".into());
        n.status.allocatable.insert("pods".into(), "110".into());
        Arc::new(n)
    }

    fn pod(name: &str, node: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.spec.node_name = node.into();
        p.spec.containers.push(container("c", "500m", ""));
        Arc::new(p)
    }

    fn requested_cpu(cache: &Cache, node: &str) -> i64 {
        cache.snapshot().iter().find(|n| n.name() == node).map(|n| n.requested.milli_cpu).unwrap_or(-1)
    }

    #[test]
    fn an_assumed_pod_counts_at_once_is_confirmed_by_the_informer_and_counted_once() {
        let cache = Cache::default();
        cache.add_or_update_node(node("n1"));
        cache.assume(pod("a", ""), "n1");
        assert_eq!(requested_cpu(&cache, "n1"), 500);
        assert!(cache.is_assumed("default/a"));
        cache.add_or_update_pod(pod("a", "n1"));
        assert!(!cache.is_assumed("default/a"));
        assert_eq!(requested_cpu(&cache, "n1"), 500, "confirmed, not counted twice");
    }

    #[test]
    fn a_forgotten_pod_gives_its_room_back_but_a_confirmed_one_is_not_forgotten() {
        let cache = Cache::default();
        cache.add_or_update_node(node("n1"));
        cache.assume(pod("a", ""), "n1");
        cache.forget("default/a");
        assert_eq!(requested_cpu(&cache, "n1"), 0);
        cache.add_or_update_pod(pod("b", "n1"));
        cache.forget("default/b");
        assert_eq!(requested_cpu(&cache, "n1"), 500);
        cache.remove_pod("default/b");
        assert_eq!(requested_cpu(&cache, "n1"), 0);
    }

    #[test]
    fn a_snapshot_is_not_changed_by_later_writes() {
        let cache = Cache::default();
        cache.add_or_update_node(node("n1"));
        let before = cache.snapshot();
        cache.add_or_update_pod(pod("a", "n1"));
        assert_eq!(before[0].requested.milli_cpu, 0);
        assert_eq!(requested_cpu(&cache, "n1"), 500);
    }

    #[test]
    fn pods_on_an_unknown_node_are_kept_but_the_node_is_not_offered() {
        let cache = Cache::default();
        cache.add_or_update_pod(pod("a", "later"));
        assert!(cache.snapshot().is_empty());
        cache.add_or_update_node(node("later"));
        assert_eq!(requested_cpu(&cache, "later"), 500);
        cache.remove_node("later");
        assert!(cache.snapshot().is_empty());
    }
}
