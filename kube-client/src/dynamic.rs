//! [`DynamicApi`]: the same verbs as [`Api<K>`](crate::Api), on `serde_json::Value`, for a
//! resource chosen at run time — what kubectl-lite needs for `kubectl get <anything>` and
//! `kubectl apply -f` of any manifest. It never drops a field it does not know.
//!
//! It also asks for server-side `Table`s, the way `kubectl get` prints upstream's columns.

use bytes::Bytes;
use futures::stream::BoxStream;
use http::Method;
use kube_api::meta::List;
use kube_api::ResourceInfo;
use serde_json::Value;

use crate::client::{ByteStream, Client, JSON};
use crate::error::{Error, Result};
use crate::params::{DeleteParams, ListParams, LogParams, PatchType, PostParams, WatchParams};
use crate::verbs::{Deleted, Scope};
use crate::watch::Event;

/// The `Accept` header `kubectl get` sends: a `meta.k8s.io/v1` Table if the server can,
/// else v1beta1, else the plain list.
pub const TABLE_ACCEPT: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Untyped verbs on one resource.
#[derive(Clone, Debug)]
pub struct DynamicApi {
    scope: Scope,
}

impl DynamicApi {
    /// `resource` in `namespace` (`""`: across all namespaces, or a cluster-scoped resource).
    pub fn new(client: Client, resource: &'static ResourceInfo, namespace: &str) -> DynamicApi {
        DynamicApi {
            scope: Scope {
                client,
                resource,
                namespace: namespace.to_string(),
            },
        }
    }

    pub fn resource(&self) -> &'static ResourceInfo {
        self.scope.resource
    }

    pub fn namespace(&self) -> &str {
        &self.scope.namespace
    }

    pub async fn get(&self, name: &str) -> Result<Value> {
        self.scope.get(name).await
    }

    pub async fn list(&self, lp: &ListParams) -> Result<List<Value>> {
        self.scope.list(lp).await
    }

    pub async fn list_all(&self, lp: &ListParams) -> Result<List<Value>> {
        self.scope.list_all(lp).await
    }

    /// `POST`; kubectl create sends `fieldManager=kubectl-create&fieldValidation=Strict`.
    pub async fn create(&self, obj: &Value, pp: &PostParams) -> Result<Value> {
        self.scope.create(obj.clone(), pp).await
    }

    pub async fn replace(&self, obj: &Value, pp: &PostParams) -> Result<Value> {
        self.scope.replace(obj.clone(), None, pp).await
    }

    pub async fn replace_status(&self, obj: &Value, pp: &PostParams) -> Result<Value> {
        self.scope.replace(obj.clone(), Some("status"), pp).await
    }

    pub async fn patch(
        &self,
        name: &str,
        pt: &PatchType,
        patch: &Value,
        pp: &PostParams,
    ) -> Result<Value> {
        self.scope.patch(name, None, pt, patch, pp).await
    }

    pub async fn patch_status(
        &self,
        name: &str,
        pt: &PatchType,
        patch: &Value,
        pp: &PostParams,
    ) -> Result<Value> {
        self.scope.patch(name, Some("status"), pt, patch, pp).await
    }

    /// `PATCH .../{name}/{sub}` (e.g. `scale`).
    pub async fn patch_subresource(
        &self,
        sub: &str,
        name: &str,
        pt: &PatchType,
        patch: &Value,
        pp: &PostParams,
    ) -> Result<Value> {
        self.scope.patch(name, Some(sub), pt, patch, pp).await
    }

    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<Deleted<Value>> {
        self.scope.delete(name, dp).await
    }

    pub async fn watch(
        &self,
        wp: &WatchParams,
    ) -> Result<BoxStream<'static, Result<Event<Value>>>> {
        self.scope.watch(wp, None).await
    }

    pub async fn get_subresource(&self, sub: &str, name: &str) -> Result<Value> {
        self.scope.get_subresource(name, sub).await
    }

    pub async fn create_subresource(&self, sub: &str, name: &str, body: &Value) -> Result<Value> {
        self.scope
            .write_subresource(Method::POST, name, sub, body, &PostParams::default())
            .await
    }

    pub async fn replace_subresource(&self, sub: &str, name: &str, body: &Value) -> Result<Value> {
        self.scope
            .write_subresource(Method::PUT, name, sub, body, &PostParams::default())
            .await
    }

    pub async fn logs(&self, name: &str, lp: &LogParams) -> Result<ByteStream> {
        self.scope.logs(name, lp).await
    }

    /// The collection as a server-side `Table` (raw JSON: `columnDefinitions`, `rows`), as
    /// `kubectl get` asks for it. A server without tables answers the plain list instead;
    /// look at `kind` to tell.
    pub async fn list_table(&self, lp: &ListParams) -> Result<Value> {
        let path = format!(
            "{}{}",
            self.scope.resource.collection_path(&self.scope.namespace),
            lp.query()
        );
        self.table(&path).await
    }

    /// One object as a one-row `Table` (`kubectl get pod web`).
    pub async fn get_table(&self, name: &str) -> Result<Value> {
        if self.scope.resource.namespaced && self.scope.namespace.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "{} is namespaced: a namespace is needed",
                self.scope.resource.plural
            )));
        }
        let path = self.scope.resource.object_path(&self.scope.namespace, name);
        self.table(&path).await
    }

    /// `kubectl get -w`: a watch whose every object is a one-row `Table`.
    pub async fn watch_table(
        &self,
        wp: &WatchParams,
    ) -> Result<BoxStream<'static, Result<Event<Value>>>> {
        self.scope.watch(wp, Some(TABLE_ACCEPT)).await
    }

    async fn table(&self, path: &str) -> Result<Value> {
        let (_, _, body): (_, _, Bytes) = self
            .scope
            .client
            .request(Method::GET, path, None, None, Some(TABLE_ACCEPT))
            .await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            what: format!("the table from {path}"),
            source,
        })
    }

    /// Any request by path, for what has no verb here (discovery, `/version`, `/openapi/v3`).
    pub async fn raw_get(client: &Client, path: &str) -> Result<Value> {
        let (_, _, body) = client
            .request(Method::GET, path, None, None, Some(JSON))
            .await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            what: format!("the answer to {path}"),
            source,
        })
    }
}
