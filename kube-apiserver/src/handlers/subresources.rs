//! Subresources that are not plain reads and writes of the object:
//! - `pods/binding` (POST): the scheduler's decision; sets `spec.nodeName` once.
//! - `pods/eviction` (POST): a polite delete (no PodDisruptionBudgets here).
//! - `{deployments,replicasets,replicationcontrollers,statefulsets}/scale`: the replica
//!   count seen as an `autoscaling/v1` `Scale` (what `kubectl scale` writes).
//! - `pods/log` (GET): proxied to the kubelet of the pod's node.

use bytes::Bytes;
use futures::TryStreamExt;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use kube_api::labels::Selector;
use serde_json::{json, Value};

use super::delete::{delete_one, DeleteOptions};
use super::{Body, Ctx};
use crate::errors::{ApiError, Result};
use crate::store::{prepare_update, str_at};

/// POST pods/{name}/binding: bind a pending pod to a node.
pub async fn binding(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let res = ctx.res();
    let body = ctx.body_value()?;
    let node = str_at(&body, "/target/name").to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(res, &ctx.info.name, vec![kube_api::validation::FieldError::required("target.name")]));
    }
    let name = ctx.info.name.clone();
    ctx.state
        .store
        .guaranteed_update(res, &ctx.info.namespace, &name, false, |mut pod| {
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::conflict(res, &name, format!("pod {name} is being deleted, cannot be assigned to a host")));
            }
            let current = str_at(&pod, "/spec/nodeName");
            if !current.is_empty() {
                return Err(ApiError::conflict(res, &name, format!("pod {name} is already assigned to node {current:?}")));
            }
            pod["spec"]["nodeName"] = json!(node);
            set_condition(&mut pod, "PodScheduled", "True");
            Ok(pod)
        })
        .await?;
    let status = serde_json::to_value(kube_api::meta::Status::success()).unwrap_or(Value::Null);
    let mut status = status;
    status["code"] = json!(201);
    Ok(super::value_response(StatusCode::CREATED, &status, ctx.format, &[]))
}

fn set_condition(pod: &mut Value, type_: &str, status: &str) {
    let now = kube_api::meta::Time::now();
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != type_).collect();
    conditions.push(json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": now}));
    pod["status"]["conditions"] = json!(conditions);
}

/// POST pods/{name}/eviction.
pub async fn eviction(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let body = ctx.body_value()?;
    let mut opts = DeleteOptions::default();
    if let Some(d) = body.get("deleteOptions") {
        opts.grace_period_seconds = d.get("gracePeriodSeconds").and_then(Value::as_i64);
        opts.precondition_uid = d.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
    }
    delete_one(ctx.state, ctx.res(), &ctx.info.namespace, &ctx.info.name, &opts).await?;
    let mut status = serde_json::to_value(kube_api::meta::Status::success()).unwrap_or(Value::Null);
    status["code"] = json!(201);
    Ok(super::value_response(StatusCode::CREATED, &status, ctx.format, &[]))
}

/// GET/PUT/PATCH .../scale.
pub async fn scale(ctx: &Ctx<'_>, method: &Method) -> Result<Response<Body>> {
    let res = ctx.res();
    let (namespace, name) = (&ctx.info.namespace, &ctx.info.name);
    if method == Method::GET {
        let parent = ctx.state.store.get(res, namespace, name).await?;
        return Ok(super::value_response(StatusCode::OK, &scale_of(&parent), ctx.format, &[]));
    }
    let opts = ctx.write_options()?;
    let patch_type = if method == Method::PATCH {
        let ct = crate::negotiate::content_type(&ctx.headers);
        Some(kube_api::patch::PatchType::from_content_type(&ct).ok_or_else(|| {
            ApiError::UnsupportedMediaType("application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json".into())
        })?)
    } else {
        None
    };
    let body: Value = serde_json::from_slice(&ctx.body).map_err(|e| ApiError::BadRequest(format!("error decoding body: {e}")))?;
    let updated = ctx
        .state
        .store
        .guaranteed_update(res, namespace, name, opts.dry_run, |parent| {
            let current_scale = scale_of(&parent);
            let new_scale = match patch_type {
                Some(t) => super::write::apply_patch(t, &current_scale, &body, "Scale")?,
                None => body.clone(),
            };
            let rv = str_at(&new_scale, "/metadata/resourceVersion");
            if !rv.is_empty() && rv != str_at(&parent, "/metadata/resourceVersion") {
                return Err(ApiError::stale(res, name));
            }
            let replicas = new_scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::Invalid {
                    kind: "Scale".into(),
                    group: "autoscaling".into(),
                    name: name.clone(),
                    causes: vec![kube_api::validation::FieldError::invalid(
                        "spec.replicas",
                        &replicas.to_string(),
                        "must be greater than or equal to 0",
                    )],
                });
            }
            let mut new_parent = parent.clone();
            new_parent["spec"]["replicas"] = json!(replicas);
            let (new_parent, _) = prepare_update(res, "", &parent, new_parent, &opts)?;
            Ok(new_parent)
        })
        .await?;
    Ok(super::value_response(StatusCode::OK, &scale_of(&updated), ctx.format, &[]))
}

/// The `autoscaling/v1` Scale view of a workload.
fn scale_of(parent: &Value) -> Value {
    let selector = match parent.pointer("/spec/selector") {
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => {
            Selector::from_label_selector_json(sel).map(|s| s.to_string()).unwrap_or_default()
        }
        Some(Value::Object(map)) => {
            let labels = map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
            Selector::from_map(&labels).to_string()
        }
        _ => String::new(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": parent["metadata"]["name"],
            "namespace": parent["metadata"]["namespace"],
            "uid": parent["metadata"]["uid"],
            "resourceVersion": parent["metadata"]["resourceVersion"],
            "creationTimestamp": parent["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": parent.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": parent.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// GET pods/{name}/log: find the pod's node and container, and stream the kubelet's answer.
pub async fn log(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let pod = ctx.state.store.get(ctx.res(), &ctx.info.namespace, &ctx.info.name).await?;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| str_at(c, "/name").to_string()).collect())
        .unwrap_or_default();
    let container = match ctx.q("container") {
        "" if containers.len() == 1 => containers[0].clone(),
        "" => {
            return Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                ctx.info.name,
                containers.join(" ")
            )))
        }
        c => c.to_string(),
    };
    let init: Vec<String> = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| str_at(c, "/name").to_string()).collect())
        .unwrap_or_default();
    if !containers.contains(&container) && !init.contains(&container) {
        return Err(ApiError::BadRequest(format!(
            "container {container} is not valid for pod {}",
            ctx.info.name
        )));
    }
    let node_name = str_at(&pod, "/spec/nodeName");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "pod {} does not have a host assigned",
            ctx.info.name
        )));
    }
    let nodes = kube_api::registry::by_plural("", "nodes").ok_or(ApiError::NoSuchResource)?;
    let node = ctx.state.store.get(nodes, "", node_name).await?;
    let address = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x["type"] == "InternalIP")
                .or_else(|| a.iter().find(|x| x["type"] == "Hostname"))
                .and_then(|x| x["address"].as_str())
        })
        .unwrap_or("127.0.0.1")
        .to_string();
    let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port").and_then(Value::as_u64).unwrap_or(10250);
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for key in ["follow", "tailLines", "timestamps", "previous", "sinceSeconds", "limitBytes"] {
            let v = ctx.q(key);
            if !v.is_empty() {
                query.append_pair(key, v);
            }
        }
        query.finish()
    };
    let url = format!("https://{address}:{port}/containerLogs/{}/{}/{container}?{query}", ctx.info.namespace, ctx.info.name);
    let uri: http::Uri = url.parse().map_err(|e| ApiError::Internal(format!("bad kubelet URL {url}: {e}")))?;
    let response = ctx
        .state
        .kubelet_client
        .get(uri)
        .await
        .map_err(|e| ApiError::Unavailable(format!("Get \"{url}\": {e}")))?;
    let status = response.status();
    let stream = response.into_body().into_data_stream().map_err(std::io::Error::other);
    let body: Body = http_body_util::StreamBody::new(stream.map_ok(hyper::body::Frame::data)).boxed();
    let code = if status.is_success() { StatusCode::OK } else { status };
    Ok(Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap_or_else(|_| Response::new(super::full(Bytes::new()))))
}
