//! Configuration handed to Pods: `ConfigMap`, `Secret`, and the `ServiceAccount` a Pod
//! runs as.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{LocalObjectReference, ObjectReference};
use crate::meta::ObjectMeta;
use crate::validation::{is_config_map_key, validate_object_meta, FieldError, NameRule};
use crate::Object;

/// The most a ConfigMap's or Secret's data may hold (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Once true, `data` may not change (and the kubelet stops watching it).
    pub immutable: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Values that are not UTF-8, base64-encoded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub immutable: Option<bool>,
    /// Values base64-encoded, as on the wire.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Write-only plain-text values, merged into `data` on write (upstream does this in
    /// the conversion; done by `set_defaults`, see [`Secret::merge_string_data`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` (default), `kubernetes.io/service-account-token`, `kubernetes.io/tls`, ...
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

impl Secret {
    /// Moves `stringData` into `data` (base64-encoded), as upstream's conversion does: the
    /// stored object has no `stringData`.
    pub fn merge_string_data(&mut self) {
        use base64::Engine;
        for (k, v) in std::mem::take(&mut self.string_data) {
            self.data.insert(k, base64::engine::general_purpose::STANDARD.encode(v));
        }
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ObjectReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub automount_service_account_token: Option<bool>,
}

/// Keys must be valid file names, unique across `data` and `binaryData`, and the whole
/// under 1 MiB.
fn validate_data(maps: &[(&str, &BTreeMap<String, String>)]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut size = 0;
    for (field, map) in maps {
        for (k, v) in *map {
            errs.extend(is_config_map_key(k).iter().map(|m| FieldError::invalid(field, k, m)));
            if !seen.insert(k.as_str()) {
                errs.push(FieldError::invalid(field, k, "duplicate of key present in another data field"));
            }
            size += v.len();
        }
    }
    if size > MAX_SECRET_SIZE {
        errs.push(FieldError {
            reason: "FieldValueTooLong",
            field: String::new(),
            message: format!("Too long: may not be more than {MAX_SECRET_SIZE} bytes"),
        });
    }
    errs
}

macro_rules! core_kind {
    ($ty:ident) => {
        const GROUP: &'static str = "";
        const VERSION: &'static str = "v1";
        const KIND: &'static str = stringify!($ty);
        fn metadata(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn metadata_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    };
}

impl Object for ConfigMap {
    core_kind!(ConfigMap);

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        errs.extend(validate_data(&[("data", &self.data), ("binaryData", &self.binary_data)]));
        errs
    }
}

impl Object for Secret {
    core_kind!(Secret);

    /// `SetDefaults_Secret`: type `Opaque`; and `stringData` merged into `data`, which
    /// upstream does while converting the request.
    fn set_defaults(&mut self) {
        self.merge_string_data();
        if self.type_.is_empty() {
            self.type_ = "Opaque".into();
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        errs.extend(validate_data(&[("data", &self.data), ("stringData", &self.string_data)]));
        errs
    }
}

impl Object for ServiceAccount {
    core_kind!(ServiceAccount);

    fn validate(&self) -> Vec<FieldError> {
        validate_object_meta(&self.metadata, true, NameRule::Subdomain)
    }
}
