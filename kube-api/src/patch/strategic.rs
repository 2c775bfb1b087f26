//! Applying a strategic merge patch, as upstream's `k8s.io/apimachinery/pkg/util/strategicpatch`.
//!
//! A strategic merge patch is a partial object merged into the target:
//! - maps merge key by key; a key set to `null` is deleted;
//! - lists follow the field's [`Strategy`]: merged by key (containers by `name`; a patch item
//!   changes only the item with the same key, new keys are appended), merged as a set
//!   (finalizers: the patch's values are added), or, without a strategy, replaced whole;
//! - scalars, and values whose JSON type changes, are replaced.
//!
//! Directives, all of them keys or items starting with `$`, change the default:
//! - `{"$patch": "delete"}` in a map deletes that map; in an item of a keyed list
//!   (`{"name": "sidecar", "$patch": "delete"}`) deletes that item;
//! - `{"$patch": "replace"}` in a map replaces the map by the rest of the patch map; as an item
//!   of a list it replaces the list by the other items of the patch list;
//! - `{"$patch": "merge"}` is the default, and accepted;
//! - `"$retainKeys": ["type", "rollingUpdate"]` in a map clears the keys it does not list;
//! - `"$deleteFromPrimitiveList/finalizers": ["a"]` removes values from a set-merged list;
//! - `"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]` orders the merged list:
//!   the listed items first, in that order, then the others in their previous order
//!   (upstream interleaves the others where they were; that detail is simplified here).

use serde_json::{Map, Value};

use super::strategy::{strategy_for, Strategy};
use super::{type_name, PatchError};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a strategic merge `patch` to `target`, an object of `kind` (which picks the
/// merge keys from [`super::strategy`]).
pub fn strategic_merge_patch(target: &Value, patch: &Value, kind: &str) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject(type_name(patch)));
    };
    let empty = Map::new();
    let original = target.as_object().unwrap_or(&empty);
    let merged = merge_map(original, patch, kind, &mut Vec::new())?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Merges a patch map into an original map; `None` when the patch says `$patch: delete`.
fn merge_map<'a>(
    original: &Map<String, Value>,
    patch: &'a Map<String, Value>,
    kind: &str,
    path: &mut Vec<&'a str>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(None),
        Some(Value::String(d)) if d == "replace" => {
            // The patch map, minus its directives, is the new value.
            return merge_map(&Map::new(), &without_key(patch, PATCH), kind, &mut path.clone())
                .map(|m| m.or(Some(Map::new())));
        }
        Some(other) => return Err(unknown_directive(other, patch)),
    }

    let mut result = original.clone();
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keep = string_list(retain, RETAIN_KEYS)?;
        result.retain(|key, _| keep.iter().any(|k| k == key));
    }

    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(doomed) = value else {
                return Err(wrong_type("a list", value, key));
            };
            if let Some(Value::Array(list)) = result.get_mut(field) {
                list.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue; // $patch and $retainKeys are handled above, $setElementOrder below.
        }
        if value.is_null() {
            result.remove(key);
            continue;
        }
        path.push(key);
        let merged = merge_value(result.get(key), value, kind, path)?;
        path.pop();
        match merged {
            Some(merged) => result.insert(key.clone(), merged),
            None => result.remove(key),
        };
    }

    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let Value::Array(order) = order else {
                return Err(wrong_type("a list", order, key));
            };
            path.push(field);
            let key_field = strategy_for(kind, path).and_then(Strategy::merge_key);
            path.pop();
            if let Some(Value::Array(list)) = result.get_mut(field) {
                reorder(list, order, key_field);
            }
        }
    }
    Ok(Some(result))
}

/// Merges one patch value into the original value of the same field (which may be absent).
/// `None` means the field is to be deleted.
fn merge_value<'a>(
    original: Option<&Value>,
    patch: &'a Value,
    kind: &str,
    path: &mut Vec<&'a str>,
) -> Result<Option<Value>, PatchError> {
    match (original, patch) {
        (Some(Value::Object(o)), Value::Object(p)) => Ok(merge_map(o, p, kind, path)?.map(Value::Object)),
        (None, Value::Object(p)) => Ok(merge_map(&Map::new(), p, kind, path)?.map(Value::Object)),
        (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, kind, path).map(Some),
        (None, Value::Array(p)) => merge_list(&[], p, kind, path).map(Some),
        // A scalar, or a change of JSON type: the patch wins.
        _ => Ok(Some(patch.clone())),
    }
}

/// Merges a patch list into an original list according to the field's strategy.
fn merge_list<'a>(
    original: &[Value],
    patch: &'a [Value],
    kind: &str,
    path: &mut Vec<&'a str>,
) -> Result<Value, PatchError> {
    // `{"$patch": "replace"}` as an item: the other items are the new list.
    let replace = patch.iter().any(|item| item.get(PATCH).and_then(Value::as_str) == Some("replace"));
    let items = patch.iter().filter(|item| item.get(PATCH).and_then(Value::as_str) != Some("replace"));
    let original = if replace { &[][..] } else { original };

    match strategy_for(kind, path) {
        Some(Strategy::MergeSet) => {
            let mut merged = original.to_vec();
            for item in items {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Ok(Value::Array(merged))
        }
        Some(Strategy::MergeByKey(key) | Strategy::MergeByKeyRetainKeys(key)) => {
            let mut merged = original.to_vec();
            for item in items {
                let Value::Object(patch_item) = item else {
                    return Err(wrong_type("a map", item, &path.join(".")));
                };
                let Some(key_value) = patch_item.get(key) else {
                    return Err(PatchError::MissingMergeKey { key, item: item.to_string() });
                };
                let position = merged.iter().position(|o| o.get(key) == Some(key_value));
                let deleting = patch_item.get(PATCH).and_then(Value::as_str) == Some("delete");
                match (position, deleting) {
                    (Some(i), true) => {
                        merged.remove(i);
                    }
                    (None, true) => {}
                    (position, false) => {
                        let empty = Map::new();
                        let original_item = position.and_then(|i| merged[i].as_object()).unwrap_or(&empty);
                        let merged_item = merge_map(original_item, patch_item, kind, path)?
                            .map(Value::Object)
                            .unwrap_or_else(|| Value::Object(Map::new()));
                        match position {
                            Some(i) => merged[i] = merged_item,
                            None => merged.push(merged_item),
                        }
                    }
                }
            }
            Ok(Value::Array(merged))
        }
        // No strategy: the patch list replaces the original, directives stripped.
        Some(Strategy::RetainKeys) | None => {
            let mut replaced = Vec::new();
            for item in items {
                if let Some(value) = merge_value(None, item, kind, path)? {
                    replaced.push(value);
                }
            }
            Ok(Value::Array(replaced))
        }
    }
}

/// Orders `list` as `order` says: listed items first, in order; the others after them.
fn reorder(list: &mut Vec<Value>, order: &[Value], key_field: Option<&str>) {
    let identity = |item: &Value| -> Value {
        match key_field {
            Some(key) => item.get(key).cloned().unwrap_or(Value::Null),
            None => item.clone(),
        }
    };
    let mut rest = std::mem::take(list);
    for wanted in order {
        let wanted = identity(wanted);
        if let Some(i) = rest.iter().position(|item| identity(item) == wanted) {
            list.push(rest.remove(i));
        }
    }
    list.append(&mut rest);
}

fn without_key(map: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut map = map.clone();
    map.remove(key);
    map
}

fn string_list(value: &Value, field: &str) -> Result<Vec<String>, PatchError> {
    let err = || wrong_type("a list of strings", value, field);
    let Value::Array(items) = value else { return Err(err()) };
    items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(err)).collect()
}

fn unknown_directive(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let directive = directive.as_str().map(str::to_owned).unwrap_or_else(|| directive.to_string());
    PatchError::UnknownDirective { directive, map: Value::Object(map.clone()).to_string() }
}

fn wrong_type(expected: &'static str, got: &Value, field: &str) -> PatchError {
    PatchError::WrongType { expected, got: type_name(got), field: field.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": containers}})
    }

    #[test]
    fn strategic_merge_follows_the_strategy_of_each_field() {
        let two = pod(json!([
            {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
            {"name": "log", "image": "busybox"}
        ]));
        let cases: Vec<(&str, &str, Value, Value, Value)> = vec![
            (
                "changing one container's image keeps the other container",
                "Pod",
                two.clone(),
                json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}),
                pod(json!([
                    {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                    {"name": "log", "image": "busybox"}
                ])),
            ),
            (
                "$patch: delete removes one container",
                "Pod",
                two.clone(),
                json!({"spec": {"containers": [{"name": "log", "$patch": "delete"}]}}),
                pod(
                    json!([{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}, {"containerPort": 443}]}]),
                ),
            ),
            (
                "ports are merged by containerPort",
                "Pod",
                two.clone(),
                json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 8080}]}]}}),
                pod(json!([
                    {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}, {"containerPort": 443, "name": "https"}, {"containerPort": 8080}]},
                    {"name": "log", "image": "busybox"}
                ])),
            ),
            (
                "a new container is appended",
                "Pod",
                pod(json!([{"name": "web", "image": "nginx"}])),
                json!({"spec": {"containers": [{"name": "side", "image": "envoy"}]}}),
                pod(json!([{"name": "web", "image": "nginx"}, {"name": "side", "image": "envoy"}])),
            ),
            (
                "$patch: replace as a list item replaces the whole list",
                "Pod",
                two.clone(),
                json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}),
                pod(json!([{"name": "only", "image": "x"}])),
            ),
            (
                "finalizers are merged as a set",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            ),
            (
                "$deleteFromPrimitiveList removes finalizers",
                "ConfigMap",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": ["b"]}}),
            ),
            (
                "a list without a strategy is replaced",
                "Pod",
                json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}]}}),
            ),
            (
                "null deletes a key",
                "Pod",
                json!({"metadata": {"labels": {"app": "web", "tier": "front"}}}),
                json!({"metadata": {"labels": {"tier": null}}}),
                json!({"metadata": {"labels": {"app": "web"}}}),
            ),
            (
                "$patch: delete on a map deletes the map",
                "Pod",
                json!({"metadata": {"labels": {"app": "web"}, "name": "p"}}),
                json!({"metadata": {"labels": {"$patch": "delete"}}}),
                json!({"metadata": {"name": "p"}}),
            ),
            (
                "$patch: replace on a map replaces it",
                "Pod",
                json!({"metadata": {"labels": {"app": "web", "tier": "front"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "env": "prod"}}}),
                json!({"metadata": {"labels": {"env": "prod"}}}),
            ),
            (
                "$retainKeys clears the keys it does not list",
                "Deployment",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
            (
                "$setElementOrder orders a keyed list",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}),
                json!({"spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "c"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}}}}),
            ),
            (
                "env of a deployment's container is merged by name",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}]}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]}]}}}}),
            ),
            (
                "Service ports are merged by port",
                "Service",
                json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
            ),
        ];
        for (name, kind, target, patch, want) in cases {
            assert_eq!(strategic_merge_patch(&target, &patch, kind), Ok(want), "{name}");
        }
    }

    #[test]
    fn strategic_merge_rejects_malformed_patches() {
        let target = pod(json!([{"name": "web"}]));
        let cases: Vec<(&str, Value, PatchError)> = vec![
            ("a list is not a patch", json!([1]), PatchError::NotAnObject("a list")),
            (
                "a container without its merge key",
                json!({"spec": {"containers": [{"image": "x"}]}}),
                PatchError::MissingMergeKey { key: "name", item: r#"{"image":"x"}"#.into() },
            ),
            (
                "an unknown $patch directive",
                json!({"metadata": {"$patch": "explode"}}),
                PatchError::UnknownDirective { directive: "explode".into(), map: r#"{"$patch":"explode"}"#.into() },
            ),
            (
                "$retainKeys that is not a list",
                json!({"spec": {"$retainKeys": "x"}}),
                PatchError::WrongType { expected: "a list of strings", got: "a string", field: "$retainKeys".into() },
            ),
        ];
        for (name, patch, want) in cases {
            assert_eq!(strategic_merge_patch(&target, &patch, "Pod"), Err(want), "{name}");
        }
    }
}
