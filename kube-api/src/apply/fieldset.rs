//! Sets of field paths: what a manager owns in server-side apply, and their `fieldsV1`
//! encoding in `metadata.managedFields`, as upstream's `sigs.k8s.io/structured-merge-diff`
//! `fieldpath.Set`.
//!
//! A path leads from the object's root to one field, one step at a time:
//! - `f:replicas`: a field of a map;
//! - `k:{"name":"web"}`: an item of a list merged by key, named by its key field
//!   (the keys come from [`crate::patch::strategy`]);
//! - `v:"example.com/protect"`: an item of a list merged as a set, named by its value.
//!
//! A set holds *leaves*: the paths that are owned themselves. In `fieldsV1` the steps nest as
//! JSON maps, `{}` ends a leaf, and `"."` marks a step that is a leaf *and* has owned
//! children (a list item is owned itself, and so are its fields):
//!
//! ```json
//! {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers":
//!     {"k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::patch::strategy::{strategy_for, Strategy};

/// One step of a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map, by name.
    Field(String),
    /// An item of a list merged by key: the JSON object of its key field, `{"name":"web"}`.
    Key(String),
    /// An item of a list merged as a set: its value as JSON, `"a"`.
    Value(String),
}

/// A path from the object's root to one field.
pub type Path = Vec<PathElement>;

/// Upstream's notation for a path in messages: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    let mut out = String::new();
    for element in path {
        match element {
            PathElement::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            PathElement::Key(json) => {
                let pairs: Vec<String> = match serde_json::from_str::<Map<String, Value>>(json) {
                    Ok(key) => key.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    Err(_) => vec![json.clone()],
                };
                out.push_str(&format!("[{}]", pairs.join(",")));
            }
            PathElement::Value(json) => out.push_str(&format!("[={json}]")),
        }
    }
    out
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, "f:{name}"),
            PathElement::Key(json) => write!(f, "k:{json}"),
            PathElement::Value(json) => write!(f, "v:{json}"),
        }
    }
}

/// A set of paths, stored as a tree: `members` are the steps owned themselves, `children`
/// the steps with owned paths below them (a step may be both).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

/// Why a `fieldsV1` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldsV1Error {
    /// A level of the encoding that is not a JSON map.
    #[error("fieldsV1: expected a map, got {0}")]
    NotAMap(String),
    /// A step without the `f:`, `k:` or `v:` prefix (or an `i:` index, which we never write).
    #[error("fieldsV1: unknown path element {0:?}")]
    UnknownElement(String),
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds one path (a leaf) to the set.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` itself is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether `path` or any path below it is in the set.
    pub fn contains_prefix(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [last] => self.members.contains(last) || self.children.contains_key(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains_prefix(rest)),
        }
    }

    /// Every path of the set, in order.
    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let steps: BTreeSet<&PathElement> = self.members.iter().chain(self.children.keys()).collect();
        for step in steps {
            prefix.push(step.clone());
            if self.members.contains(step) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(step) {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The paths of `self` and of `other`.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for path in other.leaves() {
            out.insert(&path);
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        for path in self.leaves().into_iter().filter(|p| !other.contains(p)) {
            out.insert(&path);
        }
        out
    }

    /// The `fieldsV1` encoding of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        let steps: BTreeSet<&PathElement> = self.members.iter().chain(self.children.keys()).collect();
        for step in steps {
            let mut inner = match self.children.get(step) {
                Some(child) => match child.to_fields_v1() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
                None => Map::new(),
            };
            if self.members.contains(step) && !inner.is_empty() {
                // "." first, as upstream writes it.
                let mut with_dot = Map::new();
                with_dot.insert(".".to_owned(), Value::Object(Map::new()));
                with_dot.extend(inner);
                inner = with_dot;
            }
            map.insert(step.to_string(), Value::Object(inner));
        }
        Value::Object(map)
    }

    /// Reads a `fieldsV1` value.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        let Value::Object(map) = value else {
            return Err(FieldsV1Error::NotAMap(value.to_string()));
        };
        let mut set = FieldSet::new();
        for (key, inner) in map {
            if key == "." {
                continue; // Read by the caller: it marks the step above as a member.
            }
            let step = parse_element(key)?;
            let Value::Object(inner_map) = inner else {
                return Err(FieldsV1Error::NotAMap(inner.to_string()));
            };
            if inner_map.is_empty() || inner_map.contains_key(".") {
                set.members.insert(step.clone());
            }
            let child = FieldSet::from_fields_v1(inner)?;
            if !child.is_empty() {
                set.children.insert(step, child);
            }
        }
        Ok(set)
    }
}

fn parse_element(text: &str) -> Result<PathElement, FieldsV1Error> {
    let unknown = || FieldsV1Error::UnknownElement(text.to_owned());
    let canonical = |json: &str| serde_json::from_str::<Value>(json).map(|v| v.to_string()).map_err(|_| unknown());
    match text.split_at_checked(2) {
        Some(("f:", name)) => Ok(PathElement::Field(name.to_owned())),
        Some(("k:", json)) => Ok(PathElement::Key(canonical(json)?)),
        Some(("v:", json)) => Ok(PathElement::Value(canonical(json)?)),
        _ => Err(unknown()),
    }
}

/// Fields the server owns whatever a config says: never part of a manager's set
/// (upstream's `stripMetaManager`).
const SERVER_FIELDS: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

/// The paths an object (or an apply config) sets: every scalar, every atomic list, every
/// empty map, each item of a keyed or set list, and the fields inside keyed items.
/// `null`s set nothing.
pub fn field_set(value: &Value, kind: &str) -> FieldSet {
    let mut set = FieldSet::new();
    if let Value::Object(map) = value {
        walk_map(map, kind, &mut Vec::new(), &mut Vec::new(), &mut set);
    }
    set
}

fn walk_map<'a>(
    map: &'a Map<String, Value>,
    kind: &str,
    names: &mut Vec<&'a str>,
    prefix: &mut Path,
    set: &mut FieldSet,
) {
    for (key, value) in map {
        names.push(key);
        prefix.push(PathElement::Field(key.clone()));
        if !SERVER_FIELDS.contains(&names.as_slice()) && !value.is_null() {
            walk_value(value, kind, names, prefix, set);
        }
        prefix.pop();
        names.pop();
    }
}

fn walk_value<'a>(value: &'a Value, kind: &str, names: &mut Vec<&'a str>, prefix: &mut Path, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => walk_map(map, kind, names, prefix, set),
        Value::Array(items) if !items.is_empty() => match list_item_elements(items, kind, names) {
            Some(elements) => {
                for (item, element) in items.iter().zip(elements) {
                    prefix.push(element);
                    set.insert(prefix);
                    if let (Value::Object(fields), Some(_)) =
                        (item, strategy_for(kind, names).and_then(Strategy::merge_key))
                    {
                        walk_map(fields, kind, names, prefix, set);
                    }
                    prefix.pop();
                }
            }
            None => set.insert(prefix), // An atomic list is one field.
        },
        _ => set.insert(prefix),
    }
}

/// How the items of list `names` are named, or `None` when the list is atomic (no strategy,
/// or items that do not fit it, such as a keyed list item without its key).
pub(crate) fn list_item_elements(items: &[Value], kind: &str, names: &[&str]) -> Option<Vec<PathElement>> {
    match strategy_for(kind, names)? {
        Strategy::MergeSet => Some(items.iter().map(|v| PathElement::Value(v.to_string())).collect()),
        Strategy::MergeByKey(key) | Strategy::MergeByKeyRetainKeys(key) => {
            items.iter().map(|item| item_key(item, key)).collect()
        }
        Strategy::RetainKeys => None,
    }
}

/// The `k:` element of a keyed list item, `{"name":"web"}`.
pub(crate) fn item_key(item: &Value, key: &str) -> Option<PathElement> {
    let value = item.get(key)?;
    let mut map = Map::new();
    map.insert(key.to_owned(), value.clone());
    Some(PathElement::Key(Value::Object(map).to_string()))
}

/// The value at `path` in `object`, if there is one.
pub fn get<'v>(object: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    let mut here = object;
    for element in path {
        here = match element {
            PathElement::Field(name) => here.get(name)?,
            other => {
                let items = here.as_array()?;
                items.iter().find(|item| matches(item, other))?
            }
        };
    }
    Some(here)
}

/// Removes the value at `path` from `object` (nothing happens if it is not there).
pub fn remove(object: &mut Value, path: &[PathElement]) {
    let Some((last, parent_path)) = path.split_last() else { return };
    let mut here = object;
    for element in parent_path {
        let next = match element {
            PathElement::Field(name) => here.get_mut(name),
            other => here.as_array_mut().and_then(|items| items.iter_mut().find(|item| matches(item, other))),
        };
        let Some(next) = next else { return };
        here = next;
    }
    match last {
        PathElement::Field(name) => {
            if let Some(map) = here.as_object_mut() {
                map.remove(name);
            }
        }
        other => {
            if let Some(items) = here.as_array_mut() {
                items.retain(|item| !matches(item, other));
            }
        }
    }
}

/// Whether a list item is the one a `k:` or `v:` element names.
fn matches(item: &Value, element: &PathElement) -> bool {
    match element {
        PathElement::Field(_) => false,
        PathElement::Value(json) => serde_json::from_str::<Value>(json).is_ok_and(|value| value == *item),
        PathElement::Key(json) => match serde_json::from_str::<Map<String, Value>>(json) {
            Ok(key) => key.iter().all(|(k, v)| item.get(k) == Some(v)),
            Err(_) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_config_sets_its_leaves_and_list_items() {
        let config = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [{"name": "web", "image": "nginx", "args": ["-g", "x"]}],
                "tolerations": [{"key": "k"}]}}}
        });
        let set = field_set(&config, "Deployment");
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:finalizers": {"v:\"a\"": {}}, "f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}},
                    "f:tolerations": {}}}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()), Ok(set));
    }

    #[test]
    fn paths_print_as_upstream_and_find_their_values() {
        let object = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "web", "image": "nginx"}]}});
        let path = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key(r#"{"name":"web"}"#.into()),
            PathElement::Field("image".into()),
        ];
        assert_eq!(path_string(&path), r#".spec.containers[name="web"].image"#);
        assert_eq!(get(&object, &path), Some(&json!("nginx")));
        let mut removed = object.clone();
        remove(&mut removed, &path[..3]);
        assert_eq!(removed, json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}));
    }

    #[test]
    fn unknown_fields_v1_elements_are_errors() {
        let err = FieldSet::from_fields_v1(&json!({"i:0": {}})).unwrap_err();
        assert_eq!(err, FieldsV1Error::UnknownElement("i:0".into()));
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    }
}
