//! The four ways a client may PATCH an object, as pure functions on JSON.
//!
//! | `Content-Type`                          | [`PatchType`]       | function                         |
//! |-----------------------------------------|---------------------|----------------------------------|
//! | `application/json-patch+json`           | `Json`              | [`json_patch`] (RFC 6902)        |
//! | `application/merge-patch+json`          | `Merge`             | [`merge_patch`] (RFC 7386)       |
//! | `application/strategic-merge-patch+json`| `StrategicMerge`    | [`strategic_merge_patch`]        |
//! | `application/apply-patch+yaml`          | `Apply`             | [`crate::apply::apply`]          |
//!
//! A *JSON patch* is a list of operations (`add`, `remove`, `replace`, `move`, `copy`,
//! `test`) on JSON pointers. A *merge patch* is a partial object: its keys overwrite, `null`
//! deletes, and lists are replaced whole. A *strategic merge patch* is a merge patch that
//! knows the schema: some lists are merged item by item (containers by `name`), some as sets
//! (finalizers); see [`strategy`] for the table and [`strategic`] for the directives
//! (`$patch`, `$retainKeys`, `$setElementOrder`, `$deleteFromPrimitiveList`).
//!
//! [`create_strategic_merge_patch`] goes the other way: from the last-applied, the new and the
//! live object it computes the patch `kubectl apply` (client-side) sends.
//!
//! Layout: this file (types, errors, JSON and merge patch), [`strategy`] (the table of merge
//! keys), [`strategic`] (applying a strategic merge patch), [`three_way`] (creating one).

use serde_json::Value;

pub mod strategic;
pub mod strategy;
pub mod three_way;

pub use strategic::strategic_merge_patch;
pub use three_way::create_strategic_merge_patch;

/// The kind of a PATCH request, named by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch: `application/json-patch+json`.
    Json,
    /// RFC 7386 JSON merge patch: `application/merge-patch+json`.
    Merge,
    /// Kubernetes' strategic merge patch: `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// Server-side apply: `application/apply-patch+yaml` (the body is YAML or JSON).
    Apply,
}

impl PatchType {
    /// The patch type of a request's `Content-Type` (parameters such as `; charset=utf-8`
    /// are ignored); `None` means 415 Unsupported Media Type.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        match media_type.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The `Content-Type` of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied. Upstream answers [`is_malformed`](PatchError::is_malformed)
/// errors with 400 Bad Request and the others with 422 Unprocessable Entity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The body of a JSON patch is not a list of valid operations.
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(String),
    /// A JSON patch `test` operation found a different value.
    #[error("testing value {path} failed: test failed")]
    TestFailed {
        /// The JSON pointer that was tested, e.g. `/spec/replicas`.
        path: String,
    },
    /// A JSON patch operation names a path the document does not have.
    #[error("{op} operation does not apply: doc is missing path: {path:?}: missing value")]
    MissingPath {
        /// `add`, `remove`, `replace`, `move` or `copy`.
        op: &'static str,
        /// The JSON pointer of the operation.
        path: String,
    },
    /// A merge or strategic merge patch that is not a JSON object.
    #[error("the patch must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// A `$patch` directive other than `replace`, `merge` or `delete`.
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownDirective {
        /// The value of `$patch`.
        directive: String,
        /// The map that carried it, as JSON.
        map: String,
    },
    /// An item of a list merged by key lacks the key (e.g. a container without `name`).
    #[error("map: {item} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The merge key, e.g. `name`.
        key: &'static str,
        /// The item, as JSON.
        item: String,
    },
    /// A value of the wrong JSON type where the patch format requires one (e.g. a
    /// `$retainKeys` that is not a list of strings, an item of a keyed list that is not a map).
    #[error("expected {expected}, but received {got} for {field}")]
    WrongType {
        /// What was expected, e.g. `a list of strings`.
        expected: &'static str,
        /// The JSON type received, e.g. `a map`.
        got: &'static str,
        /// The field or directive, e.g. `$retainKeys`.
        field: String,
    },
}

impl PatchError {
    /// Whether the patch itself is malformed (400 Bad Request) rather than not applicable
    /// to this object (422 Unprocessable Entity).
    pub fn is_malformed(&self) -> bool {
        matches!(self, PatchError::InvalidJsonPatch(_) | PatchError::NotAnObject(_))
    }
}

/// A JSON type's name for error messages (`a map`, `a list`, ...).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Applies an RFC 6902 JSON patch (a list of operations, `test` included) to `target`.
/// Either every operation applies or the error says which did not.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::InvalidJsonPatch(e.to_string()))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &operations).map_err(|e| {
        let operation = operations.0.get(e.operation);
        let path = operation.map(|op| op.path().to_string()).unwrap_or_default();
        match e.kind {
            json_patch::PatchErrorKind::TestFailed => PatchError::TestFailed { path },
            _ => PatchError::MissingPath { op: operation.map(op_name).unwrap_or("patch"), path },
        }
    })?;
    Ok(doc)
}

fn op_name(operation: &json_patch::PatchOperation) -> &'static str {
    use json_patch::PatchOperation::*;
    match operation {
        Add(_) => "add",
        Remove(_) => "remove",
        Replace(_) => "replace",
        Move(_) => "move",
        Copy(_) => "copy",
        Test(_) => "test",
    }
}

/// Applies an RFC 7386 JSON merge patch: keys of `patch` overwrite those of `target`,
/// `null` deletes a key, maps merge recursively, everything else (lists too) is replaced.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_name_the_patch_types() {
        let cases = [
            ("application/json-patch+json", Some(PatchType::Json)),
            ("application/merge-patch+json", Some(PatchType::Merge)),
            ("application/strategic-merge-patch+json; charset=utf-8", Some(PatchType::StrategicMerge)),
            ("application/apply-patch+yaml", Some(PatchType::Apply)),
            ("application/apply-patch+cbor", None),
            ("application/json", None),
        ];
        for (content_type, want) in cases {
            assert_eq!(PatchType::from_content_type(content_type), want, "{content_type}");
        }
    }

    #[test]
    fn json_patch_adds_removes_replaces_and_tests() {
        let target = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 1}});
        let cases: Vec<(&str, Value, Result<Value, PatchError>)> = vec![
            (
                "add a label",
                json!([{"op": "add", "path": "/metadata/labels/tier", "value": "front"}]),
                Ok(json!({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"replicas": 1}})),
            ),
            (
                "remove a label",
                json!([{"op": "remove", "path": "/metadata/labels/app"}]),
                Ok(json!({"metadata": {"labels": {}}, "spec": {"replicas": 1}})),
            ),
            (
                "replace after a passing test",
                json!([{"op": "test", "path": "/spec/replicas", "value": 1},
                       {"op": "replace", "path": "/spec/replicas", "value": 3}]),
                Ok(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 3}})),
            ),
            (
                "a failing test stops the patch",
                json!([{"op": "test", "path": "/spec/replicas", "value": 2},
                       {"op": "replace", "path": "/spec/replicas", "value": 3}]),
                Err(PatchError::TestFailed { path: "/spec/replicas".into() }),
            ),
            (
                "replace of a missing path fails",
                json!([{"op": "replace", "path": "/spec/paused", "value": true}]),
                Err(PatchError::MissingPath { op: "replace", path: "/spec/paused".into() }),
            ),
        ];
        for (name, patch, want) in cases {
            assert_eq!(json_patch(&target, &patch), want, "{name}");
        }
    }

    #[test]
    fn json_patch_rejects_an_unknown_operation_as_malformed() {
        let err = json_patch(&json!({}), &json!([{"op": "frobnicate", "path": "/a"}])).unwrap_err();
        assert!(err.is_malformed(), "{err}");
        assert!(json_patch(&json!({}), &json!({"op": "add"})).unwrap_err().is_malformed());
    }

    #[test]
    fn merge_patch_deletes_keys_set_to_null_and_replaces_lists() {
        let target = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"ports": [1, 2]}});
        let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod"}}, "spec": {"ports": [3]}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"metadata": {"labels": {"app": "web", "env": "prod"}}, "spec": {"ports": [3]}})
        );
    }
}
