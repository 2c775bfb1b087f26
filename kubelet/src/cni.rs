//! The node's CNI configuration: one conflist in `--cni-conf-dir` that gives each pod an
//! address from the node's pod CIDR (`--pod-cidr`, later `node.spec.podCIDR`).
//!
//! containerd reads the first conflist in its CNI `conf_dir` (it watches the directory) and
//! runs the plugins in `bin_dir` for every sandbox:
//! - `bridge` creates the node bridge `cbr0` with the CIDR's first address as the pods'
//!   gateway, and a veth pair into each pod's network namespace;
//! - its IPAM, `host-local`, hands out addresses from the CIDR. Its allocations are files,
//!   kept under `--root-dir` rather than the shared `/var/lib/cni`, so that several kubelets
//!   on one machine (the multi-node lab) never share them;
//! - `portmap` turns `hostPort`s into DNAT rules.
//!
//! The loopback interface of each pod is brought up by containerd itself.
//!
//! `ipMasq` stays off: pods here have no way out of the node's network namespace, and
//! traffic to other nodes' pods must keep its source address (kube-proxy masquerades only
//! what needs it).

use std::path::{Path, PathBuf};

use serde_json::json;

/// The file written, named so that it sorts first.
pub const CONFLIST_NAME: &str = "10-kubelet.conflist";

/// The conflist for `pod_cidr` (e.g. `10.88.0.0/24`).
pub fn conflist(pod_cidr: &str, ipam_data_dir: &Path) -> serde_json::Value {
    json!({
        "cniVersion": "0.4.0",
        "name": "kubelet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cbr0",
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "dataDir": ipam_data_dir,
                    "ranges": [[{ "subnet": pod_cidr }]],
                    "routes": [{ "dst": "0.0.0.0/0" }]
                }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    })
}

/// Writes the conflist into `conf_dir` (only when its content changed, so that containerd
/// does not reload for nothing). Returns its path.
pub fn write(conf_dir: &Path, pod_cidr: &str, root_dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(conf_dir)?;
    let path = conf_dir.join(CONFLIST_NAME);
    let text = serde_json::to_string_pretty(&conflist(pod_cidr, &root_dir.join("cni-ipam")))? + "\n";
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        // Write then rename: containerd must never read half a file.
        let tmp = conf_dir.join(format!(".{CONFLIST_NAME}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conflist_hands_out_addresses_from_the_pod_cidr() {
        let c = conflist("10.88.0.0/24", Path::new("/var/lib/kubelet/cni-ipam"));
        assert_eq!(c["plugins"][0]["type"], "bridge");
        assert_eq!(c["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.88.0.0/24");
        assert_eq!(c["plugins"][1]["type"], "portmap");
    }

    #[test]
    fn writing_twice_leaves_one_identical_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "10.1.0.0/24", dir.path()).unwrap();
        let first = std::fs::read_to_string(&a).unwrap();
        write(dir.path(), "10.1.0.0/24", dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), first);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
