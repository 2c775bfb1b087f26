//! Probes: liveness, readiness and startup checks of running containers (upstream's
//! `pkg/kubelet/prober`: a manager and one worker per probe).
//!
//! - **Observes**: each relist, the sync loop calls [`Prober::sync`] with the desired pods
//!   and what runs; every running container with a probe gets a worker.
//! - **Key**: (container ID, [`Kind`]). One worker task per key; a restarted container has a
//!   new ID, hence new workers starting from the initial result.
//! - **Does**: a worker waits `initialDelaySeconds` after the container started, then runs
//!   the probe every `periodSeconds`, giving it `timeoutSeconds`: `exec` through CRI
//!   ExecSync (exit code 0 is success), `httpGet` from the kubelet's network namespace to
//!   the pod IP (a status in 200..400 is success), `tcpSocket` (a connection is success).
//!   The result flips after `successThreshold` consecutive successes or `failureThreshold`
//!   consecutive failures ([`Counter`]).
//! - **Writes**: the results, read by the loop as a [`Results`] snapshot: readiness makes a
//!   container `ready` (and the pod Ready/ContainersReady); startup makes it `started` and
//!   holds back liveness and readiness until it succeeds; a failed liveness or startup probe
//!   makes [`crate::actions`] kill the container, which restarts it per `restartPolicy`.
//! - **Stops**: when its container no longer runs ([`Prober::sync`] aborts it), or, for a
//!   startup probe, once it has succeeded.
//!
//! Initial results are upstream's: readiness fails until the first success, liveness
//! succeeds until proven otherwise, startup is unknown (not started).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kube_api::core::{Container, IntOrString, Pod, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::cri::Cri;
use crate::runtime_pods::{RuntimePod, State};

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }

    fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            Kind::Liveness => c.liveness_probe.as_ref(),
            Kind::Readiness => c.readiness_probe.as_ref(),
            Kind::Startup => c.startup_probe.as_ref(),
        }
    }

    fn initial(self) -> Outcome {
        match self {
            Kind::Liveness => Outcome::Success,
            Kind::Readiness => Outcome::Failure,
            Kind::Startup => Outcome::Unknown,
        }
    }
}

/// A probe's current result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

/// A snapshot of every probe's result, by (container ID, kind).
#[derive(Clone, Debug, Default)]
pub struct Results(HashMap<(String, Kind), Outcome>);

impl Results {
    fn get(&self, id: &str, kind: Kind) -> Outcome {
        self.0.get(&(id.to_string(), kind)).copied().unwrap_or(kind.initial())
    }

    /// Whether container instance `id` of spec `c` has started (no startup probe, or it passed).
    pub fn started(&self, id: &str, c: &Container) -> bool {
        c.startup_probe.is_none() || self.get(id, Kind::Startup) == Outcome::Success
    }

    /// Whether it is ready: started, and no readiness probe or it passes.
    pub fn ready(&self, id: &str, c: &Container) -> bool {
        self.started(id, c) && (c.readiness_probe.is_none() || self.get(id, Kind::Readiness) == Outcome::Success)
    }

    /// Whether a liveness or startup probe has failed: the container must be restarted.
    pub fn unhealthy(&self, id: &str, c: &Container) -> Option<Kind> {
        [Kind::Liveness, Kind::Startup].into_iter().find(|&k| k.of(c).is_some() && self.get(id, k) == Outcome::Failure)
    }

    /// Sets a result (tests, and the workers).
    pub fn set(&mut self, id: &str, kind: Kind, outcome: Outcome) {
        self.0.insert((id.to_string(), kind), outcome);
    }
}

/// Consecutive successes and failures, and the result they add up to.
#[derive(Clone, Debug)]
pub struct Counter {
    pub outcome: Outcome,
    successes: i32,
    failures: i32,
}

impl Counter {
    pub fn new(kind: Kind) -> Counter {
        Counter { outcome: kind.initial(), successes: 0, failures: 0 }
    }

    /// Records one probe run; returns true when the result changed.
    pub fn record(&mut self, ok: bool, success_threshold: i32, failure_threshold: i32) -> bool {
        let before = self.outcome;
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= success_threshold.max(1) {
                self.outcome = Outcome::Success;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= failure_threshold.max(1) {
                self.outcome = Outcome::Failure;
            }
        }
        self.outcome != before
    }
}

/// The probe manager: its workers and their results. Shared by the loop through an `Arc`.
pub struct Prober {
    cri: Cri,
    /// A std Mutex: held for a lookup or an update, never across an `.await`.
    results: Arc<Mutex<Results>>,
    workers: Mutex<HashMap<(String, Kind), JoinHandle<()>>>,
}

/// What a worker needs to reach its container.
#[derive(Clone)]
struct Target {
    pod: String,
    container: Container,
    id: String,
    pod_ip: String,
    started_at: SystemTime,
}

impl Prober {
    pub fn new(cri: Cri) -> Prober {
        Prober { cri, results: Arc::default(), workers: Mutex::default() }
    }

    /// A copy of every result, for one pass of the loop.
    pub fn results(&self) -> Results {
        self.results.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts workers for running containers with probes, stops those of containers gone.
    pub fn sync(&self, desired: &HashMap<String, Pod>, actual: &HashMap<String, RuntimePod>) {
        let results = self.results();
        let mut wanted: HashMap<(String, Kind), Target> = HashMap::new();
        let mut running: HashSet<String> = HashSet::new();
        for (uid, pod) in desired {
            let Some(rt) = actual.get(uid) else { continue };
            let pod_ip = rt.latest_sandbox().map(|s| s.ip.clone()).unwrap_or_default();
            for c in &pod.spec.containers {
                let Some(inst) = rt.latest(&c.name).filter(|i| i.state == State::Running) else { continue };
                running.insert(inst.id.clone());
                let target = Target {
                    pod: format!("{}/{}", pod.metadata.namespace, pod.metadata.name),
                    container: c.clone(),
                    id: inst.id.clone(),
                    pod_ip: pod_ip.clone(),
                    started_at: SystemTime::UNIX_EPOCH + Duration::from_nanos(inst.started_at.max(0) as u64),
                };
                let started = results.started(&inst.id, c);
                for kind in [Kind::Startup, Kind::Liveness, Kind::Readiness] {
                    let needed = match kind {
                        Kind::Startup => !started,
                        _ => started,
                    };
                    if needed && kind.of(c).is_some() {
                        wanted.insert((inst.id.clone(), kind), target.clone());
                    }
                }
            }
        }
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|key, worker| {
            let keep = wanted.contains_key(key) && !worker.is_finished();
            if !keep {
                worker.abort();
            }
            keep
        });
        // Results live as long as their container runs (a passed startup probe included).
        self.results.lock().unwrap_or_else(|e| e.into_inner()).0.retain(|(id, _), _| running.contains(id));
        for (key, target) in wanted {
            if workers.contains_key(&key) {
                continue;
            }
            let (cri, results, kind) = (self.cri.clone(), self.results.clone(), key.1);
            workers.insert(key, tokio::spawn(work(cri, results, kind, target)));
        }
    }
}

/// One probe of one container, until aborted (or, for startup, until it succeeds).
async fn work(cri: Cri, results: Arc<Mutex<Results>>, kind: Kind, t: Target) {
    let Some(probe) = kind.of(&t.container).cloned() else { return };
    let initial = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
    let since_start = SystemTime::now().duration_since(t.started_at).unwrap_or_default();
    tokio::time::sleep(initial.saturating_sub(since_start)).await;
    let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    let mut counter = Counter::new(kind);
    loop {
        let outcome = match tokio::time::timeout(timeout, run(&cri, &probe, &t, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {}s", timeout.as_secs())),
        };
        if let Err(message) = &outcome {
            tracing::info!(pod = %t.pod, container = %t.container.name, "Unhealthy: {} probe failed: {message}", kind.name());
        }
        let (st, ft) = (probe.success_threshold.unwrap_or(1), probe.failure_threshold.unwrap_or(3));
        if counter.record(outcome.is_ok(), st, ft) {
            tracing::info!(pod = %t.pod, container = %t.container.name, "{} probe result: {:?}", kind.name(), counter.outcome);
            results.lock().unwrap_or_else(|e| e.into_inner()).set(&t.id, kind, counter.outcome);
        }
        if kind == Kind::Startup && counter.outcome == Outcome::Success {
            return;
        }
        tokio::time::sleep(period).await;
    }
}

/// Runs the probe's action once: `Ok` is success, `Err` says why it failed.
async fn run(cri: &Cri, probe: &Probe, t: &Target, timeout: Duration) -> Result<(), String> {
    if let Some(exec) = &probe.exec {
        let out = cri.exec_sync(&t.id, exec.command.clone(), timeout.as_secs() as i64).await.map_err(|e| e.message())?;
        if out.exit_code != 0 {
            let output = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).trim().to_string();
            return Err(format!("command {:?} exited with {}: {output}", exec.command, out.exit_code));
        }
        return Ok(());
    }
    if let Some(http) = &probe.http_get {
        let host = if http.host.is_empty() { &t.pod_ip } else { &http.host };
        let port = resolve_port(&http.port, &t.container)?;
        if http.scheme.eq_ignore_ascii_case("HTTPS") {
            return Err("HTTPS probes are not supported yet".into());
        }
        let path = if http.path.is_empty() { "/" } else { &http.path };
        let headers: String = http.http_headers.iter().map(|h| format!("{}: {}\r\n", h.name, h.value)).collect();
        return http_get(host, port, path, &headers).await;
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = if tcp.host.is_empty() { &t.pod_ip } else { &tcp.host };
        let port = resolve_port(&tcp.port, &t.container)?;
        TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
        return Ok(());
    }
    Err("the probe has no exec, httpGet or tcpSocket action".into())
}

/// A number, or the name of one of the container's ports.
fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("invalid port {p}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .find(|p| &p.name == name)
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or(format!("no container port named {name:?}")),
    }
}

/// A minimal HTTP/1.0 GET: only the status line matters.
async fn http_get(host: &str, port: u16, path: &str, headers: &str) -> Result<(), String> {
    let mut conn = TcpStream::connect((host, port)).await.map_err(|e| format!("Get \"http://{host}:{port}{path}\": {e}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\n{headers}\r\n");
    conn.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = vec![0u8; 64];
    let n = conn.read(&mut head).await.map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(format!("bad HTTP answer {line:?}"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_flip_only_after_their_thresholds() {
        // (kind, success threshold, failure threshold, runs, results after each run)
        use Outcome::*;
        let cases = [
            (Kind::Readiness, 1, 3, vec![true, false, false, false, true], vec![Success, Success, Success, Failure, Success]),
            (Kind::Liveness, 1, 2, vec![false, true, false, false], vec![Success, Success, Success, Failure]),
            (Kind::Readiness, 2, 1, vec![true, true, false], vec![Failure, Success, Failure]),
            (Kind::Startup, 1, 3, vec![false, true], vec![Unknown, Success]),
        ];
        for (kind, st, ft, runs, want) in cases {
            let mut c = Counter::new(kind);
            let got: Vec<Outcome> = runs
                .iter()
                .map(|&ok| {
                    c.record(ok, st, ft);
                    c.outcome
                })
                .collect();
            assert_eq!(got, want, "{kind:?} {st}/{ft} {runs:?}");
        }
    }

    #[test]
    fn startup_gates_readiness_and_liveness_decides_health() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "a", "startupProbe": {"exec": {"command": ["true"]}},
            "readinessProbe": {"exec": {"command": ["true"]}}, "livenessProbe": {"tcpSocket": {"port": 80}}
        }))
        .unwrap();
        let mut r = Results::default();
        assert!(!r.started("id", &c) && !r.ready("id", &c));
        r.set("id", Kind::Startup, Outcome::Success);
        assert!(r.started("id", &c) && !r.ready("id", &c), "readiness fails until it succeeds");
        r.set("id", Kind::Readiness, Outcome::Success);
        assert!(r.ready("id", &c));
        assert_eq!(r.unhealthy("id", &c), None);
        r.set("id", Kind::Liveness, Outcome::Failure);
        assert_eq!(r.unhealthy("id", &c), Some(Kind::Liveness));
        let plain = Container { name: "b".into(), ..Default::default() };
        assert!(r.ready("other", &plain), "no probes: ready once running");
    }

    #[test]
    fn named_ports_resolve_to_container_ports() {
        let c: Container =
            serde_json::from_value(serde_json::json!({"name": "a", "ports": [{"name": "http", "containerPort": 8080}]})).unwrap();
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("x".into()), &c).is_err());
    }
}
