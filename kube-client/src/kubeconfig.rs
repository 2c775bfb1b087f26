//! The kubeconfig file format, as upstream writes it (`kubectl config set-cluster ...`).
//!
//! A kubeconfig names three kinds of things and ties them together:
//! - **clusters**: where an apiserver is (`server`) and how to trust it (a CA);
//! - **users**: how to prove who we are (a client certificate and key, or a token);
//! - **contexts**: a cluster + a user (+ a default namespace), one of which is the
//!   `current-context`.
//!
//! Keys are upstream's (dashed: `certificate-authority-data`, `current-context`). This module
//! only parses; [`crate::config`] picks a context and turns it into a [`Config`](crate::Config).

use serde::{Deserialize, Deserializer};

/// A whole kubeconfig file (`apiVersion: v1`, `kind: Config`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<NamedUser>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    /// The context used when `--context` is not given.
    #[serde(default, deserialize_with = "null_as_default")]
    pub current_context: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    #[serde(default)]
    pub cluster: Cluster,
}

/// Where an apiserver is and how to trust it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://127.0.0.1:6443`, `http://127.0.0.1:8080`.
    #[serde(default)]
    pub server: String,
    /// Path of a PEM file with the CA that signed the apiserver's certificate.
    pub certificate_authority: Option<String>,
    /// The same, embedded as base64 (`--embed-certs=true`).
    pub certificate_authority_data: Option<String>,
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// The name to check in the server's certificate, when it differs from the URL's host.
    pub tls_server_name: Option<String>,
    pub proxy_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct NamedUser {
    pub name: String,
    #[serde(default)]
    pub user: User,
}

/// Credentials (upstream's `AuthInfo`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    pub client_certificate: Option<String>,
    pub client_certificate_data: Option<String>,
    pub client_key: Option<String>,
    pub client_key_data: Option<String>,
    /// A bearer token, sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// A file holding the token (upstream spells this key in camelCase).
    #[serde(rename = "tokenFile")]
    pub token_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct NamedContext {
    pub name: String,
    #[serde(default)]
    pub context: Context,
}

/// A cluster, a user and a default namespace, under one name.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub user: String,
    pub namespace: Option<String>,
}

impl Kubeconfig {
    /// Parses the YAML (or JSON, which is YAML too) text of a kubeconfig.
    pub fn parse(text: &str) -> Result<Kubeconfig, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.cluster)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name).map(|u| &u.user)
    }
}

/// kubectl writes `users: null` and `current-context: ""` alike; both mean "nothing".
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
/// What seed 003's `kubectl config set-cluster/set-credentials/set-context/use-context`
/// with `--embed-certs=true` writes (certificates shortened).
pub(crate) const SEED_003_ADMIN_CONF: &str = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNBQT09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    server: https://127.0.0.1:6443
  name: demystifions-kubernetes
contexts:
- context:
    cluster: demystifions-kubernetes
    user: admin
  name: admin
current-context: admin
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNCQj09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFQUE9PQotLS0tLUVORCBSU0EgUFJJVkFURSBLRVktLS0tLQo=
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubeconfig_seed_003_builds() {
        let kc = Kubeconfig::parse(SEED_003_ADMIN_CONF).unwrap();
        assert_eq!(kc.current_context, "admin");
        let ctx = kc.context("admin").unwrap();
        assert_eq!(
            (ctx.cluster.as_str(), ctx.user.as_str()),
            ("demystifions-kubernetes", "admin")
        );
        let cluster = kc.cluster("demystifions-kubernetes").unwrap();
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert!(cluster.certificate_authority_data.is_some());
        let user = kc.user("admin").unwrap();
        assert!(user.client_certificate_data.is_some() && user.client_key_data.is_some());
    }

    #[test]
    fn an_empty_kubeconfig_is_not_an_error() {
        let kc = Kubeconfig::parse("apiVersion: v1\nkind: Config\nclusters: null\nusers: null\ncontexts: null\ncurrent-context: \"\"\n").unwrap();
        assert!(kc.clusters.is_empty() && kc.current_context.is_empty());
    }
}
