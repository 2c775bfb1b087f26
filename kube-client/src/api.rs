//! [`Api<K>`]: typed access to one kind, in one namespace or across all.
//!
//! ```no_run
//! # async fn demo(client: kube_client::Client) -> kube_client::Result<()> {
//! use kube_api::core::Pod;
//! use kube_client::{Api, ListParams};
//! let pods: Api<Pod> = Api::namespaced(client, "default");
//! for pod in pods.list(&ListParams::default().labels("app=web")).await?.items {
//!     println!("{}", pod.metadata.name);
//! }
//! # Ok(()) }
//! ```
//!
//! `K` is any [`kube_api::Object`] of the registry; the path of each call comes from the
//! registry's [`ResourceInfo`](kube_api::ResourceInfo), so a new kind needs no client code.

use std::marker::PhantomData;

use bytes::Bytes;
use futures::stream::BoxStream;
use http::Method;
use kube_api::meta::List;
use kube_api::{Object, ResourceInfo};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::client::{ByteStream, Client};
use crate::error::Result;
use crate::params::{DeleteParams, ListParams, LogParams, PatchType, PostParams, WatchParams};
use crate::verbs::{to_value, Deleted, Scope};
use crate::watch::Event;

/// Typed verbs on the kind `K`.
#[derive(Clone, Debug)]
pub struct Api<K> {
    scope: Scope,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Object> Api<K> {
    /// The objects of `K` in `namespace`. For a cluster-scoped kind the namespace is ignored.
    ///
    /// # Panics
    /// If `K` is not in [`kube_api::registry`]: a programming error, not a runtime condition.
    pub fn namespaced(client: Client, namespace: &str) -> Api<K> {
        Api {
            scope: Scope {
                client,
                resource: Self::resource(),
                namespace: namespace.to_string(),
            },
            _kind: PhantomData,
        }
    }

    /// The objects of `K` in the client's default namespace (the kubeconfig context's).
    pub fn default_namespaced(client: Client) -> Api<K> {
        let ns = client.default_namespace().to_string();
        Self::namespaced(client, &ns)
    }

    /// A cluster-scoped kind, or a namespaced kind across all namespaces. Writes then take
    /// the namespace from the object's `metadata.namespace`; `get`/`delete` by name need
    /// [`Api::namespaced`] for a namespaced kind.
    pub fn all(client: Client) -> Api<K> {
        Self::namespaced(client, "")
    }

    /// The registry entry of `K`: plural, scope, group version.
    pub fn resource() -> &'static ResourceInfo {
        kube_api::registry::by_kind(K::GROUP, K::VERSION, K::KIND).unwrap_or_else(|| {
            panic!(
                "{}/{} {} is not in kube_api::registry",
                K::GROUP,
                K::VERSION,
                K::KIND
            )
        })
    }

    /// The namespace this `Api` acts in (`""`: all, or cluster-scoped).
    pub fn namespace(&self) -> &str {
        &self.scope.namespace
    }

    /// `GET .../{name}`.
    pub async fn get(&self, name: &str) -> Result<K> {
        self.scope.get(name).await
    }

    /// Like [`Api::get`], with `None` for 404 NotFound.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET` of the collection: one page when `lp.limit` is set.
    pub async fn list(&self, lp: &ListParams) -> Result<List<K>> {
        self.scope.list(lp).await
    }

    /// Every page of the collection, following `continue` tokens.
    pub async fn list_all(&self, lp: &ListParams) -> Result<List<K>> {
        self.scope.list_all(lp).await
    }

    /// `POST` to the collection; answers the stored object (with uid, resourceVersion, ...).
    pub async fn create(&self, obj: &K) -> Result<K> {
        self.create_with(obj, &PostParams::default()).await
    }

    pub async fn create_with(&self, obj: &K, pp: &PostParams) -> Result<K> {
        self.scope.create(to_value(obj)?, pp).await
    }

    /// `PUT` of the whole object: an update conditional on its `resourceVersion`.
    /// The apiserver ignores changes to `status` here (see [`Api::replace_status`]).
    pub async fn replace(&self, obj: &K) -> Result<K> {
        self.scope
            .replace(to_value(obj)?, None, &PostParams::default())
            .await
    }

    /// `PUT .../{name}/status`: controllers report what they observed; changes to `spec`
    /// are ignored here.
    pub async fn replace_status(&self, obj: &K) -> Result<K> {
        self.scope
            .replace(to_value(obj)?, Some("status"), &PostParams::default())
            .await
    }

    /// `PATCH .../{name}` with one of the four patch types.
    pub async fn patch(&self, name: &str, pt: &PatchType, patch: &Value) -> Result<K> {
        self.scope
            .patch(name, None, pt, patch, &PostParams::default())
            .await
    }

    /// `PATCH .../{name}/status`.
    pub async fn patch_status(&self, name: &str, pt: &PatchType, patch: &Value) -> Result<K> {
        self.scope
            .patch(name, Some("status"), pt, patch, &PostParams::default())
            .await
    }

    /// `DELETE .../{name}`.
    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<Deleted<K>> {
        self.scope.delete(name, dp).await
    }

    /// `GET ...?watch=true`: the changes after `wp.resource_version`, as they happen.
    pub async fn watch(&self, wp: &WatchParams) -> Result<BoxStream<'static, Result<Event<K>>>> {
        self.scope.watch(wp, None).await
    }

    /// `GET .../{name}/{sub}`, e.g. `scale` as an `autoscaling/v1` Scale.
    pub async fn get_subresource<T: DeserializeOwned>(&self, sub: &str, name: &str) -> Result<T> {
        self.scope.get_subresource(name, sub).await
    }

    /// `POST .../{name}/{sub}`, e.g. a `Binding` to `pods/{name}/binding` or an `Eviction`.
    pub async fn create_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        sub: &str,
        name: &str,
        body: &B,
    ) -> Result<T> {
        self.scope
            .write_subresource(
                Method::POST,
                name,
                sub,
                &to_value(body)?,
                &PostParams::default(),
            )
            .await
    }

    /// `PUT .../{name}/{sub}`, e.g. a new `Scale`.
    pub async fn replace_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        sub: &str,
        name: &str,
        body: &B,
    ) -> Result<T> {
        self.scope
            .write_subresource(
                Method::PUT,
                name,
                sub,
                &to_value(body)?,
                &PostParams::default(),
            )
            .await
    }

    /// `GET .../pods/{name}/log`: the container's output as it comes (for ever with `follow`).
    pub async fn logs(&self, name: &str, lp: &LogParams) -> Result<ByteStream> {
        self.scope.logs(name, lp).await
    }

    /// The whole log at once (without `follow`).
    pub async fn logs_text(&self, name: &str, lp: &LogParams) -> Result<String> {
        use futures::TryStreamExt;
        let chunks: Vec<Bytes> = self.logs(name, lp).await?.try_collect().await?;
        Ok(String::from_utf8_lossy(&chunks.concat()).into_owned())
    }
}
