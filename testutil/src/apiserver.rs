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
    /// Serves only its secure port (`--secure-port=port`, no insecure port).
    secure: bool,
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

    /// A fresh etcd and an apiserver on it started with extra flags
    /// (e.g. `--etcd-compaction-interval=1s`).
    pub fn start_with(extra_args: &[&str]) -> anyhow::Result<ApiServer> {
        let etcd = Etcd::start()?;
        let endpoint = etcd.endpoint.clone();
        let mut api = ApiServer::start_on(&endpoint, extra_args)?;
        api.etcd = Some(etcd);
        Ok(api)
    }

    /// An apiserver on an existing etcd, with extra flags.
    pub fn start_on(etcd_endpoint: &str, extra_args: &[&str]) -> anyhow::Result<ApiServer> {
        ApiServer::start_port(etcd_endpoint, extra_args, false)
    }

    /// An apiserver serving only its secure port on 127.0.0.1 (`url` is `https://`): the
    /// TLS flags (`--tls-cert-file`, `--client-ca-file`, `--etcd-cafile`, ...) come in
    /// `extra_args`, as on seed 003's command line.
    pub fn start_secure_on(etcd_endpoint: &str, extra_args: &[&str]) -> anyhow::Result<ApiServer> {
        ApiServer::start_port(etcd_endpoint, extra_args, true)
    }

    fn start_port(etcd_endpoint: &str, extra_args: &[&str], secure: bool) -> anyhow::Result<ApiServer> {
        let port = free_port();
        let scheme = if secure { "https" } else { "http" };
        let mut api = ApiServer {
            url: format!("{scheme}://127.0.0.1:{port}"),
            port,
            etcd: None,
            etcd_endpoint: etcd_endpoint.to_string(),
            dir: unique_temp_dir()?,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            secure,
            child: None,
        };
        api.spawn()?;
        Ok(api)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.log_path())?;
        // The seeds' range, unless the test gives its own.
        let range = if self.extra_args.iter().any(|a| a.starts_with("--service-cluster-ip-range")) {
            None
        } else {
            Some("--service-cluster-ip-range=10.0.0.0/24")
        };
        let port_flags = if self.secure {
            vec![format!("--secure-port={}", self.port), "--bind-address=127.0.0.1".to_string()]
        } else {
            vec![format!("--insecure-port={}", self.port)]
        };
        let child = Command::new(binary("kube-apiserver")?)
            .arg(format!("--etcd-servers={}", self.etcd_endpoint))
            .args(port_flags)
            .args(range)
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

/// A kubectl binary with `--server` set (or a kubeconfig) and a private discovery cache.
pub struct Kubectl {
    pub binary: PathBuf,
    pub server: String,
    /// With a kubeconfig ([`Kubectl::with_kubeconfig`]), no `--server` is passed.
    pub kubeconfig: Option<PathBuf>,
    cache: PathBuf,
}

impl Kubectl {
    pub fn new(binary: impl Into<PathBuf>, server: &str) -> Kubectl {
        Kubectl {
            binary: binary.into(),
            server: server.to_string(),
            kubeconfig: None,
            cache: unique_temp_dir().unwrap_or_else(|_| std::env::temp_dir()),
        }
    }

    /// kubectl reading `kubeconfig` (`KUBECONFIG=...`): server and credentials come from it.
    pub fn with_kubeconfig(binary: impl Into<PathBuf>, kubeconfig: &std::path::Path) -> Kubectl {
        let mut k = Kubectl::new(binary, "");
        k.kubeconfig = Some(kubeconfig.to_path_buf());
        k
    }

    /// The same server with another kubectl (e.g. `/usr/lib/google-cloud-sdk/bin/kubectl.1.27`).
    pub fn version(&self, binary: &str) -> Kubectl {
        let mut k = Kubectl::new(binary, &self.server);
        k.kubeconfig = self.kubeconfig.clone();
        k
    }

    /// A `Command` with the server, cache dir and an empty kubeconfig set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        match &self.kubeconfig {
            Some(path) => cmd.env("KUBECONFIG", path),
            None => cmd.env("KUBECONFIG", "/dev/null").arg(format!("--server={}", self.server)),
        };
        cmd.env_remove("KUBERNETES_SERVICE_HOST")
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
