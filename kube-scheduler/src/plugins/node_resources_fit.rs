//! `NodeResourcesFit` (filter): the node must have room for the pod's requests — CPU,
//! memory and one more pod — next to the pods already counted there (assumed ones
//! included). Requests are computed as upstream (see [`crate::resource`]).
//!
//! Every missing resource is a reason of its own, as upstream: a node short of both
//! reports `Insufficient cpu` *and* `Insufficient memory`, and the `FailedScheduling`
//! message counts each. These failures are `Unschedulable` (not "unresolvable"): removing
//! pods would make room, so preemption could help.

use crate::cache::NodeInfo;
use crate::framework::{Code, FilterPlugin, PodInfo, Status};

pub const NAME: &str = "NodeResourcesFit";

pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let (want, used, have) = (&pod.requests, &node.requested, &node.allocatable);
        let mut reasons = Vec::new();
        if used.pods + 1 > have.pods {
            reasons.push("Too many pods".to_string());
        }
        if want.milli_cpu > 0 && want.milli_cpu > have.milli_cpu - used.milli_cpu {
            reasons.push("Insufficient cpu".to_string());
        }
        if want.memory > 0 && want.memory > have.memory - used.memory {
            reasons.push("Insufficient memory".to_string());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status { code: Code::Unschedulable, reasons }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};

    #[test]
    fn a_pod_fits_only_where_its_requests_fit_next_to_the_pods_already_there() {
        // Nodes offer 4 CPUs, 8Gi, 110 pods.
        // (case, pods on the node (cpu, memory), the pod's (cpu, memory), max pods, expected reasons)
        let cases: Vec<(&str, Vec<(&str, &str)>, (&str, &str), &str, Vec<&str>)> = vec![
            ("empty node", vec![], ("1", "1Gi"), "110", vec![]),
            ("exactly full", vec![("3", "")], ("1", ""), "110", vec![]),
            ("one millicore too many", vec![("3", "")], ("1001m", ""), "110", vec!["Insufficient cpu"]),
            ("memory", vec![("", "7Gi")], ("", "2Gi"), "110", vec!["Insufficient memory"]),
            ("both", vec![("4", "8Gi")], ("1", "1"), "110", vec!["Insufficient cpu", "Insufficient memory"]),
            ("no request fits a full node", vec![("4", "8Gi")], ("", ""), "110", vec![]),
            ("too many pods", vec![("", ""), ("", "")], ("", ""), "2", vec!["Too many pods"]),
        ];
        for (case, existing, (cpu, memory), max_pods, want) in cases {
            let mut n = node("n1");
            n.status.allocatable.insert("pods".into(), max_pods.into());
            let pods = existing.iter().enumerate().map(|(i, (c, m))| pod(&format!("e{i}"), c, m)).collect();
            let status = NodeResourcesFit.filter(&info(pod("p", cpu, memory)), &on(n, pods));
            assert_eq!(status.reasons, want, "{case}");
            assert_eq!(status.is_success(), want.is_empty(), "{case}");
        }
    }
}
