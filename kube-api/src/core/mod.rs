//! The `core/v1` kinds (`/api/v1`): Pods and what they run on and talk to.
//!
//! ## Layout
//! - [`pod`]: `Pod`, `PodSpec`, `PodStatus`, `PodTemplateSpec`, scheduling types (affinity,
//!   tolerations); [`container`]: `Container` and what it carries (ports, env, probes);
//!   [`volume`]: `Volume` and its sources; [`pod_rules`]: Pod defaulting, validation and QoS.
//! - [`node`]: `Node`. [`service`]: `Service` and `Endpoints`. [`namespace`]: `Namespace`.
//! - [`config`]: `ConfigMap`, `Secret`, `ServiceAccount`. [`event`]: `Event`.
//! - `ReplicationController` in [`replication_controller`].
//!
//! Small types shared by several groups live here: [`IntOrString`], [`QuantityString`] and
//! [`ResourceList`], [`LabelSelector`], [`ObjectReference`], [`LocalObjectReference`].
//! Everything is re-exported, so readers write `core::Pod`, `core::Container`.
//!
//! Serde conventions, followed in every kind: strings are `String` omitted when empty (Go's
//! `omitempty`); numbers, booleans and Go pointers are `Option`; lists and maps are omitted
//! when empty; Go's non-pointer structs (`spec`, `status`, `resources`) are plain fields,
//! always written. Fields the project does not use are `Option<serde_json::Value>`: opaque,
//! but named, so unknown-field detection only flags real typos.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_with::skip_serializing_none;

pub mod config;
pub mod container;
pub mod event;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod pod_rules;
pub mod replication_controller;
pub mod service;
pub mod volume;

pub use config::*;
pub use container::*;
pub use event::*;
pub use namespace::*;
pub use node::*;
pub use pod::*;
pub use pod_rules::{default_pod_spec, pod_qos_class, validate_pod_spec, validate_pod_template};
pub use replication_controller::*;
pub use service::*;
pub use volume::*;

/// A port or a percentage: `targetPort: 8080` or `targetPort: http`, `maxSurge: 25%`.
/// Written as a JSON number or string, like upstream's `intstr.IntOrString`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl From<i32> for IntOrString {
    fn from(i: i32) -> Self {
        IntOrString::Int(i)
    }
}

impl From<&str> for IntOrString {
    fn from(s: &str) -> Self {
        IntOrString::String(s.to_string())
    }
}

impl IntOrString {
    /// Whether the value is unset: `0` or `""` (Go's zero value).
    pub fn is_zero(&self) -> bool {
        matches!(self, IntOrString::Int(0)) || matches!(self, IntOrString::String(s) if s.is_empty())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

/// A resource quantity as written (`100m`, `128Mi`, `0.5`), carried as its string.
///
/// Upstream writes quantities as strings but accepts JSON numbers too (`cpu: 1`), so this
/// deserializes from either. Parsing and exact arithmetic live in [`crate::quantity`].
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuantityString(pub String);

impl QuantityString {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for QuantityString {
    fn from(s: &str) -> Self {
        QuantityString(s.to_string())
    }
}

impl fmt::Display for QuantityString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for QuantityString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for QuantityString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = QuantityString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity (a string like \"100m\" or a number)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QuantityString, E> {
                Ok(QuantityString(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<QuantityString, E> {
                Ok(QuantityString(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<QuantityString, E> {
                Ok(QuantityString(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<QuantityString, E> {
                Ok(QuantityString(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Resource name (`cpu`, `memory`, `pods`) → quantity: requests, limits, capacity.
pub type ResourceList = BTreeMap<String, QuantityString>;

/// A label query over a set of objects: `matchLabels` and `matchExpressions` are ANDed.
/// An empty selector matches everything; a missing one (`None`) matches nothing.
/// The matching logic and the string form (`?labelSelector=`) are in [`crate::labels`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `key` `operator` `values`, where operator is `In`, `NotIn`, `Exists` or `DoesNotExist`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether the selector has no requirement (and so matches every object).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement. Used by validation ("`selector` does not
    /// match template `labels`"); unknown operators match nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.to_selector().is_some_and(|s| s.matches(labels))
    }

    /// The same selector as [`crate::labels::Selector`], where the matching rules live; `None`
    /// when a requirement is invalid (an unknown operator, a bad key).
    pub fn to_selector(&self) -> Option<crate::labels::Selector> {
        use crate::labels::{Operator, Requirement, Selector};
        let mut requirements = Vec::new();
        for (k, v) in &self.match_labels {
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()]).ok()?);
        }
        for r in &self.match_expressions {
            let op = match r.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                _ => return None,
            };
            requirements.push(Requirement::new(&r.key, op, r.values.clone()).ok()?);
        }
        Some(Selector::from_requirements(requirements))
    }
}

/// Upstream's `ValidateLabelSelector`: valid keys and values, known operators, and
/// `values` present exactly for `In`/`NotIn`.
pub fn validate_label_selector(sel: &LabelSelector, path: &str) -> Vec<crate::validation::FieldError> {
    let mut errs = crate::validation::validate_labels(&sel.match_labels, &format!("{path}.matchLabels"));
    for (i, r) in sel.match_expressions.iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        match r.operator.as_str() {
            "In" | "NotIn" if r.values.is_empty() => errs.push(crate::validation::FieldError::required_detail(
                &format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !r.values.is_empty() => errs.push(crate::validation::FieldError::forbidden(
                &format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(crate::validation::FieldError::invalid(&format!("{p}.operator"), other, "not a valid selector operator")),
        }
        errs.extend(crate::validation::is_qualified_name(&r.key).iter().map(|m| crate::validation::FieldError::invalid(&format!("{p}.key"), &r.key, m)));
    }
    errs
}

/// A reference to any object (events' `involvedObject`, endpoints' `targetRef`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Which part of the object, e.g. `spec.containers{nginx}` for an event about one container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

/// A reference by name to an object in the same namespace (`imagePullSecrets`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The common shape of conditions that carry no `lastProbeTime`/`lastUpdateTime`
/// (Namespace, ReplicationController, ReplicaSet, StatefulSet, DaemonSet conditions).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    #[serialize_always]
    pub last_transition_time: Option<crate::meta::Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The Go formatting of a string map, as upstream's "Invalid value" messages print one:
/// `map[string]string{"app":"web"}`.
pub(crate) fn go_map_string(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_accept_strings_and_numbers() {
        let list: ResourceList = serde_json::from_str(r#"{"cpu": 1, "memory": "128Mi", "x": 0.5}"#).unwrap();
        assert_eq!(list["cpu"].as_str(), "1");
        assert_eq!(list["x"].as_str(), "0.5");
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"{"cpu":"1","memory":"128Mi","x":"0.5"}"#);
    }

    #[test]
    fn int_or_string_keeps_its_json_type() {
        let v: Vec<IntOrString> = serde_json::from_str(r#"[80, "http", "25%"]"#).unwrap();
        assert_eq!(v, vec![IntOrString::Int(80), "http".into(), "25%".into()]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[80,"http","25%"]"#);
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let sel: LabelSelector = serde_json::from_str(r#"{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"DoesNotExist"}]}"#).unwrap();
        assert!(sel.matches(&labels));
        let sel: LabelSelector = serde_json::from_str(r#"{"matchExpressions":[{"key":"app","operator":"NotIn","values":["web"]}]}"#).unwrap();
        assert!(!sel.matches(&labels));
        assert!(LabelSelector::default().matches(&labels));
    }
}
