//! Network namespaces for tests that use pod or service addresses: everything with private
//! addresses must stay inside a namespace the test creates (see ENVIRONMENT.md). Enter it
//! with `nsenter --net=/var/run/netns/NAME` ([`NetNs::command`]), never `ip netns exec`
//! (which remounts /sys and hides the cgroups runc needs).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context};

/// A named network namespace with `lo` up, deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// Creates `NAME-PID-N` (unique per process and call) and brings `lo` up.
    pub fn create(name: &str) -> anyhow::Result<NetNs> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = NetNs { name };
        run(ns.command("ip").args(["link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    /// `/var/run/netns/NAME`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a command to completion and fails with its stderr when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
