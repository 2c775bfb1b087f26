//! [`Process`]: any workspace binary (`kube-scheduler`, `kube-controller-manager`, ...)
//! started by a test with its arguments (on the host, or inside a test's network namespace
//! with [`Process::start_in`]), its output in a log file, and killed — by PID, only this
//! child — when dropped.
//!
//! ```no_run
//! let api = testutil::ApiServer::start()?;
//! let sched = testutil::Process::start("kube-scheduler", &[&format!("--master={}", api.url), "--secure-port=0"])?;
//! sched.wait_for_log("Caches are synced", std::time::Duration::from_secs(10))?;
//! # anyhow::Ok(())
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::netns::NetNs;
use crate::{binary, unique_temp_dir};

/// A child process running a workspace binary.
pub struct Process {
    /// The binary's name, e.g. `kube-scheduler`.
    pub name: String,
    /// Holds `<name>.log`; removed on drop.
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts the workspace binary `name` (see [`binary`]) with `args` and `RUST_LOG=info`
    /// (unless the caller's environment sets `RUST_LOG`).
    pub fn start(name: &str, args: &[&str]) -> anyhow::Result<Process> {
        Self::start_with_env(name, args, &[])
    }

    /// The same, with extra environment variables.
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Process> {
        Self::spawn(Command::new(binary(name)?), name, args, env)
    }

    /// Starts the workspace binary `name` inside the network namespace `netns` (through
    /// `nsenter`, which becomes the binary: the PID is the component's), for tests whose
    /// control plane runs there (see [`crate::netns_apiserver`]).
    pub fn start_in(netns: &NetNs, name: &str, args: &[&str]) -> anyhow::Result<Process> {
        let path = binary(name)?;
        Self::spawn(netns.command(path.to_str().context("binary path")?), name, args, &[])
    }

    fn spawn(mut cmd: Command, name: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Process> {
        let dir = unique_temp_dir()?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        cmd.args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
        Ok(Process { name: name.to_string(), dir, child: Some(child) })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits (at most `timeout`) until the log contains `needle`; fails with the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("{} did not log {needle:?} within {timeout:?}; log:\n{}", self.name, self.log())
    }

    /// SIGTERM (a graceful stop: leases released, loops drained), then waits at most
    /// `timeout` before killing.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let Some(pid) = self.pid() else { return Ok(()) };
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().context("kill -TERM")?;
        let deadline = Instant::now() + timeout;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        Ok(())
    }

    /// SIGKILL (a crash), and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
