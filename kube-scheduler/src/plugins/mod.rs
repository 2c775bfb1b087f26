//! The plugins of the default profile, one file each, each with its table of cases.
//!
//! | plugin                            | extension points | file                     |
//! |-----------------------------------|------------------|--------------------------|
//! | `NodeUnschedulable`               | filter           | [`node_unschedulable`]   |
//! | `NodeName`                        | filter           | [`node_name`]            |
//! | `TaintToleration`                 | filter, score    | [`taint_toleration`]     |
//! | `NodeReady`                       | filter           | [`node_ready`]           |
//! | `NodeAffinity`                    | filter, score    | [`node_affinity`]        |
//! | `NodePorts`                       | filter           | [`node_ports`]           |
//! | `NodeResourcesFit`                | filter           | [`node_resources_fit`]   |
//! | `NodeResourcesLeastAllocated`     | score            | [`least_allocated`]      |
//! | `NodeResourcesBalancedAllocation` | score            | [`balanced_allocation`]  |
//! | `SelectorSpread`                  | score            | [`selector_spread`]      |
//!
//! [`crate::registry`] turns names into plugins and holds the default order and weights.

pub mod balanced_allocation;
pub mod least_allocated;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_ready;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod selector_spread;
pub mod taint_toleration;

/// Builders for the plugins' tables of cases.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use kube_api::core::{Node, NodeCondition, Pod, Taint};

    use crate::cache::NodeInfo;
    use crate::framework::PodInfo;
    use crate::resource::tests::container;

    /// A Ready node offering 4 CPUs, 8Gi and 110 pods.
    pub fn node(name: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = name.into();
        for (k, v) in [("cpu", "4"), ("memory", "8Gi"), ("pods", "110")] {
            n.status.allocatable.insert(k.into(), v.into());
        }
        n.status.conditions.push(NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() });
        n
    }

    pub fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.into(), effect: effect.into(), time_added: None }
    }

    /// A pod in `default` whose one container asks for `cpu` and `memory` ("" = nothing).
    pub fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.spec.containers.push(container("c", cpu, memory));
        p
    }

    pub fn info(pod: Pod) -> PodInfo {
        PodInfo::new(Arc::new(pod))
    }

    pub fn on(node: Node, pods: Vec<Pod>) -> NodeInfo {
        NodeInfo::new(node, pods)
    }
}
