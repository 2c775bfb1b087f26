//! The Pod row: upstream's `printPod`, the most intricate printer. It condenses the pod's
//! phase, its init containers and its containers into one STATUS word, as a user expects to
//! read it:
//!
//! 1. start from `status.reason`, else `status.phase` (`SchedulingGated` wins when the
//!    PodScheduled condition says so);
//! 2. walk the init containers in order: the first one not done yet decides
//!    (`Init:ExitCode:1`, `Init:Signal:9`, `Init:CrashLoopBackOff`, `Init:0/2`);
//! 3. once initialized, walk the containers from last to first: a waiting reason
//!    (`ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`), a terminated reason
//!    (`Completed`, `Error`, `OOMKilled`) or `Signal:N`/`ExitCode:N` overrides, so the first
//!    container with something to say wins; `Completed` with a container still running turns
//!    back into `Running` (or `NotReady`);
//! 4. a pod being deleted shows `Terminating` (or `Unknown` if its node was lost).
//!
//! Sidecars (init containers with `restartPolicy: Always`) count as containers for READY
//! and RESTARTS once they have started.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::duration;
use super::json::{arr, int, str_, time};

/// The cells of a Pod row: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node,
/// Readiness Gates.
pub(super) fn cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let summary = summarize(pod);
    let restarts = if summary.restarts != 0 && summary.last_restart.is_some() {
        format!("{} ({} ago)", summary.restarts, duration::since(summary.last_restart, now))
    } else {
        summary.restarts.to_string()
    };

    // `status.podIPs[0]`; a v1 object that only has `status.podIP` converts to the same list.
    let mut pod_ip = str_(pod, "/status/podIPs/0/ip");
    if pod_ip.is_empty() {
        pod_ip = str_(pod, "/status/podIP");
    }

    vec![
        json!(str_(pod, "/metadata/name")),
        json!(format!("{}/{}", summary.ready, summary.total)),
        json!(summary.reason),
        json!(restarts),
        json!(duration::since(time(pod, "/metadata/creationTimestamp"), now)),
        json!(or_none(pod_ip)),
        json!(or_none(str_(pod, "/spec/nodeName"))),
        json!(or_none(str_(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates(pod)),
    ]
}

/// The STATUS word alone (what `printPod` computes as `reason`).
pub fn pod_status(pod: &Value) -> String {
    summarize(pod).reason
}

/// What `printPod` derives from a pod before formatting it.
struct Summary {
    reason: String,
    ready: usize,
    total: usize,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

fn summarize(pod: &Value) -> Summary {
    let phase = str_(pod, "/status/phase");
    let mut reason = match str_(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let conditions = arr(pod, "/status/conditions");
    if conditions.iter().any(|c| str_(c, "/type") == "PodScheduled" && str_(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".to_string();
    }

    let init_specs = arr(pod, "/spec/initContainers");
    let is_sidecar =
        |name: &str| init_specs.iter().any(|c| str_(c, "/name") == name && str_(c, "/restartPolicy") == "Always");
    let total = arr(pod, "/spec/containers").len()
        + init_specs.iter().filter(|c| str_(c, "/restartPolicy") == "Always").count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut sidecar_restarts = 0;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let mut initializing = false;
    for (i, status) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(status, "/restartCount");
        let finished = time(status, "/lastState/terminated/finishedAt");
        restarts += count;
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(str_(status, "/name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }

        let terminated = status.pointer("/state/terminated");
        let waiting_reason = str_(status, "/state/waiting/reason");
        if terminated.is_some() && int(status, "/state/terminated/exitCode") == 0 {
            continue;
        } else if sidecar && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        } else if let Some(t) = terminated {
            reason = match str_(t, "/reason") {
                "" => match int(t, "/signal") {
                    0 => format!("Init:ExitCode:{}", int(t, "/exitCode")),
                    signal => format!("Init:Signal:{signal}"),
                },
                r => format!("Init:{r}"),
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions.iter().any(|c| str_(c, "/type") == "Initialized" && str_(c, "/status") == "True");
    if !initializing || initialized {
        // Init containers that ran to completion no longer count; sidecars still do.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            last_restart = later(last_restart, time(status, "/lastState/terminated/finishedAt"));
            let waiting_reason = str_(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match str_(t, "/reason") {
                    "" => match int(t, "/signal") {
                        0 => format!("ExitCode:{}", int(t, "/exitCode")),
                        signal => format!("Signal:{signal}"),
                    },
                    r => r.to_string(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed while another still runs is not "Completed".
        if reason == "Completed" && has_running {
            let pod_ready = conditions.iter().any(|c| str_(c, "/type") == "Ready" && str_(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        if str_(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    Summary { reason, ready, total, restarts, last_restart }
}

/// `2/3`: how many of the pod's readiness gates have their condition `True`; `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = arr(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = arr(pod, "/status/conditions");
    let true_gates = gates
        .iter()
        .filter(|gate| {
            let wanted = str_(gate, "/conditionType");
            conditions.iter().find(|c| str_(c, "/type") == wanted).is_some_and(|c| str_(c, "/status") == "True")
        })
        .count();
    format!("{}/{}", true_gates, gates.len())
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}
