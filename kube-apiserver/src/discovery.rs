//! Discovery: the documents a client reads to learn what the server serves (`/api`,
//! `/apis`, `/api/v1`, `/apis/{group}/{version}`, `/version`), all derived from the one
//! [registry](kube_api::registry). `kubectl api-resources`, `kubectl get all` and the
//! resolution of `kubectl get deploy` all come from here.

use kube_api::registry::{self, ResourceInfo};
use serde_json::{json, Value};

/// The version we present ourselves as: the API level whose behaviour we follow.
pub const GIT_VERSION: &str = kube_api::KUBERNETES_VERSION;

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-11-27T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = registry::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `GET /apis`.
pub fn group_list() -> Value {
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in registry::group_versions() {
        if !g.is_empty() && !groups.contains(&g) {
            groups.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups.into_iter().map(group_json).collect::<Vec<_>>(),
    })
}

/// `GET /apis/{group}`, if served.
pub fn group(group: &str) -> Option<Value> {
    registry::group_versions().iter().any(|(g, _)| *g == group && !g.is_empty()).then(|| {
        let mut v = group_json(group);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        v
    })
}

/// `GET /api/v1` or `/apis/{group}/{version}`: the resources and subresources served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&ResourceInfo> = registry::all().iter().filter(|r| r.group == group && r.version == version).collect();
    if resources.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for sub in r.subresources {
            list.push(subresource_json(r, sub));
        }
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}))
}

fn subresource_json(r: &ResourceInfo, sub: &str) -> Value {
    let (kind, verbs, group_version): (&str, &[&str], Option<(&str, &str)>) = match sub {
        "status" => (r.kind, &["get", "patch", "update"], None),
        "scale" => ("Scale", &["get", "patch", "update"], Some(("autoscaling", "v1"))),
        "binding" => ("Binding", &["create"], None),
        "eviction" => ("Eviction", &["create"], Some(("policy", "v1"))),
        "log" => ("Pod", &["get"], None),
        "exec" => ("PodExecOptions", &["create", "get"], None),
        "finalize" => (r.kind, &["update"], None),
        "token" => ("TokenRequest", &["create"], Some(("authentication.k8s.io", "v1"))),
        _ => (r.kind, &["get"], None),
    };
    let mut v = json!({
        "name": format!("{}/{sub}", r.plural),
        "singularName": "",
        "namespaced": r.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if let Some((g, ver)) = group_version {
        v["group"] = json!(g);
        v["version"] = json!(ver);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resource_list_names_subresources_like_upstream() {
        let list = resource_list("", "v1").unwrap();
        let names: Vec<&str> = list["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"pods") && names.contains(&"pods/status") && names.contains(&"pods/log"));
        let scale = resource_list("apps", "v1").unwrap()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .cloned()
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
    }

    #[test]
    fn groups_list_apps_batch_coordination_and_authorization() {
        let groups = group_list();
        let names: Vec<&str> = groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        for g in ["apps", "batch", "coordination.k8s.io", "authentication.k8s.io", "rbac.authorization.k8s.io", "authorization.k8s.io"] {
            assert!(names.contains(&g), "{g} missing from {names:?}");
        }
        assert!(resource_list("apps", "v2").is_none());
    }
}
