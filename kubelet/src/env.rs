//! A container's environment and the `$(VAR)` references in its command and args
//! (upstream's `makeEnvironmentVariables` and `expansion.Expand`).
//!
//! Variables are made in the order of `env`; each `value` may refer to the ones before it
//! as `$(NAME)`; `$$(NAME)` is a literal `$(NAME)`, and a reference to an unknown variable
//! stays as written. `valueFrom.fieldRef` reads the pod (the downward API), and
//! `valueFrom.resourceFieldRef` the container's resources (limits default to the node's
//! capacity, as upstream). ConfigMap and Secret references and the service links come from
//! [`EnvSources`] (API mode).

use std::collections::{BTreeMap, HashMap};

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

/// Where `envFrom`, `configMapKeyRef`/`secretKeyRef` and the service links come from: the
/// informers' caches in API mode ([`crate::env_api`]); nothing standalone.
pub trait EnvSources {
    /// The service link variables for the pod (`WEB_SERVICE_HOST`, ...).
    fn service_env(&self, pod: &Pod) -> Vec<(String, String)>;
    /// A ConfigMap's `data`, if it exists.
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>>;
    /// A Secret's decoded `data`, if it exists.
    fn secret(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>>;
}

/// The container's variables (upstream's `makeEnvironmentVariables`):
/// 1. `envFrom`, every key of each ConfigMap/Secret with its prefix, in order;
/// 2. `env`, in order: a `value` has its `$(VAR)` references expanded against the
///    variables made so far and the service links; a `valueFrom` is read as is;
/// 3. the service links that no variable above overrides.
///
/// A missing ConfigMap/Secret or key that is not `optional` is an error: the container is
/// not created (`CreateContainerConfigError`, the error as its message).
pub fn envs(pod: &Pod, c: &Container, d: &Downward, sources: Option<&dyn EnvSources>) -> Result<Vec<(String, String)>, String> {
    let ns = &pod.metadata.namespace;
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |out: &mut Vec<(String, String)>, name: String, value: String| match out.iter_mut().find(|(k, _)| *k == name) {
        Some(kv) => kv.1 = value,
        None => out.push((name, value)),
    };
    let service_env = sources.map(|s| s.service_env(pod)).unwrap_or_default();
    let needs_api = |what: &str| format!("{what} needs the apiserver (API mode)");
    for from in &c.env_from {
        if let Some(r) = &from.config_map_ref {
            match sources.ok_or_else(|| needs_api("envFrom"))?.config_map(ns, &r.name) {
                Some(data) => data.into_iter().for_each(|(k, v)| set(&mut out, format!("{}{k}", from.prefix), v)),
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.ok_or_else(|| needs_api("envFrom"))?.secret(ns, &r.name) {
                Some(data) => data.into_iter().for_each(|(k, v)| set(&mut out, format!("{}{k}", from.prefix), v)),
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        }
    }
    for e in &c.env {
        let value = match &e.value_from {
            Some(from) if e.value.is_empty() => {
                if let Some(f) = &from.field_ref {
                    field(pod, &f.field_path, d)
                } else if let Some(r) = &from.resource_field_ref {
                    resource(pod, c, r, d)
                } else if let Some(r) = &from.config_map_key_ref {
                    let cm = sources.ok_or_else(|| needs_api("configMapKeyRef"))?.config_map(ns, &r.name);
                    match (cm.as_ref().and_then(|cm| cm.get(&r.key)), r.optional == Some(true)) {
                        (Some(v), _) => v.clone(),
                        (None, true) => continue,
                        (None, false) if cm.is_none() => return Err(format!("configmap {:?} not found", r.name)),
                        (None, false) => return Err(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let secret = sources.ok_or_else(|| needs_api("secretKeyRef"))?.secret(ns, &r.name);
                    match (secret.as_ref().and_then(|s| s.get(&r.key)), r.optional == Some(true)) {
                        (Some(v), _) => v.clone(),
                        (None, true) => continue,
                        (None, false) if secret.is_none() => return Err(format!("secret {:?} not found", r.name)),
                        (None, false) => return Err(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name)),
                    }
                } else {
                    String::new()
                }
            }
            _ => {
                let mut known: HashMap<String, String> = service_env.iter().cloned().collect();
                known.extend(out.iter().cloned());
                expand(&e.value, &known)
            }
        };
        set(&mut out, e.name.clone(), value);
    }
    for (k, v) in service_env {
        if !out.iter().any(|(name, _)| *name == k) {
            out.push((k, v));
        }
    }
    Ok(out)
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

/// The downward API's `fieldRef` paths. `metadata.labels` and `metadata.annotations` as a
/// whole (volumes only) are one `key="value"` line each, sorted (upstream's `FormatMap`).
pub fn field(pod: &Pod, path: &str, d: &Downward) -> String {
    let m = &pod.metadata;
    let format_map = |map: &std::collections::BTreeMap<String, String>| {
        map.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default())).collect::<Vec<_>>().join("\n")
    };
    let key = |prefix: &str| path.strip_prefix(prefix).and_then(|k| k.strip_suffix("']")).map(String::from);
    if let Some(k) = key("metadata.labels['") {
        return m.labels.get(&k).cloned().unwrap_or_default();
    }
    if let Some(k) = key("metadata.annotations['") {
        return m.annotations.get(&k).cloned().unwrap_or_default();
    }
    match path {
        "metadata.labels" => format_map(&m.labels),
        "metadata.annotations" => format_map(&m.annotations),
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
pub fn resource(pod: &Pod, c: &Container, r: &ResourceFieldSelector, d: &Downward) -> String {
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
        let env: HashMap<String, String> = envs(&pod, &pod.spec.containers[0], &d(), None).unwrap().into_iter().collect();
        assert_eq!(env["POD"], "p");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["URL"], "http://10.88.0.7:80/p");
        assert_eq!(env["MEM"], "64");
        assert_eq!(env["CPU_REQ"], "250");
        assert_eq!(env["CPU_LIM"], "2", "no limit: the node's capacity");
    }

    struct Objects;

    impl EnvSources for Objects {
        fn service_env(&self, _: &Pod) -> Vec<(String, String)> {
            vec![("WEB_SERVICE_HOST".into(), "10.0.0.57".into())]
        }
        fn config_map(&self, _: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (name == "cfg").then(|| BTreeMap::from([("greeting".to_string(), "hello".to_string()), ("port".to_string(), "8080".to_string())]))
        }
        fn secret(&self, _: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (name == "db").then(|| BTreeMap::from([("password".to_string(), "s3cr3t".to_string())]))
        }
    }

    #[test]
    fn references_expand_to_config_map_secret_env_from_and_service_variables() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i",
                "command": ["echo", "$(GREETING) $(CFG_port) $$(PASS) $(NOPE)"],
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "URL", "value": "http://$(WEB_SERVICE_HOST):$(CFG_port)/?p=$(PASS)"},
                    {"name": "LATER", "value": "$(AFTER)"},
                    {"name": "AFTER", "value": "x"},
                    {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "none", "optional": true}}}
                ]}]}
        }))
        .unwrap();
        let c = &pod.spec.containers[0];
        let env = envs(&pod, c, &d(), Some(&Objects)).unwrap();
        let map: HashMap<String, String> = env.iter().cloned().collect();
        assert_eq!(map["URL"], "http://10.0.0.57:8080/?p=s3cr3t");
        assert_eq!(map["LATER"], "$(AFTER)", "only earlier variables");
        assert_eq!(map["CFG_greeting"], "hello");
        assert_eq!(map["WEB_SERVICE_HOST"], "10.0.0.57");
        assert!(!map.contains_key("GONE"));
        assert_eq!(expand_all(&c.command, &env)[1], "hello 8080 $(PASS) $(NOPE)");

        let mut missing = pod.clone();
        missing.spec.containers[0].env[0].value_from.as_mut().unwrap().config_map_key_ref.as_mut().unwrap().name = "other".into();
        assert_eq!(envs(&missing, &missing.spec.containers[0], &d(), Some(&Objects)).unwrap_err(), "configmap \"other\" not found");
        assert!(envs(&pod, c, &d(), None).is_err(), "standalone: no configMaps");
    }
}
