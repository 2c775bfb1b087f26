//! A pod's sandbox as CRI wants it (upstream's `generatePodSandboxConfig`): metadata,
//! hostname, DNS, port mappings, log directory, labels and namespaces.
//!
//! The sandbox is the pod's shared context: containerd starts the pause image in a new
//! network namespace (CNI gives it the pod IP) and every container joins it.

use std::collections::HashMap;
use std::path::Path;

use kube_api::core::Pod;

use crate::cri::api;
use crate::labels;

/// What the sandbox config needs besides the pod.
pub struct SandboxContext<'a> {
    pub pod_logs_dir: &'a Path,
    pub cluster_dns: &'a [String],
    pub cluster_domain: &'a str,
    /// The node's resolv.conf, for `dnsPolicy: Default` (and ClusterFirst without cluster DNS).
    pub host_resolv_conf: &'a str,
}

/// `/var/log/pods/NAMESPACE_NAME_UID`, where containerd writes the container logs.
pub fn log_directory(pod_logs_dir: &Path, pod: &Pod) -> std::path::PathBuf {
    let m = &pod.metadata;
    pod_logs_dir.join(format!("{}_{}_{}", m.namespace, m.name, m.uid))
}

/// The labels that find a pod's sandboxes and containers again.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let m = &pod.metadata;
    HashMap::from([
        (labels::POD_NAME.to_string(), m.name.clone()),
        (labels::POD_NAMESPACE.to_string(), m.namespace.clone()),
        (labels::POD_UID.to_string(), m.uid.clone()),
    ])
}

pub fn config(pod: &Pod, attempt: u32, ctx: &SandboxContext) -> api::PodSandboxConfig {
    let m = &pod.metadata;
    let mut sandbox_labels: HashMap<String, String> = m.labels.clone().into_iter().collect();
    sandbox_labels.extend(pod_labels(pod));
    let host_network = pod.spec.host_network == Some(true);
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: m.name.clone(),
            uid: m.uid.clone(),
            namespace: m.namespace.clone(),
            attempt,
        }),
        // A host-network pod keeps the node's hostname (upstream leaves it empty).
        hostname: if host_network { String::new() } else { hostname(pod) },
        log_directory: log_directory(ctx.pod_logs_dir, pod).display().to_string(),
        dns_config: Some(dns_config(pod, ctx)),
        port_mappings: port_mappings(pod),
        labels: sandbox_labels,
        annotations: m.annotations.clone().into_iter().collect(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: crate::resources::pod_cgroup(pod),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(pod)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        windows: None,
    }
}

/// The namespaces a pod's containers share: network and IPC per pod (or the node's with
/// `hostNetwork`), PID per container unless `shareProcessNamespace`.
pub fn namespace_options(pod: &Pod) -> api::NamespaceOption {
    let mode = |node: Option<bool>, otherwise: api::NamespaceMode| {
        if node == Some(true) { api::NamespaceMode::Node as i32 } else { otherwise as i32 }
    };
    let pid = if pod.spec.share_process_namespace == Some(true) { api::NamespaceMode::Pod } else { api::NamespaceMode::Container };
    api::NamespaceOption {
        network: mode(pod.spec.host_network, api::NamespaceMode::Pod),
        pid: mode(pod.spec.host_pid, pid),
        ipc: mode(pod.spec.host_ipc, api::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The pod's `/etc/hosts` (upstream's `managedHostsFileContent`): localhost, the pod's own
/// address and hostname, then `spec.hostAliases`.
pub fn etc_hosts(pod: &Pod, pod_ip: &str, cluster_domain: &str) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if !pod_ip.is_empty() {
        let name = hostname(pod);
        if pod.spec.subdomain.is_empty() {
            out.push_str(&format!("{pod_ip}\t{name}\n"));
        } else {
            let ns = &pod.metadata.namespace;
            out.push_str(&format!("{pod_ip}\t{name}.{}.{ns}.svc.{cluster_domain}\t{name}\n", pod.spec.subdomain));
        }
    }
    let aliases = pod.spec.host_aliases.as_ref().and_then(|a| a.as_array().cloned()).unwrap_or_default();
    for alias in aliases {
        let names: Vec<&str> = alias["hostnames"].as_array().map(|h| h.iter().filter_map(|n| n.as_str()).collect()).unwrap_or_default();
        if let (Some(ip), false) = (alias["ip"].as_str(), names.is_empty()) {
            out.push_str(&format!("\n# Entries added by HostAliases.\n{ip}\t{}\n", names.join("\t")));
        }
    }
    out
}

/// `spec.hostname` or the pod's name, cut to a DNS label's 63 characters.
pub fn hostname(pod: &Pod) -> String {
    let name = if pod.spec.hostname.is_empty() { &pod.metadata.name } else { &pod.spec.hostname };
    name.chars().take(63).collect::<String>().trim_end_matches(['-', '.']).to_string()
}

/// Every container port with a `hostPort` (portmap DNATs them).
fn port_mappings(pod: &Pod) -> Vec<api::PortMapping> {
    let mut out = Vec::new();
    for c in pod.spec.all_containers() {
        for p in &c.ports {
            let Some(host_port) = p.host_port.filter(|h| *h > 0) else { continue };
            let protocol = match p.protocol.as_str() {
                "UDP" => api::Protocol::Udp,
                "SCTP" => api::Protocol::Sctp,
                _ => api::Protocol::Tcp,
            };
            out.push(api::PortMapping {
                protocol: protocol as i32,
                container_port: p.container_port,
                host_port,
                host_ip: p.host_ip.clone(),
            });
        }
    }
    out
}

/// Upstream's DNS rules: `ClusterFirst` uses `--cluster-dns` with the cluster search path
/// (falling back to the node's resolv.conf when no cluster DNS is configured, as upstream
/// does), `Default` the node's resolv.conf, `None` only `spec.dnsConfig`, which is appended
/// in every case.
pub fn dns_config(pod: &Pod, ctx: &SandboxContext) -> api::DnsConfig {
    let mut dns = api::DnsConfig::default();
    let ns = &pod.metadata.namespace;
    let d = ctx.cluster_domain;
    match pod.spec.dns_policy.as_str() {
        "None" => {}
        "ClusterFirst" | "ClusterFirstWithHostNet" | "" if !ctx.cluster_dns.is_empty() => {
            dns.servers = ctx.cluster_dns.to_vec();
            dns.searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.to_string()];
            dns.options = vec!["ndots:5".into()];
        }
        _ => {
            for line in ctx.host_resolv_conf.lines() {
                let mut words = line.split_whitespace();
                match words.next() {
                    Some("nameserver") => dns.servers.extend(words.map(String::from)),
                    Some("search") => dns.searches.extend(words.map(String::from)),
                    Some("options") => dns.options.extend(words.map(String::from)),
                    _ => {}
                }
            }
        }
    }
    if let Some(extra) = &pod.spec.dns_config {
        dns.servers.extend(extra.nameservers.iter().cloned());
        dns.searches.extend(extra.searches.iter().cloned());
        for o in &extra.options {
            dns.options.push(match &o.value {
                Some(v) => format!("{}:{v}", o.name),
                None => o.name.clone(),
            });
        }
    }
    dns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_and_search_path() {
        let p = pod(serde_json::json!({"metadata": {"namespace": "web"}, "spec": {"dnsPolicy": "ClusterFirst"}}));
        let dns = ["10.0.0.10".to_string()];
        let ctx = SandboxContext { pod_logs_dir: Path::new("/l"), cluster_dns: &dns, cluster_domain: "cluster.local", host_resolv_conf: "" };
        let d = dns_config(&p, &ctx);
        assert_eq!(d.servers, ["10.0.0.10"]);
        assert_eq!(d.searches, ["web.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
        assert_eq!(d.options, ["ndots:5"]);
    }

    #[test]
    fn without_cluster_dns_the_nodes_resolv_conf_is_used() {
        let p = pod(serde_json::json!({"spec": {"dnsPolicy": "ClusterFirst"}}));
        let ctx = SandboxContext {
            pod_logs_dir: Path::new("/l"),
            cluster_dns: &[],
            cluster_domain: "cluster.local",
            host_resolv_conf: "# x\nnameserver 1.1.1.1\nsearch example.org\n",
        };
        let d = dns_config(&p, &ctx);
        assert_eq!((d.servers, d.searches), (vec!["1.1.1.1".to_string()], vec!["example.org".to_string()]));
    }

    #[test]
    fn only_host_ports_become_port_mappings() {
        let p = pod(serde_json::json!({"spec": {"containers": [{"name": "a", "ports": [
            {"containerPort": 80}, {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]}]}}));
        let m = port_mappings(&p);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].container_port, m[0].host_port, m[0].protocol), (53, 5353, api::Protocol::Udp as i32));
    }
}
