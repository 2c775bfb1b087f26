//! The scheduler's `/metrics`, in the Prometheus text format, with upstream's names:
//! `scheduler_schedule_attempts_total{result}`, `scheduler_pending_pods{queue}`, and the
//! sums and counts of `scheduler_scheduling_algorithm_duration_seconds` (filter + score)
//! and `scheduler_binding_duration_seconds` (the `pods/binding` round trip). Upstream
//! exports histograms; sums and counts are enough for a mean, and cost two atomics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Counters, written by the scheduling loop and read by the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    pub scheduled: AtomicU64,
    pub unschedulable: AtomicU64,
    pub error: AtomicU64,
    algorithm_nanos: AtomicU64,
    algorithm_count: AtomicU64,
    binding_nanos: AtomicU64,
    binding_count: AtomicU64,
    /// (active, backoff, unschedulable), refreshed by the loop.
    pub pending: [AtomicU64; 3],
}

impl Metrics {
    pub fn observe_algorithm(&self, d: Duration) {
        self.algorithm_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
        self.algorithm_count.fetch_add(1, Relaxed);
    }

    pub fn observe_binding(&self, d: Duration) {
        self.binding_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
        self.binding_count.fetch_add(1, Relaxed);
    }

    pub fn set_pending(&self, (active, backoff, unschedulable): (usize, usize, usize)) {
        for (gauge, v) in self.pending.iter().zip([active, backoff, unschedulable]) {
            gauge.store(v as u64, Relaxed);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE scheduler_schedule_attempts_total counter");
        for (result, c) in [("scheduled", &self.scheduled), ("unschedulable", &self.unschedulable), ("error", &self.error)] {
            let _ = writeln!(out, "scheduler_schedule_attempts_total{{profile=\"default-scheduler\",result=\"{result}\"}} {}", c.load(Relaxed));
        }
        let _ = writeln!(out, "# TYPE scheduler_pending_pods gauge");
        for (queue, g) in ["active", "backoff", "unschedulable"].iter().zip(&self.pending) {
            let _ = writeln!(out, "scheduler_pending_pods{{queue=\"{queue}\"}} {}", g.load(Relaxed));
        }
        for (name, sum, count) in [
            ("scheduler_scheduling_algorithm_duration_seconds", &self.algorithm_nanos, &self.algorithm_count),
            ("scheduler_binding_duration_seconds", &self.binding_nanos, &self.binding_count),
        ] {
            let _ = writeln!(out, "# TYPE {name} summary");
            let _ = writeln!(out, "{name}_sum {}", sum.load(Relaxed) as f64 / 1e9);
            let _ = writeln!(out, "{name}_count {}", count.load(Relaxed));
        }
        out
    }
}
