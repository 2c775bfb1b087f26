//! The generic object store: how any kind is created, read, updated and deleted on top of
//! the key-value [`Backend`](crate::storage::Backend), whatever its kind.
//!
//! This is where the API's rules for every object live:
//! - keys are `/registry/{resource}/{namespace}/{name}` (no namespace when cluster-scoped);
//! - the stored value is the JSON of the object without its resourceVersion, which is the
//!   key's etcd revision and is filled in on the way out;
//! - a write is accepted through the kind's typed pipeline (decode, defaults, validation,
//!   see [`kube_api::object::KindOps`]) and then written with a compare-and-swap on the
//!   revision read, so two writers never overwrite each other silently (409 Conflict);
//! - an object with finalizers is not removed by DELETE: it gets a `deletionTimestamp`
//!   and disappears when the last finalizer is removed;
//! - `metadata.generation` counts changes of the desired state.
//!
//! Kind-specific rules (service IPs, pod grace periods, namespaces) are in
//! [`admission`](crate::admission), called by the handlers around these operations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube_api::meta::Time;
use kube_api::object::FieldValidation;
use kube_api::registry;
use kube_api::ResourceInfo;
use serde_json::{json, Value};

use crate::errors::{ApiError, Result};
use crate::storage::watch_cache::WatchCache;
use crate::storage::{Backend, KeyValue, StorageError};

/// How many times a write that lost a race is retried on the fresh object before giving up.
const MAX_UPDATE_RETRIES: usize = 16;

/// Options shared by the write verbs.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// `?dryRun=All`: run every check, write nothing.
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// `?fieldManager=`, or derived from the User-Agent.
    pub field_manager: String,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { dry_run: false, validation: FieldValidation::Ignore, field_manager: "unknown".into() }
    }
}

/// The objects stored for every resource, with one watch cache per resource.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    prefix: String,
    caches: HashMap<(&'static str, &'static str), Arc<WatchCache>>,
}

/// One accepted write: the object as stored, and the warnings to send back.
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
}

impl Store {
    /// Build the store and start one watch cache per resource of the registry.
    pub fn new(backend: Arc<dyn Backend>, prefix: &str) -> Store {
        let prefix = prefix.trim_end_matches('/').to_string();
        let mut caches = HashMap::new();
        for res in registry::all() {
            let cache = WatchCache::start(backend.clone(), format!("{prefix}/{}/", res.plural), 10_000);
            caches.insert((res.group, res.plural), cache);
        }
        Store { backend, prefix, caches }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The watch cache of a resource.
    pub fn cache(&self, res: &ResourceInfo) -> &Arc<WatchCache> {
        // Every registry entry got a cache in `new`.
        &self.caches[&(res.group, res.plural)]
    }

    /// Wait until every watch cache has loaded.
    pub async fn wait_ready(&self) {
        for cache in self.caches.values() {
            cache.wait_ready().await;
        }
    }

    /// Number of client watches served right now, across resources.
    pub fn watcher_count(&self) -> usize {
        self.caches.values().map(|c| c.watcher_count()).sum()
    }

    /// `/registry/pods/default/web`.
    pub fn key(&self, res: &ResourceInfo, namespace: &str, name: &str) -> String {
        if res.namespaced {
            format!("{}/{}/{}/{}", self.prefix, res.plural, namespace, name)
        } else {
            format!("{}/{}/{}", self.prefix, res.plural, name)
        }
    }

    /// The key prefix of a collection: one namespace, or all of the resource.
    pub fn collection_prefix(&self, res: &ResourceInfo, namespace: &str) -> String {
        if res.namespaced && !namespace.is_empty() {
            format!("{}/{}/{}/", self.prefix, res.plural, namespace)
        } else {
            format!("{}/{}/", self.prefix, res.plural)
        }
    }

    // ---- reads -------------------------------------------------------------------------

    /// Read one object from etcd (a consistent read).
    pub async fn get(&self, res: &ResourceInfo, namespace: &str, name: &str) -> Result<Value> {
        let (value, _) = self.get_with_revision(res, namespace, name).await?;
        Ok(value)
    }

    async fn get_with_revision(&self, res: &ResourceInfo, namespace: &str, name: &str) -> Result<(Value, i64)> {
        let key = self.key(res, namespace, name);
        match self.backend.get(&key).await.map_err(|e| ApiError::from_storage(e, res, name))? {
            Some(kv) => Ok((decode_stored(&kv)?, kv.mod_revision)),
            None => Err(ApiError::not_found(res, name)),
        }
    }

    // ---- create ------------------------------------------------------------------------

    /// Write a new object prepared by [`prepare_create`] (and admitted): an atomic create
    /// of its key. A generated name that collides is retried with another suffix.
    pub async fn insert(&self, res: &'static ResourceInfo, namespace: &str, mut object: Value, dry_run: bool) -> Result<Value> {
        let generate_name = str_at(&object, "/metadata/generateName").to_string();
        // Only a name made from generateName (prefix + 5 characters) may be replaced.
        let generated = |name: &str| name.strip_prefix(generate_name.as_str()).is_some_and(|s| s.len() == 5);
        let mut attempts = 0;
        loop {
            let name = str_at(&object, "/metadata/name").to_string();
            if dry_run {
                return Ok(object);
            }
            let key = self.key(res, namespace, &name);
            match self.backend.create(&key, encode_stored(&object)?).await {
                Ok(revision) => {
                    set_resource_version(&mut object, revision);
                    return Ok(object);
                }
                // A generated name that collides is retried with another suffix, as upstream.
                Err(StorageError::AlreadyExists(_)) if !generate_name.is_empty() && generated(&name) && attempts < 8 => {
                    attempts += 1;
                    object["metadata"]["name"] = json!(format!("{generate_name}{}", random_suffix()));
                }
                Err(e) => return Err(ApiError::from_storage(e, res, &name)),
            }
        }
    }

    // ---- update ------------------------------------------------------------------------

    /// Read-modify-write with retries: `mutate` gets the current object and returns the
    /// object to store (or an error). On a lost race the whole thing is retried on the new
    /// object, unless the caller pinned a resourceVersion (then the client gets 409).
    ///
    /// Objects that end up with a `deletionTimestamp` and no finalizers are removed: this
    /// is how the last finalizer's removal completes a deletion.
    pub async fn guaranteed_update<F>(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        dry_run: bool,
        mut mutate: F,
    ) -> Result<Value>
    where
        F: FnMut(Value) -> Result<Value>,
    {
        let key = self.key(res, namespace, name);
        for _ in 0..MAX_UPDATE_RETRIES {
            let kv = self
                .backend
                .get(&key)
                .await
                .map_err(|e| ApiError::from_storage(e, res, name))?
                .ok_or_else(|| ApiError::not_found(res, name))?;
            let current = decode_stored(&kv)?;
            let mut updated = mutate(current.clone())?;
            if dry_run {
                return Ok(updated);
            }
            let deleting = !updated.pointer("/metadata/deletionTimestamp").unwrap_or(&Value::Null).is_null();
            let finalizers_left = updated
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if deleting && !finalizers_left && deletion_complete(res, &updated) {
                match self.backend.delete(&key, kv.mod_revision).await {
                    Ok(revision) => {
                        set_resource_version(&mut updated, revision);
                        return Ok(updated);
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(e) => return Err(ApiError::from_storage(e, res, name)),
                }
            }
            if strip_rv(&updated) == strip_rv(&current) {
                // Nothing changed: no write, no new resourceVersion, no watch event.
                return Ok(current);
            }
            match self.backend.update(&key, encode_stored(&updated)?, kv.mod_revision).await {
                Ok(revision) => {
                    set_resource_version(&mut updated, revision);
                    return Ok(updated);
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(ApiError::from_storage(e, res, name)),
            }
        }
        Err(ApiError::conflict(res, name, "too many concurrent updates, please retry"))
    }

    /// PUT: replace the object (or its status) with `body`, if `body`'s resourceVersion
    /// (when given) is still the current one.
    pub async fn update(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        subresource: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        check_identity(res, namespace, name, &body)?;
        let precondition = str_at(&body, "/metadata/resourceVersion").to_string();
        let mut warnings = Vec::new();
        let object = self
            .guaranteed_update(res, namespace, name, opts.dry_run, |current| {
                if !precondition.is_empty() && precondition != str_at(&current, "/metadata/resourceVersion") {
                    return Err(ApiError::stale(res, name));
                }
                let (new, w) = prepare_update(res, subresource, &current, body.clone(), opts)?;
                warnings = w;
                Ok(new)
            })
            .await?;
        Ok(Written { object, warnings })
    }

    // ---- delete ------------------------------------------------------------------------

    /// Remove the object now, if its revision is still `expected` (0: whatever it is).
    pub async fn delete_now(&self, res: &'static ResourceInfo, namespace: &str, name: &str, expected: Option<i64>) -> Result<Value> {
        let key = self.key(res, namespace, name);
        for _ in 0..MAX_UPDATE_RETRIES {
            let kv = self
                .backend
                .get(&key)
                .await
                .map_err(|e| ApiError::from_storage(e, res, name))?
                .ok_or_else(|| ApiError::not_found(res, name))?;
            if let Some(rv) = expected {
                if rv != kv.mod_revision {
                    return Err(ApiError::stale(res, name));
                }
            }
            let mut object = decode_stored(&kv)?;
            match self.backend.delete(&key, kv.mod_revision).await {
                Ok(revision) => {
                    set_resource_version(&mut object, revision);
                    return Ok(object);
                }
                Err(StorageError::Conflict { .. }) if expected.is_none() => continue,
                Err(e) => return Err(ApiError::from_storage(e, res, name)),
            }
        }
        Err(ApiError::conflict(res, name, "too many concurrent updates, please retry"))
    }
}

// ---- the typed pipeline, on JSON values -------------------------------------------------

/// Everything a create does before writing: check identity, decode through the kind's
/// type, set the server-owned metadata, reset what clients may not set, default, validate.
pub fn prepare_create(
    res: &'static ResourceInfo,
    namespace: &str,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>)> {
    check_type(res, &mut body)?;
    if res.namespaced {
        let body_ns = str_at(&body, "/metadata/namespace");
        if !body_ns.is_empty() && body_ns != namespace {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
    }
    let (mut object, warnings) = decode(res, body, opts.validation)?;
    let meta = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::BadRequest("metadata is missing".into()))?;
    if res.namespaced {
        meta.insert("namespace".into(), json!(namespace));
    } else {
        meta.remove("namespace");
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(Time::now()));
    for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
        meta.remove(field);
    }
    let name_missing = str_at(&object, "/metadata/name").is_empty();
    let generate_missing = str_at(&object, "/metadata/generateName").is_empty();
    if name_missing && !generate_missing {
        // Named now, so that what depends on the name (a Job's labels) sees it; `insert`
        // picks another suffix if this one is taken.
        let generated = format!("{}{}", str_at(&object, "/metadata/generateName"), random_suffix());
        object["metadata"]["name"] = json!(generated);
    }
    (res.ops.prepare_for_create)(&mut object);
    (res.ops.default)(&mut object);
    let mut causes = (res.ops.validate)(&object);
    if name_missing && generate_missing {
        causes.retain(|c| c.field != "metadata.name");
        causes.insert(0, kube_api::validation::FieldError::required("metadata.name"));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(res, str_at(&object, "/metadata/name"), causes));
    }
    Ok((object, warnings))
}

/// Everything an update does before writing: the new object is taken through the typed
/// pipeline, what the client may not change is taken from `current`, and `generation` is
/// bumped when the desired state changed. For the `status` subresource only the status is
/// taken from the body; for the main resource of a kind with a status subresource, the
/// status is kept (spec and status are written by different actors, as upstream).
pub fn prepare_update(
    res: &'static ResourceInfo,
    subresource: &str,
    current: &Value,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>)> {
    check_type(res, &mut body)?;
    let (decoded, warnings) = decode(res, body, opts.validation)?;
    let mut new = if subresource == "status" {
        let mut new = current.clone();
        new["status"] = decoded.get("status").cloned().unwrap_or(Value::Null);
        new
    } else {
        let mut new = decoded;
        if res.has_subresource("status") {
            match current.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        new
    };
    // Metadata the server owns.
    for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match current.pointer(&format!("/metadata/{field}")) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove(field);
                }
            }
        }
    }
    (res.ops.default)(&mut new);
    crate::admission::keep_allocations(res, current, &mut new);
    // Kinds that track generation (their create sets it to 1) count changes of the spec.
    if let Some(generation) = current.pointer("/metadata/generation").and_then(Value::as_i64) {
        if spec_of(&new) != spec_of(current) {
            new["metadata"]["generation"] = json!(generation + 1);
        }
    }
    let mut causes = (res.ops.validate)(&new);
    causes.extend((res.ops.validate_update)(&new, current));
    if !causes.is_empty() {
        return Err(ApiError::invalid(res, str_at(&new, "/metadata/name"), causes));
    }
    Ok((new, warnings))
}

/// The desired state: everything but metadata and status.
fn spec_of(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
        o.remove("apiVersion");
        o.remove("kind");
    }
    v
}

fn decode(res: &ResourceInfo, body: Value, validation: FieldValidation) -> Result<(Value, Vec<String>)> {
    let name = str_at(&body, "/metadata/name").to_string();
    let (mut object, unknown) = (res.ops.decode)(body, validation).map_err(|e| {
        ApiError::BadRequest(format!("{} in version {:?} cannot be handled as a {}: {e}", res.kind, res.version, res.kind))
    })?;
    let _ = name;
    object["apiVersion"] = json!(res.api_version());
    object["kind"] = json!(res.kind);
    if object.get("metadata").is_none_or(|m| !m.is_object()) {
        object["metadata"] = json!({});
    }
    let warnings = match validation {
        FieldValidation::Warn => unknown.iter().map(|f| format!("unknown field {f:?}")).collect(),
        _ => Vec::new(),
    };
    Ok((object, warnings))
}

/// The body's `apiVersion` and `kind`, when given, must be the resource's.
fn check_type(res: &ResourceInfo, body: &mut Value) -> Result<()> {
    let kind = str_at(body, "/kind");
    let api_version = str_at(body, "/apiVersion");
    if !kind.is_empty() && kind != res.kind {
        return Err(ApiError::BadRequest(format!(
            "the object provided is of kind {kind:?}, but this endpoint serves {:?}",
            res.kind
        )));
    }
    if !api_version.is_empty() && api_version != res.api_version() {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    Ok(())
}

/// A PUT's body must name the object of its URL.
fn check_identity(res: &ResourceInfo, namespace: &str, name: &str, body: &Value) -> Result<()> {
    let body_name = str_at(body, "/metadata/name");
    if body_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = str_at(body, "/metadata/namespace");
    if res.namespaced && !body_ns.is_empty() && body_ns != namespace {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        ));
    }
    Ok(())
}

/// Pods being deleted gracefully stay until the kubelet confirms with grace 0; other
/// kinds go as soon as their finalizers are gone.
fn deletion_complete(res: &ResourceInfo, object: &Value) -> bool {
    if res.group.is_empty() && res.plural == "pods" {
        return object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) == 0
            || str_at(object, "/spec/nodeName").is_empty();
    }
    if res.group.is_empty() && res.plural == "namespaces" {
        // A namespace also waits for `spec.finalizers` (emptied by the namespace controller).
        return object.pointer("/spec/finalizers").and_then(Value::as_array).is_none_or(|f| f.is_empty());
    }
    true
}

// ---- helpers ----------------------------------------------------------------------------

/// The string at a JSON pointer, or "".
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Decode a stored value and stamp it with its revision.
pub fn decode_stored(kv: &KeyValue) -> Result<Value> {
    let mut value: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object {} is not valid JSON: {e}", kv.key)))?;
    set_resource_version(&mut value, kv.mod_revision);
    Ok(value)
}

/// The bytes stored for an object: its JSON without resourceVersion.
pub fn encode_stored(object: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(&strip_rv(object)).map_err(|e| ApiError::Internal(e.to_string()))
}

fn strip_rv(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

pub fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

/// Five characters from upstream's alphabet for generated names (no vowels, no look-alikes).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

/// Parse a resourceVersion sent by a client.
pub fn parse_resource_version(rv: &str) -> Result<i64> {
    rv.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version: {rv:?}")))
}

/// How long a consistent read waits for the watch cache to catch up before reading etcd.
pub const CACHE_CATCH_UP: Duration = Duration::from_secs(3);
