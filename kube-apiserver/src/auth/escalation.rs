//! Escalation prevention: nobody gains permissions by writing RBAC objects (upstream's
//! `pkg/registry/rbac/validation` and the RBAC storage's `EscalationAllowed` /
//! `BindingAuthorized` checks).
//!
//! - Writing a **Role** or **ClusterRole** is allowed only if the writer already holds every
//!   permission it grants, or may `escalate` that role.
//! - Writing a **RoleBinding** or **ClusterRoleBinding** is allowed only if the writer holds
//!   every permission of the role it references, or may `bind` that role.
//! - Members of `system:masters` may do anything.
//!
//! "Holds a permission" is asked of the authorizer chain itself, one permission at a time:
//! each rule is split into single (verb, group, resource, name) or (verb, URL) requests, as
//! upstream's `Covers` splits rules, and each must be allowed for the writer. A `*` in the
//! role is a literal request for `*`, so only a `*` rule of the writer covers it.

use kube_api::rbac::PolicyRule;
use kube_api::ResourceInfo;
use serde_json::Value;

use super::{Attributes, UserInfo, MASTERS};
use crate::errors::{ApiError, Result};
use crate::State;

/// Checks a Role, ClusterRole, RoleBinding or ClusterRoleBinding about to be written by `user`.
/// Other kinds pass.
pub fn check(state: &State, user: &UserInfo, res: &ResourceInfo, namespace: &str, object: &Value) -> Result<()> {
    if res.group != kube_api::rbac::GROUP || user.in_group(MASTERS) {
        return Ok(());
    }
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let namespace = if res.namespaced { namespace } else { "" };
    let rules: Vec<PolicyRule> = match res.kind {
        "Role" | "ClusterRole" => {
            let rules: Vec<PolicyRule> = serde_json::from_value(object.get("rules").cloned().unwrap_or(Value::Null)).unwrap_or_default();
            if may(state, user, "escalate", res.plural, namespace, name) {
                return Ok(());
            }
            rules
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let kind = object.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
            let role_name = object.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            let role_ns = if kind == "Role" { namespace } else { "" };
            if may(state, user, "escalate", plural, role_ns, &role_name) || may(state, user, "bind", plural, role_ns, &role_name) {
                return Ok(());
            }
            // The referenced role's rules, from the watch cache (a missing role grants nothing).
            let role_res = kube_api::registry::by_plural(kube_api::rbac::GROUP, plural).ok_or(ApiError::NoSuchResource)?;
            let key = state.store.key(role_res, role_ns, &role_name);
            state
                .store
                .cache(role_res)
                .get(&key)
                .and_then(|role| serde_json::from_value(role.get("rules").cloned().unwrap_or(Value::Null)).ok())
                .unwrap_or_default()
        }
        _ => return Ok(()),
    };
    let missing: Vec<String> = atoms(&rules).into_iter().filter(|a| !held(state, user, a, namespace)).map(|a| a.describe()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let qualified = format!("{}.{}", res.plural, res.group);
    Err(ApiError::ForbiddenResource {
        resource: res.plural.to_string(),
        group: res.group.to_string(),
        name: name.to_string(),
        message: format!(
            "{qualified} {name:?} is forbidden: user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
            user.name,
            user.groups,
            missing.join("\n")
        ),
    })
}

/// Does the chain allow `user` the RBAC-specific verb `escalate` or `bind` on a role?
fn may(state: &State, user: &UserInfo, verb: &str, plural: &str, namespace: &str, name: &str) -> bool {
    let attrs = Attributes {
        user: user.clone(),
        verb: verb.into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: kube_api::rbac::GROUP.into(),
        resource: plural.into(),
        name: name.into(),
        ..Attributes::default()
    };
    state.authorizer.check(&attrs).is_ok()
}

/// One permission: a verb on one resource (and name) of one group, or on one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Resource { verb: String, group: String, resource: String, name: String },
    Url { verb: String, url: String },
}

impl Atom {
    /// As upstream prints a missing permission.
    fn describe(&self) -> String {
        match self {
            Atom::Resource { verb, group, resource, name } if name.is_empty() => format!("{{APIGroups:[{group:?}], Resources:[{resource:?}], Verbs:[{verb:?}]}}"),
            Atom::Resource { verb, group, resource, name } => format!("{{APIGroups:[{group:?}], Resources:[{resource:?}], ResourceNames:[{name:?}], Verbs:[{verb:?}]}}"),
            Atom::Url { verb, url } => format!("{{NonResourceURLs:[{url:?}], Verbs:[{verb:?}]}}"),
        }
    }
}

/// Split rules into single permissions.
fn atoms(rules: &[PolicyRule]) -> Vec<Atom> {
    let mut out = Vec::new();
    for rule in rules {
        for verb in &rule.verbs {
            for url in &rule.non_resource_urls {
                out.push(Atom::Url { verb: verb.clone(), url: url.clone() });
            }
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    let names: Vec<String> = if rule.resource_names.is_empty() { vec![String::new()] } else { rule.resource_names.clone() };
                    for name in names {
                        out.push(Atom::Resource { verb: verb.clone(), group: group.clone(), resource: resource.clone(), name });
                    }
                }
            }
        }
    }
    out
}

/// Does the chain allow `user` this permission (in `namespace`, empty for cluster-wide)?
fn held(state: &State, user: &UserInfo, atom: &Atom, namespace: &str) -> bool {
    state.authorizer.check(&atom_attributes(user, atom, namespace)).is_ok()
}

fn atom_attributes(user: &UserInfo, atom: &Atom, namespace: &str) -> Attributes {
    match atom {
        Atom::Url { verb, url } => Attributes { user: user.clone(), verb: verb.clone(), resource_request: false, path: url.clone(), ..Attributes::default() },
        Atom::Resource { verb, group, resource, name } => {
            let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            Attributes {
                user: user.clone(),
                verb: verb.clone(),
                resource_request: true,
                namespace: namespace.into(),
                api_group: group.clone(),
                resource: resource.into(),
                subresource: subresource.into(),
                name: name.clone(),
                ..Attributes::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rbac::rule_allows;

    #[test]
    fn rules_split_into_single_permissions_that_only_covering_rules_allow() {
        let servant = vec![PolicyRule::resources(&["get", "delete"], &[""], &["pods", "pods/log"]).names(&["web"])];
        let list = atoms(&servant);
        assert_eq!(list.len(), 4);
        let owner = PolicyRule::resources(&["get", "list"], &[""], &["pods", "pods/log"]);
        let user = UserInfo::new("alice", ["devs"]);
        let covered: Vec<bool> = list.iter().map(|a| rule_allows(&owner, &atom_attributes(&user, a, "dev"))).collect();
        assert_eq!(covered, [true, true, false, false], "get covered, delete not");
        // A `*` in the servant needs a `*` in the owner.
        let star = atoms(&[PolicyRule::resources(&["*"], &[""], &["pods"])]);
        assert!(!rule_allows(&owner, &atom_attributes(&user, &star[0], "dev")));
        assert!(rule_allows(&PolicyRule::resources(&["*"], &["*"], &["*"]), &atom_attributes(&user, &star[0], "dev")));
        assert_eq!(list[0].describe(), r#"{APIGroups:[""], Resources:["pods"], ResourceNames:["web"], Verbs:["get"]}"#);
    }
}
