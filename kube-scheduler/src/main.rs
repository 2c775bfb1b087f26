//! kube-scheduler — not built yet (issue 5). It parses no flags and does nothing but say so, so that
//! nobody mistakes it for a working component.

use clap::Parser;

/// kube-scheduler (not implemented yet: see issue 5).
#[derive(Parser)]
#[command(name = "kube-scheduler", version)]
struct Args {}

fn main() {
    let _ = Args::parse();
    eprintln!("kube-scheduler: not implemented yet (issue 5)");
    std::process::exit(1);
}
