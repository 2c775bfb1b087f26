//! `NodeUnschedulable` (filter): a cordoned node (`spec.unschedulable: true`, what
//! `kubectl cordon` sets) takes no new pods — unless the pod tolerates the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do).

use kube_api::core::Taint;

use super::taint_toleration::tolerates_taint;
use crate::cache::NodeInfo;
use crate::framework::{FilterPlugin, PodInfo, Status};

pub const NAME: &str = "NodeUnschedulable";
/// Upstream's `ErrReasonUnschedulable`.
pub const REASON: &str = "node(s) were unschedulable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.node().spec.unschedulable != Some(true) {
            return Status::success();
        }
        let taint = Taint { key: TAINT_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), ..Default::default() };
        if pod.pod.spec.tolerations.iter().any(|t| tolerates_taint(t, &taint)) {
            return Status::success();
        }
        Status::unresolvable(REASON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{info, node, on, pod};
    use kube_api::core::Toleration;

    #[test]
    fn cordoned_nodes_take_only_pods_that_tolerate_the_unschedulable_taint() {
        let tolerant = Toleration { key: TAINT_UNSCHEDULABLE.into(), operator: "Exists".into(), effect: "NoSchedule".into(), ..Default::default() };
        // (case, node unschedulable, pod tolerations, expected code)
        let cases = [
            ("schedulable node", None, vec![], Code::Success),
            ("explicitly schedulable", Some(false), vec![], Code::Success),
            ("cordoned", Some(true), vec![], Code::UnschedulableAndUnresolvable),
            ("cordoned but tolerated", Some(true), vec![tolerant], Code::Success),
        ];
        for (case, unschedulable, tolerations, want) in cases {
            let mut n = node("n1");
            n.spec.unschedulable = unschedulable;
            let mut p = pod("p", "", "");
            p.spec.tolerations = tolerations;
            let status = NodeUnschedulable.filter(&info(p), &on(n, vec![]));
            assert_eq!(status.code, want, "{case}");
            if want != Code::Success {
                assert_eq!(status.reasons, [REASON]);
            }
        }
    }
}
