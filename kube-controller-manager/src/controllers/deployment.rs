//! The Deployment controller: a Deployment becomes ReplicaSets, one per template version
//! — upstream's `pkg/controller/deployment`. Seed 003: "creating a Deployment triggers
//! the creation of a ReplicaSet, which in turn creates our Pods".
//!
//! - **Observes**: Deployments; ReplicaSets (a change wakes its controlling Deployment, an
//!   orphan wakes the Deployments that select it); Pod deletions (a Recreate rollout waits
//!   for the old pods to be gone).
//! - **Key**: `namespace/name` of the Deployment.
//! - **Desired**: one ReplicaSet `<deployment>-<pod-template-hash>` whose template is the
//!   Deployment's, with `replicas` pods; no pods of older templates; at most
//!   `revisionHistoryLimit` old (scaled to zero) ReplicaSets kept for rollbacks.
//! - **Actual**: the ReplicaSets it controls (after adopting matching orphans and releasing
//!   those that no longer match), their sizes and their pods' availability.
//! - **Does**: one step of the strategy per sync ([`rolling`]: surge the new ReplicaSet
//!   within `maxSurge`, shrink old ones within `maxUnavailable`; [`recreate`]: old to zero,
//!   wait for their pods, then the new one); creates the new ReplicaSet with the next
//!   `deployment.kubernetes.io/revision` (a rollback — `kubectl rollout undo` puts an old
//!   template back — makes the old ReplicaSet new again, with a new revision); scales
//!   proportionally when `replicas` changes mid-rollout; when `paused`, only scales;
//!   deletes old ReplicaSets beyond `revisionHistoryLimit`. Event: `ScalingReplicaSet`.
//! - **Status**: counts and the `Available`/`Progressing` conditions ([`progress`]).
//! - **Requeues**: on errors; at the progress deadline; otherwise when a ReplicaSet's
//!   status changes (its pods became available), which is what paces a rolling update.

pub mod progress;
pub mod recreate;
pub mod rolling;
pub mod util;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use kube_api::apps::{Deployment, ReplicaSet};
use kube_api::core::Pod;
use kube_client::handlers::owner_keys;
use kube_client::store::key_of;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, EventType, PatchType, PostParams, Recorder, Store, WorkQueue};
use serde_json::json;
use tracing::{debug, info};

use super::pod_control::{self, claim};
use crate::ControllerContext;
use util::{deployment_replicas, spec_replicas, DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION};

struct Ctx {
    deployments: Store<Deployment>,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
}

/// The `deployment` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let deployments = cc.informer::<Deployment>();
    let replica_sets = cc.informer::<ReplicaSet>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    deployments.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    replica_sets.add_handler({
        let (queue, deployments) = (queue.clone(), deployments.store());
        move |change: &Change<ReplicaSet>| {
            let keys = kube_client::handlers::owner_keys_of_change(change, "Deployment");
            let rs = change.object();
            if keys.is_empty() && rs.metadata.controller_ref().is_none() {
                // An orphan: the Deployments that select it may adopt it.
                for d in deployments.by_index("namespace", &rs.metadata.namespace) {
                    if selects(&d, &rs.metadata.labels) {
                        queue.add(key_of(d.as_ref()));
                    }
                }
            }
            for key in keys {
                queue.add(key);
            }
        }
    });
    pods.add_handler({
        let (queue, replica_sets) = (queue.clone(), replica_sets.store());
        move |change: &Change<Pod>| {
            if let Change::Deleted(pod) = change {
                for rs_key in owner_keys(pod.as_ref(), "ReplicaSet") {
                    if let Some(rs) = replica_sets.get(&rs_key) {
                        for key in owner_keys(rs.as_ref(), "Deployment") {
                            queue.add(key);
                        }
                    }
                }
            }
        }
    });
    let ctx = Arc::new(Ctx {
        deployments: deployments.store(),
        replica_sets: replica_sets.store(),
        pods: pods.store(),
        client: cc.client.clone(),
        recorder: cc.recorder("deployment-controller"),
    });
    let controller = Controller::new("deployment", queue)
        .workers(cc.options.concurrent_deployment_syncs)
        .wait_for(deployments.synced())
        .wait_for(replica_sets.synced())
        .wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

fn selects(d: &Deployment, labels: &BTreeMap<String, String>) -> bool {
    d.spec.selector.as_ref().is_some_and(|s| !s.is_empty() && s.matches(labels))
}

/// The ReplicaSets as this sync sees them (updated in place as it writes, so that later
/// steps of the same sync count what it just did).
struct Rollout {
    new_rs: Option<Arc<ReplicaSet>>,
    old: Vec<Arc<ReplicaSet>>,
}

impl Rollout {
    fn all(&self) -> Vec<Arc<ReplicaSet>> {
        self.old.iter().cloned().chain(self.new_rs.clone()).collect()
    }
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let Some(d) = ctx.deployments.get(&key) else {
        debug!("Deployment {key} has been deleted");
        return Ok(Action::Done);
    };
    let ns = d.metadata.namespace.clone();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);

    // Actual: the ReplicaSets we control, after adoption and release.
    let deleting = d.metadata.deletion_timestamp.is_some();
    let claimed = claim(&d.metadata.uid, deleting, |l| selects(&d, l), ctx.replica_sets.by_index("namespace", &ns));
    let mut owned = claimed.owned;
    for rs in claimed.adopt {
        match pod_control::adopt(&rs_api, rs.as_ref(), pod_control::controller_ref(d.as_ref())).await {
            Ok(adopted) => owned.push(Arc::new(adopted)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    for rs in claimed.release {
        match pod_control::release(&rs_api, rs.as_ref(), &d.metadata.uid).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let new_rs = util::find_new_rs(&d, &owned);
    let old: Vec<_> = owned.iter().filter(|rs| Some(&rs.metadata.uid) != new_rs.as_ref().map(|n| &n.metadata.uid)).cloned().collect();
    let mut rollout = Rollout { new_rs, old };

    if deleting {
        return sync_status(&ctx, &d, &rollout, false).await;
    }
    let paused = d.spec.paused.unwrap_or(false);
    if paused || is_scaling_event(&d, &rollout) {
        // Only resize what exists; a paused Deployment starts no rollout.
        sync_revision(&ctx, &d, &mut rollout).await?;
        scale(&ctx, &d, &mut rollout).await?;
        if paused {
            cleanup(&ctx, &d, &rollout).await?;
        }
        return sync_status(&ctx, &d, &rollout, paused).await;
    }
    if util::is_rolling(&d) {
        rollout_rolling(&ctx, &d, &mut rollout).await
    } else {
        rollout_recreate(&ctx, &d, &mut rollout).await
    }
}

/// Is `replicas` different from what the active ReplicaSets were last scaled for?
fn is_scaling_event(d: &Deployment, r: &Rollout) -> bool {
    let want = deployment_replicas(d).to_string();
    r.all()
        .iter()
        .filter(|rs| spec_replicas(rs) > 0)
        .any(|rs| rs.metadata.annotations.get(DESIRED_REPLICAS).is_some_and(|v| *v != want))
}

async fn rollout_rolling(ctx: &Ctx, d: &Deployment, r: &mut Rollout) -> Result<Action, kube_client::Error> {
    ensure_new_rs(ctx, d, r).await?;
    sync_revision(ctx, d, r).await?;
    let all = r.all();
    if let Some(new_rs) = r.new_rs.clone() {
        if let Some(target) = rolling::new_rs_target(d, &all, &new_rs) {
            scale_rs(ctx, d, r, &new_rs, target).await?;
            return sync_status(ctx, d, r, false).await;
        }
    }
    let active_old: Vec<_> = r.old.iter().filter(|rs| spec_replicas(rs) > 0).cloned().collect();
    let moves = rolling::old_rs_targets(d, &all, &active_old, r.new_rs.as_deref());
    if !moves.is_empty() {
        for (rs, size) in moves {
            scale_rs(ctx, d, r, &rs, size).await?;
        }
        return sync_status(ctx, d, r, false).await;
    }
    cleanup_if_complete(ctx, d, r).await?;
    sync_status(ctx, d, r, false).await
}

async fn rollout_recreate(ctx: &Ctx, d: &Deployment, r: &mut Rollout) -> Result<Action, kube_client::Error> {
    sync_revision(ctx, d, r).await?;
    let active_old: Vec<_> = r.old.iter().filter(|rs| spec_replicas(rs) > 0).cloned().collect();
    if !active_old.is_empty() {
        for rs in active_old {
            scale_rs(ctx, d, r, &rs, 0).await?;
        }
        return sync_status(ctx, d, r, false).await;
    }
    let old_pods: Vec<Arc<Pod>> = r.old.iter().flat_map(|rs| ctx.pods.by_index("ownerUID", &rs.metadata.uid)).collect();
    if recreate::old_pods_running(&old_pods) {
        debug!("Deployment {}: waiting for {} old pods to go", d.metadata.name, old_pods.len());
        return sync_status(ctx, d, r, false).await;
    }
    ensure_new_rs(ctx, d, r).await?;
    if let Some(new_rs) = r.new_rs.clone() {
        if spec_replicas(&new_rs) != deployment_replicas(d) {
            scale_rs(ctx, d, r, &new_rs, deployment_replicas(d)).await?;
            return sync_status(ctx, d, r, false).await;
        }
    }
    cleanup_if_complete(ctx, d, r).await?;
    sync_status(ctx, d, r, false).await
}

/// Creates the new ReplicaSet if there is none (upstream's `getNewReplicaSet` with
/// `createIfNotExisted`).
async fn ensure_new_rs(ctx: &Ctx, d: &Deployment, r: &mut Rollout) -> Result<(), kube_client::Error> {
    if r.new_rs.is_some() {
        return Ok(());
    }
    let hash = util::compute_hash(&d.spec.template, d.status.collision_count);
    let mut rs = ReplicaSet::default();
    rs.metadata.name = format!("{}-{hash}", d.metadata.name);
    rs.metadata.namespace = d.metadata.namespace.clone();
    rs.metadata.owner_references = vec![pod_control::controller_ref(d)];
    rs.spec.template = d.spec.template.clone();
    rs.spec.template.metadata.labels.insert(POD_TEMPLATE_HASH.into(), hash.clone());
    rs.metadata.labels = rs.spec.template.metadata.labels.clone();
    let mut selector = d.spec.selector.clone().unwrap_or_default();
    selector.match_labels.insert(POD_TEMPLATE_HASH.into(), hash.clone());
    rs.spec.selector = Some(selector);
    rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
    rs.metadata.annotations = copied_annotations(d);
    let revision = util::max_revision(&r.old) + 1;
    rs.metadata.annotations.insert(REVISION.into(), revision.to_string());
    rs.metadata.annotations.insert(DESIRED_REPLICAS.into(), deployment_replicas(d).to_string());
    rs.metadata.annotations.insert(MAX_REPLICAS.into(), (deployment_replicas(d) + util::max_surge(d)).to_string());
    let all = r.all();
    let replicas = util::new_rs_new_replicas(d, &all, 0);
    rs.spec.replicas = Some(if util::is_rolling(d) { replicas } else { 0 });

    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
    match api.create_with(&rs, &PostParams::default()).await {
        Ok(created) => {
            info!("Created new ReplicaSet {} for Deployment {}/{} (revision {revision})", created.metadata.name, d.metadata.namespace, d.metadata.name);
            let n = spec_replicas(&created);
            if n > 0 {
                ctx.recorder.record(d, EventType::Normal, "ScalingReplicaSet", &format!("Scaled up replica set {} from 0 to {n}", created.metadata.name));
            }
            let now = Utc::now();
            let mut status = d.status.clone();
            let msg = format!("Created new replica set {:?}", created.metadata.name);
            progress::set_condition(&mut status, progress::condition(progress::PROGRESSING, "True", "NewReplicaSetCreated", &msg, now));
            r.new_rs = Some(Arc::new(created));
            // The status is written at the end of the sync, from `d.status` + counts; keep
            // the condition by patching it now.
            let dapi: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
            dapi.patch_status(&d.metadata.name, &PatchType::Merge, &json!({"status": {"conditions": status.conditions}})).await?;
            Ok(())
        }
        Err(e) if e.is_already_exists() => {
            // Ours, with the same template (our cache is behind)? Or a hash collision.
            let existing = api.get(&rs.metadata.name).await?;
            let ours = existing.metadata.controller_ref().is_some_and(|o| o.uid == d.metadata.uid);
            if ours && util::equal_ignore_hash(&existing.spec.template, &d.spec.template) {
                r.new_rs = Some(Arc::new(existing));
                return Ok(());
            }
            let count = d.status.collision_count.unwrap_or(0) + 1;
            info!("hash collision for Deployment {}: collisionCount now {count}", d.metadata.name);
            let dapi: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
            dapi.patch_status(&d.metadata.name, &PatchType::Merge, &json!({"status": {"collisionCount": count}})).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The Deployment's annotations a ReplicaSet carries (so that `rollout undo` can bring
/// them back).
fn copied_annotations(d: &Deployment) -> BTreeMap<String, String> {
    d.metadata
        .annotations
        .iter()
        .filter(|(k, _)| !util::ANNOTATIONS_TO_SKIP.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An existing new ReplicaSet gets the next revision if an older one holds the highest
/// (this is a rollback: the old template came back).
async fn sync_revision(ctx: &Ctx, d: &Deployment, r: &mut Rollout) -> Result<(), kube_client::Error> {
    let Some(new_rs) = r.new_rs.clone() else { return Ok(()) };
    let max_old = util::max_revision(&r.old);
    if util::revision(&new_rs) > max_old {
        return Ok(());
    }
    let revision = (max_old + 1).to_string();
    let mut annotations = copied_annotations(d);
    annotations.insert(REVISION.into(), revision.clone());
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
    let patch = json!({"metadata": {"annotations": annotations}});
    let updated = api.patch(&new_rs.metadata.name, &PatchType::Merge, &patch).await?;
    info!("ReplicaSet {} is the new one of Deployment {} again: revision {revision}", new_rs.metadata.name, d.metadata.name);
    r.new_rs = Some(Arc::new(updated));
    Ok(())
}

/// Sets one ReplicaSet's size and its desired/max annotations; records the event.
async fn scale_rs(ctx: &Ctx, d: &Deployment, r: &mut Rollout, rs: &Arc<ReplicaSet>, size: i32) -> Result<(), kube_client::Error> {
    let from = spec_replicas(rs);
    let desired = deployment_replicas(d).to_string();
    let max = (deployment_replicas(d) + util::max_surge(d)).to_string();
    if from == size && rs.metadata.annotations.get(DESIRED_REPLICAS) == Some(&desired) && rs.metadata.annotations.get(MAX_REPLICAS) == Some(&max) {
        return Ok(());
    }
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
    let patch = json!({
        "metadata": {"annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max}},
        "spec": {"replicas": size},
    });
    let updated = Arc::new(api.patch(&rs.metadata.name, &PatchType::Merge, &patch).await?);
    if from != size {
        let dir = if size > from { "up" } else { "down" };
        info!("Scaled {dir} replica set {} from {from} to {size} (Deployment {}/{})", rs.metadata.name, d.metadata.namespace, d.metadata.name);
        ctx.recorder.record(d, EventType::Normal, "ScalingReplicaSet", &format!("Scaled {dir} replica set {} from {from} to {size}", rs.metadata.name));
    }
    if r.new_rs.as_ref().is_some_and(|n| n.metadata.uid == rs.metadata.uid) {
        r.new_rs = Some(updated);
    } else if let Some(slot) = r.old.iter_mut().find(|o| o.metadata.uid == rs.metadata.uid) {
        *slot = updated;
    }
    Ok(())
}

/// Upstream's `scale`: one active ReplicaSet takes the whole size; a saturated new one
/// means old ones go to zero; otherwise the change is spread in proportion to sizes.
async fn scale(ctx: &Ctx, d: &Deployment, r: &mut Rollout) -> Result<(), kube_client::Error> {
    let replicas = deployment_replicas(d);
    let all = r.all();
    let active: Vec<_> = all.iter().filter(|rs| spec_replicas(rs) > 0).cloned().collect();
    if active.len() <= 1 {
        let target = active.first().cloned().or_else(|| r.new_rs.clone()).or_else(|| {
            let mut old = r.old.clone();
            util::sort_by_creation(&mut old);
            old.last().cloned()
        });
        if let Some(rs) = target {
            scale_rs(ctx, d, r, &rs, replicas).await?;
        }
        return Ok(());
    }
    if let Some(new_rs) = r.new_rs.clone().filter(|n| util::is_saturated(d, n)) {
        for rs in r.old.clone() {
            if spec_replicas(&rs) > 0 {
                scale_rs(ctx, d, r, &rs, 0).await?;
            }
        }
        let _ = new_rs;
        return Ok(());
    }
    if !util::is_rolling(d) {
        return Ok(());
    }
    for (rs, size) in proportional_sizes(d, &active) {
        scale_rs(ctx, d, r, &rs, size).await?;
    }
    Ok(())
}

/// Spreads `replicas + maxSurge - current` over the active ReplicaSets in proportion to
/// their size when they were last scaled (upstream's `getProportion`); the rounding
/// leftover goes to the largest (newest when growing, oldest when shrinking).
pub fn proportional_sizes(d: &Deployment, active: &[Arc<ReplicaSet>]) -> Vec<(Arc<ReplicaSet>, i32)> {
    let allowed = deployment_replicas(d) + util::max_surge(d);
    let to_add = allowed - util::replica_count(active);
    if to_add == 0 {
        return Vec::new();
    }
    let mut sorted = active.to_vec();
    util::sort_by_creation(&mut sorted);
    if to_add > 0 {
        sorted.reverse(); // newer first when growing
    }
    sorted.sort_by_key(|rs| std::cmp::Reverse(spec_replicas(rs)));
    let mut added = 0;
    let mut sizes: Vec<(Arc<ReplicaSet>, i32)> = Vec::new();
    for rs in &sorted {
        let current = spec_replicas(rs);
        let annotated = rs.metadata.annotations.get(MAX_REPLICAS).and_then(|v| v.parse::<i32>().ok()).filter(|v| *v > 0);
        let fraction = match annotated {
            Some(a) => ((f64::from(current) * f64::from(allowed) / f64::from(a)).round() as i32) - current,
            None => 0,
        };
        let left = to_add - added;
        let p = if to_add > 0 { fraction.min(left).max(0) } else { fraction.max(left).min(0) };
        added += p;
        sizes.push((rs.clone(), current + p));
    }
    if added != to_add {
        if let Some(first) = sizes.first_mut() {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    sizes.into_iter().filter(|(rs, n)| spec_replicas(rs) != *n).collect()
}

async fn cleanup_if_complete(ctx: &Ctx, d: &Deployment, r: &Rollout) -> Result<(), kube_client::Error> {
    let status = progress::calculate_status(d, &r.all(), r.new_rs.as_deref(), Utc::now());
    if progress::is_complete(d, &status) {
        cleanup(ctx, d, r).await?;
    }
    Ok(())
}

/// Deletes the oldest empty old ReplicaSets beyond `revisionHistoryLimit`.
async fn cleanup(ctx: &Ctx, d: &Deployment, r: &Rollout) -> Result<(), kube_client::Error> {
    let limit = d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let mut empty: Vec<_> = r
        .old
        .iter()
        .filter(|rs| spec_replicas(rs) == 0 && rs.status.replicas == 0 && rs.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    if empty.len() <= limit {
        return Ok(());
    }
    empty.sort_by_key(|rs| util::revision(rs));
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
    for rs in &empty[..empty.len() - limit] {
        info!("Deleting old ReplicaSet {} of Deployment {} (revisionHistoryLimit {limit})", rs.metadata.name, d.metadata.name);
        match api.delete(&rs.metadata.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes the status if it changed; answers when to look again.
async fn sync_status(ctx: &Ctx, d: &Deployment, r: &Rollout, paused: bool) -> Result<Action, kube_client::Error> {
    let now = Utc::now();
    let mut status = progress::calculate_status(d, &r.all(), r.new_rs.as_deref(), now);
    let requeue = if paused {
        let c = progress::condition(progress::PROGRESSING, "Unknown", "DeploymentPaused", "Deployment is paused", now);
        progress::set_condition(&mut status, c);
        None
    } else {
        if progress::get_condition(&status, progress::PROGRESSING).is_some_and(|c| c.reason == "DeploymentPaused") {
            let c = progress::condition(progress::PROGRESSING, "Unknown", "DeploymentResumed", "Deployment is resumed", now);
            progress::set_condition(&mut status, c);
        }
        progress::sync_progress(d, &mut status, r.new_rs.as_deref(), now)
    };
    if !progress::same_status(&status, &d.status) {
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &d.metadata.namespace);
        match api.patch_status(&d.metadata.name, &PatchType::Merge, &progress::status_patch(&status)).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e),
        }
    }
    Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_api::apps::RollingUpdateDeployment;
    use kube_api::core::IntOrString;

    fn rs(name: &str, created: i64, replicas: i32, max: i32) -> Arc<ReplicaSet> {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = name.into();
        rs.metadata.creation_timestamp = Some(kube_api::meta::Time(chrono::DateTime::from_timestamp(created, 0).unwrap()));
        rs.spec.replicas = Some(replicas);
        rs.metadata.annotations.insert(MAX_REPLICAS.into(), max.to_string());
        Arc::new(rs)
    }

    #[test]
    fn scaling_mid_rollout_spreads_the_change_in_proportion() {
        let mut d = Deployment::default();
        d.spec.replicas = Some(20);
        d.spec.strategy.type_ = "RollingUpdate".into();
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: Some(IntOrString::Int(1)),
        });
        // Was 10 (old 6 + new 4); now 20: each doubles.
        let sizes = proportional_sizes(&d, &[rs("old", 1, 6, 10), rs("new", 2, 4, 10)]);
        let got: Vec<_> = sizes.iter().map(|(r, n)| (r.metadata.name.as_str(), *n)).collect();
        assert_eq!(got, [("old", 12), ("new", 8)]);
    }

    #[test]
    fn a_scaling_event_is_a_replicas_change_not_yet_seen_by_the_active_replica_sets() {
        let mut d = Deployment::default();
        d.spec.replicas = Some(4);
        let mut a = (*rs("a", 1, 2, 3)).clone();
        a.metadata.annotations.insert(DESIRED_REPLICAS.into(), "2".into());
        let r = Rollout { new_rs: Some(Arc::new(a.clone())), old: vec![] };
        assert!(is_scaling_event(&d, &r));
        a.metadata.annotations.insert(DESIRED_REPLICAS.into(), "4".into());
        let r = Rollout { new_rs: Some(Arc::new(a)), old: vec![] };
        assert!(!is_scaling_event(&d, &r));
    }
}
