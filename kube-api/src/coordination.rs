//! The `coordination.k8s.io/v1` kinds: `Lease`, a lightweight lock with a holder and an
//! expiry. Leader election (controller-manager, scheduler) and node heartbeats
//! (`kube-node-lease`) are built on it.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::meta::{MicroTime, ObjectMeta};
use crate::validation::{validate_object_meta, FieldError, NameRule};
use crate::Object;

/// A lease. It has a spec only: the holder renews it by updating `renewTime`.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LeaseSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    /// Who holds the lease (for leader election: `hostname_uuid`).
    pub holder_identity: Option<String>,
    /// How long others wait after `renewTime` before they may take the lease over.
    pub lease_duration_seconds: Option<i32>,
    pub acquire_time: Option<MicroTime>,
    pub renew_time: Option<MicroTime>,
    /// How many times the lease changed hands.
    pub lease_transitions: Option<i32>,
    /// Coordinated leader election (alpha): `OldestEmulationVersion`.
    pub strategy: Option<String>,
    pub preferred_holder: Option<String>,
}

impl Object for Lease {
    const GROUP: &'static str = "coordination.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Lease";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        if let Some(d) = self.spec.lease_duration_seconds.filter(|d| *d <= 0) {
            errs.push(FieldError::invalid_raw("spec.leaseDurationSeconds", d, "must be greater than 0"));
        }
        if let Some(t) = self.spec.lease_transitions.filter(|t| *t < 0) {
            errs.push(FieldError::invalid_raw("spec.leaseTransitions", t, "must be greater than or equal to 0"));
        }
        errs
    }
}
