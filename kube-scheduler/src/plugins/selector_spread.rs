//! `SelectorSpread` (score): spread the pods of one owner — a ReplicaSet, StatefulSet,
//! ReplicationController, Job — across nodes, so that losing a node loses few replicas.
//!
//! The raw score of a node is how many pods with the same controller owner (the
//! `ownerReferences` entry with `controller: true`, matched by UID) are on it already,
//! assumed ones included. Normalized as upstream's `SelectorSpread`: `100 × (max − count)
//! / max`, so the nodes with the fewest get 100 and the fullest 0. A pod without an owner
//! scores 0 everywhere (it has nothing to spread from).
//!
//! Upstream (since v1.26) reaches the same end with `PodTopologySpread`'s default
//! constraints, which also spread over zones; "same owner" here stands for its "same
//! labels as selected by the owner".

use crate::cache::NodeInfo;
use crate::framework::{PodInfo, ScorePlugin, MAX_NODE_SCORE};

pub const NAME: &str = "SelectorSpread";

pub struct SelectorSpread;

impl ScorePlugin for SelectorSpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let meta = &pod.pod.metadata;
        let Some(owner) = meta.controller_ref() else {
            return 0;
        };
        node.pods
            .iter()
            .filter(|p| p.metadata.namespace == meta.namespace && p.metadata.controller_ref().is_some_and(|r| r.uid == owner.uid))
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        let max = scores.iter().copied().max().unwrap_or(0);
        for s in scores.iter_mut() {
            *s = if max > 0 { MAX_NODE_SCORE * (max - *s) / max } else { MAX_NODE_SCORE };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};
    use kube_api::core::Pod;
    use kube_api::OwnerReference;

    fn owned(name: &str, uid: &str) -> Pod {
        let mut p = pod(name, "", "");
        p.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: uid.into(),
            controller: Some(true),
            ..Default::default()
        });
        p
    }

    #[test]
    fn nodes_with_fewer_pods_of_the_same_owner_score_higher() {
        let nodes = [
            on(node("a"), vec![]),
            on(node("b"), vec![owned("w1", "rs-1"), owned("other", "rs-2")]),
            on(node("c"), vec![owned("w2", "rs-1"), owned("w3", "rs-1")]),
        ];
        let p = info(owned("new", "rs-1"));
        let mut scores: Vec<i64> = nodes.iter().map(|n| SelectorSpread.score(&p, n)).collect();
        assert_eq!(scores, [0, 1, 2], "only pods of the same owner count");
        SelectorSpread.normalize(&mut scores);
        assert_eq!(scores, [100, 50, 0]);

        let orphan = info(pod("lonely", "", ""));
        let mut scores: Vec<i64> = nodes.iter().map(|n| SelectorSpread.score(&orphan, n)).collect();
        SelectorSpread.normalize(&mut scores);
        assert_eq!(scores, [100, 100, 100], "no owner: no preference");
    }
}
