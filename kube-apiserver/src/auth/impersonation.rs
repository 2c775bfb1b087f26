//! Acting as someone else: `kubectl --as=alice --as-group=devs` sends `Impersonate-User`
//! and `Impersonate-Group` headers (also `Impersonate-Uid` and `Impersonate-Extra-<key>`).
//! Upstream's `WithImpersonation` filter, between authentication and authorization:
//!
//! 1. each thing asked for is authorized for the *real* user with verb `impersonate`:
//!    `users` (or `serviceaccounts` in its namespace, for `system:serviceaccount:NS:NAME`),
//!    `groups`, `uids` and `userextras/<key>` (the last two in `authentication.k8s.io`);
//! 2. the request then continues as the impersonated user: its groups, plus
//!    `system:authenticated` (a service account gets `system:serviceaccounts` and
//!    `system:serviceaccounts:NS` when no group is given);
//! 3. the headers are removed, so nothing further down sees them.

use http::HeaderMap;

use super::{forbidden, Attributes, Chain, UserInfo, AUTHENTICATED};
use crate::errors::ApiError;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const ANONYMOUS: &str = "system:anonymous";

/// The user the request acts as: `user` itself when no impersonation header is present.
/// Removes the headers. A refusal is upstream's 403 naming what could not be impersonated.
pub fn impersonate(chain: &Chain, user: &UserInfo, headers: &mut HeaderMap) -> Result<UserInfo, ApiError> {
    let values = |headers: &HeaderMap, name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let name = values(headers, USER).into_iter().next();
    let groups = values(headers, GROUP);
    let uid = values(headers, UID).into_iter().next();
    let mut extra = std::collections::BTreeMap::<String, Vec<String>>::new();
    let extra_headers: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).filter(|k| k.starts_with(EXTRA_PREFIX)).collect();
    for header in &extra_headers {
        let key = header.trim_start_matches(EXTRA_PREFIX);
        let key = url::form_urlencoded::parse(key.as_bytes()).map(|(k, _)| k.into_owned()).next().unwrap_or_default();
        extra.entry(key).or_default().extend(values(headers, header));
    }
    for h in [USER, GROUP, UID].iter().map(|s| s.to_string()).chain(extra_headers) {
        headers.remove(h);
    }
    let Some(name) = name else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(user.clone());
        }
        return Err(ApiError::Internal("requested impersonation of groups, uid or extra without impersonating a user".into()));
    };

    let ask = |verb_target: Attributes| -> Result<(), ApiError> {
        chain.check(&verb_target).map_err(|reason| forbidden(&verb_target, &reason))
    };
    let attrs = |group: &str, resource: &str, sub: &str, namespace: &str, object: &str| Attributes {
        user: user.clone(),
        verb: "impersonate".into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        name: object.into(),
        ..Attributes::default()
    };
    let service_account = name.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':')).filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains(':'));
    match service_account {
        Some((ns, sa)) => ask(attrs("", "serviceaccounts", "", ns, sa))?,
        None => ask(attrs("", "users", "", "", &name))?,
    }
    for g in &groups {
        ask(attrs("", "groups", "", "", g))?;
    }
    for (key, vals) in &extra {
        for v in vals {
            ask(attrs("authentication.k8s.io", "userextras", key, "", v))?;
        }
    }
    if let Some(uid) = &uid {
        ask(attrs("authentication.k8s.io", "uids", "", "", uid))?;
    }

    let mut new_groups = groups.clone();
    if let (Some((ns, _)), true) = (service_account, groups.is_empty()) {
        new_groups = vec!["system:serviceaccounts".to_string(), format!("system:serviceaccounts:{ns}")];
    }
    if name == ANONYMOUS {
        if !new_groups.iter().any(|g| g == UNAUTHENTICATED) {
            new_groups.push(UNAUTHENTICATED.into());
        }
    } else if !new_groups.iter().any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED) {
        new_groups.push(AUTHENTICATED.into());
    }
    tracing::debug!(user = %user.name, as_user = %name, groups = ?new_groups, "impersonating");
    Ok(UserInfo { name, uid: uid.unwrap_or_default(), groups: new_groups, extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AlwaysDeny, Chain};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn masters_become_the_impersonated_user_with_the_authenticated_group() {
        let mut h = headers(&[("Impersonate-User", "alice"), ("Impersonate-Group", "devs"), ("Impersonate-Group", "ops"), ("Impersonate-Extra-Scopes", "view")]);
        let u = impersonate(&Chain { modes: vec![] }, &UserInfo::insecure(), &mut h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(u.extra["scopes"], ["view"]);
        assert!(h.is_empty(), "headers removed");
    }

    #[test]
    fn service_accounts_get_their_groups() {
        let mut h = headers(&[("Impersonate-User", "system:serviceaccount:ns1:builder")]);
        let u = impersonate(&Chain { modes: vec![] }, &UserInfo::insecure(), &mut h).unwrap();
        assert_eq!(u.groups, ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"]);
    }

    #[test]
    fn others_need_the_impersonate_verb() {
        let mut h = headers(&[("Impersonate-User", "alice")]);
        let bob = UserInfo::new("bob", ["system:authenticated"]);
        let err = impersonate(&Chain { modes: vec![Box::new(AlwaysDeny)] }, &bob, &mut h).unwrap_err();
        assert_eq!(err.to_string(), "users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope");
        let mut none = HeaderMap::new();
        assert_eq!(impersonate(&Chain { modes: vec![] }, &bob, &mut none).unwrap(), bob);
        let mut group_only = headers(&[("Impersonate-Group", "devs")]);
        assert!(impersonate(&Chain { modes: vec![] }, &UserInfo::insecure(), &mut group_only).is_err());
    }
}
