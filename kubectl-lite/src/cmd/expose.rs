//! `kubectl expose deployment web --port=80 [--target-port=8080] [--type=NodePort]`: a
//! service whose selector is the deployment's (`spec.selector.matchLabels`) and whose labels
//! are the deployment's. Prints `service/web exposed`.

use kube_client::PostParams;
use serde_json::{json, Value};

use super::print;
use crate::context::{resource, split_args};
use crate::error::{usage, Result};
use crate::Ctx;

/// Expose a resource as a new Kubernetes service.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE NAME or TYPE/NAME
    pub resources: Vec<String>,
    /// The port that the service should serve on.
    #[arg(long)]
    pub port: Option<String>,
    /// Name or number for the port on the container that the service should direct traffic to.
    #[arg(long)]
    pub target_port: Option<String>,
    /// Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName.
    #[arg(long = "type")]
    pub type_: Option<String>,
    /// The name for the newly created object.
    #[arg(long)]
    pub name: Option<String>,
    /// The network protocol for the service to be created.
    #[arg(long, default_value = "TCP")]
    pub protocol: String,
}

/// The service for `target` (the live object being exposed).
pub fn service(args: &Args, target: &Value) -> Result<Value> {
    let name = args.name.clone().unwrap_or_else(|| super::name_of(target).to_string());
    let selector = target["spec"]["selector"]["matchLabels"].clone();
    let selector = if selector.is_object() { selector } else { target["spec"]["selector"].clone() };
    if !selector.is_object() {
        return Err(usage(format!("couldn't retrieve selectors via --selector flag or introspection: the {} has no selector", target["kind"].as_str().unwrap_or("object"))));
    }
    let port_text = match &args.port {
        Some(p) => p.clone(),
        None => target["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
            .as_i64()
            .map(|p| p.to_string())
            .ok_or_else(|| usage("couldn't find port via --port flag or introspection"))?,
    };
    let port: i64 = port_text.parse().map_err(|_| usage(format!("invalid port {port_text}")))?;
    let target_port: Value = match &args.target_port {
        Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(t)),
        None => json!(port),
    };
    let mut spec = json!({"ports": [{"port": port, "protocol": args.protocol, "targetPort": target_port}], "selector": selector});
    if let Some(t) = &args.type_ {
        spec["type"] = json!(t);
    }
    let mut metadata = json!({"name": name});
    if target["metadata"]["labels"].is_object() {
        metadata["labels"] = target["metadata"]["labels"].clone();
    }
    Ok(json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec, "status": {"loadBalancer": {}}}))
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ns = ctx.namespace()?;
    let targets = split_args(&args.resources)?;
    let Some((res, Some(name))) = targets.into_iter().next() else {
        return Err(usage("You must provide one or more resources by argument or filename."));
    };
    let target = ctx.api(res, &ns)?.get(&name).await?;
    let svc = service(args, &target)?;
    let pp = PostParams { field_manager: Some("kubectl-expose".into()), ..Default::default() };
    let created = ctx.api(resource("services")?, &ns)?.create(&svc, &pp).await?;
    print(&format!("service/{} exposed\n", super::name_of(&created)));
    Ok(())
}
