//! The garbage collector: what nobody owns any more goes — upstream's
//! `pkg/controller/garbagecollector`. `kubectl delete deploy web` removes the Deployment;
//! this loop then removes its ReplicaSets, and their pods.
//!
//! - **Observes**: every kind whose objects own or are owned in practice (Pods,
//!   ReplicaSets, Deployments, ReplicationControllers, StatefulSets, DaemonSets, Jobs,
//!   Services, Endpoints, ConfigMaps, Secrets), each through its shared informer — the
//!   "monitors". Their `ownerReferences` form the graph: a change wakes the object itself,
//!   its owners, and (when it is deleted) its dependents.
//! - **Key**: `<resource>|<namespace>|<name>` of any monitored object.
//! - **Desired**: every `ownerReferences` entry points at an existing owner; an owner
//!   deleted with `propagationPolicy: Foreground` goes only after its blocking dependents;
//!   one deleted with `Orphan` leaves its dependents behind, unowned.
//! - **Actual**: the object and its owners in the caches (an owner missing from the cache
//!   is looked up on the apiserver before anything is deleted: the cache may be behind).
//! - **Does**, for an object being deleted with the `orphan` finalizer: removes its
//!   reference from every dependent, then the finalizer. With the `foregroundDeletion`
//!   finalizer: deletes every dependent (in the foreground too), and removes the finalizer
//!   once no dependent with `blockOwnerDeletion: true` is left. For any other object: if
//!   all its owners are gone, deletes it (Background; Foreground when an owner waits for
//!   its dependents); if only some are, removes the dangling references.
//! - **Status**: none (it writes `ownerReferences` and `finalizers`).
//! - **Requeues**: on errors; otherwise when an owner or a dependent changes.

use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::registry::{self, ResourceInfo};
use kube_api::{Object, OwnerReference};
use kube_client::store::HasSynced;
use kube_client::{Action, Change, Client, Controller, DeleteParams, DynamicApi, PatchType, Preconditions, PostParams, PropagationPolicy, Store, WorkQueue};
use serde_json::json;
use tracing::{debug, info};

use crate::ControllerContext;

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// What the collector needs of any object: where it is, who owns it, whether it goes.
#[derive(Clone, Debug)]
pub struct GraphNode {
    pub resource: &'static ResourceInfo,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl GraphNode {
    fn of<K: Object>(resource: &'static ResourceInfo, obj: &K) -> GraphNode {
        let m = obj.metadata();
        GraphNode {
            resource,
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            owners: m.owner_references.clone(),
            deleting: m.deletion_timestamp.is_some(),
            finalizers: m.finalizers.clone(),
        }
    }

    pub fn key(&self) -> String {
        node_key(self.resource, &self.namespace, &self.name)
    }

    fn api(&self, client: &Client) -> DynamicApi {
        DynamicApi::new(client.clone(), self.resource, &self.namespace)
    }
}

fn node_key(res: &ResourceInfo, namespace: &str, name: &str) -> String {
    format!("{}|{namespace}|{name}", res.qualified_plural())
}

/// One kind's view of the graph (upstream: a *monitor*), over its shared informer.
pub trait Monitor: Send + Sync {
    fn resource(&self) -> &'static ResourceInfo;
    fn get(&self, namespace: &str, name: &str) -> Option<GraphNode>;
    fn dependents(&self, owner_uid: &str) -> Vec<GraphNode>;
    fn synced(&self) -> HasSynced;
}

struct TypedMonitor<K> {
    resource: &'static ResourceInfo,
    store: Store<K>,
}

impl<K: Object> Monitor for TypedMonitor<K> {
    fn resource(&self) -> &'static ResourceInfo {
        self.resource
    }
    fn get(&self, namespace: &str, name: &str) -> Option<GraphNode> {
        let key = if namespace.is_empty() { name.to_string() } else { format!("{namespace}/{name}") };
        self.store.get(&key).map(|o| GraphNode::of(self.resource, o.as_ref()))
    }
    fn dependents(&self, owner_uid: &str) -> Vec<GraphNode> {
        self.store.by_index("ownerUID", owner_uid).iter().map(|o| GraphNode::of(self.resource, o.as_ref())).collect()
    }
    fn synced(&self) -> HasSynced {
        self.store.synced()
    }
}

/// The graph: every monitor.
#[derive(Clone)]
pub struct Graph {
    monitors: Arc<Vec<Box<dyn Monitor>>>,
}

impl Graph {
    fn monitor(&self, res: &ResourceInfo) -> Option<&dyn Monitor> {
        self.monitors.iter().find(|m| std::ptr::eq(m.resource(), res)).map(|m| m.as_ref())
    }

    fn dependents(&self, uid: &str) -> Vec<GraphNode> {
        self.monitors.iter().flat_map(|m| m.dependents(uid)).collect()
    }

    fn get(&self, key: &str) -> Option<GraphNode> {
        let mut parts = key.splitn(3, '|');
        let (plural, ns, name) = (parts.next()?, parts.next()?, parts.next()?);
        let m = self.monitors.iter().find(|m| m.resource().qualified_plural() == plural)?;
        m.get(ns, name)
    }
}

/// The resource an owner reference points at, and the owner's namespace (an owner is in
/// its dependent's namespace, unless its kind is cluster-scoped).
fn owner_resource(r: &OwnerReference, dependent_ns: &str) -> Option<(&'static ResourceInfo, String)> {
    let res = registry::by_api_version_kind(&r.api_version, &r.kind)?;
    Some((res, if res.namespaced { dependent_ns.to_string() } else { String::new() }))
}

struct Ctx {
    graph: Graph,
    client: Client,
}

fn monitor<K: Object>(cc: &ControllerContext, queue: &WorkQueue, graph_slot: &Arc<std::sync::OnceLock<Graph>>) -> Box<dyn Monitor> {
    let resource = registry::by_kind(K::GROUP, K::VERSION, K::KIND).expect("every monitored kind is in the registry");
    // (The pod informer already exists, with more indexes: the factory hands it back.)
    let informer = cc.informer::<K>();
    informer.add_handler({
        let (queue, graph_slot) = (queue.clone(), graph_slot.clone());
        move |change: &Change<K>| {
            let node = GraphNode::of(resource, change.object().as_ref());
            queue.add(node.key());
            for r in &node.owners {
                if let Some((res, ns)) = owner_resource(r, &node.namespace) {
                    queue.add(node_key(res, &ns, &r.name));
                }
            }
            if let (Change::Deleted(_), Some(graph)) = (change, graph_slot.get()) {
                for dep in graph.dependents(&node.uid) {
                    queue.add(dep.key());
                }
            }
        }
    });
    Box::new(TypedMonitor { resource, store: informer.store() })
}

/// The `garbagecollector` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    use kube_api::{apps, batch, core};
    let queue = WorkQueue::new();
    let slot = Arc::new(std::sync::OnceLock::new());
    let monitors: Vec<Box<dyn Monitor>> = vec![
        monitor::<core::Pod>(cc, &queue, &slot),
        monitor::<apps::ReplicaSet>(cc, &queue, &slot),
        monitor::<apps::Deployment>(cc, &queue, &slot),
        monitor::<core::ReplicationController>(cc, &queue, &slot),
        monitor::<apps::StatefulSet>(cc, &queue, &slot),
        monitor::<apps::DaemonSet>(cc, &queue, &slot),
        monitor::<batch::Job>(cc, &queue, &slot),
        monitor::<core::Service>(cc, &queue, &slot),
        monitor::<core::Endpoints>(cc, &queue, &slot),
        monitor::<core::ConfigMap>(cc, &queue, &slot),
        monitor::<core::Secret>(cc, &queue, &slot),
    ];
    let mut controller = Controller::new("garbagecollector", queue).workers(cc.options.concurrent_gc_syncs);
    for m in &monitors {
        controller = controller.wait_for(m.synced());
    }
    let graph = Graph { monitors: Arc::new(monitors) };
    let _ = slot.set(graph.clone());
    let ctx = Arc::new(Ctx { graph, client: cc.client.clone() });
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

/// An owner as the collector found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists and is not waiting for its dependents.
    Solid,
    /// Exists, being deleted in the foreground: its dependents must go first.
    WaitingForDependents,
    /// Gone (or replaced by another object with the same name).
    Dangling,
}

/// What to do with an object, given the state of each of its owners (upstream's
/// `attemptToDeleteItem` decision).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Remove the references to these owner UIDs.
    RemoveRefs(Vec<String>),
    Delete(PropagationPolicy),
}

pub fn decide(owners: &[(OwnerReference, OwnerState)]) -> Verdict {
    if owners.is_empty() {
        return Verdict::Keep;
    }
    let solid = owners.iter().any(|(_, s)| *s == OwnerState::Solid);
    let dangling: Vec<String> = owners.iter().filter(|(_, s)| *s == OwnerState::Dangling).map(|(r, _)| r.uid.clone()).collect();
    let waiting = owners.iter().any(|(_, s)| *s == OwnerState::WaitingForDependents);
    if solid {
        return if dangling.is_empty() { Verdict::Keep } else { Verdict::RemoveRefs(dangling) };
    }
    if waiting {
        return Verdict::Delete(PropagationPolicy::Foreground);
    }
    Verdict::Delete(PropagationPolicy::Background)
}

async fn owner_state(ctx: &Ctx, node: &GraphNode, r: &OwnerReference) -> Result<OwnerState, kube_client::Error> {
    let Some((res, ns)) = owner_resource(r, &node.namespace) else {
        return Ok(OwnerState::Solid); // a kind we do not know: never delete on its account
    };
    let state_of = |uid: &str, deleting: bool, finalizers: &[String]| {
        if uid != r.uid {
            OwnerState::Dangling
        } else if deleting && finalizers.iter().any(|f| f == FOREGROUND) {
            OwnerState::WaitingForDependents
        } else {
            OwnerState::Solid
        }
    };
    if let Some(owner) = ctx.graph.monitor(res).and_then(|m| m.get(&ns, &r.name)) {
        return Ok(state_of(&owner.uid, owner.deleting, &owner.finalizers));
    }
    // Not in the cache: ask the apiserver (the cache may not have seen a new owner yet).
    match DynamicApi::new(ctx.client.clone(), res, &ns).get(&r.name).await {
        Ok(v) => {
            let m = &v["metadata"];
            let finalizers: Vec<String> = serde_json::from_value(m["finalizers"].clone()).unwrap_or_default();
            Ok(state_of(m["uid"].as_str().unwrap_or(""), !m["deletionTimestamp"].is_null(), &finalizers))
        }
        Err(e) if e.is_not_found() => Ok(OwnerState::Dangling),
        Err(e) => Err(e),
    }
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let Some(node) = ctx.graph.get(&key) else { return Ok(Action::Done) };
    if node.deleting {
        if node.finalizers.iter().any(|f| f == ORPHAN) {
            return orphan_dependents(&ctx, &node).await;
        }
        if node.finalizers.iter().any(|f| f == FOREGROUND) {
            return delete_dependents_first(&ctx, &node).await;
        }
        return Ok(Action::Done);
    }
    if node.owners.is_empty() {
        return Ok(Action::Done);
    }
    let mut owners = Vec::new();
    for r in &node.owners {
        owners.push((r.clone(), owner_state(&ctx, &node, r).await?));
    }
    match decide(&owners) {
        Verdict::Keep => Ok(Action::Done),
        Verdict::RemoveRefs(uids) => {
            let refs: Vec<_> = node.owners.iter().filter(|r| !uids.contains(&r.uid)).collect();
            info!("removing dangling owner references {uids:?} from {} {}/{}", node.resource.singular, node.namespace, node.name);
            let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": node.resource_version}});
            ignore_not_found(node.api(&ctx.client).patch(&node.name, &PatchType::Merge, &patch, &PostParams::default()).await.map(|_| ()))?;
            Ok(Action::Done)
        }
        Verdict::Delete(policy) => {
            info!("deleting {} {}/{}: all its owners are gone ({policy:?})", node.resource.singular, node.namespace, node.name);
            let dp = DeleteParams {
                propagation_policy: Some(policy),
                preconditions: Some(Preconditions { uid: Some(node.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            ignore_not_found(node.api(&ctx.client).delete(&node.name, &dp).await.map(|_| ()))?;
            Ok(Action::Done)
        }
    }
}

fn ignore_not_found(r: Result<(), kube_client::Error>) -> Result<(), kube_client::Error> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// `orphan`: every dependent loses its reference to `owner`; then the finalizer goes.
async fn orphan_dependents(ctx: &Ctx, owner: &GraphNode) -> Result<Action, kube_client::Error> {
    for dep in ctx.graph.dependents(&owner.uid) {
        let refs: Vec<_> = dep.owners.iter().filter(|r| r.uid != owner.uid).collect();
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": dep.resource_version}});
        debug!("orphaning {} {}/{}", dep.resource.singular, dep.namespace, dep.name);
        ignore_not_found(dep.api(&ctx.client).patch(&dep.name, &PatchType::Merge, &patch, &PostParams::default()).await.map(|_| ()))?;
    }
    info!("orphaned the dependents of {} {}/{}", owner.resource.singular, owner.namespace, owner.name);
    remove_finalizer(ctx, owner, ORPHAN).await
}

/// `foregroundDeletion`: delete the dependents (in the foreground too); once none that
/// blocks its owner is left, remove the finalizer and let the owner go.
async fn delete_dependents_first(ctx: &Ctx, owner: &GraphNode) -> Result<Action, kube_client::Error> {
    let dependents = ctx.graph.dependents(&owner.uid);
    let blocking = dependents
        .iter()
        .filter(|d| d.owners.iter().any(|r| r.uid == owner.uid && r.block_owner_deletion == Some(true)))
        .count();
    for dep in dependents.iter().filter(|d| !d.deleting) {
        info!("deleting {} {}/{} before its owner {} {} (foreground)", dep.resource.singular, dep.namespace, dep.name, owner.resource.singular, owner.name);
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: Some(dep.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        ignore_not_found(dep.api(&ctx.client).delete(&dep.name, &dp).await.map(|_| ()))?;
    }
    if blocking > 0 {
        debug!("{} {}: {blocking} blocking dependents left", owner.resource.singular, owner.name);
        return Ok(Action::Done); // their deletions wake us
    }
    remove_finalizer(ctx, owner, FOREGROUND).await
}

async fn remove_finalizer(ctx: &Ctx, node: &GraphNode, finalizer: &str) -> Result<Action, kube_client::Error> {
    let left: Vec<_> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
    let patch = json!({"metadata": {"finalizers": left, "resourceVersion": node.resource_version}});
    ignore_not_found(node.api(&ctx.client).patch(&node.name, &PatchType::Merge, &patch, &PostParams::default()).await.map(|_| ()))?;
    info!("removed the {finalizer} finalizer of {} {}/{}", node.resource.singular, node.namespace, node.name);
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str) -> OwnerReference {
        OwnerReference { uid: uid.into(), ..Default::default() }
    }

    #[test]
    fn an_object_whose_owners_are_all_gone_is_deleted_in_the_background() {
        assert_eq!(decide(&[(r("a"), OwnerState::Dangling)]), Verdict::Delete(PropagationPolicy::Background));
    }

    #[test]
    fn an_object_with_one_owner_left_only_loses_the_dangling_references() {
        let v = decide(&[(r("a"), OwnerState::Dangling), (r("b"), OwnerState::Solid)]);
        assert_eq!(v, Verdict::RemoveRefs(vec!["a".into()]));
        assert_eq!(decide(&[(r("b"), OwnerState::Solid)]), Verdict::Keep);
        assert_eq!(decide(&[]), Verdict::Keep, "no owners: not ours to collect");
    }

    #[test]
    fn an_owner_waiting_for_its_dependents_gets_them_deleted_in_the_foreground() {
        assert_eq!(decide(&[(r("a"), OwnerState::WaitingForDependents)]), Verdict::Delete(PropagationPolicy::Foreground));
        assert_eq!(decide(&[(r("a"), OwnerState::WaitingForDependents), (r("b"), OwnerState::Solid)]), Verdict::Keep);
    }
}
