//! `kubectl delete`: by `TYPE NAME...`, `TYPE/NAME`, `-f FILE`, `-l SELECTOR` or `--all`.
//! One `DELETE` per object with a `DeleteOptions` body (`propagationPolicy` from
//! `--cascade`, `gracePeriodSeconds` from `--grace-period`), printing `pod "nginx" deleted`.
//! Then, as kubectl (`--wait`, on by default), it waits until each object whose deletion is
//! pending (a pod in its grace period, an object with finalizers) is gone: polled by name,
//! gone when not found or when the name now belongs to a new object (another UID).

use kube_api::ResourceInfo;
use kube_client::{DeleteParams, ListParams, PropagationPolicy};

use super::{name_of, namespace_of, print};
use crate::builder;
use crate::context::{resource_of, split_args};
use crate::error::{usage, Error, Result};
use crate::Ctx;

/// Delete resources by file names, stdin, resources and names, or by resources and label selector.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE NAME ..., TYPE/NAME ...
    pub resources: Vec<String>,
    /// containing the resource to delete.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// Period of time in seconds given to the resource to terminate gracefully. -1: the object's default.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// If true, immediately remove resources from API and bypass graceful deletion.
    #[arg(long)]
    pub force: bool,
    /// If true, resources are signaled for immediate shutdown (same as --grace-period=1).
    #[arg(long)]
    pub now: bool,
    /// Must be "background", "orphan", or "foreground".
    #[arg(long, default_value = "background", num_args = 0..=1, default_missing_value = "background")]
    pub cascade: String,
    /// Treat "resource not found" as a successful delete.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// If true, wait for resources to be gone before returning.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub wait: Option<bool>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let dp = delete_params(args)?;
    let ns = ctx.namespace()?;
    let mut targets: Vec<(&'static ResourceInfo, String, String)> = Vec::new();
    if !args.filename.is_empty() {
        for source in builder::load(&args.filename)? {
            let res = resource_of(&source.object)?;
            targets.push((res, namespace_of(&source.object, &ns).to_string(), name_of(&source.object).to_string()));
        }
    } else {
        if args.resources.is_empty() {
            return Err(usage("You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'"));
        }
        let list_ns = ctx.list_namespace()?;
        for (res, name) in split_args(&args.resources)? {
            match name {
                Some(name) => targets.push((res, ns.clone(), name)),
                None => {
                    if args.selector.is_none() && !args.all {
                        return Err(usage("resource(s) were provided, but no name was specified"));
                    }
                    let lp = ListParams { label_selector: args.selector.clone(), ..Default::default() };
                    for obj in ctx.api(res, &list_ns)?.list_all(&lp).await?.items {
                        let obj_ns = namespace_of(&obj, &ns).to_string();
                        targets.push((res, obj_ns, name_of(&obj).to_string()));
                    }
                }
            }
        }
        if targets.is_empty() {
            print("No resources found\n"); // stdout, unlike get
            return Ok(());
        }
    }
    let mut errors: Vec<Error> = Vec::new();
    let mut pending = Vec::new();
    for (res, obj_ns, name) in targets {
        let api = ctx.api(res, &obj_ns)?;
        match api.delete(&name, &dp).await {
            Ok(deleted) => {
                print(&format!("{} \"{name}\" deleted\n", crate::context::kind_name(res)));
                if let kube_client::Deleted::Pending(obj) = deleted {
                    let uid = obj.pointer("/metadata/uid").and_then(|u| u.as_str()).unwrap_or_default().to_string();
                    pending.push((api, name, uid));
                }
            }
            Err(e) if e.is_not_found() && args.ignore_not_found => {}
            Err(e) => errors.push(e.into()),
        }
    }
    if args.wait.unwrap_or(true) {
        for (api, name, uid) in pending {
            wait_until_gone(&api, &name, &uid).await?;
        }
    }
    super::get::finish(errors)
}

/// Polls `name` until it is not found, or is another object than `uid`.
async fn wait_until_gone(api: &kube_client::DynamicApi, name: &str, uid: &str) -> Result<()> {
    loop {
        match api.get(name).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(obj) if obj.pointer("/metadata/uid").and_then(|u| u.as_str()) != Some(uid) => return Ok(()),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}

/// `--cascade`, `--grace-period`, `--now` and `--force` as a `DeleteOptions`.
pub fn delete_params(args: &Args) -> Result<DeleteParams> {
    let propagation = match args.cascade.as_str() {
        "background" | "true" => PropagationPolicy::Background,
        "foreground" => PropagationPolicy::Foreground,
        "orphan" | "false" => PropagationPolicy::Orphan,
        other => return Err(usage(format!("invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""))),
    };
    let grace = if args.now {
        Some(1)
    } else if args.force && args.grace_period < 0 {
        Some(0)
    } else if args.grace_period >= 0 {
        Some(args.grace_period)
    } else {
        None
    };
    Ok(DeleteParams { grace_period_seconds: grace, propagation_policy: Some(propagation), ..Default::default() })
}
