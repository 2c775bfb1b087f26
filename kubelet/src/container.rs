//! A container as CRI wants it (upstream's `generateContainerConfig`): image, command and
//! args, working directory, environment, mounts, log path, labels and annotations.

use std::collections::HashMap;
use std::path::PathBuf;

use kube_api::core::{Container, Pod};

use crate::cri::api;
use crate::labels;
use crate::sandbox;

/// Builds the config of spec container `c` (attempt `attempt`) of `pod`.
/// `volumes` maps volume names to host paths (from [`crate::volumes::setup`]);
/// `image_ref` is the image ID the pull resolved; `pod_ip` feeds `status.podIP` env vars.
pub fn config(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    image_ref: &str,
    volumes: &HashMap<String, PathBuf>,
    pod_ip: &str,
) -> api::ContainerConfig {
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
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: c.name.clone(), attempt }),
        image: Some(api::ImageSpec { image: image_ref.into(), annotations: HashMap::new() }),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        envs: envs(pod, c, pod_ip),
        mounts: mounts(c, volumes),
        labels: container_labels,
        annotations,
        // Relative to the sandbox's log directory, as upstream: NAME/ATTEMPT.log.
        log_path: format!("{}/{attempt}.log", c.name),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: None,
            security_context: Some(api::LinuxContainerSecurityContext {
                namespace_options: Some(sandbox::namespace_options(pod)),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// `env` values; `valueFrom.fieldRef` for the pod's own fields. ConfigMap/Secret refs and
/// `$(VAR)` expansion come with API mode.
fn envs(pod: &Pod, c: &Container, pod_ip: &str) -> Vec<api::KeyValue> {
    let m = &pod.metadata;
    c.env
        .iter()
        .map(|e| {
            let value = match e.value_from.as_ref().and_then(|v| v.field_ref.as_ref()) {
                Some(f) => match f.field_path.as_str() {
                    "metadata.name" => m.name.clone(),
                    "metadata.namespace" => m.namespace.clone(),
                    "metadata.uid" => m.uid.clone(),
                    "spec.nodeName" => pod.spec.node_name.clone(),
                    "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
                    "status.podIP" => pod_ip.to_string(),
                    other => {
                        tracing::warn!("env {}: fieldRef {other} is not supported yet", e.name);
                        String::new()
                    }
                },
                None => e.value.clone(),
            };
            api::KeyValue { key: e.name.clone(), value }
        })
        .collect()
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

/// A hash of the container's spec, stored as an annotation (upstream restarts a container
/// whose hash changed; static pods get a new UID instead, API mode will use it).
fn hash(c: &Container) -> String {
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
        let cfg = config(&pod, &pod.spec.containers[0], 2, "sha256:abc", &volumes, "10.1.0.5");
        assert_eq!(cfg.command, ["/bin/sh"]);
        assert_eq!(cfg.envs[1].value, "p");
        assert_eq!(cfg.mounts[0].host_path, "/v/logs");
        assert_eq!(cfg.log_path, "c/2.log");
        assert_eq!(cfg.labels[labels::POD_UID], "u");
        assert_eq!(cfg.labels[labels::CONTAINER_NAME], "c");
        assert_eq!(cfg.annotations[labels::CONTAINER_RESTART_COUNT], "2");
    }
}
