//! kube-controller-manager — not built yet (issue 6). It parses no flags and does nothing but say so, so that
//! nobody mistakes it for a working component.

use clap::Parser;

/// kube-controller-manager (not implemented yet: see issue 6).
#[derive(Parser)]
#[command(name = "kube-controller-manager", version)]
struct Args {}

fn main() {
    let _ = Args::parse();
    eprintln!("kube-controller-manager: not implemented yet (issue 6)");
    std::process::exit(1);
}
