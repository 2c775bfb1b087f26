//! Requests and limits to cgroups (upstream's `kuberuntime_container_linux.go` and the pod
//! cgroup names of `cm/`).
//!
//! - cpu `requests` become CFS shares (1 CPU = 1024, at least 2); cpu `limits` a CFS quota
//!   over a 100 ms period (at least 1 ms); memory `limits` the memory limit in bytes.
//!   A container with a limit and no request requests its limit, as upstream defaults it.
//! - Each pod gets its own cgroup under its QoS class — `/kubepods/podUID` (Guaranteed),
//!   `/kubepods/burstable/podUID`, `/kubepods/besteffort/podUID` — given to the runtime
//!   as the sandbox's `cgroup_parent` (cgroupfs syntax); the runtime creates the container
//!   cgroups below it. [`remove_pod_cgroup`] removes the (then empty) pod cgroup after the
//!   pod's containers are gone, in every v1 hierarchy.

use std::path::Path;

use kube_api::core::{Container, Pod};
use kube_api::quantity::Quantity;

use crate::cri::api;

/// Upstream's `quotaPeriod` (100 ms) and minimums.
const CPU_PERIOD: i64 = 100_000;
const MIN_SHARES: i64 = 2;
const MIN_QUOTA: i64 = 1_000;

fn milli(list: &kube_api::core::ResourceList, name: &str) -> Option<i64> {
    list.get(name).and_then(|q| Quantity::parse(q.as_str()).ok()).map(|q| q.milli_value())
}

/// The container's CRI resources.
pub fn linux_resources(c: &Container) -> api::LinuxContainerResources {
    let r = &c.resources;
    let cpu_limit = milli(&r.limits, "cpu");
    let cpu_request = milli(&r.requests, "cpu").or(cpu_limit);
    let mut out = api::LinuxContainerResources {
        cpu_shares: cpu_request.map(|m| (m * 1024 / 1000).max(MIN_SHARES)).unwrap_or(MIN_SHARES),
        ..Default::default()
    };
    if let Some(m) = cpu_limit {
        out.cpu_period = CPU_PERIOD;
        out.cpu_quota = (m * CPU_PERIOD / 1000).max(MIN_QUOTA);
    }
    if let Some(q) = r.limits.get("memory").and_then(|q| Quantity::parse(q.as_str()).ok()) {
        out.memory_limit_in_bytes = q.value();
    }
    out
}

/// The pod's cgroup, by its QoS class.
pub fn pod_cgroup(pod: &Pod) -> String {
    let uid = &pod.metadata.uid;
    match kube_api::core::pod_rules::pod_qos_class(&pod.spec) {
        "Guaranteed" => format!("/kubepods/pod{uid}"),
        "Burstable" => format!("/kubepods/burstable/pod{uid}"),
        _ => format!("/kubepods/besteffort/pod{uid}"),
    }
}

/// Removes the pod's cgroup directories (they must be empty: the runtime removed the
/// containers' own cgroups already). Missing ones are fine.
pub fn remove_pod_cgroup(uid: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    for h in hierarchies.flatten() {
        for qos in ["", "burstable/", "besteffort/"] {
            let dir = h.path().join(format!("kubepods/{qos}pod{uid}"));
            if Path::new(&dir).is_dir() {
                if let Err(e) = std::fs::remove_dir(&dir) {
                    tracing::debug!("removing cgroup {}: {e}", dir.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(resources: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "c", "resources": resources})).unwrap()
    }

    #[test]
    fn requests_and_limits_become_shares_quota_and_memory() {
        let cases = [
            (serde_json::json!({}), (2, 0, 0, 0)),
            (serde_json::json!({"requests": {"cpu": "250m"}}), (256, 0, 0, 0)),
            (serde_json::json!({"limits": {"cpu": "500m", "memory": "64Mi"}}), (512, 50_000, CPU_PERIOD, 64 << 20)),
            (serde_json::json!({"requests": {"cpu": "1m"}, "limits": {"cpu": "1m"}}), (2, 1_000, CPU_PERIOD, 0)),
        ];
        for (resources, (shares, quota, period, memory)) in cases {
            let r = linux_resources(&container(resources.clone()));
            assert_eq!((r.cpu_shares, r.cpu_quota, r.cpu_period, r.memory_limit_in_bytes), (shares, quota, period, memory), "{resources}");
        }
    }

    #[test]
    fn the_pod_cgroup_follows_the_qos_class() {
        let pod = |res: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({"metadata": {"uid": "u"}, "spec": {"containers": [{"name": "c", "resources": res}]}}))
                .unwrap()
        };
        assert_eq!(pod_cgroup(&pod(serde_json::json!({}))), "/kubepods/besteffort/podu");
        assert_eq!(pod_cgroup(&pod(serde_json::json!({"requests": {"cpu": "1"}}))), "/kubepods/burstable/podu");
        let g = serde_json::json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(pod_cgroup(&pod(g)), "/kubepods/podu");
    }
}
