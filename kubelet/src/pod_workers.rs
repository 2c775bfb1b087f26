//! The kubelet's control loop (upstream's `syncLoop`, PLEG relist and pod workers).
//!
//! - **Observes**: the desired pods of every source ([`PodConfig`]: static files now, the
//!   apiserver later) and the actual sandboxes and containers in the runtime
//!   ([`runtime_pods::relist`], once per second — upstream's PLEG relist period).
//! - **Key**: the pod UID. One worker per UID at most: a pod is never synced twice at once,
//!   and a slow pod (a long pull, a 30 s graceful stop) never holds up the others.
//! - **Compares**: for each desired pod, [`actions::compute`] says what is missing
//!   (sandbox, init container, containers to (re)start, old instances to remove). Pods the
//!   runtime runs that no source wants any more are to be killed.
//! - **Does**: hands non-empty actions to a worker task ([`sync_pod::sync_pod`]) or a kill
//!   ([`sync_pod::kill_pod`]: StopContainer with the grace period, RemoveContainer,
//!   StopPodSandbox, RemovePodSandbox, then the pod's volumes).
//! - **Status**: computes each pod's [`PodStatus`](kube_api::core::PodStatus)
//!   ([`status::compute`], with the probes' results from [`crate::prober`]), logs it when it
//!   changes and publishes the pods with their status in `Context::pods` (served on `/pods`);
//!   in API mode hands every status to the [status manager](crate::status_manager), which
//!   writes it to the apiserver.
//! - **Requeues**: never explicitly. It is level-triggered: every relist (1 s) or change
//!   of the desired set compares everything again, so a failed step is retried on the next
//!   pass and back-offs are waited out by comparing times, not by sleeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube_api::core::PodStatus;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::PodConfig;
use crate::sync_pod::{self, Context, Waiting};
use crate::{actions, runtime_pods, status};

/// How often the runtime is listed (upstream's PLEG `relistPeriod`).
pub const RELIST_PERIOD: Duration = Duration::from_secs(1);

/// The loop's memory between passes. All of it can be lost: a restarted kubelet rebuilds
/// it from the sources and the runtime (only back-off delays start again from 10 s).
#[derive(Default)]
struct LoopState {
    /// The running worker of each pod UID.
    workers: HashMap<String, JoinHandle<Waiting>>,
    /// What each pod's last sync could not do, by UID.
    waiting: HashMap<String, Waiting>,
    /// The last status computed for each desired pod, by UID.
    statuses: HashMap<String, PodStatus>,
}

/// Runs the loop until `shutdown` turns true. Running pods are left running on shutdown, as
/// upstream: a kubelet restart must not restart the node's workloads.
pub async fn run(ctx: Arc<Context>, config: PodConfig, mut shutdown: watch::Receiver<bool>) {
    let mut desired_changes = config.subscribe();
    let mut tick = tokio::time::interval(RELIST_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = LoopState::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = desired_changes.changed() => {}
            _ = shutdown.changed() => break,
        }
        collect_finished_workers(&mut state).await;
        let actual = match runtime_pods::relist(&ctx.cri).await {
            Ok(actual) => actual,
            Err(e) => {
                tracing::warn!("relisting the container runtime failed, retrying: {e}");
                continue;
            }
        };
        let desired = config.desired();
        tracing::debug!(desired = desired.len(), actual = actual.len(), "relisted");
        ctx.prober.sync(&desired, &actual);
        let probes = ctx.prober.results();

        for (uid, pod) in &desired {
            let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
            let mut waiting = state.waiting.get(uid).cloned().unwrap_or_default();
            if !state.workers.contains_key(uid) {
                let actions = {
                    let backoff = ctx.backoff.lock().unwrap_or_else(|e| e.into_inner());
                    actions::compute(pod, actual.get(uid), &backoff, &probes, SystemTime::now())
                };
                for (name, message) in &actions.back_off {
                    let entry = ("CrashLoopBackOff".to_string(), message.clone());
                    // One event per back-off (the message names its delay), not one per pass.
                    let shown = state.statuses.get(uid).and_then(|s| s.container_statuses.iter().find(|c| &c.name == name));
                    if shown.and_then(|c| c.state.waiting.as_ref()).map(|w| &w.message) != Some(message) {
                        let what = format!("Back-off restarting failed container {name} in pod {}", key.replace('/', "_"));
                        ctx.event(pod, kube_client::EventType::Warning, crate::recorder::BACK_OFF, &what);
                    }
                    waiting.insert(name.clone(), entry);
                }
                if !actions.is_empty() {
                    tracing::info!(pod = %key, "syncing pod: {}", describe(&actions));
                    let (ctx, pod, rt) = (ctx.clone(), pod.clone(), actual.get(uid).cloned());
                    let worker = tokio::spawn(async move { sync_pod::sync_pod(&ctx, &pod, rt, actions).await });
                    state.workers.insert(uid.clone(), worker);
                }
            }
            let new = status::compute(pod, actual.get(uid), &waiting, &probes, state.statuses.get(uid), &ctx.config.node_ip);
            if state.statuses.get(uid).map(without_times) != Some(without_times(&new)) {
                tracing::info!(pod = %key, "status: {}", status::summary(&new));
            }
            state.statuses.insert(uid.clone(), new);
        }

        // Until every source has reported, "not desired" may only mean "not read yet".
        let all_seen = config.all_sources_seen();
        for (uid, rt) in &actual {
            if !all_seen || desired.contains_key(uid) || state.workers.contains_key(uid) {
                continue;
            }
            // A pod deleted through the API: its deletion's grace period, and a last status.
            let deleting = ctx.api.as_ref().and_then(|api| api.deleting(&rt.namespace, &rt.name, uid));
            let grace = deleting.as_ref().and_then(|p| p.metadata.deletion_grace_period_seconds);
            match grace {
                Some(g) => tracing::info!(pod = %format!("{}/{}", rt.namespace, rt.name), "killing pod: deleted (grace period {g}s)"),
                None => tracing::info!(pod = %format!("{}/{}", rt.namespace, rt.name), "killing pod: no source wants it any more"),
            }
            let (ctx, rt) = (ctx.clone(), rt.clone());
            let worker = tokio::spawn(async move {
                let stopped = sync_pod::kill_pod(&ctx, &rt, grace).await;
                if let (Some(api), Some(pod)) = (&ctx.api, deleting) {
                    api.set_final_status(&rt.uid, status::final_status(&pod.status, &stopped));
                }
                Waiting::new()
            });
            state.workers.insert(uid.clone(), worker);
        }
        state.statuses.retain(|uid, _| desired.contains_key(uid));
        let published = desired
            .iter()
            .filter_map(|(uid, pod)| {
                let mut pod = pod.clone();
                pod.status = state.statuses.get(uid)?.clone();
                Some((uid.clone(), pod))
            })
            .collect();
        *ctx.pods.lock().unwrap_or_else(|e| e.into_inner()) = published;
        // API mode: the status manager writes what changed and deletes finished pods.
        if let Some(api) = &ctx.api {
            api.observe(&desired, &state.statuses, actual.keys().chain(state.workers.keys()).cloned().collect());
        }
        state.waiting.retain(|uid, _| desired.contains_key(uid) || state.workers.contains_key(uid));
    }
    tracing::info!("sync loop stopped; waiting for {} pod worker(s)", state.workers.len());
    for (_, worker) in state.workers.drain() {
        let _ = worker.await;
    }
}

async fn collect_finished_workers(state: &mut LoopState) {
    let done: Vec<String> = state.workers.iter().filter(|(_, w)| w.is_finished()).map(|(uid, _)| uid.clone()).collect();
    for uid in done {
        if let Some(worker) = state.workers.remove(&uid) {
            match worker.await {
                Ok(waiting) => {
                    state.waiting.insert(uid, waiting);
                }
                Err(e) => tracing::error!("pod worker for {uid} panicked: {e}"),
            }
        }
    }
}

/// Status equality ignoring timestamps that move on their own.
fn without_times(s: &PodStatus) -> PodStatus {
    let mut s = s.clone();
    s.start_time = None;
    for c in &mut s.conditions {
        c.last_transition_time = None;
    }
    s
}

fn describe(a: &actions::PodActions) -> String {
    let mut parts = Vec::new();
    if a.kill_pod {
        parts.push("kill the old sandbox".to_string());
    }
    if let Some(attempt) = a.create_sandbox {
        parts.push(format!("create sandbox (attempt {attempt})"));
    }
    if let Some(i) = a.start_init {
        parts.push(format!("start init container #{i}"));
    }
    if !a.start.is_empty() {
        parts.push(format!("start {} container(s)", a.start.len()));
    }
    for (_, _, why) in &a.kill {
        parts.push(why.clone());
    }
    if !a.remove.is_empty() {
        parts.push(format!("remove {} old container(s)", a.remove.len()));
    }
    parts.join(", ")
}
