//! The registry: plugin names → plugins, and the default profile (which plugins run, in
//! which order, with which score weights) — upstream's `plugins/registry.go` and
//! `apis/config/v1/default_plugins.go`.
//!
//! To add a plugin: write `plugins/<name>.rs` (a struct implementing
//! [`FilterPlugin`] and/or [`ScorePlugin`], with its table test) and add one line here.
//! Filters run in table order and a node's first failure stops the others for that node,
//! so cheap, decisive filters come first — and the order decides which reason a node
//! reports (upstream's: a cordoned node says "unschedulable", not "Insufficient cpu").

use std::sync::Arc;

use crate::framework::{FilterPlugin, ScorePlugin};
use crate::plugins::{
    balanced_allocation::BalancedAllocation, least_allocated::LeastAllocated, node_affinity::NodeAffinity, node_name::NodeName,
    node_ports::NodePorts, node_ready::NodeReady, node_resources_fit::NodeResourcesFit, node_unschedulable::NodeUnschedulable,
    selector_spread::SelectorSpread, taint_toleration::TaintToleration,
};

/// One entry of the registry: a plugin name and what it offers at each extension point.
pub struct PluginDescriptor {
    pub name: &'static str,
    pub filter: Option<fn() -> Arc<dyn FilterPlugin>>,
    /// The plugin and its default weight in the profile.
    pub score: Option<(fn() -> Arc<dyn ScorePlugin>, i64)>,
}

/// Every plugin, in the default profile's filter order.
pub static REGISTRY: &[PluginDescriptor] = &[
    PluginDescriptor { name: "NodeUnschedulable", filter: Some(|| Arc::new(NodeUnschedulable)), score: None },
    PluginDescriptor { name: "NodeName", filter: Some(|| Arc::new(NodeName)), score: None },
    PluginDescriptor { name: "TaintToleration", filter: Some(|| Arc::new(TaintToleration)), score: Some((|| Arc::new(TaintToleration), 3)) },
    PluginDescriptor { name: "NodeReady", filter: Some(|| Arc::new(NodeReady)), score: None },
    PluginDescriptor { name: "NodeAffinity", filter: Some(|| Arc::new(NodeAffinity)), score: Some((|| Arc::new(NodeAffinity), 2)) },
    PluginDescriptor { name: "NodePorts", filter: Some(|| Arc::new(NodePorts)), score: None },
    PluginDescriptor { name: "NodeResourcesFit", filter: Some(|| Arc::new(NodeResourcesFit)), score: None },
    PluginDescriptor { name: "NodeResourcesLeastAllocated", filter: None, score: Some((|| Arc::new(LeastAllocated), 1)) },
    PluginDescriptor { name: "NodeResourcesBalancedAllocation", filter: None, score: Some((|| Arc::new(BalancedAllocation), 1)) },
    PluginDescriptor { name: "SelectorSpread", filter: None, score: Some((|| Arc::new(SelectorSpread), 2)) },
];

/// What one scheduler name runs (upstream: a `KubeSchedulerProfile`).
#[derive(Clone)]
pub struct Profile {
    /// Pods whose `spec.schedulerName` is this are ours.
    pub scheduler_name: String,
    pub filters: Vec<Arc<dyn FilterPlugin>>,
    pub scores: Vec<(Arc<dyn ScorePlugin>, i64)>,
}

impl Profile {
    /// Every registered plugin, with its default weight.
    pub fn default_profile(scheduler_name: &str) -> Profile {
        let names: Vec<&str> = REGISTRY.iter().map(|d| d.name).collect();
        Profile::with_plugins(scheduler_name, &names)
    }

    /// Only the named plugins (unknown names are ignored), in registry order.
    pub fn with_plugins(scheduler_name: &str, names: &[&str]) -> Profile {
        let enabled = REGISTRY.iter().filter(|d| names.contains(&d.name));
        let mut profile = Profile { scheduler_name: scheduler_name.to_string(), filters: Vec::new(), scores: Vec::new() };
        for d in enabled {
            profile.filters.extend(d.filter.map(|f| f()));
            profile.scores.extend(d.score.map(|(s, weight)| (s(), weight)));
        }
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_runs_every_plugin_in_upstreams_order_with_upstreams_weights() {
        let p = Profile::default_profile("default-scheduler");
        let filters: Vec<&str> = p.filters.iter().map(|f| f.name()).collect();
        assert_eq!(filters, ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeReady", "NodeAffinity", "NodePorts", "NodeResourcesFit"]);
        let scores: Vec<(&str, i64)> = p.scores.iter().map(|(s, w)| (s.name(), *w)).collect();
        assert_eq!(
            scores,
            [("TaintToleration", 3), ("NodeAffinity", 2), ("NodeResourcesLeastAllocated", 1), ("NodeResourcesBalancedAllocation", 1), ("SelectorSpread", 2)]
        );
        for d in REGISTRY {
            let f = d.filter.map(|f| f().name());
            let s = d.score.map(|(s, _)| s().name());
            assert!(f.or(s) == Some(d.name), "{} is registered under its own name", d.name);
        }
    }
}
