//! The scheduling framework: one small trait per extension point, as upstream's
//! `pkg/scheduler/framework`.
//!
//! ```text
//!   pod ──▶ Filter (every plugin, every node: may the pod run here?)   → feasible nodes
//!       ──▶ Score  (every plugin, every feasible node: how good, 0-100) → normalize → × weight → Σ
//!       ──▶ the best node (ties at random) ──▶ assume ──▶ bind
//! ```
//!
//! - A [`FilterPlugin`] answers a [`Status`]: success, or *why not* in upstream's words
//!   (`Insufficient cpu`, `node(s) had untolerated taint {k: v}`). The reasons of all
//!   nodes become the `FailedScheduling` message (see [`crate::fit_error`]).
//! - A [`ScorePlugin`] gives each feasible node a raw score, then may **normalize** the
//!   scores of all nodes to 0-100 ("how many pods of my owner are there" becomes "100 for
//!   the emptiest node"). The profile multiplies each plugin's score by its weight.
//!
//! Plugins read a [`PodInfo`] (the pod with its requests computed once) and a
//! [`NodeInfo`](crate::cache::NodeInfo) (the node with the pods counted on it, assumed ones
//! included). They never write anything: that makes each one a pure function, tested by a
//! table beside it.

use std::sync::Arc;

use kube_api::core::Pod;

use crate::cache::NodeInfo;
use crate::resource::{pod_requests, Resource};

/// Upstream's `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// Upstream's status codes (those a filter can answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Success,
    /// The pod does not fit now, but could if other pods went away (preemption might help).
    Unschedulable,
    /// The pod does not fit and removing pods would not change that (a label, a taint).
    UnschedulableAndUnresolvable,
}

/// A plugin's answer: a code and upstream's reason strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn success() -> Status {
        Status { code: Code::Success, reasons: Vec::new() }
    }

    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status { code: Code::Unschedulable, reasons: vec![reason.into()] }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons: vec![reason.into()] }
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
}

/// The pod being scheduled, with what is expensive to compute done once.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// What the pod asks for (filters).
    pub requests: Resource,
    /// The same with the scoring defaults for containers that ask nothing (scores).
    pub non_zero_requests: Resource,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        PodInfo {
            requests: pod_requests(&pod, false),
            non_zero_requests: pod_requests(&pod, true),
            pod,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        self.pod.metadata.key()
    }
}

/// May the pod run on this node? (upstream: `FilterPlugin`)
pub trait FilterPlugin: Send + Sync {
    /// The upstream plugin name, e.g. `NodeResourcesFit`.
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// How good is this node for the pod? (upstream: `ScorePlugin` with `ScoreExtensions`)
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// A raw score; 0-100 unless [`ScorePlugin::normalize`] maps it there.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
    /// Maps the raw scores of all feasible nodes to 0-100. The default keeps them.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// Upstream's `DefaultNormalizeScore`: scales scores so that the highest becomes 100 (or,
/// `reverse`, so that the lowest becomes 100 and the highest 0).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalize_scales_to_100_and_reverse_flips() {
        let cases: &[(&[i64], bool, &[i64])] = &[
            (&[0, 5, 10], false, &[0, 50, 100]),
            (&[0, 5, 10], true, &[100, 50, 0]),
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
        ];
        for (input, reverse, want) in cases {
            let mut s = input.to_vec();
            default_normalize(&mut s, *reverse);
            assert_eq!(&s, want, "{input:?} reverse={reverse}");
        }
    }
}
