//! The files of a cluster: which certificate for which component, with which names.
//!
//! | file | subject | used by |
//! |---|---|---|
//! | `ca.pem`, `ca-key.pem` | `CN=Kubernetes` | everyone trusts it; kcm signs with it |
//! | `admin.pem` | `CN=admin, O=system:masters` | kubectl; seed 003 also serves the apiserver and etcd with it |
//! | `kube-apiserver.pem` | `CN=kube-apiserver` | the apiserver's serving certificate |
//! | `kube-apiserver-kubelet-client.pem` | `CN=kube-apiserver-kubelet-client, O=system:masters` | apiserver → kubelet (`logs`, `exec`) |
//! | `kube-scheduler.pem` | `CN=system:kube-scheduler` | kube-scheduler |
//! | `kube-controller-manager.pem` | `CN=system:kube-controller-manager` | kube-controller-manager |
//! | `kube-proxy.pem` | `CN=system:kube-proxy` | kube-proxy |
//! | `kubelet-NODE.pem` | `CN=system:node:NODE, O=system:nodes` | the kubelet: client and serving |
//! | `sa.key`, `sa.pub` | (a key pair) | service-account token signing and checking |
//!
//! Plus a kubeconfig per client (`admin.conf`, `kube-scheduler.conf`, ...).
//!
//! **Why `127.0.0.1` must be a SAN.** Clients dial `https://127.0.0.1:6443` (and etcd at
//! `https://127.0.0.1:2379`) and check that the server's certificate names *that address*
//! in its subject alternative names. A certificate with no SAN (cfssl's default when the CSR
//! has no `hosts`, as in seed 003) fails in kubectl with `x509: certificate relies on legacy
//! Common Name field` or `cannot validate certificate for 127.0.0.1 because it doesn't contain
//! any IP SANs`. So every certificate that may serve gets `127.0.0.1`, `localhost`, and the
//! apiserver's in-cluster names.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::issue::{self, Ca, Leaf, Pair, Usage};
use crate::kubeconfig::Kubeconfig;
use crate::{Error, Result};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where certificates and keys go (`certs/`).
    pub cert_dir: PathBuf,
    /// Where kubeconfigs go (`.`).
    pub kubeconfig_dir: PathBuf,
    /// The server kubeconfigs point at.
    pub server: String,
    pub cluster_name: String,
    /// The first address of `--service-cluster-ip-range` (the `kubernetes` Service's ClusterIP).
    pub service_ip: Ipv4Addr,
    /// More names and addresses of the apiserver (its host name, its node addresses).
    pub apiserver_sans: Vec<String>,
    /// The nodes: a name and its addresses.
    pub nodes: Vec<(String, Vec<String>)>,
    /// Regenerate files that exist.
    pub force: bool,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Written(PathBuf),
    Kept(PathBuf),
}

/// The names the apiserver is reached by (its serving certificate's SANs).
pub fn apiserver_sans(service_ip: Ipv4Addr, extra: &[String]) -> Vec<String> {
    let mut sans: Vec<String> = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    sans.push(service_ip.to_string());
    for e in extra {
        if !sans.contains(e) {
            sans.push(e.clone());
        }
    }
    sans
}

/// The first usable address of a CIDR (`10.0.0.0/24` → `10.0.0.1`).
pub fn first_service_ip(cidr: &str) -> Option<Ipv4Addr> {
    let (ip, prefix) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 30)?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Some(Ipv4Addr::from((u32::from(ip) & mask) + 1))
}

/// One leaf certificate of the plan: file stem, subject, SANs, usage, and the kubeconfig
/// to write for it (if it is a client).
pub struct Entry {
    pub stem: String,
    pub leaf: Leaf,
    pub kubeconfig: Option<String>,
}

impl Plan {
    pub fn entries(&self) -> Vec<Entry> {
        let apiserver = apiserver_sans(self.service_ip, &self.apiserver_sans);
        let entry = |stem: &str, cn: &str, o: Option<&str>, sans: &[String], usage, conf: Option<&str>| Entry {
            stem: stem.to_string(),
            leaf: Leaf::new(cn, o, sans, usage),
            kubeconfig: conf.map(str::to_string),
        };
        let mut entries = vec![
            // Seed 003 serves the apiserver and etcd with it too: it needs the serving names.
            entry("admin", "admin", Some("system:masters"), &apiserver, Usage::ClientAndServer, Some("admin.conf")),
            entry("kube-apiserver", "kube-apiserver", None, &apiserver, Usage::Server, None),
            entry("kube-apiserver-kubelet-client", "kube-apiserver-kubelet-client", Some("system:masters"), &[], Usage::Client, None),
            entry("kube-scheduler", "system:kube-scheduler", None, &[], Usage::Client, Some("kube-scheduler.conf")),
            entry("kube-controller-manager", "system:kube-controller-manager", None, &[], Usage::Client, Some("kube-controller-manager.conf")),
            entry("kube-proxy", "system:kube-proxy", None, &[], Usage::Client, Some("kube-proxy.conf")),
        ];
        for (node, addresses) in &self.nodes {
            let mut sans = vec![node.clone(), "localhost".to_string(), "127.0.0.1".to_string()];
            sans.extend(addresses.iter().cloned());
            let stem = format!("kubelet-{node}");
            entries.push(entry(&stem, &format!("system:node:{node}"), Some("system:nodes"), &sans, Usage::ClientAndServer, Some(&format!("{stem}.conf"))));
        }
        entries
    }

    /// Writes every missing file (all of them with `force`), and says what it did.
    pub fn run(&self) -> Result<Vec<Outcome>> {
        create_dir(&self.cert_dir)?;
        create_dir(&self.kubeconfig_dir)?;
        let mut outcomes = Vec::new();
        let (ca_cert, ca_key) = (self.cert_dir.join("ca.pem"), self.cert_dir.join("ca-key.pem"));
        let ca = if ca_cert.exists() && ca_key.exists() && !self.force {
            outcomes.push(Outcome::Kept(ca_cert.clone()));
            Ca::from_pem(&read(&ca_cert)?, &read(&ca_key)?)?
        } else {
            let ca = Ca::new("Kubernetes")?;
            write_pair(&ca.pair, &ca_cert, &ca_key, &mut outcomes)?;
            ca
        };
        for entry in self.entries() {
            let cert = self.cert_dir.join(format!("{}.pem", entry.stem));
            let key = self.cert_dir.join(format!("{}-key.pem", entry.stem));
            let pair = if cert.exists() && key.exists() && !self.force {
                outcomes.push(Outcome::Kept(cert));
                Pair { cert_pem: read(&self.cert_dir.join(format!("{}.pem", entry.stem)))?, key_pem: read(&key)? }
            } else {
                let pair = ca.issue(&entry.leaf)?;
                write_pair(&pair, &cert, &key, &mut outcomes)?;
                pair
            };
            if let Some(name) = &entry.kubeconfig {
                let path = self.kubeconfig_dir.join(name);
                if path.exists() && !self.force {
                    outcomes.push(Outcome::Kept(path));
                    continue;
                }
                let text = Kubeconfig {
                    cluster_name: &self.cluster_name,
                    server: &self.server,
                    ca_pem: &ca.pair.cert_pem,
                    user: &entry.leaf.common_name,
                    client_cert_pem: &pair.cert_pem,
                    client_key_pem: &pair.key_pem,
                }
                .to_yaml();
                write(&path, &text, 0o600)?;
                outcomes.push(Outcome::Written(path));
            }
        }
        let (sa_key, sa_pub) = (self.cert_dir.join("sa.key"), self.cert_dir.join("sa.pub"));
        if sa_key.exists() && sa_pub.exists() && !self.force {
            outcomes.push(Outcome::Kept(sa_key));
        } else {
            let (private, public) = issue::key_pair()?;
            write_pair(&Pair { cert_pem: public, key_pem: private }, &sa_pub, &sa_key, &mut outcomes)?;
        }
        Ok(outcomes)
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.into(), source })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })
}

/// Writes a file whole (a temporary file renamed into place: never half-written).
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| Error::Io { path: path.into(), source };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A certificate (world-readable) and its key (owner only).
fn write_pair(pair: &Pair, cert: &Path, key: &Path, outcomes: &mut Vec<Outcome>) -> Result<()> {
    write(key, &pair.key_pem, 0o600)?;
    write(cert, &pair.cert_pem, 0o644)?;
    outcomes.push(Outcome::Written(cert.into()));
    outcomes.push(Outcome::Written(key.into()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{identity, ClientCa};

    fn plan(dir: &Path) -> Plan {
        Plan {
            cert_dir: dir.join("certs"),
            kubeconfig_dir: dir.to_path_buf(),
            server: "https://127.0.0.1:6443".into(),
            cluster_name: "kubernetes".into(),
            service_ip: first_service_ip("10.0.0.0/24").unwrap(),
            apiserver_sans: vec!["192.168.56.10".into()],
            nodes: vec![("node1".into(), vec!["10.10.0.2".into()])],
            force: false,
        }
    }

    fn sans(pem: &str) -> Vec<String> {
        let der = crate::pem::certs(pem.as_bytes(), "t").unwrap().remove(0);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ext = cert.subject_alternative_name().unwrap().unwrap();
        ext.value.general_names.iter().map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            x509_parser::extensions::GeneralName::IPAddress(b) => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
            other => format!("{other:?}"),
        }).collect()
    }

    #[test]
    fn the_first_service_ip_is_the_range_base_plus_one() {
        assert_eq!(first_service_ip("10.0.0.0/24"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(first_service_ip("10.96.5.7/12"), Some(Ipv4Addr::new(10, 96, 0, 1)));
        assert_eq!(first_service_ip("nonsense"), None);
    }

    #[test]
    fn every_component_gets_its_user_name_group_and_names() {
        let dir = std::env::temp_dir().join(format!("kube-certs-plan-{}", std::process::id()));
        let outcomes = plan(&dir).run().unwrap();
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Written(_))));
        let certs = dir.join("certs");
        let ca = ClientCa::from_file(&certs.join("ca.pem")).unwrap();
        for (stem, cn, o) in [
            ("admin", "admin", vec!["system:masters"]),
            ("kube-apiserver-kubelet-client", "kube-apiserver-kubelet-client", vec!["system:masters"]),
            ("kube-scheduler", "system:kube-scheduler", vec![]),
            ("kube-controller-manager", "system:kube-controller-manager", vec![]),
            ("kube-proxy", "system:kube-proxy", vec![]),
            ("kubelet-node1", "system:node:node1", vec!["system:nodes"]),
        ] {
            let chain = crate::pem::certs_file(&certs.join(format!("{stem}.pem"))).unwrap();
            let id = ca.verify(&chain).unwrap_or_else(|e| panic!("{stem}: {e}"));
            assert_eq!((id.common_name.as_str(), id.organizations), (cn, o.iter().map(|s| s.to_string()).collect()), "{stem}");
        }
        let api = sans(&read(&certs.join("kube-apiserver.pem")).unwrap());
        for want in ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1", "10.0.0.1", "192.168.56.10"] {
            assert!(api.contains(&want.to_string()), "{want} not in {api:?}");
        }
        assert!(sans(&read(&certs.join("admin.pem")).unwrap()).contains(&"127.0.0.1".to_string()));
        assert_eq!(sans(&read(&certs.join("kubelet-node1.pem")).unwrap()), ["node1", "localhost", "127.0.0.1", "10.10.0.2"]);
        let conf = read(&dir.join("kubelet-node1.conf")).unwrap();
        assert!(conf.contains("user: \"system:node:node1\"") && conf.contains("server: https://127.0.0.1:6443"), "{conf}");
        for f in ["admin.conf", "kube-scheduler.conf", "kube-controller-manager.conf", "kube-proxy.conf", "certs/sa.key", "certs/sa.pub"] {
            assert!(dir.join(f).exists(), "{f}");
        }

        // Idempotent: a second run keeps everything; --force rewrites.
        let before = read(&certs.join("admin.pem")).unwrap();
        let again = plan(&dir).run().unwrap();
        assert!(again.iter().all(|o| matches!(o, Outcome::Kept(_))), "{again:?}");
        assert_eq!(read(&certs.join("admin.pem")).unwrap(), before);
        let forced = Plan { force: true, ..plan(&dir) }.run().unwrap();
        assert!(forced.iter().all(|o| matches!(o, Outcome::Written(_))));
        assert_ne!(read(&certs.join("admin.pem")).unwrap(), before);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn certificates_from_another_ca_or_expired_are_refused_with_a_reason() {
        let ca = Ca::new("one").unwrap();
        let other = Ca::new("two").unwrap();
        let trust = ClientCa::from_pem(ca.pair.cert_pem.as_bytes(), "ca").unwrap();
        let chain = |p: &Pair| crate::pem::certs(p.cert_pem.as_bytes(), "t").unwrap();
        let good = ca.issue(&Leaf::new("alice", Some("dev"), &[], Usage::Client)).unwrap();
        assert_eq!(trust.verify(&chain(&good)).unwrap(), crate::tls::CertIdentity { common_name: "alice".into(), organizations: vec!["dev".into()] });
        let foreign = other.issue(&Leaf::new("mallory", None, &[], Usage::Client)).unwrap();
        assert!(trust.verify(&chain(&foreign)).is_err());
        let mut old = Leaf::new("old", None, &[], Usage::Client);
        old.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
        old.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        let expired = ca.issue(&old).unwrap();
        assert!(trust.verify(&chain(&expired)).unwrap_err().to_lowercase().contains("expired"));
        let server_only = ca.issue(&Leaf::new("web", None, &[], Usage::Server)).unwrap();
        assert!(trust.verify(&chain(&server_only)).is_err(), "a serving-only certificate cannot authenticate");
        assert_eq!(identity(&chain(&good)[0]).unwrap().common_name, "alice");
        // A CA written by cfssl (or by us) can be loaded again to sign.
        let reloaded = Ca::from_pem(&ca.pair.cert_pem, &ca.pair.key_pem).unwrap();
        let later = reloaded.issue(&Leaf::new("bob", None, &[], Usage::Client)).unwrap();
        assert!(trust.verify(&chain(&later)).is_ok());
    }
}
