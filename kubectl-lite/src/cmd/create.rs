//! `kubectl create -f FILE` (a `POST` per object, `fieldManager=kubectl-create`) and the
//! generators: `create deployment`, `create namespace`, `create configmap`,
//! `create secret generic`. Each prints `KIND/NAME created`.

use base64::Engine;
use kube_client::PostParams;
use serde_json::{json, Map, Value};

use super::{name_of, namespace_of, print};
use crate::builder;
use crate::context::resource_of;
use crate::error::{usage, Error, Result};
use crate::printers::object_name;
use crate::Ctx;

/// Create a resource from a file or from stdin.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Filename, directory, or URL to files to use to create the resource
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    #[command(subcommand)]
    pub what: Option<What>,
}

/// `kubectl create <generator>`.
#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// Create a deployment with the specified name
    Deployment {
        name: String,
        /// Image names to run. A deployment can have multiple images set for multi-container pod.
        #[arg(long, required = true)]
        image: Vec<String>,
        /// Number of replicas to create. Default is 1.
        #[arg(short = 'r', long, default_value_t = 1)]
        replicas: i64,
        /// The containerPort that this deployment exposes.
        #[arg(long)]
        port: Option<i64>,
    },
    /// Create a namespace with the specified name
    #[command(alias = "ns")]
    Namespace { name: String },
    /// Create a config map from a local file, directory or literal value
    #[command(alias = "cm")]
    Configmap {
        name: String,
        /// Specify a key and literal value to insert in configmap (i.e. mykey=somevalue)
        #[arg(long)]
        from_literal: Vec<String>,
        /// Key file can be specified using its file path, or an optional key name and file path (key=path)
        #[arg(long)]
        from_file: Vec<String>,
    },
    /// Create a secret using a specified subcommand
    Secret {
        #[command(subcommand)]
        kind: SecretKind,
    },
}

/// `kubectl create secret <type>`.
#[derive(clap::Subcommand, Debug)]
pub enum SecretKind {
    /// Create a secret from a local file, directory, or literal value
    Generic {
        name: String,
        /// Specify a key and literal value to insert in secret (i.e. mykey=somevalue)
        #[arg(long)]
        from_literal: Vec<String>,
        /// Key files can be specified using their file path, or an optional key name and file path (key=path)
        #[arg(long)]
        from_file: Vec<String>,
        /// The type of secret to create
        #[arg(long = "type", default_value = "Opaque")]
        type_: String,
    },
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let pp = PostParams { field_manager: Some("kubectl-create".into()), field_validation: Some("Strict".into()), ..Default::default() };
    let Some(what) = &args.what else {
        if args.filename.is_empty() {
            return Err(usage("must specify one of -f and -k"));
        }
        let mut errors = Vec::new();
        for source in builder::load(&args.filename)? {
            let res = resource_of(&source.object)?;
            let ns = ctx.namespace()?;
            let api = ctx.api(res, namespace_of(&source.object, &ns))?;
            match api.create(&source.object, &pp).await {
                Ok(created) => print(&format!("{} created\n", object_name(res, name_of(&created)))),
                Err(e) => errors.push(when("creating", &source.file, e)),
            }
        }
        return super::get::finish(errors);
    };
    let object = generate(what)?;
    let res = resource_of(&object)?;
    let api = ctx.api(res, &ctx.namespace()?)?;
    let created = api.create(&object, &pp).await?;
    print(&format!("{} created\n", object_name(res, name_of(&created))));
    Ok(())
}

/// kubectl's `error when creating "pod.yaml": ...` around a server error.
pub fn when(verb: &str, file: &str, e: kube_client::Error) -> Error {
    match e {
        kube_client::Error::Api(mut status) => {
            let message = status.message.clone().unwrap_or_default();
            status.message = Some(format!("error when {verb} \"{file}\": {message}"));
            Error::Client(kube_client::Error::Api(status))
        }
        other => other.into(),
    }
}

/// The object a generator creates.
pub fn generate(what: &What) -> Result<Value> {
    Ok(match what {
        What::Deployment { name, image, replicas, port } => {
            let containers: Vec<Value> = image
                .iter()
                .map(|img| {
                    let mut c = json!({"image": img, "name": container_name(img), "resources": {}});
                    if let Some(p) = port {
                        c["ports"] = json!([{"containerPort": p}]);
                    }
                    c
                })
                .collect();
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "strategy": {},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}
                },
                "status": {}
            })
        }
        What::Namespace { name } => json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {}, "status": {}}),
        What::Configmap { name, from_literal, from_file } => {
            let data = key_values(from_literal, from_file, |b| String::from_utf8_lossy(b).into_owned())?;
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
        }
        What::Secret { kind: SecretKind::Generic { name, from_literal, from_file, type_ } } => {
            let data = key_values(from_literal, from_file, |b| base64::engine::general_purpose::STANDARD.encode(b))?;
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data, "type": type_})
        }
    })
}

/// `nginx:1.25` → `nginx`, `registry.io/team/web:v1` → `web`: kubectl's container name.
pub fn container_name(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split('@').next().unwrap_or(base);
    let base = base.split(':').next().unwrap_or(base);
    base.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect()
}

fn key_values(literals: &[String], files: &[String], encode: impl Fn(&[u8]) -> String) -> Result<Map<String, Value>> {
    let mut data = Map::new();
    for lit in literals {
        let (k, v) = lit.split_once('=').ok_or_else(|| usage(format!("invalid literal source {lit}, expected key=value")))?;
        data.insert(k.to_string(), Value::String(encode(v.as_bytes())));
    }
    for f in files {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), f.clone()),
        };
        let bytes = std::fs::read(&path).map_err(|e| usage(format!("error reading {path}: {e}")))?;
        data.insert(key, Value::String(encode(&bytes)));
    }
    Ok(data)
}

