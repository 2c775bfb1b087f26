//! The only file that touches the kernel: runs `iptables-restore`, `iptables-save` and
//! `iptables`, and sets the sysctls kube-proxy needs (upstream's `pkg/util/iptables` and
//! `proxyutil.EnsureSysctl`).
//!
//! Everything runs as child processes of the iptables binaries, in kube-proxy's own network
//! namespace: a test that starts kube-proxy with `nsenter --net=...` gets its rules there.
//! `-w 5` waits up to five seconds for the xtables lock held by another writer (the kubelet,
//! a CNI plugin) instead of failing at once.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::{debug, info, warn};

use crate::rules::{self, Jump};

#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// The binary could not be started (not installed, not root?).
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The binary ran and failed; `stderr` says why (for a restore, with the line number).
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    /// A sysctl could not be read or written.
    #[error("sysctl {name}: {source}")]
    Sysctl {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// `iptables-restore --noflush --counters` with `input` on stdin: replaces the chains named
/// in the input (a `:CHAIN` line flushes it) and leaves every other chain alone. Returns
/// how long it took.
pub async fn restore(input: &str) -> Result<Duration, IptablesError> {
    let start = Instant::now();
    let args = ["-w", "5", "--noflush", "--counters"];
    let mut child = Command::new("iptables-restore")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| IptablesError::Spawn { program: "iptables-restore".into(), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means the child died early; its stderr below says why.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| IptablesError::Spawn { program: "iptables-restore".into(), source })?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            command: format!("iptables-restore {}", args.join(" ")),
            stderr: explain_restore_error(&String::from_utf8_lossy(&out.stderr), input),
        });
    }
    Ok(start.elapsed())
}

/// Adds the offending line (and its neighbours) to a restore error, as upstream's
/// `ExtractLines` does: "line 42 failed" alone helps nobody.
fn explain_restore_error(stderr: &str, input: &str) -> String {
    let line: Option<usize> = stderr
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    match line {
        Some(n) if n > 0 => {
            let context: Vec<String> = input
                .lines()
                .enumerate()
                .skip(n.saturating_sub(3))
                .take(5)
                .map(|(i, l)| format!("{:>6} {l}", i + 1))
                .collect();
            format!("{}\n{}", stderr.trim(), context.join("\n"))
        }
        _ => stderr.trim().to_string(),
    }
}

/// Runs `iptables ARGS` and returns whether it succeeded (`-C` answers with its status).
async fn iptables(args: &[&str]) -> Result<std::process::Output, IptablesError> {
    Command::new("iptables")
        .arg("-w")
        .arg("5")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| IptablesError::Spawn { program: "iptables".into(), source })
}

async fn iptables_ok(args: &[&str]) -> Result<(), IptablesError> {
    let out = iptables(args).await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IptablesError::Failed {
            command: format!("iptables {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The chains of `table`, from `iptables-save -t TABLE`.
pub async fn chains(table: &str) -> Result<BTreeSet<String>, IptablesError> {
    let out = Command::new("iptables-save")
        .args(["-t", table])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| IptablesError::Spawn { program: "iptables-save".into(), source })?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            command: format!("iptables-save -t {table}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Makes sure each jump exists (upstream's `EnsureChain` + `EnsureRule(Prepend, ...)`):
/// `iptables -N` for the target chain, `-C` to check for the rule, `-I` (at the top) when
/// it is missing. Returns how many rules had to be inserted: on a running node, any
/// means someone flushed iptables and a full restore is due.
pub async fn ensure_jumps(jumps: &[Jump]) -> Result<usize, IptablesError> {
    let mut inserted = 0;
    for jump in jumps {
        // Fails with "Chain already exists" most of the time, which is what we want.
        let _ = iptables(&["-t", jump.table, "-N", jump.to]).await?;
        let mut check = vec!["-t", jump.table, "-C", jump.from];
        check.extend(jump.args.iter().map(String::as_str));
        if iptables(&check).await?.status.success() {
            continue;
        }
        let mut insert = vec!["-t", jump.table, "-I", jump.from];
        insert.extend(jump.args.iter().map(String::as_str));
        iptables_ok(&insert).await?;
        debug!("inserted jump {} {} -> {}", jump.table, jump.from, jump.to);
        inserted += 1;
    }
    Ok(inserted)
}

/// `kube-proxy --cleanup` (upstream's `CleanupLeftovers`): deletes the jump rules, then
/// flushes and deletes every chain kube-proxy creates, in both tables, in one restore per
/// table (flushing all before deleting any, so that our chains' jumps to each other do not
/// keep them alive). Other rules and chains are not touched.
///
/// Unlike upstream, KUBE-FIREWALL and KUBE-MARK-MASQ are removed too: upstream leaves them
/// to the kubelet, which creates them as well; our kubelet does not.
pub async fn cleanup(config: &rules::ProxyConfig) -> Result<usize, IptablesError> {
    let mut all_jumps = rules::jumps(config);
    if !config.localhost_node_ports {
        all_jumps.extend(rules::jumps(&rules::ProxyConfig { localhost_node_ports: true, ..config.clone() }));
    }
    for jump in &all_jumps {
        let mut delete = vec!["-t", jump.table, "-D", jump.from];
        delete.extend(jump.args.iter().map(String::as_str));
        // Delete every copy (a crashed run may have inserted it twice).
        while iptables(&delete).await?.status.success() {}
    }
    let ours = |table: &str, chain: &str| {
        let fixed: &[&str] = if table == "nat" {
            &[rules::KUBE_SERVICES, rules::KUBE_NODEPORTS, rules::KUBE_POSTROUTING, rules::KUBE_MARK_MASQ]
        } else {
            &[
                rules::KUBE_SERVICES,
                rules::KUBE_EXTERNAL_SERVICES,
                rules::KUBE_FORWARD,
                rules::KUBE_NODEPORTS,
                rules::KUBE_PROXY_FIREWALL,
                rules::KUBE_FIREWALL,
            ]
        };
        fixed.contains(&chain) || rules::is_service_chain(chain)
    };
    let mut removed = 0;
    let mut input = String::new();
    for table in ["nat", "filter"] {
        let doomed: Vec<String> = chains(table).await?.into_iter().filter(|c| ours(table, c)).collect();
        if doomed.is_empty() {
            continue;
        }
        input.push_str(&format!("*{table}\n"));
        for c in &doomed {
            input.push_str(&format!(":{c} - [0:0]\n"));
        }
        for c in &doomed {
            input.push_str(&format!("-X {c}\n"));
        }
        input.push_str("COMMIT\n");
        removed += doomed.len();
    }
    if !input.is_empty() {
        restore(&input).await?;
    }
    Ok(removed)
}

/// Sets `/proc/sys/NAME` to `value` unless it already is; logs when it changes something.
pub fn ensure_sysctl(name: &str, value: &str) -> Result<(), IptablesError> {
    let path = Path::new("/proc/sys").join(name.replace('.', "/"));
    let err = |source| IptablesError::Sysctl { name: name.to_string(), source };
    let current = std::fs::read_to_string(&path).map_err(err)?;
    if current.trim() == value {
        debug!("sysctl {name} is already {value}");
        return Ok(());
    }
    std::fs::write(&path, value).map_err(err)?;
    info!("Set sysctl {name} to {value} (was {})", current.trim());
    Ok(())
}

/// The sysctls the rules depend on: forwarding (traffic DNATed to another host must be
/// routed), bridged traffic through iptables (pods on one bridge reaching each other
/// through a Service), and `route_localnet` when NodePorts answer on 127.0.0.1.
pub fn set_sysctls(config: &rules::ProxyConfig) -> Result<(), IptablesError> {
    ensure_sysctl("net.ipv4.ip_forward", "1")?;
    if Path::new("/proc/sys/net/bridge").exists() {
        ensure_sysctl("net.bridge.bridge-nf-call-iptables", "1")?;
    } else {
        warn!("/proc/sys/net/bridge is missing (br_netfilter not loaded): traffic between pods on one bridge will not go through the Service rules");
    }
    if config.localhost_node_ports {
        info!("Setting route_localnet=1 to allow node-ports on localhost; to change this either disable --iptables-localhost-nodeports or set --nodeport-addresses to filter loopback addresses");
        ensure_sysctl("net.ipv4.conf.all.route_localnet", "1")?;
    }
    Ok(())
}

/// `net.netfilter.nf_conntrack_tcp_be_liberal` is non-zero (then no INVALID DROP rule).
pub fn conntrack_tcp_be_liberal() -> bool {
    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal")
        .map(|v| v.trim() != "0")
        .unwrap_or(false)
}

/// The node's IPv4 addresses inside any of `cidrs` (`--nodeport-addresses`), from
/// `ip -o -4 addr show`.
pub async fn node_ips_in(cidrs: &[String]) -> Result<Vec<String>, IptablesError> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .await
        .map_err(|source| IptablesError::Spawn { program: "ip".into(), source })?;
    let mut ips: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter_map(|a| a.split('/').next())
        .filter(|ip| cidrs.iter().any(|c| cidr_contains(c, ip)))
        .map(str::to_string)
        .collect();
    ips.sort();
    ips.dedup();
    Ok(ips)
}

/// Whether IPv4 `cidr` (`10.0.0.0/8`) contains `ip`.
pub fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let parse = |s: &str| s.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    let Some((net, bits)) = cidr.split_once('/') else { return false };
    let (Some(net), Some(ip), Ok(bits)) = (parse(net), parse(ip), bits.parse::<u32>()) else { return false };
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
    net & mask == ip & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses_only() {
        assert!(cidr_contains("127.0.0.0/8", "127.0.0.1"));
        assert!(cidr_contains("0.0.0.0/0", "192.0.2.1"));
        assert!(!cidr_contains("10.0.0.0/24", "10.0.1.1"));
        assert!(!cidr_contains("garbage", "10.0.0.1"));
    }

    #[test]
    fn restore_errors_show_the_failing_line() {
        let input = "*nat\n:A - [0:0]\n-A A -j NOPE\nCOMMIT\n";
        let msg = explain_restore_error("iptables-restore: line 3 failed", input);
        assert!(msg.contains("     3 -A A -j NOPE"), "{msg}");
    }
}
