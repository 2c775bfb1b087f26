//! Periodic etcd compaction (`--etcd-compaction-interval`, upstream's default 5m).
//!
//! etcd keeps every revision of every key until it is told to forget: without compaction
//! its database grows with every write. Upstream's apiserver compacts on a timer, keeping
//! about one interval of history: at each tick it compacts up to the revision it saw at the
//! *previous* tick. A watch or paged list from a version older than that then gets
//! `410 Gone` and starts over with a fresh list, which is what clients are built for.
//!
//! Two apiservers on one etcd may both compact; compacting a revision that is already
//! compacted is refused by etcd and harmless (logged at debug).

use std::sync::Arc;
use std::time::Duration;

use crate::storage::Backend;

/// Compact every `interval` until the task is dropped. `interval` zero disables.
pub async fn run(backend: Arc<dyn Backend>, interval: Duration) {
    if interval.is_zero() {
        tracing::info!("etcd compaction disabled (--etcd-compaction-interval=0)");
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await; // the first tick is immediate
    let mut previous = None;
    let mut compacted = 0;
    loop {
        ticker.tick().await;
        let current = match backend.current_revision().await {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(%err, "compaction: cannot read etcd's revision; trying at the next interval");
                continue;
            }
        };
        // Compacting at a revision keeps that revision readable: only older ones go.
        if let Some(target) = previous.filter(|p: &i64| *p > compacted && *p <= current) {
            match backend.compact(target).await {
                Ok(()) => {
                    compacted = target;
                    tracing::info!(revision = target, "compacted etcd history");
                }
                Err(err) => tracing::debug!(%err, revision = target, "compaction refused (another apiserver compacted?)"),
            }
        }
        previous = Some(current);
    }
}

/// `--etcd-compaction-interval`'s syntax: a Go duration.
pub use kube_api::duration::parse as parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("5m0s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }
}
