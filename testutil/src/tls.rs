//! TLS everywhere, as seed 003: certificates made by the `kube-certs` library in a temp
//! dir ([`Certs`]), etcd with client-certificate authentication ([`crate::Etcd::start_tls`]),
//! the apiserver on its secure port ([`crate::ApiServer::start_secure_on`]), and the
//! kubeconfig seed 003 builds with `kubectl config` ([`seed_003_kubeconfig`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::unique_temp_dir;

/// A cluster's certificates (`DIR/certs/ca.pem`, `admin.pem`, ...) and kubeconfigs
/// (`DIR/admin.conf`, ...), as `kube-certs` writes them; removed on drop.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// Everything `kube-certs --node NODE` makes, for each of `nodes`.
    pub fn generate(nodes: &[&str]) -> anyhow::Result<Certs> {
        let dir = unique_temp_dir()?;
        kube_certs::cluster::Plan {
            cert_dir: dir.join("certs"),
            kubeconfig_dir: dir.clone(),
            server: "https://127.0.0.1:6443".into(),
            cluster_name: "kubernetes".into(),
            service_ip: [10, 0, 0, 1].into(),
            apiserver_sans: vec![],
            nodes: nodes.iter().map(|n| (n.to_string(), vec![])).collect(),
            force: false,
        }
        .run()
        .context("generate certificates")?;
        Ok(Certs { dir })
    }

    /// `DIR/certs/NAME` (e.g. `ca.pem`, `admin-key.pem`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join("certs").join(name)
    }

    /// The path as a string, for command lines.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What etcd serves with and trusts (and etcdctl dials with).
#[derive(Clone, Debug)]
pub struct EtcdTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl EtcdTls {
    /// Seed 003's etcd flags.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--client-cert-auth".into(),
            format!("--trusted-ca-file={}", self.ca.display()),
            format!("--cert-file={}", self.cert.display()),
            format!("--key-file={}", self.key.display()),
        ]
    }

    pub fn client_args(&self) -> Vec<String> {
        vec![
            format!("--cacert={}", self.ca.display()),
            format!("--cert={}", self.cert.display()),
            format!("--key={}", self.key.display()),
        ]
    }
}

/// Runs seed 003's four `kubectl config` commands (with the real kubectl) and returns the
/// kubeconfig they wrote at `path`: cluster `demystifions-kubernetes` with the embedded
/// CA, user `admin` with the embedded certificate and key, context `admin`.
pub fn seed_003_kubeconfig(path: &Path, ca: &Path, cert: &Path, key: &Path, server: &str) -> anyhow::Result<PathBuf> {
    let steps: [Vec<String>; 4] = [
        vec![
            "set-cluster".into(),
            "demystifions-kubernetes".into(),
            format!("--certificate-authority={}", ca.display()),
            "--embed-certs=true".into(),
            format!("--server={server}"),
        ],
        vec![
            "set-credentials".into(),
            "admin".into(),
            "--embed-certs=true".into(),
            format!("--client-certificate={}", cert.display()),
            format!("--client-key={}", key.display()),
        ],
        vec!["set-context".into(), "admin".into(), "--cluster=demystifions-kubernetes".into(), "--user=admin".into()],
        vec!["use-context".into(), "admin".into()],
    ];
    for step in steps {
        let out = Command::new("/usr/bin/kubectl").env("KUBECONFIG", path).arg("config").args(&step).output().context("run kubectl config")?;
        if !out.status.success() {
            bail!("kubectl config {} failed: {}", step.join(" "), String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(path.to_path_buf())
}
