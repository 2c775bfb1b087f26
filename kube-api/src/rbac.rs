//! The `rbac.authorization.k8s.io/v1` kinds: who may do what.
//!
//! - a [`Role`] (in one namespace) or a [`ClusterRole`] (cluster-wide) is a list of
//!   [`PolicyRule`]s: verbs on resources of API groups (optionally only some names), or verbs
//!   on non-resource URLs (`/healthz`);
//! - a [`RoleBinding`] (in one namespace) or a [`ClusterRoleBinding`] grants one role to
//!   [`Subject`]s: users, groups, service accounts. A RoleBinding may name a ClusterRole: it
//!   then grants that role's rules in the binding's namespace only.
//!
//! The apiserver's RBAC authorizer (`kube-apiserver/src/auth/rbac.rs`) reads these objects;
//! here are their shapes, defaults and validation (upstream's `pkg/apis/rbac/validation`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::meta::ObjectMeta;
use crate::validation::{validate_object_meta, FieldError, NameRule};
use crate::Object;

/// The API group of this module's kinds (and of `User`/`Group` subjects and role refs).
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// One permission: `verbs` on `resources` in `apiGroups` (optionally only `resourceNames`),
/// or `verbs` on `nonResourceURLs`. `*` matches everything in each list.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// `pods`, `pods/log` (a subresource), `*/scale`, `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// `/healthz`, `/api/*` (a `*` only as the last character).
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule (what upstream's `rbacv1helpers.NewRule(...).Groups(...).Resources(...)` builds).
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule.
    pub fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        PolicyRule { verbs: strings(verbs), non_resource_urls: strings(urls), ..PolicyRule::default() }
    }

    /// The same rule restricted to some object names.
    pub fn names(mut self, names: &[&str]) -> PolicyRule {
        self.resource_names = strings(names);
        self
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Who a binding grants its role to.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, `""` for service accounts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(default)]
    pub name: String,
    /// For service accounts; in a RoleBinding, empty means the binding's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl Subject {
    pub fn user(name: &str) -> Subject {
        Subject { kind: "User".into(), api_group: GROUP.into(), name: name.into(), namespace: String::new() }
    }
    pub fn group(name: &str) -> Subject {
        Subject { kind: "Group".into(), api_group: GROUP.into(), name: name.into(), namespace: String::new() }
    }
    pub fn service_account(namespace: &str, name: &str) -> Subject {
        Subject { kind: "ServiceAccount".into(), api_group: String::new(), name: name.into(), namespace: namespace.into() }
    }
}

/// The role a binding grants. Immutable: to grant another role, make another binding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl RoleRef {
    pub fn cluster_role(name: &str) -> RoleRef {
        RoleRef { api_group: GROUP.into(), kind: "ClusterRole".into(), name: name.into() }
    }
}

/// Rules in one namespace.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub rules: Option<Vec<PolicyRule>>,
}

/// Rules for the whole cluster (and for non-resource URLs).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRole {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub rules: Option<Vec<PolicyRule>>,
    /// Label selectors of ClusterRoles whose rules upstream's aggregation controller copies
    /// in; carried, not acted upon.
    pub aggregation_rule: Option<Value>,
}

/// Grants a Role (or a ClusterRole, limited to this namespace) to subjects.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub subjects: Option<Vec<Subject>>,
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// Grants a ClusterRole to subjects in every namespace.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub subjects: Option<Vec<Subject>>,
    #[serde(default)]
    pub role_ref: RoleRef,
}

macro_rules! rbac_kind {
    ($ty:ident, namespaced: $ns:literal, $validate:expr, $defaults:expr, $update:expr) => {
        impl Object for $ty {
            const GROUP: &'static str = GROUP;
            const VERSION: &'static str = "v1";
            const KIND: &'static str = stringify!($ty);
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn set_defaults(&mut self) {
                let f: fn(&mut $ty) = $defaults;
                f(self)
            }
            fn validate(&self) -> Vec<FieldError> {
                // Role names are path segments (`system:controller:x` is valid), as upstream's `ValidateRBACName`.
                let mut errs = validate_object_meta(&self.metadata, $ns, NameRule::Any);
                let f: fn(&$ty) -> Vec<FieldError> = $validate;
                errs.extend(f(self));
                errs
            }
            fn validate_update(&self, old: &Self) -> Vec<FieldError> {
                let f: fn(&$ty, &$ty) -> Vec<FieldError> = $update;
                f(self, old)
            }
        }
    };
}

rbac_kind!(Role, namespaced: true, |r| validate_rules(r.rules.as_deref(), true), |_| {}, |_, _| Vec::new());
rbac_kind!(ClusterRole, namespaced: false, |r| validate_rules(r.rules.as_deref(), false), |_| {}, |_, _| Vec::new());
rbac_kind!(RoleBinding, namespaced: true,
    |b| validate_binding(&b.role_ref, b.subjects.as_deref(), &["Role", "ClusterRole"], true),
    |b| default_subjects(&mut b.subjects),
    |new, old| role_ref_immutable(&new.role_ref, &old.role_ref));
rbac_kind!(ClusterRoleBinding, namespaced: false,
    |b| validate_binding(&b.role_ref, b.subjects.as_deref(), &["ClusterRole"], false),
    |b| default_subjects(&mut b.subjects),
    |new, old| role_ref_immutable(&new.role_ref, &old.role_ref));

/// Upstream's `SetDefaults_Subject`: users and groups are in the RBAC group.
fn default_subjects(subjects: &mut Option<Vec<Subject>>) {
    for s in subjects.iter_mut().flatten() {
        if s.api_group.is_empty() && (s.kind == "User" || s.kind == "Group") {
            s.api_group = GROUP.to_string();
        }
    }
}

/// Upstream's `ValidatePolicyRule`, for each rule.
fn validate_rules(rules: Option<&[PolicyRule]>, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in rules.unwrap_or_default().iter().enumerate() {
        let path = format!("rules[{i}]");
        if rule.verbs.is_empty() {
            errs.push(FieldError::required_detail(&format!("{path}.verbs"), "verbs must contain at least one value"));
        }
        if !rule.non_resource_urls.is_empty() {
            let urls = format!("{:?}", rule.non_resource_urls).replace(',', "");
            if namespaced {
                errs.push(FieldError::invalid_raw(&format!("{path}.nonResourceURLs"), &urls, "namespaced rules cannot apply to non-resource URLs"));
            }
            if !rule.api_groups.is_empty() || !rule.resources.is_empty() || !rule.resource_names.is_empty() {
                errs.push(FieldError::invalid_raw(&format!("{path}.nonResourceURLs"), &urls, "rules cannot apply to both regular resources and non-resource URLs"));
            }
            continue;
        }
        if rule.api_groups.is_empty() {
            errs.push(FieldError::required_detail(&format!("{path}.apiGroups"), "resource rules must supply at least one api group"));
        }
        if rule.resources.is_empty() {
            errs.push(FieldError::required_detail(&format!("{path}.resources"), "resource rules must supply at least one resource"));
        }
    }
    errs
}

/// Upstream's `ValidateRoleBinding` / `ValidateClusterRoleBinding`.
fn validate_binding(role_ref: &RoleRef, subjects: Option<&[Subject]>, kinds: &[&str], namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if role_ref.api_group != GROUP {
        errs.push(FieldError::not_supported("roleRef.apiGroup", &role_ref.api_group, &[GROUP]));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.push(FieldError::not_supported("roleRef.kind", &role_ref.kind, kinds));
    }
    if role_ref.name.is_empty() {
        errs.push(FieldError::required("roleRef.name"));
    } else {
        for msg in NameRule::Any.check(&role_ref.name, false) {
            errs.push(FieldError::invalid("roleRef.name", &role_ref.name, &msg));
        }
    }
    for (i, s) in subjects.unwrap_or_default().iter().enumerate() {
        let path = format!("subjects[{i}]");
        if s.name.is_empty() {
            errs.push(FieldError::required(&format!("{path}.name")));
        }
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !s.api_group.is_empty() {
                    errs.push(FieldError::not_supported(&format!("{path}.apiGroup"), &s.api_group, &[""]));
                }
                if s.namespace.is_empty() && !namespaced {
                    errs.push(FieldError::required(&format!("{path}.namespace")));
                }
            }
            "User" | "Group" => {
                if s.api_group != GROUP {
                    errs.push(FieldError::not_supported(&format!("{path}.apiGroup"), &s.api_group, &[GROUP]));
                }
            }
            other => errs.push(FieldError::not_supported(&format!("{path}.kind"), other, &["ServiceAccount", "User", "Group"])),
        }
    }
    errs
}

fn role_ref_immutable(new: &RoleRef, old: &RoleRef) -> Vec<FieldError> {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid_raw("roleRef", format!("{{APIGroup:{} Kind:{} Name:{}}}", new.api_group, new.kind, new.name), "cannot change roleRef")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_need_verbs_groups_and_resources_or_urls() {
        let bad = PolicyRule { verbs: vec![], resources: vec!["pods".into()], ..Default::default() };
        let errs = validate_rules(Some(&[bad]), true);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["rules[0].verbs", "rules[0].apiGroups"]);
        let url = PolicyRule::urls(&["get"], &["/healthz"]);
        assert!(validate_rules(Some(std::slice::from_ref(&url)), false).is_empty());
        assert_eq!(validate_rules(Some(&[url]), true).len(), 1, "a Role cannot name URLs");
    }

    #[test]
    fn bindings_default_user_subjects_and_check_the_role_ref() {
        let mut b = RoleBinding {
            metadata: ObjectMeta { name: "b".into(), namespace: "default".into(), ..Default::default() },
            subjects: Some(vec![Subject { kind: "User".into(), name: "alice".into(), ..Default::default() }]),
            role_ref: RoleRef { api_group: GROUP.into(), kind: "Role".into(), name: "r".into() },
            ..Default::default()
        };
        b.set_defaults();
        assert_eq!(b.subjects.as_ref().unwrap()[0].api_group, GROUP);
        assert!(b.validate().is_empty(), "{:?}", b.validate());
        let mut crb = ClusterRoleBinding { role_ref: b.role_ref.clone(), ..Default::default() };
        crb.metadata.name = "c".into();
        assert_eq!(crb.validate()[0].field, "roleRef.kind");
        let mut changed = b.clone();
        changed.role_ref.name = "other".into();
        assert_eq!(changed.validate_update(&b)[0].message, "Invalid value: {APIGroup:rbac.authorization.k8s.io Kind:Role Name:other}: cannot change roleRef");
    }
}
