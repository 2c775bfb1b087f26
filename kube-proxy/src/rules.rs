//! The rules themselves: Services + Endpoints + flags → the exact `iptables-restore` input,
//! written as upstream's iptables proxier (`pkg/proxy/iptables/proxier.go`, v1.33) writes it.
//!
//! This file is **pure**: no I/O, no clock, no randomness. The same objects always give the
//! same text, byte for byte, which is what lets [`crate::proxier`] skip a sync when nothing
//! changed and lets the golden tests below pin every line.
//!
//! ## The chains, following one packet to `10.0.0.34:3000` (seed 003's `web` Service)
//!
//! ```text
//! nat PREROUTING / OUTPUT ─▶ KUBE-SERVICES
//!     -d 10.0.0.34/32 --dport 3000 ─▶ KUBE-SVC-LOLE4ISW44XBNF3G      one per service port
//!         ! -s <cluster CIDR> ─▶ KUBE-MARK-MASQ                      off-cluster clients get SNAT
//!         probability 1/4 ─▶ KUBE-SEP-3RY52QTAPPWAROT7               one per endpoint
//!         probability 1/3 ─▶ KUBE-SEP-XDYZG4GSYEXZWWXS                (1/4, then 1/3 of the rest,
//!         probability 1/2 ─▶ KUBE-SEP-U3XU475URPOLV25V                 then 1/2, then the last:
//!                         ─▶ KUBE-SEP-XLJ4FHFV6DVOXHKZ                 each gets a quarter)
//!             -s <itself> ─▶ KUBE-MARK-MASQ                          hairpin: a pod reaching itself
//!             DNAT --to-destination 192.168.238.4:80
//!     (last rule) dst-type LOCAL ─▶ KUBE-NODEPORTS ─▶ KUBE-EXT-… ─▶ KUBE-SVC-…
//! nat POSTROUTING ─▶ KUBE-POSTROUTING: MASQUERADE what KUBE-MARK-MASQ marked (0x4000)
//! filter: KUBE-SERVICES REJECTs service ports without endpoints; KUBE-FORWARD accepts marked
//!         and established traffic.
//! ```
//!
//! Chain names are hashes ([`service_port_chain_name`], [`endpoint_chain_name`]) because
//! iptables limits names to 28 characters; they are stable, so seed 003's names come out
//! identical here.
//!
//! Two formats differ between what we *write* and what `iptables -L`/`-S` *print*, exactly as
//! upstream: we write `--probability 0.3333333333` (`%0.10f`) and the kernel, which stores it
//! as a 32-bit fraction, prints `0.33333333349`; we write `-s 10.244.0.5` and
//! `iptables-save` prints `-s 10.244.0.5/32`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use kube_api::core::{Endpoints, Service};
use sha2::{Digest, Sha256};

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
/// The kubelet's anti-martian chain, which upstream's kube-proxy also writes when it
/// enables NodePorts on 127.0.0.1.
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

/// Upstream's default `--iptables-masquerade-bit` 14.
pub const MASQUERADE_MARK: &str = "0x4000";

/// Upstream drops per-endpoint comments above this many endpoints ("large cluster mode"):
/// they make the restore input 40 % bigger.
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// Prefixes of the per-service chains, which a sync deletes when they are no longer used.
pub const SERVICE_CHAIN_PREFIXES: &[&str] = &["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];

/// A jump from a built-in chain to one of ours, installed with `iptables -C`/`-I` (not in the
/// restore input, which must not replace the rest of PREROUTING, OUTPUT, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jump {
    pub table: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    /// The rule's arguments after `-t TABLE -I FROM`, e.g. `-m comment --comment "..." -j TO`.
    pub args: Vec<String>,
}

/// Upstream's `iptablesJumpChains` (plus the kubelet's KUBE-FIREWALL jumps when NodePorts
/// on localhost are enabled), in upstream's order.
pub fn jumps(config: &ProxyConfig) -> Vec<Jump> {
    let new = &["-m", "conntrack", "--ctstate", "NEW"][..];
    let mut table: Vec<(&str, &str, &str, &str, &[&str])> = vec![
        ("filter", KUBE_EXTERNAL_SERVICES, "INPUT", "kubernetes externally-visible service portals", new),
        ("filter", KUBE_EXTERNAL_SERVICES, "FORWARD", "kubernetes externally-visible service portals", new),
        ("filter", KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", &[]),
        ("filter", KUBE_SERVICES, "FORWARD", "kubernetes service portals", new),
        ("filter", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", new),
        ("filter", KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", &[]),
        ("filter", KUBE_PROXY_FIREWALL, "INPUT", "kubernetes load balancer firewall", new),
        ("filter", KUBE_PROXY_FIREWALL, "OUTPUT", "kubernetes load balancer firewall", new),
        ("filter", KUBE_PROXY_FIREWALL, "FORWARD", "kubernetes load balancer firewall", new),
        ("nat", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", &[]),
        ("nat", KUBE_SERVICES, "PREROUTING", "kubernetes service portals", &[]),
        ("nat", KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", &[]),
    ];
    if config.localhost_node_ports {
        table.push(("filter", KUBE_FIREWALL, "INPUT", "", &[]));
        table.push(("filter", KUBE_FIREWALL, "OUTPUT", "", &[]));
    }
    table
        .into_iter()
        .map(|(table, to, from, comment, extra)| {
            let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            if !comment.is_empty() {
                args.extend(["-m".into(), "comment".into(), "--comment".into(), comment.into()]);
            }
            args.extend(["-j".into(), to.into()]);
            Jump { table, from, to, args }
        })
        .collect()
}

/// The flags that shape the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `--cluster-cidr`: traffic to a ClusterIP from outside it is masqueraded.
    pub cluster_cidr: Option<String>,
    /// `--masquerade-all`: masquerade all traffic to ClusterIPs.
    pub masquerade_all: bool,
    /// The node addresses NodePorts answer on, from `--nodeport-addresses`; `None` means
    /// every local address (`-m addrtype --dst-type LOCAL`), upstream's default.
    pub node_port_ips: Option<Vec<String>>,
    /// NodePorts also answer on 127.0.0.1 (upstream's `--iptables-localhost-nodeports`, on by
    /// default when the NodePort addresses include loopback); needs `route_localnet=1`.
    pub localhost_node_ports: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no DROP of INVALID packets.
    pub conntrack_tcp_be_liberal: bool,
    /// The iptables binary supports `MASQUERADE --random-fully` (1.6.2 and later).
    pub random_fully: bool,
    /// This node's name (`--hostname-override`): endpoints whose `nodeName` is this one are
    /// *local*, the only ones `externalTrafficPolicy/internalTrafficPolicy: Local` use.
    pub node_name: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            cluster_cidr: None,
            masquerade_all: false,
            node_port_ips: None,
            localhost_node_ports: true,
            conntrack_tcp_be_liberal: false,
            random_fully: true,
            node_name: String::new(),
        }
    }
}

/// One port of one Service, with its ready endpoints: upstream's `ServicePort` plus its
/// entry in the `EndpointsMap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    /// `namespace/name:port` (`namespace/name` when the port has no name): upstream's
    /// `ServicePortName.String()`, used in comments and hashes.
    pub name: String,
    /// Lower case, as it appears in rules: `tcp`, `udp`, `sctp`.
    pub protocol: String,
    pub cluster_ip: String,
    pub port: i32,
    pub node_port: Option<i32>,
    pub external_ips: Vec<String>,
    /// `sessionAffinity: ClientIP`: the stickiness timeout in seconds.
    pub affinity_timeout: Option<i32>,
    /// Ready endpoints as `ip:port`, sorted.
    pub endpoints: Vec<String>,
    /// The ready endpoints on this node (a subset of `endpoints`, in the same order).
    pub local_endpoints: Vec<String>,
    /// `externalTrafficPolicy: Local` on a NodePort or external IP: outside traffic goes only
    /// to this node's endpoints, and keeps its source address.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`: ClusterIP traffic goes only to this node's endpoints.
    pub internal_policy_local: bool,
    /// `healthCheckNodePort` (`externalTrafficPolicy: Local` LoadBalancers): accepted in filter.
    pub health_check_node_port: Option<i32>,
}

impl ServicePortInfo {
    /// Reachable from outside through a NodePort or an external IP (upstream's
    /// `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty()
    }

    /// Upstream's `UsesClusterEndpoints`: the `KUBE-SVC-` chain over every endpoint is
    /// needed for Cluster policy, and for pod → NodePort traffic even under Local policy.
    fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }

    /// Upstream's `UsesLocalEndpoints`: the `KUBE-SVL-` chain over local endpoints is needed.
    fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }
}

/// Upstream's `portProtoHash`: base32(SHA-256(servicePortName + protocol)), first 16 characters.
pub fn port_proto_hash(service_port_name: &str, protocol: &str) -> String {
    hash16(&format!("{service_port_name}{protocol}"))
}

/// `KUBE-SVC-<hash>`: the chain that load-balances one service port.
pub fn service_port_chain_name(service_port_name: &str, protocol: &str) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(service_port_name, protocol))
}

/// `KUBE-EXT-<hash>`: where NodePort and external-IP traffic enters (and is masqueraded).
pub fn external_chain_name(service_port_name: &str, protocol: &str) -> String {
    format!("KUBE-EXT-{}", port_proto_hash(service_port_name, protocol))
}

/// `KUBE-SVL-<hash>`: like `KUBE-SVC-`, over this node's endpoints only (Local traffic policy).
pub fn local_policy_chain_name(service_port_name: &str, protocol: &str) -> String {
    format!("KUBE-SVL-{}", port_proto_hash(service_port_name, protocol))
}

/// `KUBE-SEP-<hash>`: the chain that DNATs to one endpoint (`ip:port`).
pub fn endpoint_chain_name(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    format!("KUBE-SEP-{}", hash16(&format!("{service_port_name}{protocol}{endpoint}")))
}

/// Whether `chain` is a per-service chain (which a sync may delete when unused).
pub fn is_service_chain(chain: &str) -> bool {
    SERVICE_CHAIN_PREFIXES.iter().any(|p| chain.starts_with(p))
}

fn hash16(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut encoded = base32(&digest);
    encoded.truncate(16);
    encoded
}

/// RFC 4648 base32 with the standard alphabet (Go's `base32.StdEncoding`); we only ever keep
/// the first 16 characters, so padding does not matter.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Upstream's `computeProbability`: `fmt.Sprintf("%0.10f", 1.0/float64(n))`.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// Services and Endpoints → the service ports to program, sorted by name.
///
/// Skipped, as upstream: headless Services (`clusterIP: None`), Services without a
/// ClusterIP, and `ExternalName` Services. Endpoints are matched by the **port name**: the
/// endpoints controller already resolved a named `targetPort` (`targetPort: http`) to each
/// pod's container port, so the endpoint port is the number to DNAT to. Only `addresses`
/// (ready pods) are used; `notReadyAddresses` (starting or terminating pods) are not. An
/// address whose `nodeName` is `node_name` is *local*.
pub fn service_ports<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    endpoints: impl IntoIterator<Item = &'a Endpoints>,
    node_name: &str,
) -> Vec<ServicePortInfo> {
    let by_key: BTreeMap<(&str, &str), &Endpoints> = endpoints
        .into_iter()
        .map(|e| ((e.metadata.namespace.as_str(), e.metadata.name.as_str()), e))
        .collect();
    let mut out = Vec::new();
    for svc in services {
        let spec = &svc.spec;
        if spec.cluster_ip.is_empty() || spec.is_headless() || spec.type_ == "ExternalName" {
            continue;
        }
        let (ns, name) = (svc.metadata.namespace.as_str(), svc.metadata.name.as_str());
        let eps = by_key.get(&(ns, name));
        for port in &spec.ports {
            let protocol = if port.protocol.is_empty() { "TCP" } else { port.protocol.as_str() };
            let name = if port.name.is_empty() { format!("{ns}/{name}") } else { format!("{ns}/{name}:{}", port.name) };
            let mut endpoints = BTreeSet::new();
            let mut local = BTreeSet::new();
            for subset in eps.map(|e| e.subsets.as_slice()).unwrap_or_default() {
                let matching = subset.ports.iter().find(|p| {
                    p.name == port.name && (p.protocol.is_empty() || p.protocol.eq_ignore_ascii_case(protocol))
                });
                let Some(ep_port) = matching else { continue };
                if ep_port.port <= 0 {
                    continue;
                }
                for addr in subset.addresses.iter().filter(|a| !a.ip.is_empty()) {
                    let ep = format!("{}:{}", addr.ip, ep_port.port);
                    if !node_name.is_empty() && addr.node_name.as_deref() == Some(node_name) {
                        local.insert(ep.clone());
                    }
                    endpoints.insert(ep);
                }
            }
            let affinity_timeout = (spec.session_affinity == "ClientIP").then(|| {
                spec.session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds)
                    .unwrap_or(10800)
            });
            out.push(ServicePortInfo {
                name,
                protocol: protocol.to_ascii_lowercase(),
                cluster_ip: spec.cluster_ip.clone(),
                port: port.port,
                node_port: port.node_port.filter(|&p| p != 0),
                external_ips: spec.external_ips.clone(),
                affinity_timeout,
                endpoints: endpoints.into_iter().collect(),
                local_endpoints: local.into_iter().collect(),
                external_policy_local: spec.external_traffic_policy == "Local",
                internal_policy_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                health_check_node_port: spec.health_check_node_port.filter(|&p| p != 0),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One line of the nat table, with the service port whose *own* chains it writes
/// (`KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`, `KUBE-SEP-`), or `None` for a shared chain
/// (`KUBE-SERVICES`, `KUBE-NODEPORTS`, ...). The tag is what lets a partial sync leave the
/// chains of unchanged services out of the restore input.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NatLine {
    text: String,
    owner: Option<usize>,
}

/// The generated rules, kept as upstream's four line buffers so that stale chains can be
/// deleted at the right place, rules counted per table, and a sync can write only the
/// service ports whose chains changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub filter_chains: Vec<String>,
    pub filter_rules: Vec<String>,
    nat_chains: Vec<NatLine>,
    nat_rules: Vec<NatLine>,
    /// The KUBE-NODEPORTS jump(s) that must stay last in KUBE-SERVICES.
    nat_tail: Vec<String>,
    /// Service port names, indexed by [`NatLine::owner`].
    owners: Vec<String>,
    /// Every per-service nat chain in use (to tell stale chains apart).
    pub active_nat_chains: BTreeSet<String>,
    pub service_ports: usize,
    pub endpoints: usize,
    /// Service ports with `internalTrafficPolicy: Local` and no endpoint on this node: their
    /// ClusterIP is DROPped (upstream's `sync_proxy_rules_no_local_endpoints_total`).
    pub no_local_endpoints_internal: usize,
    /// The same for `externalTrafficPolicy: Local` (NodePorts, external IPs).
    pub no_local_endpoints_external: usize,
}

/// Upstream writes everything in one `iptables-restore`. iptables-nft 1.8.9's `--noflush`
/// mode costs time quadratic in the chains declared in one transaction (measured: 6,000
/// chains 0.9 s of CPU, 12,000 chains 8 s); above this many, a sync is split into several
/// transactions (see [`Rules::restore_inputs`]).
pub const MAX_CHAINS_PER_RESTORE: usize = 3000;

impl Rules {
    /// The whole `iptables-restore` input (a full sync). `stale_chains` (per-service chains
    /// that exist in the kernel but are no longer generated) are flushed and deleted, as
    /// upstream does.
    pub fn restore_input(&self, stale_chains: &[String]) -> String {
        self.partial_restore_input(|_| true, stale_chains)
    }

    /// The input of a **partial sync**: the filter table and the shared nat chains
    /// (`KUBE-SERVICES`, `KUBE-NODEPORTS`, ...) in full, but the own chains only of the
    /// service ports for which `write(name)` is true. The others are not mentioned, so
    /// `--noflush` leaves them as they are in the kernel.
    pub fn partial_restore_input(&self, write: impl Fn(&str) -> bool, stale_chains: &[String]) -> String {
        let writes: Vec<bool> = self.owners.iter().map(|n| write(n)).collect();
        let keep = |l: &&NatLine| l.owner.is_none_or(|o| writes[o]);
        let mut s = String::with_capacity(64 * (self.nat_rules.len() + self.filter_rules.len() + 16));
        s.push_str("*filter\n");
        for line in self.filter_chains.iter().chain(&self.filter_rules) {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("COMMIT\n*nat\n");
        for line in self.nat_chains.iter().filter(keep) {
            s.push_str(&line.text);
            s.push('\n');
        }
        for chain in stale_chains {
            let _ = writeln!(s, ":{chain} - [0:0]");
        }
        for line in self.nat_rules.iter().filter(keep) {
            s.push_str(&line.text);
            s.push('\n');
        }
        for chain in stale_chains {
            let _ = writeln!(s, "-X {chain}");
        }
        for line in &self.nat_tail {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("COMMIT\n");
        s
    }

    /// The restore inputs of a sync, to apply in order: one (exactly
    /// [`Rules::partial_restore_input`]) when it declares at most `max_chains` chains;
    /// otherwise first the written service ports' own chains in groups of about
    /// `max_chains` chains (each transaction holds whole services: a `KUBE-SVC-` chain with
    /// its `KUBE-SEP-` chains), then one transaction with everything else.
    ///
    /// No state in between is broken: until the last transaction, `KUBE-SERVICES` still
    /// jumps to the chains it jumped to, each of which has been replaced whole (or not yet);
    /// stale chains are deleted only in the last one, after nothing jumps to them any more.
    pub fn restore_inputs(&self, write: impl Fn(&str) -> bool, stale_chains: &[String], max_chains: usize) -> Vec<String> {
        let writes: Vec<bool> = self.owners.iter().map(|n| write(n)).collect();
        let written_chains = self.nat_chains.iter().filter(|l| l.owner.is_some_and(|o| writes[o])).count();
        if written_chains + stale_chains.len() <= max_chains {
            return vec![self.partial_restore_input(|n| write(n), stale_chains)];
        }
        // Group the written owners; owners are numbered in the order their lines appear.
        let mut chains_of: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        let mut rules_of: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for line in &self.nat_chains {
            if let Some(o) = line.owner.filter(|&o| writes[o]) {
                chains_of.entry(o).or_default().push(&line.text);
            }
        }
        for line in &self.nat_rules {
            if let Some(o) = line.owner.filter(|&o| writes[o]) {
                rules_of.entry(o).or_default().push(&line.text);
            }
        }
        let mut inputs = Vec::new();
        let mut group: Vec<usize> = Vec::new();
        let mut group_chains = 0;
        let flush = |group: &mut Vec<usize>, inputs: &mut Vec<String>| {
            if group.is_empty() {
                return;
            }
            // Every SEP chain jumps to KUBE-MARK-MASQ, which must exist (on the first sync it
            // does not yet): declare and write it, as the last transaction does too.
            let mut s = format!("*nat\n:{KUBE_MARK_MASQ} - [0:0]\n");
            for o in group.iter() {
                for c in &chains_of[o] {
                    s.push_str(c);
                    s.push('\n');
                }
            }
            let _ = writeln!(s, "-A {KUBE_MARK_MASQ} -j MARK --or-mark {MASQUERADE_MARK}");
            for o in group.iter() {
                for r in rules_of.get(o).into_iter().flatten() {
                    s.push_str(r);
                    s.push('\n');
                }
            }
            s.push_str("COMMIT\n");
            inputs.push(s);
            group.clear();
        };
        for (&o, chains) in &chains_of {
            if group_chains + chains.len() > max_chains {
                flush(&mut group, &mut inputs);
                group_chains = 0;
            }
            group.push(o);
            group_chains += chains.len();
        }
        flush(&mut group, &mut inputs);
        inputs.push(self.partial_restore_input(|_| false, stale_chains));
        inputs
    }

    /// Each service port's own chains as text, by name: what a sync compares with the
    /// previous one to know which service ports changed.
    pub fn service_chains(&self) -> BTreeMap<&str, String> {
        let mut blocks: Vec<String> = vec![String::new(); self.owners.len()];
        for line in self.nat_chains.iter().chain(&self.nat_rules) {
            if let Some(o) = line.owner {
                blocks[o].push_str(&line.text);
                blocks[o].push('\n');
            }
        }
        self.owners.iter().map(String::as_str).zip(blocks).collect()
    }

    /// Rules in the nat table (upstream's `sync_proxy_rules_iptables_total{table="nat"}`).
    pub fn nat_rule_count(&self) -> usize {
        self.nat_rules.len() + self.nat_tail.len()
    }

    pub fn filter_rule_count(&self) -> usize {
        self.filter_rules.len()
    }

    fn shared_chain(&mut self, chain: &str) {
        self.nat_chains.push(NatLine { text: chain_line(chain), owner: None });
    }

    fn shared_rule(&mut self, text: String) {
        self.nat_rules.push(NatLine { text, owner: None });
    }
}

fn chain_line(chain: &str) -> String {
    format!(":{chain} - [0:0]")
}

/// Quotes a comment the way upstream writes it into the restore input: only when needed.
fn comment(text: &str) -> String {
    if text.contains(' ') {
        format!("\"{text}\"")
    } else {
        text.to_string()
    }
}

/// Service ports + config → the rules (upstream's `syncProxyRules`, minus the I/O).
pub fn build(ports: &[ServicePortInfo], config: &ProxyConfig) -> Rules {
    let mut r = Rules::default();
    let masq = MASQUERADE_MARK;
    for chain in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL] {
        r.filter_chains.push(chain_line(chain));
    }
    for chain in [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] {
        r.shared_chain(chain);
    }
    r.shared_rule(format!("-A {KUBE_POSTROUTING} -m mark ! --mark {masq}/{masq} -j RETURN"));
    // Clear the mark so that a packet crossing the stack again is not masqueraded twice.
    r.shared_rule(format!("-A {KUBE_POSTROUTING} -j MARK --xor-mark {masq}"));
    let random_fully = if config.random_fully { " --random-fully" } else { "" };
    r.shared_rule(format!(
        "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{random_fully}"
    ));
    r.shared_rule(format!("-A {KUBE_MARK_MASQ} -j MARK --or-mark {masq}"));
    if config.localhost_node_ports {
        // route_localnet=1 lets 127.0.0.1:NODEPORT be DNATed elsewhere, but would also let
        // other hosts reach 127.0.0.1 services: this drops such martians (issue 90259).
        r.filter_chains.push(chain_line(KUBE_FIREWALL));
        r.filter_rules.push(format!(
            "-A {KUBE_FIREWALL} -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
        ));
    }

    r.endpoints = ports.iter().map(|p| p.endpoints.len()).sum();
    r.service_ports = ports.len();
    let large_cluster = r.endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
    for svc in ports {
        r.owners.push(svc.name.clone());
        write_service_port(&mut r, svc, config, large_cluster);
    }

    let nodeports_comment = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    match &config.node_port_ips {
        None => {
            let not_localhost = if config.localhost_node_ports { "" } else { " ! -d 127.0.0.0/8" };
            r.nat_tail.push(format!(
                "-A {KUBE_SERVICES} {nodeports_comment} -m addrtype --dst-type LOCAL{not_localhost} -j {KUBE_NODEPORTS}"
            ));
        }
        Some(ips) => {
            for ip in ips {
                if ip.starts_with("127.") && !config.localhost_node_ports {
                    continue;
                }
                r.nat_tail.push(format!("-A {KUBE_SERVICES} {nodeports_comment} -d {ip} -j {KUBE_NODEPORTS}"));
            }
        }
    }

    if !config.conntrack_tcp_be_liberal {
        // Out-of-window packets would otherwise reset connections (issues 74839, 117924).
        r.filter_rules.push(format!("-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP"));
    }
    r.filter_rules.push(format!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {masq}/{masq} -j ACCEPT"
    ));
    r.filter_rules.push(format!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    ));
    r
}

/// The rules of one service port, in upstream's order (`syncProxyRules`' loop body).
///
/// Traffic policies decide which endpoints each kind of traffic may reach:
/// - *internal* traffic (to the ClusterIP) goes to `KUBE-SVC-` (every endpoint), or with
///   `internalTrafficPolicy: Local` to `KUBE-SVL-` (this node's endpoints only; none: DROP);
/// - *external* traffic (NodePort, external IPs) enters `KUBE-EXT-`, which goes on to
///   `KUBE-SVC-` after marking it for masquerade, or with `externalTrafficPolicy: Local`
///   to `KUBE-SVL-` *without* masquerading — the pod sees the client's real address — except
///   for traffic from pods and from the node itself, which still may use any endpoint.
fn write_service_port(r: &mut Rules, svc: &ServicePortInfo, config: &ProxyConfig, large_cluster: bool) {
    let owner = Some(r.owners.len() - 1);
    let own_chain = |r: &mut Rules, chain: &str| {
        r.nat_chains.push(NatLine { text: chain_line(chain), owner });
        r.active_nat_chains.insert(chain.to_string());
    };
    let own_rule = |r: &mut Rules, text: String| r.nat_rules.push(NatLine { text, owner });
    let (name, proto) = (svc.name.as_str(), svc.protocol.as_str());
    let cluster_chain = service_port_chain_name(name, proto);
    let local_chain = local_policy_chain_name(name, proto);
    let ext_chain = external_chain_name(name, proto);
    let match_proto = format!("-m {proto} -p {proto}");

    // Upstream's CategorizeEndpoints (every endpoint we have is ready).
    let cluster_endpoints: &[String] = if svc.uses_cluster_endpoints() { &svc.endpoints } else { &[] };
    let local_endpoints: &[String] = if svc.uses_local_endpoints() { &svc.local_endpoints } else { &[] };
    let has_endpoints = !svc.endpoints.is_empty();
    let reachable: Vec<&String> = svc.endpoints.iter().filter(|e| cluster_endpoints.contains(*e) || local_endpoints.contains(*e)).collect();
    let uses_cluster_chain = !cluster_endpoints.is_empty();
    let uses_local_chain = !local_endpoints.is_empty();
    let (internal_chain, has_internal_endpoints) =
        if svc.internal_policy_local { (&local_chain, !local_endpoints.is_empty()) } else { (&cluster_chain, has_endpoints) };
    let (external_policy_chain, has_external_endpoints) =
        if svc.external_policy_local { (&local_chain, !local_endpoints.is_empty()) } else { (&cluster_chain, has_endpoints) };
    let uses_ext_chain = has_endpoints && svc.externally_accessible();

    // What the filter table does with traffic that has nowhere to go: REJECT (an immediate
    // "connection refused" instead of a black hole) when there is no endpoint at all, DROP
    // when only the Local policy leaves none.
    let (internal_filter, external_filter) = if !has_endpoints {
        let c = comment(&format!("{name} has no endpoints"));
        (("REJECT", c.clone()), ("REJECT", c))
    } else {
        let c = comment(&format!("{name} has no local endpoints"));
        if !has_internal_endpoints {
            r.no_local_endpoints_internal += 1;
        }
        if !has_external_endpoints {
            r.no_local_endpoints_external += 1;
        }
        (("DROP", c.clone()), ("DROP", c))
    };

    // The ClusterIP.
    let cluster_ip_comment = comment(&format!("{name} cluster IP"));
    let cluster_ip_match = format!("-m comment --comment {cluster_ip_comment} {match_proto} -d {} --dport {}", svc.cluster_ip, svc.port);
    if has_internal_endpoints {
        r.shared_rule(format!("-A {KUBE_SERVICES} {cluster_ip_match} -j {internal_chain}"));
    } else {
        r.filter_rules.push(format!(
            "-A {KUBE_SERVICES} -m comment --comment {} {match_proto} -d {} --dport {} -j {}",
            internal_filter.1, svc.cluster_ip, svc.port, internal_filter.0
        ));
    }

    for ip in &svc.external_ips {
        if has_endpoints {
            r.shared_rule(format!(
                "-A {KUBE_SERVICES} -m comment --comment {} {match_proto} -d {ip} --dport {} -j {ext_chain}",
                comment(&format!("{name} external IP")),
                svc.port
            ));
        }
        if !has_external_endpoints {
            r.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {} {match_proto} -d {ip} --dport {} -j {}",
                external_filter.1, svc.port, external_filter.0
            ));
        }
    }

    if let Some(node_port) = svc.node_port {
        if has_endpoints {
            r.shared_rule(format!(
                "-A {KUBE_NODEPORTS} -m comment --comment {} {match_proto} --dport {node_port} -j {ext_chain}",
                comment(name)
            ));
        }
        if !has_external_endpoints {
            r.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {} -m addrtype --dst-type LOCAL {match_proto} --dport {node_port} -j {}",
                external_filter.1, external_filter.0
            ));
        }
    }

    if let Some(port) = svc.health_check_node_port {
        // Load balancers probe this port to learn which nodes have local endpoints.
        r.filter_rules.push(format!(
            "-A {KUBE_NODEPORTS} -m comment --comment {} -m tcp -p tcp --dport {port} -j ACCEPT",
            comment(&format!("{name} health check node port"))
        ));
    }

    // Masquerade traffic to the ClusterIP that does not come from a pod: the reply must
    // come back through this node to be un-DNATed.
    if has_internal_endpoints {
        if config.masquerade_all {
            own_rule(r, format!("-A {internal_chain} {cluster_ip_match} -j {KUBE_MARK_MASQ}"));
        } else if let Some(cidr) = &config.cluster_cidr {
            own_rule(r, format!("-A {internal_chain} {cluster_ip_match} ! -s {cidr} -j {KUBE_MARK_MASQ}"));
        }
    }

    if uses_ext_chain {
        own_chain(r, &ext_chain);
        if !svc.external_policy_local {
            // Traffic from outside may be sent to another node: masquerade it so that replies return.
            own_rule(
                r,
                format!(
                    "-A {ext_chain} -m comment --comment {} -j {KUBE_MARK_MASQ}",
                    comment(&format!("masquerade traffic for {name} external destinations"))
                ),
            );
        } else {
            // Local policy keeps the client's address. Pods calling a NodePort are treated as
            // if they went out to a load balancer and back: any endpoint will do.
            if let Some(cidr) = &config.cluster_cidr {
                own_rule(
                    r,
                    format!(
                        "-A {ext_chain} -m comment --comment {} -s {cidr} -j {cluster_chain}",
                        comment(&format!("pod traffic for {name} external destinations"))
                    ),
                );
            }
            // The node itself is the source: its reply address is local, so masquerade, and
            // any endpoint will do.
            own_rule(
                r,
                format!(
                    "-A {ext_chain} -m comment --comment {} -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}",
                    comment(&format!("masquerade LOCAL traffic for {name} external destinations"))
                ),
            );
            own_rule(
                r,
                format!(
                    "-A {ext_chain} -m comment --comment {} -m addrtype --src-type LOCAL -j {cluster_chain}",
                    comment(&format!("route LOCAL traffic for {name} external destinations"))
                ),
            );
        }
        if has_external_endpoints {
            own_rule(r, format!("-A {ext_chain} -j {external_policy_chain}"));
        }
    }

    let ep_comment = |ep: &str| {
        if large_cluster {
            String::new()
        } else {
            format!(" -m comment --comment {}", comment(&format!("{name} -> {ep}")))
        }
    };
    // A service chain (KUBE-SVC- or KUBE-SVL-) jumping to its endpoints' chains.
    let write_service_chain = |r: &mut Rules, chain: &str, endpoints: &[String]| {
        own_chain(r, chain);
        let seps: Vec<String> = endpoints.iter().map(|ep| endpoint_chain_name(name, proto, ep)).collect();
        // Session affinity first: a client seen recently goes back to the same endpoint.
        if let Some(timeout) = svc.affinity_timeout {
            for (ep, sep) in endpoints.iter().zip(&seps) {
                own_rule(r, format!("-A {chain}{} -m recent --name {sep} --rcheck --seconds {timeout} --reap -j {sep}", ep_comment(ep)));
            }
        }
        // Then load balancing: endpoint i of n is chosen with probability 1/(n-i), which
        // gives each endpoint 1/n overall; the last one takes whatever is left.
        let n = endpoints.len();
        for (i, (ep, sep)) in endpoints.iter().zip(&seps).enumerate() {
            let statistic = if i < n - 1 { format!(" -m statistic --mode random --probability {}", probability(n - i)) } else { String::new() };
            own_rule(r, format!("-A {chain}{}{statistic} -j {sep}", ep_comment(ep)));
        }
    };
    if uses_cluster_chain {
        write_service_chain(r, &cluster_chain, cluster_endpoints);
    }
    if uses_local_chain {
        write_service_chain(r, &local_chain, local_endpoints);
    }

    let svc_comment = if large_cluster { String::new() } else { format!(" -m comment --comment {}", comment(name)) };
    for ep in reachable {
        let sep = endpoint_chain_name(name, proto, ep);
        own_chain(r, &sep);
        let ip = ep.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(ep);
        // Hairpin: a pod reaching itself through its Service must see the node as the source.
        own_rule(r, format!("-A {sep}{svc_comment} -s {ip} -j {KUBE_MARK_MASQ}"));
        let recent = if svc.affinity_timeout.is_some() { format!(" -m recent --name {sep} --set") } else { String::new() };
        own_rule(r, format!("-A {sep}{svc_comment}{recent} {match_proto} -j DNAT --to-destination {ep}"));
    }
}

#[cfg(test)]
mod tests;
