//! kube-proxy — the network proxy (upstream `cmd/kube-proxy`), in iptables mode.
//!
//! Seed 003 runs it as `sudo ./kube-proxy --kubeconfig admin.conf`. Flags keep upstream's
//! names and defaults; `--proxy-mode` accepts only `iptables`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use kube_api::duration::parse as parse_duration;

/// The Kubernetes network proxy: programs Services as iptables rules on this node.
#[derive(Parser, Debug)]
#[command(name = "kube-proxy", version)]
struct Args {
    #[command(flatten)]
    client: kube_client::ClientArgs,
    /// If non-empty, will be used as the name of the Node that kube-proxy is running on.
    #[arg(long)]
    hostname_override: Option<String>,
    /// Which proxy mode to use: only 'iptables' is implemented (the default).
    #[arg(long, default_value = "iptables")]
    proxy_mode: String,
    /// The CIDR range of the pods in the cluster. Traffic to a Service from outside it is masqueraded.
    #[arg(long)]
    cluster_cidr: Option<String>,
    /// SNAT all traffic sent via Service cluster IPs.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    masquerade_all: bool,
    /// An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    iptables_sync_period: Duration,
    /// The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m').
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    iptables_min_sync_period: Duration,
    /// If true, kube-proxy will allow NodePort services to be accessed via localhost (sets route_localnet=1).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    iptables_localhost_nodeports: bool,
    /// A list of CIDR ranges that contain valid node IPs; NodePorts answer only there. Empty: all local addresses.
    #[arg(long, value_delimiter = ',')]
    nodeport_addresses: Vec<String>,
    /// The IP address and port for the health check server to serve on; empty to disable.
    #[arg(long, default_value = "0.0.0.0:10256")]
    healthz_bind_address: String,
    /// The IP address and port for the metrics server to serve on; empty to disable.
    #[arg(long, default_value = "127.0.0.1:10249")]
    metrics_bind_address: String,
    /// If true cleanup iptables rules and exit.
    #[arg(long, default_value_t = false)]
    cleanup: bool,
}


fn bind_address(flag: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).with_context(|| format!("--{flag}={value:?} is not an IP:port"))
}

fn rules_config(args: &Args, node_name: &str) -> kube_proxy::ProxyConfig {
    let loopback = args.nodeport_addresses.is_empty()
        || args.nodeport_addresses.iter().any(|c| kube_proxy::iptables::cidr_contains(c, "127.0.0.1"));
    kube_proxy::ProxyConfig {
        cluster_cidr: args.cluster_cidr.clone().filter(|c| !c.is_empty()),
        masquerade_all: args.masquerade_all,
        localhost_node_ports: args.iptables_localhost_nodeports && loopback,
        node_name: node_name.to_string(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    match args.proxy_mode.as_str() {
        "" | "iptables" => {}
        other => bail!("--proxy-mode={other:?} is not implemented: this kube-proxy only knows \"iptables\""),
    }
    let hostname = args.hostname_override.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
    });
    let hostname = hostname.to_lowercase();
    let rules = rules_config(&args, &hostname);
    if args.cleanup {
        kube_proxy::cleanup(&rules).await?;
        return Ok(());
    }
    let config = kube_proxy::Config {
        client: args.client.config()?,
        hostname,
        proxier: kube_proxy::ProxierOptions {
            rules,
            node_port_cidrs: args.nodeport_addresses.clone(),
            sync_period: args.iptables_sync_period,
            min_sync_period: args.iptables_min_sync_period,
        },
        healthz_bind_address: bind_address("healthz-bind-address", &args.healthz_bind_address)?,
        metrics_bind_address: bind_address("metrics-bind-address", &args.metrics_bind_address)?,
    };
    kube_proxy::run(config, kube_proxy::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_have_upstreams_defaults() {
        let args = Args::parse_from(["kube-proxy"]);
        assert_eq!(args.iptables_sync_period, Duration::from_secs(30));
        assert_eq!(args.iptables_min_sync_period, Duration::from_secs(1));
        assert_eq!(args.healthz_bind_address, "0.0.0.0:10256");
        assert_eq!(args.metrics_bind_address, "127.0.0.1:10249");
        assert!(rules_config(&args, "node-1").localhost_node_ports);
        let args = Args::parse_from(["kube-proxy", "--nodeport-addresses=192.0.2.0/24", "--masquerade-all"]);
        assert!(!rules_config(&args, "node-1").localhost_node_ports, "no loopback in the NodePort addresses");
        assert!(rules_config(&args, "node-1").masquerade_all);
    }
}
