//! `NodeResourcesLeastAllocated` (score): prefer the emptiest node — upstream's
//! `NodeResourcesFit` scoring with the `LeastAllocated` strategy (the default).
//!
//! For CPU and memory (weight 1 each): `(allocatable − requested) × 100 / allocatable`,
//! where `requested` counts the pods already there *and* this one, with the non-zero
//! defaults (a pod that asks nothing still costs 100m and 200Mi). The score is the
//! weighted mean. Spreads load: each new pod lowers its node's score for the next.

use crate::cache::NodeInfo;
use crate::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};

pub const NAME: &str = "NodeResourcesLeastAllocated";

/// One resource's score: the free fraction, 0 when over-committed or not offered.
pub fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

pub struct LeastAllocated;

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let (used, want, have) = (&node.non_zero_requested, &pod.non_zero_requests, &node.allocatable);
        let cpu = least_requested(used.milli_cpu + want.milli_cpu, have.milli_cpu);
        let memory = least_requested(used.memory + want.memory, have.memory);
        (cpu + memory) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};

    #[test]
    fn emptier_nodes_score_higher() {
        // Nodes offer 4 CPUs and 8Gi.
        // (case, pods on the node (cpu, memory), the pod (cpu, memory), expected score)
        let cases: Vec<(&str, Vec<(&str, &str)>, (&str, &str), i64)> = vec![
            ("empty node, small pod", vec![], ("1", "2Gi"), 75),
            ("half full", vec![("1", "2Gi")], ("1", "2Gi"), 50),
            ("cpu full, memory empty", vec![("3", "")], ("1", "1"), 48),
            ("best effort counts as 100m/200Mi", vec![], ("", ""), 97),
            ("over-committed scores 0", vec![("4", "8Gi")], ("1", "1Gi"), 0),
        ];
        for (case, existing, (cpu, memory), want) in cases {
            let pods = existing.iter().enumerate().map(|(i, (c, m))| pod(&format!("e{i}"), c, m)).collect();
            let got = LeastAllocated.score(&info(pod("p", cpu, memory)), &on(node("n1"), pods));
            assert_eq!(got, want, "{case}");
        }
    }
}
