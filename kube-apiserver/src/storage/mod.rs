//! Storage: where the apiserver keeps objects, and how it learns about changes.
//!
//! - [`Backend`] is a small key-value interface with optimistic concurrency, shaped after
//!   etcd v3: every write gets a new cluster-wide *revision*; an object's resourceVersion is
//!   the revision of its last write (`mod_revision`); updates and deletes compare it.
//! - [`etcd::EtcdBackend`] is the real one; [`memory::MemoryBackend`] stands in for it in
//!   unit tests only.
//! - [`watch_cache::WatchCache`] keeps, per resource, the current objects and a window of
//!   recent events, fed by *one* backend watch, and serves every client watch and every
//!   `resourceVersion=0` list from memory.
//!
//! Values are the JSON of the object as accepted (without `metadata.resourceVersion`, which
//! is the key's revision and is filled in on the way out), so `etcdctl get --prefix /registry`
//! stays readable.

pub mod etcd;
pub mod memory;
pub mod watch_cache;

#[cfg(test)]
mod conformance_tests;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// One stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of the last write of this key: the object's resourceVersion.
    pub mod_revision: i64,
    /// The revision that created the key.
    pub create_revision: i64,
}

/// A page of a range read.
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The store revision the list was read at (the list's resourceVersion).
    pub revision: i64,
    /// Keys remain after the last item (only when a limit was given).
    pub more: bool,
    /// How many keys remain after this page, when `more`.
    pub remaining: i64,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    /// Not a change: every change under the watched prefix up to `revision` has been
    /// delivered (etcd's progress notification; upstream turns these into bookmarks).
    /// `key` and `value` are empty. Lets a watcher know the store moved on even when
    /// nothing under its prefix changed.
    Progress,
}

/// One change, as seen by a backend watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageEvent {
    pub type_: EventType,
    pub key: String,
    /// The new value; for `Deleted`, the last value before deletion.
    pub value: Vec<u8>,
    /// The value before this change (`Modified` and `Deleted`), when known.
    pub prev_value: Option<Vec<u8>>,
    /// The revision of this change.
    pub revision: i64,
}

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    /// The key does not exist.
    #[error("key not found: {0}")]
    NotFound(String),
    /// `create` of a key that exists.
    #[error("key exists: {0}")]
    AlreadyExists(String),
    /// The key's revision is not the expected one: someone wrote it in between.
    #[error("conflict on {key}: expected revision {expected}, found {actual}")]
    Conflict { key: String, expected: i64, actual: i64 },
    /// The requested revision was compacted away; the oldest still available is given.
    #[error("revision {requested} has been compacted (oldest available: {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    /// The backend cannot be reached or failed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A key-value store with revisions and watches (etcd v3's model).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The current value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys under `prefix`, in key order, starting strictly after `start_after` when given,
    /// at most `limit` items (0 = all), read at `revision` (0 = latest; an old revision may
    /// be `Compacted`).
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: i64, revision: i64) -> Result<ListResult>;

    /// Create `key`; fails with `AlreadyExists`. Returns the new revision.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64>;

    /// Replace `key` if its mod revision is still `expected_revision`; `Conflict` otherwise,
    /// `NotFound` if the key is gone. Returns the new revision.
    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64>;

    /// Delete `key` if its mod revision is still `expected_revision`. Returns the revision
    /// of the deletion.
    async fn delete(&self, key: &str, expected_revision: i64) -> Result<i64>;

    /// Changes under `prefix` with a revision strictly greater than `after_revision`, in
    /// order, interleaved with `Progress` notifications. The stream ends with an error if
    /// the backend watch breaks; a revision that was compacted answers `Compacted`.
    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<BoxStream<'static, Result<StorageEvent>>>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<i64>;

    /// Forget history up to `revision` (etcd compaction), as upstream's apiserver does every 5 minutes.
    async fn compact(&self, revision: i64) -> Result<()>;
}
