//! Server-side printing: the `meta.k8s.io/v1` Table the apiserver answers when kubectl asks
//! for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, so that `kubectl get` prints
//! upstream's columns (`NAME READY STATUS RESTARTS AGE` for pods) instead of `NAME AGE`.
//!
//! Upstream computes these cells in the apiserver, in `pkg/printers/internalversion`; the
//! client only lays them out. We do the same, reading each object as JSON
//! (`serde_json::Value`, exactly as stored) so that printing depends on no typed kind: a
//! missing field prints as upstream prints Go's zero value (`<none>`, `0`, `<unknown>`).
//!
//! ## Layout
//! - this file: [`to_table`], [`columns`], [`row_cells`] and [`IncludeObject`];
//! - `table/columns.rs`: the column definitions of each kind;
//! - `table/pod.rs`: the Pod row, whose STATUS condenses phase, init containers and containers;
//! - `table/rows.rs`: the rows of the other kinds;
//! - `table/duration.rs`: `45s`, `3m20s`, `5d4h`: upstream's `HumanDuration`;
//! - `table/json.rs`: reading fields with Go's zero values for what is missing.

mod columns;
mod duration;
mod json;
mod pod;
mod rows;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::meta::{ListMeta, Table, TableRow, TypeMeta};

pub use columns::columns;
pub use duration::{human_duration, short_human_duration};
pub use pod::pod_status;

/// What each row's `object` carries: the `includeObject` query parameter of a Table request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object: the rows have only cells.
    None,
    /// A `PartialObjectMetadata` (the object's `metadata`): upstream's default, enough for
    /// kubectl to name the rows and sort or label them.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// The value of `?includeObject=` (`None`, `Metadata`, `Object`); an empty value is the
    /// default. Anything else is `None` here and a 400 for the caller to report.
    pub fn from_query(value: &str) -> Option<IncludeObject> {
        match value {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// The cells of one object's row, in the order of [`columns`]`(kind)`, wide columns
/// included. `now` is the instant ages are measured from.
pub fn row_cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match kind {
        "Pod" => pod::cells(obj, now),
        "Node" => rows::node(obj, now),
        "Service" => rows::service(obj, now),
        "Endpoints" => rows::endpoints(obj, now),
        "Namespace" => rows::namespace(obj, now),
        "ConfigMap" => rows::config_map(obj, now),
        "Secret" => rows::secret(obj, now),
        "Event" => rows::event(obj, now),
        "ReplicationController" => rows::replication_controller(obj, now),
        "ServiceAccount" => rows::service_account(obj, now),
        "Deployment" => rows::deployment(obj, now),
        "ReplicaSet" => rows::replica_set(obj, now),
        "StatefulSet" => rows::stateful_set(obj, now),
        "DaemonSet" => rows::daemon_set(obj, now),
        "Job" => rows::job(obj, now),
        "Lease" => rows::lease(obj, now),
        "RoleBinding" | "ClusterRoleBinding" => rows::role_binding(obj, now),
        _ => rows::default(obj),
    }
}

/// The Table of `objects` (all of one `kind`), as upstream's apiserver sends it: a list
/// gives many rows, a single object (a `get`, or one watch event) one row.
/// `resource_version` goes to the Table's `metadata`; set `metadata.continue_` afterwards
/// for a paged list.
pub fn to_table(
    kind: &str,
    objects: &[&Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
    resource_version: &str,
) -> Table {
    let rows = objects
        .iter()
        .map(|obj| TableRow {
            cells: row_cells(kind, obj, now),
            object: match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => partial_object_metadata(obj),
                IncludeObject::Object => (*obj).clone(),
            },
        })
        .collect();
    Table {
        types: TypeMeta { api_version: "meta.k8s.io/v1".to_string(), kind: "Table".to_string() },
        metadata: ListMeta { resource_version: resource_version.to_string(), ..ListMeta::default() },
        column_definitions: columns(kind),
        rows,
    }
}

/// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{...}}`: the
/// object's metadata alone, which is what kubectl needs from a row by default.
pub fn partial_object_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests;
