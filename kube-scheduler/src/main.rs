//! kube-scheduler — mirrors upstream's binary of the same name: parses the flags, sets up
//! logging and runs [`kube_scheduler::run`] until Ctrl-C or SIGTERM (or a lost lease).
//!
//! Run with: `kube-scheduler --master=http://127.0.0.1:8080` (seed 000) or
//! `kube-scheduler --kubeconfig admin.conf` (seed 003).

use std::io::IsTerminal;

use clap::Parser;
use kube_scheduler::Config;

#[tokio::main]
async fn main() {
    let config = Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| config.log_filter().into());
    // Colours only on a terminal: log files and `grep` read plain `pod=default/web-x`.
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(std::io::stdout().is_terminal()).init();
    if let Err(e) = kube_scheduler::run(config, kube_scheduler::shutdown_signal()).await {
        eprintln!("kube-scheduler: {e}");
        std::process::exit(1);
    }
}
