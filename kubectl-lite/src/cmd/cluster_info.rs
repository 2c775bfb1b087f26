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
    // kubectl colors the words; a terminal shows the same text.
    print(&format!(
        "\x1b[0;32mKubernetes control plane\x1b[0m is running at \x1b[0;33m{server}\x1b[0m\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
    ));
    Ok(())
}
