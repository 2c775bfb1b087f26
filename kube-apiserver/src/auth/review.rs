//! `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (and
//! `subjectaccessreviews`): ask the authorizer chain a question and answer at once; nothing
//! is stored. `kubectl auth can-i list pods` is a SelfSubjectAccessReview.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use kube_api::authorization::{NonResourceAttributes, ResourceAttributes, SubjectAccessReviewStatus};
use kube_api::object::FieldValidation;
use kube_api::ResourceInfo;
use serde_json::{json, Value};

use super::{Attributes, Decision, UserInfo};
use crate::errors::{ApiError, Result};
use crate::handlers::{value_response, Body};
use crate::negotiate;
use crate::State;

/// Answer one review sent by `user`.
pub fn create(state: &State, user: &UserInfo, res: &'static ResourceInfo, headers: &HeaderMap, body: &Bytes) -> Result<Response<Body>> {
    let format = negotiate::accepted_format(headers)?;
    let value = negotiate::decode_body(body, &negotiate::content_type(headers))?;
    let (mut review, _) = (res.ops.decode)(value, FieldValidation::Ignore)
        .map_err(|e| ApiError::BadRequest(format!("{} in version {:?} cannot be handled as a {}: {e}", res.kind, res.version, res.kind)))?;
    let causes = (res.ops.validate)(&review);
    if !causes.is_empty() {
        return Err(ApiError::invalid(res, "", causes));
    }
    let spec = &review["spec"];
    // A SubjectAccessReview names its user; a SelfSubjectAccessReview asks about the sender.
    let subject = if res.kind == "SubjectAccessReview" {
        let strings = |v: &Value| -> Vec<String> { v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect() };
        UserInfo {
            name: spec["user"].as_str().unwrap_or_default().to_string(),
            uid: spec["uid"].as_str().unwrap_or_default().to_string(),
            groups: strings(&spec["groups"]),
            extra: spec["extra"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), strings(v))).collect(),
        }
    } else {
        user.clone()
    };
    let attrs = attributes(subject, spec);
    let status = match state.authorizer.decide(&attrs) {
        Decision::Allow => SubjectAccessReviewStatus { allowed: true, ..Default::default() },
        Decision::Deny(reason) => SubjectAccessReviewStatus { allowed: false, denied: Some(true), reason: non_empty(reason), ..Default::default() },
        Decision::NoOpinion(reason) => SubjectAccessReviewStatus { allowed: false, reason: non_empty(reason), ..Default::default() },
    };
    tracing::debug!(user = %attrs.user.name, verb = %attrs.verb, resource = %attrs.resource, path = %attrs.path, allowed = status.allowed, "access review");
    review["apiVersion"] = json!(res.api_version());
    review["kind"] = json!(res.kind);
    review["status"] = serde_json::to_value(status).unwrap_or(Value::Null);
    review["metadata"]["creationTimestamp"] = Value::Null;
    Ok(value_response(StatusCode::CREATED, &review, format, &[]))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The spec's question in the authorizers' words.
fn attributes(user: UserInfo, spec: &Value) -> Attributes {
    if let Some(r) = spec.get("resourceAttributes").and_then(|r| serde_json::from_value::<ResourceAttributes>(r.clone()).ok()) {
        let raw = |s: &Option<Value>| s.as_ref().and_then(|v| v["rawSelector"].as_str()).unwrap_or_default().to_string();
        return Attributes {
            user,
            verb: r.verb.clone(),
            resource_request: true,
            namespace: r.namespace.clone(),
            api_group: r.group.clone(),
            api_version: r.version.clone(),
            resource: r.resource.clone(),
            subresource: r.subresource.clone(),
            name: r.name.clone(),
            path: String::new(),
            field_selector: raw(&r.field_selector),
            label_selector: raw(&r.label_selector),
        };
    }
    let n: NonResourceAttributes = spec.get("nonResourceAttributes").and_then(|n| serde_json::from_value(n.clone()).ok()).unwrap_or_default();
    Attributes { user, verb: n.verb, resource_request: false, path: n.path, ..Attributes::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_become_attributes() {
        let spec = json!({"resourceAttributes": {"namespace": "dev", "verb": "get", "resource": "pods", "subresource": "log", "name": "web"}});
        let a = attributes(UserInfo::new("alice", ["devs"]), &spec);
        assert!(a.resource_request);
        assert_eq!((a.namespace.as_str(), a.verb.as_str(), a.resource.as_str(), a.subresource.as_str(), a.name.as_str()), ("dev", "get", "pods", "log", "web"));
        let spec = json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}});
        let a = attributes(UserInfo::new("alice", ["devs"]), &spec);
        assert!(!a.resource_request);
        assert_eq!(a.path, "/healthz");
    }
}
