//! The namespace controller: a deleted namespace is emptied, then goes — upstream's
//! `pkg/controller/namespace`.
//!
//! `kubectl delete namespace demo` only marks it: the apiserver sets `deletionTimestamp`
//! and `status.phase: Terminating`, and keeps it while `spec.finalizers` holds
//! `kubernetes` (new objects are refused in a terminating namespace meanwhile).
//!
//! - **Observes**: Namespaces.
//! - **Key**: the namespace's name.
//! - **Desired**: a namespace being deleted holds nothing, and is gone.
//! - **Actual**: what a list of each namespaced resource of the registry finds in it.
//! - **Does**: deletes everything it finds (Background propagation); once every list
//!   comes back empty, removes `kubernetes` from `spec.finalizers` with
//!   `PUT /api/v1/namespaces/{name}/finalize`, and the apiserver deletes the namespace.
//! - **Status**: none beyond what the apiserver sets (`Terminating`).
//! - **Requeues**: every 2 s while content remains (pods may take their grace period to
//!   go); on errors with back-off.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube_api::core::Namespace;
use kube_api::registry;
use kube_client::{Action, Client, Controller, DeleteParams, DynamicApi, ListParams, Store, WorkQueue};
use serde_json::json;
use tracing::{debug, info};

use crate::ControllerContext;

/// The finalizer the namespace controller owns.
pub const FINALIZER: &str = "kubernetes";
const RECHECK: Duration = Duration::from_secs(2);

struct Ctx {
    namespaces: Store<Namespace>,
    client: Client,
}

/// The `namespace` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let namespaces = cc.informer::<Namespace>();
    let queue = WorkQueue::new();
    namespaces.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    let ctx = Arc::new(Ctx { namespaces: namespaces.store(), client: cc.client.clone() });
    let controller = Controller::new("namespace", queue)
        .workers(cc.options.concurrent_namespace_syncs)
        .wait_for(namespaces.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// The resources a namespace is emptied of: namespaced, listable and deletable.
pub fn namespaced_resources() -> impl Iterator<Item = &'static registry::ResourceInfo> {
    registry::all().iter().filter(|r| r.namespaced && r.verbs.contains(&"list") && r.verbs.contains(&"delete"))
}

async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Action, kube_client::Error> {
    let Some(ns) = ctx.namespaces.get(&name) else { return Ok(Action::Done) };
    if ns.metadata.deletion_timestamp.is_none() || !ns.spec.finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::Done);
    }
    let mut remaining = 0;
    for res in namespaced_resources() {
        let api = DynamicApi::new(ctx.client.clone(), res, &name);
        let list = api.list(&ListParams::default()).await?;
        for item in &list.items {
            remaining += 1;
            if !item["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let item_name = item["metadata"]["name"].as_str().unwrap_or_default();
            debug!("namespace {name}: deleting {} {item_name}", res.singular);
            match api.delete(item_name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        info!("namespace {name} is terminating: {remaining} objects left");
        return Ok(Action::RequeueAfter(RECHECK));
    }
    let finalizers: Vec<_> = ns.spec.finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let mut body = serde_json::to_value(ns.as_ref()).unwrap_or_default();
    body["spec"] = json!({"finalizers": finalizers});
    body["apiVersion"] = json!("v1");
    body["kind"] = json!("Namespace");
    let api = DynamicApi::new(ctx.client.clone(), registry::by_kind("", "v1", "Namespace").expect("namespaces are registered"), "");
    match api.replace_subresource("finalize", &name, &body).await {
        Ok(_) => info!("namespace {name} is empty: removed the {FINALIZER} finalizer"),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_emptied_of_every_namespaced_kind_but_not_of_nodes() {
        let plurals: Vec<_> = namespaced_resources().map(|r| r.plural).collect();
        for p in ["pods", "deployments", "replicasets", "services", "configmaps", "secrets", "events"] {
            assert!(plurals.contains(&p), "{p} missing from {plurals:?}");
        }
        assert!(!plurals.contains(&"nodes") && !plurals.contains(&"namespaces"));
    }
}
