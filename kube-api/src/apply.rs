//! Server-side apply (`PATCH` with `Content-Type: application/apply-patch+yaml`,
//! `?fieldManager=kubectl&force=false`) and the field ownership it keeps in
//! `metadata.managedFields`.
//!
//! Every writer is a *manager*. An entry of `managedFields` says which fields one manager
//! owns, and how it wrote them: `operation: Apply` (a declarative config, sent whole each
//! time) or `operation: Update` (any other write: create, update, patch).
//!
//! [`apply`] merges a config into the live object:
//! 1. the fields the config sets ([`field_set`]) become owned by the applier;
//! 2. a field the config sets to a value *different* from live that another manager owns is a
//!    **conflict**: the apply fails (409) unless `force`, which takes the field from the other;
//! 3. the config is merged into live: maps key by key, lists merged by key or as sets where the
//!    [strategy table](crate::patch::strategy) says so, other lists replaced;
//! 4. fields the applier owned before but left out of this config are **removed** from the
//!    object, unless another manager owns them too.
//!
//! [`record_update`] is the bookkeeping of every other write: the fields that changed become
//! owned by the writer (`operation: Update`) and are taken from every other manager; fields
//! that were removed are taken from everyone.
//!
//! ## What is simplified, compared with upstream (`sigs.k8s.io/structured-merge-diff`)
//! - Upstream walks the object along its OpenAPI schema. Here, maps are always granular and
//!   lists follow the strategic-merge table; so `spec.selector` (atomic upstream) is owned field
//!   by field, and keyed lists have one key field where upstream uses several
//!   (`containerPort` + `protocol` for ports).
//! - No type checks and no defaulting inside apply: the apiserver's pipeline (decode → default
//!   → validate) runs on the result.
//! - Managers are told apart by name and operation; `subresource` is carried, not compared,
//!   and the `status` subresource's separate ownership is not modelled.
//! - List order: merged items keep their live order and new ones are appended (upstream
//!   orders by the applied config).
//! - No migration of client-side-apply ownership (upstream kubectl rewrites it on
//!   `apply --server-side` for an object created by `kubectl apply`).
//!
//! These keep the file short while keeping what users see: the conflicts, their message, the
//! removal of dropped fields, and `managedFields` in upstream's encoding.

use serde_json::{Map, Value};

use crate::patch::strategy::{strategy_for, Strategy};

pub mod fieldset;

pub use fieldset::{field_set, path_string, FieldSet, FieldsV1Error, Path, PathElement};

/// Why an apply was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    /// The config is not a JSON object (400 Bad Request).
    #[error("the apply configuration must be an object, not {0}")]
    NotAnObject(&'static str),
    /// The config carries `metadata.managedFields` (400 Bad Request, as upstream).
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsInConfig,
    /// Fields the config changes are owned by other managers, and `force` was not given
    /// (409 Conflict, one `FieldManagerConflict` cause per conflict).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
}

/// One field the applier wants to change but another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, e.g. `kubectl-client-side-apply`.
    pub manager: String,
    /// How it wrote the field: `Apply` or `Update`.
    pub operation: String,
    /// The API version it wrote with, e.g. `apps/v1`.
    pub api_version: String,
    /// When (for an `Update`), RFC 3339.
    pub time: Option<String>,
    /// The field, in upstream's notation: `.spec.replicas`.
    pub field: String,
}

impl Conflict {
    /// The manager as upstream names it in messages: `"kubectl"` for an applier,
    /// `"kube-controller-manager" using apps/v1 at 2025-01-01T00:00:00Z` for an updater.
    pub fn manager_description(&self) -> String {
        let name = format!("{:?}", self.manager);
        match (self.operation.as_str(), &self.time) {
            ("Update", Some(time)) => format!("{name} using {} at {time}", self.api_version),
            ("Update", None) => format!("{name} using {}", self.api_version),
            _ => name,
        }
    }
}

/// Upstream's message: one conflict on one line; several grouped by manager, one per line.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", only.manager_description(), only.field);
    }
    let mut managers: Vec<String> = conflicts.iter().map(Conflict::manager_description).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for conflict in conflicts.iter().filter(|c| c.manager_description() == manager) {
            lines.push(format!("- {}", conflict.field));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), self.manager.clone().into());
        map.insert("operation".into(), self.operation.clone().into());
        map.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(time) = &self.time {
            map.insert("time".into(), time.clone().into());
        }
        map.insert("fieldsType".into(), "FieldsV1".into());
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            map.insert("subresource".into(), subresource.clone().into());
        }
        Value::Object(map)
    }

    /// Reads an entry; entries we cannot read are dropped, as upstream resets unreadable
    /// managed fields rather than failing the write.
    fn from_value(value: &Value) -> Option<Entry> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        if text("fieldsType").as_deref() != Some("FieldsV1") {
            return None;
        }
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation: text("operation")?,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource"),
            fields: FieldSet::from_fields_v1(value.get("fieldsV1")?).ok()?,
        })
    }
}

fn read_entries(object: &Value) -> Vec<Entry> {
    let entries = object.pointer("/metadata/managedFields").and_then(Value::as_array);
    entries.into_iter().flatten().filter_map(Entry::from_value).collect()
}

/// Writes `entries` (the non-empty ones) to `object.metadata.managedFields`.
fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    let entries: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_value).collect();
    let Some(object) = object.as_object_mut() else { return };
    let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Some(metadata) = metadata.as_object_mut() {
        if entries.is_empty() {
            metadata.remove("managedFields");
        } else {
            metadata.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Applies `applied` (a whole config) for `manager` to `live` (`None` on create) and returns
/// the new object, its `managedFields` updated. `now` is the RFC 3339 time for the entry.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    kind: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::NotAnObject(crate::patch::type_name(applied)));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApplyError::ManagedFieldsInConfig);
    }
    let empty = Value::Object(Map::new());
    let live = live.unwrap_or(&empty);
    let mut entries = read_entries(live);
    let new_set = field_set(applied, kind);
    let previous = entries.iter().find(|e| e.is(manager, "Apply")).map(|e| e.fields.clone()).unwrap_or_default();

    // 2. Conflicts: fields we change that someone else owns.
    let mut conflicts = Vec::new();
    for path in new_set.leaves() {
        if !changes(live, applied, &path) {
            continue;
        }
        for other in entries.iter_mut().filter(|e| !e.is(manager, "Apply")) {
            if other.fields.contains(&path) {
                conflicts.push(Conflict {
                    manager: other.manager.clone(),
                    operation: other.operation.clone(),
                    api_version: other.api_version.clone(),
                    time: other.time.clone(),
                    field: path_string(&path),
                });
                if force {
                    let mut taken = FieldSet::new();
                    taken.insert(&path);
                    other.fields = other.fields.difference(&taken);
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }

    // 3. Merge the config into live.
    let mut merged = merge(live, applied, kind, &mut Vec::new());

    // 4. Remove what we dropped from the config, unless someone else owns it too.
    let others: FieldSet =
        entries.iter().filter(|e| !e.is(manager, "Apply")).fold(FieldSet::new(), |all, e| all.union(&e.fields));
    for path in previous.difference(&new_set).leaves() {
        if !others.contains_prefix(&path) && !is_key_field(&path) {
            fieldset::remove(&mut merged, &path);
        }
    }

    // 1. The applier owns what it set.
    let entry = Entry {
        manager: manager.to_owned(),
        operation: "Apply".to_owned(),
        api_version: applied.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned(),
        time: Some(now.to_owned()),
        subresource: None,
        fields: new_set,
    };
    match entries.iter_mut().find(|e| e.is(manager, "Apply")) {
        Some(existing) => *existing = entry,
        None => entries.push(entry),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, update, patch) by `manager`: the fields that differ
/// between `old` (`Value::Null` on create) and `new` become owned by `manager` with
/// `operation: Update`; changed and removed fields are taken from every other manager.
/// Returns `new` with `metadata.managedFields` updated (the old entries are authoritative).
pub fn record_update(old: &Value, new: &Value, manager: &str, kind: &str, now: &str) -> Value {
    let old_set = field_set(old, kind);
    let new_set = field_set(new, kind);
    let mut changed = FieldSet::new();
    for path in new_set.leaves().into_iter().filter(|p| changes(old, new, p)) {
        changed.insert(&path);
    }
    let removed = old_set.difference(&new_set);

    let mut entries = read_entries(old);
    for entry in entries.iter_mut() {
        entry.fields = entry.fields.difference(&changed).difference(&removed);
    }
    if !changed.is_empty() {
        let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        match entries.iter_mut().find(|e| e.is(manager, "Update")) {
            Some(entry) => {
                entry.fields = entry.fields.union(&changed);
                entry.api_version = api_version;
                entry.time = Some(now.to_owned());
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: "Update".to_owned(),
                api_version,
                time: Some(now.to_owned()),
                subresource: None,
                fields: changed,
            }),
        }
    }
    let mut new = new.clone();
    write_entries(&mut new, entries);
    new
}

/// The manager name of a write that gives no `?fieldManager=`: the product of its
/// `User-Agent` (`kube-controller-manager/v1.33.0 (linux/amd64) ...` → `kube-controller-manager`),
/// at most 128 characters, as upstream's `prefixFromUserAgent`.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let product = user_agent.split('/').next().unwrap_or_default();
    product.chars().take(128).collect()
}

/// Whether writing `to` over `from` changes the field at `path`. A list item (`k:`/`v:`)
/// changes only by appearing; its fields are compared one by one.
fn changes(from: &Value, to: &Value, path: &[PathElement]) -> bool {
    let before = fieldset::get(from, path);
    match path.last() {
        Some(PathElement::Field(_)) => before != fieldset::get(to, path),
        _ => before.is_none(),
    }
}

/// Whether `path` is the key field of a keyed list item (`k:{"name":"web"}` → `f:name`):
/// removing it would break the item, so it goes only with the item.
fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(key), PathElement::Field(name)] => {
            serde_json::from_str::<Map<String, Value>>(key).is_ok_and(|k| k.contains_key(name))
        }
        _ => false,
    }
}

/// Merges an apply config into the live object: maps key by key, keyed lists item by item,
/// set lists as unions, everything else replaced. `null`s in the config set nothing.
fn merge<'a>(live: &Value, applied: &'a Value, kind: &str, names: &mut Vec<&'a str>) -> Value {
    match (live, applied) {
        (Value::Object(live), Value::Object(config)) => {
            let mut out = live.clone();
            for (key, value) in config {
                if value.is_null() {
                    continue;
                }
                names.push(key);
                let merged = match live.get(key) {
                    Some(existing) => merge(existing, value, kind, names),
                    None => merge(&Value::Null, value, kind, names),
                };
                names.pop();
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (live, Value::Array(config)) => {
            let live_items = live.as_array().map(Vec::as_slice).unwrap_or_default();
            match strategy_for(kind, names) {
                Some(Strategy::MergeSet) => {
                    let mut out = live_items.to_vec();
                    out.extend(config.iter().filter(|v| !live_items.contains(v)).cloned());
                    Value::Array(out)
                }
                Some(Strategy::MergeByKey(key) | Strategy::MergeByKeyRetainKeys(key))
                    if config.iter().all(|item| item.get(key).is_some()) =>
                {
                    let mut out = live_items.to_vec();
                    for item in config {
                        let id = item.get(key);
                        match out.iter_mut().find(|o| o.get(key) == id) {
                            Some(existing) => *existing = merge(existing, item, kind, names),
                            None => out.push(merge(&Value::Null, item, kind, names)),
                        }
                    }
                    Value::Array(out)
                }
                _ => strip_nulls(applied),
            }
        }
        (Value::Null, Value::Object(_)) => merge(&Value::Object(Map::new()), applied, kind, names),
        _ => applied.clone(),
    }
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2025-01-01T00:00:00Z";
    const T1: &str = "2025-01-01T00:01:00Z";

    fn deployment(replicas: i64, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
        })
    }

    fn managed(object: &Value) -> Value {
        object.pointer("/metadata/managedFields").cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn the_first_apply_creates_the_object_and_its_managed_fields() {
        let config = deployment(2, json!({"app": "web"}));
        let created = apply(None, &config, "kubectl", false, "Deployment", T0).unwrap();
        assert_eq!(created.pointer("/spec/replicas"), Some(&json!(2)));
        assert_eq!(
            managed(&created),
            json!([{
                "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
                }
            }])
        );
    }

    #[test]
    fn a_second_apply_that_drops_a_field_removes_it_but_keeps_what_others_own() {
        let first =
            apply(None, &deployment(2, json!({"app": "web", "tier": "front"})), "kubectl", false, "Deployment", T0)
                .unwrap();
        // Someone else adds a label of their own.
        let mut labelled = first.clone();
        labelled["metadata"]["labels"]["team"] = json!("blue");
        let labelled = record_update(&first, &labelled, "kubectl-label", "Deployment", T0);

        let second =
            apply(Some(&labelled), &deployment(2, json!({"app": "web"})), "kubectl", false, "Deployment", T1).unwrap();
        assert_eq!(second.pointer("/metadata/labels"), Some(&json!({"app": "web", "team": "blue"})));
        let managers: Vec<String> = read_entries(&second).into_iter().map(|e| e.manager).collect();
        assert_eq!(managers, ["kubectl", "kubectl-label"]);
    }

    #[test]
    fn a_container_dropped_from_the_config_is_removed() {
        let mut two = deployment(1, json!({}));
        two["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]);
        let live = apply(None, &two, "kubectl", false, "Deployment", T0).unwrap();
        let after = apply(Some(&live), &deployment(1, json!({})), "kubectl", false, "Deployment", T1).unwrap();
        assert_eq!(after.pointer("/spec/template/spec/containers"), Some(&json!([{"name": "web", "image": "nginx"}])));
    }

    #[test]
    fn changing_a_field_another_manager_owns_is_a_conflict_unless_forced() {
        // Created by client-side `kubectl apply`: an Update by kubectl-client-side-apply.
        let created = record_update(
            &Value::Null,
            &deployment(2, json!({"app": "web"})),
            "kubectl-client-side-apply",
            "Deployment",
            T0,
        );
        let config = deployment(3, json!({"app": "web"}));

        let err = apply(Some(&created), &config, "kubectl", false, "Deployment", T1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1 at 2025-01-01T00:00:00Z: .spec.replicas"
        );

        let forced = apply(Some(&created), &config, "kubectl", true, "Deployment", T1).unwrap();
        assert_eq!(forced.pointer("/spec/replicas"), Some(&json!(3)));
        let entries = read_entries(&forced);
        let replicas = [PathElement::Field("spec".into()), PathElement::Field("replicas".into())];
        let owners: Vec<&str> =
            entries.iter().filter(|e| e.fields.contains(&replicas)).map(|e| e.manager.as_str()).collect();
        assert_eq!(owners, ["kubectl"]);
        // Fields set to the same value are shared, not taken.
        let app = [
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("app".into()),
        ];
        assert_eq!(entries.iter().filter(|e| e.fields.contains(&app)).count(), 2);
    }

    #[test]
    fn conflict_messages_read_as_upstream() {
        let conflict = |manager: &str, operation: &str, time: Option<&str>, field: &str| Conflict {
            manager: manager.into(),
            operation: operation.into(),
            api_version: "v1".into(),
            time: time.map(Into::into),
            field: field.into(),
        };
        let cases = vec![
            (
                vec![conflict("kubectl-client-side-apply", "Update", None, ".spec.replicas")],
                "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .spec.replicas",
            ),
            (
                vec![conflict("mgr", "Apply", None, ".spec.replicas"), conflict("mgr", "Apply", None, ".spec.template.spec.containers[name=\"web\"].image")],
                "Apply failed with 2 conflicts: conflicts with \"mgr\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image",
            ),
        ];
        for (conflicts, want) in cases {
            assert_eq!(ApplyError::Conflicts(conflicts).to_string(), want);
        }
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_the_applier() {
        let live = apply(None, &deployment(2, json!({"app": "web"})), "kubectl", false, "Deployment", T0).unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        let scaled = record_update(&live, &scaled, "kube-controller-manager", "Deployment", T1);
        let entries = read_entries(&scaled);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].fields.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
        assert_eq!(entries[1].operation, "Update");
        let replicas = [PathElement::Field("spec".into()), PathElement::Field("replicas".into())];
        assert!(!entries[0].fields.contains(&replicas));
        // Re-applying the old value now conflicts with the controller.
        let err = apply(Some(&scaled), &deployment(2, json!({"app": "web"})), "kubectl", false, "Deployment", T1);
        assert!(matches!(err, Err(ApplyError::Conflicts(c)) if c[0].manager == "kube-controller-manager"));
    }

    #[test]
    fn finalizers_are_owned_value_by_value() {
        let config = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
        let live = apply(None, &config(json!(["a", "b"])), "kubectl", false, "ConfigMap", T0).unwrap();
        let mut added = live.clone();
        added["metadata"]["finalizers"] = json!(["a", "b", "z"]);
        let added = record_update(&live, &added, "some-controller", "ConfigMap", T0);
        let after = apply(Some(&added), &config(json!(["b"])), "kubectl", false, "ConfigMap", T1).unwrap();
        assert_eq!(after.pointer("/metadata/finalizers"), Some(&json!(["b", "z"])));
        assert_eq!(
            read_entries(&after)[1].fields.to_fields_v1(),
            json!({"f:metadata": {"f:finalizers": {"v:\"z\"": {}}}})
        );
    }

    #[test]
    fn the_default_manager_is_the_product_of_the_user_agent() {
        let cases = [
            ("kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef", "kubectl"),
            (
                "kube-controller-manager/v1.33.0 (linux/amd64) kubernetes/abcdef/system:serviceaccount",
                "kube-controller-manager",
            ),
            ("curl", "curl"),
            ("", ""),
        ];
        for (user_agent, want) in cases {
            assert_eq!(manager_from_user_agent(user_agent), want, "{user_agent}");
        }
    }

    #[test]
    fn malformed_configs_are_refused() {
        assert_eq!(apply(None, &json!([1]), "kubectl", false, "Pod", T0), Err(ApplyError::NotAnObject("a list")));
        let with_managed = json!({"metadata": {"managedFields": [{"manager": "x"}]}});
        assert_eq!(apply(None, &with_managed, "kubectl", false, "Pod", T0), Err(ApplyError::ManagedFieldsInConfig));
    }
}
