//! *Compare*: what must happen to bring one pod's actual state to its desired state
//! (upstream's `computePodActions`). A pure function of the pod, what the runtime runs for
//! it, the back-off and the time — so every rule below has a table of tests.
//!
//! The rules, in order:
//! 1. No ready sandbox → kill whatever is left of the pod and create a new sandbox
//!    (attempt + 1); all containers start again from the first init container.
//! 2. Init containers run one at a time, in order. The first one that has not succeeded
//!    is started (or waited for while it runs, or restarted after a failure unless
//!    `restartPolicy: Never`, in which case the pod has failed). Nothing else starts
//!    before all succeeded.
//! 3. Each app container with no instance is started. One that exited is restarted when
//!    `restartPolicy` says so (`Always`; `OnFailure` and exit code ≠ 0) — unless it is in
//!    back-off, which makes its status `CrashLoopBackOff`.
//!    A running container whose liveness (or startup) probe failed is killed, and started
//!    again unless `restartPolicy: Never` (upstream restarts it in the same sync). A
//!    running container whose spec changed (its hash annotation differs from the spec's:
//!    `kubectl set image`) is killed and started again whatever the policy.
//! 4. Exited instances are removed but one: the newest instance if it exited, else the
//!    one before it (upstream keeps one dead container per container, for
//!    `kubectl logs --previous` and the `lastState`; so do we).

use std::time::SystemTime;

use kube_api::core::{Container, Pod};

use crate::backoff::Backoff;
use crate::prober::Results;
use crate::runtime_pods::{RuntimePod, State};

/// What to do for one pod. `PodActions::default()` means: nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodActions {
    /// Stop and remove every container and sandbox of the pod first.
    pub kill_pod: bool,
    /// Create a new sandbox with this attempt number.
    pub create_sandbox: Option<u32>,
    /// The ready sandbox to create containers in (when not creating one).
    pub sandbox_id: Option<String>,
    /// Index into `spec.initContainers` of the one to start.
    pub start_init: Option<usize>,
    /// Indexes into `spec.containers` of those to (re)start.
    pub start: Vec<usize>,
    /// Old instances to remove, by container id.
    pub remove: Vec<String>,
    /// Running instances to stop first (failed liveness/startup probe): (id, name, why).
    pub kill: Vec<(String, String, String)>,
    /// Containers that wait for their back-off: name → message.
    pub back_off: Vec<(String, String)>,
}

impl PodActions {
    /// Nothing to do (waiting out a back-off is not doing anything).
    pub fn is_empty(&self) -> bool {
        !self.kill_pod
            && self.create_sandbox.is_none()
            && self.start_init.is_none()
            && self.start.is_empty()
            && self.remove.is_empty()
            && self.kill.is_empty()
    }
}

/// The back-off key of a container of a pod.
pub fn backoff_key(pod: &Pod, container: &str) -> String {
    format!("{}/{container}", pod.metadata.uid)
}

/// Compares `pod` with `actual` and says what to do.
pub fn compute(pod: &Pod, actual: Option<&RuntimePod>, backoff: &Backoff, probes: &Results, now: SystemTime) -> PodActions {
    let mut actions = PodActions::default();
    let empty = RuntimePod::default();
    let actual = actual.unwrap_or(&empty);

    // 1. The sandbox.
    let sandbox = actual.latest_sandbox();
    match sandbox {
        Some(s) if s.ready => actions.sandbox_id = Some(s.id.clone()),
        _ => {
            actions.kill_pod = !actual.sandboxes.is_empty() || !actual.containers.is_empty();
            actions.create_sandbox = Some(sandbox.map(|s| s.attempt + 1).unwrap_or(0));
            if pod.spec.init_containers.is_empty() {
                actions.start = (0..pod.spec.containers.len()).collect();
            } else {
                actions.start_init = Some(0);
            }
            return actions;
        }
    }
    let policy = pod.spec.restart_policy.as_str();

    // 2. Init containers, in order.
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        match actual.latest(&c.name) {
            None => {
                actions.start_init = Some(i);
                break;
            }
            Some(inst) if inst.state == State::Exited && inst.exit_code == 0 => continue,
            Some(inst) if inst.state == State::Exited => {
                if policy != "Never" {
                    restart_or_back_off(pod, c, inst.finished(), backoff, now, &mut actions, |a| a.start_init = Some(i));
                }
                break;
            }
            // Created, running or unknown: wait for it.
            Some(_) => break,
        }
    }
    let init_done = pod.spec.init_containers.iter().all(|c| {
        actual.latest(&c.name).is_some_and(|inst| inst.state == State::Exited && inst.exit_code == 0)
    });

    // 3. App containers.
    if init_done {
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let Some(inst) = actual.latest(&c.name) else {
                actions.start.push(i);
                continue;
            };
            let restart = match (inst.state, policy) {
                (State::Exited, "Always") => true,
                (State::Exited, "OnFailure") => inst.exit_code != 0,
                // Created but never started (the kubelet died in between) or lost: replace.
                (State::Created | State::Unknown, _) => true,
                (State::Running, _) if !inst.hash.is_empty() && inst.hash != crate::container::hash(c) => {
                    let why = format!("Container {} definition changed, will be restarted", c.name);
                    actions.kill.push((inst.id.clone(), c.name.clone(), why));
                    actions.start.push(i);
                    false
                }
                (State::Running, _) => match probes.unhealthy(&inst.id, c) {
                    Some(kind) => {
                        let why = format!("Container {} failed {} probe, will be restarted", c.name, kind.name().to_lowercase());
                        actions.kill.push((inst.id.clone(), c.name.clone(), why));
                        if policy != "Never" {
                            actions.start.push(i);
                        }
                        false
                    }
                    None => false,
                },
                _ => false,
            };
            if restart {
                restart_or_back_off(pod, c, inst.finished(), backoff, now, &mut actions, |a| a.start.push(i));
            }
        }
    }

    // 4. Old instances.
    for c in pod.spec.all_containers() {
        let instances = actual.instances(&c.name);
        // One dead instance is kept (upstream's MaxPerPodContainer = 1): the newest itself if
        // it exited, else the one before it — what `--previous` and `lastState` show.
        let keep_dead = usize::from(instances.first().is_some_and(|i| i.state != State::Exited));
        let older_dead = instances.into_iter().skip(1).filter(|i| i.state == State::Exited);
        actions.remove.extend(older_dead.skip(keep_dead).map(|old| old.id.clone()));
    }
    actions
}

fn restart_or_back_off(
    pod: &Pod,
    c: &Container,
    finished: SystemTime,
    backoff: &Backoff,
    now: SystemTime,
    actions: &mut PodActions,
    start: impl FnOnce(&mut PodActions),
) {
    match backoff.in_backoff_since(&backoff_key(pod, &c.name), finished, now) {
        Some(delay) => actions.back_off.push((
            c.name.clone(),
            format!(
                "back-off {}s restarting failed container={} pod={}_{}({})",
                delay.as_secs(),
                c.name,
                pod.metadata.name,
                pod.metadata.namespace,
                pod.metadata.uid
            ),
        )),
        None => start(actions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_pods::{Container as Inst, Sandbox};
    use std::time::Duration;

    fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
        let c = |n: &&str| serde_json::json!({"name": n, "image": "busybox"});
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {
                "restartPolicy": policy,
                "initContainers": init.iter().map(c).collect::<Vec<_>>(),
                "containers": containers.iter().map(c).collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    }

    fn ready() -> RuntimePod {
        RuntimePod { sandboxes: vec![Sandbox { id: "s1".into(), ready: true, ..Default::default() }], ..Default::default() }
    }

    fn inst(name: &str, attempt: u32, state: State, exit_code: i32) -> Inst {
        Inst { id: format!("{name}-{attempt}"), name: name.into(), attempt, state, exit_code, ..Default::default() }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000)
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_and_all_its_containers() {
        let a = compute(&pod("Always", &[], &["a", "b"]), None, &Backoff::default(), &Results::default(), now());
        assert_eq!(a, PodActions { create_sandbox: Some(0), start: vec![0, 1], ..Default::default() });
    }

    #[test]
    fn a_dead_sandbox_is_killed_and_replaced_with_the_next_attempt() {
        let mut rt = ready();
        rt.sandboxes[0].ready = false;
        rt.sandboxes[0].attempt = 2;
        rt.containers.push(inst("a", 0, State::Running, 0));
        let a = compute(&pod("Always", &[], &["a"]), Some(&rt), &Backoff::default(), &Results::default(), now());
        assert!(a.kill_pod);
        assert_eq!(a.create_sandbox, Some(3));
    }

    #[test]
    fn init_containers_run_one_at_a_time_before_the_others() {
        let p = pod("Always", &["i1", "i2"], &["a"]);
        let b = Backoff::default();
        assert_eq!(compute(&p, None, &b, &Results::default(), now()).start_init, Some(0));
        let mut rt = ready();
        rt.containers.push(inst("i1", 0, State::Running, 0));
        assert!(compute(&p, Some(&rt), &b, &Results::default(), now()).is_empty(), "wait for i1");
        rt.containers[0].state = State::Exited;
        let a = compute(&p, Some(&rt), &b, &Results::default(), now());
        assert_eq!((a.start_init, a.start.clone()), (Some(1), vec![]));
        rt.containers.push(inst("i2", 0, State::Exited, 0));
        assert_eq!(compute(&p, Some(&rt), &b, &Results::default(), now()).start, vec![0]);
    }

    #[test]
    fn a_failed_init_container_is_retried_unless_the_policy_is_never() {
        let mut rt = ready();
        rt.containers.push(inst("i1", 0, State::Exited, 1));
        let b = Backoff::default();
        assert_eq!(compute(&pod("Always", &["i1"], &["a"]), Some(&rt), &b, &Results::default(), now()).start_init, Some(0));
        assert!(compute(&pod("Never", &["i1"], &["a"]), Some(&rt), &b, &Results::default(), now()).is_empty());
    }

    #[test]
    fn exited_containers_restart_according_to_the_restart_policy() {
        let cases = [
            ("Always", 0, true),
            ("Always", 1, true),
            ("OnFailure", 0, false),
            ("OnFailure", 1, true),
            ("Never", 1, false),
        ];
        for (policy, code, restarts) in cases {
            let mut rt = ready();
            rt.containers.push(inst("a", 0, State::Exited, code));
            let a = compute(&pod(policy, &[], &["a"]), Some(&rt), &Backoff::default(), &Results::default(), now());
            assert_eq!(!a.start.is_empty(), restarts, "{policy} exit {code}");
        }
    }

    #[test]
    fn a_container_in_back_off_waits_with_a_crash_loop_message() {
        let p = pod("Always", &[], &["a"]);
        let mut rt = ready();
        let mut exited = inst("a", 3, State::Exited, 1);
        exited.finished_at = (now() - Duration::from_secs(2)).duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i64;
        rt.containers.push(exited);
        let mut b = Backoff::default();
        b.next("u/a", now() - Duration::from_secs(3));
        let a = compute(&p, Some(&rt), &b, &Results::default(), now());
        assert!(a.start.is_empty());
        assert!(a.back_off[0].1.starts_with("back-off 10s restarting failed container=a pod=p_default(u)"));
        assert!(compute(&p, Some(&rt), &b, &Results::default(), now() + Duration::from_secs(9)).start == vec![0]);
    }

    #[test]
    fn a_container_failing_its_liveness_probe_is_killed_and_restarted_unless_never() {
        let mut rt = ready();
        rt.containers.push(inst("a", 0, State::Running, 0));
        let mut p = pod("Always", &[], &["a"]);
        p.spec.containers[0].liveness_probe = Some(Default::default());
        let mut probes = Results::default();
        assert!(compute(&p, Some(&rt), &Backoff::default(), &probes, now()).is_empty());
        probes.set("a-0", crate::prober::Kind::Liveness, crate::prober::Outcome::Failure);
        let a = compute(&p, Some(&rt), &Backoff::default(), &probes, now());
        assert_eq!((a.kill[0].0.as_str(), a.start.clone()), ("a-0", vec![0]));
        p.spec.restart_policy = "Never".into();
        let a = compute(&p, Some(&rt), &Backoff::default(), &probes, now());
        assert_eq!((a.kill.len(), a.start.len()), (1, 0));
    }

    #[test]
    fn a_running_container_whose_spec_changed_is_killed_and_restarted_whatever_the_policy() {
        let mut p = pod("Never", &[], &["a"]);
        let mut rt = ready();
        let mut running = inst("a", 0, State::Running, 0);
        running.hash = crate::container::hash(&p.spec.containers[0]);
        rt.containers.push(running);
        assert!(compute(&p, Some(&rt), &Backoff::default(), &Results::default(), now()).is_empty(), "same spec");
        p.spec.containers[0].image = "busybox:1.36".into();
        let a = compute(&p, Some(&rt), &Backoff::default(), &Results::default(), now());
        assert_eq!(a.kill, vec![("a-0".to_string(), "a".to_string(), "Container a definition changed, will be restarted".to_string())]);
        assert_eq!(a.start, vec![0]);
    }

    #[test]
    fn exited_instances_are_removed_but_the_previous_one() {
        let mut rt = ready();
        rt.containers.push(inst("a", 0, State::Exited, 1));
        rt.containers.push(inst("a", 1, State::Exited, 1));
        rt.containers.push(inst("a", 2, State::Running, 0));
        let a = compute(&pod("Always", &[], &["a"]), Some(&rt), &Backoff::default(), &Results::default(), now());
        assert_eq!(a.remove, vec!["a-0"], "a-1 stays for --previous");
        assert!(a.start.is_empty());
        rt.containers.pop();
        let a = compute(&pod("Never", &[], &["a"]), Some(&rt), &Backoff::default(), &Results::default(), now());
        assert_eq!(a.remove, vec!["a-0"], "the newest is the dead one kept");
    }
}
