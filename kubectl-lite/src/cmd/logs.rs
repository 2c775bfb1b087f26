//! `kubectl logs POD [-c CONTAINER] [-f] [--tail=N] [--previous] [--timestamps]`: `GET` the
//! pod to choose the container (the `kubectl.kubernetes.io/default-container` annotation,
//! else the first, with a notice when there are several), then stream
//! `GET .../pods/NAME/log`, which the apiserver proxies to the node's kubelet.

use futures::StreamExt;
use kube_client::LogParams;

use crate::context::resource;
use crate::error::{usage, Result};
use crate::Ctx;

/// Print the logs for a container in a pod.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// POD or pod/POD
    pub pod: String,
    /// Print the logs of this container
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log file to display. Defaults to -1, showing all log lines.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// If true, print the logs for the previous instance of the container in a pod if it exists.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Include timestamps on each line in the log output
    #[arg(long)]
    pub timestamps: bool,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let name = args.pod.strip_prefix("pod/").or_else(|| args.pod.strip_prefix("pods/")).unwrap_or(&args.pod);
    let api = ctx.api(resource("pods")?, &ctx.namespace()?)?;
    // kubectl words a missing pod differently here (lower-case, with the namespace).
    let pod = api.get(name).await.map_err(|e| match e.status() {
        Some(st) if e.is_not_found() => usage(format!(
            "error from server (NotFound): {} in namespace \"{}\"",
            st.message.as_deref().unwrap_or(""),
            api.namespace()
        )),
        _ => e.into(),
    })?;
    let container = match &args.container {
        Some(c) => c.clone(),
        None => default_container(&pod).ok_or_else(|| usage(format!("pod {name} has no containers")))?,
    };
    let lp = LogParams {
        container: Some(container),
        follow: args.follow,
        tail_lines: (args.tail >= 0).then_some(args.tail),
        timestamps: args.timestamps,
        previous: args.previous,
        since_seconds: None,
    };
    let mut stream = api.logs(name, &lp).await?;
    while let Some(chunk) = stream.next().await {
        use std::io::Write;
        let chunk = chunk?;
        let mut out = std::io::stdout().lock();
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(())
}

/// kubectl's choice when `-c` is not given; prints its notice when there was a choice.
pub fn default_container(pod: &serde_json::Value) -> Option<String> {
    let names: Vec<&str> = pod["spec"]["containers"].as_array()?.iter().filter_map(|c| c["name"].as_str()).collect();
    if let Some(annotated) = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str() {
        if names.contains(&annotated) {
            return Some(annotated.to_string());
        }
    }
    let first = names.first()?.to_string();
    if names.len() > 1 {
        eprintln!("Defaulted container \"{first}\" out of: {}", names.join(", "));
    }
    Some(first)
}
