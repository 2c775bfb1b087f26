//! Controller expectations — upstream's `ControllerExpectations` (pkg/controller/
//! controller_utils.go): how a controller that creates or deletes in bulk avoids doing it
//! twice.
//!
//! The problem: a ReplicaSet wants 3 pods and has 0. Its reconcile creates 3. The creations
//! succeed at once, but the informer sees the new pods a little later. A reconcile that
//! runs in between (another change woke the key) counts 0 pods in the cache and creates 3
//! more. Expectations close that gap: **remember what we did until the cache has seen it.**
//!
//! The rules (each has a test below):
//! 1. **Before writing, expect.** A controller calls [`Expectations::expect_creations`]
//!    (or deletions) with the number of writes it is *about* to make — before, not after,
//!    so that the informer cannot observe a creation before it is expected.
//! 2. **The informer lowers them.** Each pod addition seen for that controller calls
//!    [`Expectations::creation_observed`]; each deletion [`Expectations::deletion_observed`].
//! 3. **A write that failed will never be observed**: the controller lowers the expectation
//!    itself (`creation_observed` after a failed create), or it would wait for ever.
//! 4. **Satisfied** ([`Expectations::satisfied`]) when both counts are at or below zero —
//!    then the cache reflects our writes and a reconcile may compare and act again.
//! 5. **Or when expired**: after 5 minutes ([`EXPECTATIONS_TIMEOUT`]) an expectation counts
//!    as satisfied anyway — a lost watch event must not block a controller for ever.
//! 6. **No record is satisfied**: a controller that never expected anything (or whose
//!    record was deleted) may act.
//! 7. **Deleting the controller deletes its record** ([`Expectations::delete`]).
//!
//! Keys are the controller's key (`namespace/name`), as in the work queue.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// After this long, unfulfilled expectations count as satisfied (upstream: 5 minutes).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expectee {
    add: i64,
    del: i64,
    set_at: Instant,
}

/// What each controller key still expects to observe.
#[derive(Debug)]
pub struct Expectations {
    records: Mutex<HashMap<String, Expectee>>,
    timeout: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations::new()
    }
}

impl Expectations {
    pub fn new() -> Expectations {
        Expectations {
            records: Mutex::default(),
            timeout: EXPECTATIONS_TIMEOUT,
        }
    }

    fn records(&self) -> MutexGuard<'_, HashMap<String, Expectee>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, key: &str, add: i64, del: i64) {
        self.records().insert(
            key.to_string(),
            Expectee {
                add,
                del,
                set_at: Instant::now(),
            },
        );
    }

    /// Rule 1: `key` is about to create `n` objects (replaces earlier expectations).
    pub fn expect_creations(&self, key: &str, n: usize) {
        self.set(key, n as i64, 0);
    }

    /// Rule 1: `key` is about to delete `n` objects (replaces earlier expectations).
    pub fn expect_deletions(&self, key: &str, n: usize) {
        self.set(key, 0, n as i64);
    }

    fn lower(&self, key: &str, add: i64, del: i64) {
        if let Some(e) = self.records().get_mut(key) {
            e.add -= add;
            e.del -= del;
        }
    }

    /// Rules 2 and 3: one creation for `key` was observed (or failed).
    pub fn creation_observed(&self, key: &str) {
        self.lower(key, 1, 0);
    }

    /// Rules 2 and 3: one deletion for `key` was observed (or failed).
    pub fn deletion_observed(&self, key: &str) {
        self.lower(key, 0, 1);
    }

    /// Rules 4, 5 and 6: may `key`'s controller compare and act?
    pub fn satisfied(&self, key: &str) -> bool {
        match self.records().get(key) {
            None => true,
            Some(e) if e.add <= 0 && e.del <= 0 => true,
            Some(e) => e.set_at.elapsed() > self.timeout,
        }
    }

    /// What `key` still expects: (creations, deletions), if it has a record.
    pub fn pending(&self, key: &str) -> Option<(i64, i64)> {
        self.records().get(key).map(|e| (e.add, e.del))
    }

    /// Rule 7.
    pub fn delete(&self, key: &str) {
        self.records().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RS: &str = "default/web";

    #[tokio::test(start_paused = true)]
    async fn rule_1_and_4_expecting_creations_blocks_until_all_are_observed() {
        let e = Expectations::new();
        e.expect_creations(RS, 3);
        assert!(!e.satisfied(RS));
        e.creation_observed(RS);
        e.creation_observed(RS);
        assert!(!e.satisfied(RS));
        assert_eq!(e.pending(RS), Some((1, 0)));
        e.creation_observed(RS);
        assert!(e.satisfied(RS));
    }

    #[tokio::test(start_paused = true)]
    async fn rule_2_deletions_are_counted_the_same_way() {
        let e = Expectations::new();
        e.expect_deletions(RS, 2);
        e.deletion_observed(RS);
        assert!(!e.satisfied(RS));
        e.deletion_observed(RS);
        assert!(e.satisfied(RS));
    }

    #[tokio::test(start_paused = true)]
    async fn rule_3_a_failed_write_is_lowered_by_the_controller_itself() {
        let e = Expectations::new();
        e.expect_creations(RS, 2);
        e.creation_observed(RS); // seen by the informer
        e.creation_observed(RS); // the second create failed: never to be seen
        assert!(e.satisfied(RS));
    }

    #[tokio::test(start_paused = true)]
    async fn rule_5_expectations_expire_after_five_minutes() {
        let e = Expectations::new();
        e.expect_creations(RS, 1);
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(!e.satisfied(RS));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(e.satisfied(RS), "a lost event must not block the controller for ever");
    }

    #[tokio::test(start_paused = true)]
    async fn rule_6_a_key_without_a_record_is_satisfied_and_observations_do_not_create_one() {
        let e = Expectations::new();
        assert!(e.satisfied(RS));
        e.creation_observed(RS); // someone else's pod: no record to lower
        assert_eq!(e.pending(RS), None);
        assert!(e.satisfied(RS));
    }

    #[tokio::test(start_paused = true)]
    async fn rule_7_deleting_the_controller_deletes_its_record() {
        let e = Expectations::new();
        e.expect_creations(RS, 5);
        e.delete(RS);
        assert!(e.satisfied(RS));
        assert_eq!(e.pending(RS), None);
    }

    #[tokio::test(start_paused = true)]
    async fn expecting_again_replaces_the_old_counts_and_restarts_the_clock() {
        let e = Expectations::new();
        e.expect_creations(RS, 1);
        tokio::time::advance(Duration::from_secs(200)).await;
        e.expect_deletions(RS, 1);
        tokio::time::advance(Duration::from_secs(200)).await;
        assert_eq!(e.pending(RS), Some((0, 1)));
        assert!(!e.satisfied(RS), "the clock restarted 200 s ago");
    }
}
