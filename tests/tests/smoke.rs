//! The smallest end-to-end check: the real apiserver on a real etcd answers the real kubectl.

use testutil::ApiServer;

#[test]
fn kubectl_lists_the_default_namespaces_of_a_fresh_apiserver() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let out = api.kubectl().ok(&["get", "namespaces"])?;
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(out.contains(ns), "{ns} missing from:\n{out}");
    }
    let svc = api.kubectl().ok(&["get", "service", "kubernetes"])?;
    assert!(svc.contains("10.0.0.1") && svc.contains("443/TCP"), "{svc}");
    Ok(())
}
