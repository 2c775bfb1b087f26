//! The bootstrap RBAC policy: the ClusterRoles and ClusterRoleBindings every cluster starts
//! with (upstream's `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`, `policy.go` and
//! `controller_policy.go`, limited to the resources and controllers this project serves).
//!
//! The apiserver creates each one at start-up when it is missing, labelled
//! `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`; existing ones are left alone, so
//! an administrator's edits survive restarts.
//!
//! `admin`, `edit` and `view` are aggregated upstream (their rules come from the
//! `aggregate-to-*` roles); here they are written out flat.

use kube_api::rbac::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube_api::ObjectMeta;

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const EVENTS: &[&str] = &["create", "patch", "update"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule::resources(verbs, groups, resources)
}

/// Events, in both API groups: every component writes them.
fn events_rules() -> Vec<PolicyRule> {
    vec![rule(EVENTS, &["", "events.k8s.io"], &["events"])]
}

fn meta(name: &str) -> ObjectMeta {
    let mut m = ObjectMeta { name: name.to_string(), ..ObjectMeta::default() };
    m.labels.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    m.annotations.insert("rbac.authorization.kubernetes.io/autoupdate".into(), "true".into());
    m
}

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: "ClusterRole".into(),
        metadata: meta(name),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

fn binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: "ClusterRoleBinding".into(),
        metadata: meta(name),
        subjects: (!subjects.is_empty()).then_some(subjects),
        role_ref: RoleRef::cluster_role(role),
    }
}

/// What `view` may read: everything but secrets and RBAC.
fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(READ, &[""], &[
            "pods", "pods/log", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
            "replicationcontrollers/status", "serviceaccounts", "services", "services/status", "endpoints",
            "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps", "bindings", "events",
            "limitranges", "resourcequotas", "resourcequotas/status", "namespaces", "namespaces/status",
        ]),
        rule(READ, &["apps"], &[
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
            "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
            "statefulsets/scale", "statefulsets/status",
        ]),
        rule(READ, &["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, &["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, &["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, &["networking.k8s.io"], &["ingresses", "ingresses/status", "networkpolicies"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(READ, &["coordination.k8s.io"], &["leases"]),
    ]
}

/// `edit`: `view`, plus writing workloads, services, configmaps and secrets.
fn edit_rules() -> Vec<PolicyRule> {
    let mut rules = view_rules();
    rules.extend([
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(WRITE, &[""], &[
            "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "replicationcontrollers",
            "replicationcontrollers/scale", "serviceaccounts", "services", "services/proxy", "endpoints",
            "persistentvolumeclaims", "configmaps", "secrets",
        ]),
        rule(&["create"], &[""], &["pods/eviction", "serviceaccounts/token"]),
        rule(READ, &[""], &["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"]),
        rule(WRITE, &["apps"], &[
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
            "replicasets/scale", "statefulsets", "statefulsets/scale",
        ]),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(WRITE, &["networking.k8s.io"], &["ingresses", "networkpolicies"]),
        rule(WRITE, &["discovery.k8s.io"], &["endpointslices"]),
        rule(WRITE, &["coordination.k8s.io"], &["leases"]),
    ]);
    rules
}

/// `admin`: `edit`, plus the namespace's roles and bindings.
fn admin_rules() -> Vec<PolicyRule> {
    let mut rules = edit_rules();
    rules.extend([
        rule(&["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], &["rbac.authorization.k8s.io"], &["rolebindings", "roles"]),
        rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews"]),
    ]);
    rules
}

/// The roles of the controllers kube-controller-manager runs, each bound to the service
/// account `kube-system/<name>` it uses with `--use-service-account-credentials`.
fn controller_roles() -> Vec<(&'static str, Vec<PolicyRule>)> {
    let pods_owner = rule(&["create", "delete", "list", "patch", "watch"], &[""], &["pods"]);
    let with_events = |mut rules: Vec<PolicyRule>| {
        rules.extend(events_rules());
        rules
    };
    vec![
        ("replicaset-controller", with_events(vec![
            rule(&["get", "list", "update", "watch"], &["apps"], &["replicasets"]),
            rule(&["update"], &["apps"], &["replicasets/status", "replicasets/finalizers"]),
            pods_owner.clone(),
        ])),
        ("replication-controller", with_events(vec![
            rule(&["get", "list", "update", "watch"], &[""], &["replicationcontrollers"]),
            rule(&["update"], &[""], &["replicationcontrollers/status", "replicationcontrollers/finalizers"]),
            pods_owner.clone(),
        ])),
        ("deployment-controller", with_events(vec![
            rule(&["get", "list", "update", "watch"], &["apps"], &["deployments"]),
            rule(&["update"], &["apps"], &["deployments/status", "deployments/finalizers"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"], &["apps"], &["replicasets"]),
            rule(&["get", "list", "update", "watch"], &[""], &["pods"]),
        ])),
        ("endpoint-controller", with_events(vec![
            rule(READ, &[""], &["services", "pods"]),
            rule(&["create", "delete", "get", "list", "update"], &[""], &["endpoints"]),
            rule(&["create"], &[""], &["endpoints/restricted"]),
        ])),
        ("endpointslice-controller", with_events(vec![
            rule(READ, &[""], &["services", "pods", "nodes"]),
            rule(&["create", "delete", "get", "list", "update"], &["discovery.k8s.io"], &["endpointslices"]),
        ])),
        ("generic-garbage-collector", vec![rule(&["delete", "get", "list", "patch", "update", "watch"], &["*"], &["*"])]),
        ("namespace-controller", vec![
            rule(&["delete", "get", "list", "watch"], &[""], &["namespaces"]),
            rule(&["update"], &[""], &["namespaces/finalize", "namespaces/status"]),
            rule(&["delete", "deletecollection", "get", "list"], &["*"], &["*"]),
        ]),
        ("node-controller", with_events(vec![
            rule(&["delete", "get", "list", "patch", "update", "watch"], &[""], &["nodes"]),
            rule(&["patch", "update"], &[""], &["nodes/status", "pods/status"]),
            rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
        ])),
        ("job-controller", with_events(vec![
            rule(&["get", "list", "patch", "update", "watch"], &["batch"], &["jobs"]),
            rule(&["update"], &["batch"], &["jobs/status", "jobs/finalizers"]),
            rule(&["create", "delete", "list", "patch", "watch"], &[""], &["pods"]),
        ])),
        ("statefulset-controller", with_events(vec![
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"], &[""], &["pods"]),
            rule(READ, &["apps"], &["statefulsets"]),
            rule(&["update"], &["apps"], &["statefulsets/status", "statefulsets/finalizers"]),
            rule(&["create", "get"], &[""], &["persistentvolumeclaims"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"], &["apps"], &["controllerrevisions"]),
        ])),
        ("daemon-set-controller", with_events(vec![
            rule(READ, &["apps"], &["daemonsets"]),
            rule(&["update"], &["apps"], &["daemonsets/status", "daemonsets/finalizers"]),
            rule(READ, &[""], &["nodes"]),
            pods_owner,
            rule(&["create"], &[""], &["pods/binding"]),
            rule(&["create", "delete", "list", "patch", "update", "watch"], &["apps"], &["controllerrevisions"]),
        ])),
        ("service-account-controller", with_events(vec![rule(&["create"], &[""], &["serviceaccounts"])])),
        ("root-ca-cert-publisher", with_events(vec![rule(&["create", "update"], &[""], &["configmaps"])])),
        ("pod-garbage-collector", vec![
            rule(&["delete", "list", "watch"], &[""], &["pods"]),
            rule(&["get", "list"], &[""], &["nodes"]),
            rule(&["patch"], &[""], &["pods/status"]),
        ]),
    ]
}

/// Every bootstrap ClusterRole, and every bootstrap ClusterRoleBinding.
pub fn cluster_roles_and_bindings() -> (Vec<ClusterRole>, Vec<ClusterRoleBinding>) {
    let discovery_urls = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"];
    let public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let mut roles = vec![
        role("cluster-admin", vec![rule(&["*"], &["*"], &["*"]), PolicyRule::urls(&["*"], &["*"])]),
        role("admin", admin_rules()),
        role("edit", edit_rules()),
        role("view", view_rules()),
        role("system:discovery", vec![PolicyRule::urls(&["get"], &discovery_urls)]),
        role("system:public-info-viewer", vec![PolicyRule::urls(&["get"], &public_urls)]),
        role("system:basic-user", vec![
            rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]),
        ]),
        role("system:kube-scheduler", {
            let mut r = events_rules();
            r.extend([
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]).names(&["kube-scheduler"]),
                rule(&["create"], &[""], &["endpoints"]),
                rule(&["get", "update"], &[""], &["endpoints"]).names(&["kube-scheduler"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
                rule(&["create"], &[""], &["bindings", "pods/binding"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(READ, &[""], &["replicationcontrollers", "services", "namespaces", "persistentvolumeclaims", "persistentvolumes"]),
                rule(READ, &["apps"], &["replicasets", "statefulsets"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(&["create"], &["authorization.k8s.io"], &["subjectaccessreviews"]),
                rule(READ, &["storage.k8s.io"], &["csinodes", "csidrivers", "csistoragecapacities", "storageclasses"]),
            ]);
            r
        }),
        role("system:kube-controller-manager", {
            let mut r = events_rules();
            r.extend([
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]).names(&["kube-controller-manager"]),
                rule(&["create"], &[""], &["endpoints"]),
                rule(&["get", "update"], &[""], &["endpoints"]).names(&["kube-controller-manager"]),
                rule(&["create", "get", "update"], &[""], &["secrets", "serviceaccounts"]),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(&["create"], &["authorization.k8s.io"], &["subjectaccessreviews"]),
                // Its informers (and the garbage collector's) read everything.
                rule(READ, &["*"], &["*"]),
            ]);
            r
        }),
        role("system:node-proxier", {
            let mut r = events_rules();
            r.extend([
                rule(&["list", "watch"], &[""], &["services", "endpoints"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["list", "watch"], &["discovery.k8s.io"], &["endpointslices"]),
            ]);
            r
        }),
        // Bound to no one: the Node authorizer decides for kubelets (see auth/node.rs).
        role("system:node", {
            let mut r = events_rules();
            r.extend([
                rule(&["create", "get", "list", "watch", "patch", "update"], &[""], &["nodes"]),
                rule(&["patch", "update"], &[""], &["nodes/status", "pods/status"]),
                rule(READ, &[""], &["services"]),
                rule(&["create", "delete"], &[""], &["pods"]),
                rule(&["create"], &[""], &["pods/eviction"]),
                rule(&["create", "delete", "get", "patch", "update"], &["coordination.k8s.io"], &["leases"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(&["create"], &["authorization.k8s.io"], &["subjectaccessreviews", "localsubjectaccessreviews"]),
            ]);
            r
        }),
        role("system:volume-scheduler", vec![
            rule(&["get", "list", "patch", "update", "watch"], &[""], &["persistentvolumes", "persistentvolumeclaims"]),
            rule(READ, &["storage.k8s.io"], &["storageclasses"]),
        ]),
    ];
    let authenticated = || vec![Subject::group("system:authenticated")];
    let mut bindings = vec![
        binding("cluster-admin", "cluster-admin", vec![Subject::group("system:masters")]),
        binding("system:discovery", "system:discovery", authenticated()),
        binding("system:basic-user", "system:basic-user", authenticated()),
        binding("system:public-info-viewer", "system:public-info-viewer", vec![Subject::group("system:authenticated"), Subject::group("system:unauthenticated")]),
        binding("system:kube-scheduler", "system:kube-scheduler", vec![Subject::user("system:kube-scheduler")]),
        binding("system:volume-scheduler", "system:volume-scheduler", vec![Subject::user("system:kube-scheduler")]),
        binding("system:kube-controller-manager", "system:kube-controller-manager", vec![Subject::user("system:kube-controller-manager")]),
        binding("system:node-proxier", "system:node-proxier", vec![Subject::user("system:kube-proxy")]),
        binding("system:node", "system:node", vec![]),
    ];
    for (name, rules) in controller_roles() {
        let full = format!("system:controller:{name}");
        roles.push(role(&full, rules));
        bindings.push(binding(&full, &full, vec![Subject::service_account("kube-system", name)]));
    }
    (roles, bindings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_api::Object;

    #[test]
    fn the_bootstrap_policy_is_valid_and_every_binding_names_a_bootstrap_role() {
        let (roles, bindings) = cluster_roles_and_bindings();
        for r in &roles {
            assert!(r.validate().is_empty(), "{}: {:?}", r.metadata.name, r.validate());
        }
        for b in &bindings {
            assert!(b.validate().is_empty(), "{}: {:?}", b.metadata.name, b.validate());
            assert!(roles.iter().any(|r| r.metadata.name == b.role_ref.name), "{} has no role", b.metadata.name);
        }
        assert!(bindings.iter().any(|b| b.metadata.name == "system:controller:replicaset-controller"));
    }
}
