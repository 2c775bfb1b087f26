//! A whole controller in one page: label every bound pod with its node's name.
//!
//! Run with: `cargo run -p kube-client --example label_pods_with_node -- --master=http://127.0.0.1:8080`
//!
//! - **Observes** pods (one shared informer; its handler only enqueues the pod's key).
//! - **Key**: `namespace/name` of a pod.
//! - **Desired**: a bound pod carries the label `node=<spec.nodeName>`.
//! - **Actual**: the pod's labels, read from the cache (never modified in place).
//! - **Does**: one merge patch of `metadata.labels.node`; records a `Labelled` event.
//! - **Status**: none (this controller owns only a label).
//! - **Requeues**: on errors, with the queue's back-off; otherwise at the next change.

use std::sync::Arc;

use clap::Parser;
use kube_api::core::Pod;
use kube_client::{
    handlers, Action, Api, CancellationToken, ClientArgs, Client, Controller, EventType,
    InformerFactory, LeaderElectionArgs, LeaderElector, PatchType, Recorder, Store, WorkQueue,
};
use serde_json::json;
use tracing::info;

/// Labels every bound pod with `node=<its node>`.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    leader_election: LeaderElectionArgs,
    /// How many pods to label at once.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// What every reconcile needs: the cache to read, the API to write, the recorder to report.
struct Context {
    pods: Store<Pod>,
    client: Client,
    recorder: Recorder,
}

/// Level-triggered and idempotent: given only a key, compare and act.
async fn reconcile(ctx: Arc<Context>, key: String) -> Result<Action, kube_client::Error> {
    // Observe: from the cache. A pod gone since the key was queued needs nothing.
    let Some(pod) = ctx.pods.get(&key) else {
        return Ok(Action::Done);
    };
    // Compare: desired (a label equal to the node) against actual.
    let node = &pod.spec.node_name;
    if node.is_empty() || pod.metadata.labels.get("node") == Some(node) {
        return Ok(Action::Done); // not bound yet, or already right
    }
    // Act: a patch says only what we want changed; the cached object stays untouched.
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.metadata.namespace);
    let patch = json!({ "metadata": { "labels": { "node": node } } });
    api.patch(&pod.metadata.name, &PatchType::Merge, &patch).await?;
    info!("labelled pod {key} with node={node}");
    let message = format!("Labelled with node={node}");
    ctx.recorder.record(pod.as_ref(), EventType::Normal, "Labelled", &message);
    Ok(Action::Done)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let client = Client::new(args.client.config()?.with_user_agent("pod-labeller"))?;

    // One token for the whole process: Ctrl-C cancels it, and everything stops.
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            info!("shutting down");
            shutdown.cancel();
        }
    });

    let identity = LeaderElector::default_identity();
    let elector = LeaderElector::new(client.clone(), "pod-labeller", &identity, args.leader_election);
    elector
        .run(shutdown, |leading| async move {
            // Observe: one informer over all pods; its handler only enqueues keys.
            let factory = InformerFactory::new(client.clone(), leading.clone());
            let pods = factory.informer::<Pod>();
            let queue = WorkQueue::new();
            pods.add_handler(handlers::enqueue_self(queue.clone()));

            let ctx = Arc::new(Context {
                pods: pods.store(),
                client: client.clone(),
                recorder: Recorder::new(client.clone(), "pod-labeller", ""),
            });
            Controller::new("pod-labeller", queue)
                .workers(args.workers)
                .wait_for(pods.synced())
                .run(move |key| reconcile(ctx.clone(), key), leading)
                .await;
        })
        .await?;
    Ok(())
}
