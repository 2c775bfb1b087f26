//! create (POST), update (PUT) and patch (PATCH).
//!
//! Each write goes: body → the kind's typed pipeline (decode with `fieldValidation`,
//! defaults, validation) → kind-specific admission (namespace lifecycle, service IPs) →
//! an atomic write in etcd → the stored object back to the client.

use http::{Response, StatusCode};
use kube_api::patch::PatchType;
use serde_json::Value;

use super::{Body, Ctx};
use crate::admission;
use crate::errors::{ApiError, Result};
use crate::store::{prepare_create, prepare_update, str_at, WriteOptions};

/// POST to a collection.
pub async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    if !ctx.info.name.is_empty() {
        return Err(ApiError::MethodNotAllowed);
    }
    let opts = ctx.write_options()?;
    let body = ctx.body_value()?;
    let (object, warnings) = create_object(ctx, body, &opts, true).await?;
    ctx.object_response(StatusCode::CREATED, &object, &warnings)
}

/// The whole create path, shared with server-side apply of a new object. `record_update`:
/// record the manager as an `Update` (a POST); server-side apply has already recorded its
/// `Apply` entry, which an `Update` bookkeeping would overwrite.
async fn create_object(ctx: &Ctx<'_>, body: Value, opts: &WriteOptions, record_update: bool) -> Result<(Value, Vec<String>)> {
    let res = ctx.res();
    let namespace = &ctx.info.namespace;
    admission::check_namespace(ctx.state, res, namespace).await?;
    let (mut object, warnings) = prepare_create(res, namespace, body, opts)?;
    admission::service_account(ctx.state, res, &mut object).await?;
    crate::auth::escalation::check(ctx.state, &ctx.user, res, namespace, &object)?;
    if record_update {
        record_manager(&Value::Null, &mut object, opts, res.kind);
    }
    let allocated = admission::allocate(ctx.state, res, &mut object, opts.dry_run).await?;
    match ctx.state.store.insert(res, namespace, object, opts.dry_run).await {
        Ok(object) => {
            tracing::debug!("created {} {}", res.singular, crate::store::str_at(&object, "/metadata/name"));
            Ok((object, warnings))
        }
        Err(e) => {
            admission::release(ctx.state, &allocated).await;
            Err(e)
        }
    }
}

/// PUT of an object or of its status.
pub async fn update(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let opts = ctx.write_options()?;
    let body = ctx.body_value()?;
    let sub = ctx.info.subresource.as_str();
    let sub = if sub == "finalize" { "" } else { sub };
    crate::auth::escalation::check(ctx.state, &ctx.user, ctx.res(), &ctx.info.namespace, &body)?;
    let written = ctx.state.store.update(ctx.res(), &ctx.info.namespace, &ctx.info.name, sub, body, &opts).await?;
    ctx.object_response(StatusCode::OK, &written.object, &written.warnings)
}

/// PATCH of an object or of its status: JSON patch, merge patch, strategic merge patch or
/// server-side apply, chosen by the Content-Type.
pub async fn patch(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let res = ctx.res();
    let content_type = crate::negotiate::content_type(&ctx.headers);
    let patch_type = PatchType::from_content_type(&content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml".into(),
        )
    })?;
    let opts = ctx.write_options()?;
    let patch: Value = if patch_type == PatchType::Apply {
        serde_yaml::from_slice(&ctx.body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&ctx.body).map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?
    };
    let (namespace, name, sub) = (&ctx.info.namespace, &ctx.info.name, ctx.info.subresource.as_str());

    if patch_type == PatchType::Apply {
        if ctx.q("fieldManager").is_empty() {
            return Err(ApiError::BadRequest("PATCH, application/apply-patch+yaml requires fieldManager to be set".into()));
        }
        let force = ctx.q("force") == "true";
        // Apply to an object that does not exist yet creates it.
        if sub.is_empty() {
            if let Err(ApiError::NotFound { .. }) = ctx.state.store.get(res, namespace, name).await {
                let now = kube_api::meta::Time::now().to_string();
                let object = kube_api::apply::apply(None, &patch, &opts.field_manager, force, res.kind, &now)
                    .map_err(|e| apply_error(ctx, e))?;
                if str_at(&object, "/metadata/name") != name.as_str() {
                    return Err(ApiError::BadRequest(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        str_at(&object, "/metadata/name")
                    )));
                }
                let (created, warnings) = create_object(ctx, object, &opts, false).await?;
                return ctx.object_response(StatusCode::CREATED, &created, &warnings);
            }
        }
        let mut warnings = Vec::new();
        let object = ctx
            .state
            .store
            .guaranteed_update(res, namespace, name, opts.dry_run, |current| {
                let now = kube_api::meta::Time::now().to_string();
                let applied = kube_api::apply::apply(Some(&current), &patch, &opts.field_manager, force, res.kind, &now)
                    .map_err(|e| apply_error(ctx, e))?;
                let (new, w) = prepare_update(res, sub, &current, applied, &opts)?;
                crate::auth::escalation::check(ctx.state, &ctx.user, res, namespace, &new)?;
                warnings = w;
                Ok(new)
            })
            .await?;
        return ctx.object_response(StatusCode::OK, &object, &warnings);
    }

    // A patch that carries a resourceVersion is a precondition on it.
    let precondition = str_at(&patch, "/metadata/resourceVersion").to_string();
    let mut warnings = Vec::new();
    let object = ctx
        .state
        .store
        .guaranteed_update(res, namespace, name, opts.dry_run, |current| {
            if !precondition.is_empty() && precondition != str_at(&current, "/metadata/resourceVersion") {
                return Err(ApiError::stale(res, name));
            }
            let mut patched = apply_patch(patch_type, &current, &patch, res.kind)?;
            record_manager(&current, &mut patched, &opts, res.kind);
            let (new, w) = prepare_update(res, sub, &current, patched, &opts)?;
            crate::auth::escalation::check(ctx.state, &ctx.user, res, namespace, &new)?;
            warnings = w;
            Ok(new)
        })
        .await?;
    ctx.object_response(StatusCode::OK, &object, &warnings)
}

/// Apply a JSON, merge or strategic merge patch to `current`.
pub fn apply_patch(patch_type: PatchType, current: &Value, patch: &Value, kind: &str) -> Result<Value> {
    let result = match patch_type {
        PatchType::Json => kube_api::patch::json_patch(current, patch),
        PatchType::Merge => Ok(kube_api::patch::merge_patch(current, patch)),
        PatchType::StrategicMerge => kube_api::patch::strategic_merge_patch(current, patch, kind),
        PatchType::Apply => return Err(ApiError::Internal("apply is not a plain patch".into())),
    };
    result.map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Managed fields bookkeeping for a non-apply write.
fn record_manager(old: &Value, new: &mut Value, opts: &WriteOptions, kind: &str) {
    let now = kube_api::meta::Time::now().to_string();
    *new = kube_api::apply::record_update(old, new, &opts.field_manager, kind, &now);
}

fn apply_error(_ctx: &Ctx<'_>, e: kube_api::apply::ApplyError) -> ApiError {
    match e {
        kube_api::apply::ApplyError::Conflicts(_) => ApiError::ApplyConflict(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}
