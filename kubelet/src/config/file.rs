//! The static pod source: the files in `--pod-manifest-path` (upstream's
//! `pkg/kubelet/config/file.go`; the module is `file` as upstream's, since `static` is a
//! Rust keyword).
//!
//! Every non-hidden file in the directory is one Pod, in YAML or JSON. The source re-reads
//! the directory every second (upstream watches it with inotify and re-lists every
//! `--file-check-frequency`; polling a small directory costs nothing and is easy to follow)
//! and hands the complete list to the [`PodConfig`] — added, changed and removed files all
//! come out of the same comparison there.
//!
//! Each pod is made node-specific as upstream does, so that the same file on two nodes gives
//! two pods:
//! - name `NAME-NODENAME`, namespace `default` unless given, `spec.nodeName` = this node;
//! - UID = a hash of the pod as decoded, the node name and the file path: a changed file
//!   is a new pod (the old one is stopped, the new one started), an unchanged file keeps
//!   its pod across kubelet restarts, so running containers are adopted;
//! - annotations `kubernetes.io/config.source: file` and `kubernetes.io/config.hash: UID`;
//! - then the API's defaulting (`restartPolicy: Always`, `imagePullPolicy`, ...).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_api::core::{Pod, Toleration};
use kube_api::Object;
use md5::{Digest, Md5};

use super::{PodConfig, Source};
use crate::labels;

/// How often the directory is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A manifest file that is not a Pod the kubelet can run.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML/JSON, or not shaped like a Pod.
    #[error("decode {path}: {message}")]
    Decode { path: PathBuf, message: String },
    /// Some other kind than `Pod`.
    #[error("{path}: kind {kind:?} is not Pod")]
    NotAPod { path: PathBuf, kind: String },
}

/// Reads the directory every [`POLL_INTERVAL`] and publishes its pods until `stop` fires.
pub async fn run(dir: PathBuf, node_name: String, config: PodConfig, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let pods = read_dir(&dir, &node_name);
        config.set(Source::File, pods);
    }
}

/// Every pod the directory describes now. Bad files are logged and skipped (as upstream:
/// one broken manifest must not stop the others).
pub fn read_dir(dir: &Path, node_name: &str) -> Vec<Pod> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!("cannot read --pod-manifest-path {}: {e}", dir.display());
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    let mut pods = Vec::new();
    for path in files {
        match read_file(&path, node_name) {
            Ok(pod) => pods.push(pod),
            Err(e) => tracing::warn!("skipping static pod manifest: {e}"),
        }
    }
    pods
}

/// One manifest file → one node-specific, defaulted Pod.
pub fn read_file(path: &Path, node_name: &str) -> Result<Pod, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.into(), source })?;
    let decode = |message: String| ManifestError::Decode { path: path.into(), message };
    // YAML is a superset of JSON: one parser reads both.
    let value: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| decode(e.to_string()))?;
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
    if kind != "Pod" {
        return Err(ManifestError::NotAPod { path: path.into(), kind: kind.into() });
    }
    let mut pod: Pod = serde_json::from_value(value).map_err(|e| decode(e.to_string()))?;
    let uid = static_pod_uid(&pod, node_name, path);
    make_node_specific(&mut pod, node_name, &uid);
    pod.set_defaults();
    Ok(pod)
}

/// Upstream hashes the decoded pod, `host:NODE` and `file:PATH` with MD5 and uses the hex
/// digest as UID. We hash the pod's JSON (field order fixed by the type), which equally
/// ignores formatting and comments in the file.
pub fn static_pod_uid(pod: &Pod, node_name: &str, path: &Path) -> String {
    let mut hasher = Md5::new();
    hasher.update(serde_json::to_vec(pod).unwrap_or_default());
    hasher.update(format!("host:{node_name}"));
    hasher.update(format!("file:{}", path.display()));
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn make_node_specific(pod: &mut Pod, node_name: &str, uid: &str) {
    let meta = &mut pod.metadata;
    meta.uid = uid.into();
    meta.name = format!("{}-{}", meta.name, node_name.to_lowercase());
    if meta.namespace.is_empty() {
        meta.namespace = "default".into();
    }
    meta.annotations.insert(labels::CONFIG_SOURCE.into(), Source::File.name().into());
    meta.annotations.insert(labels::CONFIG_HASH.into(), uid.into());
    pod.spec.node_name = node_name.into();
    // A static pod tolerates every NoExecute taint: nothing can evict it from its node.
    if !pod.spec.tolerations.iter().any(|t| t.operator == "Exists" && t.key.is_empty()) {
        pod.spec.tolerations.push(Toleration {
            operator: "Exists".into(),
            effect: "NoExecute".into(),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n";

    #[test]
    fn a_static_pod_is_named_after_its_node_and_defaulted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nginx.yml"), NGINX).unwrap();
        let pods = read_dir(dir.path(), "Node1");
        assert_eq!(pods.len(), 1);
        let pod = &pods[0];
        assert_eq!(pod.metadata.name, "nginx-node1");
        assert_eq!(pod.metadata.namespace, "default");
        assert_eq!(pod.spec.node_name, "Node1");
        assert_eq!(pod.metadata.uid.len(), 32);
        assert_eq!(pod.metadata.annotations[labels::CONFIG_SOURCE], "file");
        assert_eq!(pod.spec.restart_policy, "Always");
        assert_eq!(pod.spec.containers[0].image_pull_policy, "Always", "untagged image: Always, as upstream");
    }

    #[test]
    fn the_uid_is_stable_for_the_same_pod_and_changes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nginx.yml");
        std::fs::write(&path, NGINX).unwrap();
        let a = read_file(&path, "n").unwrap().metadata.uid;
        std::fs::write(&path, format!("# a comment\n{NGINX}")).unwrap();
        assert_eq!(read_file(&path, "n").unwrap().metadata.uid, a, "a comment changes nothing");
        std::fs::write(&path, NGINX.replace("image: nginx", "image: busybox")).unwrap();
        assert_ne!(read_file(&path, "n").unwrap().metadata.uid, a);
        assert_ne!(read_file(&path, "other").unwrap().metadata.uid, a, "another node, another pod");
    }

    #[test]
    fn json_files_are_read_and_broken_or_hidden_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;
        std::fs::write(dir.path().join("j.json"), json).unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "kind: [").unwrap();
        std::fs::write(dir.path().join("svc.yaml"), "kind: Service\n").unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), NGINX).unwrap();
        let names: Vec<_> = read_dir(dir.path(), "n").into_iter().map(|p| p.metadata.name).collect();
        assert_eq!(names, ["j-n"]);
    }
}
