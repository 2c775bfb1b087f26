//! End-to-end tests live in `tests/tests/` (one file per theme); this library holds the few
//! helpers they share: polling with a deadline, a kube-client for an [`ApiServer`], and
//! small JSON/YAML conveniences.

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
