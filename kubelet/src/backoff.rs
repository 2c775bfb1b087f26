//! The crash-loop back-off: how long to wait before restarting a container that exited
//! (upstream `flowcontrol.Backoff` as the kubelet uses it).
//!
//! The first restart happens at once and arms a 10 s delay. Each later restart must wait
//! until the delay has passed since the container *finished*; every restart doubles the
//! delay, up to 5 minutes. While waiting, the container's status says `CrashLoopBackOff`.
//! An entry untouched for twice the maximum is forgotten, so a container that ran quietly
//! for ten minutes starts again from 10 s. Image pulls use the same type with their own keys
//! (`ImagePullBackOff`).
//!
//! Times are wall-clock (`SystemTime`) because the runtime reports `finishedAt` that way;
//! every method takes `now`, which keeps the logic a pure function of its inputs to test.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Upstream's `initialBackOff` / `MaxContainerBackOff`.
pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Entry {
    delay: Duration,
    last_update: SystemTime,
}

/// Back-off delays by key (`pod-uid/container-name`).
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

impl Backoff {
    /// Whether `key` must still wait, counting from `since` (when the container finished).
    /// Returns the current delay when it must.
    pub fn in_backoff_since(&self, key: &str, since: SystemTime, now: SystemTime) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if stale(entry, now) {
            return None;
        }
        let elapsed = now.duration_since(since).unwrap_or_default();
        (elapsed < entry.delay).then_some(entry.delay)
    }

    /// Whether `key` must still wait, counting from its last [`Backoff::next`] (image pulls).
    pub fn in_backoff(&self, key: &str, now: SystemTime) -> Option<Duration> {
        let since = self.entries.get(key)?.last_update;
        self.in_backoff_since(key, since, now)
    }

    /// Records a restart (or pull attempt) now: arms 10 s the first time, doubles after.
    pub fn next(&mut self, key: &str, now: SystemTime) {
        let entry = self.entries.entry(key.to_string()).or_insert(Entry { delay: Duration::ZERO, last_update: now });
        entry.delay = if entry.delay.is_zero() || stale(entry, now) { INITIAL } else { (entry.delay * 2).min(MAX) };
        entry.last_update = now;
    }

    /// Forgets `key` (a successful pull, or a pod that went away).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets every key that starts with `prefix` (all containers of one pod).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }
}

fn stale(entry: &Entry, now: SystemTime) -> bool {
    now.duration_since(entry.last_update).unwrap_or_default() > 2 * MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn the_first_restart_is_immediate_then_the_delay_doubles_up_to_five_minutes() {
        let mut b = Backoff::default();
        assert_eq!(b.in_backoff_since("p/c", t(0), t(0)), None, "never restarted: go");
        b.next("p/c", t(0));
        assert_eq!(b.in_backoff_since("p/c", t(1), t(5)), Some(INITIAL), "4 s after exit: wait");
        assert_eq!(b.in_backoff_since("p/c", t(1), t(11)), None, "10 s after exit: go");
        let mut delays = vec![];
        for i in 0..8 {
            b.next("p/c", t(20 + i));
            delays.push(b.in_backoff_since("p/c", t(20 + i), t(20 + i)).unwrap().as_secs());
        }
        assert_eq!(delays, [20, 40, 80, 160, 300, 300, 300, 300]);
    }

    #[test]
    fn a_quiet_container_starts_again_from_ten_seconds() {
        let mut b = Backoff::default();
        for i in 0..5 {
            b.next("p/c", t(i));
        }
        b.next("p/c", t(5 + 2 * MAX.as_secs() + 1));
        let now = t(5 + 2 * MAX.as_secs() + 1);
        assert_eq!(b.in_backoff_since("p/c", now, now), Some(INITIAL));
    }

    #[test]
    fn forgetting_a_pod_clears_its_containers_only() {
        let mut b = Backoff::default();
        b.next("uid1/a", t(0));
        b.next("uid2/a", t(0));
        b.forget_prefix("uid1/");
        assert_eq!(b.in_backoff_since("uid1/a", t(0), t(1)), None);
        assert!(b.in_backoff_since("uid2/a", t(0), t(1)).is_some());
    }
}
