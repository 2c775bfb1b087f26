//! Writing a kubeconfig with embedded certificates: what seed 003's
//! `kubectl config set-cluster ... --embed-certs=true`, `set-credentials`, `set-context` and
//! `use-context` produce, in one step.

use base64::Engine;

/// One cluster, one user, one context named after the user, which is current.
pub struct Kubeconfig<'a> {
    pub cluster_name: &'a str,
    /// `https://127.0.0.1:6443`.
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub user: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
}

impl Kubeconfig<'_> {
    /// The YAML text, in kubectl's key order.
    pub fn to_yaml(&self) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\n\
             contexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {user}\ncurrent-context: {user}\nkind: Config\n\
             preferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
            ca = b64(self.ca_pem),
            server = self.server,
            cluster = quote(self.cluster_name),
            user = quote(self.user),
            cert = b64(self.client_cert_pem),
            key = b64(self.client_key_pem),
        )
    }
}

/// User names such as `system:node:n1` contain `:`, which YAML reads fine in a plain scalar
/// only when not followed by a space; quote anyway, as kubectl does for such names.
fn quote(s: &str) -> String {
    if s.contains(':') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}
