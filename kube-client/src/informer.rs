//! The shared informer — client-go's `SharedInformer` and `SharedInformerFactory`.
//!
//! An informer is a [reflector](crate::reflector) plus its [store](crate::store) plus a
//! list of **event handlers**. It **observes** one resource, keeps the cache, and tells
//! every handler about each change (`on add`, `on update`, `on delete`, here one
//! [`Change`]). Handlers should do almost nothing: map the change to the **keys** of the
//! objects whose loop must look again and add those keys to a work queue (see
//! [`crate::handlers`]). The reconcile then reads the cache, never the event.
//!
//! **One informer per resource per process**: the scheduler's pod loop, its preemption
//! logic and its binding cycle all read pods; three reflectors would cost the apiserver
//! three watches and the process three copies of every pod. The [`InformerFactory`] hands
//! out one informer per (kind, namespace, selectors) and every caller shares it.
//!
//! A handler added after the informer started is first told about every object already in
//! the cache (as additions), as client-go does, so late registrations miss nothing. A
//! change racing with the registration may then be delivered twice — harmless for a
//! level-triggered handler that only enqueues keys.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube_api::Object;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::client::Client;
use crate::reflector::{Reflector, Selectors};
use crate::store::{Change, HasSynced, IndexFn, Store, Writer};

/// One change handler: typically "enqueue these keys".
pub type Handler<K> = Arc<dyn Fn(&Change<K>) + Send + Sync>;

/// A running reflector, its cache and its handlers. Clone it freely.
pub struct Informer<K> {
    store: Store<K>,
    handlers: Arc<Mutex<Vec<Handler<K>>>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer {
            store: self.store.clone(),
            handlers: self.handlers.clone(),
        }
    }
}

impl<K: Object> Informer<K> {
    /// Starts a reflector over `api` with these indexes; it stops on `cancel`.
    pub fn start(
        api: Api<K>,
        selectors: Selectors,
        indexes: Vec<(&'static str, IndexFn<K>)>,
        cancel: CancellationToken,
    ) -> Informer<K> {
        Self::start_with(Reflector::new(api, selectors), indexes, cancel)
    }

    /// Starts a reflector configured by the caller (back-off, watch timeout).
    pub fn start_with(
        reflector: Reflector<K>,
        indexes: Vec<(&'static str, IndexFn<K>)>,
        cancel: CancellationToken,
    ) -> Informer<K> {
        let writer = indexes
            .into_iter()
            .fold(Writer::new(), |w, index| w.with_index(index));
        let informer = Informer {
            store: writer.reader(),
            handlers: Arc::default(),
        };
        let handlers = informer.handlers.clone();
        let emit = move |change: Change<K>| {
            // Clone the list, not the handlers, so that a handler may register another.
            let hs: Vec<Handler<K>> = handlers.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for h in hs {
                h(&change);
            }
        };
        tokio::spawn(reflector.run(writer, emit, cancel));
        informer
    }

    /// The cache (client-go: `informer.Lister()`).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// client-go: `informer.HasSynced`.
    pub fn synced(&self) -> HasSynced {
        self.store.synced()
    }

    /// Registers `handler` (client-go: `AddEventHandler`). It first sees every cached
    /// object as an addition.
    pub fn add_handler(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) {
        let handler: Handler<K> = Arc::new(handler);
        let mut hs = self.handlers.lock().unwrap_or_else(|e| e.into_inner());
        for obj in self.store.list() {
            handler(&Change::Added(obj));
        }
        hs.push(handler);
    }
}

/// Hands out one shared informer per (kind, namespace, selectors) — client-go's
/// `SharedInformerFactory`. Every informer stops with the factory's token.
#[derive(Clone)]
pub struct InformerFactory {
    client: Client,
    cancel: CancellationToken,
    informers: Arc<Mutex<HashMap<FactoryKey, Box<dyn Any + Send + Sync>>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct FactoryKey {
    kind: TypeId,
    namespace: String,
    selectors: Selectors,
}

impl InformerFactory {
    pub fn new(client: Client, cancel: CancellationToken) -> InformerFactory {
        InformerFactory {
            client,
            cancel,
            informers: Arc::default(),
        }
    }

    /// The informer of every `K` in the cluster.
    pub fn informer<K: Object>(&self) -> Informer<K> {
        self.informer_with(Api::all(self.client.clone()), Selectors::default(), Vec::new())
    }

    /// The informer of `api`'s namespace and `selectors`. `indexes` are used only by the
    /// call that creates it: declare every index a process needs the first time.
    pub fn informer_with<K: Object>(
        &self,
        api: Api<K>,
        selectors: Selectors,
        indexes: Vec<(&'static str, IndexFn<K>)>,
    ) -> Informer<K> {
        let key = FactoryKey {
            kind: TypeId::of::<K>(),
            namespace: api.namespace().to_string(),
            selectors: selectors.clone(),
        };
        let mut informers = self.informers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = informers.get(&key).and_then(|b| b.downcast_ref::<Informer<K>>()) {
            return existing.clone();
        }
        let informer = Informer::start(api, selectors, indexes, self.cancel.child_token());
        informers.insert(key, Box::new(informer.clone()));
        informer
    }
}
