//! etcd and the real `kube-apiserver` started *inside* a test's network namespace, for tests
//! whose kubelet runs there too: a process in a network namespace cannot reach the host's
//! 127.0.0.1, so the whole control plane joins it. Nothing listens on the host, so the
//! namespace's ports are all free: etcd takes 2379/2380 and the apiserver seed 000's 8080.
//!
//! The test talks to the apiserver with the real kubectl run through `nsenter`
//! ([`NetnsApiServer::kubectl`]). Dropping it kills both children, by PID, and removes the
//! directory.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::netns::NetNs;
use crate::{binary, unique_temp_dir, Kubectl, ETCD_BIN};

/// The apiserver's port inside the namespace (seed 000's `--api-servers=127.0.0.1:8080`).
pub const PORT: u16 = 8080;

pub struct NetnsApiServer {
    /// `http://127.0.0.1:8080`, as seen from inside the namespace.
    pub url: String,
    /// Holds etcd's data, `etcd.log`, `apiserver.log` and the kubectl wrapper.
    pub dir: std::path::PathBuf,
    netns_path: String,
    etcd: Option<Child>,
    apiserver: Option<Child>,
}

impl NetnsApiServer {
    /// Starts etcd, then the apiserver, in `netns`, and waits until the apiserver answers.
    pub fn start_in(netns: &NetNs) -> anyhow::Result<NetnsApiServer> {
        let dir = unique_temp_dir()?;
        let mut me = NetnsApiServer {
            url: format!("http://127.0.0.1:{PORT}"),
            dir: dir.clone(),
            netns_path: netns.path(),
            etcd: None,
            apiserver: None,
        };
        let log = |name: &str| std::fs::File::create(dir.join(name));
        let etcd_log = log("etcd.log")?;
        me.etcd = Some(
            netns
                .command(ETCD_BIN)
                .arg("--name=test")
                .arg(format!("--data-dir={}", dir.join("etcd").display()))
                .args(["--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379"])
                .args(["--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380"])
                .arg("--initial-cluster=test=http://127.0.0.1:2380")
                .stdin(Stdio::null())
                .stdout(etcd_log.try_clone()?)
                .stderr(etcd_log)
                .spawn()
                .context("start etcd in the namespace")?,
        );
        me.wait_for("etcd", "http://127.0.0.1:2379/health")?;
        let api_log = log("apiserver.log")?;
        me.apiserver = Some(
            netns
                .command(binary("kube-apiserver")?.to_str().context("path")?)
                .arg("--etcd-servers=http://127.0.0.1:2379")
                .arg(format!("--insecure-port={PORT}"))
                .arg("--service-cluster-ip-range=10.0.0.0/24")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(api_log.try_clone()?)
                .stderr(api_log)
                .spawn()
                .context("start kube-apiserver in the namespace")?,
        );
        me.wait_for("kube-apiserver", &format!("{}/api/v1/namespaces", me.url))?;
        Ok(me)
    }

    /// Polls `url` with curl from inside the namespace until it answers 200 (30 s at most).
    fn wait_for(&self, what: &str, url: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::process::Command::new("nsenter")
                .arg(format!("--net={}", self.netns_path))
                .args(["curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url])
                .output()
                .context("run curl in the namespace")?;
            if out.stdout == b"200" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{what} did not answer on {url} within 30 s; logs in {}:\n{}", self.dir.display(), self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The apiserver's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("apiserver.log")).unwrap_or_default()
    }

    /// The real kubectl, run inside the namespace: a two-line wrapper script around
    /// `nsenter --net=... /usr/bin/kubectl`, so that [`Kubectl`]'s helpers work unchanged.
    pub fn kubectl(&self) -> anyhow::Result<Kubectl> {
        use std::os::unix::fs::PermissionsExt;
        let script = self.dir.join("kubectl");
        let text = format!("#!/bin/sh\nexec nsenter --net={} /usr/bin/kubectl \"$@\"\n", self.netns_path);
        std::fs::write(&script, text)?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        Ok(Kubectl::new(script, &self.url))
    }
}

impl Drop for NetnsApiServer {
    fn drop(&mut self) {
        // Our own children only, by PID (nsenter execs the program: same PID).
        for child in [self.apiserver.take(), self.etcd.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
