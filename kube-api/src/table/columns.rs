//! The column definitions of each kind's Table, copied from upstream's `AddHandlers`
//! (`pkg/printers/internalversion/printers.go`, Kubernetes v1.33): names, types, formats and
//! priorities exactly; priority 1 columns appear only with `kubectl get -o wide`.
//!
//! Upstream fills most descriptions from the API's field documentation (`SwaggerDoc()`); we
//! carry the first sentence of those. kubectl does not print descriptions.

use crate::meta::TableColumnDefinition;

/// Upstream's description of `metadata.name` (the `Name` column of every kind).
pub(crate) const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// Upstream's description of `metadata.creationTimestamp` (the `Age` column).
pub(crate) const CREATION_TIMESTAMP_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";

/// One column: `(name, type, format, priority, description)`.
type Col = (&'static str, &'static str, &'static str, i32, &'static str);

const NAME: Col = ("Name", "string", "name", 0, NAME_DOC);
const AGE: Col = ("Age", "string", "", 0, CREATION_TIMESTAMP_DOC);
const CONTAINERS: Col = ("Containers", "string", "", 1, CONTAINERS_DOC);
const IMAGES: Col = ("Images", "string", "", 1, IMAGES_DOC);

const POD: &[Col] = &[
    NAME,
    ("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    ("IP", "string", "", 1, "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    ("Node", "string", "", 1, "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName."),
    ("Nominated Node", "string", "", 1, "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    ("Readiness Gates", "string", "", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
];

const NODE: &[Col] = &[
    NAME,
    ("Status", "string", "", 0, "The status of the node"),
    ("Roles", "string", "", 0, "The roles of the node"),
    AGE,
    ("Version", "string", "", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", "", 1, "List of addresses reachable to the node."),
    ("External-IP", "string", "", 1, "List of addresses reachable to the node."),
    (
        "OS-Image",
        "string",
        "",
        1,
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    (
        "Kernel-Version",
        "string",
        "",
        1,
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    (
        "Container-Runtime",
        "string",
        "",
        1,
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

const SERVICE: &[Col] = &[
    NAME,
    ("Type", "string", "", 0, "type determines how the Service is exposed. Defaults to ClusterIP."),
    ("Cluster-IP", "string", "", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
    ("External-IP", "string", "", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    ("Port(s)", "string", "", 0, "The list of ports that are exposed by this service."),
    AGE,
    ("Selector", "string", "", 1, "Route service traffic to pods with label keys and values matching this selector."),
];

const ENDPOINTS: &[Col] =
    &[NAME, ("Endpoints", "string", "", 0, "The set of all endpoints is the union of all subsets."), AGE];

const NAMESPACE: &[Col] = &[NAME, ("Status", "string", "", 0, "The status of the namespace"), AGE];

const CONFIG_MAP: &[Col] = &[
    NAME,
    (
        "Data",
        "string",
        "",
        0,
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

const SECRET: &[Col] = &[
    NAME,
    ("Type", "string", "", 0, "Used to facilitate programmatic handling of secret data."),
    (
        "Data",
        "string",
        "",
        0,
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

const EVENT: &[Col] = &[
    ("Last Seen", "string", "", 0, "The time at which the most recent occurrence of this event was recorded."),
    ("Type", "string", "", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    ("Reason", "string", "", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    ("Object", "string", "", 0, "The object that this event is about."),
    ("Subobject", "string", "", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    ("Source", "string", "", 1, "The component reporting this event. Should be a short machine understandable string."),
    ("Message", "string", "", 0, "A human-readable description of the status of this operation."),
    ("First Seen", "string", "", 1, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    ("Count", "string", "", 1, "The number of times this event has occurred."),
    ("Name", "string", "name", 1, NAME_DOC),
];

/// ReplicationController and ReplicaSet share their columns.
const REPLICA_SET: &[Col] = &[
    NAME,
    ("Desired", "integer", "", 0, "Replicas is the number of desired replicas."),
    ("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
    ("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "Selector is a label query over pods that should match the replica count."),
];

const SERVICE_ACCOUNT: &[Col] = &[
    NAME,
    ("Secrets", "string", "", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

const DEPLOYMENT: &[Col] = &[
    NAME,
    ("Ready", "string", "", 0, "Number of the pod with ready state"),
    ("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    ("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
];

const STATEFUL_SET: &[Col] =
    &[NAME, ("Ready", "string", "", 0, "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES];

const DAEMON_SET: &[Col] = &[
    NAME,
    ("Desired", "integer", "", 0, "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    ("Current", "integer", "", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    ("Ready", "integer", "", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    ("Up-to-date", "integer", "", 0, "The total number of nodes that are running updated daemon pod"),
    ("Available", "integer", "", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
    ("Node Selector", "string", "", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "A label query over pods that are managed by the daemon set."),
];

const JOB: &[Col] = &[
    NAME,
    ("Status", "string", "", 0, "Status of the job."),
    ("Completions", "string", "", 0, "The number of pods which reached phase Succeeded."),
    ("Duration", "string", "", 0, "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "A label query over pods that should match the pod count."),
];

const LEASE: &[Col] =
    &[NAME, ("Holder", "string", "", 0, "holderIdentity contains the identity of the holder of a current lease."), AGE];

const ROLE_BINDING: &[Col] = &[
    NAME,
    ("Role", "string", "", 0, "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable."),
    AGE,
    ("Users", "string", "", 1, "Users in the roleBinding"),
    ("Groups", "string", "", 1, "Groups in the roleBinding"),
    ("ServiceAccounts", "string", "", 1, "ServiceAccounts in the roleBinding"),
];

const CLUSTER_ROLE_BINDING: &[Col] = &[
    NAME,
    ("Role", "string", "", 0, "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable."),
    AGE,
    ("Users", "string", "", 1, "Users in the clusterRoleBinding"),
    ("Groups", "string", "", 1, "Groups in the clusterRoleBinding"),
    ("ServiceAccounts", "string", "", 1, "ServiceAccounts in the clusterRoleBinding"),
];

/// The columns of upstream's default table (`k8s.io/apiserver/pkg/registry/rest/table.go`),
/// used for kinds without a printer: the creation time as an RFC 3339 `date`.
const DEFAULT: &[Col] = &[NAME, ("Created At", "date", "", 0, CREATION_TIMESTAMP_DOC)];

/// The column definitions of `kind`'s Table (all of them: wide columns carry priority 1).
pub fn columns(kind: &str) -> Vec<TableColumnDefinition> {
    let cols = match kind {
        "Pod" => POD,
        "Node" => NODE,
        "Service" => SERVICE,
        "Endpoints" => ENDPOINTS,
        "Namespace" => NAMESPACE,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "Event" => EVENT,
        "ReplicationController" | "ReplicaSet" => REPLICA_SET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Deployment" => DEPLOYMENT,
        "StatefulSet" => STATEFUL_SET,
        "DaemonSet" => DAEMON_SET,
        "Job" => JOB,
        "Lease" => LEASE,
        "RoleBinding" => ROLE_BINDING,
        "ClusterRoleBinding" => CLUSTER_ROLE_BINDING,
        _ => DEFAULT,
    };
    cols.iter()
        .map(|&(name, type_, format, priority, description)| TableColumnDefinition {
            name: name.to_string(),
            type_: type_.to_string(),
            format: format.to_string(),
            description: description.to_string(),
            priority,
        })
        .collect()
}
