//! `kubectl apply -f`: make the live objects look like the files.
//!
//! Client-side (the default), per object:
//! 1. `GET` it. Not found: `POST` it with the annotation
//!    `kubectl.kubernetes.io/last-applied-configuration` (the manifest as JSON) → `created`.
//! 2. Found: compute the three-way strategic merge patch from *original* (the annotation:
//!    what this user applied last time), *modified* (the file, with its new annotation) and
//!    *current* (the live object). `{}` → `unchanged`; else `PATCH` it with
//!    `fieldManager=kubectl-client-side-apply` → `configured`.
//!
//! `--server-side`: one `PATCH` with `Content-Type: application/apply-patch+yaml` and
//! `fieldManager=kubectl`; the server merges and tracks field ownership → `serverside-applied`.

use kube_api::patch::create_strategic_merge_patch;
use kube_client::{PatchType, PostParams};
use serde_json::{json, Value};

use super::{name_of, namespace_of, print};
use crate::builder;
use crate::cmd::create::when;
use crate::context::resource_of;
use crate::error::{usage, Result};
use crate::printers::{object_name, sorted};
use crate::Ctx;

/// The annotation that remembers what was applied.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Apply a configuration to a resource by file name or stdin.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The files that contain the configurations to apply.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// If true, apply runs in the server instead of the client.
    #[arg(long)]
    pub server_side: bool,
    /// If true, server-side apply will force the changes against conflicts.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Name of the manager used to track field ownership (server-side apply).
    #[arg(long, default_value = "kubectl")]
    pub field_manager: String,
}

/// What client-side apply does with one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Not there yet: create it (the body carries the annotation).
    Create(Value),
    /// There and different: send this strategic merge patch.
    Patch(Value),
    /// There and already as applied.
    Unchanged,
}

/// The three-way decision of client-side apply, without I/O.
/// As kubectl, the annotation is the manifest with its namespace filled in and its
/// annotations (minus this one) always present, as JSON with sorted keys.
pub fn plan(manifest: &Value, live: Option<&Value>) -> Plan {
    let mut modified = without_last_applied(manifest);
    let annotation = format!("{}\n", serde_json::to_string(&sorted(&modified)).unwrap_or_default());
    modified["metadata"]["annotations"][LAST_APPLIED] = Value::String(annotation);
    let Some(live) = live else { return Plan::Create(modified) };
    let original = live["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or(Value::Null);
    let kind = manifest["kind"].as_str().unwrap_or("");
    let patch = create_strategic_merge_patch(&original, &modified, live, kind);
    if patch.as_object().is_none_or(|m| m.is_empty()) {
        Plan::Unchanged
    } else {
        Plan::Patch(patch)
    }
}

fn without_last_applied(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    if let Some(a) = obj["metadata"]["annotations"].as_object_mut() {
        a.remove(LAST_APPLIED);
    }
    obj
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if args.filename.is_empty() {
        return Err(usage("must specify one of -f and -k"));
    }
    let ns = ctx.namespace()?;
    let mut errors = Vec::new();
    for source in builder::load(&args.filename)? {
        let res = resource_of(&source.object)?;
        let api = ctx.api(res, namespace_of(&source.object, &ns))?;
        let name = name_of(&source.object).to_string();
        let mut manifest = source.object.clone();
        if res.namespaced && manifest["metadata"]["namespace"].as_str().is_none_or(str::is_empty) {
            manifest["metadata"]["namespace"] = json!(ns);
        }
        let subject = object_name(res, &name);
        if args.server_side {
            let pt = PatchType::Apply { field_manager: args.field_manager.clone(), force: args.force_conflicts };
            let pp = PostParams { field_validation: Some("Strict".into()), ..Default::default() };
            match api.patch(&name, &pt, &source.object, &pp).await {
                Ok(_) => print(&format!("{subject} serverside-applied\n")),
                Err(e) => errors.push(when("patching", &source.file, e)),
            }
            continue;
        }
        let live = match api.get(&name).await {
            Ok(live) => Some(live),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                errors.push(when("retrieving current configuration of", &source.file, e));
                continue;
            }
        };
        let pp = PostParams {
            field_manager: Some("kubectl-client-side-apply".into()),
            field_validation: Some("Strict".into()),
            ..Default::default()
        };
        let result = match plan(&manifest, live.as_ref()) {
            Plan::Create(body) => api.create(&body, &pp).await.map(|_| "created"),
            Plan::Patch(patch) => api.patch(&name, &PatchType::Strategic, &patch, &pp).await.map(|_| "configured"),
            Plan::Unchanged => Ok("unchanged"),
        };
        match result {
            Ok(word) => print(&format!("{subject} {word}\n")),
            Err(e) => errors.push(when("applying patch to", &source.file, e)),
        }
    }
    super::get::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(image: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
               "spec": {"containers": [{"name": "nginx", "image": image}]}})
    }

    #[test]
    fn a_missing_object_is_created_with_the_last_applied_annotation() {
        let Plan::Create(body) = plan(&pod("nginx"), None) else { panic!("expected a create") };
        let annotation = body["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert!(annotation.ends_with("}\n"), "{annotation}");
        let mut want = pod("nginx");
        want["metadata"]["annotations"] = json!({});
        assert_eq!(serde_json::from_str::<Value>(annotation).unwrap(), want);
    }

    #[test]
    fn applying_the_same_file_again_changes_nothing() {
        let Plan::Create(mut live) = plan(&pod("nginx"), None) else { panic!() };
        // What the server adds (defaults, status, uid) is not the user's business.
        live["metadata"]["uid"] = json!("u1");
        live["spec"]["restartPolicy"] = json!("Always");
        live["status"] = json!({"phase": "Pending"});
        assert_eq!(plan(&pod("nginx"), Some(&live)), Plan::Unchanged);
    }

    #[test]
    fn a_changed_image_is_patched_and_a_dropped_label_deleted() {
        let mut first = pod("nginx:1.25");
        first["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
        let Plan::Create(mut live) = plan(&first, None) else { panic!() };
        live["metadata"]["labels"]["team"] = json!("blue"); // someone else's label
        let mut second = pod("nginx:1.27");
        second["metadata"]["labels"] = json!({"app": "web"});
        let Plan::Patch(patch) = plan(&second, Some(&live)) else { panic!("expected a patch") };
        assert_eq!(patch["spec"]["containers"], json!([{"image": "nginx:1.27", "name": "nginx"}]));
        assert_eq!(patch["metadata"]["labels"], json!({"tier": null}));
        assert!(patch["metadata"]["annotations"][LAST_APPLIED].is_string());
    }
}
