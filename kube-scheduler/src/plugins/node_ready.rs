//! `NodeReady` (filter): only nodes whose `Ready` condition is `True` take new pods.
//!
//! Upstream has no such filter any more: the node lifecycle controller taints a node that
//! is not ready (`node.kubernetes.io/not-ready`, `node.kubernetes.io/unreachable`) and
//! [`TaintToleration`](super::taint_toleration) keeps pods away. Those taints are honoured
//! there; this filter also covers clusters where no controller taints nodes yet (a node
//! whose kubelet stopped, before any controller noticed). A pod that tolerates the
//! not-ready taint (a DaemonSet's) may still go to a node that is not ready, as upstream.

use kube_api::core::Taint;

use super::taint_toleration::tolerates_taint;
use crate::cache::NodeInfo;
use crate::framework::{FilterPlugin, PodInfo, Status};

pub const NAME: &str = "NodeReady";
/// Upstream's old `ErrNodeNotReady` predicate reason.
pub const REASON: &str = "node(s) were not ready";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

pub struct NodeReady;

impl FilterPlugin for NodeReady {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let ready = node.node().status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            return Status::success();
        }
        let taint = Taint { key: TAINT_NOT_READY.into(), effect: "NoSchedule".into(), ..Default::default() };
        if pod.pod.spec.tolerations.iter().any(|t| tolerates_taint(t, &taint)) {
            return Status::success();
        }
        Status::unresolvable(REASON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};
    use kube_api::core::Toleration;

    #[test]
    fn only_ready_nodes_fit_unless_the_pod_tolerates_not_ready() {
        let tolerant = Toleration { key: TAINT_NOT_READY.into(), operator: "Exists".into(), ..Default::default() };
        // (case, Ready status (None: no condition), tolerations, fits)
        let cases = [
            ("ready", Some("True"), vec![], true),
            ("not ready", Some("False"), vec![], false),
            ("unknown", Some("Unknown"), vec![], false),
            ("never reported", None, vec![], false),
            ("not ready, tolerated", Some("False"), vec![tolerant], true),
        ];
        for (case, ready, tolerations, fits) in cases {
            let mut n = node("n1");
            n.status.conditions.retain(|c| c.type_ != "Ready");
            if let Some(s) = ready {
                n.status.conditions.push(kube_api::core::NodeCondition { type_: "Ready".into(), status: s.into(), ..Default::default() });
            }
            let mut p = pod("p", "", "");
            p.spec.tolerations = tolerations;
            let status = NodeReady.filter(&info(p), &on(n, vec![]));
            assert_eq!(status.is_success(), fits, "{case}");
        }
    }
}
