//! The flags of kube-controller-manager, with upstream's names and defaults. Their doc
//! comments are the `--help` text.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kube_client::leader_election::parse_duration;
use kube_client::{ClientArgs, LeaderElectionArgs};

/// kube-controller-manager: the daemon that embeds the core control loops of Kubernetes.
/// Each loop watches the shared state of the cluster through the apiserver and makes
/// changes attempting to move the current state towards the desired state.
#[derive(Parser, Clone, Debug)]
#[command(name = "kube-controller-manager", version)]
pub struct Options {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub leader_election: LeaderElectionArgs,

    /// A list of controllers to enable. '*' enables all on-by-default controllers, 'foo'
    /// enables the controller named 'foo', '-foo' disables the controller named 'foo'.
    /// Known controllers: daemonset, deployment, endpoint, garbagecollector, job,
    /// namespace, nodeipam, nodelifecycle, replicaset, replicationcontroller,
    /// root-ca-cert-publisher, serviceaccount, statefulset.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,

    /// The number of deployment objects that are allowed to sync concurrently. Larger
    /// number = more responsive deployments, but more CPU (and network) load.
    #[arg(long, default_value_t = 5)]
    pub concurrent_deployment_syncs: usize,
    /// The number of replica sets that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_replicaset_syncs: usize,
    /// The number of replication controllers that are allowed to sync concurrently.
    #[arg(long = "concurrent-rc-syncs", default_value_t = 5)]
    pub concurrent_rc_syncs: usize,
    /// The number of endpoint syncing operations that will be done concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_endpoint_syncs: usize,
    /// The number of garbage collector workers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 20)]
    pub concurrent_gc_syncs: usize,
    /// The number of namespace objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 10)]
    pub concurrent_namespace_syncs: usize,

    /// Should CIDRs for Pods be allocated and set on the cloud provider.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allocate_node_cidrs: bool,
    /// CIDR Range for Pods in cluster. Requires --allocate-node-cidrs to be true.
    #[arg(long, default_value = "")]
    pub cluster_cidr: String,
    /// Mask size for node cidr in cluster. Default is 24 for IPv4.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,

    /// Amount of time which we allow running Node to be unresponsive before marking it
    /// unhealthy.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,
    /// The period for syncing NodeStatus in cloud-node-lifecycle-controller.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: Duration,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The port on which to serve /healthz and /metrics (plain HTTP for now; TLS comes
    /// with the TLS issue). 0 disables serving.
    #[arg(long, default_value_t = 10257)]
    pub secure_port: u16,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue
    /// cluster-scoped certificates (accepted; used once the CSR signer exists).
    #[arg(long)]
    pub cluster_signing_cert_file: Option<PathBuf>,
    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign
    /// cluster-scoped certificates (accepted; used once the CSR signer exists).
    #[arg(long)]
    pub cluster_signing_key_file: Option<PathBuf>,
    /// Filename containing a PEM-encoded private RSA or ECDSA key used to sign service
    /// account tokens (accepted; used once the token controller exists).
    #[arg(long)]
    pub service_account_private_key_file: Option<PathBuf>,
    /// If true, use individual service account credentials for each controller: each runs
    /// as `kube-system/<controller>-controller`, with a token the manager asks for.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub use_service_account_credentials: bool,
    /// If set, this root certificate authority will be included in service account's
    /// token secret, and published in every namespace as the ConfigMap `kube-root-ca.crt`
    /// (default: the kubeconfig's certificate authority).
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,

    /// Log filter (RUST_LOG syntax), e.g. `info` or `kube_controller_manager=debug`.
    #[arg(long = "log-level", default_value = "info", env = "RUST_LOG")]
    pub log_level: String,
}

impl Options {
    /// Options as if the binary was started with `args` (tests use this).
    pub fn from_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Options::try_parse_from(std::iter::once("kube-controller-manager".into()).chain(args.into_iter().map(Into::into)))
    }
}

/// Upstream's `IsControllerEnabled`: an explicit `name` or `-name` wins; otherwise `*`
/// enables the controllers that are on by default.
pub fn is_enabled(name: &str, on_by_default: bool, controllers: &[String]) -> bool {
    let mut star = false;
    for c in controllers {
        let c = c.trim();
        if c == name {
            return true;
        }
        if c.strip_prefix('-') == Some(name) {
            return false;
        }
        if c == "*" {
            star = true;
        }
    }
    star && on_by_default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_flag_follows_upstream_rules() {
        let list = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert!(is_enabled("deployment", true, &list("*")));
        assert!(!is_enabled("deployment", true, &list("*,-deployment")));
        assert!(!is_enabled("deployment", true, &list("-deployment,*")));
        assert!(is_enabled("deployment", true, &list("deployment")));
        assert!(!is_enabled("replicaset", true, &list("deployment")));
        assert!(!is_enabled("nodeipam", false, &list("*")));
        assert!(is_enabled("nodeipam", false, &list("*,nodeipam")));
    }

    #[test]
    fn seed_003_command_line_is_accepted_with_upstream_defaults() {
        let o = Options::from_args([
            "--kubeconfig", "admin.conf",
            "--cluster-signing-cert-file=certs/ca.pem",
            "--cluster-signing-key-file=certs/ca-key.pem",
            "--service-account-private-key-file=certs/admin-key.pem",
            "--use-service-account-credentials",
            "--root-ca-file=certs/ca.pem",
        ])
        .unwrap();
        assert!(o.use_service_account_credentials);
        assert_eq!(o.secure_port, 10257);
        assert_eq!(o.node_cidr_mask_size, 24);
        assert_eq!(o.node_monitor_grace_period, Duration::from_secs(40));
        assert_eq!(o.node_monitor_period, Duration::from_secs(5));
        assert_eq!(o.concurrent_deployment_syncs, 5);
        assert_eq!(o.controllers, ["*"]);
    }
}
