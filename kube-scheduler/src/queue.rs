//! The scheduling queue — upstream's `PriorityQueue` with its three parts:
//!
//! ```text
//!   new pod ──▶ activeQ ──pop──▶ in flight ──bound──▶ (gone)
//!                 ▲   ▲                │
//!                 │   │ back-off over  ├── error (bind failed) ──────────▶ backoffQ
//!                 │   └────────────────┤                                   │
//!                 │                    └── no node fits ──▶ unschedulable ─┘ on a cluster
//!                 └──────────────────────────── (back-off already over) ◀──┘ event
//! ```
//!
//! - **activeQ** is ordered by priority (`spec.priority`, higher first), then by the time
//!   the pod entered the queue (older first): upstream's `PrioritySort` plugin.
//! - **backoffQ**: a pod that failed waits 1 s, doubling with each failed attempt up to
//!   10 s (`--pod-initial-backoff-seconds`, `--pod-max-backoff-seconds`), so one pod that
//!   cannot be placed does not spin the scheduler.
//! - **unschedulable**: a pod no node fits waits for a change that could make one fit — a
//!   node added or updated, a pod deleted ([`SchedulingQueue::move_all_to_active_or_backoff`]).
//!   Retrying it on a timer alone would be wasted work. After 5 minutes it is retried anyway
//!   (upstream's `podMaxInUnschedulablePodsDuration`), in case an event was missed.
//! - A cluster event that arrives *while* a pod is being scheduled could be the one that
//!   makes it fit; so if one came since the pod was popped, a failed pod goes to backoffQ
//!   instead of waiting for the next event (upstream's `moveRequestCycle`).
//!
//! Time is tokio's, so tests run with paused time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kube_api::core::Pod;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Upstream's `podMaxInUnschedulablePodsDuration`.
const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// Where a pod is in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped: being scheduled or bound.
    InFlight,
}

/// A pod in the queue and its history.
#[derive(Clone, Debug)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it entered the queue (orders activeQ among equal priorities).
    pub timestamp: Instant,
    /// When it last failed (its back-off counts from here).
    failed_at: Option<Instant>,
    place: Place,
    /// Its entry in the ordered map of its place (activeQ, backoffQ or unschedulable).
    slot: Option<Slot>,
    /// The scheduling cycle in which it was popped.
    cycle: u64,
}

/// An entry's key in one of the ordered maps; `u64` is a sequence number that makes it unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Higher priority first, then older first.
    Active(Reverse<i32>, Instant, u64),
    /// Due when the back-off ends.
    Backoff(Instant, u64),
    /// Due for a retry anyway after [`MAX_IN_UNSCHEDULABLE`].
    Unschedulable(Instant, u64),
}

#[derive(Default)]
struct State {
    pods: HashMap<String, QueuedPod>,
    active: BTreeMap<Slot, String>,
    backoff: BTreeMap<Slot, String>,
    unschedulable: BTreeMap<Slot, String>,
    seq: u64,
    /// Incremented on each pop.
    cycle: u64,
    /// The cycle in which the last cluster event asked to move pods.
    move_request_cycle: u64,
    closed: bool,
}

impl State {
    /// Moves `key` to `place`, keeping the ordered maps in step.
    fn put(&mut self, key: &str, place: Place, backoff_until: Instant) {
        self.seq += 1;
        let seq = self.seq;
        let Some(p) = self.pods.get_mut(key) else {
            return;
        };
        match p.slot.take() {
            Some(s @ Slot::Active(..)) => self.active.remove(&s),
            Some(s @ Slot::Backoff(..)) => self.backoff.remove(&s),
            Some(s @ Slot::Unschedulable(..)) => self.unschedulable.remove(&s),
            None => None,
        };
        p.place = place;
        let (slot, map) = match place {
            Place::Active => (Slot::Active(Reverse(p.pod.spec.priority.unwrap_or(0)), p.timestamp, seq), &mut self.active),
            Place::Backoff => (Slot::Backoff(backoff_until, seq), &mut self.backoff),
            Place::Unschedulable => {
                let at = p.failed_at.unwrap_or_else(Instant::now) + MAX_IN_UNSCHEDULABLE;
                (Slot::Unschedulable(at, seq), &mut self.unschedulable)
            }
            Place::InFlight => return,
        };
        p.slot = Some(slot);
        map.insert(slot, key.to_string());
    }

    /// The first entry of `map` if it is due by `now`.
    fn due(map: &BTreeMap<Slot, String>, now: Instant) -> Option<String> {
        match map.first_key_value() {
            Some((Slot::Backoff(at, _) | Slot::Unschedulable(at, _), key)) if *at <= now => Some(key.clone()),
            _ => None,
        }
    }

    /// When the first entry of `map` is due.
    fn next(map: &BTreeMap<Slot, String>) -> Option<Instant> {
        match map.first_key_value() {
            Some((Slot::Backoff(at, _) | Slot::Unschedulable(at, _), _)) => Some(*at),
            _ => None,
        }
    }
}

/// The queue, shared by the informers' handlers and the scheduling loop.
#[derive(Clone)]
pub struct SchedulingQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for SchedulingQueue {
    fn default() -> Self {
        SchedulingQueue::new(Duration::from_secs(1), Duration::from_secs(10))
    }
}

impl SchedulingQueue {
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> SchedulingQueue {
        SchedulingQueue {
            state: Arc::default(),
            notify: Arc::default(),
            initial_backoff,
            max_backoff,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A std mutex: held for map operations only, never across an `.await`.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a pod waits after its `attempts`-th failure: 1 s, 2 s, 4 s, 8 s, 10 s, ...
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.initial_backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }

    /// When `p`'s back-off ends.
    fn backoff_until(&self, p: &QueuedPod) -> Instant {
        match p.failed_at {
            Some(at) => at + self.backoff(p.attempts),
            None => Instant::now(),
        }
    }

    /// A pending pod was added or changed. A new pod goes to activeQ; an unschedulable pod
    /// whose spec or labels changed is retried (after what is left of its back-off).
    pub fn add_or_update(&self, pod: Arc<Pod>) {
        let key = pod.metadata.key();
        let mut st = self.lock();
        if st.closed {
            return;
        }
        let now = Instant::now();
        match st.pods.get_mut(&key) {
            None => {
                let p = QueuedPod { pod, attempts: 0, timestamp: now, failed_at: None, place: Place::InFlight, slot: None, cycle: 0 };
                st.pods.insert(key.clone(), p);
                st.put(&key, Place::Active, now);
            }
            Some(p) => {
                let changed = p.pod.spec != pod.spec || p.pod.metadata.labels != pod.metadata.labels;
                p.pod = pod;
                if changed && p.place == Place::Unschedulable {
                    let until = self.backoff_until(p);
                    st.put(&key, Place::Backoff, until);
                }
            }
        }
        drop(st);
        self.notify.notify_one();
    }

    /// The pod is gone, bound by someone else, or no longer ours.
    pub fn delete(&self, key: &str) {
        let mut st = self.lock();
        st.put(key, Place::InFlight, Instant::now()); // out of every map
        st.pods.remove(key);
    }

    /// Waits for the next pod to schedule; `None` once the queue is closed.
    pub async fn pop(&self) -> Option<QueuedPod> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                let wake_at = Self::flush(&mut st);
                if let Some((_, key)) = st.active.pop_first() {
                    st.cycle += 1;
                    let cycle = st.cycle;
                    if let Some(p) = st.pods.get_mut(&key) {
                        p.place = Place::InFlight;
                        p.slot = None;
                        p.cycle = cycle;
                        return Some(p.clone());
                    }
                }
                wake_at
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Moves pods whose back-off is over (and pods unschedulable for too long) to activeQ;
    /// answers when the next one will be due.
    fn flush(st: &mut State) -> Option<Instant> {
        let now = Instant::now();
        while let Some(key) = State::due(&st.backoff, now).or_else(|| State::due(&st.unschedulable, now)) {
            st.put(&key, Place::Active, now);
        }
        match (State::next(&st.backoff), State::next(&st.unschedulable)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// No node fits the pod: it waits for a cluster event (or, if one came while it was
    /// being scheduled, for its back-off).
    pub fn add_unschedulable(&self, key: &str) {
        self.failed(key, true);
    }

    /// Scheduling failed for another reason (the binding failed): retry after the back-off.
    pub fn add_backoff(&self, key: &str) {
        self.failed(key, false);
    }

    fn failed(&self, key: &str, unschedulable: bool) {
        let mut st = self.lock();
        let move_requested = st.move_request_cycle;
        let Some(p) = st.pods.get_mut(key) else {
            return; // deleted meanwhile
        };
        p.attempts += 1;
        p.failed_at = Some(Instant::now());
        let until = self.backoff_until(p);
        let place = if unschedulable && move_requested < p.cycle { Place::Unschedulable } else { Place::Backoff };
        st.put(key, place, until);
        drop(st);
        self.notify.notify_one();
    }

    /// The pod is bound: it leaves the queue.
    pub fn done(&self, key: &str) {
        self.delete(key);
    }

    /// A cluster event (`NodeAdd`, `NodeUpdate`, `AssignedPodDelete`) may let unschedulable
    /// pods fit: each goes to activeQ, or to backoffQ if its back-off is not over.
    pub fn move_all_to_active_or_backoff(&self, event: &str) {
        let mut st = self.lock();
        st.move_request_cycle = st.cycle;
        let now = Instant::now();
        let waiting: Vec<String> = st.unschedulable.values().cloned().collect();
        if !waiting.is_empty() {
            tracing::debug!("{event}: moving {} unschedulable pods to activeQ or backoffQ", waiting.len());
        }
        for key in waiting {
            let Some(until) = st.pods.get(&key).map(|p| self.backoff_until(p)) else {
                continue;
            };
            let place = if until <= now { Place::Active } else { Place::Backoff };
            st.put(&key, place, until);
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Pods in each part: (active, backoff, unschedulable) — the `scheduler_pending_pods` gauge.
    pub fn pending(&self) -> (usize, usize, usize) {
        let st = self.lock();
        (st.active.len(), st.backoff.len(), st.unschedulable.len())
    }

    /// Where a pod is (tests, logs).
    pub fn place(&self, key: &str) -> Option<Place> {
        self.lock().pods.get(key).map(|p| p.place)
    }

    /// Stops the queue: `pop` answers `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, priority: i32) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.spec.priority = Some(priority);
        Arc::new(p)
    }

    async fn pop_name(q: &SchedulingQueue) -> String {
        q.pop().await.unwrap().pod.metadata.name.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn higher_priority_pops_first_then_older_first() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("low-old", 0));
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add_or_update(pod("high", 100));
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add_or_update(pod("low-new", 0));
        q.add_or_update(pod("low-new", 0)); // an update does not queue it twice
        let order = [pop_name(&q).await, pop_name(&q).await, pop_name(&q).await];
        assert_eq!(order, ["high", "low-old", "low-new"]);
        assert_eq!(q.pending(), (0, 0, 0));
    }

    #[test]
    fn back_off_is_1s_doubling_to_10s() {
        let q = SchedulingQueue::default();
        let got: Vec<u64> = (1..=6).map(|a| q.backoff(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_binding_is_retried_after_its_back_off() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("p", 0));
        let start = Instant::now();
        let mut popped_at = Vec::new();
        for _ in 0..4 {
            let p = q.pop().await.unwrap();
            popped_at.push(start.elapsed().as_secs());
            q.add_backoff(&p.pod.metadata.key());
            assert_eq!(q.place("default/p"), Some(Place::Backoff));
        }
        assert_eq!(popped_at, [0, 1, 3, 7], "waits of 1 s, 2 s, 4 s");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unschedulable_pod_waits_for_a_node_event_not_for_a_timer() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("p", 0));
        let p = q.pop().await.unwrap();
        q.add_unschedulable(&p.pod.metadata.key());
        assert_eq!(q.place("default/p"), Some(Place::Unschedulable));
        let waited = tokio::time::timeout(Duration::from_secs(60), q.pop()).await;
        assert!(waited.is_err(), "no retry without an event (within a minute)");
        q.move_all_to_active_or_backoff("NodeAdd");
        assert_eq!(q.place("default/p"), Some(Place::Active), "back-off (1 s) long over");
        assert_eq!(pop_name(&q).await, "p");
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_during_the_back_off_moves_the_pod_to_backoff_and_it_waits_the_rest() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("p", 0));
        let p = q.pop().await.unwrap();
        q.add_unschedulable(&p.pod.metadata.key());
        let failed = Instant::now();
        q.move_all_to_active_or_backoff("NodeUpdate");
        assert_eq!(q.place("default/p"), Some(Place::Backoff));
        assert_eq!(pop_name(&q).await, "p");
        assert_eq!(failed.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_while_the_pod_was_in_flight_sends_it_to_backoff_not_unschedulable() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("p", 0));
        let p = q.pop().await.unwrap();
        q.move_all_to_active_or_backoff("NodeAdd"); // a node came while we were filtering
        q.add_unschedulable(&p.pod.metadata.key());
        assert_eq!(q.place("default/p"), Some(Place::Backoff));
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_are_retried_after_five_minutes_anyway() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("p", 0));
        let p = q.pop().await.unwrap();
        q.add_unschedulable(&p.pod.metadata.key());
        let start = Instant::now();
        assert_eq!(pop_name(&q).await, "p");
        assert_eq!(start.elapsed(), MAX_IN_UNSCHEDULABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn deleted_pods_leave_the_queue_even_in_flight() {
        let q = SchedulingQueue::default();
        q.add_or_update(pod("a", 0));
        q.add_or_update(pod("b", 0));
        q.delete("default/a");
        let b = q.pop().await.unwrap();
        q.delete("default/b");
        q.add_unschedulable(&b.pod.metadata.key()); // ignored: it is gone
        assert_eq!(q.place("default/b"), None);
        q.close();
        assert!(q.pop().await.is_none());
    }
}
