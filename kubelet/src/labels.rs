//! The labels and annotations the kubelet puts on sandboxes and containers (upstream's
//! `pkg/kubelet/kuberuntime/labels.go`, same keys).
//!
//! They are how the kubelet remembers: the runtime stores them with each sandbox and
//! container, so a kubelet that restarts lists the runtime and knows again which pod each
//! container belongs to, which container of the spec it is, how often it was restarted and
//! how long it may take to stop — without any state file of its own.

/// Set on sandboxes and containers.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Set on containers: the name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Container annotations.
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
pub const CONTAINER_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
pub const POD_TERMINATION_GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";
pub const CONTAINER_PORTS: &str = "io.kubernetes.container.ports";
/// The preStop hook as JSON, so that a pod removed from its source still runs it.
pub const CONTAINER_TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
pub const CONTAINER_PRE_STOP_HANDLER: &str = "io.kubernetes.container.preStopHandler";

/// Pod annotations a static pod gets from its file source.
pub const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";
pub const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";
