//! `TaintToleration` (filter and score): a node's taints repel pods that do not tolerate
//! them.
//!
//! - **Filter**: a `NoSchedule` or `NoExecute` taint the pod does not tolerate rules the
//!   node out: `node(s) had untolerated taint {key: value}` (the first such taint). The
//!   node lifecycle controller's `node.kubernetes.io/not-ready` and `.../unreachable`
//!   taints are handled here like any other.
//! - **Score**: each untolerated `PreferNoSchedule` taint makes a node less attractive;
//!   normalized in reverse (the node with the fewest gets 100).
//!
//! A toleration matches a taint as upstream's `ToleratesTaint`: same effect (or none
//! given), same key (or none given, with `Exists`), and `Equal` values or `Exists`.

use kube_api::core::{Taint, Toleration};

use crate::cache::NodeInfo;
use crate::framework::{default_normalize, FilterPlugin, PodInfo, ScorePlugin, Status};

pub const NAME: &str = "TaintToleration";

/// Whether `toleration` tolerates `taint`.
pub fn tolerates_taint(toleration: &Toleration, taint: &Taint) -> bool {
    if !toleration.effect.is_empty() && toleration.effect != taint.effect {
        return false;
    }
    if !toleration.key.is_empty() && toleration.key != taint.key {
        return false;
    }
    match toleration.operator.as_str() {
        "" | "Equal" => toleration.value == taint.value,
        "Exists" => true,
        _ => false,
    }
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates_taint(t, taint))
}

pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let untolerated = node.node().spec.taints.iter().find(|taint| {
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute") && !tolerated(&pod.pod.spec.tolerations, taint)
        });
        match untolerated {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value)),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The number of `PreferNoSchedule` taints the pod does not tolerate.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let prefer: Vec<Toleration> = pod.pod.spec.tolerations.iter().filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule").cloned().collect();
        node.node().spec.taints.iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&prefer, t)).count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod, taint};

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration { key: key.into(), operator: op.into(), value: value.into(), effect: effect.into(), toleration_seconds: None }
    }

    #[test]
    fn tolerations_match_taints_as_upstream() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        let cases = [
            (toleration("dedicated", "Equal", "gpu", "NoSchedule"), true),
            (toleration("dedicated", "", "gpu", ""), true),
            (toleration("dedicated", "Equal", "cpu", "NoSchedule"), false),
            (toleration("dedicated", "Exists", "", "NoSchedule"), true),
            (toleration("dedicated", "Exists", "", "NoExecute"), false),
            (toleration("", "Exists", "", ""), true),
            (toleration("other", "Exists", "", ""), false),
            (toleration("dedicated", "Gt", "gpu", ""), false),
        ];
        for (tol, want) in cases {
            assert_eq!(tolerates_taint(&tol, &t), want, "{tol:?}");
        }
    }

    #[test]
    fn untolerated_noschedule_and_noexecute_taints_filter_the_node_out() {
        let not_ready = taint("node.kubernetes.io/not-ready", "", "NoExecute");
        // (case, node taints, pod tolerations, expected reasons (empty: fits))
        let cases: Vec<(&str, Vec<Taint>, Vec<Toleration>, &str)> = vec![
            ("no taints", vec![], vec![], ""),
            ("not ready", vec![not_ready.clone()], vec![], "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ("not ready, tolerated", vec![not_ready], vec![toleration("node.kubernetes.io/not-ready", "Exists", "", "NoExecute")], ""),
            ("a value is printed", vec![taint("dedicated", "gpu", "NoSchedule")], vec![], "node(s) had untolerated taint {dedicated: gpu}"),
            ("PreferNoSchedule does not filter", vec![taint("soft", "", "PreferNoSchedule")], vec![], ""),
        ];
        for (case, taints, tolerations, want) in cases {
            let mut n = node("n1");
            n.spec.taints = taints;
            let mut p = pod("p", "", "");
            p.spec.tolerations = tolerations;
            let status = FilterPlugin::filter(&TaintToleration, &info(p), &on(n, vec![]));
            let got = status.reasons.first().map(String::as_str).unwrap_or("");
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn prefer_no_schedule_taints_lower_the_score() {
        let nodes: Vec<NodeInfo> = [0, 1, 2]
            .iter()
            .map(|n| {
                let mut node = node("n");
                node.spec.taints = (0..*n).map(|i| taint(&format!("soft{i}"), "", "PreferNoSchedule")).collect();
                on(node, vec![])
            })
            .collect();
        let p = info(pod("p", "", ""));
        let mut scores: Vec<i64> = nodes.iter().map(|n| TaintToleration.score(&p, n)).collect();
        assert_eq!(scores, [0, 1, 2]);
        TaintToleration.normalize(&mut scores);
        assert_eq!(scores, [100, 50, 0]);
        let mut tolerant = pod("p", "", "");
        tolerant.spec.tolerations.push(toleration("", "Exists", "", "PreferNoSchedule"));
        assert_eq!(TaintToleration.score(&info(tolerant), &nodes[2]), 0);
    }
}
