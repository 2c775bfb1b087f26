//! `NodePorts` (filter): two pods cannot hold the same `hostPort` on one node.
//!
//! A port is (host IP, protocol, port). Two claims conflict when protocol and port are
//! equal and the IPs are equal or either is `0.0.0.0` (every address).

use crate::cache::{host_ports, HostPort, NodeInfo};
use crate::framework::{FilterPlugin, PodInfo, Status};

pub const NAME: &str = "NodePorts";
/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.1 == b.1 && a.2 == b.2 && (a.0 == b.0 || a.0 == "0.0.0.0" || b.0 == "0.0.0.0")
}

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let wanted = host_ports(&pod.pod);
        if wanted.iter().any(|w| node.used_ports.iter().any(|u| conflicts(w, u))) {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{info, node, on, pod};
    use kube_api::core::{ContainerPort, Pod};

    fn with_port(name: &str, ip: &str, proto: &str, port: i32) -> Pod {
        let mut p = pod(name, "", "");
        p.spec.containers[0].ports.push(ContainerPort { host_port: Some(port), container_port: 80, protocol: proto.into(), host_ip: ip.into(), ..Default::default() });
        p
    }

    #[test]
    fn host_ports_conflict_on_the_same_protocol_port_and_overlapping_ip() {
        // (case, used (ip, proto, port), wanted (ip, proto, port), fits)
        let cases = [
            ("free", ("", "", 8080), ("", "", 8081), true),
            ("same port", ("", "", 8080), ("", "TCP", 8080), false),
            ("other protocol", ("", "TCP", 53), ("", "UDP", 53), true),
            ("distinct IPs", ("10.0.0.1", "", 80), ("10.0.0.2", "", 80), true),
            ("all addresses vs one", ("", "", 80), ("10.0.0.2", "", 80), false),
        ];
        for (case, (uip, up, uport), (wip, wp, wport), fits) in cases {
            let n = on(node("n1"), vec![with_port("old", uip, up, uport)]);
            let status = NodePorts.filter(&info(with_port("new", wip, wp, wport)), &n);
            assert_eq!(status.is_success(), fits, "{case}");
        }
        let no_ports = info(pod("p", "", ""));
        assert!(NodePorts.filter(&no_ports, &on(node("n1"), vec![with_port("old", "", "", 80)])).is_success());
    }
}
