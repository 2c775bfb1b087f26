//! One file per command, all of the same shape: a clap `Args` struct whose doc comments are
//! the help text, and `pub async fn run(ctx: &Ctx, args: &Args) -> Result<()>` that prints
//! what kubectl prints on stdout and returns an [`Error`](crate::Error) for the rest.
//!
//! | command | file |
//! |---|---|
//! | `get` | [`get`] |
//! | `describe` | [`describe`] (layout in [`crate::describe`]) |
//! | `create -f`, `create deployment/namespace/configmap/secret generic` | [`create`] |
//! | `apply -f` (client-side three-way merge, `--server-side`) | [`apply`] |
//! | `replace -f` | [`replace`] |
//! | `delete` | [`delete`] |
//! | `scale` | [`scale`] |
//! | `label`, `annotate` | [`label`] |
//! | `logs` | [`logs`] |
//! | `run` | [`run`] |
//! | `expose` | [`expose`] |
//! | `cordon`, `uncordon` | [`cordon`] |
//! | `drain` | [`drain`] |
//! | `rollout status/history/undo/restart` | [`rollout`] |
//! | `api-resources` | [`api_resources`] |
//! | `version` | [`version`] |
//! | `cluster-info` | [`cluster_info`] |
//! | `config view/get-contexts/use-context/set-cluster/set-credentials/set-context` | [`config`] |

pub mod api_resources;
pub mod apply;
pub mod cluster_info;
pub mod config;
pub mod cordon;
pub mod create;
pub mod delete;
pub mod describe;
pub mod drain;
pub mod expose;
pub mod get;
pub mod label;
pub mod logs;
pub mod replace;
pub mod rollout;
pub mod run;
pub mod scale;
pub mod version;

use serde_json::Value;

/// Prints `text` on stdout at once (commands build their output, then print it).
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `metadata.name` of an object.
pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// `metadata.namespace` of a manifest, else `default_ns`.
pub fn namespace_of<'a>(obj: &'a Value, default_ns: &'a str) -> &'a str {
    obj["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(default_ns)
}
