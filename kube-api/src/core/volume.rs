//! `Volume`: a named directory the containers of a Pod may mount, and its sources. The
//! kubelet implements `emptyDir`, `hostPath`, `configMap`, `secret` and `downwardAPI`; the
//! other sources are carried opaquely.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use super::{ObjectFieldSelector, QuantityString, ResourceFieldSelector};

/// A volume: a name and exactly one source (upstream inlines `VolumeSource`).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// A DNS-1123 label, unique within the Pod; `volumeMounts` refer to it.
    #[serde(default)]
    pub name: String,
    pub host_path: Option<HostPathVolumeSource>,
    pub empty_dir: Option<EmptyDirVolumeSource>,
    pub gce_persistent_disk: Option<Value>,
    pub aws_elastic_block_store: Option<Value>,
    pub git_repo: Option<Value>,
    pub secret: Option<SecretVolumeSource>,
    pub nfs: Option<Value>,
    pub iscsi: Option<Value>,
    pub glusterfs: Option<Value>,
    pub persistent_volume_claim: Option<Value>,
    pub rbd: Option<Value>,
    pub flex_volume: Option<Value>,
    pub cinder: Option<Value>,
    pub cephfs: Option<Value>,
    pub flocker: Option<Value>,
    #[serde(rename = "downwardAPI")]
    pub downward_api: Option<DownwardApiVolumeSource>,
    pub fc: Option<Value>,
    pub azure_file: Option<Value>,
    pub config_map: Option<ConfigMapVolumeSource>,
    pub vsphere_volume: Option<Value>,
    pub quobyte: Option<Value>,
    pub azure_disk: Option<Value>,
    pub photon_persistent_disk: Option<Value>,
    pub projected: Option<Value>,
    pub portworx_volume: Option<Value>,
    #[serde(rename = "scaleIO")]
    pub scale_io: Option<Value>,
    pub storageos: Option<Value>,
    pub csi: Option<Value>,
    pub ephemeral: Option<Value>,
    pub image: Option<Value>,
}

impl Volume {
    /// Whether no source is set (upstream then defaults to `emptyDir: {}`).
    pub fn has_no_source(&self) -> bool {
        let Volume { name: _, host_path, empty_dir, secret, downward_api, config_map, .. } = self;
        let opaque = [
            &self.gce_persistent_disk, &self.aws_elastic_block_store, &self.git_repo, &self.nfs, &self.iscsi,
            &self.glusterfs, &self.persistent_volume_claim, &self.rbd, &self.flex_volume, &self.cinder,
            &self.cephfs, &self.flocker, &self.fc, &self.azure_file, &self.vsphere_volume, &self.quobyte,
            &self.azure_disk, &self.photon_persistent_disk, &self.projected, &self.portworx_volume,
            &self.scale_io, &self.storageos, &self.csi, &self.ephemeral, &self.image,
        ];
        host_path.is_none()
            && empty_dir.is_none()
            && secret.is_none()
            && downward_api.is_none()
            && config_map.is_none()
            && opaque.iter().all(|v| v.is_none())
    }
}

/// A directory of the node.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPathVolumeSource {
    #[serde(default)]
    pub path: String,
    /// `""` (no check, the default), `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`, ...
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// A fresh directory that lives as long as the Pod.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirVolumeSource {
    /// `""` (node disk) or `Memory` (tmpfs).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medium: String,
    pub size_limit: Option<QuantityString>,
}

/// Maps one key of a ConfigMap or Secret to a file.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub path: String,
    pub mode: Option<i32>,
}

/// A ConfigMap's keys as files. Without `items`, every key becomes a file.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// File mode bits, decimal in JSON (420 = 0644).
    pub default_mode: Option<i32>,
    pub optional: Option<bool>,
}

/// A Secret's keys as files.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    pub default_mode: Option<i32>,
    pub optional: Option<bool>,
}

/// Fields of the Pod itself (labels, annotations, resources) as files.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeSource {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
    pub default_mode: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeFile {
    #[serde(default)]
    pub path: String,
    pub field_ref: Option<ObjectFieldSelector>,
    pub resource_field_ref: Option<ResourceFieldSelector>,
    pub mode: Option<i32>,
}
