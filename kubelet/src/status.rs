//! *Status*: a pod's `PodStatus` computed from what the runtime reports (upstream's
//! `generateAPIPodStatus` and `getPhase`). Standalone, the loop logs it when it changes;
//! in API mode the status manager will write it to the apiserver.
//!
//! - containerStatuses: the newest instance of each container gives `state` (running,
//!   terminated with exit code and reason, or waiting with the reason the last sync
//!   recorded: `CrashLoopBackOff`, `ErrImagePull`, ...), the one before gives `lastState`,
//!   its attempt number is `restartCount`. `ready` and `started` come from the probes
//!   ([`crate::prober`]); without probes, running means both.
//! - phase: `Pending` until every container has started (init containers included),
//!   `Succeeded`/`Failed` when all have terminated for good, `Running` otherwise.
//! - conditions: `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`.

use chrono::DateTime;
use kube_api::core::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    Pod, PodCondition, PodIp, PodStatus,
};
use kube_api::Time;

use crate::prober::Results;
use crate::runtime_pods::{self, RuntimePod, State};
use crate::sync_pod::Waiting;

fn time(nanos: i64) -> Option<Time> {
    (nanos > 0).then(|| Time(DateTime::from_timestamp_nanos(nanos)))
}

fn terminated(inst: &runtime_pods::Container) -> ContainerState {
    let reason = if !inst.reason.is_empty() { inst.reason.clone() } else if inst.exit_code == 0 { "Completed".into() } else { "Error".into() };
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: inst.exit_code,
            reason,
            message: inst.message.clone(),
            started_at: time(inst.started_at),
            finished_at: time(inst.finished_at),
            container_id: format!("containerd://{}", inst.id),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn waiting_state(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: reason.into(), message: message.into() }),
        ..Default::default()
    }
}

fn container_status(c: &Container, actual: &RuntimePod, waiting: &Waiting, probes: &Results, default_reason: &str) -> ContainerStatus {
    let instances = actual.instances(&c.name);
    let latest = instances.first().copied();
    let mut status = ContainerStatus { name: c.name.clone(), image: c.image.clone(), started: Some(false), ..Default::default() };
    if let Some(inst) = latest {
        status.restart_count = inst.attempt as i32;
        status.container_id = format!("containerd://{}", inst.id);
        status.image_id = inst.image_ref.clone();
    }
    let recorded = waiting.get(&c.name);
    status.state = match (latest, recorded) {
        (Some(inst), _) if inst.state == State::Running => {
            status.started = Some(probes.started(&inst.id, c));
            status.ready = probes.ready(&inst.id, c);
            ContainerState { running: Some(ContainerStateRunning { started_at: time(inst.started_at) }), ..Default::default() }
        }
        // Exited and waiting to restart: the wait is the state, the exit the last state.
        (Some(inst), Some((reason, message))) if inst.state == State::Exited => {
            status.last_state = terminated(inst);
            waiting_state(reason, message)
        }
        (Some(inst), None) if inst.state == State::Exited => terminated(inst),
        (_, Some((reason, message))) => waiting_state(reason, message),
        _ => waiting_state(default_reason, ""),
    };
    if status.last_state == ContainerState::default() {
        if let Some(previous) = instances.get(1) {
            status.last_state = terminated(previous);
        }
    }
    status
}

fn condition(type_: &str, ok: bool) -> PodCondition {
    PodCondition { type_: type_.into(), status: if ok { "True" } else { "False" }.into(), ..Default::default() }
}

/// The status of `pod` given what runs for it, the recorded waiting reasons, and the
/// previous status (whose `startTime` and transition times are kept).
pub fn compute(
    pod: &Pod,
    actual: Option<&RuntimePod>,
    waiting: &Waiting,
    probes: &Results,
    previous: Option<&PodStatus>,
    host_ip: &str,
) -> PodStatus {
    let empty = RuntimePod::default();
    let actual = actual.unwrap_or(&empty);
    let init: Vec<ContainerStatus> =
        pod.spec.init_containers.iter().map(|c| container_status(c, actual, waiting, probes, "PodInitializing")).collect();
    let initialized = init.iter().all(|s| s.state.terminated.as_ref().is_some_and(|t| t.exit_code == 0));
    let default_reason = if initialized { "ContainerCreating" } else { "PodInitializing" };
    let containers: Vec<ContainerStatus> =
        pod.spec.containers.iter().map(|c| container_status(c, actual, waiting, probes, default_reason)).collect();

    let ready = !containers.is_empty() && containers.iter().all(|s| s.ready);
    let mut status = PodStatus {
        phase: phase(pod, initialized, &containers).into(),
        conditions: vec![
            condition("PodScheduled", true),
            condition("Initialized", initialized),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ],
        host_ip: host_ip.into(),
        init_container_statuses: init,
        container_statuses: containers,
        start_time: previous.and_then(|p| p.start_time).or_else(|| Some(Time::now())),
        qos_class: pod.status.qos_class.clone(),
        ..Default::default()
    };
    if !host_ip.is_empty() {
        status.host_ips = vec![PodIp { ip: host_ip.into() }];
    }
    if let Some(s) = actual.latest_sandbox().filter(|s| s.ready && !s.ip.is_empty()) {
        status.pod_ip = s.ip.clone();
        status.pod_ips = vec![PodIp { ip: s.ip.clone() }];
    }
    // A condition's lastTransitionTime changes only when its status does.
    for c in &mut status.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_));
        c.last_transition_time = match before {
            Some(b) if b.status == c.status => b.last_transition_time,
            _ => Some(Time::now()),
        };
    }
    status
}

/// Upstream's `getPhase`, for the app containers once init containers are done.
fn phase(pod: &Pod, initialized: bool, containers: &[ContainerStatus]) -> &'static str {
    if !initialized {
        return "Pending";
    }
    let running = containers.iter().filter(|s| s.state.running.is_some()).count();
    let terminated: Vec<_> = containers.iter().filter_map(|s| s.state.terminated.as_ref()).collect();
    let waiting_after_run = containers.iter().filter(|s| s.state.waiting.is_some() && s.last_state.terminated.is_some()).count();
    let never_ran = containers.len() - running - terminated.len() - waiting_after_run;
    if never_ran > 0 {
        return "Pending";
    }
    if running > 0 || waiting_after_run > 0 {
        return "Running";
    }
    let failed = terminated.iter().any(|t| t.exit_code != 0);
    match pod.spec.restart_policy.as_str() {
        "Always" => "Running",
        "OnFailure" if failed => "Running",
        _ if failed => "Failed",
        _ => "Succeeded",
    }
}

/// The last status of a pod whose containers the kubelet just stopped because it is being
/// deleted (upstream's final status before the object goes): every container terminated,
/// with the exit code the runtime reported after the stop (`stopped`, read before the
/// containers were removed), not ready; the phase `Succeeded` if all exited 0, else
/// `Failed`.
pub fn final_status(last: &PodStatus, stopped: &RuntimePod) -> PodStatus {
    let mut status = last.clone();
    for s in status.init_container_statuses.iter_mut().chain(status.container_statuses.iter_mut()) {
        if let Some(inst) = stopped.latest(&s.name) {
            s.state = terminated(inst);
        }
        s.ready = false;
        s.started = Some(false);
    }
    for c in &mut status.conditions {
        if c.type_ == "Ready" || c.type_ == "ContainersReady" {
            c.status = "False".into();
            c.reason = "PodCompleted".into();
        }
    }
    let failed = status.container_statuses.iter().any(|s| s.state.terminated.as_ref().is_none_or(|t| t.exit_code != 0));
    status.phase = if failed { "Failed" } else { "Succeeded" }.into();
    status
}

/// One line for the log: `Running 2/2 ready` plus each container's state.
pub fn summary(status: &PodStatus) -> String {
    let ready = status.container_statuses.iter().filter(|s| s.ready).count();
    let states: Vec<String> = status
        .init_container_statuses
        .iter()
        .chain(&status.container_statuses)
        .map(|s| {
            let state = match (&s.state.waiting, &s.state.running, &s.state.terminated) {
                (Some(w), _, _) => format!("waiting ({})", w.reason),
                (_, Some(_), _) => "running".to_string(),
                (_, _, Some(t)) => format!("terminated ({}, exit code {})", t.reason, t.exit_code),
                _ => "unknown".to_string(),
            };
            format!("{}: {state}, restarts {}", s.name, s.restart_count)
        })
        .collect();
    format!("{} {ready}/{} ready, podIP {:?}; {}", status.phase, status.container_statuses.len(), status.pod_ip, states.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_pods::Sandbox;

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"uid": "u"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}]}
        }))
        .unwrap()
    }

    fn with(state: State, exit_code: i32, attempt: u32) -> RuntimePod {
        RuntimePod {
            sandboxes: vec![Sandbox { id: "s".into(), ready: true, ip: "10.88.0.2".into(), ..Default::default() }],
            containers: vec![runtime_pods::Container { id: "c".into(), name: "a".into(), state, exit_code, attempt, ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn phases_follow_the_containers_and_the_restart_policy() {
        let w = Waiting::new();
        let cases = [
            ("Always", None, "Pending"),
            ("Always", Some((State::Running, 0)), "Running"),
            ("Never", Some((State::Exited, 0)), "Succeeded"),
            ("Never", Some((State::Exited, 2)), "Failed"),
            ("OnFailure", Some((State::Exited, 0)), "Succeeded"),
        ];
        for (policy, state, want) in cases {
            let rt = state.map(|(s, code)| with(s, code, 0));
            let status = compute(&pod(policy), rt.as_ref(), &w, &Results::default(), None, "");
            assert_eq!(status.phase, want, "{policy} {state:?}");
        }
    }

    #[test]
    fn a_crash_looping_container_is_waiting_with_its_last_exit_as_last_state() {
        let rt = with(State::Exited, 1, 3);
        let w = Waiting::from([("a".to_string(), ("CrashLoopBackOff".to_string(), "back-off 40s".to_string()))]);
        let status = compute(&pod("Always"), Some(&rt), &w, &Results::default(), None, "");
        let s = &status.container_statuses[0];
        assert_eq!(s.state.waiting.as_ref().unwrap().reason, "CrashLoopBackOff");
        assert_eq!(s.last_state.terminated.as_ref().unwrap().exit_code, 1);
        assert_eq!(s.restart_count, 3);
        assert_eq!(status.phase, "Running");
    }

    #[test]
    fn a_running_pod_is_ready_and_has_its_sandboxes_ip() {
        let status = compute(&pod("Always"), Some(&with(State::Running, 0, 0)), &Waiting::new(), &Results::default(), None, "");
        assert_eq!(status.pod_ip, "10.88.0.2");
        assert!(status.conditions.iter().all(|c| c.status == "True"));
    }
}
