//! The real `kube-apiserver` binary, started on a private etcd, and the real `kubectl`.
//!
//! The binaries come from the workspace's target directory: the README's test command
//! builds them (`cargo build --bins`) before running the tests. `KUBE_BIN_DIR` overrides
//! where they are looked for.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{free_port, unique_temp_dir, Etcd};

/// Where a workspace binary (`kube-apiserver`, `kubectl-lite`, ...) was built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("KUBE_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // Tests run from target/<profile>/deps/<test-binary>: the binaries are one level up.
            let exe = std::env::current_exe().context("current_exe")?;
            let deps = exe.parent().context("test binary has no parent dir")?;
            deps.parent().context("deps dir has no parent")?.to_path_buf()
        }
    };
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} not found: build the binaries first (cargo build --bins)", path.display());
    }
    Ok(path)
}

/// A kube-apiserver child process with its own etcd (or a shared one).
pub struct ApiServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub port: u16,
    /// The etcd it stores into, when it owns it.
    pub etcd: Option<Etcd>,
    pub etcd_endpoint: String,
    /// Holds `apiserver.log`.
    pub dir: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl ApiServer {
    /// A fresh etcd and an apiserver on it.
    pub fn start() -> anyhow::Result<ApiServer> {
        let etcd = Etcd::start()?;
        let endpoint = etcd.endpoint.clone();
        let mut api = ApiServer::start_on(&endpoint, &[])?;
        api.etcd = Some(etcd);
        Ok(api)
    }

    /// An apiserver on an existing etcd, with extra flags.
    pub fn start_on(etcd_endpoint: &str, extra_args: &[&str]) -> anyhow::Result<ApiServer> {
        let port = free_port();
        let mut api = ApiServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            etcd: None,
            etcd_endpoint: etcd_endpoint.to_string(),
            dir: unique_temp_dir()?,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        api.spawn()?;
        Ok(api)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.log_path())?;
        let mut cmd = Command::new(binary("kube-apiserver")?);
        cmd.arg(format!("--etcd-servers={}", self.etcd_endpoint)).arg(format!("--insecure-port={}", self.port));
        // The default range, unless the test asks for another one (a benchmark's 10,000 Services).
        if !self.extra_args.iter().any(|a| a.starts_with("--service-cluster-ip-range")) {
            cmd.arg("--service-cluster-ip-range=10.0.0.0/24");
        }
        let child = cmd
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn kube-apiserver")?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("kube-apiserver exited with {status}; log:\n{}", self.log());
                }
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("kube-apiserver did not listen within 30 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill (by PID, our child only) and start again with the same flags and port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("apiserver.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The real kubectl (`/usr/bin/kubectl`) pointed at this apiserver.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new("/usr/bin/kubectl", &self.url)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A kubectl binary with `--server` set and a private discovery cache.
pub struct Kubectl {
    pub binary: PathBuf,
    pub server: String,
    cache: PathBuf,
}

impl Kubectl {
    pub fn new(binary: impl Into<PathBuf>, server: &str) -> Kubectl {
        Kubectl {
            binary: binary.into(),
            server: server.to_string(),
            cache: unique_temp_dir().unwrap_or_else(|_| std::env::temp_dir()),
        }
    }

    /// The same server with another kubectl (e.g. `/usr/lib/google-cloud-sdk/bin/kubectl.1.27`).
    pub fn version(&self, binary: &str) -> Kubectl {
        Kubectl::new(binary, &self.server)
    }

    /// A `Command` with the server, cache dir and an empty kubeconfig set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env("KUBECONFIG", "/dev/null")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg(format!("--server={}", self.server))
            .arg(format!("--cache-dir={}", self.cache.display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Run to completion.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command(args).output().with_context(|| format!("run {}", self.binary.display()))
    }

    /// Run with `stdin` as input.
    pub fn run_with_input(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        use std::io::Write;
        let mut child = self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        child.stdin.take().context("stdin")?.write_all(stdin.as_bytes())?;
        Ok(child.wait_with_output()?)
    }

    /// Run and return stdout; fail with stderr if kubectl fails.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        if !out.status.success() {
            bail!("kubectl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run, expect failure, and return stderr.
    pub fn fails(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        if out.status.success() {
            bail!("kubectl {} succeeded but should have failed: {}", args.join(" "), String::from_utf8_lossy(&out.stdout));
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        if self.cache.starts_with(std::env::temp_dir()) && self.cache != std::env::temp_dir() {
            let _ = std::fs::remove_dir_all(&self.cache);
        }
    }
}
