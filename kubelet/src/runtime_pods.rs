//! The *actual* state: what the runtime is running, grouped by pod (upstream's "PLEG
//! relist" and `kubecontainer.Pod`).
//!
//! [`relist`] lists every sandbox and container, keeps those carrying our
//! `io.kubernetes.pod.uid` label (see [`crate::labels`]), asks the runtime for each one's
//! status (IP, exit code, times) and groups them by pod UID. Nothing is cached between
//! relists: the runtime is the source of truth, which is also why a restarted kubelet
//! simply finds its pods again.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::cri::{api, Cri, CriError};
use crate::labels;

/// One sandbox of a pod (usually one; more while a dead one awaits removal).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sandbox {
    pub id: String,
    pub attempt: u32,
    pub ready: bool,
    pub created_at: i64,
    pub ip: String,
}

/// One container instance. A container of the spec that restarted has several instances
/// (attempt 0, 1, ...) until the old ones are removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Container {
    pub id: String,
    pub sandbox_id: String,
    /// The name in the pod spec.
    pub name: String,
    pub attempt: u32,
    pub state: State,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub image: String,
    pub image_ref: String,
    /// From the container's annotation, so that a removed pod still stops gracefully.
    pub grace_period: i64,
    /// The preStop hook, from the container's annotation (the spec may be gone).
    pub pre_stop: Option<kube_api::core::LifecycleHandler>,
    /// The hash of the spec it was created from (annotation `io.kubernetes.container.hash`).
    pub hash: String,
}

/// A container's state, as CRI reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    Created,
    Running,
    Exited,
    Unknown,
}

impl Container {
    /// When it finished, as wall-clock time (for the back-off).
    pub fn finished(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.finished_at.max(0) as u64)
    }
}

/// Everything the runtime runs for one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimePod {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub sandboxes: Vec<Sandbox>,
    pub containers: Vec<Container>,
}

impl RuntimePod {
    /// The newest sandbox.
    pub fn latest_sandbox(&self) -> Option<&Sandbox> {
        self.sandboxes.iter().max_by_key(|s| (s.attempt, s.created_at))
    }

    /// Instances of the spec container `name`, newest first.
    pub fn instances(&self, name: &str) -> Vec<&Container> {
        let mut v: Vec<&Container> = self.containers.iter().filter(|c| c.name == name).collect();
        v.sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
        v
    }

    /// The newest instance of `name`.
    pub fn latest(&self, name: &str) -> Option<&Container> {
        self.instances(name).into_iter().next()
    }
}

/// Lists the runtime and groups what it runs by pod UID.
pub async fn relist(cri: &Cri) -> Result<HashMap<String, RuntimePod>, CriError> {
    let mut pods: HashMap<String, RuntimePod> = HashMap::new();
    for s in cri.list_pod_sandboxes(HashMap::new()).await? {
        let Some(uid) = s.labels.get(labels::POD_UID) else { continue };
        let ready = s.state == api::PodSandboxState::SandboxReady as i32;
        // Only a ready sandbox has an address worth asking for.
        let ip = if ready { cri.pod_sandbox_status(&s.id).await?.network.map(|n| n.ip).unwrap_or_default() } else { String::new() };
        let pod = pods.entry(uid.clone()).or_insert_with(|| RuntimePod {
            uid: uid.clone(),
            name: s.labels.get(labels::POD_NAME).cloned().unwrap_or_default(),
            namespace: s.labels.get(labels::POD_NAMESPACE).cloned().unwrap_or_default(),
            ..Default::default()
        });
        let attempt = s.metadata.as_ref().map(|m| m.attempt).unwrap_or(0);
        pod.sandboxes.push(Sandbox { id: s.id, attempt, ready, created_at: s.created_at, ip });
    }
    for c in cri.list_containers(HashMap::new()).await? {
        let (Some(uid), Some(name)) = (c.labels.get(labels::POD_UID), c.labels.get(labels::CONTAINER_NAME)) else {
            continue;
        };
        let status = match cri.container_status(&c.id).await {
            Ok(status) => status,
            // Removed between the list and now: it will not be in the next relist either.
            Err(e) => {
                tracing::debug!("container {} vanished during relist: {e}", c.id);
                continue;
            }
        };
        let pod = pods.entry(uid.clone()).or_insert_with(|| RuntimePod { uid: uid.clone(), ..Default::default() });
        let grace = c.annotations.get(labels::POD_TERMINATION_GRACE_PERIOD).and_then(|g| g.parse().ok());
        let message = if status.message.is_empty() && status.state == api::ContainerState::ContainerExited as i32 {
            termination_message(&c.annotations, &status.mounts)
        } else {
            status.message
        };
        pod.containers.push(Container {
            id: c.id.clone(),
            sandbox_id: c.pod_sandbox_id.clone(),
            name: name.clone(),
            attempt: c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
            state: state_of(status.state),
            created_at: status.created_at,
            started_at: status.started_at,
            finished_at: status.finished_at,
            exit_code: status.exit_code,
            reason: status.reason,
            message,
            image: status.image.map(|i| i.image).unwrap_or_default(),
            image_ref: status.image_ref,
            grace_period: grace.unwrap_or(kube_api::core::pod_rules::DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS),
            pre_stop: c.annotations.get(labels::CONTAINER_PRE_STOP_HANDLER).and_then(|h| serde_json::from_str(h).ok()),
            hash: c.annotations.get(labels::CONTAINER_HASH).cloned().unwrap_or_default(),
        });
    }
    Ok(pods)
}

/// What an exited container wrote to its `terminationMessagePath` (at most 4 KiB, as
/// upstream), read from the host file mounted there.
fn termination_message(annotations: &HashMap<String, String>, mounts: &[api::Mount]) -> String {
    let Some(path) = annotations.get(labels::CONTAINER_TERMINATION_MESSAGE_PATH) else { return String::new() };
    let Some(mount) = mounts.iter().find(|m| &m.container_path == path) else { return String::new() };
    let mut bytes = std::fs::read(&mount.host_path).unwrap_or_default();
    bytes.truncate(4096);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn state_of(state: i32) -> State {
    match api::ContainerState::try_from(state) {
        Ok(api::ContainerState::ContainerCreated) => State::Created,
        Ok(api::ContainerState::ContainerRunning) => State::Running,
        Ok(api::ContainerState::ContainerExited) => State::Exited,
        _ => State::Unknown,
    }
}
