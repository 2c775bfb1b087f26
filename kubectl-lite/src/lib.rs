//! # kubectl-lite: the everyday kubectl, same words and same output
//!
//! A small `kubectl` of our own, for reading: the commands the seeds and everyday work use,
//! with upstream's flags, table columns, messages and exit codes. It talks to the apiserver
//! exactly as the real kubectl does (see `shared/reference/KUBECTL-WIRE.md`): server-side
//! `Table`s for `get`, strategic merge patches for client-side `apply`, `apply-patch+yaml`
//! for `--server-side`, the `scale` subresource, evictions for `drain`.
//!
//! ## Layout
//! - `main.rs`: parses the command line and turns an [`Error`] into kubectl's message and
//!   exit status 1. Nothing else.
//! - [`Cli`] / [`Command`] (this file): the global flags and the table of commands.
//! - [`context`]: [`Ctx`], what every command gets — the lazily built client, the
//!   namespace (`-n`, else the kubeconfig context's), resource names resolved through
//!   [`kube_api::registry`].
//! - [`cmd`]: one file per command, all of the same shape: a clap `Args` struct and
//!   `async fn run(ctx: &Ctx, args: &Args) -> Result<()>`. Reading one teaches all.
//! - [`printers`]: everything `-o` means — tables laid out like Go's `tabwriter` from the
//!   server's `Table` (priority-1 columns only with `-o wide`, `NAMESPACE` with `-A`,
//!   `--show-labels`, `--no-headers`), `yaml`, `json`, `name`, `jsonpath=`.
//! - [`jsonpath`]: the subset of kubectl's JSONPath templates we support.
//! - [`builder`]: the resource builder — objects from `-f` files, directories, multi-document
//!   YAML, JSON and `-` (stdin); a malformed file is reported with its name and line.
//! - [`describe`]: `kubectl describe`'s indented layout and the `Events:` section.
//! - [`error`]: the one [`Error`] type; its `Display` is what kubectl prints.

pub mod builder;
pub mod cmd;
pub mod context;
pub mod describe;
pub mod error;
pub mod jsonpath;
pub mod printers;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use context::Ctx;
pub use error::{Error, Result};

/// kubectl controls the Kubernetes cluster manager.
#[derive(Parser, Debug)]
#[command(name = "kubectl-lite", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, before or after its name.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The address and port of the Kubernetes API server
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// The name of the kubeconfig context to use
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// If present, the namespace scope for this CLI request
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    pub all_namespaces: bool,
    /// number for the log level verbosity
    #[arg(short = 'v', long = "v", global = true, default_value_t = 0)]
    pub v: u8,
    /// Default cache directory (accepted for compatibility; kubectl-lite caches nothing)
    #[arg(long = "cache-dir", global = true, hide = true)]
    pub cache_dir: Option<PathBuf>,
}

/// The commands, in the order `kubectl --help` lists them.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a resource from a file or from stdin
    Create(cmd::create::Args),
    /// Expose a deployment as a new Kubernetes service
    Expose(cmd::expose::Args),
    /// Run a particular image on the cluster
    Run(cmd::run::Args),
    /// Display one or many resources
    Get(cmd::get::Args),
    /// Delete resources by file names, stdin, resources and names, or by resources and label selector
    Delete(cmd::delete::Args),
    /// Manage the rollout of a resource
    Rollout(cmd::rollout::Args),
    /// Set a new size for a deployment, replica set, replication controller, or stateful set
    Scale(cmd::scale::Args),
    /// Display cluster information
    ClusterInfo(cmd::cluster_info::Args),
    /// Mark node as unschedulable
    Cordon(cmd::cordon::Args),
    /// Mark node as schedulable
    Uncordon(cmd::cordon::Args),
    /// Drain node in preparation for maintenance
    Drain(cmd::drain::Args),
    /// Show details of a specific resource or group of resources
    Describe(cmd::describe::Args),
    /// Print the logs for a container in a pod
    Logs(cmd::logs::Args),
    /// Apply a configuration to a resource by file name or stdin
    Apply(cmd::apply::Args),
    /// Replace a resource by file name or stdin
    Replace(cmd::replace::Args),
    /// Update the labels on a resource
    Label(cmd::label::Args),
    /// Update the annotations on a resource
    Annotate(cmd::label::Args),
    /// Print the supported API resources on the server
    ApiResources(cmd::api_resources::Args),
    /// Modify kubeconfig files
    Config(cmd::config::Args),
    /// Print the client and server version information
    Version(cmd::version::Args),
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(cli.global);
    match &cli.command {
        Command::Create(a) => cmd::create::run(&ctx, a).await,
        Command::Expose(a) => cmd::expose::run(&ctx, a).await,
        Command::Run(a) => cmd::run::run(&ctx, a).await,
        Command::Get(a) => cmd::get::run(&ctx, a).await,
        Command::Delete(a) => cmd::delete::run(&ctx, a).await,
        Command::Rollout(a) => cmd::rollout::run(&ctx, a).await,
        Command::Scale(a) => cmd::scale::run(&ctx, a).await,
        Command::ClusterInfo(a) => cmd::cluster_info::run(&ctx, a).await,
        Command::Cordon(a) => cmd::cordon::run(&ctx, a, true).await,
        Command::Uncordon(a) => cmd::cordon::run(&ctx, a, false).await,
        Command::Drain(a) => cmd::drain::run(&ctx, a).await,
        Command::Describe(a) => cmd::describe::run(&ctx, a).await,
        Command::Logs(a) => cmd::logs::run(&ctx, a).await,
        Command::Apply(a) => cmd::apply::run(&ctx, a).await,
        Command::Replace(a) => cmd::replace::run(&ctx, a).await,
        Command::Label(a) => cmd::label::run(&ctx, a, cmd::label::Field::Labels).await,
        Command::Annotate(a) => cmd::label::run(&ctx, a, cmd::label::Field::Annotations).await,
        Command::ApiResources(a) => cmd::api_resources::run(&ctx, a).await,
        Command::Config(a) => cmd::config::run(&ctx, a).await,
        Command::Version(a) => cmd::version::run(&ctx, a).await,
    }
}

/// `-v=N`: 0–3 warnings only, 4–5 what kubectl-lite does, 6 and up every request.
pub fn init_logging(v: u8) {
    let level = match v {
        0..=3 => "warn",
        4..=5 => "info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
