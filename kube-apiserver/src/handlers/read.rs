//! get, list and watch.
//!
//! - **get** reads etcd (a consistent read).
//! - **list** with `resourceVersion=0` is served from the watch cache (possibly slightly
//!   stale, as upstream); without a resourceVersion it is consistent: the cache is used once
//!   it has caught up with etcd's current revision; with `limit` it pages through etcd at
//!   a fixed revision and hands back a `continue` token.
//! - **watch** streams the watch cache's events from the requested resourceVersion, one
//!   JSON `WatchEvent` per line, filtered by namespace and selectors; an object moving into
//!   or out of a selector is seen as ADDED or DELETED, as upstream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use kube_api::fields::FieldSelector;
use kube_api::labels::Selector;
use kube_api::ResourceInfo;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{table_value, Body, Ctx};
use crate::errors::{ApiError, Result};
use crate::negotiate::Format;
use crate::storage::watch_cache::CacheEvent;
use crate::storage::EventType;
use crate::store::{decode_stored, parse_resource_version, str_at, CACHE_CATCH_UP};

/// GET of one object.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let object = ctx.state.store.get(ctx.res(), &ctx.info.namespace, &ctx.info.name).await?;
    ctx.object_response(StatusCode::OK, &object, &[])
}

/// The selectors of a list or watch.
pub struct Filter {
    namespace: String,
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    pub fn from_ctx(ctx: &Ctx<'_>) -> Result<Filter> {
        let labels = Selector::parse(ctx.q("labelSelector")).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let fields = FieldSelector::parse(ctx.q("fieldSelector")).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        for label in fields.requirements().iter().map(|r| r.field.as_str()) {
            if !ctx.res().supports_field_label(label) {
                return Err(ApiError::BadRequest(format!("field label not supported: {label}")));
            }
        }
        Ok(Filter { namespace: ctx.info.namespace.clone(), labels, fields })
    }

    pub fn matches(&self, object: &Value) -> bool {
        (self.namespace.is_empty() || str_at(object, "/metadata/namespace") == self.namespace)
            && self.labels.matches_value(object)
            && self.fields.matches(object)
    }

    fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// The continue token: where the previous page stopped, and at which revision.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    v: String,
    rv: i64,
    start: String,
}

/// GET of a collection.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let res = ctx.res();
    let filter = Filter::from_ctx(ctx)?;
    let limit: i64 = match ctx.q("limit") {
        "" => 0,
        l => l.parse().map_err(|_| ApiError::BadRequest(format!("invalid limit: {l:?}")))?,
    };
    let rv = ctx.q("resourceVersion");
    let token = ctx.q("continue");
    let (items, revision, next, remaining) = if limit > 0 || !token.is_empty() {
        list_from_etcd(ctx, &filter, limit, token).await?
    } else {
        let (items, revision) = list_from_cache(ctx, &filter, rv == "0" || rv.parse::<i64>().is_ok_and(|v| v > 0)).await?;
        (items, revision, String::new(), None)
    };
    let rv = revision.to_string();
    let refs: Vec<&Value> = items.iter().map(|v| v.as_ref()).collect();
    if let Format::Table { v1beta1 } = ctx.format {
        let mut table = table_value(res, &refs, &rv, ctx.include_object(), v1beta1);
        if !next.is_empty() {
            table["metadata"]["continue"] = json!(next);
        }
        return Ok(super::value_response(StatusCode::OK, &table, ctx.format, &[]));
    }
    let mut metadata = json!({"resourceVersion": rv});
    if !next.is_empty() {
        metadata["continue"] = json!(next);
        if let Some(r) = remaining {
            metadata["remainingItemCount"] = json!(r);
        }
    }
    let list = ListBody { kind: format!("{}List", res.kind), api_version: res.api_version(), metadata, items: refs };
    Ok(super::value_response(StatusCode::OK, &list, ctx.format, &[]))
}

/// A list answer that borrows its items: serialised straight from the watch cache's
/// objects. (Building it with `json!` deep-copied every object first: a list of 10,000
/// pods cost an extra copy of all of them on every request.)
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    kind: String,
    api_version: String,
    metadata: Value,
    items: Vec<&'a Value>,
}

/// From the watch cache. `any_version`: the client accepts a possibly stale answer
/// (`resourceVersion=0`); otherwise wait for the cache to reach etcd's current revision.
async fn list_from_cache(ctx: &Ctx<'_>, filter: &Filter, any_version: bool) -> Result<(Vec<Arc<Value>>, i64)> {
    let cache = ctx.state.store.cache(ctx.res());
    cache.wait_ready().await;
    if !any_version {
        let current = ctx.state.store.backend().current_revision().await?;
        if cache.wait_for_revision(current, CACHE_CATCH_UP).await.is_err() {
            // The cache is behind (etcd trouble): read etcd directly.
            let (items, revision, _, _) = list_from_etcd(ctx, filter, 0, "").await?;
            return Ok((items, revision));
        }
    }
    let (snapshot, revision) = cache.snapshot();
    let items = snapshot.into_iter().map(|(_, v)| v).filter(|v| filter.matches(v)).collect();
    Ok((items, revision))
}

/// Page through etcd at one revision; keep reading until `limit` objects pass the filter.
async fn list_from_etcd(
    ctx: &Ctx<'_>,
    filter: &Filter,
    limit: i64,
    token: &str,
) -> Result<(Vec<Arc<Value>>, i64, String, Option<i64>)> {
    let store = &ctx.state.store;
    let prefix = store.collection_prefix(ctx.res(), &ctx.info.namespace);
    let (mut start, mut revision) = if token.is_empty() {
        (None, 0)
    } else {
        let c = decode_continue(token)?;
        (Some(format!("{prefix}{}", c.start)), c.rv)
    };
    let mut items = Vec::new();
    loop {
        let want = if limit > 0 { limit - items.len() as i64 } else { 0 };
        let page = store.backend().list(&prefix, start.as_deref(), want, revision).await.map_err(|e| match e {
            crate::storage::StorageError::Compacted { .. } => ApiError::Gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
            ),
            other => other.into(),
        })?;
        revision = page.revision;
        let last_key = page.items.last().map(|kv| kv.key.clone());
        for kv in &page.items {
            let v = decode_stored(kv)?;
            if filter.matches(&v) {
                items.push(Arc::new(v));
            }
        }
        let full = limit > 0 && items.len() as i64 >= limit;
        if !page.more || limit == 0 {
            return Ok((items, revision, String::new(), None));
        }
        let last = last_key.unwrap_or_default();
        if full {
            let next = encode_continue(&Continue {
                v: "meta.k8s.io/v1".into(),
                rv: revision,
                start: last.strip_prefix(&prefix).unwrap_or(&last).to_string(),
            });
            let remaining = filter.is_everything().then_some(page.remaining);
            return Ok((items, revision, next, remaining));
        }
        start = Some(last);
    }
}

fn encode_continue(c: &Continue) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<Continue> {
    let bad = || ApiError::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let c: Continue = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.start.contains("..") || c.start.starts_with('/') {
        return Err(bad());
    }
    Ok(c)
}

/// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// A watch: a streaming response of JSON lines.
pub async fn watch(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let res = ctx.res();
    let filter = Filter::from_ctx(ctx)?;
    let rv = ctx.q("resourceVersion").to_string();
    let bookmarks = ctx.q("allowWatchBookmarks") == "true";
    let timeout = match ctx.q("timeoutSeconds") {
        "" => Duration::from_secs(1800 + rand::random_range(0..1800)),
        t => Duration::from_secs(t.parse().map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds: {t:?}")))?),
    };
    let cache = ctx.state.store.cache(res).clone();
    cache.wait_ready().await;

    // Where to start: "" and "0" mean "the current state, as ADDED events, then changes".
    let (initial, after) = if rv.is_empty() || rv == "0" {
        let (snapshot, revision) = cache.snapshot();
        (snapshot.into_iter().map(|(_, v)| v).filter(|v| filter.matches(v)).collect::<Vec<_>>(), revision)
    } else {
        (Vec::new(), parse_resource_version(&rv)?)
    };

    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let encoder = LineEncoder { res, format: ctx.format, include: ctx.include_object() };
    match cache.watch(after) {
        Err(too_old) => {
            let status = ApiError::Gone(format!("too old resource version: {after} ({})", too_old.oldest)).to_status();
            let line = encoder.line("ERROR", &serde_json::to_value(status).unwrap_or(Value::Null));
            let _ = tx.try_send(line);
        }
        Ok(mut watcher) => {
            let watchers = ctx.state.metrics.clone();
            tokio::spawn(async move {
                watchers.watch_started();
                let mut last = after;
                for object in &initial {
                    if tx.send(encoder.line("ADDED", object)).await.is_err() {
                        watchers.watch_ended();
                        return;
                    }
                }
                let deadline = tokio::time::sleep(timeout);
                tokio::pin!(deadline);
                let mut bookmark = tokio::time::interval(BOOKMARK_INTERVAL);
                bookmark.tick().await;
                loop {
                    tokio::select! {
                        event = watcher.next() => {
                            let Some(event) = event else { break };
                            last = event.revision;
                            if let Some((type_, object)) = visible(&filter, &event) {
                                if tx.send(encoder.line(type_, object)).await.is_err() {
                                    break;
                                }
                            }
                        }
                        _ = bookmark.tick(), if bookmarks => {
                            let mark = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": last.to_string()}});
                            if tx.send(encoder.raw_line("BOOKMARK", &mark)).await.is_err() {
                                break;
                            }
                        }
                        _ = &mut deadline => break,
                        _ = tx.closed() => break,
                    }
                }
                watchers.watch_ended();
            });
        }
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let body: Body = StreamBody::new(stream).map_err(|never| match never {}).boxed();
    // Watch streams are always JSON lines (upstream streams YAML watches as JSON too).
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| Response::new(super::full(Bytes::new()))))
}

/// What a watcher with `filter` sees of `event`, as upstream's cacher decides: a change
/// that makes an object match is ADDED, one that makes it stop matching is DELETED.
fn visible<'e>(filter: &Filter, event: &'e CacheEvent) -> Option<(&'static str, &'e Value)> {
    let now = filter.matches(&event.object);
    let before = event.prev_object.as_ref().is_some_and(|p| filter.matches(p));
    match event.type_ {
        EventType::Added => now.then_some(("ADDED", event.object.as_ref())),
        EventType::Deleted => (now || before).then_some(("DELETED", event.object.as_ref())),
        EventType::Modified => match (before, now) {
            (true, true) => Some(("MODIFIED", event.object.as_ref())),
            (false, true) => Some(("ADDED", event.object.as_ref())),
            (true, false) => Some(("DELETED", event.object.as_ref())),
            (false, false) => None,
        },
        // Progress notes only move the cache's revision; watchers never see them.
        EventType::Progress => None,
    }
}

/// Encodes watch events as lines, converting objects to one-row Tables when asked.
#[derive(Clone, Copy)]
struct LineEncoder {
    res: &'static ResourceInfo,
    format: Format,
    include: kube_api::table::IncludeObject,
}

impl LineEncoder {
    fn line(&self, type_: &str, object: &Value) -> Bytes {
        match self.format {
            Format::Table { v1beta1 } if type_ != "ERROR" => {
                let rv = str_at(object, "/metadata/resourceVersion").to_string();
                let table = table_value(self.res, &[object], &rv, self.include, v1beta1);
                self.raw_line(type_, &table)
            }
            _ => self.raw_line(type_, object),
        }
    }

    fn raw_line(&self, type_: &str, object: &Value) -> Bytes {
        let mut line = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}
