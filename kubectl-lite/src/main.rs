//! kubectl-lite — not built yet (issue 8). It parses no flags and does nothing but say so, so that
//! nobody mistakes it for a working component.

use clap::Parser;

/// kubectl-lite (not implemented yet: see issue 8).
#[derive(Parser)]
#[command(name = "kubectl-lite", version)]
struct Args {}

fn main() {
    let _ = Args::parse();
    eprintln!("kubectl-lite: not implemented yet (issue 8)");
    std::process::exit(1);
}
