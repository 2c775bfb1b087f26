//! The Endpoints controller: a Service's selector becomes a list of pod addresses —
//! upstream's `pkg/controller/endpoint`. kube-proxy reads these to program its chains.
//!
//! - **Observes**: Services; Pods (a change wakes every Service in its namespace whose
//!   selector matches its old or new labels); Endpoints (someone else's edit is undone).
//! - **Key**: `namespace/name` of the Service (its Endpoints object has the same name).
//! - **Desired**: for a Service with a selector, one Endpoints object whose subsets list
//!   each selected pod that has an IP and is not terminating: ready pods in `addresses`,
//!   others in `notReadyAddresses` (all in `addresses` with `publishNotReadyAddresses`),
//!   each with its IP, `nodeName` and `targetRef`; ports are the Service's, each
//!   `targetPort` resolved per pod — by number, or by name through the pod's container
//!   ports; pods sharing the same resolved ports share a subset. Headless services too
//!   (a headless service without ports lists addresses with no ports; pods whose
//!   `subdomain` is the service get their `hostname`).
//! - **Actual**: the Endpoints object in the cache.
//! - **Does**: creates, updates or (when the Service is gone) deletes the Endpoints.
//! - **Status**: none.
//! - **Requeues**: on errors; otherwise on the next change.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube_api::core::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, ObjectReference, Pod, Service};
use kube_client::store::key_of;
use kube_client::{Action, Api, Change, Client, Controller, DeleteParams, Store, WorkQueue};
use tracing::{debug, info};

use super::pod_control::is_pod_ready;
use crate::ControllerContext;

struct Ctx {
    services: Store<Service>,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
    client: Client,
}

/// The `endpoint` entry of the controller table.
pub fn start(cc: &ControllerContext) -> BoxFuture<'static, ()> {
    let services = cc.informer::<Service>();
    let pods = cc.pods();
    let endpoints = cc.informer::<Endpoints>();
    let queue = WorkQueue::new();
    services.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    endpoints.add_handler(kube_client::handlers::enqueue_self(queue.clone()));
    pods.add_handler({
        let (queue, services) = (queue.clone(), services.store());
        move |change: &Change<Pod>| {
            let mut label_sets = vec![&change.object().metadata.labels];
            if let Change::Updated { old, .. } = change {
                label_sets.push(&old.metadata.labels);
            }
            for svc in services.by_index("namespace", &change.object().metadata.namespace) {
                if label_sets.iter().any(|l| selects(&svc, l)) {
                    queue.add(key_of(svc.as_ref()));
                }
            }
        }
    });
    let ctx = Arc::new(Ctx {
        services: services.store(),
        pods: pods.store(),
        endpoints: endpoints.store(),
        client: cc.client.clone(),
    });
    let controller = Controller::new("endpoint", queue)
        .workers(cc.options.concurrent_endpoint_syncs)
        .wait_for(services.synced())
        .wait_for(pods.synced())
        .wait_for(endpoints.synced());
    let cancel = cc.cancel.clone();
    Box::pin(controller.run(move |key| reconcile(ctx.clone(), key), cancel))
}

fn selects(svc: &Service, labels: &BTreeMap<String, String>) -> bool {
    let sel = &svc.spec.selector;
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A `targetPort` resolved for one pod: a number, or the pod's container port of that name
/// (upstream's `podutil.FindPort`). `None` when the pod has no such named port.
pub fn resolve_port(pod: &Pod, target: Option<&IntOrString>, port: i32, protocol: &str) -> Option<i32> {
    match target {
        None => Some(port),
        Some(IntOrString::Int(0)) => Some(port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .find(|p| p.name == *name && (p.protocol.is_empty() && protocol == "TCP" || p.protocol == protocol))
            .map(|p| p.container_port),
    }
}

/// (name, port, protocol) of one service port on one pod.
type ResolvedPort = (String, i32, String);

/// The subsets a Service's selected pods make (the decision, without I/O).
pub fn desired_subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let publish_not_ready = svc.spec.publish_not_ready_addresses.unwrap_or(false);
    // Resolved ports (as a sorted key) → (ready, not ready) addresses.
    let mut groups: BTreeMap<Vec<ResolvedPort>, (Vec<EndpointAddress>, Vec<EndpointAddress>)> = BTreeMap::new();
    for pod in pods {
        if pod.status.pod_ip.is_empty() || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if pod.status.phase == "Succeeded" || pod.status.phase == "Failed" {
            continue;
        }
        let hostname = if !pod.spec.hostname.is_empty() && pod.spec.subdomain == svc.metadata.name && svc.spec.is_headless() {
            pod.spec.hostname.clone()
        } else {
            String::new()
        };
        let address = EndpointAddress {
            ip: pod.status.pod_ip.clone(),
            hostname,
            node_name: (!pod.spec.node_name.is_empty()).then(|| pod.spec.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: "Pod".into(),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            }),
        };
        let mut ports = Vec::new();
        for sp in &svc.spec.ports {
            let protocol = if sp.protocol.is_empty() { "TCP".to_string() } else { sp.protocol.clone() };
            if let Some(p) = resolve_port(pod, sp.target_port.as_ref(), sp.port, &protocol) {
                ports.push((sp.name.clone(), p, protocol));
            }
        }
        if ports.is_empty() && !svc.spec.ports.is_empty() {
            continue; // none of the service's ports exist on this pod
        }
        ports.sort();
        let entry = groups.entry(ports).or_default();
        if publish_not_ready || is_pod_ready(pod) {
            entry.0.push(address);
        } else {
            entry.1.push(address);
        }
    }
    groups
        .into_iter()
        .map(|(ports, (mut ready, mut not_ready))| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: ready,
                not_ready_addresses: not_ready,
                ports: ports
                    .into_iter()
                    .map(|(name, port, protocol)| EndpointPort { name, port, protocol, app_protocol: None })
                    .collect(),
            }
        })
        .collect()
}

async fn reconcile(ctx: Arc<Ctx>, key: String) -> Result<Action, kube_client::Error> {
    let (ns, name) = key.split_once('/').unwrap_or(("", key.as_str()));
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), ns);
    let Some(svc) = ctx.services.get(&key) else {
        if ctx.endpoints.get(&key).is_some() {
            info!("Service {key} is gone: deleting its Endpoints");
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        return Ok(Action::Done);
    };
    if svc.spec.selector.is_empty() {
        return Ok(Action::Done); // endpoints managed by the user
    }
    let pods: Vec<Arc<Pod>> = ctx.pods.by_index("namespace", ns).into_iter().filter(|p| selects(&svc, &p.metadata.labels)).collect();
    let subsets = desired_subsets(&svc, &pods);
    let mut labels = svc.metadata.labels.clone();
    if svc.spec.is_headless() {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let current = ctx.endpoints.get(&key);
    if let Some(cur) = &current {
        if cur.subsets == subsets && cur.metadata.labels == labels {
            return Ok(Action::Done);
        }
    }
    let mut ep = current.as_deref().cloned().unwrap_or_default();
    ep.metadata.name = name.to_string();
    ep.metadata.namespace = ns.to_string();
    ep.metadata.labels = labels;
    ep.subsets = subsets;
    let ready: usize = ep.subsets.iter().map(|s| s.addresses.len()).sum();
    let not_ready: usize = ep.subsets.iter().map(|s| s.not_ready_addresses.len()).sum();
    let result = if current.is_some() { api.replace(&ep).await } else { api.create(&ep).await };
    match result {
        Ok(_) => {
            debug!("Endpoints {key}: {ready} ready, {not_ready} not ready");
            Ok(Action::Done)
        }
        // Our cache is behind (conflict, or it exists already): the watch event requeues.
        Err(e) if e.is_conflict() || e.is_already_exists() => Err(e),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pod_control::tests::{pod, running};
    use kube_api::core::{Container, ContainerPort, ServicePort};

    fn svc(target: IntOrString) -> Service {
        let mut s = Service::default();
        s.metadata.name = "web".into();
        s.metadata.namespace = "default".into();
        s.spec.selector.insert("app".into(), "web".into());
        s.spec.ports.push(ServicePort { name: "http".into(), port: 80, target_port: Some(target), protocol: "TCP".into(), ..Default::default() });
        s
    }

    fn with_ip(mut p: Pod, ip: &str, named_port: Option<i32>) -> Arc<Pod> {
        p.status.pod_ip = ip.into();
        let mut c = Container { name: "c".into(), ..Default::default() };
        if let Some(n) = named_port {
            c.ports.push(ContainerPort { name: "web".into(), container_port: n, protocol: "TCP".into(), ..Default::default() });
        }
        p.spec.containers.push(c);
        Arc::new(p)
    }

    #[test]
    fn ready_and_not_ready_pods_with_their_node_and_target_ref() {
        let pods = vec![
            with_ip(running(pod("b"), "node-2", Some(1)), "10.0.0.2", None),
            with_ip(running(pod("a"), "node-1", None), "10.0.0.1", None),
            with_ip(pod("no-ip"), "", None),
        ];
        let subsets = desired_subsets(&svc(IntOrString::Int(8080)), &pods);
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        assert_eq!(s.addresses.iter().map(|a| a.ip.as_str()).collect::<Vec<_>>(), ["10.0.0.2"]);
        assert_eq!(s.not_ready_addresses[0].ip, "10.0.0.1");
        assert_eq!(s.addresses[0].node_name.as_deref(), Some("node-2"));
        assert_eq!(s.addresses[0].target_ref.as_ref().map(|r| r.name.as_str()), Some("b"));
        assert_eq!((s.ports[0].name.as_str(), s.ports[0].port, s.ports[0].protocol.as_str()), ("http", 8080, "TCP"));
    }

    #[test]
    fn a_named_target_port_resolves_per_pod_and_pods_without_it_are_left_out() {
        let pods = vec![
            with_ip(running(pod("a"), "n", Some(1)), "10.0.0.1", Some(8080)),
            with_ip(running(pod("b"), "n", Some(1)), "10.0.0.2", Some(9090)),
            with_ip(running(pod("c"), "n", Some(1)), "10.0.0.3", None),
        ];
        let subsets = desired_subsets(&svc(IntOrString::String("web".into())), &pods);
        let got: Vec<_> = subsets.iter().map(|s| (s.ports[0].port, s.addresses[0].ip.as_str())).collect();
        assert_eq!(got, [(8080, "10.0.0.1"), (9090, "10.0.0.2")], "one subset per resolved port set");
    }

    #[test]
    fn a_headless_service_without_ports_lists_addresses_and_hostnames() {
        let mut s = svc(IntOrString::Int(80));
        s.spec.ports.clear();
        s.spec.cluster_ip = "None".into();
        let mut p = running(pod("db-0"), "n", Some(1));
        p.spec.hostname = "db-0".into();
        p.spec.subdomain = "web".into();
        let subsets = desired_subsets(&s, &[with_ip(p, "10.0.0.9", None)]);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_empty());
        assert_eq!(subsets[0].addresses[0].hostname, "db-0");
    }
}
