//! The Job controller: run pods until enough of them succeed — upstream's
//! `pkg/controller/job` (NonIndexed completion mode).
//!
//! - **Observes**: Jobs; Pods (a change wakes its controlling Job).
//! - **Key**: `namespace/name` of the Job.
//! - **Desired**: until `completions` pods have succeeded (or, without `completions`, one
//!   has), `min(parallelism, completions - succeeded)` pods active; once finished, none.
//!   More than `backoffLimit` failures (failed pods, plus container restarts under
//!   `restartPolicy: OnFailure`) or running past `activeDeadlineSeconds` fail the Job.
//! - **Actual**: its pods: active, succeeded, failed.
//! - **Does**: creates missing pods (after a back-off of 10 s × 2^(failures−1) once pods
//!   failed, at most 6 min), deletes surplus or leftover active pods, with expectations
//!   as the ReplicaSet controller. Events: `SuccessfulCreate`, `SuccessfulDelete`,
//!   `Completed`, `BackoffLimitExceeded`, `DeadlineExceeded`.
//! - **Status**: `active`, `ready`, `succeeded`, `failed`, `startTime`,
//!   `completionTime`, the `Complete` or `Failed` condition.
//! - **Requeues**: on errors; when the back-off or the active deadline ends.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kube_api::batch::{Job, JobCondition, JobStatus};
use kube_api::core::Pod;
use kube_api::meta::Time;
use kube_client::handlers::owner_keys;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, EventType, Expectations, PatchType, Recorder, Store, WorkQueue};
use serde_json::json;
use tracing::info;

use super::pod_control::{self, is_pod_ready};
use crate::ControllerContext;

struct Ctx {
    jobs: Store<Job>,
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
    expectations: Arc<Expectations>,
}

/// The `job` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let jobs = cc.informer::<Job>();
    let pods = cc.pods();
    let queue = WorkQueue::new();
    let expectations = Arc::new(Expectations::new());
    jobs.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    pods.add_handler({
        let (queue, expectations) = (queue.clone(), expectations.clone());
        move |change: &Change<Pod>| {
            let pod = change.object();
            for key in owner_keys(pod.as_ref(), "Job") {
                match change {
                    Change::Added(_) => expectations.creation_observed(&key),
                    Change::Updated { old, new } if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() => expectations.deletion_observed(&key),
                    Change::Deleted(p) if p.metadata.deletion_timestamp.is_none() => expectations.deletion_observed(&key),
                    _ => {}
                }
                queue.add(key);
            }
        }
    });
    let ctx = Arc::new(Ctx { jobs: jobs.store(), pods: pods.store(), client: cc.client.clone(), recorder: cc.recorder("job-controller"), expectations });
    let controller = Controller::new("job", queue).workers(5).wait_for(jobs.synced()).wait_for(pods.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// What the pods of a Job add up to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: usize,
    pub ready: usize,
    pub succeeded: i32,
    /// Failed pods, plus container restarts when `restartPolicy: OnFailure`.
    pub failed: i32,
    pub last_failure: Option<DateTime<Utc>>,
}

pub fn count(job: &Job, pods: &[Arc<Pod>]) -> Counts {
    let on_failure = job.spec.template.spec.restart_policy == "OnFailure";
    let mut c = Counts::default();
    for p in pods {
        match p.status.phase.as_str() {
            "Succeeded" => c.succeeded += 1,
            "Failed" => {
                c.failed += 1;
                let finished = p.status.container_statuses.iter().filter_map(|s| s.state.terminated.as_ref()?.finished_at.map(|t| t.0)).max();
                let at = finished.or(p.metadata.creation_timestamp.map(|t| t.0));
                c.last_failure = c.last_failure.max(at);
            }
            _ if p.metadata.deletion_timestamp.is_none() => {
                c.active += 1;
                c.ready += usize::from(is_pod_ready(p));
                if on_failure {
                    c.failed += p.status.container_statuses.iter().map(|s| s.restart_count).sum::<i32>();
                }
            }
            _ => {}
        }
    }
    c
}

/// What the Job should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Finished: (condition type, reason, message).
    Finish(&'static str, &'static str, String),
    /// Create this many pods (after waiting this long, if any).
    Create(usize, Duration),
    /// Delete this many active pods.
    Delete(usize),
    Nothing,
}

/// Upstream's `syncJob` decision for NonIndexed jobs.
pub fn decide(job: &Job, c: &Counts, now: DateTime<Utc>) -> Step {
    let parallelism = job.spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = job.spec.backoff_limit.unwrap_or(6);
    let started = job.status.start_time.map(|t| t.0).unwrap_or(now);
    match job.spec.completions {
        Some(n) if c.succeeded >= n => return Step::Finish("Complete", "Completed", "Job completed".into()),
        None if c.succeeded > 0 && c.active == 0 => return Step::Finish("Complete", "Completed", "Job completed".into()),
        _ => {}
    }
    if c.failed > backoff_limit {
        return Step::Finish("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit".into());
    }
    if let Some(d) = job.spec.active_deadline_seconds {
        if started + chrono::Duration::seconds(d) <= now {
            return Step::Finish("Failed", "DeadlineExceeded", "Job was active longer than specified deadline".into());
        }
    }
    let wanted = match job.spec.completions {
        Some(n) => parallelism.min(n - c.succeeded).max(0),
        None if c.succeeded > 0 => c.active as i32, // one succeeded: let the others finish, start no more
        None => parallelism,
    } as usize;
    if c.active < wanted {
        let delay = match (c.failed, c.last_failure) {
            (0, _) | (_, None) => Duration::ZERO,
            (f, Some(at)) => {
                let backoff = Duration::from_secs(10).saturating_mul(1 << (f - 1).clamp(0, 6) as u32).min(Duration::from_secs(360));
                let elapsed = (now - at).to_std().unwrap_or_default();
                backoff.saturating_sub(elapsed)
            }
        };
        Step::Create((wanted - c.active).min(pod_control::BURST_REPLICAS), delay)
    } else if c.active > wanted {
        Step::Delete(c.active - wanted)
    } else {
        Step::Nothing
    }
}

fn finished(job: &Job) -> bool {
    job.status.conditions.iter().any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let Some(job) = ctx.jobs.get(&key) else {
        ctx.expectations.delete(&key);
        return Ok(Action::Done);
    };
    let ns = job.metadata.namespace.clone();
    let pods: Vec<Arc<Pod>> = ctx.pods.by_index("ownerUID", &job.metadata.uid).into_iter().filter(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == job.metadata.uid)).collect();
    let counts = count(&job, &pods);
    let now = Utc::now();
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut status = JobStatus {
        start_time: job.status.start_time.or(Some(Time(now))),
        completion_time: job.status.completion_time,
        conditions: job.status.conditions.clone(),
        ..Default::default()
    };
    let mut requeue = None;
    let mut active = counts.active;
    if !finished(&job) && ctx.expectations.satisfied(&key) && !job.spec.suspend.unwrap_or(false) {
        match decide(&job, &counts, now) {
            Step::Finish(type_, reason, message) => {
                for p in pods.iter().filter(|p| pod_control::is_pod_active(p)) {
                    let _ = pod_api.delete(&p.metadata.name, &DeleteParams::background()).await;
                }
                active = 0;
                info!("Job {key}: {type_} ({reason})");
                let t = if type_ == "Complete" { EventType::Normal } else { EventType::Warning };
                ctx.recorder.record(job.as_ref(), t, reason, &message);
                if type_ == "Complete" {
                    status.completion_time = Some(Time(now));
                }
                status.conditions.push(JobCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    last_probe_time: Some(Time(now)),
                    last_transition_time: Some(Time(now)),
                    reason: reason.into(),
                    message,
                });
            }
            Step::Create(_, delay) if !delay.is_zero() => requeue = Some(delay),
            Step::Create(n, _) => {
                ctx.expectations.expect_creations(&key, n);
                let mut pod = pod_control::pod_from_template(job.as_ref(), &job.spec.template);
                pod.metadata.labels.insert(kube_api::batch::JOB_NAME_LABEL.into(), job.metadata.name.clone());
                pod.metadata.labels.insert("job-name".into(), job.metadata.name.clone());
                let (ok, _, err) = pod_control::slow_start_batch(n, 1, || async {
                    let created = pod_api.create(&pod).await?;
                    ctx.recorder.record(job.as_ref(), EventType::Normal, "SuccessfulCreate", &format!("Created pod: {}", created.metadata.name));
                    Ok::<_, kube_client::Error>(())
                })
                .await;
                for _ in ok..n {
                    ctx.expectations.creation_observed(&key);
                }
                active += ok;
                if let Some(e) = err {
                    return Err(e);
                }
            }
            Step::Delete(n) => {
                let mut victims: Vec<_> = pods.iter().filter(|p| pod_control::is_pod_active(p)).cloned().collect();
                pod_control::sort_for_deletion(&mut victims, &[]);
                victims.truncate(n);
                ctx.expectations.expect_deletions(&key, victims.len());
                for p in victims {
                    if pod_api.delete(&p.metadata.name, &DeleteParams::background()).await.is_err() {
                        ctx.expectations.deletion_observed(&key);
                    }
                    active -= 1;
                }
            }
            Step::Nothing => {}
        }
        if let Some(d) = job.spec.active_deadline_seconds {
            let started = status.start_time.map(|t| t.0).unwrap_or(now);
            let left = (started + chrono::Duration::seconds(d) - now).to_std().unwrap_or_default();
            requeue = Some(requeue.map_or(left, |r: Duration| r.min(left)));
        }
    }
    status.active = Some(active as i32);
    status.ready = Some(counts.ready as i32);
    status.succeeded = Some(counts.succeeded.max(job.status.succeeded.unwrap_or(0)));
    status.failed = Some(counts.failed.max(job.status.failed.unwrap_or(0)));
    let same = status.active == job.status.active.or(Some(0))
        && status.ready == job.status.ready.or(Some(0))
        && status.succeeded == job.status.succeeded.or(Some(0))
        && status.failed == job.status.failed.or(Some(0))
        && status.start_time == job.status.start_time
        && status.conditions.len() == job.status.conditions.len();
    if !same {
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"status": {
            "active": status.active, "ready": status.ready, "succeeded": status.succeeded, "failed": status.failed,
            "startTime": status.start_time, "completionTime": status.completion_time, "conditions": status.conditions,
        }});
        match api.patch_status(&job.metadata.name, &PatchType::Merge, &patch).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e),
        }
    }
    Ok(requeue.map_or(Action::Done, |d| Action::RequeueAfter(d + Duration::from_millis(50))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(completions: Option<i32>, parallelism: i32, backoff: i32) -> Job {
        let mut j = Job::default();
        j.spec.completions = completions;
        j.spec.parallelism = Some(parallelism);
        j.spec.backoff_limit = Some(backoff);
        j
    }

    fn counts(active: usize, succeeded: i32, failed: i32) -> Counts {
        Counts { active, succeeded, failed, ..Default::default() }
    }

    #[test]
    fn runs_parallelism_pods_but_never_more_than_the_completions_left() {
        let now = Utc::now();
        assert_eq!(decide(&job(Some(5), 2, 6), &counts(0, 0, 0), now), Step::Create(2, Duration::ZERO));
        assert_eq!(decide(&job(Some(5), 2, 6), &counts(1, 4, 0), now), Step::Nothing);
        assert_eq!(decide(&job(Some(5), 3, 6), &counts(3, 3, 0), now), Step::Delete(1));
        assert!(matches!(decide(&job(Some(5), 2, 6), &counts(0, 5, 0), now), Step::Finish("Complete", ..)));
    }

    #[test]
    fn failures_beyond_the_backoff_limit_fail_the_job_and_retries_back_off() {
        let now = Utc::now();
        assert!(matches!(decide(&job(Some(1), 1, 1), &counts(0, 0, 2), now), Step::Finish("Failed", "BackoffLimitExceeded", _)));
        let mut c = counts(0, 0, 1);
        c.last_failure = Some(now - chrono::Duration::seconds(4));
        assert_eq!(decide(&job(Some(1), 1, 3), &c, now), Step::Create(1, Duration::from_secs(6)));
    }

    #[test]
    fn without_completions_one_success_finishes_the_job_once_the_others_stop() {
        let now = Utc::now();
        assert_eq!(decide(&job(None, 2, 6), &counts(1, 1, 0), now), Step::Nothing);
        assert!(matches!(decide(&job(None, 2, 6), &counts(0, 1, 0), now), Step::Finish("Complete", ..)));
    }
}
