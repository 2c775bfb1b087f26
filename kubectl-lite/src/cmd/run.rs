//! `kubectl run NAME --image=IMAGE`: one pod, labelled `run=NAME`, whose single container
//! is called NAME. Prints `pod/NAME created`.

use kube_client::PostParams;
use serde_json::{json, Value};

use super::print;
use crate::error::{usage, Result};
use crate::Ctx;

/// Run a particular image on the cluster.
#[derive(clap::Args, Debug)]
pub struct Args {
    pub name: String,
    /// The image for the container to run.
    #[arg(long, required = true)]
    pub image: String,
    /// The port that this container exposes.
    #[arg(long)]
    pub port: Option<i64>,
    /// Comma separated labels to apply to the pod. Will override the default label run=NAME.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Environment variables to set in the container.
    #[arg(long)]
    pub env: Vec<String>,
    /// The restart policy for this Pod.  Legal values [Always, OnFailure, Never].
    #[arg(long, default_value = "Always")]
    pub restart: String,
    /// The command and arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// If true, use extra arguments as the 'command' field in the container, rather than the 'args' field which is the default.
    #[arg(long = "command")]
    pub use_command: bool,
}

/// The pod kubectl run creates.
pub fn pod(args: &Args) -> Result<Value> {
    let mut labels = serde_json::Map::new();
    match &args.labels {
        Some(l) => {
            for pair in l.split(',') {
                let (k, v) = pair.split_once('=').ok_or_else(|| usage(format!("invalid label spec: {pair}")))?;
                labels.insert(k.into(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(args.name));
        }
    }
    let mut container = json!({"image": args.image, "name": args.name, "resources": {}});
    if let Some(p) = args.port {
        container["ports"] = json!([{"containerPort": p}]);
    }
    if !args.env.is_empty() {
        let env: Vec<Value> = args
            .env
            .iter()
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                json!({"name": k, "value": v})
            })
            .collect();
        container["env"] = json!(env);
    }
    if !args.command.is_empty() {
        let key = if args.use_command { "command" } else { "args" };
        container[key] = json!(args.command);
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"labels": labels, "name": args.name},
        "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": args.restart},
        "status": {}
    }))
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let pods = crate::context::resource("pods")?;
    let pp = PostParams { field_manager: Some("kubectl-run".into()), ..Default::default() };
    let created = ctx.api(pods, &ctx.namespace()?)?.create(&pod(args)?, &pp).await?;
    print(&format!("pod/{} created\n", super::name_of(&created)));
    Ok(())
}
