//! Pod configuration: the *desired* pods of this node, merged from every source.
//!
//! Upstream's kubelet has three sources — `file` (static pods from `--pod-manifest-path`),
//! `http` (a URL) and `api` (pods bound to the node in the apiserver) — and merges them
//! into one set. Each source here owns one entry of a [`PodConfig`] and replaces its whole
//! list whenever it sees a change; the sync loop subscribes and reads the merged set. A
//! source never says "pod X was added": it says "these are my pods now", which keeps the
//! loop level-triggered.
//!
//! - [`file`]: the static pod source (standalone mode, seed 000).
//! - [`api`]: the pods the apiserver binds to this node (API mode), from an informer.

pub mod api;
pub mod file;

use std::collections::{BTreeMap, HashMap};

use kube_api::core::Pod;
use tokio::sync::watch;

/// Where a pod comes from (upstream's `kubetypes.FileSource`, `ApiserverSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    File,
    Api,
}

impl Source {
    /// The value of the pod's `kubernetes.io/config.source` annotation.
    pub fn name(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Api => "api",
        }
    }
}

/// The desired pods of every source. Cloning shares the same set.
#[derive(Clone)]
pub struct PodConfig {
    tx: watch::Sender<BTreeMap<Source, Vec<Pod>>>,
    /// The sources configured; until each has reported once, the desired set is partial.
    expected: Vec<Source>,
}

impl Default for PodConfig {
    fn default() -> Self {
        PodConfig::new(Vec::new())
    }
}

impl PodConfig {
    /// A config fed by `expected` sources.
    pub fn new(expected: Vec<Source>) -> PodConfig {
        PodConfig { tx: watch::Sender::new(BTreeMap::new()), expected }
    }

    /// Whether every configured source has reported its pods at least once (upstream's
    /// `seenAllSources`). Before that, a running pod missing from the desired set may just
    /// not have been read yet: a kubelet that restarts must not kill it.
    pub fn all_sources_seen(&self) -> bool {
        let all = self.tx.borrow();
        self.expected.iter().all(|s| all.contains_key(s))
    }

    /// Replaces the pods of `source`; subscribers wake only if something changed.
    pub fn set(&self, source: Source, pods: Vec<Pod>) {
        self.tx.send_if_modified(|all| {
            if all.get(&source) == Some(&pods) {
                return false;
            }
            all.insert(source, pods);
            true
        });
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<Source, Vec<Pod>>> {
        self.tx.subscribe()
    }

    /// The merged desired set, by pod UID.
    pub fn desired(&self) -> HashMap<String, Pod> {
        merged(&self.tx.borrow())
    }
}

/// All sources' pods by UID (UIDs are unique across sources: a static pod's is a hash).
pub fn merged(all: &BTreeMap<Source, Vec<Pod>>) -> HashMap<String, Pod> {
    all.values().flatten().map(|p| (p.metadata.uid.clone(), p.clone())).collect()
}
