//! `/healthz` (`--healthz-bind-address`, 10256) and `/metrics` (`--metrics-bind-address`,
//! 10249): how operators see that the loop is alive and what each sync cost.
//!
//! `/healthz` answers 200 with upstream's JSON (`lastUpdated`, `currentTime`) when the last
//! successful sync is younger than twice the sync period, 503 otherwise. `/metrics` is in
//! Prometheus' text format, with upstream's metric names where upstream has one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube_client::CancellationToken;
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::rules::Rules;

/// What the syncs did, for `/metrics` and `/healthz`.
#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
    /// Twice this is how stale the last sync may be before `/healthz` fails.
    pub sync_period: Duration,
}

/// A copy of the counters (see [`Metrics::snapshot`]).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub syncs: u64,
    pub restores: u64,
    pub last_duration: Duration,
    pub last_restore_bytes: usize,
    pub service_ports: usize,
    pub endpoints: usize,
    pub nat_rules: usize,
    /// Syncs that rewrote every chain.
    pub full_syncs: u64,
}

#[derive(Default)]
struct State {
    syncs: u64,
    duration_sum: f64,
    last_duration: f64,
    last_sync: Option<SystemTime>,
    nat_rules: usize,
    filter_rules: usize,
    restores: u64,
    restore_failures: u64,
    last_restore_bytes: usize,
    service_ports: usize,
    endpoints: usize,
    /// (sum of seconds, count) of the syncs that wrote something, full and partial.
    full: (f64, u64),
    partial: (f64, u64),
    no_local_internal: usize,
    no_local_external: usize,
}

impl Metrics {
    pub fn new(sync_period: Duration) -> Metrics {
        Metrics { state: Mutex::default(), sync_period }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A successful sync; `restored` is the input size when it applied something, `full`
    /// whether it rewrote every chain.
    pub fn synced(&self, took: Duration, restored: Option<usize>, rules: &Rules, full: bool) {
        let mut s = self.state();
        s.syncs += 1;
        s.duration_sum += took.as_secs_f64();
        s.last_duration = took.as_secs_f64();
        s.last_sync = Some(SystemTime::now());
        s.nat_rules = rules.nat_rule_count();
        s.filter_rules = rules.filter_rule_count();
        s.service_ports = rules.service_ports;
        s.endpoints = rules.endpoints;
        s.no_local_internal = rules.no_local_endpoints_internal;
        s.no_local_external = rules.no_local_endpoints_external;
        if let Some(bytes) = restored {
            s.restores += 1;
            s.last_restore_bytes = bytes;
            let kind = if full { &mut s.full } else { &mut s.partial };
            kind.0 += took.as_secs_f64();
            kind.1 += 1;
        }
    }

    /// The figures of the last sync, for benchmarks and tests.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.state();
        Snapshot {
            syncs: s.syncs,
            restores: s.restores,
            last_duration: Duration::from_secs_f64(s.last_duration),
            last_restore_bytes: s.last_restore_bytes,
            service_ports: s.service_ports,
            endpoints: s.endpoints,
            nat_rules: s.nat_rules,
            full_syncs: s.full.1,
        }
    }

    pub fn restore_failed(&self) {
        self.state().restore_failures += 1;
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let s = self.state();
        let last = s.last_sync.map(secs).unwrap_or(0.0);
        format!(
            "# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds\n\
             # TYPE kubeproxy_sync_proxy_rules_duration_seconds summary\n\
             kubeproxy_sync_proxy_rules_duration_seconds_sum {}\n\
             kubeproxy_sync_proxy_rules_duration_seconds_count {}\n\
             # HELP kubeproxy_sync_full_proxy_rules_duration_seconds SyncProxyRules latency in seconds for full resyncs\n\
             # TYPE kubeproxy_sync_full_proxy_rules_duration_seconds summary\n\
             kubeproxy_sync_full_proxy_rules_duration_seconds_sum {}\n\
             kubeproxy_sync_full_proxy_rules_duration_seconds_count {}\n\
             # HELP kubeproxy_sync_partial_proxy_rules_duration_seconds SyncProxyRules latency in seconds for partial resyncs\n\
             # TYPE kubeproxy_sync_partial_proxy_rules_duration_seconds summary\n\
             kubeproxy_sync_partial_proxy_rules_duration_seconds_sum {}\n\
             kubeproxy_sync_partial_proxy_rules_duration_seconds_count {}\n\
             # HELP kubeproxy_sync_proxy_rules_last_duration_seconds Duration of the last sync\n\
             # TYPE kubeproxy_sync_proxy_rules_last_duration_seconds gauge\n\
             kubeproxy_sync_proxy_rules_last_duration_seconds {}\n\
             # HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were successfully synced\n\
             # TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n\
             kubeproxy_sync_proxy_rules_last_timestamp_seconds {last}\n\
             # HELP kubeproxy_sync_proxy_rules_iptables_total Total number of iptables rules owned by kube-proxy\n\
             # TYPE kubeproxy_sync_proxy_rules_iptables_total gauge\n\
             kubeproxy_sync_proxy_rules_iptables_total{{table=\"filter\"}} {}\n\
             kubeproxy_sync_proxy_rules_iptables_total{{table=\"nat\"}} {}\n\
             # HELP kubeproxy_sync_proxy_rules_iptables_restores_total Syncs that applied rules with iptables-restore\n\
             # TYPE kubeproxy_sync_proxy_rules_iptables_restores_total counter\n\
             kubeproxy_sync_proxy_rules_iptables_restores_total {}\n\
             # HELP kubeproxy_sync_proxy_rules_iptables_restore_failures_total Cumulative proxy iptables restore failures\n\
             # TYPE kubeproxy_sync_proxy_rules_iptables_restore_failures_total counter\n\
             kubeproxy_sync_proxy_rules_iptables_restore_failures_total {}\n\
             # HELP kubeproxy_sync_proxy_rules_iptables_restore_bytes Size of the last iptables-restore input\n\
             # TYPE kubeproxy_sync_proxy_rules_iptables_restore_bytes gauge\n\
             kubeproxy_sync_proxy_rules_iptables_restore_bytes {}\n\
             # HELP kubeproxy_sync_proxy_rules_service_ports Service ports programmed\n\
             # TYPE kubeproxy_sync_proxy_rules_service_ports gauge\n\
             kubeproxy_sync_proxy_rules_service_ports {}\n\
             # HELP kubeproxy_sync_proxy_rules_endpoints Ready endpoints programmed\n\
             # TYPE kubeproxy_sync_proxy_rules_endpoints gauge\n\
             kubeproxy_sync_proxy_rules_endpoints {}\n\
             # HELP kubeproxy_sync_proxy_rules_no_local_endpoints_total Number of services with a Local traffic policy and no endpoints\n\
             # TYPE kubeproxy_sync_proxy_rules_no_local_endpoints_total gauge\n\
             kubeproxy_sync_proxy_rules_no_local_endpoints_total{{traffic_policy=\"internal\"}} {}\n\
             kubeproxy_sync_proxy_rules_no_local_endpoints_total{{traffic_policy=\"external\"}} {}\n",
            s.duration_sum,
            s.syncs,
            s.full.0,
            s.full.1,
            s.partial.0,
            s.partial.1,
            s.last_duration,
            s.filter_rules,
            s.nat_rules,
            s.restores,
            s.restore_failures,
            s.last_restore_bytes,
            s.service_ports,
            s.endpoints,
            s.no_local_internal,
            s.no_local_external,
        )
    }

    /// `/healthz`: the status and upstream's body.
    pub fn healthz(&self) -> (StatusCode, String) {
        let s = self.state();
        let now = SystemTime::now();
        let healthy = s.last_sync.is_some_and(|t| now.duration_since(t).unwrap_or_default() < 2 * self.sync_period);
        let body = serde_json::json!({
            "lastUpdated": s.last_sync.map(rfc3339).unwrap_or_default(),
            "currentTime": rfc3339(now),
        });
        let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        (status, body.to_string())
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let days = d.as_secs() / 86400;
    let rem = d.as_secs() % 86400;
    let (y, m, day) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Binds `addr` now (so that a busy port fails at start-up) and serves `/healthz` and
/// `/metrics` until `cancel`.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>, cancel: CancellationToken) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!("Serving /healthz and /metrics on {}", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => { debug!("accept: {e}"); continue }
                },
                _ = cancel.cancelled() => return,
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(req, metrics.clone()));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(())
}

async fn answer(req: Request<hyper::body::Incoming>, metrics: Arc<Metrics>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" | "/livez" => {
            let (status, body) = metrics.healthz();
            (status, "application/json", body)
        }
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", metrics.render()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "404 page not found\n".to_string()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_fails_until_the_first_sync_and_metrics_count_rules() {
        let m = Metrics::new(Duration::from_secs(30));
        assert_eq!(m.healthz().0, StatusCode::SERVICE_UNAVAILABLE);
        let rules = crate::rules::build(&[], &Default::default());
        m.synced(Duration::from_millis(20), Some(1234), &rules, true);
        assert_eq!(m.healthz().0, StatusCode::OK);
        let text = m.render();
        assert!(text.contains("kubeproxy_sync_proxy_rules_iptables_total{table=\"nat\"} 5\n"), "{text}");
        assert!(text.contains("kubeproxy_sync_proxy_rules_iptables_restore_bytes 1234\n"));
        assert!(text.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count 1\n"), "{text}");
        assert!(text.contains("kubeproxy_sync_partial_proxy_rules_duration_seconds_count 0\n"), "{text}");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), "2023-11-14T22:13:20Z");
    }
}
