//! downwardAPI and projected volumes (upstream's `downwardapi` and `projected` volume
//! plugins).
//!
//! - **downwardAPI**, `ROOT_DIR/pods/UID/volumes/kubernetes.io~downward-api/NAME`: one file
//!   per item, from a `fieldRef` (`metadata.name`, `.namespace`, `.uid`, `.labels`,
//!   `.annotations`, one label or annotation) or a `resourceFieldRef` (a container's
//!   requests or limits). Labels and annotations can change while the pod runs: the files
//!   are rewritten when they do (the status manager refreshes volumes after every pass).
//! - **projected**, `.../kubernetes.io~projected/NAME`: several sources in one directory —
//!   `configMap` and `secret` (like their own volumes), `downwardAPI`, and
//!   `serviceAccountToken`: a token the apiserver issues for the pod's service account
//!   ([`crate::token_manager`]), requested again before it expires. This is how every pod
//!   gets `/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}` (the
//!   `kube-api-access-xxxxx` volume the ServiceAccount admission plugin adds).
//!
//! Files are written like configMap volumes' (each replaced atomically), with `mode`, else
//! the volume's `defaultMode`, else 0644. Any source that fails (a missing configMap, no
//! token) fails the whole mount: the pod's containers do not start (`FailedMount`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use kube_api::core::{DownwardApiVolumeFile, KeyToPath, Pod, Volume};
use serde::Deserialize;

use crate::api_mode::ApiMode;
use crate::env::{self, Downward};
use crate::token_manager::ServiceAccountTokenProjection;
use crate::volumes::VolumeError;
use crate::volumes_api::{self, Files, DEFAULT_MODE};

/// `projected`: upstream's `ProjectedVolumeSource` (read from the pod's volume as JSON).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedVolumeSource {
    #[serde(default)]
    pub sources: Vec<VolumeProjection>,
    pub default_mode: Option<i32>,
}

/// One source of a projected volume (exactly one field set).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeProjection {
    pub config_map: Option<ObjectProjection>,
    pub secret: Option<ObjectProjection>,
    #[serde(rename = "downwardAPI")]
    pub downward_api: Option<DownwardApiProjection>,
    pub service_account_token: Option<ServiceAccountTokenProjection>,
}

/// `configMap` or `secret` in a projected volume.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ObjectProjection {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub optional: Option<bool>,
}

/// `downwardAPI` in a projected volume.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DownwardApiProjection {
    #[serde(default)]
    pub items: Vec<DownwardApiVolumeFile>,
}

/// Where projected sources come from: the informers' caches and the token manager in API
/// mode ([`ApiMode`]); a fake in tests.
pub trait Objects {
    /// A ConfigMap's `data` and `binaryData`, if it exists.
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>>;
    /// A Secret's decoded `data`, if it exists.
    fn secret(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>>;
    /// A token for the pod's service account (the error is the mount's failure message).
    fn token(&self, pod: &Pod, source: &ServiceAccountTokenProjection) -> impl Future<Output = Result<String, String>> + Send;
}

impl Objects for ApiMode {
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        self.config_maps.get(&format!("{namespace}/{name}")).map(|o| volumes_api::config_map_data(&o))
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        self.secrets.get(&format!("{namespace}/{name}")).map(|o| volumes_api::secret_data(&o))
    }
    fn token(&self, pod: &Pod, source: &ServiceAccountTokenProjection) -> impl Future<Output = Result<String, String>> + Send {
        self.tokens.get(&self.client, pod, source, SystemTime::now())
    }
}

/// The plugin directory and the files of a downwardAPI or projected volume; `None` for
/// other sources.
pub async fn files_of(api: Option<&impl Objects>, pod: &Pod, volume: &Volume) -> Option<(&'static str, Result<Files, VolumeError>)> {
    if let Some(src) = &volume.downward_api {
        return Some(("kubernetes.io~downward-api", Ok(downward_files(pod, &src.items, mode(src.default_mode)))));
    }
    let src = volume.projected.as_ref()?;
    let files = match serde_json::from_value::<ProjectedVolumeSource>(src.clone()) {
        Ok(src) => projected_files(api, pod, &src).await,
        Err(e) => Err(VolumeError::Missing(format!("projected volume: {e}"))),
    };
    Some(("kubernetes.io~projected", files))
}

fn mode(default_mode: Option<i32>) -> u32 {
    default_mode.map(|m| m as u32).unwrap_or(DEFAULT_MODE)
}

/// The files of downwardAPI items (pure: the pod, its limits, the node's capacity).
pub fn downward_files(pod: &Pod, items: &[DownwardApiVolumeFile], default_mode: u32) -> Files {
    let (node_cpus, node_memory) = env::node_capacity();
    let d = Downward { pod_ip: "", host_ip: "", node_cpus, node_memory };
    let mut files = Files::new();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            env::field(pod, &f.field_path, &d)
        } else if let Some(r) = &item.resource_field_ref {
            // The named container's resources (validation makes containerName required here).
            let c = pod.spec.containers.iter().find(|c| c.name == r.container_name);
            c.map(|c| env::resource(pod, c, r, &d)).unwrap_or_default()
        } else {
            continue;
        };
        files.insert(item.path.clone(), (value.into_bytes(), item.mode.map(|m| m as u32).unwrap_or(default_mode)));
    }
    files
}

/// The files of every source of a projected volume, in order.
async fn projected_files(api: Option<&impl Objects>, pod: &Pod, src: &ProjectedVolumeSource) -> Result<Files, VolumeError> {
    let default_mode = mode(src.default_mode);
    let ns = &pod.metadata.namespace;
    let needs_api = |what: &str| VolumeError::Missing(format!("projected {what} needs the apiserver (API mode)"));
    let mut files = Files::new();
    for source in &src.sources {
        if let Some(cm) = &source.config_map {
            let api = api.ok_or_else(|| needs_api("configMap"))?;
            let data = api.config_map(ns, &cm.name);
            files.extend(volumes_api::project(data, &cm.items, Some(default_mode as i32), cm.optional, format!("configmap {:?}", cm.name))?);
        }
        if let Some(s) = &source.secret {
            let api = api.ok_or_else(|| needs_api("secret"))?;
            let data = api.secret(ns, &s.name);
            files.extend(volumes_api::project(data, &s.items, Some(default_mode as i32), s.optional, format!("secret {:?}", s.name))?);
        }
        if let Some(d) = &source.downward_api {
            files.extend(downward_files(pod, &d.items, default_mode));
        }
        if let Some(t) = &source.service_account_token {
            let api = api.ok_or_else(|| needs_api("serviceAccountToken"))?;
            let token = api.token(pod, t).await.map_err(VolumeError::Missing)?;
            files.insert(t.path.clone(), (token.into_bytes(), default_mode));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

/// The ServiceAccount admission plugin's volume, as a test fixture and documentation.
fn kube_api_access_example() -> serde_json::Value {
    serde_json::json!({
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
        ],
        "defaultMode": 420
    })
}

/// Upstream's layout check helper: file name → content, for tests.
fn contents(files: &Files) -> BTreeMap<String, String> {
    files.iter().map(|(k, (v, _))| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect()
}

    /// Objects in memory; tokens are "token-for-SA-AUDIENCE-SECONDS", or fail.
    struct Fake {
        tokens: bool,
    }

    impl Objects for Fake {
        fn config_map(&self, _: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
            (name == "kube-root-ca.crt").then(|| BTreeMap::from([("ca.crt".to_string(), b"PEM".to_vec())]))
        }
        fn secret(&self, _: &str, _: &str) -> Option<BTreeMap<String, Vec<u8>>> {
            None
        }
        async fn token(&self, pod: &Pod, s: &ServiceAccountTokenProjection) -> Result<String, String> {
            let sa = crate::token_manager::service_account(pod);
            match self.tokens {
                true => Ok(format!("token-for-{sa}-{}-{}", s.audience, s.expiration_seconds.unwrap_or(3600))),
                false => Err("failed to fetch token: the server could not find the requested resource".into()),
            }
        }
    }

    #[tokio::test]
    async fn the_kube_api_access_volume_holds_token_ca_and_namespace() {
        let volume = Volume { name: "kube-api-access-x".into(), projected: Some(kube_api_access_example()), ..Default::default() };
        let (_, files) = files_of(Some(&Fake { tokens: true }), &pod(), &volume).await.unwrap();
        let files = files.unwrap();
        let want = BTreeMap::from([
            ("ca.crt".to_string(), "PEM".to_string()),
            ("namespace".to_string(), "ns".to_string()),
            ("token".to_string(), "token-for-default--3607".to_string()),
        ]);
        assert_eq!(contents(&files), want);
        assert!(files.values().all(|(_, mode)| *mode == 0o644));
        let dir = tempfile::tempdir().unwrap();
        volumes_api::write_files(dir.path(), &files).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("token")).unwrap(), "token-for-default--3607");
    }

    #[tokio::test]
    async fn no_token_fails_the_whole_mount() {
        let volume = Volume { name: "kube-api-access-x".into(), projected: Some(kube_api_access_example()), ..Default::default() };
        let (_, files) = files_of(Some(&Fake { tokens: false }), &pod(), &volume).await.unwrap();
        assert!(files.unwrap_err().to_string().contains("failed to fetch token"));
    }

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u",
                "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "say \"hi\""}},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "64Mi"}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn downward_api_items_become_files_with_labels_one_per_line() {
        let items: Vec<DownwardApiVolumeFile> = serde_json::from_value(serde_json::json!([
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 384},
            {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
        ]))
        .unwrap();
        let files = downward_files(&pod(), &items, 0o644);
        let c = contents(&files);
        assert_eq!(c["name"], "p");
        assert_eq!(c["labels"], "app=\"web\"\ntier=\"front\"");
        assert_eq!(c["annotations"], "note=\"say \\\"hi\\\"\"");
        assert_eq!(c["app"], "web");
        assert_eq!(c["mem"], "64");
        assert_eq!(files["annotations"].1, 0o600);
        assert_eq!(files["name"].1, 0o644);
    }

    #[tokio::test]
    async fn a_projected_token_without_the_apiserver_fails_the_mount() {
        let volume = Volume { name: "kube-api-access-x".into(), projected: Some(kube_api_access_example()), ..Default::default() };
        let (plugin, files) = files_of(None::<&Fake>, &pod(), &volume).await.unwrap();
        assert_eq!(plugin, "kubernetes.io~projected");
        let err = files.unwrap_err().to_string();
        assert!(err.contains("serviceAccountToken"), "{err}");
    }

    #[tokio::test]
    async fn a_projected_downward_api_source_alone_needs_no_apiserver() {
        let src = serde_json::json!({"sources": [{"downwardAPI": {"items": [
            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}], "defaultMode": 256});
        let volume = Volume { name: "v".into(), projected: Some(src), ..Default::default() };
        let (_, files) = files_of(None::<&Fake>, &pod(), &volume).await.unwrap();
        let files = files.unwrap();
        assert_eq!(contents(&files)["namespace"], "ns");
        assert_eq!(files["namespace"].1, 0o400);
    }
}
