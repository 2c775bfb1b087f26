//! The `autoscaling/v1` kinds: `Scale`, the shape of the `scale` subresource of
//! Deployments, ReplicaSets, ReplicationControllers and StatefulSets (`kubectl scale`).
//! It is never stored: the apiserver builds it from, and writes it back into, the parent.

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::validation::{validate_nonnegative, FieldError};
use crate::Object;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The parent's name, namespace, uid and resourceVersion.
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ScaleSpec,
    #[serde(default)]
    pub status: ScaleStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSpec {
    /// The desired number of replicas (a plain number upstream: 0 is omitted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replicas: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleStatus {
    /// The observed number of replicas (always written, as upstream).
    #[serde(default)]
    pub replicas: i32,
    /// The parent's selector in string form (`app=web`), as `?labelSelector=` takes it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
}

impl Object for Scale {
    const GROUP: &'static str = "autoscaling";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Scale";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// Upstream's `ValidateScale`: replicas not negative.
    fn validate(&self) -> Vec<FieldError> {
        validate_nonnegative(Some(self.spec.replicas), "spec.replicas")
    }
}
