//! delete and deletecollection.
//!
//! A DELETE does not always remove the object at once, as upstream:
//! - an object with **finalizers** (or deleted with `propagationPolicy: Foreground` or
//!   `Orphan`, which add the `foregroundDeletion` or `orphan` finalizer for the garbage
//!   collector) only gets a `deletionTimestamp`; it goes when its last finalizer is removed;
//! - a **pod bound to a node** gets a `deletionTimestamp` and a grace period; its kubelet
//!   stops the containers and then deletes it with `gracePeriodSeconds=0`;
//! - a **namespace** becomes `Terminating`; the namespace controller empties it, then
//!   removes its `kubernetes` finalizer.

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::read::Filter;
use super::{Body, Ctx};
use crate::admission::{self, SYSTEM_NAMESPACES};
use crate::errors::{ApiError, Result};
use crate::store::{str_at, Store};
use kube_api::meta::Time;
use kube_api::ResourceInfo;

/// `DeleteOptions`, from the body and/or the query string.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_ctx(ctx: &Ctx<'_>) -> Result<DeleteOptions> {
        let mut opts = DeleteOptions::default();
        if !ctx.body.is_empty() {
            let body = ctx.body_value()?;
            opts.grace_period_seconds = body.get("gracePeriodSeconds").and_then(Value::as_i64);
            opts.propagation_policy = body.get("propagationPolicy").and_then(Value::as_str).map(String::from);
            if body.get("orphanDependents") == Some(&json!(true)) {
                opts.propagation_policy = Some("Orphan".into());
            }
            opts.precondition_uid = body.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            opts.precondition_rv = body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            opts.dry_run = body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
        }
        if let Some(g) = ctx.query.get("gracePeriodSeconds") {
            opts.grace_period_seconds = Some(g.parse().map_err(|_| ApiError::BadRequest(format!("invalid gracePeriodSeconds: {g:?}")))?);
        }
        if let Some(p) = ctx.query.get("propagationPolicy") {
            opts.propagation_policy = Some(p.clone());
        }
        if ctx.q("dryRun") == "All" {
            opts.dry_run = true;
        }
        match opts.propagation_policy.as_deref() {
            None | Some("Background") | Some("Foreground") | Some("Orphan") => Ok(opts),
            Some(other) => Err(ApiError::BadRequest(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// DELETE of one object.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let opts = DeleteOptions::from_ctx(ctx)?;
    let (object, _) = delete_one(ctx.state, ctx.res(), &ctx.info.namespace, &ctx.info.name, &opts).await?;
    ctx.object_response(StatusCode::OK, &object, &[])
}

/// DELETE of a collection: every object matching the selectors.
pub async fn delete_collection(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let res = ctx.res();
    let opts = DeleteOptions::from_ctx(ctx)?;
    let filter = Filter::from_ctx(ctx)?;
    let cache = ctx.state.store.cache(res);
    cache.wait_ready().await;
    let (snapshot, _) = cache.snapshot();
    let mut deleted = Vec::new();
    for (_, object) in snapshot.into_iter().filter(|(_, o)| filter.matches(o)) {
        let (ns, name) = (str_at(&object, "/metadata/namespace"), str_at(&object, "/metadata/name"));
        match delete_one(ctx.state, res, ns, name, &opts).await {
            Ok((o, _)) => deleted.push(o),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {}, "items": deleted});
    Ok(super::value_response(StatusCode::OK, &list, ctx.format, &[]))
}

/// Delete (or start deleting) one object. Returns the object as it is after the call, and
/// whether it is gone.
pub async fn delete_one(
    state: &crate::State,
    res: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<(Value, bool)> {
    let store: &Store = &state.store;
    let current = store.get(res, namespace, name).await?;
    check_preconditions(res, name, &current, opts)?;
    let is_namespace = admission::is_core(res, "namespaces");
    if is_namespace && SYSTEM_NAMESPACES.contains(&name) {
        return Err(ApiError::Forbidden(format!("namespaces {name:?} is forbidden: this namespace may not be deleted")));
    }
    let is_pod = admission::is_core(res, "pods");
    let grace = if is_pod { admission::pod_grace_period(&current, opts.grace_period_seconds) } else { None };
    let extra_finalizer = match opts.propagation_policy.as_deref() {
        Some("Foreground") => Some("foregroundDeletion"),
        Some("Orphan") => Some("orphan"),
        _ => None,
    };
    let has_finalizers = current.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let graceful = grace.is_some_and(|g| g > 0);
    let pending = current.pointer("/metadata/deletionTimestamp").is_some();

    if has_finalizers || extra_finalizer.is_some() || graceful || is_namespace || (is_pod && pending) {
        // Mark the object; the store removes it right away if nothing holds it.
        let updated = store
            .guaranteed_update(res, namespace, name, opts.dry_run, |mut object| {
                mark_deleted(&mut object, grace, extra_finalizer, is_namespace);
                Ok(object)
            })
            .await?;
        let gone = store.get(res, namespace, name).await.is_err();
        if gone {
            admission::release(state, &admission::held_by(res, &updated)).await;
        }
        return Ok((updated, gone));
    }
    if opts.dry_run {
        return Ok((current, false));
    }
    let expected = opts.precondition_rv.as_deref().map(crate::store::parse_resource_version).transpose()?;
    let deleted = store.delete_now(res, namespace, name, expected).await?;
    admission::release(state, &admission::held_by(res, &deleted)).await;
    Ok((deleted, true))
}

/// Set `deletionTimestamp` (now + grace for pods), the grace period, the finalizer asked
/// for by the propagation policy, and a namespace's Terminating phase.
fn mark_deleted(object: &mut Value, grace: Option<i64>, finalizer: Option<&str>, is_namespace: bool) {
    let grace_secs = grace.unwrap_or(0);
    let already = object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
    let meta = &mut object["metadata"];
    // A second DELETE may only shorten the grace period, as upstream.
    if meta.get("deletionTimestamp").is_none() || already.is_some_and(|a| grace_secs < a) {
        let at = chrono::Utc::now() + chrono::Duration::seconds(grace_secs);
        meta["deletionTimestamp"] = json!(Time(at));
        meta["deletionGracePeriodSeconds"] = json!(grace_secs);
    }
    if let Some(f) = finalizer {
        let list = meta["finalizers"].as_array().cloned().unwrap_or_default();
        if !list.iter().any(|x| x == f) {
            let mut list = list;
            list.push(json!(f));
            meta["finalizers"] = json!(list);
        }
    }
    if is_namespace {
        object["status"]["phase"] = json!("Terminating");
    }
}

fn check_preconditions(res: &ResourceInfo, name: &str, current: &Value, opts: &DeleteOptions) -> Result<()> {
    if let Some(uid) = &opts.precondition_uid {
        let actual = str_at(current, "/metadata/uid");
        if uid != actual {
            return Err(ApiError::conflict(
                res,
                name,
                format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = str_at(current, "/metadata/resourceVersion");
        if rv != actual {
            return Err(ApiError::conflict(
                res,
                name,
                format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
            ));
        }
    }
    Ok(())
}
