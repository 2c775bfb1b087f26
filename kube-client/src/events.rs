//! The event recorder — client-go's `record.EventRecorder`: what a component did, written as
//! core/v1 `Event`s so that `kubectl describe` and `kubectl get events` show it.
//!
//! ```text
//!   Normal   Scheduled   pod/web-x2   Successfully assigned default/web-x2 to node-1
//!   Warning  FailedScheduling ...     0/3 nodes are available: ...
//! ```
//!
//! - An event names the object it is about (`involvedObject`), a CamelCase `reason`, a
//!   human `message`, a `type` (`Normal` or `Warning`) and who reported it
//!   (`source.component`, `reportingComponent`).
//! - It lives in its object's namespace (`default` for cluster-scoped objects such as
//!   Nodes) and is named `<object name>.<timestamp in hex nanoseconds>`, as upstream.
//! - **Repeats are counted, not duplicated**: the same object, reason, message and type
//!   again becomes a PATCH of `count` and `lastTimestamp` on the first event — a pod that
//!   fails to schedule every few seconds for an hour makes one event with a count of 1000,
//!   not 1000 events. (If that event is gone — events expire after an hour — a new one is
//!   created.)
//! - Recording never fails the caller's loop: [`Recorder::record`] logs a failed write and
//!   goes on; [`Recorder::publish`] answers the error for those who care (tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube_api::core::{Event, EventSource, ObjectReference};
use kube_api::meta::Time;
use kube_api::Object;
use serde_json::json;
use tracing::{debug, warn};

use crate::api::Api;
use crate::client::Client;
use crate::error::Result;
use crate::params::PatchType;

/// How many distinct events the recorder remembers for de-duplication (client-go: 4096).
const MAX_REMEMBERED: usize = 4096;

/// `Normal` or `Warning`, the two types `kubectl get events` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What makes two events "the same" for de-duplication.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Fingerprint {
    object: (String, String, String, String),
    type_: EventType,
    reason: String,
    message: String,
}

/// Fingerprint → (namespace, name, count) of the event it was written as.
type Seen = HashMap<Fingerprint, (String, String, i32)>;

/// Writes events for one component. Clone it freely.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    host: String,
    /// The event each fingerprint was written as, and its count so far.
    seen: Arc<Mutex<Seen>>,
}

/// The `involvedObject` of an event about `obj`.
pub fn reference<K: Object>(obj: &K) -> ObjectReference {
    let m = obj.metadata();
    ObjectReference {
        kind: K::KIND.to_string(),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        api_version: K::api_version(),
        resource_version: m.resource_version.clone(),
        field_path: String::new(),
    }
}

impl Recorder {
    /// A recorder for `component` (`default-scheduler`, `replicaset-controller`, `kubelet`)
    /// on `host` (the node name for a kubelet; may be empty).
    pub fn new(client: Client, component: &str, host: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
            host: host.to_string(),
            seen: Arc::default(),
        }
    }

    /// Records an event about `obj` in the background; a failure is logged, never returned.
    pub fn record<K: Object>(&self, obj: &K, type_: EventType, reason: &str, message: &str) {
        let (me, reference) = (self.clone(), reference(obj));
        let (reason, message) = (reason.to_string(), message.to_string());
        tokio::spawn(async move {
            if let Err(e) = me.publish(reference, type_, &reason, &message).await {
                warn!("Server rejected event (will not retry!): {reason} {message}: {e}");
            }
        });
    }

    /// Writes the event (or counts a repeat) and answers the stored Event.
    pub async fn publish(
        &self,
        object: ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Event> {
        let namespace = if object.namespace.is_empty() {
            "default".to_string()
        } else {
            object.namespace.clone()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let fingerprint = Fingerprint {
            object: (object.kind.clone(), object.namespace.clone(), object.name.clone(), object.uid.clone()),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
        };
        let now = Time::now();
        let previous = self.seen_lock().get(&fingerprint).cloned();
        if let Some((ns, name, count)) = previous {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            let patched = Api::<Event>::namespaced(self.client.clone(), &ns)
                .patch(&name, &PatchType::Merge, &patch)
                .await;
            match patched {
                Ok(event) => {
                    debug!("event {ns}/{name} repeated: count {}", count + 1);
                    self.seen_lock().insert(fingerprint, (ns, name, count + 1));
                    return Ok(event);
                }
                Err(e) if e.is_not_found() => {} // expired: write a new one below
                Err(e) => return Err(e),
            }
        }
        let nanos = now.0.timestamp_nanos_opt().unwrap_or_default();
        let mut event = Event {
            involved_object: object.clone(),
            reason: reason.to_string(),
            message: message.to_string(),
            source: EventSource {
                component: self.component.clone(),
                host: self.host.clone(),
            },
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: Some(1),
            type_: type_.as_str().to_string(),
            reporting_component: self.component.clone(),
            reporting_instance: self.host.clone(),
            ..Default::default()
        };
        event.metadata.name = format!("{}.{:x}", object.name, nanos);
        event.metadata.namespace = namespace.clone();
        let created = api.create(&event).await?;
        let mut seen = self.seen_lock();
        if seen.len() >= MAX_REMEMBERED {
            seen.clear(); // forgetting only costs a new event instead of a count
        }
        seen.insert(fingerprint, (namespace, created.metadata.name.clone(), 1));
        Ok(created)
    }

    fn seen_lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}
