//! Kind-specific rules the apiserver applies around the generic store, as upstream's
//! admission plugins and registry strategies do:
//! - **NamespaceLifecycle**: no new object in a namespace that does not exist or is being
//!   terminated; the four system namespaces cannot be deleted.
//! - **Services**: a ClusterIP (and NodePorts for `NodePort`/`LoadBalancer`) is allocated on
//!   create and released on delete; an update keeps the allocated values.
//! - **Pods**: graceful deletion (a pod bound to a node is only marked; its kubelet stops the
//!   containers and then deletes it with grace 0).
//! - **ServiceAccount** ([`service_account`]), only when the apiserver can issue tokens
//!   (`--service-account-signing-key-file`): a new pod's service account must exist, and
//!   every container gets the token volume mounted at
//!   `/var/run/secrets/kubernetes.io/serviceaccount`.

use std::net::Ipv4Addr;

use kube_api::ResourceInfo;
use serde_json::{json, Value};

use crate::errors::{ApiError, Result};
use crate::store::str_at;
use crate::State;

/// Namespaces that always exist and cannot be deleted.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// NamespaceLifecycle: the namespace of a new object must exist and not be terminating.
pub async fn check_namespace(state: &State, res: &ResourceInfo, namespace: &str) -> Result<()> {
    if !res.namespaced {
        return Ok(());
    }
    let namespaces = kube_api::registry::by_plural("", "namespaces").ok_or(ApiError::NoSuchResource)?;
    let ns = match state.store.get(namespaces, "", namespace).await {
        Ok(ns) => ns,
        Err(ApiError::NotFound { .. }) => return Err(ApiError::namespace_not_found(namespace)),
        Err(e) => return Err(e),
    };
    if str_at(&ns, "/status/phase") == "Terminating" || ns.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::Forbidden(format!(
            "{} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            res.plural
        )));
    }
    Ok(())
}

/// Allocate what a new object needs before it is written (Services: IPs and ports).
/// Returns what to release if the write then fails.
pub async fn allocate(state: &State, res: &ResourceInfo, object: &mut Value, dry_run: bool) -> Result<Allocated> {
    if !is_core(res, "services") || dry_run {
        return Ok(Allocated::default());
    }
    let mut allocated = Allocated::default();
    match allocate_service(state, object, &mut allocated).await {
        Ok(()) => Ok(allocated),
        Err(e) => {
            release(state, &allocated).await;
            Err(e)
        }
    }
}

async fn allocate_service(state: &State, svc: &mut Value, allocated: &mut Allocated) -> Result<()> {
    let type_ = str_at(svc, "/spec/type").to_string();
    if type_ != "ExternalName" {
        let requested = str_at(svc, "/spec/clusterIP").to_string();
        if requested != "None" {
            let want = if requested.is_empty() {
                None
            } else {
                Some(requested.parse::<Ipv4Addr>().map_err(|_| {
                    invalid_service(svc, "spec.clusterIP", &requested, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
                })?)
            };
            let ip = state.service_ips.allocate(want).await.map_err(|e| match e {
                ApiError::BadRequest(m) => invalid_service(svc, "spec.clusterIPs", &requested, &m),
                other => other,
            })?;
            allocated.ip = Some(ip);
            svc["spec"]["clusterIP"] = json!(ip.to_string());
            svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        } else {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        }
    }
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        let ports = svc.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            let want = port.get("nodePort").and_then(Value::as_u64).filter(|p| *p != 0).map(|p| p as u16);
            let p = state.node_ports.allocate(want).await.map_err(|e| match e {
                ApiError::BadRequest(m) => invalid_service(
                    svc,
                    &format!("spec.ports[{i}].nodePort"),
                    &want.map(|p| p.to_string()).unwrap_or_default(),
                    &m,
                ),
                other => other,
            })?;
            allocated.node_ports.push(p);
            svc["spec"]["ports"][i]["nodePort"] = json!(p);
        }
    }
    Ok(())
}

fn invalid_service(svc: &Value, field: &str, value: &str, detail: &str) -> ApiError {
    ApiError::Invalid {
        kind: "Service".into(),
        group: String::new(),
        name: str_at(svc, "/metadata/name").into(),
        causes: vec![kube_api::validation::FieldError::invalid(field, value, detail)],
    }
}

/// Addresses and ports taken for one object.
#[derive(Debug, Default)]
pub struct Allocated {
    pub ip: Option<Ipv4Addr>,
    pub node_ports: Vec<u16>,
}

/// Give back what a Service held.
pub async fn release(state: &State, allocated: &Allocated) {
    if let Some(ip) = allocated.ip {
        if let Err(e) = state.service_ips.release(ip).await {
            tracing::warn!("could not release ClusterIP {ip}: {e}");
        }
    }
    for p in &allocated.node_ports {
        if let Err(e) = state.node_ports.release(*p).await {
            tracing::warn!("could not release NodePort {p}: {e}");
        }
    }
}

/// What a stored Service holds, to release when it is deleted.
pub fn held_by(res: &ResourceInfo, object: &Value) -> Allocated {
    if !is_core(res, "services") {
        return Allocated::default();
    }
    Allocated {
        ip: str_at(object, "/spec/clusterIP").parse().ok(),
        node_ports: object
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| ports.iter().filter_map(|p| p.get("nodePort")?.as_u64()).map(|p| p as u16).collect())
            .unwrap_or_default(),
    }
}

/// On update, a Service keeps its allocated ClusterIP and NodePorts when the new spec
/// leaves them out (as upstream does for `kubectl replace`/PUT without them).
pub fn keep_allocations(res: &ResourceInfo, current: &Value, new: &mut Value) {
    if !is_core(res, "services") {
        return;
    }
    for field in ["clusterIP", "clusterIPs"] {
        let empty = new.pointer(&format!("/spec/{field}")).is_none_or(|v| v.is_null() || v == "" || v == &json!([]));
        if empty {
            if let Some(v) = current.pointer(&format!("/spec/{field}")) {
                new["spec"][field] = v.clone();
            }
        }
    }
    let old_ports = current.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut() {
            if port.get("nodePort").is_some() {
                continue;
            }
            let same = old_ports.iter().find(|o| o.get("port") == port.get("port") && o.get("protocol") == port.get("protocol"));
            if let Some(np) = same.and_then(|o| o.get("nodePort")) {
                port["nodePort"] = np.clone();
            }
        }
    }
}

/// How long a pod being deleted is given to stop, or `None` when it can go at once
/// (never bound to a node, or already finished), as upstream's pod strategy decides.
pub fn pod_grace_period(object: &Value, requested: Option<i64>) -> Option<i64> {
    let unbound = str_at(object, "/spec/nodeName").is_empty();
    let phase = str_at(object, "/status/phase");
    if unbound || phase == "Succeeded" || phase == "Failed" {
        return None;
    }
    let grace = requested
        .or_else(|| object.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30);
    Some(grace.max(0))
}

/// Where every container finds its service-account token, `ca.crt` and `namespace`.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the token volume's name (`kube-api-access-x7k2q`).
pub const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";
/// The ConfigMap the controller manager publishes in every namespace (`--root-ca-file`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// The ServiceAccount admission plugin, on a new pod (already defaulted, so
/// `spec.serviceAccountName` is set, `default` if the user gave none). Upstream's
/// `plugin/pkg/admission/serviceaccount`:
/// - the service account must exist (403 otherwise, upstream's message);
/// - unless `automountServiceAccountToken: false` (on the pod, else on the service
///   account), a projected volume `kube-api-access-<5 random characters>` (token, `ca.crt`, namespace) is
///   added and mounted read-only in every container and init container that does not
///   already mount something at [`TOKEN_MOUNT_PATH`].
///
/// Mirror pods (the kubelet's static pods) are left as they are: the kubelet would not
/// recognise a changed spec.
pub async fn service_account(state: &State, res: &ResourceInfo, pod: &mut Value) -> Result<()> {
    if !is_core(res, "pods") || state.service_account_tokens.is_none() {
        return Ok(());
    }
    if pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror").is_some() {
        return Ok(());
    }
    let namespace = str_at(pod, "/metadata/namespace").to_string();
    let sa_name = match str_at(pod, "/spec/serviceAccountName") {
        "" => "default".to_string(),
        n => n.to_string(),
    };
    let accounts = kube_api::registry::by_plural("", "serviceaccounts").ok_or(ApiError::NoSuchResource)?;
    let sa = match state.store.get(accounts, &namespace, &sa_name).await {
        Ok(sa) => sa,
        Err(ApiError::NotFound { .. }) => {
            let mut name = str_at(pod, "/metadata/generateName");
            if name.is_empty() {
                name = str_at(pod, "/metadata/name");
            }
            return Err(ApiError::Forbidden(format!(
                "pods \"{name}\" is forbidden: error looking up service account {namespace}/{sa_name}: serviceaccount \"{sa_name}\" not found"
            )));
        }
        Err(e) => return Err(e),
    };
    let automount = pod
        .pointer("/spec/automountServiceAccountToken")
        .or_else(|| sa.get("automountServiceAccountToken"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if automount {
        mount_token(pod, &crate::store::random_suffix());
    }
    Ok(())
}

/// Adds the token volume and its mounts (upstream's `mountServiceAccountToken`).
pub fn mount_token(pod: &mut Value, suffix: &str) {
    let existing = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().map(|v| str_at(v, "/name")).find(|n| n.starts_with(TOKEN_VOLUME_PREFIX)))
        .map(String::from);
    let volume_name = existing.clone().unwrap_or_else(|| format!("{TOKEN_VOLUME_PREFIX}{suffix}"));
    let mut needs_volume = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod.pointer_mut(&format!("/spec/{list}")).and_then(Value::as_array_mut) else { continue };
        for c in containers {
            let mounts = c.pointer("/volumeMounts").and_then(Value::as_array);
            if mounts.is_some_and(|ms| ms.iter().any(|m| str_at(m, "/mountPath") == TOKEN_MOUNT_PATH)) {
                continue;
            }
            let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
            match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                Some(ms) => ms.push(mount),
                None => c["volumeMounts"] = json!([mount]),
            }
            needs_volume = true;
        }
    }
    if existing.is_some() || !needs_volume {
        return;
    }
    let volume = json!({
        "name": volume_name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": crate::auth::serviceaccount::WARN_ONLY_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": kube_api::core::pod_rules::DEFAULT_MODE,
        },
    });
    match pod.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
        Some(vs) => vs.push(volume),
        None => pod["spec"]["volumes"] = json!([volume]),
    }
}

pub fn is_core(res: &ResourceInfo, plural: &str) -> bool {
    res.group.is_empty() && res.plural == plural
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbound_or_finished_pods_go_at_once() {
        assert_eq!(pod_grace_period(&json!({"spec": {}}), None), None);
        assert_eq!(pod_grace_period(&json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}}), None), None);
        assert_eq!(pod_grace_period(&json!({"spec": {"nodeName": "n1"}}), None), Some(30));
        assert_eq!(pod_grace_period(&json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 5}}), None), Some(5));
        assert_eq!(pod_grace_period(&json!({"spec": {"nodeName": "n1"}}), Some(0)), Some(0));
    }

    #[test]
    fn every_container_mounts_the_token_volume_once() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "a", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "b", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }});
        mount_token(&mut pod, "x7k2q");
        let mount = json!({"name": "kube-api-access-x7k2q", "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
        assert_eq!(pod["spec"]["initContainers"][0]["volumeMounts"], json!([mount]));
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][1], mount);
        assert_eq!(pod["spec"]["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1, "its own mount at the path wins");
        let volume = &pod["spec"]["volumes"][1];
        assert_eq!(volume["name"], "kube-api-access-x7k2q");
        assert_eq!(volume["projected"]["defaultMode"], 420);
        assert_eq!(volume["projected"]["sources"][0]["serviceAccountToken"], json!({"expirationSeconds": 3607, "path": "token"}));
        assert_eq!(volume["projected"]["sources"][1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(volume["projected"]["sources"][2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
        // Admitting again (a pod that already has the volume) adds nothing.
        let before = pod.clone();
        mount_token(&mut pod, "other");
        assert_eq!(pod, before);
    }

    #[test]
    fn a_replaced_service_keeps_its_cluster_ip_and_node_ports() {
        let services = kube_api::registry::by_plural("", "services").unwrap();
        let current = json!({"spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}});
        keep_allocations(services, &current, &mut new);
        assert_eq!(new["spec"]["clusterIP"], "10.0.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    }
}
