//! kubelet — not built yet (issue 4). It parses no flags and does nothing but say so, so that
//! nobody mistakes it for a working component.

use clap::Parser;

/// kubelet (not implemented yet: see issue 4).
#[derive(Parser)]
#[command(name = "kubelet", version)]
struct Args {}

fn main() {
    let _ = Args::parse();
    eprintln!("kubelet: not implemented yet (issue 4)");
    std::process::exit(1);
}
