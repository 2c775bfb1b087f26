//! Every failure the apiserver can answer, and the one place where a failure becomes a
//! `Status` object with upstream's code, reason and message (kubectl prints
//! `Error from server (NotFound): pods "x" not found` from it).

use kube_api::meta::{Status, StatusCause, StatusDetails};
use kube_api::validation::FieldError;
use kube_api::ResourceInfo;

use crate::storage::StorageError;

/// An API error: each variant maps to one HTTP code and one upstream `reason`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 404: the object (or the namespace it should live in) does not exist.
    #[error("{resource} {name:?} not found")]
    NotFound { resource: String, group: String, name: String },
    /// 404: no such path or resource.
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// 409: create of a name that is taken.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists { resource: String, group: String, name: String },
    /// 409: the object changed since the client read it (stale resourceVersion), or
    /// another precondition failed.
    #[error("Operation cannot be fulfilled on {resource} {name:?}: {message}")]
    Conflict { resource: String, group: String, name: String, message: String },
    /// 409: server-side apply found fields owned by other managers (message as upstream:
    /// `Apply failed with 1 conflict: ...`).
    #[error("{0}")]
    ApplyConflict(String),
    /// 422: validation failed; each cause names a field.
    #[error("{kind} {name:?} is invalid: {}", join_causes(.causes))]
    Invalid { kind: String, group: String, name: String, causes: Vec<FieldError> },
    /// 400: the request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: the request carried credentials that prove nothing (a certificate from another
    /// CA, an expired certificate, an unknown token), or none with `--anonymous-auth=false`.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: not allowed (e.g. creating in a terminating namespace).
    #[error("{0}")]
    Forbidden(String),
    /// 403 about one resource (an authorizer said no), with upstream's details
    /// `{name, group, kind: <resource>}`; the message is `auth::forbidden_message`'s.
    #[error("{message}")]
    ForbiddenResource { resource: String, group: String, name: String, message: String },
    /// 405: the verb is not served on this resource.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406: no representation the client accepts.
    #[error("only the following media types are accepted: application/json, application/yaml")]
    NotAcceptable,
    /// 410: the resourceVersion is older than what the server still remembers.
    #[error("{0}")]
    Gone(String),
    /// 413: the body exceeds the limit.
    #[error("Request entity too large: limit is {0}")]
    RequestEntityTooLarge(usize),
    /// 415: a body in a format the endpoint does not take.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// 415: a protobuf body this server's schema subset cannot read in full (an unknown kind
    /// or field); the message names what is missing.
    #[error("{0}")]
    UnsupportedProtobuf(String),
    /// 500: a bug or an unexpected storage answer.
    #[error("{0}")]
    Internal(String),
    /// 503/504: etcd is unreachable or too slow.
    #[error("{0}")]
    Unavailable(String),
}

fn join_causes(causes: &[FieldError]) -> String {
    if causes.len() == 1 {
        causes[0].to_string()
    } else {
        format!("[{}]", causes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// Named by the qualified resource (`deployments.apps "web" not found`), as upstream.
    pub fn not_found(res: &ResourceInfo, name: &str) -> ApiError {
        ApiError::NotFound { resource: res.qualified_plural(), group: res.group.into(), name: name.into() }
    }

    pub fn already_exists(res: &ResourceInfo, name: &str) -> ApiError {
        ApiError::AlreadyExists { resource: res.qualified_plural(), group: res.group.into(), name: name.into() }
    }

    /// The conflict of a stale resourceVersion, worded as upstream.
    pub fn stale(res: &ResourceInfo, name: &str) -> ApiError {
        ApiError::Conflict {
            resource: res.qualified_plural(),
            group: res.group.into(),
            name: name.into(),
            message: "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        }
    }

    pub fn conflict(res: &ResourceInfo, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            resource: res.qualified_plural(),
            group: res.group.into(),
            name: name.into(),
            message: message.into(),
        }
    }

    pub fn invalid(res: &ResourceInfo, name: &str, causes: Vec<FieldError>) -> ApiError {
        ApiError::Invalid { kind: res.kind.into(), group: res.group.into(), name: name.into(), causes }
    }

    /// The namespace a namespaced write targets does not exist.
    pub fn namespace_not_found(ns: &str) -> ApiError {
        ApiError::NotFound { resource: "namespaces".into(), group: String::new(), name: ns.into() }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoSuchResource => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } | ApiError::ApplyConflict(_) => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) | ApiError::ForbiddenResource { .. } => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable => 406,
            ApiError::Gone(_) => 410,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedProtobuf(_) => 415,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoSuchResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict(_) => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) | ApiError::ForbiddenResource { .. } => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable => "NotAcceptable",
            ApiError::Gone(_) => "Expired",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedProtobuf(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unavailable(_) => "ServiceUnavailable",
        }
    }

    /// The `Status` object sent to the client.
    pub fn to_status(&self) -> Status {
        let status = Status::failure(self.code(), self.reason(), self.to_string());
        let details = match self {
            ApiError::NotFound { resource, group, name } | ApiError::AlreadyExists { resource, group, name } => Some(StatusDetails {
                name: name.clone(),
                group: group.clone(),
                kind: resource.split('.').next().unwrap_or_default().to_string(),
                ..Default::default()
            }),
            ApiError::ForbiddenResource { resource, group, name, .. } => Some(StatusDetails {
                name: name.clone(),
                group: group.clone(),
                kind: resource.clone(),
                ..Default::default()
            }),
            ApiError::Conflict { resource, group, name, .. } => Some(StatusDetails {
                name: name.clone(),
                group: group.clone(),
                kind: resource.split('.').next().unwrap_or_default().to_string(),
                ..Default::default()
            }),
            ApiError::Invalid { kind, group, name, causes } => Some(StatusDetails {
                name: name.clone(),
                group: group.clone(),
                kind: kind.clone(),
                causes: causes
                    .iter()
                    .map(|c| StatusCause {
                        reason: Some(c.reason.to_string()),
                        message: Some(c.message.clone()),
                        field: Some(c.field.clone()),
                    })
                    .collect(),
                ..Default::default()
            }),
            _ => None,
        };
        match details {
            Some(d) => status.with_details(d),
            None => status,
        }
    }

    /// Map a storage failure on object `name` of `res`.
    pub fn from_storage(err: StorageError, res: &ResourceInfo, name: &str) -> ApiError {
        match err {
            StorageError::NotFound(_) => ApiError::not_found(res, name),
            StorageError::AlreadyExists(_) => ApiError::already_exists(res, name),
            StorageError::Conflict { .. } => ApiError::stale(res, name),
            StorageError::Compacted { requested, compacted } => {
                ApiError::Gone(format!("too old resource version: {requested} ({compacted})"))
            }
            StorageError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> ApiError {
        match err {
            StorageError::Compacted { requested, compacted } => {
                ApiError::Gone(format!("too old resource version: {requested} ({compacted})"))
            }
            StorageError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_upstream() {
        let pods = kube_api::registry::by_plural("", "pods").unwrap();
        let s = ApiError::not_found(pods, "nginx").to_status();
        assert_eq!(s.message.as_deref(), Some(r#"pods "nginx" not found"#));
        assert_eq!(s.reason.as_deref(), Some("NotFound"));
        assert_eq!(s.code, Some(404));
    }

    #[test]
    fn not_found_names_the_qualified_resource_outside_the_core_group() {
        let d = kube_api::registry::by_plural("apps", "deployments").unwrap();
        let s = ApiError::not_found(d, "web").to_status();
        assert_eq!(s.message.as_deref(), Some(r#"deployments.apps "web" not found"#));
        assert_eq!(s.details.unwrap().kind, "deployments");
    }

    #[test]
    fn conflict_names_the_qualified_resource() {
        let d = kube_api::registry::by_plural("apps", "deployments").unwrap();
        let e = ApiError::stale(d, "web");
        assert_eq!(
            e.to_string(),
            r#"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let pods = kube_api::registry::by_plural("", "pods").unwrap();
        let e = ApiError::invalid(pods, "x", vec![FieldError::required("spec.containers")]);
        assert_eq!(e.to_string(), r#"Pod "x" is invalid: spec.containers: Required value"#);
        assert_eq!(e.to_status().details.unwrap().causes.len(), 1);
    }
}
