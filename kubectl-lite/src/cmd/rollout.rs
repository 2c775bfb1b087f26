//! `kubectl rollout status|history|undo|restart` for deployments.
//!
//! - `status`: reads the deployment's `status` until the rollout is done, printing kubectl's
//!   progress lines; done means the controller has seen the latest spec
//!   (`observedGeneration >= generation`) and `updatedReplicas == replicas ==
//!   availableReplicas`.
//! - `history`: the revisions are the deployment's ReplicaSets (matching its selector and
//!   owned by it), numbered by their `deployment.kubernetes.io/revision` annotation.
//! - `undo`: as the real kubectl does it, client-side — take the pod template of the
//!   ReplicaSet of the previous revision (or `--to-revision`), drop its `pod-template-hash`
//!   label, and `PATCH` it into the deployment; the deployment controller does the rest.
//! - `restart`: set the template annotation `kubectl.kubernetes.io/restartedAt`, which
//!   changes the template and so starts a new rollout.

use std::time::{Duration, Instant};

use kube_api::labels::Selector;
use kube_client::{ListParams, PatchType, PostParams};
use serde_json::{json, Value};

use super::print;
use crate::context::{resource, split_args};
use crate::error::{usage, Result};
use crate::printers::{object_name, TabWriter};
use crate::Ctx;

/// The annotation holding a ReplicaSet's (and a deployment's) revision number.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Manage the rollout of a resource.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Rollout,
}

#[derive(clap::Subcommand, Debug)]
pub enum Rollout {
    /// Show the status of the rollout
    Status {
        resources: Vec<String>,
        /// Watch the status of the rollout until it's done.
        #[arg(short = 'w', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        watch: bool,
        /// The length of time to wait before ending watch, zero means never (e.g. 30s).
        #[arg(long, default_value = "0s")]
        timeout: String,
    },
    /// View rollout history
    History {
        resources: Vec<String>,
        /// See the details, including podTemplate of the revision specified
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// Undo a previous rollout
    Undo {
        resources: Vec<String>,
        /// The revision to rollback to. Default to 0 (last revision).
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Restart a resource
    Restart { resources: Vec<String> },
}

/// The one deployment the arguments name.
async fn deployment(ctx: &Ctx, args: &[String]) -> Result<(kube_client::DynamicApi, String)> {
    let targets = split_args(args)?;
    let Some((res, Some(name))) = targets.into_iter().next() else {
        return Err(usage("required resource not specified"));
    };
    if res.kind != "Deployment" {
        return Err(usage(format!("no {} for {}", "rollout support", res.qualified_plural())));
    }
    Ok((ctx.api(res, &ctx.namespace()?)?, name))
}

/// kubectl's status line for a deployment, and whether the rollout is done.
pub fn status_message(d: &Value) -> Result<(String, bool)> {
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let int = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if int("/metadata/generation") > int("/status/observedGeneration") {
        return Ok(("Waiting for deployment spec update to be observed...".into(), false));
    }
    let stalled = d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if stalled {
        return Err(usage(format!("deployment {name:?} exceeded its progress deadline")));
    }
    let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (updated, total, available) = (int("/status/updatedReplicas"), int("/status/replicas"), int("/status/availableReplicas"));
    Ok(if updated < replicas {
        (format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {replicas} new replicas have been updated..."), false)
    } else if total > updated {
        (format!("Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...", total - updated), false)
    } else if available < updated {
        (format!("Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."), false)
    } else {
        (format!("deployment {name:?} successfully rolled out"), true)
    })
}

/// The deployment's ReplicaSets with their revision numbers, oldest first.
async fn revisions(ctx: &Ctx, d: &Value) -> Result<Vec<(i64, Value)>> {
    let selector = Selector::from_label_selector_json(&d["spec"]["selector"]).map_err(|e| usage(e.to_string()))?;
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
    let lp = ListParams { label_selector: Some(selector.to_string()), ..Default::default() };
    let uid = &d["metadata"]["uid"];
    let mut out: Vec<(i64, Value)> = ctx
        .api(resource("replicasets")?, ns)?
        .list_all(&lp)
        .await?
        .items
        .into_iter()
        .filter(|rs| rs["metadata"]["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|r| &r["uid"] == uid)))
        .map(|rs| (rs["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0), rs))
        .collect();
    out.sort_by_key(|(r, _)| *r);
    Ok(out)
}

/// A ReplicaSet's template as the deployment's: without the `pod-template-hash` label.
pub fn template_of(rs: &Value) -> Value {
    let mut t = rs["spec"]["template"].clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    t
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    match &args.command {
        Rollout::Status { resources, watch, timeout } => {
            let (api, name) = deployment(ctx, resources).await?;
            let limit = timeout.trim_end_matches('s').parse::<u64>().unwrap_or(0);
            let deadline = (limit > 0).then(|| Instant::now() + Duration::from_secs(limit));
            let mut last = String::new();
            loop {
                let (message, done) = status_message(&api.get(&name).await?)?;
                if message != last {
                    print(&format!("{message}\n"));
                    last = message;
                }
                if done || !watch {
                    return Ok(());
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(usage("timed out waiting for the condition"));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Rollout::History { resources, revision } => {
            let (api, name) = deployment(ctx, resources).await?;
            let d = api.get(&name).await?;
            let revs = revisions(ctx, &d).await?;
            let subject = object_name(api.resource(), &name);
            if *revision > 0 {
                let Some((_, rs)) = revs.iter().find(|(r, _)| r == revision) else {
                    return Err(usage("unable to find the specified revision".to_string()));
                };
                let text = crate::describe::pod_template(&template_of(rs));
                print(&format!("{subject} with revision #{revision}\n{text}\n"));
                return Ok(());
            }
            let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".to_string()]];
            for (r, rs) in &revs {
                let cause = rs["metadata"]["annotations"]["kubernetes.io/change-cause"].as_str().unwrap_or("<none>");
                rows.push(vec![r.to_string(), cause.to_string()]);
            }
            print(&format!("{subject} \n{}\n", TabWriter::describe().format(&rows)));
            Ok(())
        }
        Rollout::Undo { resources, to_revision } => {
            let (api, name) = deployment(ctx, resources).await?;
            let d = api.get(&name).await?;
            let revs = revisions(ctx, &d).await?;
            let subject = object_name(api.resource(), &name);
            let target = if *to_revision > 0 {
                revs.iter().find(|(r, _)| r == to_revision).ok_or_else(|| usage(format!("unable to find specified revision {to_revision} in history")))?
            } else {
                if revs.len() < 2 {
                    return Err(usage(format!("no rollout history found for deployment {name:?}")));
                }
                &revs[revs.len() - 2]
            };
            let template = template_of(&target.1);
            if template == d["spec"]["template"] {
                print(&format!("{subject} skipped rollback (current template already matches revision {})\n", target.0));
                return Ok(());
            }
            let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
            api.patch(&name, &PatchType::Json, &patch, &PostParams::default()).await?;
            print(&format!("{subject} rolled back\n"));
            Ok(())
        }
        Rollout::Restart { resources } => {
            let (api, name) = deployment(ctx, resources).await?;
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
            api.patch(&name, &PatchType::Strategic, &patch, &PostParams { field_manager: Some("kubectl-rollout".into()), ..Default::default() }).await?;
            print(&format!("{} restarted\n", object_name(api.resource(), &name)));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_follow_the_rollout() {
        let d = |gen: i64, observed: i64, updated: i64, total: i64, available: i64| {
            json!({"metadata": {"name": "web", "generation": gen}, "spec": {"replicas": 3},
                   "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total, "availableReplicas": available}})
        };
        let msg = |v: Value| status_message(&v).unwrap();
        assert_eq!(msg(d(2, 1, 3, 3, 3)).0, "Waiting for deployment spec update to be observed...");
        assert_eq!(msg(d(2, 2, 1, 3, 3)).0, "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...");
        assert_eq!(msg(d(2, 2, 3, 4, 3)).0, "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...");
        assert_eq!(msg(d(2, 2, 3, 3, 2)).0, "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...");
        assert_eq!(msg(d(2, 2, 3, 3, 3)), ("deployment \"web\" successfully rolled out".to_string(), true));
    }
}
