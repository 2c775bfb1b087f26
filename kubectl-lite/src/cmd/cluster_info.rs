//! `kubectl cluster-info`: where the control plane is (it is reachable if `/version`
//! answers), and kubectl's closing hint.

use kube_client::DynamicApi;

use super::print;
use crate::error::Result;
use crate::Ctx;

/// Display cluster information.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _args: &Args) -> Result<()> {
    let client = ctx.client()?;
    DynamicApi::raw_get(&client, "/version").await?;
    let server = ctx.config()?.server.as_str().trim_end_matches('/').to_string();
    // kubectl colors the words, on a terminal only.
    use std::io::IsTerminal;
    let (green, yellow, reset) =
        if std::io::stdout().is_terminal() { ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0m") } else { ("", "", "") };
    print(&format!(
        "{green}Kubernetes control plane{reset} is running at {yellow}{server}{reset}\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
    ));
    Ok(())
}
