//! `NodeAffinity` (filter and score): the pod's `nodeSelector` and node affinity.
//!
//! - **Filter**: every `nodeSelector` label must be on the node, and if
//!   `requiredDuringSchedulingIgnoredDuringExecution` is set, at least one of its terms
//!   must match (terms are ORed; a term's expressions are ANDed; an empty term matches
//!   nothing). Operators: `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt` (integers).
//!   `matchFields` supports `metadata.name`, as upstream.
//! - **Score**: the sum of the weights of the `preferred...` terms the node matches,
//!   normalized so that the best node gets 100.

use std::collections::BTreeMap;

use kube_api::core::{Node, NodeSelectorRequirement, NodeSelectorTerm};

use crate::cache::NodeInfo;
use crate::framework::{default_normalize, FilterPlugin, PodInfo, ScorePlugin, Status};

pub const NAME: &str = "NodeAffinity";
/// Upstream's `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

fn requirement_matches(r: &NodeSelectorRequirement, values: &BTreeMap<String, String>) -> bool {
    let value = values.get(&r.key);
    let int = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| r.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(want)) = (value.and_then(|v| int(v)), r.values.first().and_then(|v| int(v))) else {
                return false;
            };
            if r.operator == "Gt" { have > want } else { have < want }
        }
        _ => false,
    }
}

/// Whether `node` matches the term (upstream: `nodeaffinity.NodeSelectorTerm` matching).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    let fields: BTreeMap<String, String> = [("metadata.name".to_string(), node.metadata.name.clone())].into();
    term.match_expressions.iter().all(|r| requirement_matches(r, &node.metadata.labels))
        && term.match_fields.iter().all(|r| requirement_matches(r, &fields))
}

pub struct NodeAffinity;

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let (spec, n) = (&pod.pod.spec, node.node());
        let selector_ok = spec.node_selector.iter().all(|(k, v)| n.metadata.labels.get(k) == Some(v));
        let required = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).and_then(|na| na.required.as_ref());
        let affinity_ok = required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, n)));
        if selector_ok && affinity_ok {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let preferred = pod.pod.spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).map(|na| na.preferred.as_slice()).unwrap_or(&[]);
        preferred.iter().filter(|p| p.weight != 0 && term_matches(&p.preference, node.node())).map(|p| p.weight as i64).sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};
    use kube_api::core::{Affinity, NodeAffinity as Spec, NodeSelector, PreferredSchedulingTerm};

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement { key: key.into(), operator: op.into(), values: values.iter().map(|v| v.to_string()).collect() }
    }

    fn labelled(labels: &[(&str, &str)]) -> NodeInfo {
        let mut n = node("n1");
        n.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        on(n, vec![])
    }

    #[test]
    fn node_selector_and_required_terms_filter_nodes() {
        let n = labelled(&[("disk", "ssd"), ("cores", "8")]);
        let term = |rs: Vec<NodeSelectorRequirement>| NodeSelectorTerm { match_expressions: rs, match_fields: vec![] };
        // (case, nodeSelector, required terms (None: no affinity), fits)
        let cases: Vec<(&str, Vec<(&str, &str)>, Option<Vec<NodeSelectorTerm>>, bool)> = vec![
            ("nothing asked", vec![], None, true),
            ("selector matches", vec![("disk", "ssd")], None, true),
            ("selector value differs", vec![("disk", "hdd")], None, false),
            ("selector label missing", vec![("gpu", "yes")], None, false),
            ("In", vec![], Some(vec![term(vec![req("disk", "In", &["ssd", "nvme"])])]), true),
            ("NotIn", vec![], Some(vec![term(vec![req("disk", "NotIn", &["ssd"])])]), false),
            ("NotIn on a missing label", vec![], Some(vec![term(vec![req("zone", "NotIn", &["a"])])]), true),
            ("Exists", vec![], Some(vec![term(vec![req("disk", "Exists", &[])])]), true),
            ("DoesNotExist", vec![], Some(vec![term(vec![req("disk", "DoesNotExist", &[])])]), false),
            ("Gt", vec![], Some(vec![term(vec![req("cores", "Gt", &["4"])])]), true),
            ("Lt", vec![], Some(vec![term(vec![req("cores", "Lt", &["4"])])]), false),
            ("Gt on a non-integer", vec![], Some(vec![term(vec![req("disk", "Gt", &["4"])])]), false),
            ("expressions are ANDed", vec![], Some(vec![term(vec![req("disk", "In", &["ssd"]), req("cores", "Lt", &["4"])])]), false),
            ("terms are ORed", vec![], Some(vec![term(vec![req("disk", "In", &["hdd"])]), term(vec![req("cores", "Gt", &["4"])])]), true),
            ("an empty term matches nothing", vec![], Some(vec![term(vec![])]), false),
            ("no terms match nothing", vec![], Some(vec![]), false),
            ("matchFields on the name", vec![], Some(vec![NodeSelectorTerm { match_expressions: vec![], match_fields: vec![req("metadata.name", "In", &["n1"])] }]), true),
            ("selector and affinity both apply", vec![("disk", "hdd")], Some(vec![term(vec![req("disk", "Exists", &[])])]), false),
        ];
        for (case, selector, terms, fits) in cases {
            let mut p = pod("p", "", "");
            p.spec.node_selector = selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            p.spec.affinity = terms.map(|t| Affinity {
                node_affinity: Some(Spec { required: Some(NodeSelector { node_selector_terms: t }), preferred: vec![] }),
                ..Default::default()
            });
            let status = FilterPlugin::filter(&NodeAffinity, &info(p), &n);
            assert_eq!(status.is_success(), fits, "{case}");
            if !fits {
                assert_eq!(status.reasons, [REASON], "{case}");
            }
        }
    }

    #[test]
    fn preferred_terms_add_their_weights_and_normalize_to_100() {
        let mut p = pod("p", "", "");
        let pref = |w: i32, k: &str| PreferredSchedulingTerm { weight: w, preference: NodeSelectorTerm { match_expressions: vec![req(k, "Exists", &[])], match_fields: vec![] } };
        p.spec.affinity = Some(Affinity {
            node_affinity: Some(Spec { required: None, preferred: vec![pref(80, "ssd"), pref(20, "fast")] }),
            ..Default::default()
        });
        let p = info(p);
        let nodes = [labelled(&[]), labelled(&[("fast", "")]), labelled(&[("ssd", "")]), labelled(&[("ssd", ""), ("fast", "")])];
        let mut scores: Vec<i64> = nodes.iter().map(|n| NodeAffinity.score(&p, n)).collect();
        assert_eq!(scores, [0, 20, 80, 100]);
        scores[3] = 50;
        NodeAffinity.normalize(&mut scores);
        assert_eq!(scores, [0, 25, 100, 62]);
    }
}
