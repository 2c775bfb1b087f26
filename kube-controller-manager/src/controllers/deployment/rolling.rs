//! RollingUpdate: grow the new ReplicaSet within `maxSurge`, shrink the old ones within
//! `maxUnavailable` — upstream's `rolling.go`.
//!
//! Each sync makes at most one move and returns: scale the new ReplicaSet up, *or* scale
//! old ones down. The next sync happens when the ReplicaSets' status changes (pods became
//! available), so availability is re-read between moves and never drops below
//! `replicas - maxUnavailable` because of us.

use std::sync::Arc;

use kube_api::apps::{Deployment, ReplicaSet};

use super::util::{self, deployment_replicas, replica_count, spec_replicas};

/// The new size of the new ReplicaSet, if it must change (upstream's
/// `reconcileNewReplicaSet`).
pub fn new_rs_target(d: &Deployment, all: &[Arc<ReplicaSet>], new_rs: &ReplicaSet) -> Option<i32> {
    let replicas = deployment_replicas(d);
    let current = spec_replicas(new_rs);
    if current == replicas {
        return None;
    }
    if current > replicas {
        return Some(replicas); // scale down to the deployment's size
    }
    let target = util::new_rs_new_replicas(d, all, current);
    (target != current).then_some(target)
}

/// How to shrink the old ReplicaSets now: (ReplicaSet, new size) pairs (upstream's
/// `reconcileOldReplicaSets`, with `cleanupUnhealthyReplicas` and
/// `scaleDownOldReplicaSetsForRollingUpdate`).
pub fn old_rs_targets(d: &Deployment, all: &[Arc<ReplicaSet>], old: &[Arc<ReplicaSet>], new_rs: Option<&ReplicaSet>) -> Vec<(Arc<ReplicaSet>, i32)> {
    if replica_count(old) == 0 {
        return Vec::new();
    }
    let all_pods = replica_count(all);
    let min_available = deployment_replicas(d) - util::max_unavailable(d);
    let new_unavailable = new_rs.map_or(0, |rs| spec_replicas(rs) - rs.status.available_replicas.unwrap_or(0));
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut old: Vec<Arc<ReplicaSet>> = old.to_vec();
    util::sort_by_creation(&mut old);
    let mut sizes: Vec<i32> = old.iter().map(|rs| spec_replicas(rs)).collect();

    // 1. Unhealthy replicas of old ReplicaSets go first: removing them costs no availability.
    let mut cleaned = 0;
    for (rs, size) in old.iter().zip(sizes.iter_mut()) {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = *size - rs.status.available_replicas.unwrap_or(0);
        if *size == 0 || unhealthy <= 0 {
            continue;
        }
        let n = unhealthy.min(max_scaled_down - cleaned);
        *size -= n;
        cleaned += n;
    }

    // 2. Then available ones, as long as `minAvailable` pods stay available.
    let available: i32 = all.iter().map(|rs| rs.status.available_replicas.unwrap_or(0)).sum();
    let mut to_scale_down = (available - min_available).max(0).min(max_scaled_down - cleaned);
    for size in sizes.iter_mut() {
        if to_scale_down <= 0 {
            break;
        }
        let n = (*size).min(to_scale_down);
        *size -= n;
        to_scale_down -= n;
    }
    old.into_iter()
        .zip(sizes)
        .filter(|(rs, size)| spec_replicas(rs) != *size)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_api::apps::RollingUpdateDeployment;
    use kube_api::core::IntOrString;
    use kube_api::meta::Time;

    fn deploy(replicas: i32, surge: i32, unavailable: i32) -> Deployment {
        let mut d = Deployment::default();
        d.spec.replicas = Some(replicas);
        d.spec.strategy.type_ = "RollingUpdate".into();
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(surge)),
            max_unavailable: Some(IntOrString::Int(unavailable)),
        });
        d
    }

    fn rs(name: &str, created: i64, replicas: i32, available: i32) -> Arc<ReplicaSet> {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = name.into();
        rs.metadata.creation_timestamp = Some(Time(chrono::DateTime::from_timestamp(created, 0).unwrap()));
        rs.spec.replicas = Some(replicas);
        rs.status.available_replicas = Some(available);
        Arc::new(rs)
    }

    #[test]
    fn the_new_replica_set_surges_first_then_old_ones_shrink_as_new_pods_become_available() {
        let d = deploy(4, 1, 0);
        let (old, new) = (rs("old", 1, 4, 4), rs("new", 2, 0, 0));
        let all = [old.clone(), new.clone()];
        assert_eq!(new_rs_target(&d, &all, &new), Some(1), "surge by one");
        let new = rs("new", 2, 1, 0);
        let all = [old.clone(), new.clone()];
        assert_eq!(new_rs_target(&d, &all, &new), None, "at maxSurge: wait");
        assert!(old_rs_targets(&d, &all, std::slice::from_ref(&old), Some(&new)).is_empty(), "maxUnavailable 0: the new pod must be available first");
        let new = rs("new", 2, 1, 1);
        let all = [old.clone(), new.clone()];
        let moves = old_rs_targets(&d, &all, std::slice::from_ref(&old), Some(&new));
        assert_eq!(moves.iter().map(|(r, n)| (r.metadata.name.as_str(), *n)).collect::<Vec<_>>(), [("old", 3)]);
    }

    #[test]
    fn unhealthy_old_replicas_are_removed_before_available_ones() {
        let d = deploy(4, 0, 1);
        // Two old ReplicaSets: the older has 2 replicas, none available.
        let (older, old, new) = (rs("older", 1, 2, 0), rs("old", 2, 2, 2), rs("new", 3, 0, 0));
        let all = [older.clone(), old.clone(), new.clone()];
        let moves = old_rs_targets(&d, &all, &[older.clone(), old.clone()], Some(&new));
        // maxScaledDown = 4 - 3 - 0 = 1: one unhealthy pod goes, no available one.
        assert_eq!(moves.iter().map(|(r, n)| (r.metadata.name.as_str(), *n)).collect::<Vec<_>>(), [("older", 1)]);
    }

    #[test]
    fn an_oversized_new_replica_set_is_scaled_down_to_the_deployment() {
        let d = deploy(2, 1, 1);
        let new = rs("new", 1, 5, 5);
        assert_eq!(new_rs_target(&d, std::slice::from_ref(&new), &new), Some(2));
    }
}
