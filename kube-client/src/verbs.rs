//! The verbs of the API — get, list, create, replace, patch, delete, watch, subresources —
//! written once, generically over the body type.
//!
//! [`Api<K>`](crate::Api) (typed) and [`DynamicApi`](crate::DynamicApi) (`serde_json::Value`)
//! are thin faces over [`Scope`]: a client, a resource from the registry and a namespace.
//! This file is where a reader sees exactly which method, path, query and content type each
//! verb sends.

use http::Method;
use kube_api::meta::{List, Status};
use kube_api::ResourceInfo;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{ByteStream, Client, JSON};
use crate::error::{Error, Result};
use crate::params::{DeleteParams, ListParams, LogParams, PatchType, PostParams, WatchParams};
use crate::watch::{self, Event};

/// What a `DELETE` answers: the object itself when deletion is not immediate (a pod's grace
/// period, finalizers: it now has a `deletionTimestamp`), or a `Status` when it is gone.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // `T` (a Pod, ...) is as large as a Status: no gain in boxing.
pub enum Deleted<T> {
    /// Deletion has started; the object will disappear later.
    Pending(T),
    /// The object is gone.
    Gone(Status),
}

/// A resource in a namespace (`""`: all namespaces, or a cluster-scoped resource).
#[derive(Clone)]
pub(crate) struct Scope {
    pub client: Client,
    pub resource: &'static ResourceInfo,
    pub namespace: String,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("resource", &self.resource.qualified_plural())
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Scope {
    fn collection_path(&self, namespace: &str) -> String {
        self.resource.collection_path(namespace)
    }

    /// The path of one object (plus `/sub`). A namespaced resource needs a namespace: the
    /// scope's, else the one the object names.
    fn object_path(
        &self,
        obj_namespace: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Result<String> {
        if name.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "a {} needs a name",
                self.resource.kind
            )));
        }
        let ns = self.namespace_for(obj_namespace)?;
        let mut path = self.resource.object_path(&ns, name);
        if let Some(sub) = sub {
            path.push('/');
            path.push_str(sub);
        }
        Ok(path)
    }

    fn namespace_for(&self, obj_namespace: Option<&str>) -> Result<String> {
        if !self.resource.namespaced {
            return Ok(String::new());
        }
        let ns = if self.namespace.is_empty() {
            obj_namespace.unwrap_or("")
        } else {
            &self.namespace
        };
        if ns.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "{} is namespaced: use Api::namespaced or set metadata.namespace",
                self.resource.plural
            )));
        }
        Ok(ns.to_string())
    }

    pub async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.object_path(None, name, None)?;
        self.client
            .request_json(Method::GET, &path, None, None)
            .await
    }

    pub async fn list<T: DeserializeOwned>(&self, lp: &ListParams) -> Result<List<T>> {
        let path = format!("{}{}", self.collection_path(&self.namespace), lp.query());
        self.client
            .request_json(Method::GET, &path, None, None)
            .await
    }

    /// Every page of a list, following `metadata.continue`. All pages are one snapshot
    /// (the apiserver keeps the first page's version), so the result is consistent.
    pub async fn list_all<T: DeserializeOwned>(&self, lp: &ListParams) -> Result<List<T>> {
        let mut lp = lp.clone();
        let mut all: List<T> = self.list(&lp).await?;
        while !all.metadata.continue_.is_empty() {
            lp.continue_token = Some(std::mem::take(&mut all.metadata.continue_));
            let page: List<T> = self.list(&lp).await?;
            all.items.extend(page.items);
            all.metadata = page.metadata;
        }
        Ok(all)
    }

    pub async fn create<T: DeserializeOwned>(&self, mut body: Value, pp: &PostParams) -> Result<T> {
        self.fill_type(&mut body);
        let ns = self.namespace_for(meta_str(&body, "namespace"))?;
        let path = format!("{}{}", self.collection_path(&ns), pp.query());
        self.client
            .request_json(Method::POST, &path, Some(to_bytes(&body)?), Some(JSON))
            .await
    }

    /// `PUT` of a whole object (or of its `sub`resource, e.g. `status`). The object's
    /// `metadata.resourceVersion` makes it conditional: a stale one gets 409 Conflict.
    pub async fn replace<T: DeserializeOwned>(
        &self,
        mut body: Value,
        sub: Option<&str>,
        pp: &PostParams,
    ) -> Result<T> {
        self.fill_type(&mut body);
        let name = meta_str(&body, "name").unwrap_or("").to_string();
        let path = self.object_path(meta_str(&body, "namespace"), &name, sub)?;
        let path = format!("{path}{}", pp.query());
        self.client
            .request_json(Method::PUT, &path, Some(to_bytes(&body)?), Some(JSON))
            .await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        name: &str,
        sub: Option<&str>,
        pt: &PatchType,
        patch: &Value,
        pp: &PostParams,
    ) -> Result<T> {
        let path = format!("{}{}", self.object_path(None, name, sub)?, pt.query(pp));
        self.client
            .request_json(
                Method::PATCH,
                &path,
                Some(to_bytes(patch)?),
                Some(pt.content_type()),
            )
            .await
    }

    pub async fn delete<T: DeserializeOwned>(
        &self,
        name: &str,
        dp: &DeleteParams,
    ) -> Result<Deleted<T>> {
        let path = self.object_path(None, name, None)?;
        let body = dp.body().map(|b| to_bytes(&b)).transpose()?;
        let content_type = body.as_ref().map(|_| JSON);
        let answer: Value = self
            .client
            .request_json(Method::DELETE, &path, body, content_type)
            .await?;
        let decode = |source| Error::Decode {
            what: format!("the answer to DELETE {path}"),
            source,
        };
        if answer["kind"] == "Status" {
            Ok(Deleted::Gone(
                serde_json::from_value(answer).map_err(decode)?,
            ))
        } else {
            Ok(Deleted::Pending(
                serde_json::from_value(answer).map_err(decode)?,
            ))
        }
    }

    /// Opens a watch. Errors before the stream starts (refused, 404, ...) are returned here;
    /// errors during it are items of the stream.
    pub async fn watch<T: DeserializeOwned + Send + 'static>(
        &self,
        wp: &WatchParams,
        accept: Option<&str>,
    ) -> Result<futures::stream::BoxStream<'static, Result<Event<T>>>> {
        let path = format!("{}{}", self.collection_path(&self.namespace), wp.query());
        let (_, _, body) = self
            .client
            .request_stream(Method::GET, &path, accept)
            .await?;
        Ok(watch::events::<T>(body))
    }

    pub async fn get_subresource<T: DeserializeOwned>(&self, name: &str, sub: &str) -> Result<T> {
        let path = self.object_path(None, name, Some(sub))?;
        self.client
            .request_json(Method::GET, &path, None, None)
            .await
    }

    pub async fn write_subresource<T: DeserializeOwned>(
        &self,
        method: Method,
        name: &str,
        sub: &str,
        body: &Value,
        pp: &PostParams,
    ) -> Result<T> {
        let path = format!("{}{}", self.object_path(None, name, Some(sub))?, pp.query());
        self.client
            .request_json(method, &path, Some(to_bytes(body)?), Some(JSON))
            .await
    }

    pub async fn logs(&self, name: &str, lp: &LogParams) -> Result<ByteStream> {
        let path = format!(
            "{}{}",
            self.object_path(None, name, Some("log"))?,
            lp.query()
        );
        let (_, _, body) = self
            .client
            .request_stream(Method::GET, &path, Some("*/*"))
            .await?;
        Ok(body)
    }

    /// Typed objects often leave `apiVersion`/`kind` empty; the apiserver wants them.
    fn fill_type(&self, body: &mut Value) {
        if let Some(map) = body.as_object_mut() {
            let missing = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
            if missing(map.get("apiVersion")) {
                map.insert(
                    "apiVersion".into(),
                    Value::String(self.resource.api_version()),
                );
            }
            if missing(map.get("kind")) {
                map.insert("kind".into(), Value::String(self.resource.kind.to_string()));
            }
        }
    }
}

fn meta_str<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn to_bytes<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(Error::Encode)
}

pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(Error::Encode)
}
