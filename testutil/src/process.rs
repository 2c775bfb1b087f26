//! Any workspace binary as a child process of the test: started with its arguments, its
//! output in a log file, killed by PID (ours only) when dropped.
//!
//! ```no_run
//! let api = testutil::ApiServer::start()?;
//! let kcm = testutil::Process::start("kube-controller-manager", &[&format!("--master={}", api.url), "--leader-elect=false"])?;
//! println!("its log: {}", kcm.log_path().display());
//! # anyhow::Ok(())
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::{binary, unique_temp_dir};

/// A running workspace binary.
pub struct Process {
    pub name: String,
    /// Holds `<name>.log`; removed on drop.
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Process {
    /// Starts the workspace binary `name` with `args` (`RUST_LOG=info` unless set).
    pub fn start(name: &str, args: &[&str]) -> anyhow::Result<Process> {
        let mut p = Process {
            name: name.to_string(),
            dir: unique_temp_dir()?,
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let child = Command::new(binary(&self.name)?)
            .args(&self.args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL to our child (by PID), and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again with the same arguments (the log is appended to).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("KEEP_TEST_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
