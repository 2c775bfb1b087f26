//! The rows of every kind but Pod (see `pod.rs`), each a transcription of upstream's
//! `printNode`, `printService`, ... from `pkg/printers/internalversion/printers.go`.
//!
//! The apiserver always prints the wide cells (upstream calls its printers with
//! `Wide: true`); kubectl hides the priority-1 columns unless asked for `-o wide`.
//! Cells keep upstream's JSON types: counts are integers, everything else strings.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::duration;
use super::json::{arr, int, int_or, map, map_len, str_, time};

fn name(obj: &Value) -> Value {
    json!(str_(obj, "/metadata/name"))
}

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(duration::since(time(obj, "/metadata/creationTimestamp"), now))
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// Node: Name, Status, Roles, Age, Version, Internal-IP, External-IP, OS-Image,
/// Kernel-Version, Container-Runtime.
pub(super) fn node(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Only the Ready condition makes the status; any other value of it is "NotReady".
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = arr(obj, "/status/conditions").iter().rev().find(|c| str_(c, "/type") == "Ready") {
        status.push(if str_(ready, "/status") == "True" { "Ready" } else { "NotReady" });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }

    // `node-role.kubernetes.io/<role>` labels and the older `kubernetes.io/role=<role>`.
    let mut roles = BTreeSet::new();
    for (key, value) in map(obj, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role" {
            if let Some(role) = value.as_str().filter(|r| !r.is_empty()) {
                roles.insert(role.to_string());
            }
        }
    }
    let roles = none_if_empty(roles.into_iter().collect::<Vec<_>>().join(","));

    let address = |kind: &str| {
        arr(obj, "/status/addresses")
            .iter()
            .find(|a| str_(a, "/type") == kind)
            .map_or("<none>", |a| str_(a, "/address"))
            .to_string()
    };
    let info = |field: &str| match str_(obj, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        s => s.to_string(),
    };
    vec![
        name(obj),
        json!(status.join(",")),
        json!(roles),
        age(obj, now),
        json!(str_(obj, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

/// Service: Name, Type, Cluster-IP, External-IP, Port(s), Age, Selector.
pub(super) fn service(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // `spec.clusterIPs[0]`; a v1 object with only `spec.clusterIP` converts to the same list.
    let mut cluster_ip = str_(obj, "/spec/clusterIPs/0");
    if cluster_ip.is_empty() {
        cluster_ip = str_(obj, "/spec/clusterIP");
    }
    let ports: Vec<String> = arr(obj, "/spec/ports")
        .iter()
        .map(|p| {
            // The protocol defaults to TCP upstream; a stored object always has it.
            let protocol = match str_(p, "/protocol") {
                "" => "TCP",
                proto => proto,
            };
            match int(p, "/nodePort") {
                n if n > 0 => format!("{}:{}/{}", int(p, "/port"), n, protocol),
                _ => format!("{}/{}", int(p, "/port"), protocol),
            }
        })
        .collect();
    vec![
        name(obj),
        json!(str_(obj, "/spec/type")),
        json!(none_if_empty(cluster_ip.to_string())),
        json!(service_external_ip(obj)),
        json!(none_if_empty(ports.join(","))),
        age(obj, now),
        json!(format_labels(obj, "/spec/selector")),
    ]
}

/// Upstream's `getServiceExternalIP` (wide): external IPs, load-balancer ingress, or the
/// external name, depending on the type.
fn service_external_ip(obj: &Value) -> String {
    let external_ips: Vec<&str> = arr(obj, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match str_(obj, "/spec/type") {
        "ClusterIP" | "NodePort" => none_if_empty(external_ips.join(",")),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = arr(obj, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| match str_(i, "/ip") {
                    "" => str_(i, "/hostname"),
                    ip => ip,
                })
                .filter(|s| !s.is_empty())
                .collect();
            let all: Vec<&str> = ingress.into_iter().chain(external_ips).collect();
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_(obj, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Endpoints: Name, Endpoints, Age.
pub(super) fn endpoints(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(format_endpoints(obj)), age(obj, now)]
}

/// Upstream's `formatEndpoints`: `ip:port` for every address and port, the first three
/// shown and the rest counted (`10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...`).
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses: Vec<&str> = arr(subset, "/addresses").iter().map(|a| str_(a, "/ip")).collect();
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            // A headless service without ports lists bare addresses.
            count += addresses.len();
            list.extend(addresses.iter().take(MAX.saturating_sub(list.len())).map(|ip| ip.to_string()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            for ip in &addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(join_host_port(ip, int(port, "/port")));
            }
        }
    }
    let shown = list.join(",");
    if count > MAX {
        format!("{shown} + {} more...", count - MAX)
    } else {
        shown
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Namespace: Name, Status, Age.
pub(super) fn namespace(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_(obj, "/status/phase")), age(obj, now)]
}

/// ConfigMap: Name, Data (the number of `data` and `binaryData` keys), Age.
pub(super) fn config_map(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let data = map_len(obj, "/data") + map_len(obj, "/binaryData");
    vec![name(obj), json!(data), age(obj, now)]
}

/// Secret: Name, Type, Data (the number of keys), Age.
pub(super) fn secret(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_(obj, "/type")), json!(map_len(obj, "/data")), age(obj, now)]
}

/// ServiceAccount: Name, Secrets (how many), Age.
pub(super) fn service_account(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(arr(obj, "/secrets").len()), age(obj, now)]
}

/// Event: Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name.
pub(super) fn event(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Events of the newer API carry `eventTime` and `series` instead of timestamps and a count.
    let first_seen = match time(obj, "/firstTimestamp") {
        Some(t) => duration::since(Some(t), now),
        None => duration::since(time(obj, "/eventTime"), now),
    };
    let mut last_seen = match time(obj, "/lastTimestamp") {
        Some(t) => duration::since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int(obj, "/count");
    if obj.get("series").is_some_and(|s| !s.is_null()) {
        last_seen = duration::since(time(obj, "/series/lastObservedTime"), now);
        count = int(obj, "/series/count");
    } else if count == 0 {
        count = 1;
    }

    let kind = str_(obj, "/involvedObject/kind").to_lowercase();
    let target = match str_(obj, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = first_non_empty(str_(obj, "/source/component"), str_(obj, "/reportingComponent"));
    let host = first_non_empty(str_(obj, "/source/host"), str_(obj, "/reportingInstance"));
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };

    vec![
        json!(last_seen),
        json!(str_(obj, "/type")),
        json!(str_(obj, "/reason")),
        json!(target),
        json!(str_(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_(obj, "/message").trim()),
        json!(first_seen),
        json!(count),
        name(obj),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// ReplicationController: Name, Desired, Current, Ready, Age, Containers, Images, Selector
/// (a plain label map).
pub(super) fn replication_controller(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(int_or(obj, "/spec/replicas", 1)),
        json!(int(obj, "/status/replicas")),
        json!(int(obj, "/status/readyReplicas")),
        age(obj, now),
        json!(containers),
        json!(images),
        json!(format_labels(obj, "/spec/selector")),
    ]
}

/// ReplicaSet: as ReplicationController, with a label selector.
pub(super) fn replica_set(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(int_or(obj, "/spec/replicas", 1)),
        json!(int(obj, "/status/replicas")),
        json!(int(obj, "/status/readyReplicas")),
        age(obj, now),
        json!(containers),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

/// Deployment: Name, Ready (`ready/desired`), Up-to-date, Available, Age, Containers,
/// Images, Selector.
pub(super) fn deployment(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    // Unlike the other printers, upstream prints the selector of a Deployment without the
    // `<none>` substitute.
    let selector = match label_selector_string(obj.pointer("/spec/selector")) {
        Ok(s) => s,
        Err(()) => "<invalid>".to_string(),
    };
    vec![
        name(obj),
        json!(format!("{}/{}", int(obj, "/status/readyReplicas"), int_or(obj, "/spec/replicas", 1))),
        json!(int(obj, "/status/updatedReplicas")),
        json!(int(obj, "/status/availableReplicas")),
        age(obj, now),
        json!(containers),
        json!(images),
        json!(selector),
    ]
}

/// StatefulSet: Name, Ready (`ready/desired`), Age, Containers, Images.
pub(super) fn stateful_set(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(format!("{}/{}", int(obj, "/status/readyReplicas"), int_or(obj, "/spec/replicas", 1))),
        age(obj, now),
        json!(containers),
        json!(images),
    ]
}

/// DaemonSet: Name, Desired, Current, Ready, Up-to-date, Available, Node Selector, Age,
/// Containers, Images, Selector.
pub(super) fn daemon_set(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(int(obj, "/status/desiredNumberScheduled")),
        json!(int(obj, "/status/currentNumberScheduled")),
        json!(int(obj, "/status/numberReady")),
        json!(int(obj, "/status/updatedNumberScheduled")),
        json!(int(obj, "/status/numberAvailable")),
        json!(format_labels(obj, "/spec/template/spec/nodeSelector")),
        age(obj, now),
        json!(containers),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

/// Job: Name, Status, Completions, Duration, Age, Containers, Images, Selector.
pub(super) fn job(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int(obj, "/status/succeeded");
    let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(obj, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let job_duration = match (time(obj, "/status/startTime"), time(obj, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => duration::human_duration(now - start),
        (Some(start), Some(end)) => duration::human_duration(end - start),
    };
    let condition = |type_: &str| {
        arr(obj, "/status/conditions")
            .iter()
            .find(|c| str_(c, "/type") == type_)
            .is_some_and(|c| str_(c, "/status") == "True")
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        "Terminating"
    } else if condition("Suspended") {
        "Suspended"
    } else if condition("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (containers, images) = containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(status),
        json!(completions),
        json!(job_duration),
        age(obj, now),
        json!(containers),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

/// Lease: Name, Holder, Age.
pub(super) fn lease(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_(obj, "/spec/holderIdentity")), age(obj, now)]
}

/// RoleBinding and ClusterRoleBinding: Name, Role (`Kind/name`), Age, Users, Groups,
/// ServiceAccounts (`namespace/name`), as upstream's `printRoleBinding` with `SubjectsStrings`.
pub(super) fn role_binding(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!("{}/{}", str_(obj, "/roleRef/kind"), str_(obj, "/roleRef/name"));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in arr(obj, "/subjects") {
        match str_(s, "/kind") {
            "User" => users.push(str_(s, "/name").to_string()),
            "Group" => groups.push(str_(s, "/name").to_string()),
            "ServiceAccount" => sas.push(format!("{}/{}", str_(s, "/namespace"), str_(s, "/name"))),
            _ => {}
        }
    }
    vec![name(obj), json!(role), age(obj, now), json!(users.join(", ")), json!(groups.join(", ")), json!(sas.join(", "))]
}

/// Upstream's default row for kinds without a printer: Name, Created At (RFC 3339, UTC).
pub(super) fn default(obj: &Value) -> Vec<Value> {
    // Go formats an unset time as its zero value.
    let created = time(obj, "/metadata/creationTimestamp")
        .map_or("0001-01-01T00:00:00Z".to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    vec![name(obj), json!(created)]
}

/// Upstream's `layoutContainerCells`: the containers' names and images, comma-separated.
fn containers(obj: &Value, path: &str) -> (String, String) {
    let list = arr(obj, path);
    let names: Vec<&str> = list.iter().map(|c| str_(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| str_(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// Upstream's `labels.FormatLabels`: `k1=v1,k2=v2` sorted by key, `<none>` when empty.
fn format_labels(obj: &Value, path: &str) -> String {
    let pairs: Vec<String> = map(obj, path)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    none_if_empty(pairs.join(","))
}

/// Upstream's `metav1.FormatLabelSelector`: the selector's string form, `<none>` when it
/// selects nothing or everything, `<error>` when it is malformed.
fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        Ok(s) => none_if_empty(s),
        Err(()) => "<error>".to_string(),
    }
}

/// A `LabelSelector` (`matchLabels`, `matchExpressions`) in the string form of
/// `?labelSelector=`: requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`.
/// A missing or empty selector gives `""`; an unknown operator, or values that do not fit
/// the operator, an error.
fn label_selector_string(selector: Option<&Value>) -> Result<String, ()> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in map(selector, "/matchLabels").into_iter().flatten() {
        requirements.push((key.clone(), format!("{key}={}", value.as_str().unwrap_or(""))));
    }
    for expr in arr(selector, "/matchExpressions") {
        let key = str_(expr, "/key");
        let mut values: Vec<&str> = arr(expr, "/values").iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let text = match (str_(expr, "/operator"), values.is_empty()) {
            ("In", false) => format!("{key} in ({})", values.join(",")),
            ("NotIn", false) => format!("{key} notin ({})", values.join(",")),
            ("Exists", true) => key.to_string(),
            ("DoesNotExist", true) => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join(","))
}
