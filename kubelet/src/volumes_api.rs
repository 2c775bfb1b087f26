//! configMap and secret volumes (upstream's `configmap` and `secret` volume plugins), in API
//! mode, and the writing of every volume made of files (downwardAPI and projected ones too,
//! [`crate::volumes_projected`]).
//!
//! Each is a directory under the pod's, `ROOT_DIR/pods/UID/volumes/kubernetes.io~configmap/NAME`
//! (or `~secret`), with one file per key — or per `items` entry, at its `path` — with mode
//! `items[].mode`, else `defaultMode`, else 0644. The files are written when the pod starts
//! and rewritten (each file atomically: write then rename, so a reader never sees half a
//! value) whenever the object changes: the status manager calls [`refresh`] after every
//! pass of the pod loop. A key that disappears from the object disappears from the
//! directory. A missing object fails the mount (`FailedMount`) unless `optional: true`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kube_api::core::{ConfigMap, KeyToPath, Pod, Secret, Volume};

use crate::api_mode::ApiMode;
use crate::volumes::{pod_dir, VolumeError};

/// 0644, upstream's default mode.
pub const DEFAULT_MODE: u32 = 0o644;

/// The directory of a configMap, secret, downwardAPI or projected volume, written; `None`
/// for other sources. `api` is `None` in standalone mode (only downwardAPI works there).
pub async fn setup(api: Option<&ApiMode>, root_dir: &Path, pod: &Pod, volume: &Volume) -> Option<Result<PathBuf, VolumeError>> {
    let (plugin, files) = files_of(api, pod, volume).await?;
    let dir = pod_dir(root_dir, &pod.metadata.uid).join("volumes").join(plugin).join(&volume.name);
    Some(files.and_then(|files| write_files(&dir, &files).map(|_| dir)))
}

/// Rewrites the file volumes of a running pod whose sources changed (an object, a label,
/// a token due for refresh).
pub async fn refresh(api: &ApiMode, root_dir: &Path, pod: &Pod) {
    let volumes = pod_dir(root_dir, &pod.metadata.uid).join("volumes");
    for volume in &pod.spec.volumes {
        // Not set up yet: the pod's sync writes it (and nothing is fetched for it here).
        let set_up = |plugin: &str| volumes.join(plugin).join(&volume.name).is_dir();
        if !FILE_PLUGINS.iter().any(|p| set_up(p)) {
            continue;
        }
        let Some((plugin, files)) = files_of(Some(api), pod, volume).await else { continue };
        let dir = volumes.join(plugin).join(&volume.name);
        let written = files.and_then(|files| write_files(&dir, &files));
        if let Err(e) = written {
            tracing::warn!(pod = %pod.metadata.key(), "updating volume {}: {e}", volume.name);
        }
    }
}

/// The volume plugins made of files, by their directory name.
const FILE_PLUGINS: [&str; 4] = ["kubernetes.io~configmap", "kubernetes.io~secret", "kubernetes.io~downward-api", "kubernetes.io~projected"];

/// File path → (content, mode) for a volume made of files.
pub type Files = BTreeMap<String, (Vec<u8>, u32)>;

async fn files_of(api: Option<&ApiMode>, pod: &Pod, volume: &Volume) -> Option<(&'static str, Result<Files, VolumeError>)> {
    let ns = &pod.metadata.namespace;
    match (api, &volume.config_map, &volume.secret) {
        (Some(api), Some(src), _) => {
            let data = api.config_maps.get(&format!("{ns}/{}", src.name)).map(|cm| config_map_data(&cm));
            let what = format!("configmap {:?}", src.name);
            Some(("kubernetes.io~configmap", project(data, &src.items, src.default_mode, src.optional, what)))
        }
        (Some(api), _, Some(src)) => {
            let data = api.secrets.get(&format!("{ns}/{}", src.secret_name)).map(|s| secret_data(&s));
            let what = format!("secret {:?}", src.secret_name);
            Some(("kubernetes.io~secret", project(data, &src.items, src.default_mode, src.optional, what)))
        }
        _ => crate::volumes_projected::files_of(api, pod, volume).await,
    }
}

/// A ConfigMap's `data` and (decoded) `binaryData`.
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = cm.data.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    data.extend(cm.binary_data.iter().filter_map(|(k, v)| Some((k.clone(), b64(v)?))));
    data
}

/// A Secret's (decoded) `data`.
pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data.iter().filter_map(|(k, v)| Some((k.clone(), b64(v)?))).collect()
}

fn b64(v: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(v).ok()
}

/// The files a volume shows for an object's `data` (upstream's `MakePayload`).
pub fn project(
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    optional: Option<bool>,
    what: String,
) -> Result<Files, VolumeError> {
    let mode = default_mode.map(|m| m as u32).unwrap_or(DEFAULT_MODE);
    let Some(data) = data else {
        return if optional == Some(true) { Ok(Files::new()) } else { Err(VolumeError::Missing(format!("{what} not found"))) };
    };
    if items.is_empty() {
        return Ok(data.into_iter().map(|(k, v)| (k, (v, mode))).collect());
    }
    let mut files = Files::new();
    for item in items {
        match data.get(&item.key) {
            Some(v) => {
                files.insert(item.path.clone(), (v.clone(), item.mode.map(|m| m as u32).unwrap_or(mode)));
            }
            None if optional == Some(true) => {}
            None => return Err(VolumeError::Missing(format!("{what}: key {:?} not found", item.key))),
        }
    }
    Ok(files)
}

/// Makes `dir` hold exactly `files`: changed files are replaced atomically, others kept.
pub fn write_files(dir: &Path, files: &Files) -> Result<(), VolumeError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VolumeError::Create { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    for (rel, (content, mode)) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err(parent))?;
        }
        let same_mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777 == *mode).unwrap_or(false);
        if same_mode && std::fs::read(&path).ok().as_ref() == Some(content) {
            continue;
        }
        let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
        std::fs::write(&tmp, content).map_err(err(&tmp))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(*mode)).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))?;
    }
    // Keys removed from the object go away (top-level files only; items paths stay simple).
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_file() && !name.starts_with('.') && !files.contains_key(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Option<BTreeMap<String, Vec<u8>>> {
        Some(BTreeMap::from([("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())]))
    }

    #[test]
    fn every_key_becomes_a_file_unless_items_pick_some() {
        let all = project(data(), &[], None, None, "cm".into()).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all["a"].1, 0o644);
        let items = [KeyToPath { key: "b".into(), path: "conf/b.txt".into(), mode: Some(0o600) }];
        let some = project(data(), &items, Some(0o400), None, "cm".into()).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["conf/b.txt"]);
        assert_eq!(some["conf/b.txt"], (b"2".to_vec(), 0o600));
    }

    #[test]
    fn a_missing_object_fails_unless_optional() {
        assert!(project(None, &[], None, None, "cm".into()).is_err());
        assert!(project(None, &[], None, Some(true), "cm".into()).unwrap().is_empty());
    }

    #[test]
    fn files_are_rewritten_when_the_object_changes_and_removed_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &project(data(), &[], Some(0o640), None, "cm".into()).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "1");
        assert_eq!(std::fs::metadata(dir.path().join("a")).unwrap().permissions().mode() & 0o777, 0o640);
        let changed = Some(BTreeMap::from([("a".to_string(), b"9".to_vec())]));
        write_files(dir.path(), &project(changed, &[], None, None, "cm".into()).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "9");
        assert!(!dir.path().join("b").exists());
    }
}
