//! `NodeName` (filter): a pod that names its node (`spec.nodeName`) fits only there.
//!
//! The scheduler only picks up pods *without* a node name, so in practice this matters for
//! pods a caller checks against a node (and keeps the profile in upstream's shape).

use crate::cache::NodeInfo;
use crate::framework::{FilterPlugin, PodInfo, Status};

pub const NAME: &str = "NodeName";
/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let wanted = &pod.pod.spec.node_name;
        if wanted.is_empty() || wanted == node.name() {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};

    #[test]
    fn a_pod_naming_a_node_fits_only_that_node() {
        for (wanted, node_name, fits) in [("", "n1", true), ("n1", "n1", true), ("n2", "n1", false)] {
            let mut p = pod("p", "", "");
            p.spec.node_name = wanted.into();
            let status = NodeName.filter(&info(p), &on(node(node_name), vec![]));
            assert_eq!(status.is_success(), fits, "pod wants {wanted:?}, node {node_name}");
        }
    }
}
