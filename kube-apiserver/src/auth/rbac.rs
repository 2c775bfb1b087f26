//! `--authorization-mode=RBAC`: allow a request when some binding grants the user a role
//! with a rule that covers it (upstream's `plugin/pkg/auth/authorizer/rbac`).
//!
//! ```text
//! every ClusterRoleBinding whose subjects include the user  → its ClusterRole's rules
//! every RoleBinding in the request's namespace, same test    → its Role's (or ClusterRole's) rules
//! the first rule that matches verb, group, resource[/sub], name (or URL) → Allow
//! none → NoOpinion (the next authorizer is asked; at the end of the chain: 403)
//! ```
//!
//! RBAC never denies: permissions only add up. The four kinds are kept in memory by
//! [`Mirror`]s that follow the apiserver's watch caches, so a new or deleted binding takes
//! effect as soon as etcd has it.

use std::sync::Arc;

use kube_api::rbac::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
use kube_api::registry;
use serde_json::Value;

use super::mirror::{decode, FromObject, Mirror};
use super::{Attributes, Authorizer, Decision, UserInfo};
use crate::store::Store;

macro_rules! decodable {
    ($($ty:ty),*) => {$(
        impl FromObject for $ty {
            fn from_object(object: &Value) -> Option<Self> {
                decode(object)
            }
        }
    )*};
}
decodable!(Role, ClusterRole, RoleBinding, ClusterRoleBinding);

/// The RBAC authorizer and its in-memory copy of roles and bindings.
pub struct Rbac {
    roles: Arc<Mirror<Role>>,
    cluster_roles: Arc<Mirror<ClusterRole>>,
    role_bindings: Arc<Mirror<RoleBinding>>,
    cluster_role_bindings: Arc<Mirror<ClusterRoleBinding>>,
    prefix: String,
}

impl Rbac {
    /// Follows the store's watch caches of the four RBAC kinds.
    pub fn new(store: &Store) -> Rbac {
        let cache = |plural| {
            // The four kinds are in the registry; `Store::new` gave each a cache.
            let res = registry::by_plural(kube_api::rbac::GROUP, plural).expect("RBAC kinds are registered");
            store.cache(res).clone()
        };
        Rbac {
            roles: Mirror::follow(&cache("roles")),
            cluster_roles: Mirror::follow(&cache("clusterroles")),
            role_bindings: Mirror::follow(&cache("rolebindings")),
            cluster_role_bindings: Mirror::follow(&cache("clusterrolebindings")),
            prefix: store.prefix().to_string(),
        }
    }

    /// The rules of a ClusterRole, or why not.
    fn cluster_role_allows(&self, name: &str, attrs: &Attributes) -> Result<bool, String> {
        let key = format!("{}/clusterroles/{name}", self.prefix);
        self.cluster_roles.read(|roles| match roles.get(&key) {
            Some(role) => Ok(rules_allow(role.rules.as_deref().unwrap_or_default(), attrs)),
            None => Err(format!("clusterrole.rbac.authorization.k8s.io {name:?} not found")),
        })
    }

    fn role_allows(&self, namespace: &str, name: &str, attrs: &Attributes) -> Result<bool, String> {
        let key = format!("{}/roles/{namespace}/{name}", self.prefix);
        self.roles.read(|roles| match roles.get(&key) {
            Some(role) => Ok(rules_allow(role.rules.as_deref().unwrap_or_default(), attrs)),
            None => Err(format!("role.rbac.authorization.k8s.io {name:?} not found")),
        })
    }
}

impl Authorizer for Rbac {
    fn authorize(&self, attrs: &Attributes) -> Decision {
        let mut errors = Vec::new();
        // Cluster-wide grants first.
        let cluster_refs: Vec<String> = self.cluster_role_bindings.read(|bindings| {
            bindings
                .values()
                .filter(|b| subjects_include(b.subjects.as_deref(), &attrs.user, ""))
                .map(|b| b.role_ref.name.clone())
                .collect()
        });
        for name in cluster_refs {
            match self.cluster_role_allows(&name, attrs) {
                Ok(true) => return Decision::Allow,
                Ok(false) => {}
                Err(e) => errors.push(e),
            }
        }
        // Then the bindings of the request's namespace.
        if !attrs.namespace.is_empty() {
            let ns_prefix = format!("{}/rolebindings/{}/", self.prefix, attrs.namespace);
            let refs: Vec<(String, String)> = self.role_bindings.read(|bindings| {
                bindings
                    .iter()
                    .filter(|(key, b)| key.starts_with(&ns_prefix) && subjects_include(b.subjects.as_deref(), &attrs.user, &attrs.namespace))
                    .map(|(_, b)| (b.role_ref.kind.clone(), b.role_ref.name.clone()))
                    .collect()
            });
            for (kind, name) in refs {
                let allowed = if kind == "ClusterRole" {
                    self.cluster_role_allows(&name, attrs)
                } else {
                    self.role_allows(&attrs.namespace, &name, attrs)
                };
                match allowed {
                    Ok(true) => return Decision::Allow,
                    Ok(false) => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        if errors.is_empty() {
            Decision::NoOpinion(String::new())
        } else {
            Decision::NoOpinion(format!("RBAC: [{}]", errors.join(", ")))
        }
    }
}

/// Does one of `subjects` name `user`? `namespace` is the binding's namespace (the default
/// namespace of its service-account subjects); empty for a ClusterRoleBinding.
pub fn subjects_include(subjects: Option<&[Subject]>, user: &UserInfo, namespace: &str) -> bool {
    subjects.unwrap_or_default().iter().any(|s| match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() { namespace } else { s.namespace.as_str() };
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    })
}

/// Upstream's `RulesAllow`: does any rule cover the request?
pub fn rules_allow(rules: &[PolicyRule], attrs: &Attributes) -> bool {
    rules.iter().any(|r| rule_allows(r, attrs))
}

/// Upstream's `RuleAllows`.
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    let verb_ok = rule.verbs.iter().any(|v| v == "*" || *v == attrs.verb);
    if !verb_ok {
        return false;
    }
    if !attrs.resource_request {
        return rule.non_resource_urls.iter().any(|u| {
            u == "*" || *u == attrs.path || u.strip_suffix('*').is_some_and(|prefix| attrs.path.starts_with(prefix))
        });
    }
    let group_ok = rule.api_groups.iter().any(|g| g == "*" || *g == attrs.api_group);
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let resource_ok = rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            // `*/scale`: that subresource of every resource.
            || (!attrs.subresource.is_empty() && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let name_ok = rule.resource_names.is_empty() || rule.resource_names.contains(&attrs.name);
    group_ok && resource_ok && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            user: UserInfo::new("alice", ["devs"]),
            verb: verb.into(),
            resource_request: true,
            namespace: "default".into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_names() {
        let read_pods = PolicyRule::resources(&["get", "list"], &[""], &["pods"]);
        assert!(rule_allows(&read_pods, &attrs("get", "", "pods", "", "web")));
        assert!(!rule_allows(&read_pods, &attrs("delete", "", "pods", "", "web")), "other verb");
        assert!(!rule_allows(&read_pods, &attrs("get", "apps", "pods", "", "web")), "other group");
        assert!(!rule_allows(&read_pods, &attrs("get", "", "secrets", "", "s")), "other resource");
        assert!(!rule_allows(&read_pods, &attrs("get", "", "pods", "log", "web")), "a subresource is not the resource");
        let logs = PolicyRule::resources(&["get"], &[""], &["pods/log"]);
        assert!(rule_allows(&logs, &attrs("get", "", "pods", "log", "web")));
        assert!(!rule_allows(&logs, &attrs("get", "", "pods", "", "web")));
        let scale = PolicyRule::resources(&["update"], &["*"], &["*/scale"]);
        assert!(rule_allows(&scale, &attrs("update", "apps", "deployments", "scale", "web")));
        assert!(!rule_allows(&scale, &attrs("update", "apps", "deployments", "", "web")));
        let all = PolicyRule::resources(&["*"], &["*"], &["*"]);
        assert!(rule_allows(&all, &attrs("deletecollection", "batch", "jobs", "status", "")));
        let one = PolicyRule::resources(&["get"], &[""], &["configmaps"]).names(&["app-config"]);
        assert!(rule_allows(&one, &attrs("get", "", "configmaps", "", "app-config")));
        assert!(!rule_allows(&one, &attrs("get", "", "configmaps", "", "other")));
        assert!(!rule_allows(&one, &attrs("list", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_trailing_star() {
        let rule = PolicyRule::urls(&["get"], &["/healthz", "/api/*"]);
        let mut a = attrs("get", "", "", "", "");
        a.resource_request = false;
        for (path, ok) in [("/healthz", true), ("/healthz/x", false), ("/api/v1", true), ("/api", false), ("/apis", false)] {
            a.path = path.into();
            assert_eq!(rule_allows(&rule, &a), ok, "{path}");
        }
        a.verb = "post".into();
        a.path = "/healthz".into();
        assert!(!rule_allows(&rule, &a));
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let alice = UserInfo::new("alice", ["devs"]);
        assert!(subjects_include(Some(&[Subject::user("alice")]), &alice, ""));
        assert!(!subjects_include(Some(&[Subject::user("bob")]), &alice, ""));
        assert!(subjects_include(Some(&[Subject::group("devs")]), &alice, ""));
        let sa = UserInfo::new("system:serviceaccount:ns1:builder", ["system:serviceaccounts"]);
        assert!(subjects_include(Some(&[Subject::service_account("ns1", "builder")]), &sa, ""));
        // In a RoleBinding, a service account without namespace is one of the binding's namespace.
        let local = Subject { kind: "ServiceAccount".into(), name: "builder".into(), ..Subject::default() };
        assert!(subjects_include(Some(std::slice::from_ref(&local)), &sa, "ns1"));
        assert!(!subjects_include(Some(std::slice::from_ref(&local)), &sa, "ns2"));
        assert!(!subjects_include(Some(&[local]), &sa, ""));
        assert!(!subjects_include(None, &alice, "default"));
    }
}
