//! [`Ctx`]: what every command starts from — the global flags, a client built on first use
//! (so that `kubectl config ...` works with no server at all), the namespace a command acts
//! in, and resource names resolved the way kubectl resolves them.

use std::sync::OnceLock;

use kube_api::registry::{self, ResourceInfo};
use kube_client::{Client, Config, DynamicApi, LoadOptions};

use crate::error::{usage, Result};
use crate::GlobalArgs;

/// The shared state of one command line.
pub struct Ctx {
    pub global: GlobalArgs,
    config: OnceLock<Config>,
    client: OnceLock<Client>,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Ctx {
        Ctx { global, config: OnceLock::new(), client: OnceLock::new() }
    }

    /// Where the server is: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, `--context`,
    /// `--server`, with upstream's precedence (see `kube_client::config`).
    pub fn config(&self) -> Result<&Config> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let config = Config::load(&LoadOptions {
            master: self.global.server.clone(),
            kubeconfig: self.global.kubeconfig.clone(),
            context: self.global.context.clone(),
        })?
        .with_user_agent("kubectl");
        Ok(self.config.get_or_init(|| config))
    }

    /// The client, built from [`Ctx::config`] on first use.
    pub fn client(&self) -> Result<Client> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let client = Client::new(self.config()?.clone())?;
        Ok(self.client.get_or_init(|| client).clone())
    }

    /// `-n`, else the namespace of the kubeconfig's context, else `default`.
    pub fn namespace(&self) -> Result<String> {
        match &self.global.namespace {
            Some(ns) => Ok(ns.clone()),
            None => Ok(self.config()?.default_namespace().to_string()),
        }
    }

    /// The namespace to list in: `""` (every namespace) with `-A`.
    pub fn list_namespace(&self) -> Result<String> {
        if self.global.all_namespaces {
            Ok(String::new())
        } else {
            self.namespace()
        }
    }

    /// Untyped verbs on `resource` in `namespace` (ignored for cluster-scoped resources).
    pub fn api(&self, resource: &'static ResourceInfo, namespace: &str) -> Result<DynamicApi> {
        let ns = if resource.namespaced { namespace } else { "" };
        Ok(DynamicApi::new(self.client()?, resource, ns))
    }
}

/// A resource type as typed on the command line (`po`, `deployments.apps`, `Service`).
pub fn resource(name: &str) -> Result<&'static ResourceInfo> {
    registry::resolve(name).ok_or_else(|| usage(format!("the server doesn't have a resource type \"{name}\"")))
}

/// The resource of a manifest's `apiVersion` and `kind`.
pub fn resource_of(obj: &serde_json::Value) -> Result<&'static ResourceInfo> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    registry::by_api_version_kind(api_version, kind).ok_or_else(|| {
        usage(format!(
            "resource mapping not found for name: \"{}\" namespace: \"{}\" from \"\": no matches for kind \"{kind}\" in version \"{api_version}\"",
            obj["metadata"]["name"].as_str().unwrap_or(""),
            obj["metadata"]["namespace"].as_str().unwrap_or("")
        ))
    })
}

/// `pod`, `deployment.apps`: how kubectl names a kind in messages (`pod/nginx created`).
pub fn kind_name(resource: &ResourceInfo) -> String {
    if resource.group.is_empty() {
        resource.singular.to_string()
    } else {
        format!("{}.{}", resource.singular, resource.group)
    }
}

/// `TYPE/NAME` or `TYPE NAME...` arguments: the resources and names they name.
/// `pods`, `pod/nginx`, `pods nginx web`, `pods,svc`.
pub fn split_args(args: &[String]) -> Result<Vec<(&'static ResourceInfo, Option<String>)>> {
    let mut out = Vec::new();
    if args.is_empty() {
        return Ok(out);
    }
    if args[0].contains('/') {
        for a in args {
            let Some((kind, name)) = a.split_once('/') else {
                return Err(usage("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'".to_string()));
            };
            out.push((resource(kind)?, Some(name.to_string())));
        }
        return Ok(out);
    }
    let kinds: Vec<&'static ResourceInfo> = expand_kinds(&args[0])?;
    if args.len() == 1 {
        out.extend(kinds.into_iter().map(|k| (k, None)));
    } else {
        for k in kinds {
            for name in &args[1..] {
                out.push((k, Some(name.clone())));
            }
        }
    }
    Ok(out)
}

/// `pods,svc` → both; `all` → every resource in the `all` category, in discovery order.
pub fn expand_kinds(list: &str) -> Result<Vec<&'static ResourceInfo>> {
    let mut kinds = Vec::new();
    for word in list.split(',').filter(|w| !w.is_empty()) {
        if word == "all" {
            kinds.extend(registry::all().iter().filter(|r| r.categories.contains(&"all")));
        } else {
            kinds.push(resource(word)?);
        }
    }
    Ok(kinds)
}
