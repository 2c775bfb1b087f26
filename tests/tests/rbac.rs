//! Authorization end to end: the real apiserver on a real etcd with `--authorization-mode`
//! RBAC, Node or AlwaysDeny, driven by the real kubectl. The insecure port's user is in
//! `system:masters` (allowed everything), so the tests set up roles as that user and act as
//! others with `kubectl --as=USER --as-group=GROUP` (impersonation).

use std::time::{Duration, Instant};

use e2e::{json, str_at, wait_for};
use testutil::{ApiServer, Kubectl};

/// `kubectl apply -f -` with `manifest`.
fn apply(k: &Kubectl, manifest: &str) -> anyhow::Result<()> {
    let out = k.run_with_input(&["apply", "-f", "-"], manifest)?;
    anyhow::ensure!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// `kubectl --as=USER ARGS`: stdout, or the error with stderr.
fn as_user(k: &Kubectl, user: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec![format!("--as={user}")];
    all.extend(args.iter().map(|s| s.to_string()));
    k.ok(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `kubectl --as=USER ARGS`, expected to fail: its stderr.
fn as_user_fails(k: &Kubectl, user: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec![format!("--as={user}")];
    all.extend(args.iter().map(|s| s.to_string()));
    k.fails(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `kubectl auth can-i ...` as `user`: "yes" or "no".
fn can_i(k: &Kubectl, user: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["auth".to_string(), "can-i".to_string(), format!("--as={user}")];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = k.run(&all.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

const NAMESPACES: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
";

fn pod(namespace: &str, name: &str, node: &str, secret: &str, config_map: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox
    envFrom: [{{configMapRef: {{name: {config_map}}}}}]
  volumes:
  - name: s
    secret: {{secretName: {secret}}}
"
    )
}

#[test]
fn a_user_bound_to_a_role_can_do_exactly_what_it_allows_until_the_binding_goes() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=RBAC"])?;
    let k = api.kubectl();
    apply(&k, NAMESPACES)?;
    apply(&k, &pod("dev", "web", "node1", "s", "cm"))?;
    apply(&k, &pod("other", "web", "node1", "s", "cm"))?;
    // kubectl's generators (protobuf bodies).
    k.ok(&["create", "role", "pod-reader", "-n", "dev", "--verb=get,list,watch", "--resource=pods"])?;
    k.ok(&["create", "rolebinding", "alice-reads-pods", "-n", "dev", "--role=pod-reader", "--user=alice"])?;

    let out = wait_for("alice may list pods in dev", Duration::from_secs(5), || as_user(&k, "alice", &["get", "pods", "-n", "dev"]).ok())?;
    assert!(out.contains("web"), "{out}");
    as_user(&k, "alice", &["get", "pod", "web", "-n", "dev"])?;

    // Other namespace, other verb, other resource: refused, with upstream's words.
    let err = as_user_fails(&k, "alice", &["get", "pods", "-n", "other"])?;
    assert_eq!(err.trim(), r#"Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "other""#);
    let err = as_user_fails(&k, "alice", &["delete", "pod", "web", "-n", "dev"])?;
    assert_eq!(err.trim(), r#"Error from server (Forbidden): pods "web" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "dev""#);
    let err = as_user_fails(&k, "alice", &["get", "deployments", "-n", "dev"])?;
    assert_eq!(err.trim(), r#"Error from server (Forbidden): deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "dev""#);
    as_user_fails(&k, "alice", &["get", "secrets", "-n", "dev"])?;
    as_user_fails(&k, "bob", &["get", "pods", "-n", "dev"])?;

    // The raw Status: reason Forbidden, details naming the resource.
    let (code, body) = e2e::curl(&["-H", "Impersonate-User: alice", &format!("{}/api/v1/namespaces/other/pods/web", api.url)])?;
    assert_eq!(code, 403);
    let status = json(&body)?;
    assert_eq!(str_at(&status, "/reason"), "Forbidden", "{status}");
    assert_eq!(status["details"], serde_json::json!({"name": "web", "kind": "pods"}), "{status}");
    assert_eq!(status["code"], 403);

    // `kubectl auth can-i` is a SelfSubjectAccessReview (system:basic-user lets everyone ask).
    assert_eq!(can_i(&k, "alice", &["list", "pods", "-n", "dev"])?, "yes");
    assert_eq!(can_i(&k, "alice", &["create", "pods", "-n", "dev"])?, "no");
    assert_eq!(can_i(&k, "alice", &["list", "pods", "-n", "other"])?, "no");

    // Removing the binding removes the permission: the index follows the watch.
    k.ok(&["delete", "rolebinding", "alice-reads-pods", "-n", "dev"])?;
    let started = Instant::now();
    wait_for("alice to lose access", Duration::from_secs(1), || as_user_fails(&k, "alice", &["get", "pods", "-n", "dev"]).ok())?;
    eprintln!("access removed after {:?} (including one kubectl run)", started.elapsed());
    Ok(())
}

#[test]
fn cluster_role_bindings_grant_everywhere_and_role_bindings_to_a_cluster_role_only_in_their_namespace() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=RBAC"])?;
    let k = api.kubectl();
    apply(&k, NAMESPACES)?;
    apply(
        &k,
        "
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-views, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: User, name: bob}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: auditors-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: Group, name: auditors, apiGroup: rbac.authorization.k8s.io}
",
    )?;
    wait_for("bob may list deployments in dev", Duration::from_secs(5), || as_user(&k, "bob", &["get", "deployments", "-n", "dev"]).ok())?;
    as_user_fails(&k, "bob", &["get", "deployments", "-n", "other"])?;
    as_user_fails(&k, "bob", &["get", "secrets", "-n", "dev"])?; // view does not read secrets
    as_user_fails(&k, "bob", &["get", "pods", "-A"])?;
    for ns in ["dev", "other", "default"] {
        k.ok(&["--as=carol", "--as-group=auditors", "get", "pods", "-n", ns])?;
    }
    k.ok(&["--as=carol", "--as-group=auditors", "get", "pods", "-A"])?;
    assert_eq!(can_i(&k, "carol", &["--as-group=auditors", "delete", "pods", "-n", "dev"])?, "no");

    // The bindings print as upstream's: ROLE, and with -o wide USERS, GROUPS, SERVICEACCOUNTS.
    let out = k.ok(&["get", "rolebinding", "bob-views", "-n", "dev", "-o", "wide"])?;
    let header: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"], "{out}");
    assert!(out.lines().nth(1).unwrap_or("").starts_with("bob-views   ClusterRole/view"), "{out}");
    let out = k.ok(&["get", "clusterrolebinding", "cluster-admin", "-o", "wide"])?;
    assert!(out.contains("ClusterRole/cluster-admin") && out.contains("system:masters"), "{out}");
    let out = k.ok(&["get", "clusterroles"])?;
    assert!(out.starts_with("NAME") && out.lines().next().unwrap_or("").contains("CREATED AT"), "{out}");
    for role in ["cluster-admin", "admin", "edit", "view", "system:discovery", "system:node", "system:controller:replicaset-controller"] {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(role)), "{role} missing:\n{out}");
    }
    // A binding's roleRef cannot change.
    let err = k.fails(&["patch", "rolebinding", "bob-views", "-n", "dev", "--type=merge", "-p", r#"{"roleRef":{"name":"edit"}}"#])?;
    assert!(err.contains("cannot change roleRef"), "{err}");
    Ok(())
}

#[test]
fn resource_names_and_subresources_narrow_a_rule() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=RBAC"])?;
    let k = api.kubectl();
    apply(&k, NAMESPACES)?;
    k.ok(&["create", "configmap", "app-config", "-n", "dev", "--from-literal=a=b"])?;
    k.ok(&["create", "configmap", "other-config", "-n", "dev", "--from-literal=a=b"])?;
    apply(
        &k,
        "
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: narrow, namespace: dev}
rules:
- {apiGroups: [''], resources: [configmaps], resourceNames: [app-config], verbs: [get]}
- {apiGroups: [''], resources: [pods/log], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dave-narrow, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: narrow}
subjects:
- {kind: User, name: dave}
",
    )?;
    wait_for("dave may read app-config", Duration::from_secs(5), || as_user(&k, "dave", &["get", "configmap", "app-config", "-n", "dev"]).ok())?;
    let err = as_user_fails(&k, "dave", &["get", "configmap", "other-config", "-n", "dev"])?;
    assert_eq!(err.trim(), r#"Error from server (Forbidden): configmaps "other-config" is forbidden: User "dave" cannot get resource "configmaps" in API group "" in the namespace "dev""#);
    as_user_fails(&k, "dave", &["get", "configmaps", "-n", "dev"])?;
    assert_eq!(can_i(&k, "dave", &["get", "pods", "--subresource=log", "-n", "dev"])?, "yes");
    assert_eq!(can_i(&k, "dave", &["get", "pods", "-n", "dev"])?, "no");
    Ok(())
}

#[test]
fn a_kubelet_sees_only_its_pods_and_what_they_use() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=Node,RBAC"])?;
    let k = api.kubectl();
    for node in ["node1", "node2"] {
        apply(&k, &format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\n"))?;
    }
    for (name, value) in [("s1", "one"), ("s2", "two")] {
        k.ok(&["create", "secret", "generic", name, &format!("--from-literal=k={value}")])?;
    }
    k.ok(&["create", "configmap", "cm1", "--from-literal=a=b"])?;
    k.ok(&["create", "configmap", "cm2", "--from-literal=a=b"])?;
    apply(&k, &pod("default", "a", "node1", "s1", "cm1"))?;
    apply(&k, &pod("default", "b", "node2", "s2", "cm2"))?;

    let node1 = |args: &[&str]| {
        let mut all = vec!["--as=system:node:node1", "--as-group=system:nodes"];
        all.extend_from_slice(args);
        k.run(&all)
    };
    let ok = |args: &[&str]| -> anyhow::Result<String> {
        let out = node1(args)?;
        anyhow::ensure!(out.status.success(), "node1 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let refused = |args: &[&str]| -> anyhow::Result<String> {
        let out = node1(args)?;
        anyhow::ensure!(!out.status.success(), "node1 {args:?} should be refused");
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    wait_for("node1 may read its pod", Duration::from_secs(5), || ok(&["get", "pod", "a"]).ok())?;
    let err = refused(&["get", "pod", "b"])?;
    assert_eq!(err, r#"Error from server (Forbidden): pods "b" is forbidden: User "system:node:node1" cannot get resource "pods" in API group "" in the namespace "default": no relationship found between node 'node1' and this object"#);
    ok(&["get", "secret", "s1"])?;
    refused(&["get", "secret", "s2"])?;
    ok(&["get", "configmap", "cm1"])?;
    refused(&["get", "configmap", "cm2"])?;
    refused(&["get", "secrets"])?;
    refused(&["get", "pods"])?;
    let mine = ok(&["get", "pods", "--field-selector=spec.nodeName=node1", "-o", "name"])?;
    assert_eq!(mine.trim(), "pod/a");
    ok(&["label", "node", "node1", "seen=yes"])?;
    refused(&["label", "node", "node2", "seen=yes"])?;
    ok(&["get", "nodes"])?;

    // Bind pod b to node1 (a new pod): node1 may now read s2.
    apply(&k, &pod("default", "c", "node1", "s2", "cm2"))?;
    wait_for("node1 may read s2 once a pod of its uses it", Duration::from_secs(2), || ok(&["get", "secret", "s2"]).ok())?;
    Ok(())
}

#[test]
fn always_deny_refuses_everyone_but_system_masters() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=AlwaysDeny"])?;
    let k = api.kubectl();
    k.ok(&["get", "pods"])?;
    let err = as_user_fails(&k, "alice", &["get", "pods"])?;
    assert!(err.contains(r#"User "alice" cannot list resource "pods""#), "{err}");
    // Non-resource paths are authorized too.
    let (code, body) = e2e::curl(&["-H", "Impersonate-User: alice", &format!("{}/version", api.url)])?;
    assert_eq!(code, 403, "{body}");
    assert_eq!(str_at(&json(&body)?, "/message"), r#"forbidden: User "alice" cannot get path "/version""#);
    Ok(())
}

#[test]
fn an_unknown_authorization_mode_is_a_clear_error() -> anyhow::Result<()> {
    let out = std::process::Command::new(testutil::binary("kube-apiserver")?)
        .args(["--authorization-mode=Node,Webhook", "--etcd-servers=http://127.0.0.1:1"])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"authorization mode "Webhook" is not a valid mode"#), "{err}");
    Ok(())
}

#[test]
fn nobody_grants_or_binds_permissions_they_do_not_hold() -> anyhow::Result<()> {
    let api = ApiServer::start_with(&["--authorization-mode=RBAC"])?;
    let k = api.kubectl();
    apply(&k, NAMESPACES)?;
    // erin manages roles and bindings in dev and may read pods there, nothing more (no `*`
    // verb on roles: that would include `escalate` and `bind`).
    apply(
        &k,
        "
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: rbac-manager, namespace: dev}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [create, get, list, patch, update, delete]}
- {apiGroups: [''], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: erin, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rbac-manager}
subjects:
- {kind: User, name: erin}
",
    )?;
    wait_for("erin may list roles", Duration::from_secs(5), || as_user(&k, "erin", &["get", "roles", "-n", "dev"]).ok())?;
    // A role within what she holds: fine. One granting delete: refused.
    as_user(&k, "erin", &["create", "role", "readers", "-n", "dev", "--verb=get,list", "--resource=pods"])?;
    let err = as_user_fails(&k, "erin", &["create", "role", "deleters", "-n", "dev", "--verb=delete", "--resource=pods"])?;
    assert!(
        err.contains(r#"roles.rbac.authorization.k8s.io "deleters" is forbidden: user "erin""#)
            && err.contains("is attempting to grant RBAC permissions not currently held")
            && err.contains(r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#),
        "{err}"
    );
    // Binding a role she holds: fine; binding cluster-admin: refused.
    as_user(&k, "erin", &["create", "rolebinding", "frank-reads", "-n", "dev", "--role=readers", "--user=frank"])?;
    let err = as_user_fails(&k, "erin", &["create", "rolebinding", "frank-admin", "-n", "dev", "--clusterrole=cluster-admin", "--user=frank"])?;
    assert!(err.contains("is attempting to grant RBAC permissions not currently held"), "{err}");
    // Nor by patching a role she may edit.
    let err = as_user_fails(&k, "erin", &["patch", "role", "readers", "-n", "dev", "--type=json", "-p", r#"[{"op":"add","path":"/rules/0/verbs/-","value":"delete"}]"#])?;
    assert!(err.contains("not currently held"), "{err}");
    Ok(())
}
