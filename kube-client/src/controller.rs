//! The runner: N workers that take keys from a [`WorkQueue`] and call `reconcile(key)` —
//! upstream's `Run` / `runWorker` / `processNextWorkItem`, kube-rs' `Controller::run`.
//!
//! ```text
//!   wait for caches to sync ──▶ N × worker:  loop {
//!                                   key = queue.get()            // never one key twice at once
//!                                   match reconcile(key) {
//!                                       Ok(Done)             => queue.forget(key)
//!                                       Ok(RequeueAfter(d))  => queue.forget(key); queue.add_after(key, d)
//!                                       Err(e) or a panic    => log e with the key; queue.add_rate_limited(key)
//!                                   }
//!                                   queue.done(key)              // re-queues it if it changed meanwhile
//!                               }
//! ```
//!
//! - `reconcile` is given a **key**, not an event: it must read the cache and compare the
//!   desired with the actual state each time (level-triggered, idempotent).
//! - An **error** means "try again later, with back-off": it is logged with the key.
//!   Permanent problems should be logged and answered with `Ok(Done)` instead.
//! - A **panic** in one reconcile is caught (each call runs in its own task; the panic comes
//!   back as a `JoinError`): it is logged, the key is retried with back-off, and the process
//!   and the other workers go on.
//! - Workers start only once every cache has **synced**: a loop acting on a half-filled
//!   cache would see objects as missing and create them again.
//! - On **cancellation** the queue shuts down; each worker finishes its current reconcile
//!   and stops; [`Controller::run`] returns when all have.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::store::HasSynced;
use crate::workqueue::WorkQueue;

/// What a successful reconcile asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change.
    Done,
    /// Look again after this long even if nothing changes (e.g. a deadline to check).
    RequeueAfter(Duration),
}

/// A named loop over one work queue.
pub struct Controller {
    name: String,
    queue: WorkQueue,
    workers: usize,
    caches: Vec<HasSynced>,
}

impl Controller {
    /// A controller called `name` (e.g. `replicaset`) reading keys from `queue`.
    pub fn new(name: &str, queue: WorkQueue) -> Controller {
        Controller {
            name: name.to_string(),
            queue,
            workers: 1,
            caches: Vec::new(),
        }
    }

    /// How many keys may be reconciled at once (upstream: `--concurrent-*-syncs`).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// A cache that must have synced before the first reconcile.
    pub fn wait_for(mut self, cache: HasSynced) -> Self {
        self.caches.push(cache);
        self
    }

    /// Runs the workers until `cancel`. Returns when every worker has stopped.
    pub async fn run<F, Fut, E>(self, reconcile: F, cancel: CancellationToken)
    where
        F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let Controller {
            name,
            queue,
            workers,
            caches,
        } = self;
        info!("Starting {name} controller");
        // Shutting the queue down is what stops the workers.
        let stopper = tokio::spawn({
            let (queue, cancel) = (queue.clone(), cancel.clone());
            async move {
                cancel.cancelled().await;
                queue.shut_down();
            }
        });
        info!("Waiting for caches to sync for {name}");
        let all_synced = futures::future::join_all(caches.iter().map(HasSynced::wait));
        tokio::select! {
            _ = all_synced => info!("Caches are synced for {name}"),
            _ = cancel.cancelled() => {
                info!("Shutting down {name} controller before its caches synced");
                return;
            }
        }
        let handles: Vec<_> = (0..workers)
            .map(|_| tokio::spawn(worker(name.clone(), queue.clone(), reconcile.clone())))
            .collect();
        for h in handles {
            let _ = h.await;
        }
        stopper.abort();
        info!("Shutting down {name} controller");
    }
}

async fn worker<F, Fut, E>(name: String, queue: WorkQueue, reconcile: F)
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    while let Some(key) = queue.get().await {
        let span = info_span!("reconcile", controller = %name, key = %key);
        // Its own task, so that a panic is caught as a JoinError rather than unwinding us.
        let outcome = tokio::spawn(reconcile(key.clone()).instrument(span)).await;
        match outcome {
            Ok(Ok(Action::Done)) => {
                debug!(%key, "synced");
                queue.forget(&key);
            }
            Ok(Ok(Action::RequeueAfter(after))) => {
                debug!(%key, ?after, "synced; requeue requested");
                queue.forget(&key);
                queue.add_after(key.clone(), after);
            }
            Ok(Err(e)) => {
                warn!("error syncing {name} {key:?}, requeuing: {e}");
                queue.add_rate_limited(key.clone());
            }
            Err(join) if join.is_panic() => {
                error!("reconcile of {name} {key:?} panicked, requeuing: {join}");
                queue.add_rate_limited(key.clone());
            }
            Err(join) => {
                // Cancelled: only happens when the runtime shuts down.
                debug!("reconcile of {name} {key:?} was cancelled: {join}");
            }
        }
        queue.done(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn errors_are_retried_with_back_off_and_a_panic_does_not_stop_the_workers() {
        let queue = WorkQueue::new();
        let calls: Arc<Mutex<Vec<String>>> = Arc::default();
        let cancel = CancellationToken::new();
        let reconcile = {
            let calls = calls.clone();
            move |key: String| {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut c = calls.lock().unwrap();
                        c.push(key.clone());
                        c.iter().filter(|k| **k == key).count()
                    };
                    match key.as_str() {
                        "panics" if n == 1 => panic!("boom"),
                        "fails" if n < 3 => Err(format!("attempt {n} failed")),
                        _ => Ok(Action::Done),
                    }
                }
            }
        };
        queue.add("panics");
        queue.add("fails");
        let run = tokio::spawn(
            Controller::new("test", queue.clone())
                .workers(2)
                .run(reconcile, cancel.clone()),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        {
            let c = calls.lock().unwrap();
            assert_eq!(c.iter().filter(|k| *k == "panics").count(), 2, "retried after the panic");
            assert_eq!(c.iter().filter(|k| *k == "fails").count(), 3, "retried until it succeeded");
        }
        assert_eq!(queue.num_requeues("fails"), 0, "forgotten after success");
        cancel.cancel();
        run.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn workers_wait_for_caches_and_honour_requeue_after() {
        let queue = WorkQueue::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let mut w = crate::store::Writer::<kube_api::core::Pod>::new();
        let synced = w.reader().synced();
        let reconcile = {
            let calls = calls.clone();
            move |_key: String| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(Action::RequeueAfter(Duration::from_secs(10)))
                }
            }
        };
        queue.add("k");
        let run = tokio::spawn(
            Controller::new("test", queue.clone())
                .wait_for(synced)
                .run(reconcile, cancel.clone()),
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not before the cache synced");
        w.replace(Vec::new());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "requeued after 10 s");
        cancel.cancel();
        run.await.unwrap();
    }
}
