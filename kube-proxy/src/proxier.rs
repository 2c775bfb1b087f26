//! The proxier: kube-proxy's one control loop (upstream's `Proxier.syncProxyRules`, run by a
//! `BoundedFrequencyRunner`).
//!
//! - **Observes** Services and Endpoints, through two informers of the loop kit (reflector
//!   + store); every change only marks the rules dirty.
//! - **Key**: none — or rather one: the node. The desired state is a single object, the whole
//!   rule set, so there is no per-object work queue; the loop rebuilds everything each time
//!   (it takes milliseconds) and then *writes* only what changed.
//! - **Desired**: [`rules::build`] over every cached Service and Endpoints — the full
//!   `iptables-restore` text.
//! - **Actual**: what this process last applied (the shared chains' text and each service
//!   port's own chains), plus whether the jump rules from PREROUTING/OUTPUT/... are still in
//!   place (checked on each periodic sync: if iptables was flushed behind our back, they are
//!   gone and everything is restored).
//! - **Does**: `iptables-restore --noflush`, **only when something changed**: a *full* sync
//!   writes every chain, a *partial* one (upstream's since 1.28) only the shared chains and
//!   the chains of the service ports that changed; chains no longer generated are deleted.
//! - **Status**: nothing in the API; each applied sync is logged (duration, rule counts,
//!   input size) and counted in `/metrics`; `/healthz` reports the last successful sync.
//! - **Requeues**: a change syncs at most every `--iptables-min-sync-period` (1 s: a burst
//!   of changes costs one restore, not a hundred); with no change, a sync still runs every
//!   `--iptables-sync-period` (30 s) to re-check the jump rules; after a failure, and once an
//!   hour, the next sync is a full one.
//!
//! Stopping kube-proxy leaves the rules in place, as upstream: Services keep working while it
//! restarts, and established connections are untouched (conntrack keeps their DNAT).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_api::core::{Endpoints, Service};
use kube_client::{CancellationToken, Client, InformerFactory, Store};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::iptables::{self, IptablesError};
use crate::rules::{self, ProxyConfig};
use crate::server::Metrics;

/// How the loop runs (the flags `main.rs` turns into this).
#[derive(Clone, Debug)]
pub struct ProxierOptions {
    pub rules: ProxyConfig,
    /// `--nodeport-addresses` CIDRs; empty means every local address.
    pub node_port_cidrs: Vec<String>,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
}

pub struct Proxier {
    options: ProxierOptions,
    metrics: Arc<Metrics>,
    /// What this process last applied; `None` forces a full sync.
    applied: Option<Applied>,
    last_full_sync: Option<Instant>,
}

/// The state of the kernel's rules as this process last wrote them: what a partial sync
/// compares the new rules with.
struct Applied {
    /// The restore input without any service port's own chains (filter table,
    /// `KUBE-SERVICES`, `KUBE-NODEPORTS`, ...).
    shared: String,
    /// Each service port's own chains (`KUBE-SVC-`, `KUBE-SEP-`, ...), as text.
    service_chains: BTreeMap<String, String>,
    /// Every per-service chain in the kernel that we know of.
    chains: BTreeSet<String>,
}

/// Upstream's `proxyutil.FullSyncPeriod`: even with nothing wrong, everything is rewritten
/// once an hour.
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(3600);

impl Proxier {
    pub fn new(options: ProxierOptions, metrics: Arc<Metrics>) -> Proxier {
        Proxier { options, metrics, applied: None, last_full_sync: None }
    }

    /// Runs the loop until `cancel`.
    pub async fn run(mut self, client: Client, cancel: CancellationToken) {
        let factory = InformerFactory::new(client, cancel.clone());
        let services = factory.informer::<Service>();
        let endpoints = factory.informer::<Endpoints>();
        let dirty = Arc::new(Notify::new());
        // The handlers do nothing but mark the rules dirty: the sync reads the caches.
        let d = dirty.clone();
        services.add_handler(move |_| d.notify_one());
        let d = dirty.clone();
        endpoints.add_handler(move |_| d.notify_one());

        info!("Waiting for caches to sync for service and endpoints config");
        tokio::select! {
            _ = futures_join(services.synced(), endpoints.synced()) => info!("Caches are synced for service and endpoints config"),
            _ = cancel.cancelled() => return,
        }
        let (services, endpoints) = (services.store(), endpoints.store());
        let (min, period) = (self.options.min_sync_period, self.options.sync_period);
        let mut periodic = true;
        let mut last_start: Option<Instant> = None;
        loop {
            if let Some(last) = last_start {
                tokio::select! {
                    _ = tokio::time::sleep_until((last + min).into()) => {}
                    _ = cancel.cancelled() => break,
                }
            }
            last_start = Some(Instant::now());
            if let Err(e) = self.sync(&services, &endpoints, periodic).await {
                warn!("Sync failed; a full sync follows in {period:?} or at the next change: {e}");
                self.metrics.restore_failed();
                self.applied = None;
            }
            periodic = false;
            tokio::select! {
                _ = dirty.notified() => {}
                _ = tokio::time::sleep(period) => periodic = true,
                _ = cancel.cancelled() => break,
            }
        }
        info!("Stopping the proxier; the iptables rules stay in place");
    }

    /// One sync: build the whole rule set from the caches, then apply what changed.
    ///
    /// A **full** sync (the first one, after a failure, when the jump rules went missing, and
    /// every [`FULL_SYNC_PERIOD`]) writes every chain and looks for stale chains with
    /// `iptables-save`. Any other sync is **partial**, as upstream's since 1.28: it writes
    /// the filter table and the shared nat chains (`KUBE-SERVICES`, ...) in full, but only
    /// the own chains of the service ports whose chains changed since the last sync, and
    /// deletes the chains that the last sync wrote and this one no longer has. Nothing
    /// changed at all: nothing is written. A `periodic` sync also re-checks the jump rules.
    pub async fn sync(&mut self, services: &Store<Service>, endpoints: &Store<Endpoints>, periodic: bool) -> Result<(), IptablesError> {
        let start = Instant::now();
        let (svcs, eps) = (services.list(), endpoints.list());
        let mut config = self.options.rules.clone();
        let ports = rules::service_ports(svcs.iter().map(|s| &**s), eps.iter().map(|e| &**e), &config.node_name);
        if !self.options.node_port_cidrs.is_empty() {
            config.node_port_ips = Some(iptables::node_ips_in(&self.options.node_port_cidrs).await?);
        }
        let rules = rules::build(&ports, &config);
        let service_chains = rules.service_chains();
        let shared = rules.partial_restore_input(|_| false, &[]);

        if periodic || self.applied.is_none() {
            let missing = iptables::ensure_jumps(&rules::jumps(&config)).await?;
            if missing > 0 && self.applied.is_some() {
                warn!("{missing} jump rules were missing (iptables flushed?): restoring every rule");
                self.applied = None;
            }
        }
        let full = self.applied.is_none() || self.last_full_sync.is_none_or(|t| t.elapsed() > FULL_SYNC_PERIOD);

        let (changed, stale): (BTreeSet<&str>, Vec<String>) = match (&self.applied, full) {
            (Some(applied), false) => {
                let changed: BTreeSet<&str> = service_chains
                    .iter()
                    .filter(|(name, text)| applied.service_chains.get(**name) != Some(*text))
                    .map(|(name, _)| *name)
                    .collect();
                if changed.is_empty() && applied.shared == shared {
                    debug!("Rules unchanged ({} service ports, {} endpoints): nothing to apply", rules.service_ports, rules.endpoints);
                    self.metrics.synced(start.elapsed(), None, &rules, false);
                    return Ok(());
                }
                let stale = applied.chains.difference(&rules.active_nat_chains).cloned().collect();
                (changed, stale)
            }
            _ => {
                // Chains left by an earlier run (or anyone) that we do not generate.
                let stale = iptables::chains("nat")
                    .await?
                    .into_iter()
                    .filter(|c| rules::is_service_chain(c) && !rules.active_nat_chains.contains(c))
                    .collect();
                (service_chains.keys().copied().collect(), stale)
            }
        };

        let inputs = rules.restore_inputs(|name| changed.contains(name), &stale, rules::MAX_CHAINS_PER_RESTORE);
        let mut restore = Duration::ZERO;
        for input in &inputs {
            restore += iptables::restore(input).await?;
        }
        let bytes: usize = inputs.iter().map(String::len).sum();
        self.applied = Some(Applied {
            shared,
            service_chains: service_chains.iter().map(|(n, t)| (n.to_string(), t.clone())).collect(),
            chains: rules.active_nat_chains.clone(),
        });
        if full {
            self.last_full_sync = Some(Instant::now());
        }
        let elapsed = start.elapsed();
        info!(
            "Synced iptables rules ({}) in {elapsed:?} (iptables-restore {restore:?}, {} transaction{}): {} service ports ({} rewritten), {} endpoints, {} nat rules, {} filter rules, {} stale chains deleted, {} bytes of restore input",
            if full { "full" } else { "partial" },
            inputs.len(),
            if inputs.len() == 1 { "" } else { "s" },
            rules.service_ports,
            changed.len(),
            rules.endpoints,
            rules.nat_rule_count(),
            rules.filter_rule_count(),
            stale.len(),
            bytes
        );
        self.metrics.synced(elapsed, Some(bytes), &rules, full);
        Ok(())
    }
}

async fn futures_join(a: kube_client::HasSynced, b: kube_client::HasSynced) {
    a.wait().await;
    b.wait().await;
}
