//! `kubectl cordon NODE` / `kubectl uncordon NODE`: set or clear `spec.unschedulable` with a
//! strategic merge patch. Prints `node/x cordoned` (or `already cordoned`).

use kube_client::{PatchType, PostParams};
use serde_json::{json, Value};

use super::print;
use crate::context::resource;
use crate::error::{usage, Result};
use crate::Ctx;

/// Mark node as unschedulable (or schedulable).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// NODE
    pub nodes: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: &Args, cordon: bool) -> Result<()> {
    if args.nodes.is_empty() {
        return Err(usage("resource(s) were provided, but no name was specified"));
    }
    for node in &args.nodes {
        print(&format!("{}\n", set_unschedulable(ctx, node, cordon).await?));
    }
    Ok(())
}

/// Cordons or uncordons one node; the message kubectl prints.
pub async fn set_unschedulable(ctx: &Ctx, node: &str, cordon: bool) -> Result<String> {
    let api = ctx.api(resource("nodes")?, "")?;
    let live = api.get(node).await?;
    let word = if cordon { "cordoned" } else { "uncordoned" };
    if live["spec"]["unschedulable"].as_bool().unwrap_or(false) == cordon {
        return Ok(format!("node/{node} already {word}"));
    }
    let value = if cordon { json!(true) } else { Value::Null };
    api.patch(node, &PatchType::Strategic, &json!({"spec": {"unschedulable": value}}), &PostParams::default()).await?;
    Ok(format!("node/{node} {word}"))
}
