//! The Deployment's status and its two conditions — upstream's `sync.go`
//! (`calculateStatus`) and `progress.go` (`syncRolloutStatus`).
//!
//! - **Counts**: `replicas` (pods of every ReplicaSet), `updatedReplicas` (pods of the new
//!   one), `readyReplicas`, `availableReplicas`, `unavailableReplicas` (`replicas` wanted
//!   minus available), `observedGeneration`. `kubectl get deploy` prints READY,
//!   UP-TO-DATE and AVAILABLE from them; `kubectl rollout status` waits on them.
//! - **Available**: `True` (`MinimumReplicasAvailable`) while at least
//!   `replicas - maxUnavailable` pods are available.
//! - **Progressing**: `True` with `NewReplicaSetCreated`, `FoundNewReplicaSet` or
//!   `ReplicaSetUpdated` while the rollout moves, `NewReplicaSetAvailable` once complete;
//!   `False` with `ProgressDeadlineExceeded` when nothing moved for
//!   `progressDeadlineSeconds`; `Unknown` with `DeploymentPaused`/`DeploymentResumed`.

use chrono::{DateTime, Utc};
use kube_api::apps::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use kube_api::meta::Time;
use serde_json::{json, Value};
use std::sync::Arc;

use super::util::{self, deployment_replicas};

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";

/// The counts and the Available condition (upstream's `calculateStatus`).
pub fn calculate_status(d: &Deployment, all: &[Arc<ReplicaSet>], new_rs: Option<&ReplicaSet>, now: DateTime<Utc>) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| rs.status.available_replicas.unwrap_or(0)).sum();
    let total = deployment_replicas(d);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all.iter().map(|rs| rs.status.replicas).sum()),
        updated_replicas: Some(new_rs.map_or(0, |rs| rs.status.replicas)),
        ready_replicas: Some(all.iter().map(|rs| rs.status.ready_replicas.unwrap_or(0)).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: d.status.collision_count,
        conditions: d.status.conditions.clone(),
        ..Default::default()
    };
    let condition = if available >= total - util::max_unavailable(d) {
        condition(AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
    } else {
        condition(AVAILABLE, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now)
    };
    set_condition(&mut status, condition);
    status
}

pub fn condition(type_: &str, status: &str, reason: &str, message: &str, now: DateTime<Utc>) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
        reason: reason.into(),
        message: message.into(),
    }
}

pub fn get_condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Upstream's `SetDeploymentCondition`: the same status and reason change nothing; the
/// same status keeps its transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(current) = get_condition(status, &c.type_) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time;
        }
    }
    status.conditions.retain(|x| x.type_ != c.type_);
    status.conditions.push(c);
}

/// Replicas, updated, available all equal `replicas`, and the spec was observed.
pub fn is_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let replicas = deployment_replicas(d);
    s.updated_replicas == Some(replicas)
        && s.replicas == Some(replicas)
        && s.available_replicas == Some(replicas)
        && s.observed_generation >= d.metadata.generation
}

/// Did anything move since the last status (upstream's `DeploymentProgressing`)?
fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = &d.status;
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas != old.updated_replicas
        || new_old < old_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

fn deadline(d: &Deployment) -> Option<chrono::Duration> {
    d.spec.progress_deadline_seconds.filter(|s| *s != i32::MAX).map(|s| chrono::Duration::seconds(s.into()))
}

/// Upstream's `syncRolloutStatus`: the Progressing condition; answers when to look again
/// (the moment the deadline would pass).
pub fn sync_progress(d: &Deployment, status: &mut DeploymentStatus, new_rs: Option<&ReplicaSet>, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let Some(deadline) = deadline(d) else {
        status.conditions.retain(|c| c.type_ != PROGRESSING);
        return None;
    };
    let current = get_condition(status, PROGRESSING).cloned();
    if current.as_ref().is_some_and(|c| c.reason == TIMED_OUT) {
        return None; // reported; a new rollout replaces it (NewReplicaSetCreated)
    }
    let rs_name = new_rs.map(|rs| rs.metadata.name.clone()).unwrap_or_default();
    if is_complete(d, status) {
        let msg = format!("ReplicaSet {rs_name:?} has successfully progressed.");
        set_condition(status, condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg, now));
        return None;
    }
    if is_progressing(d, status) {
        let mut c = condition(PROGRESSING, "True", "ReplicaSetUpdated", &format!("ReplicaSet {rs_name:?} is progressing."), now);
        if let Some(cur) = current.as_ref().filter(|c| c.status == "True") {
            c.last_transition_time = cur.last_transition_time;
        }
        status.conditions.retain(|x| x.type_ != PROGRESSING);
        status.conditions.push(c);
        return deadline.to_std().ok();
    }
    let cur = current?;
    if cur.reason == NEW_RS_AVAILABLE || cur.status == "Unknown" {
        return None;
    }
    let since = cur.last_update_time.map(|t| t.0).unwrap_or(now);
    if since + deadline <= now {
        let msg = format!("ReplicaSet {rs_name:?} has timed out progressing.");
        set_condition(status, condition(PROGRESSING, "False", TIMED_OUT, &msg, now));
        return None;
    }
    (since + deadline - now).to_std().ok()
}

/// The status as a merge patch: every count written, even zeros, so that nothing stale
/// survives; conditions replaced as a whole.
pub fn status_patch(s: &DeploymentStatus) -> Value {
    json!({"status": {
        "observedGeneration": s.observed_generation,
        "replicas": s.replicas.unwrap_or(0),
        "updatedReplicas": s.updated_replicas.unwrap_or(0),
        "readyReplicas": s.ready_replicas.unwrap_or(0),
        "availableReplicas": s.available_replicas.unwrap_or(0),
        "unavailableReplicas": s.unavailable_replicas.unwrap_or(0),
        "collisionCount": s.collision_count,
        "conditions": s.conditions,
    }})
}

/// Compares what matters (the counts and conditions) between two statuses.
pub fn same_status(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let norm = |s: &DeploymentStatus| {
        (
            s.observed_generation,
            s.replicas.unwrap_or(0),
            s.updated_replicas.unwrap_or(0),
            s.ready_replicas.unwrap_or(0),
            s.available_replicas.unwrap_or(0),
            s.unavailable_replicas.unwrap_or(0),
            s.collision_count,
            serde_json::to_value(&s.conditions).unwrap_or_default(),
        )
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i32, ready: i32, available: i32) -> Arc<ReplicaSet> {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = "web-abc".into();
        rs.spec.replicas = Some(replicas);
        rs.status.replicas = replicas;
        rs.status.ready_replicas = Some(ready);
        rs.status.available_replicas = Some(available);
        Arc::new(rs)
    }

    fn deploy() -> Deployment {
        let mut d = Deployment::default();
        d.metadata.generation = Some(2);
        d.spec.replicas = Some(3);
        d.spec.strategy.type_ = "RollingUpdate".into();
        d.spec.progress_deadline_seconds = Some(600);
        d
    }

    #[test]
    fn counts_come_from_the_replica_sets_and_available_needs_replicas_minus_max_unavailable() {
        let d = deploy();
        let (old, new) = (rs(1, 1, 1), rs(2, 1, 1));
        let now = Utc::now();
        let s = calculate_status(&d, &[old, new.clone()], Some(&new), now);
        assert_eq!((s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.unavailable_replicas), (Some(3), Some(2), Some(2), Some(2), Some(1)));
        let avail = get_condition(&s, AVAILABLE).unwrap();
        assert_eq!((avail.status.as_str(), avail.reason.as_str()), ("False", "MinimumReplicasUnavailable"), "25% of 3 rounds down to 0 unavailable allowed");
        assert_eq!(s.observed_generation, Some(2));
    }

    #[test]
    fn a_complete_rollout_reports_new_replica_set_available() {
        let d = deploy();
        let new = rs(3, 3, 3);
        let now = Utc::now();
        let mut s = calculate_status(&d, std::slice::from_ref(&new), Some(&new), now);
        assert_eq!(sync_progress(&d, &mut s, Some(&new), now), None);
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", NEW_RS_AVAILABLE));
        assert_eq!(c.message, "ReplicaSet \"web-abc\" has successfully progressed.");
    }

    #[test]
    fn a_rollout_that_stops_moving_times_out_after_the_progress_deadline() {
        let mut d = deploy();
        let new = rs(3, 1, 1);
        let t0 = Utc::now();
        let mut s = calculate_status(&d, std::slice::from_ref(&new), Some(&new), t0);
        let requeue = sync_progress(&d, &mut s, Some(&new), t0);
        assert_eq!(requeue, Some(std::time::Duration::from_secs(600)), "progressing: look again at the deadline");
        d.status = s;
        let later = t0 + chrono::Duration::seconds(601);
        let mut s = calculate_status(&d, std::slice::from_ref(&new), Some(&new), later);
        sync_progress(&d, &mut s, Some(&new), later);
        let c = get_condition(&s, PROGRESSING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", TIMED_OUT));
    }
}
