//! The apiserver's flags, named and defaulted as upstream's, so that the seeds' command
//! lines work as written:
//!
//! ```text
//! kube-apiserver --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.0.0.0/16
//! ```

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

/// kube-apiserver: validates and stores API objects in etcd, and serves them over REST
/// with list and watch. Every other component talks only to it.
#[derive(Parser, Debug, Clone)]
#[command(name = "kube-apiserver", version = crate::discovery::GIT_VERSION)]
pub struct Config {
    /// List of etcd servers to connect with (scheme://ip:port), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,

    /// The prefix to prepend to all resource paths in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,

    /// The interval of compaction requests. If 0, the compaction request from apiserver is
    /// disabled.
    #[arg(long, default_value = "5m0s", value_parser = crate::compaction::parse_duration)]
    pub etcd_compaction_interval: std::time::Duration,

    /// A CIDR notation IP range from which to assign service cluster IPs. This must not
    /// overlap with any IP ranges assigned to nodes or pods.
    #[arg(long)]
    pub service_cluster_ip_range: Option<String>,

    /// A port range to reserve for services with NodePort visibility. Example: '30000-32767'.
    /// Inclusive at both ends of the range.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,

    /// The IP address on which to serve the insecure (plain HTTP) port.
    #[arg(long, default_value = "127.0.0.1")]
    pub insecure_bind_address: IpAddr,

    /// The port on which to serve unsecured, unauthenticated access (0 disables it). Default
    /// 8080, and off when --tls-cert-file is given unless this flag is set explicitly.
    #[arg(long)]
    pub insecure_port: Option<u16>,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The port on which to serve HTTPS with authentication and authorization (served when
    /// --tls-cert-file and --tls-private-key-file are given).
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,

    /// The IP address on which to advertise the apiserver to members of the cluster (the
    /// `kubernetes` Endpoints). Defaults to the insecure bind address.
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,

    /// File containing the default x509 Certificate for HTTPS (CA cert, if any,
    /// concatenated after server cert).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// If set, any request presenting a client certificate signed by one of the authorities
    /// in the client-ca-file is authenticated with an identity corresponding to the
    /// CommonName of the client certificate (and its Organizations as groups).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// If set, the file that will be used to secure the secure port of the API server via
    /// token authentication (CSV: token,user,uid,"group1,group2").
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Enables anonymous requests to the secure port of the API server. Requests that are
    /// not rejected by another authentication method are treated as anonymous requests
    /// (user system:anonymous, group system:unauthenticated).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub anonymous_auth: bool,

    /// SSL Certificate Authority file used to secure etcd communication.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// SSL certification file used to secure etcd communication.
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    /// SSL key file used to secure etcd communication.
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,

    /// Path to a client cert file for TLS (the apiserver's identity towards kubelets).
    #[arg(long)]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS.
    #[arg(long)]
    pub kubelet_client_key: Option<PathBuf>,
    /// Path to a cert file for the certificate authority (that signed the kubelets' serving
    /// certificates). Without it, kubelet serving certificates are not verified, as upstream.
    #[arg(long)]
    pub kubelet_certificate_authority: Option<PathBuf>,

    /// If true, allow privileged containers.
    #[arg(long, default_value_t = false)]
    pub allow_privileged: bool,
    /// Ordered list of plug-ins to do authorization on secure port. Comma-delimited list of:
    /// AlwaysAllow,AlwaysDeny,RBAC,Node. (Users in system:masters, such as the insecure
    /// port's, are always allowed.)
    #[arg(long, default_value = "AlwaysAllow")]
    pub authorization_mode: String,
    /// File containing PEM-encoded x509 RSA or ECDSA private or public keys (or
    /// certificates), used to verify ServiceAccount tokens. May be given several times.
    /// Defaults to --service-account-signing-key-file.
    #[arg(long)]
    pub service_account_key_file: Vec<std::path::PathBuf>,
    /// Path to the file that contains the current private key of the service account
    /// token issuer (RSA or ECDSA P-256; PKCS#1, SEC1 or PKCS#8). The issuer signs issued
    /// ID tokens with this key. Without it, no token is issued and the ServiceAccount
    /// admission plugin leaves pods alone.
    #[arg(long)]
    pub service_account_signing_key_file: Option<std::path::PathBuf>,
    /// Identifier of the service account token issuer: the `iss` claim of issued tokens.
    /// May be given several times: the first signs, all are accepted.
    #[arg(long)]
    pub service_account_issuer: Vec<String>,
    /// The maximum validity duration of a token created by the service account token
    /// issuer (e.g. `24h`). A TokenRequest asking for longer gets this. Must be at least 1h.
    #[arg(long, value_parser = crate::compaction::parse_duration)]
    pub service_account_max_token_expiration: Option<std::time::Duration>,
    /// Turns on projected service account expiration extension during token generation:
    /// the 3607-second tokens admission asks for are issued for a year, with a warning
    /// time, so that a kubelet that fails to refresh them does not break the pod.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub service_account_extend_token_expiration: bool,
    /// Identifiers of the API. The service account token authenticator will validate that
    /// tokens used against the API are bound to at least one of these audiences. Defaults
    /// to the first --service-account-issuer.
    #[arg(long, value_delimiter = ',')]
    pub api_audiences: Vec<String>,

    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info", env = "RUST_LOG")]
    pub log_level: String,
}

/// Upstream's default when `--service-cluster-ip-range` is not given.
pub const DEFAULT_SERVICE_RANGE: &str = "10.0.0.0/24";

/// The insecure port when `--insecure-port` is not given and TLS is not configured.
pub const DEFAULT_INSECURE_PORT: u16 = 8080;

impl Config {
    /// Whether the secure port is served (`--tls-cert-file` given).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert_file.is_some()
    }

    /// The insecure port, 0 when off: `--insecure-port` if given, else 8080 without TLS and
    /// off with TLS (seed 003's command line has TLS and no insecure port).
    pub fn effective_insecure_port(&self) -> u16 {
        match self.insecure_port {
            Some(p) => p,
            None if self.serves_tls() => 0,
            None => DEFAULT_INSECURE_PORT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insecure_port_is_off_with_tls_unless_asked_for() {
        let parse = |args: &[&str]| Config::try_parse_from([&["kube-apiserver"], args].concat()).unwrap();
        assert_eq!(parse(&[]).effective_insecure_port(), 8080);
        assert_eq!(parse(&["--tls-cert-file=a.pem"]).effective_insecure_port(), 0);
        assert_eq!(parse(&["--tls-cert-file=a.pem", "--insecure-port=8081"]).effective_insecure_port(), 8081);
        assert!(parse(&[]).anonymous_auth);
        assert!(!parse(&["--anonymous-auth=false"]).anonymous_auth);
    }
}
