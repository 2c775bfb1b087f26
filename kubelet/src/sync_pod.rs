//! *Act*: carry out the [`PodActions`] for one pod (upstream's `SyncPod` and `KillPod` in
//! `kuberuntime_manager.go`), in the order the runtime needs: kill what is left of a dead
//! sandbox, prepare volumes, create the sandbox, remove old instances, then pull images and
//! create and start containers. Each step that fails is logged and becomes the container's
//! waiting reason (`ErrImagePull`, `CreateContainerError`, ...); the next pass of the loop
//! simply tries again, so nothing here retries by itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use kube_api::core::{Container, Pod};

use crate::actions::{backoff_key, PodActions};
use crate::backoff::Backoff;
use crate::cri::{api, Cri};
use crate::runtime_pods::{RuntimePod, State};
use crate::sandbox::SandboxContext;
use crate::{container, recorder, sandbox, volumes, Config};
use kube_client::EventType;

/// What every pod worker shares.
pub struct Context {
    pub cri: Cri,
    pub config: Config,
    /// A std Mutex: it is held for a lookup or an update, never across an `.await`.
    pub backoff: Mutex<Backoff>,
    /// The node's /etc/resolv.conf, read once at start (for `dnsPolicy: Default`).
    pub resolv_conf: String,
    /// The probe workers and their results.
    pub prober: crate::prober::Prober,
    /// The desired pods with their latest status, by UID, as the loop last computed them
    /// (what `/pods` serves). A std Mutex, never held across an `.await`.
    pub pods: Mutex<BTreeMap<String, Pod>>,
    /// API mode: informer caches (ConfigMaps, Secrets, Services) and the event recorder.
    pub api: Option<std::sync::Arc<crate::api_mode::ApiMode>>,
}

/// Why containers are not running, by container name: (reason, message).
pub type Waiting = HashMap<String, (String, String)>;

impl Context {
    fn sandbox_ctx(&self) -> SandboxContext<'_> {
        SandboxContext {
            pod_logs_dir: &self.config.pod_logs_dir,
            cluster_dns: &self.config.cluster_dns,
            cluster_domain: &self.config.cluster_domain,
            host_resolv_conf: &self.resolv_conf,
        }
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        // A panic while holding this lock leaves plain data behind: keep using it.
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Brings one pod towards its spec; returns the waiting reasons of what could not start.
pub async fn sync_pod(ctx: &Context, pod: &Pod, actual: Option<RuntimePod>, actions: PodActions) -> Waiting {
    let mut waiting = Waiting::new();
    let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
    let actual = actual.unwrap_or_default();

    if actions.kill_pod {
        tracing::info!(pod = %key, "sandbox is not ready: killing the pod's containers before a new sandbox");
        kill_containers_and_sandboxes(ctx, &actual, None).await;
    }

    let volume_paths = match volumes::setup(&ctx.config.root_dir, pod, ctx.api.as_deref()).await {
        Ok(paths) => paths,
        Err(e) => {
            tracing::warn!(pod = %key, "FailedMount: {e}");
            ctx.event(pod, EventType::Warning, "FailedMount", &e.to_string());
            for c in pod.spec.all_containers() {
                waiting.insert(c.name.clone(), ("ContainerCreating".into(), format!("FailedMount: {e}")));
            }
            return waiting;
        }
    };

    let attempt = actions.create_sandbox.unwrap_or_else(|| actual.latest_sandbox().map(|s| s.attempt).unwrap_or(0));
    let sandbox_config = sandbox::config(pod, attempt, &ctx.sandbox_ctx());
    let (sandbox_id, pod_ip) = match (&actions.create_sandbox, &actions.sandbox_id) {
        (Some(_), _) => match create_sandbox(ctx, &sandbox_config).await {
            Ok(created) => {
                tracing::info!(pod = %key, sandbox = %created.0, ip = %created.1, "created pod sandbox (attempt {attempt})");
                created
            }
            Err(message) => {
                tracing::warn!(pod = %key, "FailedCreatePodSandBox: {message}");
                for c in pod.spec.all_containers() {
                    waiting.insert(c.name.clone(), ("ContainerCreating".into(), message.clone()));
                }
                return waiting;
            }
        },
        (None, Some(id)) => (id.clone(), actual.latest_sandbox().map(|s| s.ip.clone()).unwrap_or_default()),
        (None, None) => return waiting,
    };

    for (id, name, why) in &actions.kill {
        tracing::info!(pod = %key, container = %name, "Killing: {why}");
        ctx.event(pod, EventType::Normal, recorder::KILLING, why);
        if let Some(inst) = actual.containers.iter().find(|c| &c.id == id) {
            stop_container(ctx, inst, None).await;
        }
    }

    for id in &actions.remove {
        if let Err(e) = ctx.cri.remove_container(id).await {
            tracing::warn!(pod = %key, "removing old container {id}: {e}");
        }
    }

    let to_start = actions
        .start_init
        .map(|i| &pod.spec.init_containers[i])
        .into_iter()
        .chain(actions.start.iter().map(|&i| &pod.spec.containers[i]));
    for c in to_start {
        // A fresh sandbox starts every container at its first attempt; otherwise the new
        // instance counts one more restart than the newest old one.
        let previous = if actions.create_sandbox.is_some() { None } else { actual.latest(&c.name) };
        let attempt = previous.map(|p| p.attempt + 1).unwrap_or(0);
        let ctr = StartArgs { sandbox_id: &sandbox_id, sandbox_config: &sandbox_config, volumes: &volume_paths, pod_ip: &pod_ip };
        match start_container(ctx, pod, c, attempt, &ctr).await {
            Ok(id) => {
                tracing::info!(pod = %key, container = %c.name, "Started container {} (id {id}, restart count {attempt})", c.name);
                if previous.is_some_and(|p| p.state == State::Exited) {
                    ctx.backoff().next(&backoff_key(pod, &c.name), SystemTime::now());
                }
            }
            Err((reason, message)) => {
                tracing::warn!(pod = %key, container = %c.name, "{reason}: {message}");
                match reason.as_str() {
                    "ImagePullBackOff" => ctx.event(pod, EventType::Normal, recorder::BACK_OFF, &message),
                    _ => ctx.event(pod, EventType::Warning, recorder::FAILED, &format!("Error: {reason}")),
                }
                waiting.insert(c.name.clone(), (reason, message));
            }
        }
    }
    waiting
}

async fn create_sandbox(ctx: &Context, config: &api::PodSandboxConfig) -> Result<(String, String), String> {
    std::fs::create_dir_all(&config.log_directory).map_err(|e| format!("create {}: {e}", config.log_directory))?;
    let id = ctx.cri.run_pod_sandbox(config.clone()).await.map_err(|e| e.message())?;
    let ip = ctx.cri.pod_sandbox_status(&id).await.map_err(|e| e.message())?.network.map(|n| n.ip).unwrap_or_default();
    Ok((id, ip))
}

struct StartArgs<'a> {
    sandbox_id: &'a str,
    sandbox_config: &'a api::PodSandboxConfig,
    volumes: &'a HashMap<String, std::path::PathBuf>,
    pod_ip: &'a str,
}

/// Pull (by policy), create, start. Errors are (reason, message) as the status shows them.
async fn start_container(
    ctx: &Context,
    pod: &Pod,
    c: &Container,
    attempt: u32,
    args: &StartArgs<'_>,
) -> Result<String, (String, String)> {
    let image_ref = ensure_image(ctx, pod, c, args.sandbox_config).await?;
    let pod_dir = volumes::pod_dir(&ctx.config.root_dir, &pod.metadata.uid);
    let host_network = pod.spec.host_network == Some(true);
    let etc_hosts = pod_dir.join("etc-hosts");
    let hosts = sandbox::etc_hosts(pod, args.pod_ip, &ctx.config.cluster_domain);
    let write = |path: &std::path::Path, content: &str| {
        path.parent().map(std::fs::create_dir_all).transpose().and_then(|_| std::fs::write(path, content))
    };
    if !host_network {
        write(&etc_hosts, &hosts).map_err(|e| ("CreateContainerConfigError".to_string(), format!("write {}: {e}", etc_hosts.display())))?;
    }
    // Upstream names it with a random id; the attempt is as unique and easier to find.
    let termination_log = pod_dir.join("containers").join(&c.name).join(format!("{attempt}-termination-log"));
    write(&termination_log, "").map_err(|e| ("CreateContainerConfigError".to_string(), format!("write {}: {e}", termination_log.display())))?;
    let (node_cpus, node_memory) = crate::env::node_capacity();
    let downward = crate::env::Downward { pod_ip: args.pod_ip, host_ip: &ctx.config.node_ip, node_cpus, node_memory };
    let sources = ctx.api.as_deref().map(|api| api as &dyn crate::env::EnvSources);
    let envs = crate::env::envs(pod, c, &downward, sources).map_err(|e| ("CreateContainerConfigError".to_string(), e))?;
    let extras = container::Extras {
        volumes: args.volumes,
        envs,
        etc_hosts: (!host_network).then_some(etc_hosts),
        termination_log: Some(termination_log),
    };
    let config = container::config(pod, c, attempt, &image_ref, &extras);
    let id = ctx
        .cri
        .create_container(args.sandbox_id, config, args.sandbox_config.clone())
        .await
        .map_err(|e| ("CreateContainerError".to_string(), e.message()))?;
    ctx.event(pod, EventType::Normal, recorder::CREATED, &format!("Created container {}", c.name));
    ctx.cri.start_container(&id).await.map_err(|e| ("RunContainerError".to_string(), e.message()))?;
    ctx.event(pod, EventType::Normal, recorder::STARTED, &format!("Started container {}", c.name));
    Ok(id)
}

/// `imagePullPolicy`: `Never` uses what is there, `IfNotPresent` pulls only when missing,
/// `Always` pulls every time a container starts. Failed pulls back off like crashes do.
async fn ensure_image(ctx: &Context, pod: &Pod, c: &Container, sandbox_config: &api::PodSandboxConfig) -> Result<String, (String, String)> {
    let present = match c.image_pull_policy.as_str() {
        "Always" => None,
        _ => ctx.cri.image_status(&c.image).await.map_err(|e| ("ErrImageInspect".to_string(), e.message()))?,
    };
    if let Some(image) = present {
        let message = format!("Container image {:?} already present on machine", c.image);
        ctx.event(pod, EventType::Normal, recorder::PULLED, &message);
        return Ok(image.id);
    }
    if c.image_pull_policy == "Never" {
        let message = format!("Container image {:?} is not present with pull policy of Never", c.image);
        return Err(("ErrImageNeverPull".into(), message));
    }
    let key = format!("{}/pull", backoff_key(pod, &c.name));
    if ctx.backoff().in_backoff(&key, SystemTime::now()).is_some() {
        return Err(("ImagePullBackOff".into(), format!("Back-off pulling image {:?}", c.image)));
    }
    tracing::info!(container = %c.name, "Pulling image {:?}", c.image);
    ctx.event(pod, EventType::Normal, recorder::PULLING, &format!("Pulling image {:?}", c.image));
    let started = std::time::Instant::now();
    match ctx.cri.pull_image(&c.image, Some(sandbox_config.clone())).await {
        Ok(image_ref) => {
            ctx.backoff().reset(&key);
            let message = format!("Successfully pulled image {:?} in {:.1?}", c.image, started.elapsed());
            tracing::info!(container = %c.name, "{message}");
            ctx.event(pod, EventType::Normal, recorder::PULLED, &message);
            Ok(image_ref)
        }
        Err(e) => {
            ctx.backoff().next(&key, SystemTime::now());
            let message = format!("Failed to pull image {:?}: {}", c.image, e.message());
            ctx.event(pod, EventType::Warning, recorder::FAILED, &message);
            Err(("ErrImagePull".into(), e.message()))
        }
    }
}

/// Stops and removes everything of a pod that is no longer desired, then its volumes.
/// `grace` overrides the containers' own grace period: a pod deleted through the API is
/// stopped with its `deletionGracePeriodSeconds` (`kubectl delete --grace-period=N`).
/// Returns the pod's containers as the runtime reported them once stopped (their exit
/// codes go into the pod's final status).
pub async fn kill_pod(ctx: &Context, actual: &RuntimePod, grace: Option<i64>) -> RuntimePod {
    let stopped = kill_containers_and_sandboxes(ctx, actual, grace).await;
    if let Err(e) = volumes::cleanup(&ctx.config.root_dir, &actual.uid) {
        tracing::warn!("removing the directory of pod {}: {e}", actual.uid);
    }
    crate::resources::remove_pod_cgroup(&actual.uid);
    ctx.backoff().forget_prefix(&format!("{}/", actual.uid));
    tracing::info!(pod = %format!("{}/{}", actual.namespace, actual.name), "pod killed: containers, sandbox and volumes removed");
    stopped
}

/// Upstream's `minimumGracePeriodInSeconds`: even `--grace-period=1` gives 2 s.
const MINIMUM_GRACE_PERIOD_SECONDS: i64 = 2;

/// Runs the container's preStop hook (exec or httpGet, within the grace period), then
/// StopContainer with what is left of the grace period (the container's, or `grace` when
/// the pod's deletion set one): SIGTERM, then SIGKILL.
async fn stop_container(ctx: &Context, c: &crate::runtime_pods::Container, grace: Option<i64>) {
    let started = std::time::Instant::now();
    let grace = grace.unwrap_or(c.grace_period).max(MINIMUM_GRACE_PERIOD_SECONDS);
    let grace = std::time::Duration::from_secs(grace as u64);
    if let Some(exec) = c.pre_stop.as_ref().and_then(|h| h.exec.as_ref()) {
        tracing::info!(container = %c.name, "running preStop hook {:?}", exec.command);
        let run = ctx.cri.exec_sync(&c.id, exec.command.clone(), c.grace_period.max(1));
        match tokio::time::timeout(grace.max(std::time::Duration::from_secs(1)), run).await {
            Ok(Ok(out)) if out.exit_code == 0 => {}
            Ok(Ok(out)) => tracing::warn!(container = %c.name, "FailedPreStopHook: exit code {}", out.exit_code),
            Ok(Err(e)) => tracing::warn!(container = %c.name, "FailedPreStopHook: {e}"),
            Err(_) => tracing::warn!(container = %c.name, "FailedPreStopHook: timed out"),
        }
    }
    // Whole seconds spent in the hook are taken off, as upstream.
    let left = grace.as_secs().saturating_sub(started.elapsed().as_secs()) as i64;
    tracing::info!(container = %c.name, "Killing container {} with a grace period of {}s", c.name, left);
    if let Err(e) = ctx.cri.stop_container(&c.id, left).await {
        tracing::warn!("stopping container {}: {e}", c.id);
    }
}

/// Stops all running containers at once (each with its pod's grace period, or `grace`:
/// SIGTERM, then SIGKILL when it runs out), reads their final state, removes them, then
/// stops and removes the sandboxes. Returns the pod with its containers' final states.
async fn kill_containers_and_sandboxes(ctx: &Context, actual: &RuntimePod, grace: Option<i64>) -> RuntimePod {
    let stops = actual.containers.iter().filter(|c| c.state == State::Running).map(|c| async move {
        ctx.event_about(&actual.namespace, &actual.name, &actual.uid, EventType::Normal, recorder::KILLING, &format!("Stopping container {}", c.name));
        stop_container(ctx, c, grace).await
    });
    futures::future::join_all(stops).await;
    let mut stopped = actual.clone();
    for c in &mut stopped.containers {
        if let Ok(status) = ctx.cri.container_status(&c.id).await {
            c.state = State::Exited;
            c.exit_code = status.exit_code;
            c.reason = status.reason;
            c.finished_at = status.finished_at;
        }
    }
    for c in &actual.containers {
        if let Err(e) = ctx.cri.remove_container(&c.id).await {
            tracing::warn!("removing container {}: {e}", c.id);
        }
    }
    for s in &actual.sandboxes {
        if let Err(e) = ctx.cri.stop_pod_sandbox(&s.id).await {
            tracing::warn!("stopping sandbox {}: {e}", s.id);
        }
        if let Err(e) = ctx.cri.remove_pod_sandbox(&s.id).await {
            tracing::warn!("removing sandbox {}: {e}", s.id);
        }
    }
    stopped
}
