//! `--authorization-mode=Node`: what a kubelet (user `system:node:NAME` in group
//! `system:nodes`) may do, decided from the graph of pods bound to its node
//! (upstream's `plugin/pkg/auth/authorizer/node`).
//!
//! ```text
//! pods        get: only pods bound to NAME; list/watch: only with fieldSelector spec.nodeName=NAME;
//!             create (mirror pods); delete, pods/status update|patch: only its pods; pods/eviction create
//! secrets, configmaps, persistentvolumeclaims
//!             get (or list/watch of one name): only if a pod bound to NAME references it
//! serviceaccounts/token create: only for service accounts its pods run as
//! nodes       get/list/watch any; create/update/patch/delete (and nodes/status) only NAME
//! leases      in kube-node-lease, only the one named NAME
//! events      create/update/patch
//! services    get/list/watch (the kubelet's service environment variables)
//! ```
//!
//! **A deliberate difference from upstream:** upstream answers "no opinion" outside these
//! rules and lets RBAC decide. Here a node identity asking for a pod, secret, configmap,
//! claim, node or lease *outside its graph* gets an explicit **Deny**: no RBAC binding (say,
//! `view` granted to `system:nodes` by mistake) can let kubelet node1 read a pod bound to
//! node2 or a secret none of its pods uses. Everything else (discovery, `/healthz`, ...) is
//! "no opinion", for RBAC to decide.
//!
//! The graph is the pods' watch cache, mirrored: each pod keeps its node and the names it
//! references. A request walks the node's pods (a kubelet runs tens of pods, so this stays
//! cheap); a pod bound or deleted changes the answers as soon as etcd has it.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube_api::registry;
use serde_json::Value;

use super::mirror::{FromObject, Mirror};
use super::{Attributes, Authorizer, Decision};
use crate::store::Store;

/// The group of every kubelet.
pub const NODES_GROUP: &str = "system:nodes";
/// The user-name prefix of kubelets: `system:node:node1`.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// Where the kubelets' heartbeat leases live.
const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the graph keeps of one pod: the node it is bound to and what it references.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PodRefs {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub service_account: String,
    pub secrets: BTreeSet<String>,
    pub config_maps: BTreeSet<String>,
    pub claims: BTreeSet<String>,
}

impl FromObject for PodRefs {
    fn from_object(pod: &Value) -> Option<PodRefs> {
        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let list = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut refs = PodRefs {
            namespace: s(pod, "/metadata/namespace"),
            name: s(pod, "/metadata/name"),
            node: s(pod, "/spec/nodeName"),
            service_account: s(pod, "/spec/serviceAccountName"),
            ..PodRefs::default()
        };
        if refs.service_account.is_empty() {
            refs.service_account = "default".into();
        }
        for secret in list(pod, "/spec/imagePullSecrets") {
            refs.secrets.insert(s(&secret, "/name"));
        }
        for volume in list(pod, "/spec/volumes") {
            refs.secrets.insert(s(&volume, "/secret/secretName"));
            refs.config_maps.insert(s(&volume, "/configMap/name"));
            refs.claims.insert(s(&volume, "/persistentVolumeClaim/claimName"));
            for source in list(&volume, "/projected/sources") {
                refs.secrets.insert(s(&source, "/secret/name"));
                refs.config_maps.insert(s(&source, "/configMap/name"));
            }
        }
        for kind in ["/spec/initContainers", "/spec/containers", "/spec/ephemeralContainers"] {
            for container in list(pod, kind) {
                for from in list(&container, "/envFrom") {
                    refs.secrets.insert(s(&from, "/secretRef/name"));
                    refs.config_maps.insert(s(&from, "/configMapRef/name"));
                }
                for env in list(&container, "/env") {
                    refs.secrets.insert(s(&env, "/valueFrom/secretKeyRef/name"));
                    refs.config_maps.insert(s(&env, "/valueFrom/configMapKeyRef/name"));
                }
            }
        }
        for set in [&mut refs.secrets, &mut refs.config_maps, &mut refs.claims] {
            set.remove("");
        }
        Some(refs)
    }
}

/// The Node authorizer.
pub struct NodeAuthorizer {
    pods: Arc<Mirror<PodRefs>>,
}

impl NodeAuthorizer {
    pub fn new(store: &Store) -> NodeAuthorizer {
        // Pods are in the registry; `Store::new` gave them a cache.
        let pods = registry::by_plural("", "pods").expect("pods are registered");
        NodeAuthorizer { pods: Mirror::follow(store.cache(pods)) }
    }

    /// Built on a given mirror (tests).
    pub fn with_pods(pods: Arc<Mirror<PodRefs>>) -> NodeAuthorizer {
        NodeAuthorizer { pods }
    }

    /// Does some pod bound to `node` satisfy `test`?
    fn any_pod(&self, node: &str, test: impl Fn(&PodRefs) -> bool) -> bool {
        self.pods.read(|pods| pods.values().any(|p| p.node == node && test(p)))
    }
}

/// `Some(NAME)` for a node identity (`system:node:NAME` in `system:nodes`).
pub fn node_name(attrs: &Attributes) -> Option<&str> {
    attrs.user.name.strip_prefix(NODE_USER_PREFIX).filter(|_| attrs.user.in_group(NODES_GROUP))
}

fn no_relationship(node: &str) -> Decision {
    Decision::Deny(format!("no relationship found between node '{node}' and this object"))
}

impl Authorizer for NodeAuthorizer {
    fn authorize(&self, attrs: &Attributes) -> Decision {
        let Some(node) = node_name(attrs) else {
            return Decision::NoOpinion(String::new());
        };
        if node.is_empty() || !attrs.resource_request {
            return Decision::NoOpinion(String::new());
        }
        let verb = attrs.verb.as_str();
        let read = matches!(verb, "get" | "list" | "watch");
        // A list or watch narrowed to one object (`fieldSelector=metadata.name=x`) is a read of that object.
        let one_name = if attrs.name.is_empty() { field_equals(&attrs.field_selector, "metadata.name").unwrap_or_default() } else { attrs.name.clone() };
        let ns = attrs.namespace.as_str();
        match (attrs.api_group.as_str(), attrs.resource.as_str(), attrs.subresource.as_str()) {
            ("", "pods", "") => match verb {
                "get" if self.any_pod(node, |p| p.namespace == ns && p.name == attrs.name) => Decision::Allow,
                "list" | "watch" if field_equals(&attrs.field_selector, "spec.nodeName").as_deref() == Some(node) => Decision::Allow,
                "list" | "watch" => Decision::Deny(format!("can only list/watch pods with spec.nodeName field selector: node '{node}'")),
                // Mirror pods of static manifests (upstream's NodeRestriction admission checks the body).
                "create" => Decision::Allow,
                "delete" if self.any_pod(node, |p| p.namespace == ns && p.name == attrs.name) => Decision::Allow,
                _ => no_relationship(node),
            },
            ("", "pods", "status") if matches!(verb, "get" | "update" | "patch") => {
                if self.any_pod(node, |p| p.namespace == ns && p.name == attrs.name) {
                    Decision::Allow
                } else {
                    no_relationship(node)
                }
            }
            ("", "pods", "eviction") if verb == "create" => Decision::Allow,
            ("", resource @ ("secrets" | "configmaps" | "persistentvolumeclaims"), "") => {
                if !read {
                    return Decision::Deny(format!("can only read {resource}: node '{node}'"));
                }
                if one_name.is_empty() {
                    return Decision::Deny(format!("can only read individual {resource}: node '{node}'"));
                }
                let uses = |p: &PodRefs| {
                    p.namespace == ns
                        && match resource {
                            "secrets" => p.secrets.contains(&one_name),
                            "configmaps" => p.config_maps.contains(&one_name),
                            _ => p.claims.contains(&one_name),
                        }
                };
                if self.any_pod(node, uses) {
                    Decision::Allow
                } else {
                    no_relationship(node)
                }
            }
            ("", "serviceaccounts", "token") if verb == "create" => {
                if self.any_pod(node, |p| p.namespace == ns && p.service_account == attrs.name) {
                    Decision::Allow
                } else {
                    no_relationship(node)
                }
            }
            ("", "nodes", "" | "status") => {
                if read && attrs.subresource.is_empty() {
                    Decision::Allow
                } else if matches!(verb, "create" | "update" | "patch" | "delete" | "get") && (attrs.name == node || (verb == "create" && attrs.name.is_empty())) {
                    // A create names its node in the body: upstream's NodeRestriction checks it.
                    Decision::Allow
                } else {
                    Decision::Deny(format!("node '{node}' cannot modify node '{}'", attrs.name))
                }
            }
            ("coordination.k8s.io", "leases", "") => {
                if ns != LEASE_NAMESPACE {
                    Decision::Deny(format!("can only access leases in the {LEASE_NAMESPACE} namespace"))
                } else if verb == "create" || attrs.name == node {
                    Decision::Allow
                } else {
                    Decision::Deny(format!("can only access node lease with the same name as the requesting node: node '{node}'"))
                }
            }
            ("" | "events.k8s.io", "events", "") if matches!(verb, "create" | "update" | "patch") => Decision::Allow,
            ("", "services" | "endpoints", "") if read => Decision::Allow,
            ("", "namespaces", "") if verb == "get" => Decision::Allow,
            ("authentication.k8s.io", "tokenreviews", "") | ("authorization.k8s.io", "subjectaccessreviews", "") if verb == "create" => Decision::Allow,
            _ => Decision::NoOpinion(String::new()),
        }
    }
}

/// The value a field selector requires for `field` (`spec.nodeName=node1` → `node1`).
fn field_equals(selector: &str, field: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        (k.trim() == field && !k.ends_with('!')).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;
    use serde_json::json;

    fn pod(ns: &str, name: &str, node: &str, secret: &str, cm: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}, "spec": {"nodeName": node, "serviceAccountName": "runner",
            "volumes": [{"name": "s", "secret": {"secretName": secret}}],
            "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": cm}}]}]}})
    }

    fn authorizer() -> NodeAuthorizer {
        let mirror = Mirror::from_values(vec![
            ("/registry/pods/default/a".into(), pod("default", "a", "node1", "s1", "cm1")),
            ("/registry/pods/default/b".into(), pod("default", "b", "node2", "s2", "cm2")),
        ]);
        NodeAuthorizer::with_pods(mirror)
    }

    fn ask(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Decision {
        let attrs = Attributes {
            user: UserInfo::new("system:node:node1", [NODES_GROUP, "system:authenticated"]),
            verb: verb.into(),
            resource_request: true,
            namespace: ns.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Attributes::default()
        };
        authorizer().authorize(&attrs)
    }

    #[test]
    fn the_graph_collects_a_pods_references() {
        let refs = PodRefs::from_object(&pod("default", "a", "node1", "s1", "cm1")).unwrap();
        assert_eq!((refs.node.as_str(), refs.service_account.as_str()), ("node1", "runner"));
        assert_eq!(refs.secrets.iter().collect::<Vec<_>>(), ["s1"]);
        assert_eq!(refs.config_maps.iter().collect::<Vec<_>>(), ["cm1"]);
    }

    #[test]
    fn a_node_reads_only_its_pods_and_what_they_use() {
        assert_eq!(ask("get", "", "pods", "", "default", "a"), Decision::Allow);
        assert!(matches!(ask("get", "", "pods", "", "default", "b"), Decision::Deny(_)));
        assert_eq!(ask("get", "", "secrets", "", "default", "s1"), Decision::Allow);
        assert!(matches!(ask("get", "", "secrets", "", "default", "s2"), Decision::Deny(_)));
        assert!(matches!(ask("get", "", "secrets", "", "other", "s1"), Decision::Deny(_)), "same name, other namespace");
        assert!(matches!(ask("list", "", "secrets", "", "default", ""), Decision::Deny(_)));
        assert_eq!(ask("get", "", "configmaps", "", "default", "cm1"), Decision::Allow);
        assert!(matches!(ask("get", "", "configmaps", "", "default", "cm2"), Decision::Deny(_)));
        assert_eq!(ask("update", "", "pods", "status", "default", "a"), Decision::Allow);
        assert!(matches!(ask("update", "", "pods", "status", "default", "b"), Decision::Deny(_)));
        assert_eq!(ask("create", "", "serviceaccounts", "token", "default", "runner"), Decision::Allow);
        assert!(matches!(ask("create", "", "serviceaccounts", "token", "default", "admin"), Decision::Deny(_)));
    }

    #[test]
    fn a_node_writes_only_its_node_and_lease() {
        assert_eq!(ask("get", "", "nodes", "", "", "node2"), Decision::Allow);
        assert_eq!(ask("patch", "", "nodes", "status", "", "node1"), Decision::Allow);
        assert!(matches!(ask("update", "", "nodes", "", "", "node2"), Decision::Deny(_)));
        assert_eq!(ask("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "node1"), Decision::Allow);
        assert!(matches!(ask("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "node2"), Decision::Deny(_)));
        assert!(matches!(ask("get", "coordination.k8s.io", "leases", "", "kube-system", "node1"), Decision::Deny(_)));
        assert_eq!(ask("get", "apps", "deployments", "", "default", "x"), Decision::NoOpinion(String::new()));
    }

    #[test]
    fn pod_lists_need_the_node_field_selector() {
        assert_eq!(field_equals("spec.nodeName=node1", "spec.nodeName").as_deref(), Some("node1"));
        assert_eq!(field_equals("status.phase!=Failed,spec.nodeName==node1", "spec.nodeName").as_deref(), Some("node1"));
        assert_eq!(field_equals("spec.nodeName!=node1", "spec.nodeName"), None);
    }
}
