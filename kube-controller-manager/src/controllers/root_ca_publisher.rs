//! The root CA publisher: every namespace has a ConfigMap `kube-root-ca.crt` holding the
//! cluster's CA certificate — upstream's `pkg/controller/certificates/rootcacertpublisher`.
//!
//! Pods read it through their service-account token volume (`ca.crt` next to `token` in
//! `/var/run/secrets/kubernetes.io/serviceaccount`), to check the apiserver's certificate.
//! The CA comes from `--root-ca-file`, or else from the kubeconfig's certificate authority.
//!
//! - **Observes**: Namespaces, ConfigMaps (a changed or deleted `kube-root-ca.crt`
//!   enqueues its namespace).
//! - **Key**: the namespace's name.
//! - **Desired**: an active namespace holds `kube-root-ca.crt` with exactly
//!   `data: {ca.crt: <the CA>}` and upstream's description annotation.
//! - **Actual**: the ConfigMap cache.
//! - **Does**: creates the ConfigMap, or puts back its data when someone changed it.
//! - **Status**: none.
//! - **Requeues**: on errors, with back-off.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::core::{ConfigMap, Namespace};
use kube_api::ObjectMeta;
use kube_client::{Action, Api, Change, Client, Controller, Store, WorkQueue};
use tracing::{info, warn};

use crate::ControllerContext;

/// The ConfigMap's name, the same in every namespace.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its one key.
pub const KEY: &str = "ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Ctx {
    namespaces: Store<Namespace>,
    config_maps: Store<ConfigMap>,
    client: Client,
    root_ca: String,
}

/// The `root-ca-cert-publisher` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let root_ca = match root_ca(cc) {
        Ok(Some(ca)) => ca,
        Ok(None) => {
            info!("root-ca-cert-publisher: no --root-ca-file and no certificate authority in the kubeconfig: nothing to publish");
            return Box::pin(async {});
        }
        Err(e) => {
            warn!("root-ca-cert-publisher disabled: {e}");
            return Box::pin(async {});
        }
    };
    let namespaces = cc.informer::<Namespace>();
    let config_maps = cc.informer::<ConfigMap>();
    let queue = WorkQueue::new();
    namespaces.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    config_maps.add_handler({
        let queue = queue.clone();
        move |change: &Change<ConfigMap>| {
            let cm = change.object();
            if cm.metadata.name == CONFIG_MAP {
                queue.add(cm.metadata.namespace.clone());
            }
        }
    });
    let ctx = Arc::new(Ctx { namespaces: namespaces.store(), config_maps: config_maps.store(), client: cc.client.clone(), root_ca });
    let controller =
        Controller::new("root-ca-cert-publisher", queue).workers(1).wait_for(namespaces.synced()).wait_for(config_maps.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// `--root-ca-file`, else the CA the kubeconfig trusts.
fn root_ca(cc: &ControllerContext) -> Result<Option<String>, String> {
    if let Some(path) = &cc.options.root_ca_file {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("reading --root-ca-file {}: {e}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("--root-ca-file {}: no PEM certificate in it", path.display()));
        }
        return Ok(Some(pem));
    }
    let config = cc.options.client.config().map_err(|e| e.to_string())?;
    Ok(config.tls.ca_pem.and_then(|pem| String::from_utf8(pem).ok()))
}

/// What the ConfigMap must hold.
fn desired_data(root_ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(KEY.to_string(), root_ca.to_string())])
}

async fn reconcile(ctx: Arc<Ctx>, namespace: String) -> Result<Action, kube_client::Error> {
    let Some(ns) = ctx.namespaces.get(&namespace) else { return Ok(Action::Done) };
    if ns.metadata.deletion_timestamp.is_some() || ns.status.phase == "Terminating" {
        return Ok(Action::Done);
    }
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace);
    let data = desired_data(&ctx.root_ca);
    match ctx.config_maps.get(&format!("{namespace}/{CONFIG_MAP}")) {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: CONFIG_MAP.into(),
                    annotations: BTreeMap::from([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())]),
                    ..ObjectMeta::default()
                },
                data,
                ..ConfigMap::default()
            };
            match api.create(&cm).await {
                Ok(_) => info!("published configmap {namespace}/{CONFIG_MAP}"),
                Err(e) if e.is_already_exists() || e.is_not_found() || e.to_string().contains("being terminated") => {}
                Err(e) => return Err(e),
            }
        }
        Some(cm) if cm.data != data || !cm.binary_data.is_empty() || cm.metadata.annotations.get(DESCRIPTION_ANNOTATION).map(String::as_str) != Some(DESCRIPTION) => {
            // Never modify the cached object: update a copy.
            let mut cm = (*cm).clone();
            cm.data = data;
            cm.binary_data.clear();
            cm.metadata.annotations.insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
            match api.replace(&cm).await {
                Ok(_) => info!("configmap {namespace}/{CONFIG_MAP} had other data: put the root CA back"),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Some(_) => {}
    }
    Ok(Action::Done)
}
