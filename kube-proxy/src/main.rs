//! kube-proxy — not built yet (issue 7). It parses no flags and does nothing but say so, so that
//! nobody mistakes it for a working component.

use clap::Parser;

/// kube-proxy (not implemented yet: see issue 7).
#[derive(Parser)]
#[command(name = "kube-proxy", version)]
struct Args {}

fn main() {
    let _ = Args::parse();
    eprintln!("kube-proxy: not implemented yet (issue 7)");
    std::process::exit(1);
}
