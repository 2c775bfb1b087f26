//! Turning a URL and an HTTP method into *what* is asked: which resource, which
//! namespace, which object, which subresource, which verb — upstream's `RequestInfo`.
//!
//! ```text
//! /api/v1/namespaces/{ns}/pods/{name}/status      core group, namespaced
//! /apis/apps/v1/namespaces/{ns}/deployments       a named group
//! /api/v1/nodes/{name}                            cluster-scoped
//! /api/v1/watch/namespaces/{ns}/pods              the old watch prefix (= ?watch=true)
//! /api/v1/namespaces/{name}                       the namespace object itself
//! ```

use std::collections::HashMap;

use hyper::Method;
use kube_api::registry;
use kube_api::ResourceInfo;

use crate::errors::{ApiError, Result};

/// The verbs of the API, as upstream names them (RBAC and metrics use these words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A parsed resource request.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub resource: &'static ResourceInfo,
    /// Empty for cluster-scoped resources and for lists across all namespaces.
    pub namespace: String,
    /// Empty for collection requests.
    pub name: String,
    /// `status`, `scale`, `binding`, `log`, ... or empty.
    pub subresource: String,
    pub verb: Verb,
}

/// Query parameters, decoded.
pub type Query = HashMap<String, String>;

pub fn parse_query(query: Option<&str>) -> Query {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// Parse the path of a resource request (`/api/...` or `/apis/...` with at least a resource).
/// Returns `Ok(None)` for paths that are not resource requests (discovery, health).
pub fn parse(method: &Method, path: &str, query: &Query) -> Result<Option<RequestInfo>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Ok(None),
    };
    let mut watch_prefix = false;
    if rest.first() == Some(&"watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    // namespaces/{ns}/{resource}/... ; namespaces/{name}[/{sub}] is the namespace itself.
    let (namespace, resource_name, name, subresource) = match rest {
        // namespaces/{name}/status and namespaces/{name}/finalize: subresources of the
        // namespace itself (no namespaced resource has these names).
        ["namespaces", name, sub] if *sub == "status" || *sub == "finalize" => {
            (String::new(), "namespaces", name.to_string(), sub.to_string())
        }
        ["namespaces", ns, resource, tail @ ..] => {
            let (name, sub) = split_tail(tail)?;
            (ns.to_string(), *resource, name, sub)
        }
        ["namespaces", name] => (String::new(), "namespaces", name.to_string(), String::new()),
        [resource, tail @ ..] => {
            let (name, sub) = split_tail(tail)?;
            (String::new(), *resource, name, sub)
        }
        [] => return Ok(None),
    };
    let resource = registry::by_plural(group, resource_name)
        .filter(|r| r.version == version)
        .ok_or(ApiError::NoSuchResource)?;
    if !subresource.is_empty() && !resource.has_subresource(&subresource) {
        return Err(ApiError::NoSuchResource);
    }
    if !resource.namespaced && !namespace.is_empty() {
        return Err(ApiError::NoSuchResource);
    }
    let watch = watch_prefix || matches!(query.get("watch").map(String::as_str), Some("true") | Some("1"));
    let verb = match (method.clone(), name.is_empty()) {
        (Method::GET, true) if watch => Verb::Watch,
        (Method::GET, false) if watch_prefix => Verb::Watch,
        (Method::GET, true) => Verb::List,
        (Method::GET, false) => Verb::Get,
        (Method::POST, _) => Verb::Create,
        (Method::PUT, false) => Verb::Update,
        (Method::PATCH, false) => Verb::Patch,
        (Method::DELETE, false) => Verb::Delete,
        (Method::DELETE, true) => Verb::DeleteCollection,
        _ => return Err(ApiError::MethodNotAllowed),
    };
    Ok(Some(RequestInfo { resource, namespace, name, subresource, verb }))
}

fn split_tail(tail: &[&str]) -> Result<(String, String)> {
    match tail {
        [] => Ok((String::new(), String::new())),
        [name] => Ok((name.to_string(), String::new())),
        [name, sub] => Ok((name.to_string(), sub.to_string())),
        _ => Err(ApiError::NoSuchResource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path: &str) -> RequestInfo {
        let q = parse_query(path.split_once('?').map(|(_, q)| q));
        parse(&method, path.split('?').next().unwrap(), &q).unwrap().unwrap()
    }

    #[test]
    fn a_namespace_s_own_finalize_and_status_subresources() {
        for sub in ["finalize", "status"] {
            let i = info(Method::PUT, &format!("/api/v1/namespaces/demo/{sub}"));
            assert_eq!((i.resource.plural, i.namespace.as_str(), i.name.as_str(), i.subresource.as_str()), ("namespaces", "", "demo", sub));
        }
    }

    #[test]
    fn namespaced_object_with_subresource() {
        let i = info(Method::PUT, "/api/v1/namespaces/default/pods/web/status");
        assert_eq!((i.resource.plural, i.namespace.as_str(), i.name.as_str(), i.subresource.as_str()), ("pods", "default", "web", "status"));
        assert_eq!(i.verb, Verb::Update);
    }

    #[test]
    fn group_collection_list_and_watch() {
        assert_eq!(info(Method::GET, "/apis/apps/v1/namespaces/default/deployments").verb, Verb::List);
        assert_eq!(info(Method::GET, "/apis/apps/v1/deployments?watch=true").verb, Verb::Watch);
        assert_eq!(info(Method::GET, "/api/v1/watch/namespaces/default/pods").verb, Verb::Watch);
    }

    #[test]
    fn the_namespace_itself_is_cluster_scoped() {
        let i = info(Method::DELETE, "/api/v1/namespaces/team-a");
        assert_eq!((i.resource.plural, i.name.as_str(), i.namespace.as_str()), ("namespaces", "team-a", ""));
    }

    #[test]
    fn unknown_resources_are_not_found() {
        let q = Query::new();
        assert!(matches!(parse(&Method::GET, "/api/v1/frobs", &q), Err(ApiError::NoSuchResource)));
        assert!(matches!(parse(&Method::GET, "/apis/apps/v2/deployments", &q), Err(ApiError::NoSuchResource)));
        assert!(matches!(parse(&Method::GET, "/api/v1/namespaces/x/nodes", &q), Err(ApiError::NoSuchResource)));
        assert!(parse(&Method::GET, "/api/v1", &q).unwrap().is_none());
    }
}
