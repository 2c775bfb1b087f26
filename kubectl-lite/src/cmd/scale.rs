//! `kubectl scale deploy/web --replicas=3`: `GET` the object (so that a missing one is
//! reported as such), then `PATCH` its `scale` subresource (`autoscaling/v1` `Scale`).
//! Works for every kind with a `scale` subresource: deployments, replica sets,
//! replication controllers, stateful sets. Prints `deployment.apps/web scaled`.

use kube_client::{PatchType, PostParams};
use serde_json::json;

use super::print;
use crate::context::split_args;
use crate::error::{usage, Error, Result};
use crate::printers::object_name;
use crate::Ctx;

/// Set a new size for a deployment, replica set, replication controller, or stateful set.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE NAME or TYPE/NAME
    pub resources: Vec<String>,
    /// The new desired number of replicas. Required.
    #[arg(long, required = true)]
    pub replicas: i64,
    /// Precondition for current size. Requires that the current size of the resource match this value in order to scale. -1 (default) for no condition.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub current_replicas: i64,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ns = ctx.namespace()?;
    let mut errors: Vec<Error> = Vec::new();
    for (res, name) in split_args(&args.resources)? {
        let Some(name) = name else { return Err(usage("resource(s) were provided, but no name was specified")) };
        if !res.has_subresource("scale") {
            return Err(usage(format!("cannot scale {}: no scale subresource", res.qualified_plural())));
        }
        let api = ctx.api(res, &ns)?;
        let live = match api.get(&name).await {
            Ok(live) => live,
            // kubectl's builder finds nothing to scale, and says so in its own words.
            Err(e) if e.is_not_found() => {
                let message = e.status().and_then(|s| s.message.clone()).unwrap_or_default();
                return Err(usage(format!("no objects passed to scale {message}")));
            }
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        if args.current_replicas >= 0 && live["spec"]["replicas"].as_i64().unwrap_or(1) != args.current_replicas {
            errors.push(usage(format!(
                "Expected replicas to be {}, was {}",
                args.current_replicas,
                live["spec"]["replicas"].as_i64().unwrap_or(1)
            )));
            continue;
        }
        let patch = json!({"spec": {"replicas": args.replicas}});
        match api.patch_subresource("scale", &name, &PatchType::Merge, &patch, &PostParams::default()).await {
            Ok(_) => print(&format!("{} scaled\n", object_name(res, &name))),
            Err(e) => errors.push(e.into()),
        }
    }
    super::get::finish(errors)
}
