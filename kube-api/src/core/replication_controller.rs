//! `ReplicationController`: the original "keep N copies of this Pod running", kept for
//! compatibility (ReplicaSet is its successor). Its selector is a plain label map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::pod_rules::{default_pod_spec, validate_template_for_selector};
use super::{Condition, LabelSelector, PodTemplateSpec};
use crate::meta::ObjectMeta;
use crate::validation::{validate_labels, validate_nonnegative, validate_object_meta, FieldError, NameRule};
use crate::Object;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationController {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ReplicationControllerSpec,
    #[serde(default)]
    pub status: ReplicationControllerStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationControllerSpec {
    pub replicas: Option<i32>,
    pub min_ready_seconds: Option<i32>,
    /// Defaults to the template's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// A pointer upstream: may be absent.
    pub template: Option<PodTemplateSpec>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationControllerStatus {
    /// Always written (no `omitempty` upstream).
    #[serde(default)]
    pub replicas: i32,
    pub fully_labeled_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Object for ReplicationController {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "ReplicationController";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// `SetDefaults_ReplicationController`: selector and labels from the template's labels,
    /// one replica, and the pod defaults in the template.
    fn set_defaults(&mut self) {
        if let Some(t) = &mut self.spec.template {
            if !t.metadata.labels.is_empty() {
                if self.spec.selector.is_empty() {
                    self.spec.selector = t.metadata.labels.clone();
                }
                if self.metadata.labels.is_empty() {
                    self.metadata.labels = t.metadata.labels.clone();
                }
            }
            default_pod_spec(&mut t.spec);
        }
        self.spec.replicas.get_or_insert(1);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        let spec = &self.spec;
        errs.extend(validate_nonnegative(spec.replicas, "spec.replicas"));
        errs.extend(validate_nonnegative(spec.min_ready_seconds, "spec.minReadySeconds"));
        if spec.selector.is_empty() {
            errs.push(FieldError::required("spec.selector"));
        } else {
            errs.extend(validate_labels(&spec.selector, "spec.selector"));
        }
        match &spec.template {
            None => errs.push(FieldError::required("spec.template")),
            Some(t) => {
                let selector = LabelSelector { match_labels: spec.selector.clone(), ..Default::default() };
                errs.extend(validate_template_for_selector(t, selector.matches(&t.metadata.labels), selector.is_empty(), "spec.template"));
            }
        }
        errs
    }

    fn prepare_for_create(&mut self) {
        self.status = Default::default();
        self.metadata.generation = Some(1);
    }
}
