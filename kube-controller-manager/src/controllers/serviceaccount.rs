//! The service-account controller: every namespace has a ServiceAccount named `default` —
//! upstream's `pkg/controller/serviceaccount` (`serviceaccounts_controller.go`).
//!
//! Pods that name no service account run as `default`, and the apiserver refuses a pod
//! whose service account does not exist (when it issues tokens), so a namespace without
//! `default` could run no plain pod at all.
//!
//! - **Observes**: Namespaces, ServiceAccounts (a deleted `default` enqueues its namespace).
//! - **Key**: the namespace's name.
//! - **Desired**: an active namespace holds a ServiceAccount `default`.
//! - **Actual**: the ServiceAccount cache.
//! - **Does**: creates `default` when it is missing (a namespace being deleted is left alone).
//! - **Status**: none.
//! - **Requeues**: on errors, with back-off.

use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::core::{Namespace, ServiceAccount};
use kube_api::ObjectMeta;
use kube_client::{Action, Api, Change, Client, Controller, Store, WorkQueue};
use tracing::info;

use crate::ControllerContext;

/// The service accounts every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNTS: &[&str] = &["default"];

struct Ctx {
    namespaces: Store<Namespace>,
    accounts: Store<ServiceAccount>,
    client: Client,
}

/// The `serviceaccount` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let namespaces = cc.informer::<Namespace>();
    let accounts = cc.informer::<ServiceAccount>();
    let queue = WorkQueue::new();
    namespaces.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    accounts.add_handler({
        let queue = queue.clone();
        move |change: &Change<ServiceAccount>| {
            if let Change::Deleted(sa) = change {
                if DEFAULT_SERVICE_ACCOUNTS.contains(&sa.metadata.name.as_str()) {
                    queue.add(sa.metadata.namespace.clone());
                }
            }
        }
    });
    let ctx = Arc::new(Ctx { namespaces: namespaces.store(), accounts: accounts.store(), client: cc.client.clone() });
    let controller = Controller::new("serviceaccount", queue).workers(1).wait_for(namespaces.synced()).wait_for(accounts.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

async fn reconcile(ctx: Arc<Ctx>, namespace: String) -> Result<Action, kube_client::Error> {
    let Some(ns) = ctx.namespaces.get(&namespace) else { return Ok(Action::Done) };
    if ns.metadata.deletion_timestamp.is_some() || ns.status.phase == "Terminating" {
        return Ok(Action::Done);
    }
    for name in DEFAULT_SERVICE_ACCOUNTS {
        if ctx.accounts.get(&format!("{namespace}/{name}")).is_some() {
            continue;
        }
        let sa = ServiceAccount { metadata: ObjectMeta { name: name.to_string(), ..ObjectMeta::default() }, ..ServiceAccount::default() };
        match Api::<ServiceAccount>::namespaced(ctx.client.clone(), &namespace).create(&sa).await {
            Ok(_) => info!("created serviceaccount {namespace}/{name}"),
            // Created meanwhile (by us before the cache saw it, or by someone else): fine.
            Err(e) if e.is_already_exists() => {}
            // The namespace is going away: nothing to do.
            Err(e) if e.is_not_found() || e.to_string().contains("being terminated") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Action::Done)
}
