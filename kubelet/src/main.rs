//! kubelet — the node agent (upstream `cmd/kubelet`).
//!
//! Standalone, as in seed 000: `kubelet --pod-manifest-path DIR --container-runtime-endpoint
//! unix:///run/containerd/containerd.sock` runs the pods described by the files in DIR.
//! With `--api-servers=127.0.0.1:8080` (seed 000) or `--kubeconfig` (seed 003) it also
//! registers its Node and runs the pods the apiserver binds to it (API mode).
//! Flags keep upstream's names and defaults; those marked "accepted" are parsed and
//! documented but not used yet.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kube_api::duration::parse as parse_duration;

/// The Kubernetes node agent: runs pods on a CRI container runtime.
#[derive(Parser, Debug)]
#[command(name = "kubelet", version)]
struct Args {
    /// Directory of static pod manifests (YAML or JSON, one Pod per file), re-read every second.
    #[arg(long, alias = "config")]
    pod_manifest_path: Option<PathBuf>,
    /// The CRI endpoint: unix:///path/to/socket or /path/to/socket.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    container_runtime_endpoint: String,
    /// Path to a kubeconfig for the apiserver: with it (or --api-servers) the kubelet runs in API mode.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The apiserver address, seed 000's old flag (`127.0.0.1:8080` means plain HTTP); overrides the kubeconfig's server.
    #[arg(long)]
    api_servers: Option<String>,
    /// Register the node with the apiserver.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    register_node: bool,
    /// The node's name instead of the machine's hostname.
    #[arg(long)]
    hostname_override: Option<String>,
    /// The node's IP address (reported as the pods' hostIP).
    #[arg(long, default_value = "")]
    node_ip: String,
    /// Labels to add when registering the node, key=value,...
    #[arg(long, default_value = "")]
    node_labels: String,
    /// Taints to register the node with, key=value:Effect,...
    #[arg(long, default_value = "")]
    register_with_taints: String,
    /// The CIDR pods of this node get their IPs from; the kubelet writes the CNI config for it.
    #[arg(long)]
    pod_cidr: Option<String>,
    /// Maximum number of pods on this node (the node's `pods` capacity).
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Directory for the kubelet's files (pods, volumes).
    #[arg(long, default_value = "/var/lib/kubelet")]
    root_dir: PathBuf,
    /// Directory where containerd writes container logs (upstream's podLogsDir).
    #[arg(long, default_value = "/var/log/pods")]
    pod_logs_dir: PathBuf,
    /// The IP address the kubelet server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    address: String,
    /// Port of the kubelet server (/healthz, /pods, /containerLogs, /metrics), published in the
    /// Node's daemonEndpoints; 0 disables it.
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// Port of the healthz endpoint on 127.0.0.1; 0 disables it.
    #[arg(long, default_value_t = 10248)]
    healthz_port: u16,
    /// File containing x509 Certificate used for serving HTTPS on --port. If not given, a
    /// self-signed certificate and key are generated at start.
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// File containing x509 private key matching --tls-cert-file.
    #[arg(long)]
    tls_private_key_file: Option<PathBuf>,
    /// If set, any request presenting a client certificate signed by one of the authorities
    /// in the client-ca-file is authenticated; a certificate it did not sign gets 401.
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Fail when swap is on (accepted; this kubelet does not check).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fail_swap_on: bool,
    /// Where to write the CNI configuration; must be containerd's CNI conf_dir.
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// Cluster DNS server IPs, comma-separated, for pods with dnsPolicy ClusterFirst.
    #[arg(long, value_delimiter = ',')]
    cluster_dns: Vec<String>,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// How often node status is computed; it is posted when it changed, or every minute.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    node_status_update_frequency: Duration,
    /// Maximum time between full syncs (accepted: this kubelet compares every pod every second).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    sync_frequency: Duration,
    /// How often the manifest directory is checked (accepted: it is read every second).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    file_check_frequency: Duration,
}


fn node_name(args: &Args) -> String {
    let name = args.hostname_override.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
    });
    name.to_lowercase()
}

/// API mode's settings, when `--api-servers` or `--kubeconfig` is given.
fn api_config(args: &Args) -> anyhow::Result<Option<kubelet::api_mode::ApiConfig>> {
    if args.kubeconfig.is_none() && args.api_servers.is_none() {
        return Ok(None);
    }
    let client = kube_client::Config::load_from(
        &kube_client::LoadOptions { master: args.api_servers.clone(), kubeconfig: args.kubeconfig.clone(), context: None },
        args.kubeconfig.as_deref(),
    )?;
    Ok(Some(kubelet::api_mode::ApiConfig {
        client,
        register_node: args.register_node,
        node_labels: kubelet::node_status::parse_labels(&args.node_labels).map_err(anyhow::Error::msg)?,
        register_with_taints: kubelet::node_status::parse_taints(&args.register_with_taints).map_err(anyhow::Error::msg)?,
        max_pods: args.max_pods,
        port: args.port,
        node_status_update_frequency: args.node_status_update_frequency,
    }))
}


#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let api = api_config(&args)?;
    let config = kubelet::Config {
        node_name: node_name(&args),
        node_ip: args.node_ip.clone(),
        pod_manifest_path: args.pod_manifest_path.clone(),
        runtime_endpoint: args.container_runtime_endpoint.clone(),
        root_dir: args.root_dir.clone(),
        pod_logs_dir: args.pod_logs_dir.clone(),
        pod_cidr: args.pod_cidr.clone(),
        cni_conf_dir: args.cni_conf_dir.clone(),
        cluster_dns: args.cluster_dns.clone(),
        cluster_domain: args.cluster_domain.clone(),
        address: args.address.clone(),
        port: args.port,
        healthz_port: args.healthz_port,
        tls_cert_file: args.tls_cert_file.clone(),
        tls_private_key_file: args.tls_private_key_file.clone(),
        client_ca_file: args.client_ca_file.clone(),
        runtime_connect_timeout: Duration::from_secs(30),
        api,
    };
    tracing::info!("kubelet starting on node {:?}", config.node_name);
    kubelet::run(config, kube_client::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("10").is_err());
    }
}
