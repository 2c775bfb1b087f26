//! kube-apiserver — mirrors upstream's binary of the same name: parses the flags, sets up
//! logging and runs [`kube_apiserver::run`] until Ctrl-C or SIGTERM.

use clap::Parser;
use kube_apiserver::config::Config;

#[tokio::main]
async fn main() {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_target(false)
        .init();
    if let Err(e) = kube_apiserver::run(config, kube_apiserver::shutdown_signal()).await {
        eprintln!("kube-apiserver: {e:#}");
        std::process::exit(1);
    }
}
