//! # kube-api: the Kubernetes object model
//!
//! Everything here is pure data and pure functions: no I/O, no async. Every other crate of
//! the workspace stands on it.
//!
//! ## Layout
//! - [`meta`]: the metadata every object carries (`TypeMeta`, `ObjectMeta`, `ListMeta`),
//!   `Status` (the error shape of the API), `WatchEvent` and `Table`.
//! - [`object`]: the [`Object`](object::Object) trait every kind implements, and the typed
//!   pipeline (decode strictly → default → validate) the apiserver runs on each write.
//! - [`registry`]: the one table of kinds (group, version, kind, plural, short names,
//!   namespaced, categories, subresources) that routing, discovery, storage keys and
//!   kubectl-lite all read.
//! - [`core`], [`apps`], [`batch`], [`coordination`], [`autoscaling`], [`rbac`],
//!   [`authorization`], [`authentication`]: the kinds, one module
//!   per API group, with their defaulting and validation beside them.
//! - [`labels`], [`fields`]: label and field selectors.
//! - [`quantity`]: resource quantities (`100m`, `128Mi`) with exact arithmetic.
//! - [`validation`]: name rules (DNS-1123) and the `FieldError` type.
//! - [`patch`]: JSON patch, JSON merge patch and strategic merge patch.
//! - [`table`]: the columns `kubectl get` prints for each kind.
//!
//! ## Fields we do not type
//! Every struct names *all* of upstream's fields. The fields the project uses are typed;
//! the others are carried as `serde_json::Value`. So a manifest round-trips through the
//! apiserver unchanged, and an unknown field (a typo) is still detected, as upstream's
//! `fieldValidation=Strict` requires.

pub mod apply;
pub mod apps;
pub mod authentication;
pub mod authorization;
pub mod autoscaling;
pub mod batch;
pub mod coordination;
pub mod core;
pub mod duration;
pub mod fields;
pub mod labels;
pub mod meta;
pub mod object;
pub mod patch;
pub mod quantity;
pub mod rbac;
pub mod registry;
pub mod table;
pub mod validation;

/// The upstream release whose API and behaviour the project follows: what `/version`,
/// User-Agents and `nodeInfo.kubeletVersion` report.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

pub use meta::{ListMeta, ObjectMeta, OwnerReference, Status, Table, Time, TypeMeta, WatchEvent};
pub use object::Object;
pub use registry::ResourceInfo;
