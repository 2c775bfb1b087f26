//! The one table of kinds the project serves. Routing, discovery, OpenAPI, storage keys,
//! tables and kubectl-lite all read it: to serve a new kind, add its type and one line here.

use crate::object::KindOps;
use crate::{apps, authentication, authorization, batch, coordination, core, rbac};

/// Everything the system needs to know about one resource (one kind in one group/version).
#[derive(Clone, Copy)]
pub struct ResourceInfo {
    /// API group; `""` is the core group served under `/api/v1`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural resource name used in URLs and storage keys: `pods`, `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// `all` makes `kubectl get all` include the resource.
    pub categories: &'static [&'static str],
    /// Subresources served under the resource: `status`, `scale`, `binding`, `log`, `exec`, `eviction`.
    pub subresources: &'static [&'static str],
    /// The verbs of the main resource, as discovery lists them.
    pub verbs: &'static [&'static str],
    /// Field labels accepted in `?fieldSelector=` besides `metadata.name` and `metadata.namespace`.
    pub field_labels: &'static [&'static str],
    /// The kind's typed rules (decode, defaults, validation).
    pub ops: KindOps,
}

impl std::fmt::Debug for ResourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.api_version(), self.plural)
    }
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection URL, e.g. `/api/v1/namespaces/default/pods` or `/api/v1/nodes`.
    /// An empty `namespace` on a namespaced resource lists across all namespaces.
    pub fn collection_path(&self, namespace: &str) -> String {
        if self.namespaced && !namespace.is_empty() {
            format!("{}/namespaces/{}/{}", self.group_version_path(), namespace, self.plural)
        } else {
            format!("{}/{}", self.group_version_path(), self.plural)
        }
    }

    /// The URL of one object.
    pub fn object_path(&self, namespace: &str, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), name)
    }

    /// `deployments.apps` (core resources have no suffix), as kubectl names resources in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Resources that are not stored: a create is answered at once (access and token reviews).
    pub fn is_virtual(&self) -> bool {
        self.verbs == CREATE_ONLY
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether `label` may appear in a field selector on this resource.
    pub fn supports_field_label(&self, label: &str) -> bool {
        label == "metadata.name" || (self.namespaced && label == "metadata.namespace") || self.field_labels.contains(&label)
    }
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const CREATE_ONLY: &[&str] = &["create"];
const NO_COLLECTION_DELETE: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

macro_rules! resource {
    ($ty:ty, $plural:literal, $singular:literal, [$($short:literal),*], namespaced: $ns:literal,
     categories: [$($cat:literal),*], subresources: [$($sub:literal),*], verbs: $verbs:expr,
     field_labels: [$($fl:literal),*]) => {
        ResourceInfo {
            group: <$ty as crate::Object>::GROUP,
            version: <$ty as crate::Object>::VERSION,
            kind: <$ty as crate::Object>::KIND,
            plural: $plural,
            singular: $singular,
            short_names: &[$($short),*],
            namespaced: $ns,
            categories: &[$($cat),*],
            subresources: &[$($sub),*],
            verbs: $verbs,
            field_labels: &[$($fl),*],
            ops: KindOps::of::<$ty>(),
        }
    };
}

/// Every resource the apiserver serves, in discovery order.
pub static RESOURCES: &[ResourceInfo] = &[
    resource!(core::Pod, "pods", "pod", ["po"], namespaced: true, categories: ["all"],
        subresources: ["status", "binding", "log", "exec", "eviction"], verbs: ALL_VERBS,
        field_labels: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                       "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]),
    resource!(core::Node, "nodes", "node", ["no"], namespaced: false, categories: [],
        subresources: ["status"], verbs: ALL_VERBS, field_labels: ["spec.unschedulable"]),
    resource!(core::Service, "services", "service", ["svc"], namespaced: true, categories: ["all"],
        subresources: ["status"], verbs: NO_COLLECTION_DELETE, field_labels: ["spec.clusterIP", "spec.type"]),
    resource!(core::Endpoints, "endpoints", "endpoints", ["ep"], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(core::Namespace, "namespaces", "namespace", ["ns"], namespaced: false, categories: [],
        subresources: ["status", "finalize"], verbs: NO_COLLECTION_DELETE, field_labels: ["status.phase"]),
    resource!(core::ConfigMap, "configmaps", "configmap", ["cm"], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(core::Secret, "secrets", "secret", [], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: ["type"]),
    resource!(core::Event, "events", "event", ["ev"], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS,
        field_labels: ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                       "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                       "reason", "reportingComponent", "source", "type"]),
    resource!(core::ReplicationController, "replicationcontrollers", "replicationcontroller", ["rc"], namespaced: true,
        categories: ["all"], subresources: ["status", "scale"], verbs: ALL_VERBS, field_labels: ["status.replicas"]),
    resource!(core::ServiceAccount, "serviceaccounts", "serviceaccount", ["sa"], namespaced: true, categories: [],
        subresources: ["token"], verbs: ALL_VERBS, field_labels: []),
    resource!(apps::Deployment, "deployments", "deployment", ["deploy"], namespaced: true, categories: ["all"],
        subresources: ["status", "scale"], verbs: ALL_VERBS, field_labels: []),
    resource!(apps::ReplicaSet, "replicasets", "replicaset", ["rs"], namespaced: true, categories: ["all"],
        subresources: ["status", "scale"], verbs: ALL_VERBS, field_labels: ["status.replicas"]),
    resource!(apps::StatefulSet, "statefulsets", "statefulset", ["sts"], namespaced: true, categories: ["all"],
        subresources: ["status", "scale"], verbs: ALL_VERBS, field_labels: []),
    resource!(apps::DaemonSet, "daemonsets", "daemonset", ["ds"], namespaced: true, categories: ["all"],
        subresources: ["status"], verbs: ALL_VERBS, field_labels: []),
    resource!(batch::Job, "jobs", "job", [], namespaced: true, categories: ["all"],
        subresources: ["status"], verbs: ALL_VERBS, field_labels: ["status.successful"]),
    resource!(coordination::Lease, "leases", "lease", [], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(rbac::ClusterRoleBinding, "clusterrolebindings", "clusterrolebinding", [], namespaced: false, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(rbac::ClusterRole, "clusterroles", "clusterrole", [], namespaced: false, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(rbac::RoleBinding, "rolebindings", "rolebinding", [], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    resource!(rbac::Role, "roles", "role", [], namespaced: true, categories: [],
        subresources: [], verbs: ALL_VERBS, field_labels: []),
    // Reviews are questions answered at once and never stored (see `is_virtual`).
    resource!(authorization::SelfSubjectAccessReview, "selfsubjectaccessreviews", "selfsubjectaccessreview", [],
        namespaced: false, categories: [], subresources: [], verbs: CREATE_ONLY, field_labels: []),
    resource!(authorization::SubjectAccessReview, "subjectaccessreviews", "subjectaccessreview", [],
        namespaced: false, categories: [], subresources: [], verbs: CREATE_ONLY, field_labels: []),
    // Not stored: a POST is answered in the same object (see `authentication`).
    resource!(authentication::TokenReview, "tokenreviews", "tokenreview", [], namespaced: false, categories: [],
        subresources: [], verbs: CREATE_ONLY, field_labels: []),
];

/// Every resource, in discovery order.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource with this group and plural name (`("apps", "deployments")`).
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
}

/// The resource serving this group, version and kind.
pub fn by_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// The resource for a manifest's `apiVersion` and `kind`.
pub fn by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    by_kind(group, version, kind)
}

/// What a user may type on the command line: plural, singular, short name or kind, each
/// optionally qualified by its group (`deploy`, `deployments.apps`, `Pod`), case-insensitively.
pub fn resolve(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    let (word, group) = match lower.split_once('.') {
        Some((w, g)) => (w.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    RESOURCES.iter().find(|r| {
        let names_match = r.plural == word
            || r.singular == word
            || r.kind.eq_ignore_ascii_case(&word)
            || r.short_names.contains(&word.as_str());
        let group_matches = match &group {
            None => true,
            Some(g) => r.group == g || (g == "core" && r.group.is_empty()),
        };
        names_match && group_matches
    })
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The group versions served, in discovery order (`v1` first, then `apps/v1`, ...).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_plural_singular_short_and_kind() {
        for name in ["pods", "pod", "po", "Pod", "PODS"] {
            assert_eq!(resolve(name).map(|r| r.plural), Some("pods"), "{name}");
        }
        assert_eq!(resolve("deploy").map(|r| r.group), Some("apps"));
        assert_eq!(resolve("deployments.apps").map(|r| r.kind), Some("Deployment"));
        assert!(resolve("deployments.batch").is_none());
        assert!(resolve("frobs").is_none());
    }

    #[test]
    fn paths_follow_upstream_layout() {
        let pods = by_plural("", "pods").unwrap();
        assert_eq!(pods.object_path("default", "web"), "/api/v1/namespaces/default/pods/web");
        assert_eq!(pods.collection_path(""), "/api/v1/pods");
        let deploy = by_plural("apps", "deployments").unwrap();
        assert_eq!(deploy.collection_path("kube-system"), "/apis/apps/v1/namespaces/kube-system/deployments");
        let nodes = by_plural("", "nodes").unwrap();
        assert_eq!(nodes.object_path("", "n1"), "/api/v1/nodes/n1");
    }

    #[test]
    fn every_kind_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for r in all() {
            assert!(seen.insert((r.group, r.plural)), "{} listed twice", r.plural);
        }
    }
}
