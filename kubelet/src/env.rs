//! A container's environment and the `$(VAR)` references in its command and args
//! (upstream's `makeEnvironmentVariables` and `expansion.Expand`).
//!
//! Variables are made in the order of `env`; each `value` may refer to the ones before it
//! as `$(NAME)`; `$$(NAME)` is a literal `$(NAME)`, and a reference to an unknown variable
//! stays as written. `valueFrom.fieldRef` reads the pod (the downward API), and
//! `valueFrom.resourceFieldRef` the container's resources (limits default to the node's
//! capacity, as upstream). ConfigMap and Secret references come with API mode.

use std::collections::HashMap;

use kube_api::core::{Container, Pod, ResourceFieldSelector};
use kube_api::quantity::Quantity;

/// What the downward API needs besides the pod.
pub struct Downward<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// The node's capacity, for limits a container does not set.
    pub node_cpus: i64,
    pub node_memory: i64,
}

/// The node's CPU count and memory in bytes (from /proc/meminfo).
pub fn node_capacity() -> (i64, i64) {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0);
    (cpus, memory)
}

/// The container's variables, in order, with `$(VAR)` expanded.
pub fn envs(pod: &Pod, c: &Container, d: &Downward) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut known: HashMap<String, String> = HashMap::new();
    for e in &c.env {
        let value = match &e.value_from {
            Some(from) if from.field_ref.is_some() => {
                field(pod, &from.field_ref.as_ref().map(|f| f.field_path.clone()).unwrap_or_default(), d)
            }
            Some(from) if from.resource_field_ref.is_some() => {
                from.resource_field_ref.as_ref().map(|r| resource(pod, c, r, d)).unwrap_or_default()
            }
            Some(_) => {
                tracing::warn!("env {}: configMapKeyRef/secretKeyRef need API mode; left empty", e.name);
                String::new()
            }
            None => expand(&e.value, &known),
        };
        known.insert(e.name.clone(), value.clone());
        out.retain(|(k, _)| k != &e.name);
        out.push((e.name.clone(), value));
    }
    out
}

/// `command` and `args` with `$(VAR)` expanded against the container's environment.
pub fn expand_all(words: &[String], env: &[(String, String)]) -> Vec<String> {
    let known: HashMap<String, String> = env.iter().cloned().collect();
    words.iter().map(|w| expand(w, &known)).collect()
}

/// Replaces `$(NAME)` by its value when known; `$$` is a literal `$`.
pub fn expand(input: &str, known: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match known.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The downward API's `fieldRef` paths.
fn field(pod: &Pod, path: &str, d: &Downward) -> String {
    let m = &pod.metadata;
    let key = |prefix: &str| path.strip_prefix(prefix).and_then(|k| k.strip_suffix("']")).map(String::from);
    if let Some(k) = key("metadata.labels['") {
        return m.labels.get(&k).cloned().unwrap_or_default();
    }
    if let Some(k) = key("metadata.annotations['") {
        return m.annotations.get(&k).cloned().unwrap_or_default();
    }
    match path {
        "metadata.name" => m.name.clone(),
        "metadata.namespace" => m.namespace.clone(),
        "metadata.uid" => m.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.podIP" | "status.podIPs" => d.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => d.host_ip.to_string(),
        other => {
            tracing::warn!("fieldRef {other} is not supported");
            String::new()
        }
    }
}

/// `resourceFieldRef`: `limits.cpu`, `requests.memory`, ... divided by `divisor` (1 by
/// default), rounded up as upstream.
fn resource(pod: &Pod, c: &Container, r: &ResourceFieldSelector, d: &Downward) -> String {
    let target = if r.container_name.is_empty() {
        c
    } else {
        pod.spec.containers.iter().find(|x| x.name == r.container_name).unwrap_or(c)
    };
    let Some((kind, name)) = r.resource.split_once('.') else { return String::new() };
    let list = if kind == "limits" { &target.resources.limits } else { &target.resources.requests };
    let get = |n: &str| list.get(n).and_then(|q| Quantity::parse(q.as_str()).ok());
    let nanos: i128 = match (name, get(name)) {
        (_, Some(q)) => q.nanos(),
        ("cpu", None) if kind == "limits" => d.node_cpus as i128 * 1_000_000_000,
        ("memory", None) if kind == "limits" => d.node_memory as i128 * 1_000_000_000,
        _ => 0,
    };
    let divisor = r.divisor.as_ref().and_then(|q| Quantity::parse(q.as_str()).ok()).map(|q| q.nanos()).filter(|n| *n > 0);
    let divisor = divisor.unwrap_or(1_000_000_000);
    ((nanos + divisor - 1) / divisor).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Downward<'static> {
        Downward { pod_ip: "10.88.0.7", host_ip: "192.0.2.1", node_cpus: 2, node_memory: 1 << 30 }
    }

    #[test]
    fn references_expand_to_earlier_variables_only() {
        let known = HashMap::from([("A".to_string(), "x".to_string())]);
        let cases = [("$(A)-$(B)", "x-$(B)"), ("$$(A)", "$(A)"), ("a$b", "a$b"), ("$(A", "$(A"), ("$$$(A)", "$x")];
        for (input, want) in cases {
            assert_eq!(expand(input, &known), want, "{input}");
        }
    }

    #[test]
    fn field_and_resource_refs_read_the_pod_and_its_limits() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
                "env": [
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "URL", "value": "http://$(IP):80/$(POD)"},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                    {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}
                ]}]}
        }))
        .unwrap();
        let env: HashMap<String, String> = envs(&pod, &pod.spec.containers[0], &d()).into_iter().collect();
        assert_eq!(env["POD"], "p");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["URL"], "http://10.88.0.7:80/p");
        assert_eq!(env["MEM"], "64");
        assert_eq!(env["CPU_REQ"], "250");
        assert_eq!(env["CPU_LIM"], "2", "no limit: the node's capacity");
    }
}
