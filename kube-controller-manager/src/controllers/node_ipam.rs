//! Node IPAM: each node gets its own slice of the pod network — upstream's
//! `pkg/controller/nodeipam` with the range allocator. The kubelet (and the CNI
//! configuration it writes) gives its pods addresses from that slice.
//!
//! - **Observes**: Nodes. Only with `--allocate-node-cidrs`; the range is
//!   `--cluster-cidr` (e.g. `10.244.0.0/16`), cut into `--node-cidr-mask-size` (24) subnets.
//! - **Key**: the node's name.
//! - **Desired**: every node has a `spec.podCIDR` (and `spec.podCIDRs`), no two the same.
//! - **Actual**: the node's `spec.podCIDR`; the subnets taken by every node in the cache.
//! - **Does**: picks the lowest free subnet and patches it in; a deleted node's subnet is
//!   free again. Event: `CIDRNotAvailable` when the range is full.
//! - **Status**: none.
//! - **Requeues**: on errors; when the range is full, every 30 s.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kube_api::core::Node;
use kube_client::{Action, Api, Change, Client, Controller, EventType, PatchType, Recorder, Store, WorkQueue};
use serde_json::json;
use tracing::{info, warn};

use crate::ControllerContext;

/// An IPv4 cluster CIDR cut into equal node subnets.
#[derive(Debug)]
pub struct CidrSet {
    base: u32,
    node_mask: u8,
    count: u32,
    used: BTreeSet<u32>,
}

/// Why the flags do not describe a usable range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    /// `--cluster-cidr` is not `a.b.c.d/n`.
    #[error("invalid --cluster-cidr {0:?}")]
    Invalid(String),
    /// The node mask is not longer than the cluster mask.
    #[error("--node-cidr-mask-size {node} must be larger than the cluster CIDR's /{cluster} (and at most 32)")]
    Mask { cluster: u8, node: u8 },
}

impl CidrSet {
    pub fn new(cluster_cidr: &str, node_mask: u8) -> Result<CidrSet, CidrError> {
        let (ip, prefix) = parse_cidr(cluster_cidr).ok_or_else(|| CidrError::Invalid(cluster_cidr.into()))?;
        if node_mask <= prefix || node_mask > 32 || node_mask - prefix > 24 {
            return Err(CidrError::Mask { cluster: prefix, node: node_mask });
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Ok(CidrSet { base: ip & mask, node_mask, count: 1 << (node_mask - prefix), used: BTreeSet::new() })
    }

    fn cidr(&self, index: u32) -> String {
        let ip = self.base + (index << (32 - self.node_mask));
        format!("{}/{}", Ipv4Addr::from(ip), self.node_mask)
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (ip, prefix) = parse_cidr(cidr)?;
        if prefix != self.node_mask || ip < self.base {
            return None;
        }
        let index = (ip - self.base) >> (32 - self.node_mask);
        (index < self.count).then_some(index)
    }

    /// Marks an existing node's subnet as taken.
    pub fn occupy(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.insert(i);
        }
    }

    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.remove(&i);
        }
    }

    /// The lowest free subnet, now taken.
    pub fn allocate(&mut self) -> Option<String> {
        let i = (0..self.count).find(|i| !self.used.contains(i))?;
        self.used.insert(i);
        Some(self.cidr(i))
    }
}

fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, prefix) = s.trim().split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    (prefix <= 32).then_some((u32::from(ip), prefix))
}

struct Ctx {
    nodes: Store<Node>,
    client: Client,
    recorder: Recorder,
    cidrs: Mutex<CidrSet>,
    /// The set is filled from the cache once, before the first allocation.
    seeded: Mutex<bool>,
    /// What this controller patched in, by node: the cache may still show the node without
    /// its podCIDR when the node's next update (the kubelet's status) is queued, and a
    /// second allocation would overwrite the first (upstream keeps a "nodes in processing"
    /// set for the same reason).
    assigned: Mutex<std::collections::HashMap<String, String>>,
}

/// The `nodeipam` entry of the controller table (idle without `--allocate-node-cidrs`).
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let opts = &cc.options;
    if !opts.allocate_node_cidrs {
        info!("nodeipam: --allocate-node-cidrs is false: not allocating pod CIDRs");
        return Box::pin(async {});
    }
    let cidrs = match CidrSet::new(&opts.cluster_cidr, opts.node_cidr_mask_size) {
        Ok(c) => c,
        Err(e) => {
            warn!("nodeipam disabled: {e}");
            return Box::pin(async {});
        }
    };
    let nodes = cc.informer::<Node>();
    let queue = WorkQueue::new();
    let ctx = Arc::new(Ctx { nodes: nodes.store(), client: cc.client.clone(), recorder: cc.recorder("cidrAllocator"), cidrs: Mutex::new(cidrs), seeded: Mutex::new(false), assigned: Mutex::default() });
    nodes.add_handler({
        let (queue, ctx) = (queue.clone(), ctx.clone());
        move |change: &Change<Node>| match change {
            Change::Deleted(n) => {
                let assigned = ctx.assigned.lock().unwrap_or_else(|e| e.into_inner()).remove(&n.metadata.name);
                let mut cidrs = ctx.cidrs.lock().unwrap_or_else(|e| e.into_inner());
                cidrs.release(&n.spec.pod_cidr);
                if let Some(cidr) = assigned {
                    cidrs.release(&cidr);
                }
            }
            _ => queue.add(change.object().metadata.name.clone()),
        }
    });
    let controller = Controller::new("nodeipam", queue).workers(1).wait_for(nodes.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

async fn reconcile(ctx: Arc<Ctx>, name: String) -> Result<Action, kube_client::Error> {
    {
        let mut seeded = ctx.seeded.lock().unwrap_or_else(|e| e.into_inner());
        if !*seeded {
            let mut cidrs = ctx.cidrs.lock().unwrap_or_else(|e| e.into_inner());
            for n in ctx.nodes.list() {
                cidrs.occupy(&n.spec.pod_cidr);
            }
            *seeded = true;
        }
    }
    let Some(node) = ctx.nodes.get(&name) else { return Ok(Action::Done) };
    if !node.spec.pod_cidr.is_empty() {
        ctx.cidrs.lock().unwrap_or_else(|e| e.into_inner()).occupy(&node.spec.pod_cidr);
        ctx.assigned.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        return Ok(Action::Done);
    }
    if ctx.assigned.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&name) {
        // Patched already; the cache has not seen it yet.
        return Ok(Action::Done);
    }
    let Some(cidr) = ctx.cidrs.lock().unwrap_or_else(|e| e.into_inner()).allocate() else {
        warn!("node {name}: no pod CIDR left in the cluster CIDR");
        ctx.recorder.record(node.as_ref(), EventType::Normal, "CIDRNotAvailable", &format!("Node {name} status is now: CIDRNotAvailable"));
        return Ok(Action::RequeueAfter(Duration::from_secs(30)));
    };
    let api: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
    match api.patch(&name, &PatchType::Merge, &patch).await {
        Ok(_) => {
            info!("Set node {name} PodCIDR to [{cidr}]");
            ctx.assigned.lock().unwrap_or_else(|e| e.into_inner()).insert(name, cidr);
            Ok(Action::Done)
        }
        Err(e) => {
            ctx.cidrs.lock().unwrap_or_else(|e| e.into_inner()).release(&cidr);
            if e.is_not_found() { Ok(Action::Done) } else { Err(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_handed_out_lowest_first_skipping_taken_ones_and_reused_when_released() {
        let mut s = CidrSet::new("10.244.0.0/16", 24).unwrap();
        s.occupy("10.244.1.0/24");
        assert_eq!(s.allocate().as_deref(), Some("10.244.0.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.244.2.0/24"));
        s.release("10.244.0.0/24");
        assert_eq!(s.allocate().as_deref(), Some("10.244.0.0/24"));
    }

    #[test]
    fn a_full_range_allocates_nothing_and_bad_flags_are_refused() {
        let mut s = CidrSet::new("10.0.0.0/23", 24).unwrap();
        assert!(s.allocate().is_some() && s.allocate().is_some());
        assert_eq!(s.allocate(), None);
        assert!(matches!(CidrSet::new("10.0.0.0/24", 24), Err(CidrError::Mask { .. })));
        assert!(matches!(CidrSet::new("nonsense", 24), Err(CidrError::Invalid(_))));
    }
}
