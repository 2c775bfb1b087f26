//! Metadata every object carries, and the shapes the API itself speaks: `Status` for
//! errors, `WatchEvent` for watch streams, `Table` for `kubectl get`.
//!
//! Field names and "omit when empty" rules are upstream's (`k8s.io/apimachinery/pkg/apis/meta/v1`).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_with::skip_serializing_none;

/// A point in time, written as RFC 3339 with second precision (`2026-11-27T14:13:45Z`),
/// like upstream's `metav1.Time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    pub fn now() -> Time {
        Time(Utc::now())
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Time(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("invalid time {s:?}: {e}")))
    }
}

/// A point in time with microsecond precision (`2026-11-27T14:13:45.123456Z`), like
/// upstream's `metav1.MicroTime` (used by Leases and events.k8s.io).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MicroTime(pub DateTime<Utc>);

impl MicroTime {
    pub fn now() -> MicroTime {
        MicroTime(Utc::now())
    }
}

impl Serialize for MicroTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

impl<'de> Deserialize<'de> for MicroTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| MicroTime(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("invalid time {s:?}: {e}")))
    }
}

/// `apiVersion` and `kind`: which schema an object follows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// The metadata of every persisted object.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub self_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The etcd modification revision of the object, as a string: clients must treat it
    /// as opaque and only send it back (optimistic concurrency) or resume a watch from it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Bumped by the apiserver each time the desired state (`spec`) changes; controllers
    /// report the generation they acted on as `status.observedGeneration`.
    pub generation: Option<i64>,
    pub creation_timestamp: Option<Time>,
    pub deletion_timestamp: Option<Time>,
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<ManagedFieldsEntry>,
}

impl ObjectMeta {
    /// `namespace/name`, or `name` for cluster-scoped objects: the key of caches and queues.
    pub fn key(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The owner reference with `controller: true`, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.controller == Some(true))
    }
}

/// Points from a dependent to its owner; the garbage collector follows these.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: Option<bool>,
    pub block_owner_deletion: Option<bool>,
}

/// Which manager set which fields (server-side apply bookkeeping).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    pub manager: Option<String>,
    pub operation: Option<String>,
    pub api_version: Option<String>,
    pub time: Option<Time>,
    pub fields_type: Option<String>,
    #[serde(rename = "fieldsV1")]
    pub fields_v1: Option<Value>,
    pub subresource: Option<String>,
}

/// The metadata of lists.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub self_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(rename = "continue", default, skip_serializing_if = "String::is_empty")]
    pub continue_: String,
    pub remaining_item_count: Option<i64>,
}

/// A list of objects of one kind (`PodList`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    #[serde(flatten)]
    pub types: TypeMeta,
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

/// The result of a call that returns no object, and every error: `kubectl` prints
/// `Error from server (NotFound): pods "x" not found` from `reason` and `message`.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(flatten)]
    pub types: TypeMeta,
    #[serde(default)]
    pub metadata: ListMeta,
    /// `Success` or `Failure`.
    pub status: Option<String>,
    pub message: Option<String>,
    /// Machine-readable: `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...
    pub reason: Option<String>,
    pub details: Option<StatusDetails>,
    pub code: Option<u16>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    pub retry_after_seconds: Option<i64>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    pub reason: Option<String>,
    pub message: Option<String>,
    pub field: Option<String>,
}

impl Status {
    /// A `Failure` status with upstream's shape.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Status {
        Status {
            types: TypeMeta { api_version: "v1".into(), kind: "Status".into() },
            metadata: ListMeta::default(),
            status: Some("Failure".into()),
            message: Some(message.into()),
            reason: if reason.is_empty() { None } else { Some(reason.into()) },
            details: None,
            code: Some(code),
        }
    }

    /// A `Success` status (the answer to a DELETE of an object that is gone at once, for some kinds).
    pub fn success() -> Status {
        Status {
            types: TypeMeta { api_version: "v1".into(), kind: "Status".into() },
            status: Some("Success".into()),
            ..Status::default()
        }
    }

    pub fn with_details(mut self, details: StatusDetails) -> Status {
        self.details = Some(details);
        self
    }
}

/// One event of a watch stream: `{"type":"ADDED","object":{...}}`, one per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent<T> {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (then `object` is a `Status`).
    #[serde(rename = "type")]
    pub type_: String,
    pub object: T,
}

/// `meta.k8s.io/v1` Table: what the apiserver answers when kubectl asks for
/// `application/json;as=Table;v=v1;g=meta.k8s.io`, so that `kubectl get` prints upstream's columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    #[serde(flatten)]
    pub types: TypeMeta,
    #[serde(default)]
    pub metadata: ListMeta,
    pub column_definitions: Vec<TableColumnDefinition>,
    pub rows: Vec<TableRow>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableColumnDefinition {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    /// 0: always shown; 1: only with `-o wide`.
    #[serde(default)]
    pub priority: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    pub cells: Vec<Value>,
    /// The object the row shows: a `PartialObjectMetadata` by default, the whole object
    /// with `includeObject=Object`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub object: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_meta_omits_empty_fields() {
        let m = ObjectMeta { name: "web".into(), ..Default::default() };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"name":"web"}"#);
    }

    #[test]
    fn time_round_trips_with_second_precision() {
        let t: Time = serde_json::from_str(r#""2026-11-27T14:13:45Z""#).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""2026-11-27T14:13:45Z""#);
    }

    #[test]
    fn status_failure_has_upstream_shape() {
        let s = Status::failure(404, "NotFound", r#"pods "x" not found"#);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["code"], 404);
    }
}
