//! `kubectl config ...`: read and write the kubeconfig file — the file `--kubeconfig`
//! names, else the first of `$KUBECONFIG`, else `~/.kube/config`. Seed 003 builds its
//! `admin.conf` with `set-cluster --embed-certs`, `set-credentials --embed-certs`,
//! `set-context` and `use-context`; the file written is what kubectl writes (keys sorted,
//! certificates base64-embedded).
//!
//! The file is edited as a JSON value, not through `kube_client::kubeconfig`'s types, so
//! that fields this program does not know (extensions, exec plugins) survive a rewrite.

use std::path::PathBuf;

use base64::Engine;
use serde_json::{json, Value};

use super::print;
use crate::error::{usage, Result};
use crate::printers::{self, sorted, TabWriter};
use crate::Ctx;

/// Modify kubeconfig files.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Display merged kubeconfig settings or a specified kubeconfig file
    View {
        /// Display raw byte data and sensitive data
        #[arg(long)]
        raw: bool,
        /// Remove all information not used by current-context from the output
        #[arg(long)]
        minify: bool,
        /// Output format. One of: (json, yaml, jsonpath=...).
        #[arg(short = 'o', long, default_value = "yaml")]
        output: String,
    },
    /// Describe one or many contexts
    GetContexts {
        /// Output format. One of: (name).
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Don't print headers
        #[arg(long)]
        no_headers: bool,
    },
    /// Display the current-context
    CurrentContext,
    /// Set the current-context in a kubeconfig file
    UseContext { name: String },
    /// Set a cluster entry in kubeconfig
    SetCluster {
        name: String,
        #[arg(long)]
        server: Option<String>,
        /// Path to certificate-authority file for the cluster entry in kubeconfig
        #[arg(long)]
        certificate_authority: Option<String>,
        /// embed-certs for the cluster entry in kubeconfig
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        embed_certs: Option<bool>,
        /// insecure-skip-tls-verify for the cluster entry in kubeconfig
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        insecure_skip_tls_verify: Option<bool>,
    },
    /// Set a user entry in kubeconfig
    SetCredentials {
        name: String,
        /// Path to client-certificate file for the user entry in kubeconfig
        #[arg(long)]
        client_certificate: Option<String>,
        /// Path to client-key file for the user entry in kubeconfig
        #[arg(long)]
        client_key: Option<String>,
        /// Embed client cert/key for the user entry in kubeconfig
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        embed_certs: Option<bool>,
        /// token for the user entry in kubeconfig
        #[arg(long)]
        token: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
    /// Set a context entry in kubeconfig
    SetContext {
        name: Option<String>,
        /// Modify the current context
        #[arg(long)]
        current: bool,
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        namespace: Option<String>,
    },
}

/// The file the commands read and write.
pub fn kubeconfig_path(ctx: &Ctx) -> Result<PathBuf> {
    if let Some(p) = &ctx.global.kubeconfig {
        return Ok(p.clone());
    }
    if let Some(env) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()).collect();
        if let Some(p) = paths.iter().find(|p| p.exists()).or(paths.first()) {
            return Ok(p.clone());
        }
    }
    let home = std::env::var_os("HOME").ok_or_else(|| usage("HOME is not set: pass --kubeconfig"))?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

/// The file as JSON, with kubectl's defaults for what it lacks.
pub fn load(path: &std::path::Path) -> Result<Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(usage(format!("error loading config file \"{}\": {e}", path.display()))),
    };
    let value: Value = if text.trim().is_empty() {
        json!({})
    } else {
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
            .map_err(|e| usage(format!("error loading config file \"{}\": {e}", path.display())))?;
        serde_json::to_value(yaml).map_err(|e| usage(e.to_string()))?
    };
    Ok(normalize(value))
}

fn normalize(mut v: Value) -> Value {
    if !v.is_object() {
        v = json!({});
    }
    for (key, default) in [
        ("apiVersion", json!("v1")),
        ("kind", json!("Config")),
        ("preferences", json!({})),
        ("clusters", Value::Null),
        ("contexts", Value::Null),
        ("users", Value::Null),
        ("current-context", json!("")),
    ] {
        if v.get(key).is_none() {
            v[key] = default;
        }
    }
    v
}

fn save(path: &std::path::Path, config: &Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, printers::to_yaml(&sorted(config)))?;
    Ok(())
}

/// The entry `name` of the list `list` (`clusters`, `users`, `contexts`), created if absent;
/// whether it existed.
fn entry<'a>(config: &'a mut Value, list: &str, item_key: &str, name: &str) -> (&'a mut Value, bool) {
    if !config[list].is_array() {
        config[list] = json!([]);
    }
    let items = config[list].as_array_mut().expect("just made an array");
    let existed = match items.iter().position(|i| i["name"] == name) {
        Some(_) => true,
        None => {
            items.push(json!({"name": name, item_key: {}}));
            false
        }
    };
    let idx = items.iter().position(|i| i["name"] == name).unwrap_or(0);
    if !items[idx][item_key].is_object() {
        items[idx][item_key] = json!({});
    }
    (&mut items[idx][item_key], existed)
}

/// `--embed-certs`: the file's bytes as `<field>-data`; otherwise its absolute path.
fn set_file(target: &mut Value, field: &str, path: &Option<String>, embed: bool) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let obj = target.as_object_mut().ok_or_else(|| usage("malformed kubeconfig entry"))?;
    if embed {
        let bytes = std::fs::read(path).map_err(|e| usage(format!("error reading {field} data from {path}: {e}")))?;
        obj.insert(format!("{field}-data"), json!(base64::engine::general_purpose::STANDARD.encode(bytes)));
        obj.remove(field);
    } else {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        obj.insert(field.to_string(), json!(abs.display().to_string()));
        obj.remove(&format!("{field}-data"));
    }
    Ok(())
}

/// `config view` hides secrets unless `--raw`.
fn redact(config: &mut Value) {
    for (list, item) in [("clusters", "cluster"), ("users", "user")] {
        for e in config[list].as_array_mut().into_iter().flatten() {
            if let Some(m) = e[item].as_object_mut() {
                for (k, v) in m.iter_mut() {
                    if k.ends_with("-data") {
                        *v = json!("DATA+OMITTED");
                    } else if k == "token" || k == "password" {
                        *v = json!("REDACTED");
                    }
                }
            }
        }
    }
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let path = kubeconfig_path(ctx)?;
    let mut config = load(&path)?;
    match &args.command {
        ConfigCommand::View { raw, minify, output } => {
            if *minify {
                let current = ctx.global.context.clone().unwrap_or_else(|| config["current-context"].as_str().unwrap_or("").to_string());
                let keep = |config: &Value, list: &str, name: &str| -> Value {
                    json!(config[list].as_array().into_iter().flatten().filter(|e| e["name"] == name).cloned().collect::<Vec<_>>())
                };
                let context = config["contexts"].as_array().into_iter().flatten().find(|c| c["name"] == current.as_str()).cloned();
                let Some(context) = context else { return Err(usage("current-context must exist in order to minify".to_string())) };
                config["contexts"] = json!([context]);
                config["clusters"] = keep(&config, "clusters", context["context"]["cluster"].as_str().unwrap_or(""));
                config["users"] = keep(&config, "users", context["context"]["user"].as_str().unwrap_or(""));
                config["current-context"] = json!(current);
            }
            if !raw {
                redact(&mut config);
            }
            let out = printers::Output::parse(Some(output))?;
            print(&printers::format_object(&out, &config, &[])?);
        }
        ConfigCommand::GetContexts { output, no_headers } => {
            let current = config["current-context"].as_str().unwrap_or("").to_string();
            let contexts = config["contexts"].as_array().cloned().unwrap_or_default();
            if output.as_deref() == Some("name") {
                print(&contexts.iter().map(|c| format!("{}\n", c["name"].as_str().unwrap_or(""))).collect::<String>());
                return Ok(());
            }
            let mut rows = Vec::new();
            if !no_headers {
                rows.push(["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"].map(String::from).to_vec());
            }
            for c in contexts {
                let name = c["name"].as_str().unwrap_or("").to_string();
                let s = |k: &str| c["context"][k].as_str().unwrap_or("").to_string();
                rows.push(vec![if name == current { "*".into() } else { String::new() }, name, s("cluster"), s("user"), s("namespace")]);
            }
            print(&TabWriter::new().format(&rows));
        }
        ConfigCommand::CurrentContext => {
            let current = config["current-context"].as_str().unwrap_or("");
            if current.is_empty() {
                return Err(usage("current-context is not set"));
            }
            print(&format!("{current}\n"));
        }
        ConfigCommand::UseContext { name } => {
            if !config["contexts"].as_array().into_iter().flatten().any(|c| c["name"] == name.as_str()) {
                return Err(usage(format!("no context exists with the name: \"{name}\"")));
            }
            config["current-context"] = json!(name);
            save(&path, &config)?;
            print(&format!("Switched to context \"{name}\".\n"));
        }
        ConfigCommand::SetCluster { name, server, certificate_authority, embed_certs, insecure_skip_tls_verify } => {
            let (cluster, _) = entry(&mut config, "clusters", "cluster", name);
            if let Some(s) = server {
                cluster["server"] = json!(s);
            }
            if let Some(i) = insecure_skip_tls_verify {
                cluster["insecure-skip-tls-verify"] = json!(i);
            }
            set_file(cluster, "certificate-authority", certificate_authority, embed_certs.unwrap_or(false))?;
            save(&path, &config)?;
            print(&format!("Cluster \"{name}\" set.\n"));
        }
        ConfigCommand::SetCredentials { name, client_certificate, client_key, embed_certs, token, username, password } => {
            let (user, _) = entry(&mut config, "users", "user", name);
            let embed = embed_certs.unwrap_or(false);
            set_file(user, "client-certificate", client_certificate, embed)?;
            set_file(user, "client-key", client_key, embed)?;
            for (key, value) in [("token", token), ("username", username), ("password", password)] {
                if let Some(v) = value {
                    user[key] = json!(v);
                }
            }
            save(&path, &config)?;
            print(&format!("User \"{name}\" set.\n"));
        }
        ConfigCommand::SetContext { name, current, cluster, user, namespace } => {
            let name = match (name, current) {
                (Some(n), _) => n.clone(),
                (None, true) => config["current-context"].as_str().unwrap_or("").to_string(),
                (None, false) => return Err(usage("you must specify a non-empty context name or --current")),
            };
            if name.is_empty() {
                return Err(usage("no current context is set"));
            }
            let (context, existed) = entry(&mut config, "contexts", "context", &name);
            for (key, value) in [("cluster", cluster), ("user", user), ("namespace", namespace)] {
                if let Some(v) = value {
                    context[key] = json!(v);
                }
            }
            save(&path, &config)?;
            print(&format!("Context \"{name}\" {}.\n", if existed { "modified" } else { "created" }));
        }
    }
    Ok(())
}
