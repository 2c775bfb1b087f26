//! The work queue: keys waiting to be reconciled — client-go's `workqueue` (the plain
//! queue, the delaying queue and the rate-limiting queue in one type).
//!
//! Why a queue of **keys** and not of events: a loop is level-triggered. Ten changes to
//! `default/web` while a worker is busy need *one* reconcile that reads the latest state,
//! not ten that replay history. The queue guarantees:
//!
//! 1. **De-duplication while waiting** (`dirty` set): adding a key that is already waiting
//!    does nothing.
//! 2. **No key is processed by two workers at once** (`processing` set): [`WorkQueue::get`]
//!    never hands out a key that is being processed.
//! 3. **A key changed during processing is processed again**: adding a key that is being
//!    processed marks it dirty; [`WorkQueue::done`] puts it back in line.
//! 4. **Retries back off per key**: [`WorkQueue::add_rate_limited`] waits 5 ms × 2^failures
//!    (at most 1000 s), and an overall token bucket (10 per second, bursts of 100) keeps a
//!    storm of failures from hammering the apiserver — client-go's default controller rate
//!    limiter is the larger of the two. [`WorkQueue::forget`] clears a key's failures after
//!    a success.
//! 5. **Delayed adds** ([`WorkQueue::add_after`]): "look again in 30 s". A key waiting for
//!    several deadlines waits for the earliest.
//! 6. **Shut down** ([`WorkQueue::shut_down`]): adds are ignored and `get` answers `None` at
//!    once, so workers finish the reconcile they are in and stop. What is left is not lost:
//!    level-triggered loops (or the next leader) find it again from the cache.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A cloneable handle on one queue.
#[derive(Clone)]
pub struct WorkQueue {
    inner: Arc<Inner>,
}

struct Inner {
    // A std mutex: held only for set operations, never across an `.await`.
    state: Mutex<State>,
    /// Wakes a worker waiting in `get`.
    notify: Notify,
    limiter: Mutex<RateLimiter>,
}

#[derive(Default)]
struct State {
    /// Keys in line, in order.
    queue: VecDeque<String>,
    /// Keys that need processing: in line, or changed while being processed.
    dirty: HashSet<String>,
    /// Keys a worker holds.
    processing: HashSet<String>,
    /// Keys waiting for a delayed add, and when.
    waiting: HashMap<String, Instant>,
    shutting_down: bool,
}

impl Default for WorkQueue {
    fn default() -> Self {
        WorkQueue::new()
    }
}

impl WorkQueue {
    /// A queue with client-go's default controller rate limiter.
    pub fn new() -> WorkQueue {
        WorkQueue::with_rate_limiter(RateLimiter::default())
    }

    pub fn with_rate_limiter(limiter: RateLimiter) -> WorkQueue {
        WorkQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                limiter: Mutex::new(limiter),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `key` as needing processing (rules 1 and 3).
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut st = self.state();
        if st.shutting_down || st.dirty.contains(&key) {
            return;
        }
        st.dirty.insert(key.clone());
        if st.processing.contains(&key) {
            return; // `done` will put it back in line.
        }
        st.queue.push_back(key);
        drop(st);
        self.inner.notify.notify_one();
    }

    /// Adds `key` after `delay` (rule 5).
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        {
            let mut st = self.state();
            if st.shutting_down {
                return;
            }
            match st.waiting.get(&key) {
                Some(earlier) if *earlier <= at => return,
                _ => {
                    st.waiting.insert(key.clone(), at);
                }
            }
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let due = {
                let mut st = queue.state();
                // Only the timer of the current (earliest) deadline adds the key.
                if st.waiting.get(&key) == Some(&at) {
                    st.waiting.remove(&key);
                    true
                } else {
                    false
                }
            };
            if due {
                queue.add(key);
            }
        });
    }

    /// Adds `key` after its back-off (rule 4): call this when a reconcile failed.
    pub fn add_rate_limited(&self, key: impl Into<String>) {
        let key = key.into();
        let delay = self.limiter().when(&key);
        self.add_after(key, delay);
    }

    /// Forgets the failures of `key`: call this when a reconcile succeeded.
    pub fn forget(&self, key: &str) {
        self.limiter().forget(key);
    }

    /// How many times in a row `key` has failed.
    pub fn num_requeues(&self, key: &str) -> u32 {
        self.limiter().failures(key)
    }

    fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        self.inner.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a key to process; `None` once the queue is shut down. The caller owns the
    /// key until it calls [`WorkQueue::done`] (rule 2).
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before looking, so that an `add` in between is not missed.
            notified.as_mut().enable();
            {
                let mut st = self.state();
                if st.shutting_down {
                    return None;
                }
                if let Some(key) = st.queue.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    let more = !st.queue.is_empty();
                    drop(st);
                    if more {
                        // Pass the baton: another worker may take the next key.
                        self.inner.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// The worker is done with `key`; if it changed meanwhile, it goes back in line (rule 3).
    pub fn done(&self, key: &str) {
        let mut st = self.state();
        st.processing.remove(key);
        if st.dirty.contains(key) && !st.shutting_down {
            st.queue.push_back(key.to_string());
            drop(st);
            self.inner.notify.notify_one();
        }
    }

    /// Keys in line (not counting those being processed or waiting for a delay).
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue (rule 6).
    pub fn shut_down(&self) {
        self.state().shutting_down = true;
        self.inner.notify.notify_waiters();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.state().shutting_down
    }
}

/// client-go's `DefaultControllerRateLimiter`: the larger of a per-key exponential back-off
/// and an overall token bucket.
#[derive(Debug)]
pub struct RateLimiter {
    base: Duration,
    max: Duration,
    failures: HashMap<String, u32>,
    bucket: TokenBucket,
}

impl Default for RateLimiter {
    /// 5 ms doubling to 1000 s per key; 10 per second, bursts of 100, overall.
    fn default() -> Self {
        RateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
            10.0,
            100,
        )
    }
}

impl RateLimiter {
    pub fn new(base: Duration, max: Duration, qps: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            base,
            max,
            failures: HashMap::new(),
            bucket: TokenBucket::new(qps, burst),
        }
    }

    /// How long `key` waits before its next try; counts one more failure.
    pub fn when(&mut self, key: &str) -> Duration {
        let n = self.failures.entry(key.to_string()).or_insert(0);
        let exp = 2f64.powi((*n).min(64) as i32);
        *n += 1;
        let per_key = self.base.mul_f64(exp).min(self.max);
        per_key.max(self.bucket.reserve())
    }

    pub fn forget(&mut self, key: &str) {
        self.failures.remove(key);
    }

    pub fn failures(&self, key: &str) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

/// `qps` tokens per second, at most `burst` saved up. Each retry takes one; when there is
/// none, the retry waits for the time the next token takes (a reservation, as Go's
/// `rate.Limiter.Reserve`).
#[derive(Debug)]
struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(qps: f64, burst: u32) -> TokenBucket {
        TokenBucket {
            qps,
            burst: burst as f64,
            tokens: burst as f64,
            last: Instant::now(),
        }
    }

    fn reserve(&mut self) -> Duration {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_key_added_many_times_while_waiting_is_processed_once() {
        let q = WorkQueue::new();
        for _ in 0..5 {
            q.add("default/web");
        }
        q.add("default/db");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("default/web"));
        assert_eq!(q.get().await.as_deref(), Some("default/db"));
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_being_processed_is_not_handed_to_a_second_worker() {
        let q = WorkQueue::new();
        q.add("k");
        let first = q.get().await.unwrap();
        q.add("k"); // changed while processed: dirty, but not in line
        assert!(q.is_empty());
        let second = tokio::time::timeout(Duration::from_secs(1), q.get()).await;
        assert!(second.is_err(), "a second worker must not get {first} now");
        q.done(&first);
        // Rule 3: the change made during processing is processed again.
        assert_eq!(q.get().await.as_deref(), Some("k"));
    }

    #[tokio::test(start_paused = true)]
    async fn done_without_a_new_add_does_not_requeue() {
        let q = WorkQueue::new();
        q.add("k");
        let k = q.get().await.unwrap();
        q.done(&k);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn many_workers_never_hold_the_same_key_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let q = WorkQueue::new();
        let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
        let handled = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (q, busy, handled) = (q.clone(), busy.clone(), handled.clone());
            workers.push(tokio::spawn(async move {
                while let Some(k) = q.get().await {
                    assert!(busy.lock().unwrap().insert(k.clone()), "{k} held twice");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    busy.lock().unwrap().remove(&k);
                    handled.fetch_add(1, Ordering::SeqCst);
                    q.done(&k);
                }
            }));
        }
        for round in 0..20 {
            for k in ["a", "b", "c"] {
                q.add(k);
            }
            tokio::time::sleep(Duration::from_millis(3 + round % 7)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        q.shut_down();
        for w in workers {
            w.await.unwrap();
        }
        assert!(handled.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn per_key_back_off_doubles_from_5ms_to_1000s_and_forget_resets_it() {
        // A bucket large enough not to interfere.
        let mut rl = RateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
            1e9,
            1_000_000,
        );
        let got: Vec<Duration> = (0..4).map(|_| rl.when("k")).collect();
        assert_eq!(
            got,
            [5, 10, 20, 40].map(Duration::from_millis),
            "5 ms, doubling"
        );
        assert_eq!(rl.when("other"), Duration::from_millis(5), "per key");
        for _ in 0..40 {
            rl.when("k");
        }
        assert_eq!(rl.when("k"), Duration::from_secs(1000), "capped");
        rl.forget("k");
        assert_eq!(rl.failures("k"), 0);
        assert_eq!(rl.when("k"), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_bucket_allows_a_burst_of_100_then_10_per_second() {
        let mut rl = RateLimiter::default();
        // 100 different keys fail once: each waits only its own 5 ms.
        for i in 0..100 {
            assert_eq!(rl.when(&format!("k{i}")), Duration::from_millis(5));
        }
        // The 101st waits for a token: 100 ms at 10 per second; the next, 200 ms.
        assert_eq!(rl.when("k100"), Duration::from_millis(100));
        assert_eq!(rl.when("k101"), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(rl.when("k102"), Duration::from_millis(5), "refilled");
    }

    #[tokio::test(start_paused = true)]
    async fn add_rate_limited_waits_longer_after_each_failure() {
        let q = WorkQueue::new();
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..4 {
            q.add_rate_limited("k");
            let k = q.get().await.unwrap();
            waits.push(start.elapsed());
            q.done(&k);
        }
        assert_eq!(waits, [5, 15, 35, 75].map(Duration::from_millis));
        assert_eq!(q.num_requeues("k"), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_arrive_after_their_delay_and_the_earliest_deadline_wins() {
        let q = WorkQueue::new();
        let start = Instant::now();
        q.add_after("late", Duration::from_secs(10));
        q.add_after("k", Duration::from_secs(5));
        q.add_after("k", Duration::from_secs(2)); // earlier: replaces
        q.add_after("k", Duration::from_secs(8)); // later: ignored
        assert!(q.is_empty());
        assert_eq!(q.get().await.as_deref(), Some("k"));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        q.done("k");
        assert_eq!(q.get().await.as_deref(), Some("late"));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        q.done("late");
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(q.is_empty(), "k came once, not at 5 s and 8 s as well");
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_wakes_waiting_workers_and_ignores_adds() {
        let q = WorkQueue::new();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
        q.add("k");
        assert!(q.is_empty());
        assert_eq!(q.get().await, None);
    }
}
