//! Creating the strategic merge patch of client-side `kubectl apply`: a *three-way* diff, as
//! upstream's `strategicpatch.CreateThreeWayMergePatch`.
//!
//! Three objects take part:
//! - `original`: what this user applied last time (the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation), or `null`;
//! - `modified`: what the user applies now;
//! - `current`: the live object, which other writers (controllers, `kubectl scale`,
//!   `kubectl label`) may have changed too.
//!
//! The patch brings `current` to `modified` without undoing the others' work:
//! - a field in `modified` whose value differs from `current` is set;
//! - a field in `original` but no longer in `modified` is deleted (`null`; for an item of a
//!   keyed list, `{"name": "x", "$patch": "delete"}`; for a set-merged list,
//!   `$deleteFromPrimitiveList/<field>`);
//! - a field only in `current` (someone else's) is left alone.
//!
//! Simplified: upstream also emits `$setElementOrder/<field>` so that merged lists keep the
//! user's order; this patch does not (items already there keep their place, new ones are
//! appended). It does emit `$retainKeys` for fields with that strategy.

use serde_json::{Map, Value};

use super::strategy::{strategy_for, Strategy};

/// The patch that turns `current` into `modified`, deleting what the user dropped since
/// `original`. Applying it with [`super::strategic_merge_patch`] to `current` gives the
/// object `kubectl apply` wants. `original` may be `null` (nothing applied before).
pub fn create_strategic_merge_patch(original: &Value, modified: &Value, current: &Value, kind: &str) -> Value {
    let empty = Map::new();
    let modified = modified.as_object().unwrap_or(&empty);
    let current = current.as_object().unwrap_or(&empty);
    Value::Object(diff_map(original.as_object(), modified, current, kind, &mut Vec::new()))
}

fn diff_map<'a>(
    original: Option<&Map<String, Value>>,
    modified: &'a Map<String, Value>,
    current: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<&'a str>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    // Deletions: what the user applied before and dropped now, if it is still there.
    for key in original.into_iter().flat_map(Map::keys) {
        if !modified.contains_key(key) && current.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    // Changes and additions.
    for (key, want) in modified {
        let before = original.and_then(|o| o.get(key));
        path.push(key);
        match (want, current.get(key)) {
            (Value::Object(want), Some(Value::Object(live))) => {
                let mut sub = diff_map(before.and_then(Value::as_object), want, live, kind, path);
                if !sub.is_empty() {
                    if strategy_for(kind, path) == Some(Strategy::RetainKeys) {
                        add_retain_keys(&mut sub, want);
                    }
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            (Value::Array(want), Some(Value::Array(live))) => {
                diff_list(before.and_then(Value::as_array), want, live, kind, path, &mut patch);
            }
            (want, live) => {
                if live != Some(want) {
                    patch.insert(key.clone(), want.clone());
                }
            }
        }
        path.pop();
    }
    patch
}

/// Adds to `patch` what list `path` (the last element is the field) needs.
fn diff_list(
    original: Option<&Vec<Value>>,
    modified: &[Value],
    current: &[Value],
    kind: &str,
    path: &[&str],
    patch: &mut Map<String, Value>,
) {
    let field = path.last().copied().unwrap_or_default();
    let replace_if_changed = |patch: &mut Map<String, Value>| {
        if modified != current {
            patch.insert(field.to_owned(), Value::Array(modified.to_vec()));
        }
    };
    let original = original.map(Vec::as_slice).unwrap_or_default();
    match strategy_for(kind, path) {
        Some(Strategy::MergeSet) => {
            let added: Vec<Value> = modified.iter().filter(|v| !current.contains(v)).cloned().collect();
            let dropped: Vec<Value> =
                original.iter().filter(|v| !modified.contains(v) && current.contains(v)).cloned().collect();
            if !added.is_empty() {
                patch.insert(field.to_owned(), Value::Array(added));
            }
            if !dropped.is_empty() {
                patch.insert(format!("$deleteFromPrimitiveList/{field}"), Value::Array(dropped));
            }
        }
        Some(strategy @ (Strategy::MergeByKey(key) | Strategy::MergeByKeyRetainKeys(key))) => {
            let keyed = |list: &[Value]| list.iter().all(|item| item.get(key).is_some());
            if !keyed(modified) || !keyed(current) || !keyed(original) {
                return replace_if_changed(patch); // Not a well-formed keyed list: no item patches.
            }
            let find = |list: &[Value], id: &Value| list.iter().find(|item| item.get(key) == Some(id)).cloned();
            let mut items = Vec::new();
            for want in modified {
                let (Some(id), Some(want_map)) = (want.get(key), want.as_object()) else { continue };
                let Some(Value::Object(live)) = find(current, id) else {
                    items.push(want.clone());
                    continue;
                };
                let before = find(original, id);
                let mut sub =
                    diff_map(before.as_ref().and_then(Value::as_object), want_map, &live, kind, &mut path.to_vec());
                if !sub.is_empty() {
                    if strategy == Strategy::MergeByKeyRetainKeys(key) {
                        add_retain_keys(&mut sub, want_map);
                    }
                    sub.insert(key.to_owned(), id.clone());
                    items.push(Value::Object(sub));
                }
            }
            for gone in original {
                let Some(id) = gone.get(key) else { continue };
                if find(modified, id).is_none() && find(current, id).is_some() {
                    let mut delete = Map::new();
                    delete.insert(key.to_owned(), id.clone());
                    delete.insert("$patch".to_owned(), Value::String("delete".to_owned()));
                    items.push(Value::Object(delete));
                }
            }
            if !items.is_empty() {
                patch.insert(field.to_owned(), Value::Array(items));
            }
        }
        Some(Strategy::RetainKeys) | None => replace_if_changed(patch),
    }
}

/// `$retainKeys`: the keys the user's map has, so that the server clears the others.
fn add_retain_keys(patch: &mut Map<String, Value>, want: &Map<String, Value>) {
    let mut keys: Vec<&String> = want.keys().collect();
    keys.sort();
    patch.insert("$retainKeys".to_owned(), Value::Array(keys.into_iter().map(|k| Value::String(k.clone())).collect()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::strategic_merge_patch;
    use serde_json::json;

    /// (name, kind, original, modified, current, expected result on current)
    type Case = (&'static str, &'static str, Value, Value, Value, Value);

    #[test]
    fn the_three_way_patch_applied_to_current_gives_what_kubectl_apply_wants() {
        let cases: Vec<Case> = vec![
            (
                "a label dropped from the manifest is removed; one added by someone else is kept",
                "Deployment",
                json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}}),
                json!({"metadata": {"name": "web", "labels": {"app": "web"}}}),
                json!({"metadata": {"name": "web", "uid": "u1", "labels": {"app": "web", "tier": "front", "team": "blue"}}}),
                json!({"metadata": {"name": "web", "uid": "u1", "labels": {"app": "web", "team": "blue"}}}),
            ),
            (
                "a changed image is set; replicas scaled by someone else and not in the manifest stay",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
                json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"}]}}}}),
                json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent"}]}}}}),
            ),
            (
                "a container dropped from the manifest is deleted; one injected by someone else is kept",
                "Pod",
                json!({"spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]}}),
                json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
                json!({"spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}, {"name": "mesh", "image": "envoy"}]}}),
                json!({"spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "mesh", "image": "envoy"}]}}),
            ),
            (
                "a finalizer dropped from the manifest is removed, a new one added",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                json!({"metadata": {"finalizers": ["a", "b", "z"]}}),
                json!({"metadata": {"finalizers": ["b", "z", "c"]}}),
            ),
            (
                "a list without a strategy is replaced when it differs",
                "Pod",
                json!({"spec": {"tolerations": [{"key": "a"}]}}),
                json!({"spec": {"tolerations": [{"key": "b"}]}}),
                json!({"spec": {"tolerations": [{"key": "a"}]}}),
                json!({"spec": {"tolerations": [{"key": "b"}]}}),
            ),
            (
                "switching the deployment strategy drops the defaulted rollingUpdate",
                "Deployment",
                json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
            (
                "the first apply over an object created otherwise only adds",
                "ConfigMap",
                Value::Null,
                json!({"data": {"a": "1"}}),
                json!({"data": {"a": "0", "b": "2"}}),
                json!({"data": {"a": "1", "b": "2"}}),
            ),
        ];
        for (name, kind, original, modified, current, want) in cases {
            let patch = create_strategic_merge_patch(&original, &modified, &current, kind);
            assert_eq!(strategic_merge_patch(&current, &patch, kind), Ok(want), "{name}: patch {patch}");
        }
    }

    #[test]
    fn the_three_way_patch_is_minimal() {
        let original = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"replicas": 2}});
        let modified = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 2}});
        let current =
            json!({"metadata": {"labels": {"app": "web", "tier": "front", "team": "blue"}}, "spec": {"replicas": 2}});
        let patch = create_strategic_merge_patch(&original, &modified, &current, "Deployment");
        assert_eq!(patch, json!({"metadata": {"labels": {"tier": null}}}));
        let unchanged = create_strategic_merge_patch(&modified, &modified, &modified, "Deployment");
        assert_eq!(unchanged, json!({}));
    }
}
