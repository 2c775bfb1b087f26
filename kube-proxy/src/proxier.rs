//! The proxier: kube-proxy's one control loop (upstream's `Proxier.syncProxyRules`, run by a
//! `BoundedFrequencyRunner`).
//!
//! - **Observes** Services and Endpoints, through two informers of the loop kit (reflector
//!   + store); every change only marks the rules dirty.
//! - **Key**: none — or rather one: the node. The desired state is a single object, the whole
//!   rule set, so there is no per-object work queue; the loop rebuilds everything each time
//!   (upstream does the same, with partial syncs as an optimisation we leave out).
//! - **Desired**: [`rules::build`] over every cached Service and Endpoints — the full
//!   `iptables-restore` text.
//! - **Actual**: the text this process last applied, plus whether the jump rules from
//!   PREROUTING/OUTPUT/... are still in place (checked on each periodic sync: if iptables was
//!   flushed behind our back, they are gone and everything is restored).
//! - **Does**: `iptables-restore --noflush` of the whole text, **only when it changed**,
//!   flushing and deleting per-service chains no longer generated.
//! - **Status**: nothing in the API; each applied sync is logged (duration, rule counts,
//!   input size) and counted in `/metrics`; `/healthz` reports the last successful sync.
//! - **Requeues**: a change syncs at most every `--iptables-min-sync-period` (1 s: a burst
//!   of changes costs one restore, not a hundred); with no change, a full sync runs every
//!   `--iptables-sync-period` (30 s); after a failure, the next sync retries everything.
//!
//! Stopping kube-proxy leaves the rules in place, as upstream: Services keep working while it
//! restarts, and established connections are untouched (conntrack keeps their DNAT).

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
    /// The restore text (without stale-chain deletions) applied last; `None` forces a restore.
    last_applied: Option<String>,
}

impl Proxier {
    pub fn new(options: ProxierOptions, metrics: Arc<Metrics>) -> Proxier {
        Proxier { options, metrics, last_applied: None }
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
        let mut full = true;
        let mut last_start: Option<Instant> = None;
        loop {
            if let Some(last) = last_start {
                tokio::select! {
                    _ = tokio::time::sleep_until((last + min).into()) => {}
                    _ = cancel.cancelled() => break,
                }
            }
            last_start = Some(Instant::now());
            if let Err(e) = self.sync(&services, &endpoints, full).await {
                warn!("Sync failed; retrying in {period:?} or at the next change: {e}");
                self.metrics.restore_failed();
                self.last_applied = None;
            }
            full = false;
            tokio::select! {
                _ = dirty.notified() => {}
                _ = tokio::time::sleep(period) => full = true,
                _ = cancel.cancelled() => break,
            }
        }
        info!("Stopping the proxier; the iptables rules stay in place");
    }

    /// One sync: build the whole rule set from the caches and apply it if it changed.
    /// A `full` sync also re-checks the jump rules and looks for stale chains.
    pub async fn sync(&mut self, services: &Store<Service>, endpoints: &Store<Endpoints>, full: bool) -> Result<(), IptablesError> {
        let start = Instant::now();
        let (svcs, eps) = (services.list(), endpoints.list());
        let ports = rules::service_ports(svcs.iter().map(|s| &**s), eps.iter().map(|e| &**e));
        let mut config = self.options.rules.clone();
        if !self.options.node_port_cidrs.is_empty() {
            config.node_port_ips = Some(iptables::node_ips_in(&self.options.node_port_cidrs).await?);
        }
        let rules = rules::build(&ports, &config);
        let text = rules.restore_input(&[]);

        let mut missing_jumps = 0;
        if full || self.last_applied.is_none() {
            missing_jumps = iptables::ensure_jumps(&rules::jumps(&config)).await?;
            if missing_jumps > 0 && self.last_applied.is_some() {
                warn!("{missing_jumps} jump rules were missing (iptables flushed?): restoring every rule");
            }
        }
        if missing_jumps == 0 && self.last_applied.as_deref() == Some(text.as_str()) {
            debug!("Rules unchanged ({} service ports, {} endpoints): nothing to apply", rules.service_ports, rules.endpoints);
            self.metrics.synced(start.elapsed(), None, &rules);
            return Ok(());
        }

        // In a large cluster `iptables-save` itself is slow: look for stale chains only on
        // the periodic syncs there, as upstream does. They are unreferenced, so harmless.
        let large = rules.endpoints > rules::LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
        let stale: Vec<String> = if full || !large || self.last_applied.is_none() {
            iptables::chains("nat")
                .await?
                .into_iter()
                .filter(|c| rules::is_service_chain(c) && !rules.active_nat_chains.contains(c))
                .collect()
        } else {
            Vec::new()
        };
        let input = rules.restore_input(&stale);
        let restore = iptables::restore(&input).await?;
        self.last_applied = Some(text);
        let elapsed = start.elapsed();
        info!(
            "Synced iptables rules in {elapsed:?} (iptables-restore {restore:?}): {} service ports, {} endpoints, {} nat rules, {} filter rules, {} stale chains deleted, {} bytes of restore input",
            rules.service_ports,
            rules.endpoints,
            rules.nat_rule_count(),
            rules.filter_rule_count(),
            stale.len(),
            input.len()
        );
        self.metrics.synced(elapsed, Some(input.len()), &rules);
        Ok(())
    }
}

async fn futures_join(a: kube_client::HasSynced, b: kube_client::HasSynced) {
    a.wait().await;
    b.wait().await;
}
