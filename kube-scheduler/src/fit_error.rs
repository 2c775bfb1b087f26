//! The `FailedScheduling` message: why no node fits, in upstream's words (`FitError`).
//!
//! ```text
//! 0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.
//!     preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod,
//!     2 Preemption is not helpful for scheduling.
//! ```
//!
//! - Each reason of each node is counted once ("a histogram"); the `"<count> <reason>"`
//!   strings are sorted as strings, as upstream's `sort.Strings`.
//! - The preemption part is what upstream's `DefaultPreemption` post-filter says when it
//!   finds nothing to evict: nodes that failed with an *unresolvable* reason (a taint, a
//!   label) are "not helpful"; the others (not enough room) would need victims. This
//!   scheduler does not preempt yet, so it never finds any: the message is upstream's for
//!   a cluster without lower-priority pods.

use std::collections::BTreeMap;

use kube_api::core::Pod;

use crate::framework::{Code, Status};

/// Upstream's `ErrNoNodesAvailable`.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Why the pod fits no node: the number of nodes and each failed node's status.
#[derive(Clone, Debug, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub statuses: Vec<Status>,
}

/// `"<count> <reason>"` for each distinct reason, sorted as strings.
fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut items: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    items.sort();
    items.join(", ")
}

impl FitError {
    /// The whole message for `pod`.
    pub fn message(&self, pod: &Pod) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES.to_string();
        }
        let n = self.num_all_nodes;
        let reasons = histogram(self.statuses.iter().flat_map(|s| s.reasons.iter().map(String::as_str)));
        let mut msg = format!("0/{n} nodes are available: {reasons}.");
        if pod.spec.preemption_policy.as_deref() == Some("Never") {
            msg.push_str(" preemption: not eligible due to preemptionPolicy=Never.");
            return msg;
        }
        let preemption = histogram(self.statuses.iter().map(|s| match s.code {
            Code::Unschedulable => "No preemption victims found for incoming pod",
            _ => "Preemption is not helpful for scheduling",
        }));
        msg.push_str(&format!(" preemption: 0/{n} nodes are available: {preemption}."));
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_sorts_and_adds_the_preemption_summary_as_upstream() {
        let taint = || Status::unresolvable("node(s) had untolerated taint {node.kubernetes.io/not-ready: }");
        let cpu = || Status::unschedulable("Insufficient cpu");
        let both = || Status { code: Code::Unschedulable, reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()] };
        let cases: Vec<(&str, usize, Vec<Status>, &str)> = vec![
            ("no nodes", 0, vec![], "no nodes available to schedule pods"),
            (
                "the issue's example",
                3,
                vec![taint(), cpu(), taint()],
                "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. \
                 preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
            ),
            (
                "all unresolvable",
                2,
                vec![Status::unresolvable("node(s) didn't match Pod's node affinity/selector"), Status::unresolvable("node(s) were unschedulable")],
                "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable. \
                 preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            ),
            (
                "several reasons on one node each count",
                2,
                vec![both(), cpu()],
                "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu. \
                 preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
            ),
        ];
        for (case, n, statuses, want) in cases {
            let got = FitError { num_all_nodes: n, statuses }.message(&Pod::default());
            assert_eq!(got, want, "{case}");
        }
        let mut never = Pod::default();
        never.spec.preemption_policy = Some("Never".into());
        let got = FitError { num_all_nodes: 1, statuses: vec![cpu()] }.message(&never);
        assert_eq!(got, "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.");
    }
}
