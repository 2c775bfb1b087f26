//! Test support: a private, real etcd for each test, the real kube-apiserver binary on top
//! of it ([`ApiServer`]), the real kubectl pointed at it ([`Kubectl`]), any other workspace
//! binary as a child process ([`Process`]), and — with the `sim` feature — simulated nodes
//! that keep their heartbeats fresh ([`sim::SimNodes`]).
//!
//! [`Etcd::start`] picks two free loopback ports (client and peer), makes a fresh data
//! directory under the system's temp dir, runs `/usr/bin/etcd` as a child process with its
//! output in `etcd.log` inside that directory, and waits (at most 20 s) until
//! `etcdctl endpoint health` answers. [`Etcd::stop`] and [`Etcd::restart`] kill and re-run
//! the same member (same ports, same data) so that tests can check what happens to clients
//! when etcd goes away and comes back. Dropping an [`Etcd`] kills only its own child, by
//! PID, and removes the directory.
//!
//! The API is blocking (plain `std::process`): call `restart` from a multi-threaded tokio
//! runtime or through `spawn_blocking` when other tasks must keep running meanwhile.
//!
//! ```no_run
//! let etcd = testutil::Etcd::start()?;
//! println!("etcd answers on {}", etcd.endpoint);
//! # anyhow::Ok(())
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

mod apiserver;
pub mod containerd;
pub mod netns;
pub mod registry;
pub mod netns_apiserver;
mod process;
pub mod tls;
#[cfg(feature = "sim")]
pub mod sim;
pub use apiserver::{binary, ApiServer, Kubectl};
pub use process::Process;

/// The etcd binary from Debian's `etcd-server` package.
pub const ETCD_BIN: &str = "/usr/bin/etcd";
/// The etcdctl binary from Debian's `etcd-client` package.
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";

/// How long `start`/`restart` wait for etcd to answer.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free when this returns, which is
/// good enough for tests).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports: the listeners stay open until all are picked, so that the OS
/// cannot hand out the same port twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .expect("local_addr of a bound listener")
            .port();
    }
    ports
}

/// A private etcd member running as a child process of the test.
#[derive(Debug)]
pub struct Etcd {
    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    /// The client port.
    pub port: u16,
    /// The peer port.
    pub peer_port: u16,
    /// The data directory (also holds `etcd.log`); removed on drop.
    pub dir: PathBuf,
    /// With TLS ([`Etcd::start_tls`]): CA, certificate and key, for etcd and etcdctl.
    tls: Option<tls::EtcdTls>,
    child: Option<Child>,
}

impl Etcd {
    /// Starts a fresh etcd on free loopback ports and waits until it answers.
    pub fn start() -> anyhow::Result<Etcd> {
        let [port, peer_port] = free_ports::<2>();
        let dir = unique_temp_dir()?;
        let mut etcd = Etcd {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            peer_port,
            dir,
            tls: None,
            child: None,
        };
        etcd.spawn()?;
        Ok(etcd)
    }

    /// Starts a fresh etcd as seed 003 does: `https://` client URL, `--client-cert-auth`
    /// with `--trusted-ca-file`, serving with `cert`/`key` (and etcdctl uses them too).
    pub fn start_tls(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Etcd> {
        let [port, peer_port] = free_ports::<2>();
        let dir = unique_temp_dir()?;
        let mut etcd = Etcd {
            endpoint: format!("https://127.0.0.1:{port}"),
            port,
            peer_port,
            dir,
            tls: Some(tls::EtcdTls { ca: ca.into(), cert: cert.into(), key: key.into() }),
            child: None,
        };
        etcd.spawn()?;
        Ok(etcd)
    }

    /// Kills etcd (SIGKILL: what a crash looks like to clients; etcd's WAL keeps every
    /// acknowledged write) and waits for it to exit. The data directory stays.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill etcd")?;
            child.wait().context("wait for etcd")?;
        }
        Ok(())
    }

    /// Stops etcd if it runs, then starts it again on the same ports and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// The process id of the running etcd, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The path of etcd's log file (useful in assertion messages).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("open etcd.log")?;
        let log_err = log.try_clone().context("clone etcd.log handle")?;
        let client_url = &self.endpoint;
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(ETCD_BIN)
            .arg("--name=test")
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .args(self.tls.as_ref().map(tls::EtcdTls::server_args).unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("run {ETCD_BIN}"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the port accepts connections and `etcdctl endpoint health` succeeds.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("poll etcd")? {
                    self.child = None;
                    bail!(
                        "etcd exited with {status}; see {}",
                        self.log_path().display()
                    );
                }
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.healthy() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not answer on {} within {:?}; see {}",
                    self.endpoint,
                    READY_DEADLINE,
                    self.log_path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `etcdctl` (API v3) against this member with `args`, e.g.
    /// `["compact", "42"]`; returns its output whatever the exit status.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(ETCDCTL_BIN)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(self.tls.as_ref().map(tls::EtcdTls::client_args).unwrap_or_default())
            .arg("--command-timeout=5s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {ETCDCTL_BIN}"))
    }

    fn healthy(&self) -> bool {
        Command::new(ETCDCTL_BIN)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(self.tls.as_ref().map(tls::EtcdTls::client_args).unwrap_or_default())
            .arg("--command-timeout=2s")
            .arg("endpoint")
            .arg("health")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // Only our own child, by PID (Child::kill sends SIGKILL to that PID).
        let _ = self.stop();
        let _ = remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(dir)
}

/// A new, empty directory under the temp dir, unique per process and call.
pub fn unique_temp_dir() -> anyhow::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "testutil-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_starts_restarts_and_cleans_up_after_itself() -> anyhow::Result<()> {
        let mut etcd = Etcd::start()?;
        let dir = etcd.dir.clone();
        assert!(etcd.healthy());
        etcd.restart()?;
        assert!(etcd.healthy(), "etcd answers again after a restart");
        etcd.stop()?;
        assert!(!etcd.healthy(), "a stopped etcd does not answer");
        drop(etcd);
        assert!(!dir.exists(), "the data directory is removed on drop");
        Ok(())
    }

    #[test]
    fn free_port_can_be_bound() {
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
