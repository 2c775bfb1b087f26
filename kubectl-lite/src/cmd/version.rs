//! `kubectl version`: our version, then the server's (`GET /version`).

use kube_client::{client::KUBERNETES_VERSION, DynamicApi};

use super::print;
use crate::error::Result;
use crate::Ctx;

/// Print the client and server version information.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// If true, shows client version only (no server required).
    #[arg(long)]
    pub client: bool,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    print(&format!("Client Version: {KUBERNETES_VERSION}\n"));
    if args.client {
        return Ok(());
    }
    let version = DynamicApi::raw_get(&ctx.client()?, "/version").await?;
    print(&format!("Server Version: {}\n", version["gitVersion"].as_str().unwrap_or("")));
    Ok(())
}
