//! What exists as soon as the apiserver starts, as upstream: the namespaces `default`,
//! `kube-system`, `kube-public` and `kube-node-lease`, and the `kubernetes` Service in
//! `default` (the first address of the service range, port 443) with its Endpoints
//! pointing at this apiserver; and the bootstrap RBAC roles and bindings
//! ([`crate::auth::policy`]).

use kube_api::object::FieldValidation;
use kube_api::registry;
use serde_json::{json, Value};

use crate::admission::SYSTEM_NAMESPACES;
use crate::errors::{ApiError, Result};
use crate::store::{prepare_create, WriteOptions};
use crate::State;

/// Create what must exist; what already exists is left alone (several apiservers, restarts).
pub async fn ensure_defaults(state: &State) -> Result<()> {
    let opts = WriteOptions { dry_run: false, validation: FieldValidation::Ignore, field_manager: "kube-apiserver".into() };
    let namespaces = registry::by_plural("", "namespaces").ok_or(ApiError::NoSuchResource)?;
    for ns in SYSTEM_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        create_if_missing(state, namespaces, "", body, &opts).await?;
    }

    let services = registry::by_plural("", "services").ok_or(ApiError::NoSuchResource)?;
    let first_ip = state.service_ips.first();
    let port = state.config.secure_port as i64;
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": first_ip.to_string(),
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                 "sessionAffinity": "None"},
    });
    if state.store.get(services, "default", "kubernetes").await.is_err() {
        let (mut object, _) = prepare_create(services, "default", service, &opts)?;
        match crate::admission::allocate(state, services, &mut object, false).await {
            Ok(allocated) => {
                if let Err(e) = state.store.insert(services, "default", object, false).await {
                    crate::admission::release(state, &allocated).await;
                    if !matches!(e, ApiError::AlreadyExists { .. }) {
                        return Err(e);
                    }
                }
            }
            // Another apiserver took the address first and is creating the Service.
            Err(ApiError::Invalid { .. }) => {}
            Err(e) => return Err(e),
        }
    }

    let endpoints = registry::by_plural("", "endpoints").ok_or(ApiError::NoSuchResource)?;
    let body = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": state.config.advertise_address}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    create_if_missing(state, endpoints, "default", body, &opts).await?;

    let (roles, bindings) = crate::auth::policy::cluster_roles_and_bindings();
    let cluster_roles = registry::by_plural(kube_api::rbac::GROUP, "clusterroles").ok_or(ApiError::NoSuchResource)?;
    for role in roles {
        let body = serde_json::to_value(role).map_err(|e| ApiError::Internal(e.to_string()))?;
        create_if_missing(state, cluster_roles, "", body, &opts).await?;
    }
    let cluster_role_bindings = registry::by_plural(kube_api::rbac::GROUP, "clusterrolebindings").ok_or(ApiError::NoSuchResource)?;
    for binding in bindings {
        let body = serde_json::to_value(binding).map_err(|e| ApiError::Internal(e.to_string()))?;
        create_if_missing(state, cluster_role_bindings, "", body, &opts).await?;
    }
    Ok(())
}

async fn create_if_missing(
    state: &State,
    res: &'static kube_api::ResourceInfo,
    namespace: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<()> {
    let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if state.store.get(res, namespace, &name).await.is_ok() {
        return Ok(());
    }
    let (object, _) = prepare_create(res, namespace, body, opts)?;
    match state.store.insert(res, namespace, object, false).await {
        Ok(_) => {
            tracing::info!("created {} {name}", res.singular);
            Ok(())
        }
        Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
