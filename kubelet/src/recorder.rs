//! Events the kubelet records about pods (upstream's `pkg/kubelet/events`), written through
//! the control-loop kit's [`Recorder`](kube_client::Recorder) with source component
//! `kubelet` and host = the node, so that `kubectl describe pod` shows them:
//!
//! ```text
//!   Normal   Pulling  kubelet  Pulling image "busybox"
//!   Normal   Pulled   kubelet  Successfully pulled image "busybox" in 1.2s
//!   Normal   Created  kubelet  Created container nginx
//!   Normal   Started  kubelet  Started container nginx
//!   Normal   Killing  kubelet  Stopping container nginx
//!   Warning  Failed   kubelet  Failed to pull image "nope": ...
//!   Warning  BackOff  kubelet  Back-off restarting failed container nginx in pod ...
//! ```
//!
//! Standalone (no apiserver) these are only log lines: [`Context::event`] does nothing.

use kube_api::core::{ObjectReference, Pod};
use kube_client::EventType;

use crate::sync_pod::Context;

/// upstream's reasons, as constants so the code and `kubectl describe` read alike.
pub const PULLING: &str = "Pulling";
pub const PULLED: &str = "Pulled";
pub const CREATED: &str = "Created";
pub const STARTED: &str = "Started";
pub const KILLING: &str = "Killing";
pub const FAILED: &str = "Failed";
pub const BACK_OFF: &str = "BackOff";

impl Context {
    /// Records an event about `pod` (in the background; never fails the caller).
    pub fn event(&self, pod: &Pod, type_: EventType, reason: &str, message: &str) {
        self.event_about(&pod.metadata.namespace, &pod.metadata.name, &pod.metadata.uid, type_, reason, message);
    }

    /// The same for a pod known only by what the runtime remembers of it (a kill).
    pub fn event_about(&self, namespace: &str, name: &str, uid: &str, type_: EventType, reason: &str, message: &str) {
        let Some(api) = &self.api else { return };
        let object = ObjectReference {
            kind: "Pod".into(),
            api_version: "v1".into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            ..Default::default()
        };
        let (recorder, reason, message) = (api.recorder.clone(), reason.to_string(), message.to_string());
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(object, type_, &reason, &message).await {
                tracing::debug!("event {reason} not recorded: {e}");
            }
        });
    }
}
