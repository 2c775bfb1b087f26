//! `Event` (core/v1): a report that something happened to an object — "Scheduled",
//! "Pulled", "ScalingReplicaSet" — as `kubectl describe` and `kubectl get events` show.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use super::ObjectReference;
use crate::meta::{MicroTime, ObjectMeta, Time};
use crate::validation::{validate_object_meta, FieldError, NameRule};
use crate::Object;

/// An event. Events have no spec/status; repeated events are counted (`count`,
/// `lastTimestamp`) rather than duplicated.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The object the event is about.
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// Short, CamelCase: `Scheduled`, `FailedScheduling`, `Pulled`, `Killing`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Always written (`source: {}`), as upstream's non-pointer struct.
    #[serde(default)]
    pub source: EventSource,
    /// Written as `null` when unset, as upstream.
    #[serialize_always]
    pub first_timestamp: Option<Time>,
    #[serialize_always]
    pub last_timestamp: Option<Time>,
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serialize_always]
    pub event_time: Option<MicroTime>,
    pub series: Option<EventSeries>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    pub related: Option<ObjectReference>,
    /// Always written, as upstream (no `omitempty`).
    #[serde(default)]
    pub reporting_component: String,
    #[serde(default)]
    pub reporting_instance: String,
}

/// Who reported the event: `kubelet` on `node-1`, `deployment-controller`, ...
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSeries {
    pub count: Option<i32>,
    pub last_observed_time: Option<MicroTime>,
    /// Removed upstream; accepted so that old clients' events decode.
    pub state: Option<Value>,
}

impl Object for Event {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Event";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// Upstream's `ValidateEventCreate` (v1 events): the event lives in its object's namespace.
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        let ns = &self.involved_object.namespace;
        if !ns.is_empty() && *ns != self.metadata.namespace {
            errs.push(FieldError::invalid("involvedObject.namespace", ns, "does not match event.namespace"));
        }
        errs
    }
}
