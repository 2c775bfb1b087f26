//! A container as CRI wants it (upstream's `generateContainerConfig`): image, command and
//! args (with `$(VAR)` expanded), working directory, environment ([`crate::env`]), mounts
//! (volumes, the pod's managed `/etc/hosts`, the termination-log file), resources
//! ([`crate::resources`]), log path, labels and annotations.

use std::collections::HashMap;
use std::path::PathBuf;

use kube_api::core::{Container, Pod};

use crate::cri::api;
use crate::env;
use crate::labels;
use crate::resources;
use crate::sandbox;

/// What a container's config needs besides its pod and spec.
pub struct Extras<'a> {
    /// Volume names to host paths (from [`crate::volumes::setup`]).
    pub volumes: &'a HashMap<String, PathBuf>,
    /// The container's environment ([`env::envs`]).
    pub envs: Vec<(String, String)>,
    /// The pod's managed hosts file, mounted at `/etc/hosts` (none with hostNetwork).
    pub etc_hosts: Option<PathBuf>,
    /// The file mounted at `terminationMessagePath`.
    pub termination_log: Option<PathBuf>,
}

/// Builds the config of spec container `c` (attempt `attempt`) of `pod`; `image_ref` is the
/// image ID the pull resolved.
pub fn config(pod: &Pod, c: &Container, attempt: u32, image_ref: &str, x: &Extras) -> api::ContainerConfig {
    let mut container_labels = sandbox::pod_labels(pod);
    container_labels.insert(labels::CONTAINER_NAME.into(), c.name.clone());
    let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30);
    let mut annotations = HashMap::from([
        (labels::CONTAINER_HASH.to_string(), hash(c)),
        (labels::CONTAINER_RESTART_COUNT.to_string(), attempt.to_string()),
        (labels::POD_TERMINATION_GRACE_PERIOD.to_string(), grace.to_string()),
    ]);
    if let Some(pre_stop) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
        annotations.insert(labels::CONTAINER_PRE_STOP_HANDLER.into(), serde_json::to_string(pre_stop).unwrap_or_default());
    }
    let envs = x.envs.clone();
    let mut mounts = mounts(c, x.volumes);
    let mut extra_mount = |container_path: &str, host: &Option<PathBuf>| {
        if let Some(host) = host.as_ref().filter(|_| !container_path.is_empty()) {
            if !mounts.iter().any(|m| m.container_path == container_path) {
                mounts.push(api::Mount { container_path: container_path.into(), host_path: host.display().to_string(), ..Default::default() });
            }
        }
    };
    extra_mount("/etc/hosts", &x.etc_hosts);
    extra_mount(&c.termination_message_path, &x.termination_log);
    if x.termination_log.is_some() && !c.termination_message_path.is_empty() {
        annotations.insert(labels::CONTAINER_TERMINATION_MESSAGE_PATH.into(), c.termination_message_path.clone());
    }
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: c.name.clone(), attempt }),
        image: Some(api::ImageSpec { image: image_ref.into(), annotations: HashMap::new() }),
        command: env::expand_all(&c.command, &envs),
        args: env::expand_all(&c.args, &envs),
        working_dir: c.working_dir.clone(),
        envs: envs.into_iter().map(|(key, value)| api::KeyValue { key, value }).collect(),
        mounts,
        labels: container_labels,
        annotations,
        // Relative to the sandbox's log directory, as upstream: NAME/ATTEMPT.log.
        log_path: format!("{}/{attempt}.log", c.name),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources::linux_resources(c)),
            security_context: Some(api::LinuxContainerSecurityContext {
                namespace_options: Some(sandbox::namespace_options(pod)),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// One bind mount per `volumeMount`, from the volume's host path (plus `subPath`).
fn mounts(c: &Container, volumes: &HashMap<String, PathBuf>) -> Vec<api::Mount> {
    c.volume_mounts
        .iter()
        .filter_map(|vm| {
            let Some(host) = volumes.get(&vm.name) else {
                tracing::warn!("container {}: volumeMount {} names no volume", c.name, vm.name);
                return None;
            };
            let host = if vm.sub_path.is_empty() { host.clone() } else { host.join(&vm.sub_path) };
            Some(api::Mount {
                container_path: vm.mount_path.clone(),
                host_path: host.display().to_string(),
                readonly: vm.read_only.unwrap_or(false),
                ..Default::default()
            })
        })
        .collect()
}

/// A hash of the container's spec, stored as an annotation: a running container whose
/// spec's hash changed (`kubectl set image` on a bare pod) is killed and recreated, as
/// upstream ([`crate::actions`]). Static pods get a new UID instead.
pub fn hash(c: &Container) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(serde_json::to_vec(c).unwrap_or_default());
    format!("{:08x}", u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_config_carries_command_env_mounts_and_labels() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["/bin/sh"], "args": ["-c", "x"],
                "env": [{"name": "A", "value": "1"}, {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "volumeMounts": [{"name": "logs", "mountPath": "/logdir"}]}]}
        }))
        .unwrap();
        let volumes = HashMap::from([("logs".to_string(), PathBuf::from("/v/logs"))]);
        let x = Extras {
            volumes: &volumes,
            envs: vec![("A".into(), "1".into()), ("ME".into(), "p".into())],
            etc_hosts: Some(PathBuf::from("/p/etc-hosts")),
            termination_log: None,
        };
        let cfg = config(&pod, &pod.spec.containers[0], 2, "sha256:abc", &x);
        assert_eq!(cfg.command, ["/bin/sh"]);
        assert_eq!(cfg.envs[1].value, "p");
        assert_eq!(cfg.mounts[0].host_path, "/v/logs");
        assert_eq!((cfg.mounts[1].container_path.as_str(), cfg.mounts[1].host_path.as_str()), ("/etc/hosts", "/p/etc-hosts"));
        assert_eq!(cfg.log_path, "c/2.log");
        assert_eq!(cfg.labels[labels::POD_UID], "u");
        assert_eq!(cfg.labels[labels::CONTAINER_NAME], "c");
        assert_eq!(cfg.annotations[labels::CONTAINER_RESTART_COUNT], "2");
    }
}
