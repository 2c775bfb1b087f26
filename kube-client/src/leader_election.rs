//! Leader election on a `coordination.k8s.io/v1` Lease — client-go's `leaderelection`.
//!
//! Run two schedulers (or controller managers) for availability, and only one may act:
//! two replicaset loops creating pods side by side would overshoot. The candidates agree
//! through one Lease object, e.g. `kube-system/kube-scheduler`:
//!
//! - **Acquire**: every `retry_period` (2 s), read the lease. If nobody holds it, or the
//!   holder has not renewed it for `lease_duration` (15 s) *as we observed it* (our own
//!   clock measures how long the record stayed unchanged: no clock skew between machines
//!   matters), write ourselves in as `holderIdentity`. The write carries the lease's
//!   `resourceVersion`: of two candidates racing, one gets 409 Conflict and keeps waiting.
//! - **Renew**: the leader rewrites `renewTime` every `retry_period`. If it cannot succeed
//!   for `renew_deadline` (10 s, less than the lease duration so that it stops before anyone
//!   else may start), it has **lost** the lease: the loops' token is cancelled.
//! - **Release** on a graceful shutdown: the leader empties `holderIdentity` (and sets a
//!   1 s duration), so a successor takes over at its next try instead of after 15 s.
//!
//! The flags are upstream's, in [`LeaderElectionArgs`], for each binary to flatten in.

use std::future::Future;
use std::time::Duration;

use kube_api::coordination::{Lease, LeaseSpec};
use kube_api::meta::MicroTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::api::Api;
use crate::client::Client;

/// Upstream's leader election flags.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct LeaderElectionArgs {
    /// Start a leader election client and gain leadership before executing the main loop.
    /// Enable this when running replicated components for high availability.
    #[arg(long = "leader-elect", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,
    /// The duration that non-leader candidates will wait after observing a leadership
    /// renewal until attempting to acquire leadership of a led but unrenewed leader slot.
    #[arg(long = "leader-elect-lease-duration", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// The interval between attempts by the acting master to renew a leadership slot before
    /// it stops leading. This must be less than the lease duration.
    #[arg(long = "leader-elect-renew-deadline", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// The duration the clients should wait between attempting acquisition and renewal of
    /// a leadership.
    #[arg(long = "leader-elect-retry-period", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
    /// The namespace of resource object that is used for locking during leader election.
    #[arg(long = "leader-elect-resource-namespace", default_value = "kube-system")]
    pub resource_namespace: String,
    /// The name of resource object that is used for locking during leader election
    /// (default: the component's name).
    #[arg(long = "leader-elect-resource-name")]
    pub resource_name: Option<String>,
}

impl Default for LeaderElectionArgs {
    fn default() -> Self {
        LeaderElectionArgs {
            leader_elect: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_namespace: "kube-system".into(),
            resource_name: None,
        }
    }
}

/// The flags' syntax: a Go duration (`15s`, `500ms`, `1m30s`, `2h`).
pub use kube_api::duration::parse as parse_duration;

/// Why leading ended badly.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// We were leading and could not renew within the renew deadline: someone else may lead
    /// now. Upstream components exit (`leaderelection lost`) and get restarted.
    #[error("leaderelection lost: could not renew lease {lease} within {deadline:?}")]
    Lost {
        /// `namespace/name` of the lease.
        lease: String,
        /// The renew deadline that passed.
        deadline: Duration,
    },
}

/// One candidate for one lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    args: LeaderElectionArgs,
}

/// The last lease record we saw and when it changed, by our clock.
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

impl LeaderElector {
    /// A candidate called `identity` for the lease `args.resource_namespace/<name>`, where
    /// `name` is `--leader-elect-resource-name` or else `component`.
    pub fn new(client: Client, component: &str, identity: &str, args: LeaderElectionArgs) -> Self {
        let name = args.resource_name.clone().unwrap_or_else(|| component.to_string());
        LeaderElector {
            api: Api::namespaced(client, &args.resource_namespace),
            name,
            identity: identity.to_string(),
            args,
        }
    }

    /// Upstream's identity: `<hostname>_<uuid>`.
    pub fn default_identity() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}_{}", uuid::Uuid::new_v4())
    }

    fn lease(&self) -> String {
        format!("{}/{}", self.args.resource_namespace, self.name)
    }

    /// Waits to lead (unless `--leader-elect=false`), then runs `lead` with a token that is
    /// cancelled on `shutdown` *or* when the lease is lost. On return the lease is released.
    pub async fn run<F, Fut>(self, shutdown: CancellationToken, lead: F) -> Result<(), LeaderElectionError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        if !self.args.leader_elect {
            lead(shutdown.child_token()).await;
            return Ok(());
        }
        let mut observed = None;
        let lease = self.lease();
        info!("attempting to acquire leader lease {lease}...");
        loop {
            if self.try_acquire_or_renew(&mut observed).await {
                break;
            }
            let jitter = self.args.retry_period.mul_f64(rand::random_range(0.0..1.2));
            tokio::select! {
                _ = tokio::time::sleep(self.args.retry_period + jitter) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
        info!("successfully acquired lease {lease}");

        let leading = shutdown.child_token();
        // The loops and the renewals run side by side in this task (not a spawned one), so
        // that nothing renews a lease for loops that are gone.
        let run_loops = async {
            lead(leading.clone()).await;
            // The loops are done: stop renewing, then give the lease up if still ours.
            leading.cancel();
        };
        let ((), lost) = tokio::join!(run_loops, self.renew_loop(observed, leading.clone()));
        if lost {
            return Err(LeaderElectionError::Lost {
                lease,
                deadline: self.args.renew_deadline,
            });
        }
        self.release().await;
        Ok(())
    }

    /// Renews every retry period until `leading` is cancelled (answers `false`) or a renewal
    /// deadline passes (cancels `leading`, answers `true`: lost).
    async fn renew_loop(&self, mut observed: Option<Observed>, leading: CancellationToken) -> bool {
        let lease = self.lease();
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.args.retry_period) => {}
                _ = leading.cancelled() => return false,
            }
            let attempt = tokio::time::timeout(
                self.args.renew_deadline,
                self.try_acquire_or_renew(&mut observed),
            );
            let renewed = tokio::select! {
                r = attempt => r.unwrap_or(false),
                _ = leading.cancelled() => return false,
            };
            if renewed {
                last_renew = Instant::now();
                continue;
            }
            if last_renew.elapsed() >= self.args.renew_deadline {
                error!("failed to renew lease {lease}: timed out waiting for the condition");
                info!("leaderelection lost");
                leading.cancel();
                return true;
            }
        }
    }

    /// One try, as upstream's `tryAcquireOrRenew`: true if we hold the lease afterwards.
    async fn try_acquire_or_renew(&self, observed: &mut Option<Observed>) -> bool {
        let now = MicroTime::now();
        let mine = |acquire: Option<MicroTime>, transitions: i32| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.args.lease_duration.as_secs().max(1) as i32),
            acquire_time: acquire,
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        };
        let current = match self.api.get_opt(&self.name).await {
            Ok(l) => l,
            Err(e) => {
                warn!("error retrieving resource lock {}: {e}", self.lease());
                return false;
            }
        };
        let Some(mut lease) = current else {
            let mut lease = Lease::default();
            lease.metadata.name = self.name.clone();
            lease.metadata.namespace = self.args.resource_namespace.clone();
            lease.spec = mine(Some(now), 0);
            return match self.api.create(&lease).await {
                Ok(created) => {
                    *observed = Some(Observed { spec: created.spec, at: Instant::now() });
                    true
                }
                Err(e) => {
                    debug!("error initially creating leader election record: {e}");
                    false
                }
            };
        };

        // Record when the lease last changed, by our own clock.
        if observed.as_ref().is_none_or(|o| o.spec != lease.spec) {
            *observed = Some(Observed { spec: lease.spec.clone(), at: Instant::now() });
        }
        let holder = lease.spec.holder_identity.clone().unwrap_or_default();
        let held_by_me = holder == self.identity;
        let duration = Duration::from_secs(lease.spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
        let valid = observed.as_ref().is_some_and(|o| o.at + duration > Instant::now());
        if !holder.is_empty() && !held_by_me && valid {
            debug!("lock is held by {holder} and has not yet expired");
            return false;
        }

        let transitions = lease.spec.lease_transitions.unwrap_or(0);
        lease.spec = if held_by_me {
            mine(lease.spec.acquire_time, transitions)
        } else {
            mine(Some(now), transitions + 1)
        };
        match self.api.replace(&lease).await {
            Ok(updated) => {
                *observed = Some(Observed { spec: updated.spec, at: Instant::now() });
                true
            }
            Err(e) => {
                debug!("failed to update lock {}: {e}", self.lease());
                false
            }
        }
    }

    /// Gives the lease up so that a successor need not wait for it to expire.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        if lease.spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        lease.spec.holder_identity = None;
        lease.spec.lease_duration_seconds = Some(1);
        lease.spec.renew_time = Some(MicroTime::now());
        match self.api.replace(&lease).await {
            Ok(_) => info!("released lease {}", self.lease()),
            Err(e) => warn!("failed to release lease {}: {e}", self.lease()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        le: LeaderElectionArgs,
    }

    #[test]
    fn the_flags_have_upstreams_names_and_defaults() {
        let f = Flags::parse_from(["x"]);
        assert_eq!(f.le, LeaderElectionArgs::default());
        let f = Flags::parse_from([
            "x",
            "--leader-elect=false",
            "--leader-elect-lease-duration=1m30s",
            "--leader-elect-renew-deadline=500ms",
            "--leader-elect-resource-name=sched",
        ]);
        assert!(!f.le.leader_elect);
        assert_eq!(f.le.lease_duration, Duration::from_secs(90));
        assert_eq!(f.le.renew_deadline, Duration::from_millis(500));
        assert_eq!(f.le.resource_name.as_deref(), Some("sched"));
    }

    #[test]
    fn go_durations_parse_and_nonsense_does_not() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h2m"), Ok(Duration::from_secs(3720)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten s").is_err());
        assert!(parse_duration("").is_err());
    }
}
