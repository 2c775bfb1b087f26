//! End-to-end tests: the real apiserver binary on a real etcd, driven by the real kubectl
//! and by kube-client. Each test starts its own [`ApiServer`] (private etcd, free port), so
//! tests run in parallel; every wait has a deadline.
//!
//! | file | what it proves |
//! |------|----------------|
//! | `tests/smoke.rs` | a fresh apiserver answers kubectl |
//! | `tests/kubectl.rs` | the seeds' kubectl commands (1.32, 1.27, 1.33), their output and error messages |
//! | `tests/watch.rs` | replay from an old version, no loss or duplicate across an etcd restart, 410 after compaction, selectors |
//! | `tests/concurrency.rs` | one winner among concurrent updates; ClusterIPs unique across two apiservers, released on delete |
//! | `tests/kubectl_protobuf.rs` | kubectl's generators (`create deployment`, `namespace`, `secret`, ...) send protobuf bodies; they are decoded and stored |
//! | `tests/lab.rs` | `hack/lab.sh`: two nodes in network namespaces — pod to pod across nodes, ClusterIP and NodePort from every node, a lost node's pods recreated elsewhere; the Vagrant units' command lines |
//! | `tests/semantics.rs` | graceful deletion, finalizers, binding, generateName, dry run, YAML, paging, selectors, 4xx answers, readyz, metrics |
//!
//! The seeds' manifests are in `manifests/`. The benchmark is `examples/bench_apiserver.rs`
//! (`cargo run --release -p e2e --example bench_apiserver`), not a test.
//!
//! This library holds the few helpers the files share: polling with a deadline, a
//! kube-client for an [`ApiServer`], `curl`, and small JSON conveniences.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kube_client::{Client, Config};
use serde_json::Value;
use testutil::ApiServer;

/// A kube-client pointed at `api` (user agent `e2e`).
pub fn client(api: &ApiServer) -> anyhow::Result<Client> {
    Ok(Client::new(Config::from_server(&api.url)?.with_user_agent("e2e"))?)
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(t) = check() {
            return Ok(t);
        }
        if Instant::now() > until {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses kubectl's `-o json` output.
pub fn json(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("not JSON:\n{text}"))
}

/// The string at a JSON pointer, or "".
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `curl` (installed on the machine) with `args`; returns (HTTP code, body).
pub fn curl(args: &[&str]) -> anyhow::Result<(u16, String)> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .context("run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok((code.trim().parse().with_context(|| format!("curl: no status in {text:?}; {}", String::from_utf8_lossy(&out.stderr)))?, body.to_string()))
}
