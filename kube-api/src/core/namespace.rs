//! `Namespace`: a scope for names. The namespace controller empties a terminating
//! namespace, then removes the `kubernetes` finalizer so it can go away.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::Condition;
use crate::meta::ObjectMeta;
use crate::validation::{validate_object_meta, FieldError, NameRule};
use crate::Object;

/// The label upstream puts on every namespace, holding its name (so selectors can pick
/// namespaces by name).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[serde(default)]
    pub status: NamespaceStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    /// `kubernetes`: the namespace is deleted only once its contents are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Object for Namespace {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Namespace";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// `SetDefaults_Namespace` (the name label) and `SetDefaults_NamespaceStatus` (`Active`).
    fn set_defaults(&mut self) {
        if !self.metadata.name.is_empty() {
            self.metadata.labels.insert(NAMESPACE_NAME_LABEL.into(), self.metadata.name.clone());
        }
        if self.status.phase.is_empty() {
            self.status.phase = "Active".into();
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        validate_object_meta(&self.metadata, false, NameRule::Label)
    }

    /// A new namespace is `Active` and carries the `kubernetes` finalizer.
    fn prepare_for_create(&mut self) {
        self.status = NamespaceStatus { phase: "Active".into(), ..Default::default() };
        if !self.spec.finalizers.iter().any(|f| f == "kubernetes") {
            self.spec.finalizers.push("kubernetes".into());
        }
    }
}
