//! `kubectl describe TYPE [NAME...]` (or `-l`): `GET` each object, then the events about it
//! (`fieldSelector=involvedObject.name=...,involvedObject.namespace=...,involvedObject.uid=...`),
//! laid out by [`crate::describe`]. Objects are separated by a blank line, as kubectl does.

use kube_client::ListParams;
use serde_json::Value;

use super::print;
use crate::context::{resource, split_args};
use crate::describe::{self, Describer};
use crate::error::{usage, Error, Result};
use crate::Ctx;

/// Show details of a specific resource or group of resources.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE [NAME_PREFIX] or TYPE/NAME
    pub resources: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if args.resources.is_empty() {
        return Err(usage("You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources."));
    }
    let ns = ctx.list_namespace()?;
    let mut objects = Vec::new();
    let mut errors: Vec<Error> = Vec::new();
    for (res, name) in split_args(&args.resources)? {
        let api = ctx.api(res, &ns)?;
        match name {
            Some(name) => match api.get(&name).await {
                Ok(o) => objects.push((res, o)),
                Err(e) => errors.push(e.into()),
            },
            None => {
                let lp = ListParams { label_selector: args.selector.clone(), ..Default::default() };
                objects.extend(api.list_all(&lp).await?.items.into_iter().map(|o| (res, o)));
            }
        }
    }
    let mut texts = Vec::new();
    for (res, obj) in &objects {
        texts.push(describe_one(ctx, res, obj).await?);
    }
    if !texts.is_empty() {
        print(&texts.join("\n\n\n").to_string());
    } else if errors.is_empty() {
        eprintln!("No resources found in {} namespace.", ctx.namespace()?);
    }
    super::get::finish(errors)
}

async fn describe_one(ctx: &Ctx, res: &kube_api::ResourceInfo, obj: &Value) -> Result<String> {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
    let mut d: Describer = match res.kind {
        "Pod" => describe::pod(obj),
        "Node" => describe::node(obj),
        "Deployment" => describe::deployment(obj),
        "ReplicaSet" => describe::replica_set(obj),
        "Service" => {
            let endpoints = ctx.api(resource("endpoints")?, ns)?.get(super::name_of(obj)).await.ok();
            describe::service(obj, endpoints.as_ref())
        }
        _ => describe::generic(obj, res.namespaced),
    };
    let mut selector = format!("involvedObject.name={}", super::name_of(obj));
    if !ns.is_empty() {
        selector.push_str(&format!(",involvedObject.namespace={ns}"));
    }
    if let Some(uid) = obj["metadata"]["uid"].as_str() {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let lp = ListParams::default().fields(&selector).limit(500);
    let mut events = ctx.api(resource("events")?, ns)?.list(&lp).await.map(|l| l.items).unwrap_or_default();
    events.sort_by(|a, b| {
        let t = |e: &Value| e["lastTimestamp"].as_str().or(e["eventTime"].as_str()).unwrap_or("").to_string();
        t(a).cmp(&t(b))
    });
    describe::events(&mut d, &events, chrono::Utc::now());
    Ok(d.finish())
}
