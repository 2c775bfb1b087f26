//! `kubectl drain NODE`: cordon the node, then evict its pods (`POST .../eviction`, the
//! polite delete that respects disruption budgets) and wait until they are gone.
//!
//! As kubectl, it refuses pods it cannot move safely unless told: DaemonSet pods
//! (`--ignore-daemonsets`: left alone, the DaemonSet would recreate them), pods with no
//! controller (`--force`: nothing recreates them), mirror pods are always left alone.

use std::time::{Duration, Instant};

use kube_client::ListParams;
use serde_json::{json, Value};

use super::print;
use crate::context::resource;
use crate::error::{usage, Result};
use crate::Ctx;

/// Drain node in preparation for maintenance.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// NODE
    pub node: String,
    /// Ignore DaemonSet-managed pods.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Continue even if there are pods that do not declare a controller.
    #[arg(long)]
    pub force: bool,
    /// Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// The length of time to wait before giving up, zero means infinite (e.g. 60s)
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    print(&format!("{}\n", super::cordon::set_unschedulable(ctx, &args.node, true).await?));
    let pods_res = resource("pods")?;
    let lp = ListParams::default().fields(&format!("spec.nodeName={}", args.node));
    let pods = ctx.api(pods_res, "")?.list_all(&lp).await?.items;
    let (mut daemon, mut unmanaged, mut local, mut evict) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for pod in pods {
        let key = format!("{}/{}", pod["metadata"]["namespace"].as_str().unwrap_or(""), super::name_of(&pod));
        let owner = pod["metadata"]["ownerReferences"].as_array().and_then(|o| o.iter().find(|r| r["controller"] == true)).cloned();
        if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
            continue;
        }
        let phase = pod["status"]["phase"].as_str().unwrap_or("");
        let finished = phase == "Succeeded" || phase == "Failed";
        if owner.as_ref().is_some_and(|o| o["kind"] == "DaemonSet") {
            daemon.push(key);
            continue;
        }
        if owner.is_none() && !finished {
            unmanaged.push(key.clone());
        }
        let empty_dir = pod["spec"]["volumes"].as_array().is_some_and(|v| v.iter().any(|v| v["emptyDir"].is_object()));
        if empty_dir && !finished {
            local.push(key.clone());
        }
        evict.push(pod);
    }
    let mut problems = Vec::new();
    if !daemon.is_empty() && !args.ignore_daemonsets {
        problems.push(format!("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {}", daemon.join(", ")));
    }
    if !unmanaged.is_empty() && !args.force {
        problems.push(format!("cannot delete Pods that declare no controller (use --force to override): {}", unmanaged.join(", ")));
    }
    if !local.is_empty() && !args.delete_emptydir_data {
        problems.push(format!("cannot delete Pods with local storage (use --delete-emptydir-data to override): {}", local.join(", ")));
    }
    if !problems.is_empty() {
        eprintln!("error: unable to drain node {:?} due to error: {}, continuing command...", args.node, problems.join(", "));
        eprintln!("There are pending nodes to be drained:\n {}", args.node);
        return Err(usage(problems.join(", ")));
    }
    if !daemon.is_empty() {
        eprintln!("Warning: ignoring DaemonSet-managed Pods: {}", daemon.join(", "));
    }
    for pod in &evict {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
        let name = super::name_of(pod);
        print(&format!("evicting pod {ns}/{name}\n"));
        let mut body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}});
        if args.grace_period >= 0 {
            body["deleteOptions"] = json!({"gracePeriodSeconds": args.grace_period});
        }
        ctx.api(pods_res, ns)?.create_subresource("eviction", name, &body).await?;
    }
    let timeout = parse_duration(&args.timeout)?;
    let started = Instant::now();
    for pod in &evict {
        wait_gone(ctx, pod, timeout.map(|t| started + t)).await?;
        print(&format!("pod/{} evicted\n", super::name_of(pod)));
    }
    print(&format!("node/{} drained\n", args.node));
    Ok(())
}

/// Polls until the pod is gone (or replaced by one with another uid).
async fn wait_gone(ctx: &Ctx, pod: &Value, deadline: Option<Instant>) -> Result<()> {
    let api = ctx.api(resource("pods")?, pod["metadata"]["namespace"].as_str().unwrap_or(""))?;
    loop {
        match api.get(super::name_of(pod)).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Ok(live) if live["metadata"]["uid"] != pod["metadata"]["uid"] => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(usage(format!("drain did not complete within {:?}", deadline.map(|d| d.elapsed()))));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `90s`, `5m`, `1h`, `0` (no limit).
fn parse_duration(text: &str) -> Result<Option<Duration>> {
    let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = num.parse().map_err(|_| usage(format!("invalid duration {text:?}")))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(usage(format!("invalid duration {text:?}"))),
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}
