//! The `authorization.k8s.io/v1` kinds: questions to the apiserver's authorizers, answered
//! at once and never stored.
//!
//! - [`SelfSubjectAccessReview`]: "may *I* do this?" (`kubectl auth can-i list pods`);
//! - [`SubjectAccessReview`]: "may *this user* do this?" (for components that authorize
//!   their own requests, such as a kubelet's webhook authorization).
//!
//! The client sends a spec; the apiserver answers with the same object and a `status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::meta::ObjectMeta;
use crate::validation::FieldError;
use crate::Object;

/// A resource request: `verb` on `resource` (`group`, `subresource`, `name`) in `namespace`.
/// Empty means "all" (all namespaces, all names).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `{rawSelector, requirements}`: the field selector of a list or watch.
    pub field_selector: Option<Value>,
    pub label_selector: Option<Value>,
}

/// A non-resource request: `verb` (lower-case HTTP method) on `path`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceAttributes {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
}

/// The answer.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    #[serde(default)]
    pub allowed: bool,
    /// An authorizer said no explicitly (no later authorizer was asked).
    pub denied: Option<bool>,
    pub reason: Option<String>,
    pub evaluation_error: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSubjectAccessReviewSpec {
    pub resource_attributes: Option<ResourceAttributes>,
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

/// "May I?": the user is the one who sends the review.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSubjectAccessReview {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SelfSubjectAccessReviewSpec,
    pub status: Option<SubjectAccessReviewStatus>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    pub resource_attributes: Option<ResourceAttributes>,
    pub non_resource_attributes: Option<NonResourceAttributes>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// "May this user?".
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReview {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SubjectAccessReviewSpec,
    pub status: Option<SubjectAccessReviewStatus>,
}

/// Upstream's rule: exactly one of the two attribute sets.
fn one_of_attributes(resource: bool, non_resource: bool) -> Vec<FieldError> {
    match (resource, non_resource) {
        (false, false) => vec![FieldError::required_detail("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified")],
        (true, true) => vec![FieldError::invalid_raw("spec.resourceAttributes", "<object>", "cannot be specified in combination with nonResourceAttributes")],
        _ => Vec::new(),
    }
}

impl Object for SelfSubjectAccessReview {
    const GROUP: &'static str = "authorization.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "SelfSubjectAccessReview";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn validate(&self) -> Vec<FieldError> {
        one_of_attributes(self.spec.resource_attributes.is_some(), self.spec.non_resource_attributes.is_some())
    }
}

impl Object for SubjectAccessReview {
    const GROUP: &'static str = "authorization.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "SubjectAccessReview";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = one_of_attributes(self.spec.resource_attributes.is_some(), self.spec.non_resource_attributes.is_some());
        if self.spec.user.is_empty() && self.spec.groups.is_empty() {
            errs.push(FieldError::invalid("spec.user", "", "at least one of user or group must be specified"));
        }
        errs
    }
}
