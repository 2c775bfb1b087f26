//! The two token requests of `authentication.k8s.io/v1`; nothing here is stored.
//!
//! - `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` ([`token_request`]): a
//!   `TokenRequest` in, the same with `status.token` (a signed JWT) and
//!   `status.expirationTimestamp` out. `kubectl create token NAME [--duration 10m]
//!   [--audience X] [--bound-object-kind Pod --bound-object-name web]` and the kubelet's
//!   projected `serviceAccountToken` volumes use it. Upstream's `TokenREST`.
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` ([`token_review`]): a
//!   `TokenReview` with `spec.token` in, `status.authenticated` and `status.user` out: the
//!   bearer-token authenticators of the secure port, asked by a client.

use http::{Response, StatusCode};
use kube_api::authentication::{TokenRequest, TokenReview, UserInfo as ReviewUser};
use kube_api::meta::Time;
use kube_api::registry;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Body, Ctx};
use crate::auth::serviceaccount::{self, Bound, TokenSpec, EXTENDED_EXPIRATION_SECONDS, WARN_ONLY_EXPIRATION_SECONDS};
use crate::errors::{ApiError, Result};
use crate::store::str_at;

const GROUP: &str = "authentication.k8s.io";

/// POST serviceaccounts/{name}/token.
pub async fn token_request(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    // Without a signing key there is no issuer: upstream does not serve the subresource.
    let tokens = ctx.state.service_account_tokens.as_ref().ok_or(ApiError::NoSuchResource)?;
    let (namespace, name) = (&ctx.info.namespace, &ctx.info.name);
    let mut req: TokenRequest = typed_body(ctx, "TokenRequest")?;
    let causes = req.validate();
    if !causes.is_empty() {
        return Err(ApiError::Invalid { kind: "TokenRequest".into(), group: GROUP.into(), name: String::new(), causes });
    }
    let sa = ctx.state.store.get(ctx.res(), namespace, name).await?;

    // A bound object must exist; its uid goes into the token.
    let (mut bound_pod, mut bound_secret) = (None, None);
    if let Some(r) = &req.spec.bound_object_ref {
        let (group, version) = registry::split_api_version(&r.api_version);
        let plural = match (group, r.kind.as_str()) {
            ("", "Pod") => "pods",
            ("", "Secret") => "secrets",
            _ => return Err(ApiError::BadRequest(format!("cannot bind token to object of type {group}/{version}, Kind={}", r.kind))),
        };
        let res = registry::by_plural("", plural).ok_or(ApiError::NoSuchResource)?;
        let object = ctx.state.store.get(res, namespace, &r.name).await?;
        if plural == "pods" && str_at(&object, "/spec/serviceAccountName") != name.as_str() {
            return Err(ApiError::BadRequest(format!(
                "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
            )));
        }
        let uid = str_at(&object, "/metadata/uid");
        if !r.uid.is_empty() && r.uid != uid {
            return Err(ApiError::Conflict {
                resource: r.kind.clone(),
                group: String::new(),
                name: r.name.clone(),
                message: format!(
                    "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                    r.uid
                ),
            });
        }
        if let Some(r) = req.spec.bound_object_ref.as_mut() {
            r.uid = uid.to_string();
        }
        if plural == "pods" {
            bound_pod = Some(object);
        } else {
            bound_secret = Some(object);
        }
    }

    if req.spec.audiences.is_empty() {
        req.spec.audiences = tokens.api_audiences.clone();
    }
    let mut warnings = Vec::new();
    let mut seconds = req.expiration_seconds();
    if let Some(max) = tokens.max_expiration_seconds.filter(|max| seconds > *max) {
        warnings.push(format!("requested expiration of {seconds} seconds shortened to {max} seconds"));
        seconds = max;
    }
    req.spec.expiration_seconds = Some(seconds);
    // The kubelet's projected token (3607 s, for the apiserver, bound to a pod) is issued
    // for a year: a kubelet late to refresh it does not break the pod (upstream's
    // --service-account-extend-token-expiration).
    let for_apiserver = req.spec.audiences.iter().all(|a| tokens.api_audiences.contains(a));
    let (lifetime, warn_after) = if tokens.extend_expiration && bound_pod.is_some() && seconds == WARN_ONLY_EXPIRATION_SECONDS && for_apiserver {
        (EXTENDED_EXPIRATION_SECONDS.max(tokens.max_expiration_seconds.unwrap_or(0)), Some(seconds))
    } else {
        (seconds, None)
    };
    let bound = match (&bound_pod, &bound_secret) {
        (Some(pod), _) => Some(Bound::Pod(pod)),
        (_, Some(secret)) => Some(Bound::Secret(secret)),
        _ => None,
    };
    let spec = TokenSpec { service_account: &sa, bound, audiences: req.spec.audiences.clone(), expiration_seconds: lifetime, warn_after_seconds: warn_after };
    let now = chrono::Utc::now();
    let claims = serviceaccount::claims(&tokens.issuer.issuer, &spec, now.timestamp());
    let token = tokens.issuer.sign(&claims)?;
    tracing::info!("issued a token for serviceaccount {namespace}/{name} (audiences {:?}, {lifetime}s)", req.spec.audiences);

    req.status.token = token;
    req.status.expiration_timestamp = Some(Time(now + chrono::Duration::seconds(seconds)));
    req.metadata.name = name.clone();
    req.metadata.namespace = namespace.clone();
    let mut out = serde_json::to_value(&req).map_err(|e| ApiError::Internal(e.to_string()))?;
    out["apiVersion"] = json!(format!("{GROUP}/v1"));
    out["kind"] = json!("TokenRequest");
    ctx.object_response(StatusCode::CREATED, &out, &warnings)
}

/// POST tokenreviews: ask every bearer-token authenticator about `spec.token`.
pub async fn token_review(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let mut review: TokenReview = typed_body(ctx, "TokenReview")?;
    if review.spec.token.is_empty() {
        return Err(ApiError::BadRequest("token is required for TokenReview in authentication".into()));
    }
    let mut errors = Vec::new();
    for authenticator in &ctx.state.token_authenticators {
        match authenticator.authenticate_for(&review.spec.token, &review.spec.audiences).await {
            None => {}
            Some(Ok(user)) => {
                review.status.authenticated = true;
                review.status.user = ReviewUser { username: user.name, uid: user.uid, groups: user.groups, extra: user.extra };
                review.status.audiences = if review.spec.audiences.is_empty() {
                    ctx.state.service_account_tokens.as_ref().map(|t| t.api_audiences.clone()).unwrap_or_default()
                } else {
                    review.spec.audiences.clone()
                };
                errors.clear();
                break;
            }
            Some(Err(e)) => errors.push(e),
        }
    }
    if !review.status.authenticated {
        review.status.error = if errors.is_empty() { "invalid bearer token".into() } else { format!("[invalid bearer token, {}]", errors.join(", ")) };
    }
    let mut out = serde_json::to_value(&review).map_err(|e| ApiError::Internal(e.to_string()))?;
    out["apiVersion"] = json!(format!("{GROUP}/v1"));
    out["kind"] = json!("TokenReview");
    ctx.object_response(StatusCode::CREATED, &out, &[])
}

/// The body as `T` (JSON, YAML or protobuf), checking its kind when it names one.
fn typed_body<T: DeserializeOwned>(ctx: &Ctx<'_>, kind: &str) -> Result<T> {
    let body = ctx.body_value()?;
    let sent = str_at(&body, "/kind");
    if !sent.is_empty() && sent != kind {
        return Err(ApiError::BadRequest(format!("expected a {kind}, got a {sent}")));
    }
    serde_json::from_value(body).map_err(|e| ApiError::BadRequest(format!("error decoding {kind}: {e}")))
}
