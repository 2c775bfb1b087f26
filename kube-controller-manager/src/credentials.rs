//! `--use-service-account-credentials`: each controller talks to the apiserver as its own
//! service account, `system:serviceaccount:kube-system:<name>`, so that RBAC can give each
//! loop only what it needs (the `system:controller:<name>` roles) — upstream's
//! `SAControllerClientBuilder`.
//!
//! For each controller, with the manager's own identity (the kubeconfig's):
//! 1. make sure the ServiceAccount `kube-system/<name>` exists (create it if missing);
//! 2. ask for a token (`POST .../serviceaccounts/<name>/token`, a TokenRequest);
//! 3. build a client that sends `Authorization: Bearer <token>`.
//!
//! The shared informers keep reading with the manager's identity (as upstream's do); only
//! the controller's own client changes. The token is asked for with a long lifetime
//! ([`TOKEN_SECONDS`], or less if the apiserver caps it): kube-client has no refreshing
//! credentials yet, where upstream refreshes a one-hour token before it expires.

use kube_api::core::ServiceAccount;
use kube_api::ObjectMeta;
use kube_client::config::Auth;
use kube_client::{Api, Client, Config};
use serde_json::{json, Value};
use tracing::info;

/// The namespace of the controllers' service accounts.
pub const NAMESPACE: &str = "kube-system";
/// The lifetime asked for (one year).
pub const TOKEN_SECONDS: i64 = 365 * 24 * 3600;

/// A client for the controller whose service account is `name`, built from the manager's
/// `root` client and `config`.
pub async fn controller_client(root: &Client, config: &Config, name: &str) -> Result<Client, kube_client::Error> {
    let accounts = Api::<ServiceAccount>::namespaced(root.clone(), NAMESPACE);
    if accounts.get_opt(name).await?.is_none() {
        let sa = ServiceAccount { metadata: ObjectMeta { name: name.into(), ..ObjectMeta::default() }, ..ServiceAccount::default() };
        match accounts.create(&sa).await {
            Ok(_) => info!("created serviceaccount {NAMESPACE}/{name}"),
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS},
    });
    let answer: Value = accounts.create_subresource("token", name, &request).await?;
    let token = answer.pointer("/status/token").and_then(Value::as_str).unwrap_or_default();
    let expires = answer.pointer("/status/expirationTimestamp").and_then(Value::as_str).unwrap_or("?");
    info!("using the credentials of serviceaccount {NAMESPACE}/{name} (token valid until {expires})");
    let mut config = config.clone();
    config.auth = Auth::Bearer(token.to_string());
    Client::new(config)
}
