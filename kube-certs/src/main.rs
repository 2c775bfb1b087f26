//! kube-certs — makes the certificates and kubeconfigs of a cluster (what seed 003 does by
//! hand with cfssl and `kubectl config`), idempotently: files that exist are kept unless
//! `--force`.
//!
//! Run with: `kube-certs --cert-dir certs --kubeconfig-dir . --node $(hostname)`

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Parser;
use kube_certs::cluster::{first_service_ip, Outcome, Plan};

/// kube-certs: generates a CA (ca.pem, ca-key.pem), seed 003's admin certificate
/// (admin.pem: CN=admin, O=system:masters), one certificate per component, a kubelet
/// certificate per --node, the service-account key pair (sa.key, sa.pub), and a kubeconfig
/// per client with embedded certificates. Keys are ECDSA P-256.
#[derive(Parser, Debug)]
#[command(name = "kube-certs", version)]
struct Args {
    /// Directory for certificates and keys.
    #[arg(long, default_value = "certs")]
    cert_dir: PathBuf,
    /// Directory for the kubeconfig files (admin.conf, kube-scheduler.conf, ...).
    #[arg(long, default_value = ".")]
    kubeconfig_dir: PathBuf,
    /// The apiserver URL written in the kubeconfigs.
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    server: String,
    /// The cluster's name in the kubeconfigs.
    #[arg(long, default_value = "kubernetes")]
    cluster_name: String,
    /// The apiserver's --service-cluster-ip-range: its first address (the `kubernetes`
    /// Service) goes in the apiserver's certificate.
    #[arg(long, default_value = "10.0.0.0/24")]
    service_cluster_ip_range: String,
    /// More DNS names or IP addresses for the apiserver's certificate (repeat or comma-separate).
    /// The host name of this machine is always added.
    #[arg(long = "apiserver-san", value_delimiter = ',')]
    apiserver_sans: Vec<String>,
    /// A node to make a kubelet certificate and kubeconfig for: NAME or NAME=ADDR[,ADDR...]
    /// (its addresses go in the kubelet's serving names). Repeat for several nodes.
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Regenerate every file, even those that exist (a new CA invalidates all the others).
    #[arg(long)]
    force: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("kube-certs: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let service_ip: Ipv4Addr = first_service_ip(&args.service_cluster_ip_range)
        .ok_or_else(|| anyhow::anyhow!("--service-cluster-ip-range={}: expected an IPv4 CIDR", args.service_cluster_ip_range))?;
    let mut apiserver_sans = args.apiserver_sans.clone();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            apiserver_sans.push(host.to_string());
        }
    }
    let nodes = args
        .nodes
        .iter()
        .map(|n| match n.split_once('=') {
            Some((name, addrs)) => (name.to_string(), addrs.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect()),
            None => (n.clone(), Vec::new()),
        })
        .collect::<Vec<_>>();
    if let Some((bad, _)) = nodes.iter().find(|(n, _)| n.is_empty() || !n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')) {
        anyhow::bail!("--node {bad:?}: a node name is a DNS-1123 subdomain (lower case letters, digits, '-', '.')");
    }
    let plan = Plan {
        cert_dir: args.cert_dir,
        kubeconfig_dir: args.kubeconfig_dir,
        server: args.server,
        cluster_name: args.cluster_name,
        service_ip,
        apiserver_sans,
        nodes,
        force: args.force,
    };
    // `kube-certs | head` closes our stdout early: not a reason to panic.
    let mut out = std::io::stdout().lock();
    for outcome in plan.run()? {
        let _ = match outcome {
            Outcome::Written(p) => writeln!(out, "wrote {}", p.display()),
            Outcome::Kept(p) => writeln!(out, "kept {} (exists; --force to regenerate)", p.display()),
        };
    }
    Ok(())
}
