//! OpenAPI v3 documents, generated from the registry.
//!
//! kubectl's `create` and `apply` (with the default `--validate=strict`) first read
//! `/openapi/v3`. When an operation declares the `fieldValidation` query parameter,
//! kubectl trusts the server to validate and sends `?fieldValidation=Strict`, which our
//! typed decoding honours (unknown fields → 400). The documents list the paths and
//! operations of every resource with its `x-kubernetes-group-version-kind`.

use kube_api::registry::{self, ResourceInfo};
use serde_json::{json, Map, Value};

/// `GET /openapi/v3`: one entry per group version.
pub fn index() -> Value {
    let mut paths = Map::new();
    for (group, version) in registry::group_versions() {
        let key = gv_path(group, version);
        paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", hash(group, version))}));
    }
    json!({"paths": paths})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash of a document's content, so clients may cache it.
fn hash(group: &str, version: &str) -> String {
    let doc = document(group, version).map(|d| d.to_string()).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in doc.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
pub fn document_for_path(path: &str) -> Option<Value> {
    let rest = path.strip_prefix("/openapi/v3/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["api", v] => document("", v),
        ["apis", g, v] => document(g, v),
        _ => None,
    }
}

fn document(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&ResourceInfo> = registry::all().iter().filter(|r| r.group == group && r.version == version).collect();
    if resources.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in resources {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let schema_name = schema_name(r);
        schemas.insert(
            schema_name.clone(),
            json!({
                "type": "object",
                "description": format!("{} (fields are validated by the server)", r.kind),
                "x-kubernetes-group-version-kind": [gvk.clone()],
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        );
        let base = r.group_version_path();
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let schema_ref = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let body = json!({"content": {"*/*": {"schema": schema_ref}}, "required": true});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}});
        let op = |verb: &str, action: &str, with_body: bool| {
            let mut o = json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [field_validation(), dry_run(), field_manager()],
                "responses": ok,
            });
            if with_body {
                o["requestBody"] = body.clone();
            }
            o
        };
        paths.insert(
            collection.clone(),
            json!({"get": op("list", "list", false), "post": op("create", "post", true), "parameters": namespace_param(r)}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op("read", "get", false),
                "put": op("replace", "put", true),
                "patch": op("patch", "patch", true),
                "delete": op("delete", "delete", false),
                "parameters": item_params(r),
            }),
        );
        for sub in r.subresources.iter().filter(|s| **s == "status" || **s == "scale") {
            paths.insert(
                format!("{collection}/{{name}}/{sub}"),
                json!({"get": op("read", "get", false), "put": op("replace", "put", true), "patch": op("patch", "patch", true), "parameters": item_params(r)}),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn schema_name(r: &ResourceInfo) -> String {
    let group = if r.group.is_empty() { "core" } else { r.group };
    format!("io.k8s.api.{}.{}.{}", group.split('.').next().unwrap_or(group), r.version, r.kind)
}

fn field_validation() -> Value {
    json!({"name": "fieldValidation", "in": "query", "description": "Ignore, Warn or Strict: what to do with unknown or duplicate fields.", "schema": {"type": "string", "uniqueItems": true}})
}

fn dry_run() -> Value {
    json!({"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn field_manager() -> Value {
    json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn namespace_param(r: &ResourceInfo) -> Value {
    if r.namespaced {
        json!([{"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}])
    } else {
        json!([])
    }
}

fn item_params(r: &ResourceInfo) -> Value {
    let mut params = namespace_param(r).as_array().cloned().unwrap_or_default();
    params.push(json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
    Value::Array(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_points_at_every_group_version() {
        let idx = index();
        assert!(idx["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap().starts_with("/openapi/v3/api/v1?hash="));
        assert!(idx["paths"].get("apis/apps/v1").is_some());
    }

    #[test]
    fn pod_create_declares_field_validation_and_its_kind() {
        let doc = document_for_path("/openapi/v3/api/v1").unwrap();
        let post = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"];
        assert_eq!(post["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(post["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(doc["paths"].get("/api/v1/nodes/{name}").is_some());
    }
}
