//! Recreate: every old pod goes before any new one starts — upstream's `recreate.go`.
//!
//! 1. Scale every old ReplicaSet to 0.
//! 2. Wait until no pod of an old ReplicaSet is left (terminating pods count: two versions
//!    must never run side by side).
//! 3. Create the new ReplicaSet (if needed) and scale it to `replicas`.

use std::sync::Arc;

use kube_api::core::Pod;

/// Upstream's `oldPodsRunning`: any pod of an old ReplicaSet that has not finished.
pub fn old_pods_running(old_pods: &[Arc<Pod>]) -> bool {
    old_pods.iter().any(|p| p.status.phase != "Succeeded" && p.status.phase != "Failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_pods_do_not_hold_a_recreate_back_but_terminating_ones_do() {
        let mut done = Pod::default();
        done.status.phase = "Succeeded".into();
        assert!(!old_pods_running(&[Arc::new(done)]));
        let mut terminating = Pod::default();
        terminating.status.phase = "Running".into();
        terminating.metadata.deletion_timestamp = Some(kube_api::meta::Time::now());
        assert!(old_pods_running(&[Arc::new(terminating)]));
    }
}
