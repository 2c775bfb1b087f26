//! kube-controller-manager — mirrors upstream's binary of the same name: parses the flags,
//! sets up logging and runs [`kube_controller_manager::run`] until Ctrl-C or SIGTERM.

use clap::Parser;
use kube_controller_manager::{run, shutdown_signal, Options};

#[tokio::main]
async fn main() {
    let options = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&options.log_level))
        .with_target(false)
        .init();
    if let Err(e) = run(options, shutdown_signal()).await {
        eprintln!("kube-controller-manager: {e:#}");
        std::process::exit(1);
    }
}
