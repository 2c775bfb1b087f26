//! Golden tests: given these Services and Endpoints, exactly this `iptables-restore` input.
//! The chain names are checked against seed 003 (`iptables -t nat -L` on a real cluster), so
//! they also pin the hash function to upstream's.

use kube_api::core::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort};
use kube_api::Object;

use super::*;

fn service(name: &str, cluster_ip: &str, port_name: &str, port: i32) -> Service {
    let mut s = Service::default();
    s.metadata.namespace = "default".into();
    s.metadata.name = name.into();
    s.spec.cluster_ip = cluster_ip.into();
    s.spec.ports = vec![ServicePort { name: port_name.into(), port, ..Default::default() }];
    s.set_defaults();
    s
}

fn endpoints(name: &str, port_name: &str, port: i32, ips: &[&str]) -> Endpoints {
    let mut e = Endpoints::default();
    e.metadata.namespace = "default".into();
    e.metadata.name = name.into();
    e.subsets = vec![EndpointSubset {
        addresses: ips.iter().map(|ip| EndpointAddress { ip: ip.to_string(), ..Default::default() }).collect(),
        ports: vec![EndpointPort { name: port_name.into(), port, protocol: "TCP".into(), ..Default::default() }],
        ..Default::default()
    }];
    e
}

fn render(services: &[Service], eps: &[Endpoints], config: &ProxyConfig) -> String {
    build(&service_ports(services, eps, "node-1"), config).restore_input(&[])
}

fn seed_config() -> ProxyConfig {
    ProxyConfig { cluster_cidr: Some("192.168.0.0/16".into()), ..Default::default() }
}

/// The filter table when every service has endpoints, with upstream's default flags.
const FILTER: &str = r#"*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"#;

const NAT_HEADER_RULES: &str = r#"-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
"#;

const NODEPORTS_LAST: &str = "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n";

#[test]
fn chain_names_are_upstreams_hashes_as_seen_in_seed_003() {
    assert_eq!(service_port_chain_name("default/kubernetes:https", "tcp"), "KUBE-SVC-NPX46M4PTMTKRN6Y");
    assert_eq!(service_port_chain_name("default/web", "tcp"), "KUBE-SVC-LOLE4ISW44XBNF3G");
    assert_eq!(endpoint_chain_name("default/web", "tcp", "192.168.238.4:80"), "KUBE-SEP-3RY52QTAPPWAROT7");
    assert_eq!(endpoint_chain_name("default/web", "tcp", "192.168.238.5:80"), "KUBE-SEP-XDYZG4GSYEXZWWXS");
    assert_eq!(endpoint_chain_name("default/web", "tcp", "192.168.238.6:80"), "KUBE-SEP-U3XU475URPOLV25V");
    assert_eq!(endpoint_chain_name("default/web", "tcp", "192.168.238.7:80"), "KUBE-SEP-XLJ4FHFV6DVOXHKZ");
}

#[test]
fn probabilities_are_printed_as_upstreams_percent_0_10f() {
    let ladder: Vec<String> = (2..=4).rev().map(probability).collect();
    assert_eq!(ladder, ["0.2500000000", "0.3333333333", "0.5000000000"]);
}

#[test]
fn seed_003_kubernetes_and_web_with_one_endpoint() {
    let services = [service("kubernetes", "10.0.0.1", "https", 443), service("web", "10.0.0.34", "", 3000)];
    let eps = [endpoints("kubernetes", "https", 6443, &["10.0.2.15"]), endpoints("web", "", 80, &["192.168.238.4"])];
    let expected = FILTER.to_string()
        + "*nat\n"
        + r#":KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SEP-OGNOLD2JUSLFPOMZ - [0:0]
:KUBE-SVC-LOLE4ISW44XBNF3G - [0:0]
:KUBE-SEP-3RY52QTAPPWAROT7 - [0:0]
"# + NAT_HEADER_RULES
        + r#"-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 10.0.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 10.0.0.1 --dport 443 ! -s 192.168.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 10.0.2.15:6443" -j KUBE-SEP-OGNOLD2JUSLFPOMZ
-A KUBE-SEP-OGNOLD2JUSLFPOMZ -m comment --comment default/kubernetes:https -s 10.0.2.15 -j KUBE-MARK-MASQ
-A KUBE-SEP-OGNOLD2JUSLFPOMZ -m comment --comment default/kubernetes:https -m tcp -p tcp -j DNAT --to-destination 10.0.2.15:6443
-A KUBE-SERVICES -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.0.0.34 --dport 3000 -j KUBE-SVC-LOLE4ISW44XBNF3G
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.0.0.34 --dport 3000 ! -s 192.168.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 192.168.238.4:80" -j KUBE-SEP-3RY52QTAPPWAROT7
-A KUBE-SEP-3RY52QTAPPWAROT7 -m comment --comment default/web -s 192.168.238.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-3RY52QTAPPWAROT7 -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 192.168.238.4:80
"# + NODEPORTS_LAST;
    assert_eq!(render(&services, &eps, &seed_config()), expected);
}

#[test]
fn seed_003_web_scaled_to_four_endpoints_gets_the_probability_ladder() {
    let services = [service("web", "10.0.0.34", "", 3000)];
    let ips = ["192.168.238.4", "192.168.238.5", "192.168.238.6", "192.168.238.7"];
    let eps = [endpoints("web", "", 80, &ips)];
    let mut expected = FILTER.to_string()
        + "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
        + r#":KUBE-SVC-LOLE4ISW44XBNF3G - [0:0]
:KUBE-SEP-3RY52QTAPPWAROT7 - [0:0]
:KUBE-SEP-XDYZG4GSYEXZWWXS - [0:0]
:KUBE-SEP-U3XU475URPOLV25V - [0:0]
:KUBE-SEP-XLJ4FHFV6DVOXHKZ - [0:0]
"# + NAT_HEADER_RULES
        + r#"-A KUBE-SERVICES -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.0.0.34 --dport 3000 -j KUBE-SVC-LOLE4ISW44XBNF3G
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.0.0.34 --dport 3000 ! -s 192.168.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 192.168.238.4:80" -m statistic --mode random --probability 0.2500000000 -j KUBE-SEP-3RY52QTAPPWAROT7
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 192.168.238.5:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-XDYZG4GSYEXZWWXS
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 192.168.238.6:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-U3XU475URPOLV25V
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 192.168.238.7:80" -j KUBE-SEP-XLJ4FHFV6DVOXHKZ
"#;
    for (ip, sep) in ips.iter().zip(["3RY52QTAPPWAROT7", "XDYZG4GSYEXZWWXS", "U3XU475URPOLV25V", "XLJ4FHFV6DVOXHKZ"]) {
        expected += &format!("-A KUBE-SEP-{sep} -m comment --comment default/web -s {ip} -j KUBE-MARK-MASQ\n");
        expected += &format!("-A KUBE-SEP-{sep} -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination {ip}:80\n");
    }
    expected += NODEPORTS_LAST;
    assert_eq!(render(&services, &eps, &seed_config()), expected);
}

#[test]
fn a_service_without_endpoints_is_rejected_in_the_filter_table_and_has_no_nat_chain() {
    let services = [service("empty", "10.0.0.50", "", 80)];
    let text = render(&services, &[endpoints("empty", "", 80, &[])], &ProxyConfig::default());
    let expected = FILTER.replace(
        "-A KUBE-FORWARD -m conntrack",
        "-A KUBE-SERVICES -m comment --comment \"default/empty has no endpoints\" -m tcp -p tcp -d 10.0.0.50 --dport 80 -j REJECT\n-A KUBE-FORWARD -m conntrack",
    ) + "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
        + NAT_HEADER_RULES
        + NODEPORTS_LAST;
    assert_eq!(text, expected);
    assert!(!text.contains("KUBE-SVC-GQRNJRE7767OASLF"), "no service chain without endpoints");
}

#[test]
fn a_node_port_enters_through_kube_nodeports_and_the_ext_chain_which_masquerades() {
    let mut svc = service("np", "10.0.0.60", "", 80);
    svc.spec.type_ = "NodePort".into();
    svc.spec.ports[0].node_port = Some(30080);
    svc.spec.ports[0].target_port = Some("http".into());
    // The endpoints controller resolved targetPort "http" to the pods' container port 8080.
    let eps = [endpoints("np", "", 8080, &["10.244.0.5"])];
    let config = ProxyConfig { masquerade_all: true, ..Default::default() };
    let expected = FILTER.to_string()
        + "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
        + r#":KUBE-EXT-LDATH6LIB7VCFHLW - [0:0]
:KUBE-SVC-LDATH6LIB7VCFHLW - [0:0]
:KUBE-SEP-LCZ4S7R3CPJHJFFS - [0:0]
"# + NAT_HEADER_RULES
        + r#"-A KUBE-SERVICES -m comment --comment "default/np cluster IP" -m tcp -p tcp -d 10.0.0.60 --dport 80 -j KUBE-SVC-LDATH6LIB7VCFHLW
-A KUBE-NODEPORTS -m comment --comment default/np -m tcp -p tcp --dport 30080 -j KUBE-EXT-LDATH6LIB7VCFHLW
-A KUBE-SVC-LDATH6LIB7VCFHLW -m comment --comment "default/np cluster IP" -m tcp -p tcp -d 10.0.0.60 --dport 80 -j KUBE-MARK-MASQ
-A KUBE-EXT-LDATH6LIB7VCFHLW -m comment --comment "masquerade traffic for default/np external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-LDATH6LIB7VCFHLW -j KUBE-SVC-LDATH6LIB7VCFHLW
-A KUBE-SVC-LDATH6LIB7VCFHLW -m comment --comment "default/np -> 10.244.0.5:8080" -j KUBE-SEP-LCZ4S7R3CPJHJFFS
-A KUBE-SEP-LCZ4S7R3CPJHJFFS -m comment --comment default/np -s 10.244.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-LCZ4S7R3CPJHJFFS -m comment --comment default/np -m tcp -p tcp -j DNAT --to-destination 10.244.0.5:8080
"# + NODEPORTS_LAST;
    assert_eq!(render(&[svc], &eps, &config), expected);
}

#[test]
fn a_node_port_without_endpoints_is_rejected_in_kube_external_services() {
    let mut svc = service("np", "10.0.0.60", "", 80);
    svc.spec.type_ = "NodePort".into();
    svc.spec.ports[0].node_port = Some(30080);
    svc.spec.external_ips = vec!["192.0.2.10".into()];
    let text = render(&[svc], &[], &ProxyConfig::default());
    for line in [
        "-A KUBE-SERVICES -m comment --comment \"default/np has no endpoints\" -m tcp -p tcp -d 10.0.0.60 --dport 80 -j REJECT\n",
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/np has no endpoints\" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j REJECT\n",
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/np has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT\n",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("KUBE-EXT-"), "no nat chains:\n{text}");
}

#[test]
fn client_ip_affinity_checks_the_recent_list_first_and_sets_it_on_dnat() {
    let mut svc = service("sticky", "10.0.0.70", "", 80);
    svc.spec.session_affinity = "ClientIP".into();
    svc.set_defaults(); // timeoutSeconds: 10800
    let eps = [endpoints("sticky", "", 80, &["10.244.0.6", "10.244.0.5"])];
    let text = render(&[svc], &eps, &ProxyConfig::default());
    let nat_rules: Vec<&str> = text.lines().filter(|l| l.starts_with("-A ") && (l.contains("BJWR5DPVIKTHVKZU") || l.starts_with("-A KUBE-SEP-"))).collect();
    assert_eq!(
        nat_rules,
        [
            "-A KUBE-SERVICES -m comment --comment \"default/sticky cluster IP\" -m tcp -p tcp -d 10.0.0.70 --dport 80 -j KUBE-SVC-BJWR5DPVIKTHVKZU",
            "-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment \"default/sticky -> 10.244.0.5:80\" -m recent --name KUBE-SEP-DQ7M3ESBLYNT442Z --rcheck --seconds 10800 --reap -j KUBE-SEP-DQ7M3ESBLYNT442Z",
            "-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment \"default/sticky -> 10.244.0.6:80\" -m recent --name KUBE-SEP-KW2ZMBFUAPRUFY2A --rcheck --seconds 10800 --reap -j KUBE-SEP-KW2ZMBFUAPRUFY2A",
            "-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment \"default/sticky -> 10.244.0.5:80\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DQ7M3ESBLYNT442Z",
            "-A KUBE-SVC-BJWR5DPVIKTHVKZU -m comment --comment \"default/sticky -> 10.244.0.6:80\" -j KUBE-SEP-KW2ZMBFUAPRUFY2A",
            "-A KUBE-SEP-DQ7M3ESBLYNT442Z -m comment --comment default/sticky -s 10.244.0.5 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-DQ7M3ESBLYNT442Z -m comment --comment default/sticky -m recent --name KUBE-SEP-DQ7M3ESBLYNT442Z --set -m tcp -p tcp -j DNAT --to-destination 10.244.0.5:80",
            "-A KUBE-SEP-KW2ZMBFUAPRUFY2A -m comment --comment default/sticky -s 10.244.0.6 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-KW2ZMBFUAPRUFY2A -m comment --comment default/sticky -m recent --name KUBE-SEP-KW2ZMBFUAPRUFY2A --set -m tcp -p tcp -j DNAT --to-destination 10.244.0.6:80",
        ]
    );
}

#[test]
fn headless_and_external_name_services_get_no_rules() {
    let headless = service("db", "None", "", 5432);
    let mut external = service("ext", "", "", 443);
    external.spec.type_ = "ExternalName".into();
    external.spec.external_name = "example.org".into();
    let eps = [endpoints("db", "", 5432, &["10.244.0.9"])];
    assert!(service_ports([&headless, &external], &eps, "node-1").is_empty());
    let text = render(&[headless, external], &eps, &ProxyConfig::default());
    assert_eq!(text, render(&[], &[], &ProxyConfig::default()));
}

#[test]
fn only_ready_addresses_and_the_matching_named_port_are_used() {
    let mut svc = service("multi", "10.0.0.80", "http", 80);
    svc.spec.ports.push(ServicePort { name: "metrics".into(), port: 9090, ..Default::default() });
    svc.set_defaults();
    let mut eps = endpoints("multi", "http", 8080, &["10.244.0.5"]);
    eps.subsets[0].not_ready_addresses = vec![EndpointAddress { ip: "10.244.0.6".into(), ..Default::default() }];
    eps.subsets[0].ports.push(EndpointPort { name: "metrics".into(), port: 9100, ..Default::default() });
    let ports = service_ports([&svc], [&eps], "node-1");
    let summary: Vec<(&str, &[String])> = ports.iter().map(|p| (p.name.as_str(), p.endpoints.as_slice())).collect();
    assert_eq!(
        summary,
        [
            ("default/multi:http", &["10.244.0.5:8080".to_string()][..]),
            ("default/multi:metrics", &["10.244.0.5:9100".to_string()][..]),
        ]
    );
}

#[test]
fn node_port_addresses_and_no_localhost_change_the_last_rule() {
    let config = ProxyConfig { node_port_ips: Some(vec!["192.0.2.1".into()]), localhost_node_ports: false, ..Default::default() };
    let text = render(&[], &[], &config);
    assert!(text.contains("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -d 192.0.2.1 -j KUBE-NODEPORTS\nCOMMIT\n"));
    assert!(!text.contains("KUBE-FIREWALL"), "the localnet DROP only comes with localhost NodePorts");
    let all = ProxyConfig { localhost_node_ports: false, ..Default::default() };
    assert!(render(&[], &[], &all).contains("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS\n"));
}

#[test]
fn stale_chains_are_flushed_and_deleted_before_the_last_rule() {
    let rules = build(&[], &ProxyConfig::default());
    let text = rules.restore_input(&["KUBE-SEP-OLD".to_string()]);
    let nat = text.split("*nat\n").nth(1).unwrap();
    assert!(nat.contains(":KUBE-MARK-MASQ - [0:0]\n:KUBE-SEP-OLD - [0:0]\n"));
    assert!(nat.contains("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n-X KUBE-SEP-OLD\n-A KUBE-SERVICES -m comment"));
}

#[test]
fn large_clusters_drop_the_per_endpoint_comments() {
    let services: Vec<Service> = (0..11).map(|i| service(&format!("s{i}"), &format!("10.0.1.{i}"), "", 80)).collect();
    let ips: Vec<String> = (0..100).map(|i| format!("10.244.{}.{}", i / 250, i % 250 + 1)).collect();
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let eps: Vec<Endpoints> = (0..11).map(|i| endpoints(&format!("s{i}"), "", 80, &ip_refs)).collect();
    let rules = build(&service_ports(&services, &eps, "node-1"), &ProxyConfig::default());
    assert_eq!(rules.endpoints, 1100);
    let text = rules.restore_input(&[]);
    assert!(!text.contains(" -> "), "no endpoint comments above {LARGE_CLUSTER_ENDPOINTS_THRESHOLD} endpoints");
    assert!(text.contains("\"default/s0 cluster IP\""), "service comments stay");
}

#[test]
fn jump_rules_match_upstreams_table() {
    let jumps = jumps(&ProxyConfig::default());
    let nat_output = jumps.iter().find(|j| j.table == "nat" && j.from == "OUTPUT").unwrap();
    assert_eq!(nat_output.args, ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]);
    let filter_output = jumps.iter().find(|j| j.table == "filter" && j.from == "OUTPUT" && j.to == KUBE_SERVICES).unwrap();
    assert_eq!(
        filter_output.args,
        ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]
    );
    assert_eq!(jumps.len(), 14);
}

/// `ns1/svc1:p80` with one endpoint on this node and one elsewhere (upstream's
/// `TestOnlyLocalNodePorts` names, so the chain hashes can be checked against its output).
fn local_policy_service(external_local: bool, internal_local: bool, local_ips: &[&str]) -> (Service, Endpoints) {
    let mut svc = service("svc1", "172.30.0.41", "p80", 80);
    svc.metadata.namespace = "ns1".into();
    svc.spec.type_ = "NodePort".into();
    svc.spec.ports[0].node_port = Some(3001);
    if external_local {
        svc.spec.external_traffic_policy = "Local".into();
    }
    if internal_local {
        svc.spec.internal_traffic_policy = Some("Local".into());
    }
    svc.set_defaults();
    let mut eps = endpoints("svc1", "p80", 80, &["10.180.0.1", "10.180.2.1"]);
    eps.metadata.namespace = "ns1".into();
    for addr in &mut eps.subsets[0].addresses {
        let local = local_ips.contains(&addr.ip.as_str());
        addr.node_name = Some(if local { "node-1" } else { "node-2" }.into());
    }
    (svc, eps)
}

fn nat_rules_of(text: &str) -> Vec<&str> {
    let nat = text.split("*nat\n").nth(1).unwrap_or_default();
    nat.lines().filter(|l| l.starts_with(':') || (l.starts_with("-A ") && !l.contains("KUBE-POSTROUTING") && !l.starts_with("-A KUBE-MARK-MASQ") && !l.contains("NOTE: this must be"))).collect()
}

#[test]
fn external_traffic_policy_local_sends_outside_traffic_only_to_local_endpoints_unmasqueraded() {
    let (svc, eps) = local_policy_service(true, false, &["10.180.2.1"]);
    let config = ProxyConfig { cluster_cidr: Some("10.0.0.0/8".into()), node_name: "node-1".into(), ..Default::default() };
    let text = render(&[svc], &[eps], &config);
    assert_eq!(
        nat_rules_of(&text),
        [
            ":KUBE-SERVICES - [0:0]",
            ":KUBE-NODEPORTS - [0:0]",
            ":KUBE-POSTROUTING - [0:0]",
            ":KUBE-MARK-MASQ - [0:0]",
            ":KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]",
            ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
            ":KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]",
            ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]",
            ":KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]",
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O",
            "-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O",
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
            "-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"pod traffic for ns1/svc1:p80 external destinations\" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O",
            "-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"masquerade LOCAL traffic for ns1/svc1:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
            "-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"route LOCAL traffic for ns1/svc1:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O",
            "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O",
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ",
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.2.1:80\" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ",
            "-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.2.1:80\" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ",
            "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80",
            "-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80",
        ]
    );
    assert!(!text.contains("no local endpoints"), "{text}");
}

#[test]
fn external_traffic_policy_local_without_local_endpoints_drops_outside_traffic() {
    let (mut svc, eps) = local_policy_service(true, false, &[]);
    svc.spec.health_check_node_port = Some(30500);
    let config = ProxyConfig { cluster_cidr: Some("10.0.0.0/8".into()), node_name: "node-1".into(), ..Default::default() };
    let rules = build(&service_ports([&svc], [&eps], "node-1"), &config);
    let text = rules.restore_input(&[]);
    for line in [
        // The NodePort is DROPped in filter, unless the EXT chain short-circuited it first
        // (pods and the node itself still reach the cluster-wide endpoints).
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns1/svc1:p80 has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP\n",
        "-A KUBE-NODEPORTS -m comment --comment \"ns1/svc1:p80 health check node port\" -m tcp -p tcp --dport 30500 -j ACCEPT\n",
        "-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment \"route LOCAL traffic for ns1/svc1:p80 external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O\n",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("KUBE-SVL-"), "no local endpoints, no KUBE-SVL chain:\n{text}");
    assert!(!text.contains("-A KUBE-EXT-XPGD46QRK7WJZT7O -j "), "no fall-through to a policy chain:\n{text}");
    assert_eq!((rules.no_local_endpoints_internal, rules.no_local_endpoints_external), (0, 1));
}

#[test]
fn internal_traffic_policy_local_sends_cluster_ip_traffic_to_local_endpoints_only() {
    let (mut svc, eps) = local_policy_service(false, true, &["10.180.2.1"]);
    svc.spec.type_ = "ClusterIP".into();
    svc.spec.ports[0].node_port = None;
    let config = ProxyConfig { cluster_cidr: Some("10.0.0.0/8".into()), node_name: "node-1".into(), ..Default::default() };
    let text = render(&[svc.clone()], &[eps.clone()], &config);
    assert_eq!(
        nat_rules_of(&text),
        [
            ":KUBE-SERVICES - [0:0]",
            ":KUBE-NODEPORTS - [0:0]",
            ":KUBE-POSTROUTING - [0:0]",
            ":KUBE-MARK-MASQ - [0:0]",
            ":KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]",
            ":KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]",
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVL-XPGD46QRK7WJZT7O",
            "-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
            "-A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.2.1:80\" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ",
            "-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80",
        ]
    );
    // No endpoint on this node: the ClusterIP is dropped (not rejected: the service has
    // endpoints, just none here).
    let text = build(&service_ports([&svc], [&eps], "node-3"), &config).restore_input(&[]);
    assert!(text.contains("-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 has no local endpoints\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP\n"), "{text}");
    assert!(!text.contains("KUBE-SVL-") && !text.contains("KUBE-SEP-"), "{text}");
}

#[test]
fn a_partial_sync_writes_the_shared_chains_and_only_the_changed_services_chains() {
    let services = [service("kubernetes", "10.0.0.1", "https", 443), service("web", "10.0.0.34", "", 3000)];
    let eps = [endpoints("kubernetes", "https", 6443, &["10.0.2.15"]), endpoints("web", "", 80, &["192.168.238.4"])];
    let rules = build(&service_ports(&services, &eps, "node-1"), &seed_config());
    let chains = rules.service_chains();
    assert_eq!(chains.keys().copied().collect::<Vec<_>>(), ["default/kubernetes:https", "default/web"]);
    assert!(chains["default/web"].starts_with(":KUBE-SVC-LOLE4ISW44XBNF3G - [0:0]\n:KUBE-SEP-3RY52QTAPPWAROT7 - [0:0]\n-A KUBE-SVC-LOLE4ISW44XBNF3G"));

    let partial = rules.partial_restore_input(|name| name == "default/web", &["KUBE-SEP-OLD".to_string()]);
    let full = rules.restore_input(&["KUBE-SEP-OLD".to_string()]);
    // The partial input is the full one without the kubernetes Service's own chains.
    let kubernetes_own: Vec<&str> = full.lines().filter(|l| l.contains("KUBE-SVC-NPX46M4PTMTKRN6Y") || l.contains("KUBE-SEP-OGNOLD2JUSLFPOMZ")).filter(|l| !l.starts_with("-A KUBE-SERVICES")).collect();
    assert_eq!(kubernetes_own.len(), 6, "{full}");
    let expected: Vec<&str> = full.lines().filter(|l| !kubernetes_own.contains(l)).collect();
    assert_eq!(partial.lines().collect::<Vec<_>>(), expected);
    assert!(partial.contains("-A KUBE-SERVICES -m comment --comment \"default/kubernetes:https cluster IP\""), "KUBE-SERVICES is always whole");
    assert!(partial.contains("-X KUBE-SEP-OLD\n"));
}

#[test]
fn a_big_sync_is_split_into_transactions_of_whole_services_with_the_shared_chains_last() {
    let services: Vec<Service> = (0..4).map(|i| service(&format!("s{i}"), &format!("10.0.1.{i}"), "", 80)).collect();
    let eps: Vec<Endpoints> = (0..4).map(|i| endpoints(&format!("s{i}"), "", 80, &["10.244.0.5", "10.244.0.6"])).collect();
    let rules = build(&service_ports(&services, &eps, "node-1"), &ProxyConfig::default());
    // Three chains per service: at most six per transaction gives two services each.
    assert_eq!(rules.restore_inputs(|_| true, &[], 100), [rules.restore_input(&[])]);
    let inputs = rules.restore_inputs(|_| true, &["KUBE-SVC-OLD".to_string()], 6);
    assert_eq!(inputs.len(), 3);
    let s0 = service_port_chain_name("default/s0", "tcp");
    let s1 = service_port_chain_name("default/s1", "tcp");
    let s2 = service_port_chain_name("default/s2", "tcp");
    assert!(inputs[0].starts_with(&format!("*nat\n:KUBE-MARK-MASQ - [0:0]\n:{s0} - [0:0]\n")), "{}", inputs[0]);
    assert!(inputs[0].contains(&format!("-A {s1} ")) && !inputs[0].contains(&s2) && !inputs[0].contains("KUBE-SERVICES"), "{}", inputs[0]);
    assert!(inputs[0].contains("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n") && inputs[0].ends_with("COMMIT\n"));
    assert!(inputs[1].contains(&format!(":{s2} - [0:0]")) && !inputs[1].contains(&s0));
    assert_eq!(inputs[2], rules.partial_restore_input(|_| false, &["KUBE-SVC-OLD".to_string()]));
    assert!(inputs[2].contains(&format!("-j {s2}\n")) && inputs[2].contains("-X KUBE-SVC-OLD\n"));
    // Only the changed services are split up in a partial sync.
    let partial = rules.restore_inputs(|n| n == "default/s3", &[], 6);
    assert_eq!(partial, [rules.partial_restore_input(|n| n == "default/s3", &[])]);
}
