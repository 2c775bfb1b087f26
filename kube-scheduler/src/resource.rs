//! What a pod asks for and what a node offers, in the three resources the scheduler counts:
//! CPU (millicores), memory (bytes) and the number of pods.
//!
//! A pod's request is computed as upstream's `resourcehelper.PodRequests`:
//!
//! ```text
//!   request = max( Σ containers + Σ sidecars,            // the steady state
//!                  max over init containers of (it + the sidecars started before it) )
//!             + spec.overhead                            // the sandbox's own cost
//! ```
//!
//! Init containers run one at a time before the containers start, so only the largest
//! counts; a sidecar (an init container with `restartPolicy: Always`) keeps running, so it
//! adds to everything after it.
//!
//! Scoring uses the **non-zero** request: a container that asks for nothing still costs
//! something, so it counts as 100m CPU and 200Mi memory (upstream's `DefaultMilliCPURequest`
//! and `DefaultMemoryRequest`) — otherwise a thousand best-effort pods would all score the
//! same empty node best.

use kube_api::core::{Container, Node, Pod, ResourceList};
use kube_api::quantity::Quantity;

/// Upstream's `DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's `DefaultMemoryRequest` (200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// CPU in millicores, memory in bytes, and a pod count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub pods: i64,
}

impl Resource {
    /// Reads `cpu`, `memory` and `pods` from a resource list; anything unparsable is 0.
    pub fn from_list(list: &ResourceList) -> Resource {
        let q = |name: &str| list.get(name).and_then(|v| Quantity::parse(v.as_str()).ok());
        Resource {
            milli_cpu: q("cpu").map(|q| q.milli_value()).unwrap_or(0),
            memory: q("memory").map(|q| q.value()).unwrap_or(0),
            pods: q("pods").map(|q| q.value()).unwrap_or(0),
        }
    }

    /// What a node offers to pods: `status.allocatable` (the apiserver defaults it to capacity).
    pub fn allocatable(node: &Node) -> Resource {
        if node.status.allocatable.is_empty() {
            Resource::from_list(&node.status.capacity)
        } else {
            Resource::from_list(&node.status.allocatable)
        }
    }

    pub fn add(&mut self, o: &Resource) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.pods += o.pods;
    }

    pub fn sub(&mut self, o: &Resource) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.pods -= o.pods;
    }

    fn max(&self, o: &Resource) -> Resource {
        Resource {
            milli_cpu: self.milli_cpu.max(o.milli_cpu),
            memory: self.memory.max(o.memory),
            pods: self.pods.max(o.pods),
        }
    }
}

/// The request of one container, optionally with upstream's non-zero defaults.
fn container_request(c: &Container, non_zero: bool) -> Resource {
    let mut r = Resource::from_list(&c.resources.requests);
    if non_zero {
        if !c.resources.requests.contains_key("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !c.resources.requests.contains_key("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// The pod's effective request (see the module comment). `non_zero` applies the scoring
/// defaults to containers that ask for nothing.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let mut reqs = Resource::default();
    for c in &pod.spec.containers {
        reqs.add(&container_request(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in &pod.spec.init_containers {
        let mut r = container_request(c, non_zero);
        if c.restart_policy == "Always" {
            reqs.add(&r);
            sidecars.add(&r);
            r = sidecars;
        } else {
            r.add(&sidecars);
        }
        init_max = init_max.max(&r);
    }
    let mut total = reqs.max(&init_max);
    if let Some(overhead) = pod.spec.overhead.as_ref() {
        if let Ok(list) = serde_json::from_value::<ResourceList>(overhead.clone()) {
            total.add(&Resource::from_list(&list));
        }
    }
    total.pods = 1;
    total
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A container asking for `cpu` and `memory` (empty: not asked).
    pub fn container(name: &str, cpu: &str, memory: &str) -> Container {
        let mut c = Container { name: name.into(), image: "busybox".into(), ..Default::default() };
        if !cpu.is_empty() {
            c.resources.requests.insert("cpu".into(), cpu.into());
        }
        if !memory.is_empty() {
            c.resources.requests.insert("memory".into(), memory.into());
        }
        c
    }

    #[test]
    fn requests_are_the_larger_of_the_containers_sum_and_the_largest_init_container_plus_overhead() {
        let mut sidecar = container("sidecar", "100m", "");
        sidecar.restart_policy = "Always".into();
        // (name, containers, init containers, overhead, expected cpu, expected memory)
        let cases: Vec<(&str, Vec<Container>, Vec<Container>, Option<&str>, i64, i64)> = vec![
            ("containers add up", vec![container("a", "100m", "1Mi"), container("b", "200m", "1Mi")], vec![], None, 300, 2 << 20),
            ("a big init container wins", vec![container("a", "100m", "1Mi")], vec![container("i", "1", "")], None, 1000, 1 << 20),
            ("init containers do not add up", vec![], vec![container("i", "500m", ""), container("j", "400m", "")], None, 500, 0),
            ("a sidecar adds to the containers and later init containers", vec![container("a", "100m", "")], vec![sidecar.clone(), container("j", "250m", "")], None, 350, 0),
            ("overhead is added", vec![container("a", "100m", "")], vec![], Some(r#"{"cpu":"50m","memory":"10Mi"}"#), 150, 10 << 20),
            ("nothing asked", vec![container("a", "", "")], vec![], None, 0, 0),
        ];
        for (name, containers, init, overhead, cpu, memory) in cases {
            let mut pod = Pod::default();
            pod.spec.containers = containers;
            pod.spec.init_containers = init;
            pod.spec.overhead = overhead.map(|o| serde_json::from_str(o).unwrap());
            let r = pod_requests(&pod, false);
            assert_eq!((r.milli_cpu, r.memory, r.pods), (cpu, memory, 1), "{name}");
        }
    }

    #[test]
    fn non_zero_requests_count_a_best_effort_container_as_100m_and_200mi() {
        let mut pod = Pod::default();
        pod.spec.containers = vec![container("a", "", ""), container("b", "1", "")];
        let r = pod_requests(&pod, true);
        assert_eq!((r.milli_cpu, r.memory), (1100, 2 * DEFAULT_MEMORY_REQUEST));
    }
}
