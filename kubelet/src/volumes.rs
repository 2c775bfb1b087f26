//! Volumes: making each of a pod's volumes exist on the node before its containers start,
//! and removing them when the pod is gone (upstream's volume manager, much reduced).
//!
//! - `emptyDir` is a directory under the pod's directory,
//!   `ROOT_DIR/pods/UID/volumes/kubernetes.io~empty-dir/NAME` (upstream's path), created
//!   empty and shared by every container that mounts it; it lives as long as the pod.
//!   With `medium: Memory` it is a tmpfs mounted there (its `sizeLimit` as the size),
//!   unmounted when the pod goes.
//! - `hostPath` is the node's own path, created first when its `type` asks for it.
//!
//! configMap and secret volumes are in [`crate::volumes_api`] (API mode), downwardAPI and
//! projected ones in [`crate::volumes_projected`]; other sources are not handled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kube_api::core::{Pod, Volume};

/// A volume could not be prepared; the pod's containers are not started (upstream's
/// `FailedMount`).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The directory could not be created.
    #[error("create {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The tmpfs of a `medium: Memory` emptyDir could not be mounted.
    #[error("mount tmpfs on {path}: {message}")]
    Mount { path: PathBuf, message: String },
    /// A `hostPath` of type `Directory`/`File`/... does not exist on the node.
    #[error("hostPath type check failed: {path} is not a {type_}")]
    HostPathType { path: String, type_: String },
    /// A configMap or secret (or one of its keys) that does not exist, and is not optional.
    #[error("{0}")]
    Missing(String),
    /// A source this kubelet does not handle (or not without the apiserver).
    #[error("unsupported volume source (standalone: emptyDir, hostPath, downwardAPI)")]
    Unsupported(String),
    /// One volume failed: upstream's `FailedMount` message.
    #[error("MountVolume.SetUp failed for volume {volume:?} : {source}")]
    SetUp {
        volume: String,
        #[source]
        source: Box<VolumeError>,
    },
}

/// `ROOT_DIR/pods/UID`: everything the kubelet keeps on disk for one pod.
pub fn pod_dir(root_dir: &Path, uid: &str) -> PathBuf {
    root_dir.join("pods").join(uid)
}

/// Prepares every volume of `pod` and returns the host path of each, by volume name. In
/// API mode (`api`), configMap, secret and projected volumes read the apiserver's objects.
pub async fn setup(root_dir: &Path, pod: &Pod, api: Option<&crate::api_mode::ApiMode>) -> Result<HashMap<String, PathBuf>, VolumeError> {
    let mut paths = HashMap::new();
    for volume in &pod.spec.volumes {
        let files = crate::volumes_api::setup(api, root_dir, pod, volume).await;
        let path = match files {
            Some(result) => result,
            None => setup_one(root_dir, &pod.metadata.uid, volume),
        };
        let path = path.map_err(|source| VolumeError::SetUp { volume: volume.name.clone(), source: Box::new(source) })?;
        paths.insert(volume.name.clone(), path);
    }
    Ok(paths)
}

fn setup_one(root_dir: &Path, uid: &str, volume: &Volume) -> Result<PathBuf, VolumeError> {
    if let Some(empty_dir) = &volume.empty_dir {
        let path = pod_dir(root_dir, uid).join("volumes/kubernetes.io~empty-dir").join(&volume.name);
        create_dir(&path)?;
        if empty_dir.medium == "Memory" && !is_mount_point(&path) {
            let mut options = "mode=0777".to_string();
            if let Some(size) = empty_dir.size_limit.as_ref().and_then(|q| kube_api::quantity::Quantity::parse(q.as_str()).ok()) {
                options.push_str(&format!(",size={}", size.value()));
            }
            let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(&path).output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => return Err(VolumeError::Mount { path, message: String::from_utf8_lossy(&o.stderr).trim().to_string() }),
                Err(e) => return Err(VolumeError::Mount { path, message: e.to_string() }),
            }
        }
        return Ok(path);
    }
    if let Some(host) = &volume.host_path {
        let path = PathBuf::from(&host.path);
        match host.type_.as_deref().unwrap_or("") {
            "DirectoryOrCreate" => create_dir(&path)?,
            "Directory" if !path.is_dir() => return Err(type_error(host.path.clone(), "directory")),
            "File" if !path.is_file() => return Err(type_error(host.path.clone(), "file")),
            "FileOrCreate" if !path.exists() => {
                if let Some(parent) = path.parent() {
                    create_dir(parent)?;
                }
                std::fs::write(&path, b"").map_err(|source| VolumeError::Create { path: path.clone(), source })?;
            }
            _ => {}
        }
        return Ok(path);
    }
    Err(VolumeError::Unsupported(volume.name.clone()))
}

/// A directory on another device than its parent is a mount point (our tmpfs).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), path.parent().map(std::fs::metadata)) {
        (Ok(m), Some(Ok(parent))) => m.dev() != parent.dev(),
        _ => false,
    }
}

fn type_error(path: String, type_: &str) -> VolumeError {
    VolumeError::HostPathType { path, type_: type_.into() }
}

fn create_dir(path: &Path) -> Result<(), VolumeError> {
    std::fs::create_dir_all(path).map_err(|source| VolumeError::Create { path: path.to_path_buf(), source })
}

/// Removes the pod's directory (its emptyDirs with it) once its containers are gone.
/// hostPath volumes are the node's and are never touched.
pub fn cleanup(root_dir: &Path, uid: &str) -> std::io::Result<()> {
    let dir = pod_dir(root_dir, uid);
    if let Ok(empty_dirs) = std::fs::read_dir(dir.join("volumes/kubernetes.io~empty-dir")) {
        for d in empty_dirs.flatten() {
            if is_mount_point(&d.path()) {
                let out = std::process::Command::new("umount").arg(d.path()).output()?;
                if !out.status.success() {
                    return Err(std::io::Error::other(format!("umount {}: {}", d.path().display(), String::from_utf8_lossy(&out.stderr))));
                }
            }
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_dir_lives_under_the_pods_directory_and_goes_with_it() {
        let root = tempfile::tempdir().unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {"volumes": [{"name": "logs", "emptyDir": {}}], "containers": []}
        }))
        .unwrap();
        let paths = setup(root.path(), &pod, None).await.unwrap();
        let logs = &paths["logs"];
        assert_eq!(logs, &root.path().join("pods/u1/volumes/kubernetes.io~empty-dir/logs"));
        assert!(logs.is_dir());
        cleanup(root.path(), "u1").unwrap();
        assert!(!logs.exists());
    }

    #[tokio::test]
    async fn a_host_path_of_type_directory_must_exist() {
        let root = tempfile::tempdir().unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"uid": "u"},
            "spec": {"volumes": [{"name": "h", "hostPath": {"path": "/nonexistent/x", "type": "Directory"}}]}
        }))
        .unwrap();
        let err = setup(root.path(), &pod, None).await.unwrap_err();
        assert!(matches!(&err, VolumeError::SetUp { source, .. } if matches!(**source, VolumeError::HostPathType { .. })));
        assert!(err.to_string().starts_with("MountVolume.SetUp failed for volume \"h\" : hostPath type check failed"), "{err}");
    }
}
