//! Where a container's environment reads API objects, in API mode ([`EnvSources`] for
//! [`crate::env::envs`], upstream's `makeEnvironmentVariables`):
//!
//! 1. **Service links** (when `enableServiceLinks` is not false): for every service of the
//!    pod's namespace, and the `kubernetes` service of `default`, the variables Docker
//!    links used to set — seed 001's `WEB_SERVICE_HOST`, `WEB_SERVICE_PORT`, `WEB_PORT`,
//!    `WEB_PORT_80_TCP`, `WEB_PORT_80_TCP_PROTO`, `_PORT`, `_ADDR`. Only services that
//!    exist when the container starts: a pod created before its service does not see it
//!    (hence DNS).
//! 2. `envFrom`: every key of a ConfigMap or Secret, with an optional prefix.
//! 3. `env` with `valueFrom.configMapKeyRef` / `secretKeyRef`.
//!
//! Later entries win over earlier ones, and `env` over everything; `env` values may refer to
//! all of them as `$(VAR)`. The objects come from
//! the informers' caches; a missing one (not `optional`) stops the container from starting
//! with `CreateContainerConfigError`, as upstream.

use std::collections::BTreeMap;

use base64::Engine;
use kube_api::core::{Pod, Service};

use crate::api_mode::ApiMode;
use crate::env::EnvSources;

impl EnvSources for ApiMode {
    /// Every service of the pod's namespace when `enableServiceLinks` is not false, and
    /// the `kubernetes` service of `default` always (upstream's master services).
    fn service_env(&self, pod: &Pod) -> Vec<(String, String)> {
        let ns = &pod.metadata.namespace;
        let links = pod.spec.enable_service_links != Some(false);
        let services: Vec<Service> = self
            .services
            .list()
            .iter()
            .filter(|s| (links && &s.metadata.namespace == ns) || (s.metadata.namespace == "default" && s.metadata.name == "kubernetes"))
            .map(|s| (**s).clone())
            .collect();
        service_env(&services, ns)
    }

    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.config_maps.get(&format!("{namespace}/{name}")).map(|cm| cm.data.clone())
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.secrets.get(&format!("{namespace}/{name}")).map(|s| decoded(&s.data))
    }
}

/// A Secret's values, base64-decoded (values that are not UTF-8 are skipped).
pub fn decoded(data: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    data.iter()
        .filter_map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
            Some((k.clone(), String::from_utf8(bytes).ok()?))
        })
        .collect()
}

/// The service link variables of `services` for a pod of namespace `ns` (a service of `ns`
/// hides one of the same name in `default`). Headless services have none.
pub fn service_env(services: &[Service], ns: &str) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for s in services {
        if s.spec.cluster_ip.is_empty() || s.spec.cluster_ip == "None" {
            continue;
        }
        if s.metadata.namespace == ns || !chosen.contains_key(s.metadata.name.as_str()) {
            chosen.insert(&s.metadata.name, s);
        }
    }
    let mut env = Vec::new();
    for (name, s) in chosen {
        let prefix = name.to_uppercase().replace('-', "_");
        let ip = &s.spec.cluster_ip;
        let Some(first) = s.spec.ports.first() else { continue };
        env.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        env.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for p in &s.spec.ports {
            if !p.name.is_empty() {
                env.push((format!("{prefix}_SERVICE_PORT_{}", p.name.to_uppercase().replace('-', "_")), p.port.to_string()));
            }
        }
        let proto = |p: &kube_api::core::ServicePort| if p.protocol.is_empty() { "tcp".to_string() } else { p.protocol.to_lowercase() };
        env.push((format!("{prefix}_PORT"), format!("{}://{ip}:{}", proto(first), first.port)));
        for p in &s.spec.ports {
            let (proto, port) = (proto(p), p.port);
            let var = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
            env.push((var.clone(), format!("{proto}://{ip}:{port}")));
            env.push((format!("{var}_PROTO"), proto));
            env.push((format!("{var}_PORT"), port.to_string()));
            env.push((format!("{var}_ADDR"), ip.clone()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .unwrap()
    }

    #[test]
    fn seed_001s_web_service_gives_docker_link_variables() {
        let services = [
            svc("default", "web", "10.0.0.57", serde_json::json!([{"port": 80, "protocol": "TCP"}])),
            svc("default", "kubernetes", "10.0.0.1", serde_json::json!([{"name": "https", "port": 443, "protocol": "TCP"}])),
            svc("default", "headless", "None", serde_json::json!([{"port": 80}])),
        ];
        let env: BTreeMap<_, _> = service_env(&services, "default").into_iter().collect();
        assert_eq!(env["WEB_SERVICE_HOST"], "10.0.0.57");
        assert_eq!(env["WEB_SERVICE_PORT"], "80");
        assert_eq!(env["WEB_PORT"], "tcp://10.0.0.57:80");
        assert_eq!(env["WEB_PORT_80_TCP"], "tcp://10.0.0.57:80");
        assert_eq!(env["WEB_PORT_80_TCP_PROTO"], "tcp");
        assert_eq!(env["WEB_PORT_80_TCP_PORT"], "80");
        assert_eq!(env["WEB_PORT_80_TCP_ADDR"], "10.0.0.57");
        assert_eq!(env["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert!(!env.keys().any(|k| k.starts_with("HEADLESS")));
    }

    #[test]
    fn a_service_of_the_pods_namespace_hides_the_default_one_of_the_same_name() {
        let services = [
            svc("default", "kubernetes", "10.0.0.1", serde_json::json!([{"port": 443}])),
            svc("team", "kubernetes", "10.0.0.9", serde_json::json!([{"port": 443}])),
        ];
        let env: BTreeMap<_, _> = service_env(&services, "team").into_iter().collect();
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.0.0.9");
    }
}
