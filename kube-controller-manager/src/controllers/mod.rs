//! One file per controller, each the same loop (see the crate's top comment).
//!
//! | controller | file | observes | writes |
//! |---|---|---|---|
//! | `replicaset`, `replicationcontroller` | [`replicaset`] | ReplicaSets / RCs, Pods | Pods, RS/RC status, events |
//! | `deployment` | [`deployment`] (+ `rolling`, `recreate`, `progress`, `util`) | Deployments, ReplicaSets, Pods | ReplicaSets, Deployment status |
//! | `garbagecollector` | [`garbage_collector`] | every kind with ownerReferences | deletes dependents, ownerReferences, finalizers |
//! | `namespace` | [`namespace`] | Namespaces | deletes a terminating namespace's contents, then its finalizer |
//! | `endpoint` | [`endpoints`] | Services, Pods | Endpoints |
//! | `nodelifecycle` | [`node_lifecycle`] | Nodes, Leases, Pods | Node conditions and taints, pod evictions |
//! | `nodeipam` | [`node_ipam`] | Nodes | `spec.podCIDR` |
//! | `job` | [`job`] | Jobs, Pods | Pods, Job status |
//! | `statefulset` | [`statefulset`] | StatefulSets, Pods | Pods `<name>-<ordinal>`, StatefulSet status |
//! | `daemonset` | [`daemonset`] | DaemonSets, Nodes, Pods | Pods (one per node), DaemonSet status |
//! | `serviceaccount` | [`serviceaccount`] | Namespaces, ServiceAccounts | ServiceAccount `default` in every namespace |
//! | `root-ca-cert-publisher` | [`root_ca_publisher`] | Namespaces, ConfigMaps | ConfigMap `kube-root-ca.crt` in every namespace |
//!
//! Shared by the workload controllers: [`pod_control`].

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod garbage_collector;
pub mod job;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pod_control;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod serviceaccount;
pub mod statefulset;
