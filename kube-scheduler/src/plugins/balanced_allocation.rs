//! `NodeResourcesBalancedAllocation` (score): prefer the node where, with this pod, CPU and
//! memory would be used in the same proportion — a node with all its CPU taken but its
//! memory free is hard to use for anything else.
//!
//! With `f` the fraction of each resource requested (this pod included, capped at 1), the
//! score is `(1 − std(f)) × 100`; for two resources `std = |f_cpu − f_memory| / 2`.
//! Requests are the pods' real requests, not the non-zero defaults, as upstream.

use crate::cache::NodeInfo;
use crate::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

fn fraction(requested: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 0.0;
    }
    (requested as f64 / capacity as f64).min(1.0)
}

pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let (used, want, have) = (&node.requested, &pod.requests, &node.allocatable);
        let cpu = fraction(used.milli_cpu + want.milli_cpu, have.milli_cpu);
        let memory = fraction(used.memory + want.memory, have.memory);
        let std = (cpu - memory).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};

    #[test]
    fn nodes_used_in_proportion_score_higher() {
        // Nodes offer 4 CPUs and 8Gi.
        // (case, pods on the node (cpu, memory), the pod (cpu, memory), expected score)
        let cases: Vec<(&str, Vec<(&str, &str)>, (&str, &str), i64)> = vec![
            ("balanced pod on an empty node", vec![], ("1", "2Gi"), 100),
            ("cpu-only pod", vec![], ("2", ""), 75),
            ("fills the gap", vec![("2", "")], ("", "4Gi"), 100),
            ("makes it worse", vec![("2", "")], ("2", ""), 50),
            ("nothing requested", vec![], ("", ""), 100),
        ];
        for (case, existing, (cpu, memory), want) in cases {
            let pods = existing.iter().enumerate().map(|(i, (c, m))| pod(&format!("e{i}"), c, m)).collect();
            let got = BalancedAllocation.score(&info(pod("p", cpu, memory)), &on(node("n1"), pods));
            assert_eq!(got, want, "{case}");
        }
    }
}
