//! `kubectl api-resources`: the server's resources, from discovery (`/api/v1` and
//! `/apis/{group}/{version}`), sorted by group then name, as kubectl sorts them.

use kube_client::DynamicApi;

use super::print;
use crate::error::Result;
use crate::printers::TabWriter;
use crate::Ctx;

/// Print the supported API resources on the server.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format. One of: (wide, name).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// If false, non-namespaced resources will be returned, otherwise returning namespaced resources by default.
    #[arg(long)]
    pub namespaced: Option<bool>,
    /// When using the default output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let client = ctx.client()?;
    let mut group_versions = vec![(String::new(), "/api/v1".to_string())];
    let groups = DynamicApi::raw_get(&client, "/apis").await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        let gv = g["preferredVersion"]["groupVersion"].as_str().unwrap_or("");
        group_versions.push((g["name"].as_str().unwrap_or("").to_string(), format!("/apis/{gv}")));
    }
    let mut rows = Vec::new();
    for (group, path) in group_versions {
        let list = DynamicApi::raw_get(&client, &path).await?;
        let gv = list["groupVersion"].as_str().unwrap_or("").to_string();
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or("");
            let namespaced = r["namespaced"].as_bool().unwrap_or(false);
            if name.contains('/') || args.namespaced.is_some_and(|n| n != namespaced) {
                continue;
            }
            let join = |key: &str, sep: &str| -> String {
                r[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(sep)).unwrap_or_default()
            };
            rows.push((group.clone(), name.to_string(), vec![
                name.to_string(),
                join("shortNames", ","),
                gv.clone(),
                namespaced.to_string(),
                r["kind"].as_str().unwrap_or("").to_string(),
                format!("[{}]", join("verbs", " ")),
                join("categories", ","),
            ]));
        }
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    if args.output.as_deref() == Some("name") {
        let names: String = rows
            .iter()
            .map(|(g, n, _)| if g.is_empty() { format!("{n}\n") } else { format!("{n}.{g}\n") })
            .collect();
        print(&names);
        return Ok(());
    }
    let wide = args.output.as_deref() == Some("wide");
    let width = if wide { 7 } else { 5 };
    let mut table: Vec<Vec<String>> = Vec::new();
    if !args.no_headers {
        table.push(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"][..width].iter().map(|s| s.to_string()).collect());
    }
    table.extend(rows.into_iter().map(|(_, _, cells)| cells[..width].to_vec()));
    print(&TabWriter::new().format(&table));
    Ok(())
}
