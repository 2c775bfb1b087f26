//! `kubectl describe`'s layout: `Key:\tvalue` lines, nested by two spaces, aligned by Go's
//! tabwriter (padding 2) exactly as kubectl's `PrefixWriter`, ending with the `Events:`
//! section built from the events whose `involvedObject` is the object.
//!
//! One function per kind ([`pod`], [`node`], [`deployment`], [`replica_set`], [`service`]),
//! and [`generic`] for the rest (name, namespace, labels, annotations).

use chrono::{DateTime, Utc};
use kube_api::table::human_duration;
use serde_json::Value;

/// Builds the tab-separated text, then lays it out.
#[derive(Default)]
pub struct Describer {
    text: String,
}

impl Describer {
    /// `Key:\tvalue` at `level` (two spaces each).
    pub fn kv(&mut self, level: usize, key: &str, value: impl AsRef<str>) -> &mut Self {
        self.text.push_str(&"  ".repeat(level));
        self.text.push_str(&format!("{key}:\t{}\n", value.as_ref()));
        self
    }

    /// A line with no value (`Containers:`).
    pub fn line(&mut self, level: usize, text: &str) -> &mut Self {
        self.text.push_str(&"  ".repeat(level));
        self.text.push_str(text);
        self.text.push('\n');
        self
    }

    /// A map printed as `k=v` lines under `key` (kubectl's `printLabelsMultiline`).
    pub fn map(&mut self, level: usize, key: &str, map: &Value, sep: &str) -> &mut Self {
        let Some(m) = map.as_object().filter(|m| !m.is_empty()) else {
            return self.kv(level, key, "<none>");
        };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for (i, k) in keys.iter().enumerate() {
            let v = m[k.as_str()].as_str().unwrap_or("");
            let indent = "  ".repeat(level);
            if i == 0 {
                self.text.push_str(&format!("{indent}{key}:\t{k}{sep}{v}\n"));
            } else {
                self.text.push_str(&format!("{indent}\t{k}{sep}{v}\n"));
            }
        }
        self
    }

    pub fn finish(&self) -> String {
        crate::printers::TabWriter::describe().format_text(&self.text)
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text.to_string()
    }
}

fn num(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn header(d: &mut Describer, obj: &Value, namespaced: bool) {
    d.kv(0, "Name", s(obj, "/metadata/name"));
    if namespaced {
        d.kv(0, "Namespace", s(obj, "/metadata/namespace"));
    }
}

/// `CreationTimestamp:` as Go's `time.RFC1123Z`: `Mon, 02 Jan 2006 15:04:05 -0700`.
fn timestamp(obj: &Value) -> String {
    DateTime::parse_from_rfc3339(s(obj, "/metadata/creationTimestamp"))
        .map(|t| t.with_timezone(&Utc).format("%a, %d %b %Y %H:%M:%S %z").to_string())
        .unwrap_or_default()
}

/// The `Events:` section.
pub fn events(d: &mut Describer, events: &[Value], now: DateTime<Utc>) {
    if events.is_empty() {
        d.kv(0, "Events", "<none>");
        return;
    }
    d.line(0, "Events:");
    d.line(1, "Type\tReason\tAge\tFrom\tMessage");
    d.line(1, "----\t------\t----\t----\t-------");
    for e in events {
        let when = |p: &str| DateTime::parse_from_rfc3339(s(e, p)).ok().map(|t| t.with_timezone(&Utc));
        let last = when("/lastTimestamp").or_else(|| when("/eventTime"));
        let first = when("/firstTimestamp").or(last);
        let count = num(e, "/count");
        let age = match (last, first) {
            (Some(l), Some(f)) if count > 1 => format!("{} (x{count} over {})", human_duration(now - l), human_duration(now - f)),
            (Some(l), _) => human_duration(now - l),
            _ => "<unknown>".to_string(),
        };
        let from = match (s(e, "/source/component"), s(e, "/reportingComponent")) {
            ("", r) => r.to_string(),
            (c, _) => c.to_string(),
        };
        d.line(1, &format!("{}\t{}\t{age}\t{from}\t{}", s(e, "/type"), s(e, "/reason"), s(e, "/message").trim()));
    }
}

/// Any object: name, namespace, labels, annotations.
pub fn generic(obj: &Value, namespaced: bool) -> Describer {
    let mut d = Describer::default();
    header(&mut d, obj, namespaced);
    d.map(0, "Labels", &obj["metadata"]["labels"], "=");
    d.map(0, "Annotations", &obj["metadata"]["annotations"], ": ");
    d
}

fn containers(d: &mut Describer, level: usize, list: &Value, statuses: &Value) {
    for c in list.as_array().into_iter().flatten() {
        let name = s(c, "/name");
        d.line(level, &format!("{name}:"));
        let status = statuses.as_array().into_iter().flatten().find(|st| st["name"] == name);
        if let Some(st) = status {
            d.kv(level + 1, "Container ID", s(st, "/containerID"));
        }
        d.kv(level + 1, "Image", s(c, "/image"));
        if let Some(st) = status {
            d.kv(level + 1, "Image ID", s(st, "/imageID"));
        }
        let ports: Vec<String> = c["ports"].as_array().into_iter().flatten()
            .map(|p| format!("{}/{}", num(p, "/containerPort"), p["protocol"].as_str().unwrap_or("TCP")))
            .collect();
        d.kv(level + 1, "Port", if ports.is_empty() { "<none>".into() } else { ports.join(", ") });
        d.kv(level + 1, "Host Port", if ports.is_empty() { "<none>".into() } else { ports.iter().map(|p| format!("0/{}", p.split('/').nth(1).unwrap_or("TCP"))).collect::<Vec<_>>().join(", ") });
        if let Some(cmd) = c["command"].as_array() {
            d.line(level + 1, "Command:");
            for a in cmd {
                d.line(level + 2, a.as_str().unwrap_or(""));
            }
        }
        if let Some(args) = c["args"].as_array() {
            d.line(level + 1, "Args:");
            for a in args {
                d.line(level + 2, a.as_str().unwrap_or(""));
            }
        }
        if let Some(st) = status {
            let (state, fields) = st["state"].as_object().and_then(|m| m.iter().next()).map(|(k, v)| (k.clone(), v.clone())).unwrap_or_default();
            let mut word = state.clone();
            if let Some(first) = word.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            d.kv(level + 1, "State", &word);
            if let Some(reason) = fields["reason"].as_str() {
                d.kv(level + 2, "Reason", reason);
            }
            if let Some(started) = fields["startedAt"].as_str() {
                d.kv(level + 2, "Started", started);
            }
            d.kv(level + 1, "Ready", if st["ready"] == true { "True" } else { "False" });
            d.kv(level + 1, "Restart Count", num(st, "/restartCount").to_string());
        }
        let env = c["env"].as_array().cloned().unwrap_or_default();
        if env.is_empty() {
            d.kv(level + 1, "Environment", "<none>");
        } else {
            d.line(level + 1, "Environment:");
            for e in env {
                d.kv(level + 2, s(&e, "/name"), s(&e, "/value"));
            }
        }
        let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
        if mounts.is_empty() {
            d.kv(level + 1, "Mounts", "<none>");
        } else {
            d.line(level + 1, "Mounts:");
            for m in mounts {
                let ro = if m["readOnly"] == true { "ro" } else { "rw" };
                d.line(level + 2, &format!("{} from {} ({ro})", s(&m, "/mountPath"), s(&m, "/name")));
            }
        }
    }
}

/// The `Pod Template:` block of deployments and replica sets (and `rollout history --revision`).
pub fn pod_template(template: &Value) -> String {
    let mut d = Describer::default();
    template_into(&mut d, 0, template);
    d.finish()
}

fn template_into(d: &mut Describer, level: usize, t: &Value) {
    d.map(level, "Labels", &t["metadata"]["labels"], "=");
    if t["metadata"]["annotations"].is_object() {
        d.map(level, "Annotations", &t["metadata"]["annotations"], ": ");
    }
    d.line(level, "Containers:");
    containers(d, level + 1, &t["spec"]["containers"], &Value::Null);
    d.kv(level, "Volumes", "<none>");
    d.kv(level, "Node-Selectors", "<none>");
    d.kv(level, "Tolerations", "<none>");
}

pub fn pod(p: &Value) -> Describer {
    let mut d = Describer::default();
    header(&mut d, p, true);
    d.kv(0, "Priority", num(p, "/spec/priority").to_string());
    d.kv(0, "Service Account", s(p, "/spec/serviceAccountName"));
    let node = s(p, "/spec/nodeName");
    let host_ip = s(p, "/status/hostIP");
    d.kv(0, "Node", if node.is_empty() { "<none>".into() } else if host_ip.is_empty() { node.to_string() } else { format!("{node}/{host_ip}") });
    if let Some(start) = p["status"]["startTime"].as_str() {
        let start = DateTime::parse_from_rfc3339(start).map(|t| t.with_timezone(&Utc).format("%a, %d %b %Y %H:%M:%S %z").to_string()).unwrap_or_default();
        d.kv(0, "Start Time", start);
    }
    d.map(0, "Labels", &p["metadata"]["labels"], "=");
    d.map(0, "Annotations", &p["metadata"]["annotations"], ": ");
    d.kv(0, "Status", if p["metadata"]["deletionTimestamp"].is_string() { "Terminating".to_string() } else { s(p, "/status/phase").to_string() });
    d.kv(0, "IP", s(p, "/status/podIP"));
    let ips: Vec<&str> = p["status"]["podIPs"].as_array().into_iter().flatten().filter_map(|i| i["ip"].as_str()).collect();
    if ips.is_empty() {
        d.kv(0, "IPs", "<none>");
    } else {
        d.line(0, "IPs:");
        for ip in ips {
            d.kv(1, "IP", ip);
        }
    }
    if let Some(owner) = p["metadata"]["ownerReferences"].as_array().and_then(|o| o.iter().find(|r| r["controller"] == true)) {
        d.kv(0, "Controlled By", format!("{}/{}", s(owner, "/kind"), s(owner, "/name")));
    }
    d.line(0, "Containers:");
    containers(&mut d, 1, &p["spec"]["containers"], &p["status"]["containerStatuses"]);
    if let Some(conds) = p["status"]["conditions"].as_array().filter(|c| !c.is_empty()) {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus");
        for c in conds {
            d.line(1, &format!("{} \t{} ", s(c, "/type"), s(c, "/status")));
        }
    }
    d.kv(0, "Volumes", if p["spec"]["volumes"].as_array().is_some_and(|v| !v.is_empty()) { "(not shown)" } else { "<none>" });
    d.kv(0, "QoS Class", or_none(s(p, "/status/qosClass")));
    d.map(0, "Node-Selectors", &p["spec"]["nodeSelector"], "=");
    let tolerations: Vec<String> = p["spec"]["tolerations"].as_array().into_iter().flatten().map(|t| {
        let mut text = s(t, "/key").to_string();
        if let Some(v) = t["value"].as_str() { text = format!("{text}={v}"); }
        if let Some(e) = t["effect"].as_str() { text = format!("{text}:{e}"); }
        if t["operator"] == "Exists" && t["key"].is_null() { text = "op=Exists".into(); }
        if let Some(secs) = t["tolerationSeconds"].as_i64() { text = format!("{text} for {secs}s"); }
        text
    }).collect();
    if tolerations.is_empty() {
        d.kv(0, "Tolerations", "<none>");
    } else {
        for (i, t) in tolerations.iter().enumerate() {
            if i == 0 { d.kv(0, "Tolerations", t); } else { d.line(0, &format!("\t{t}")); }
        }
    }
    d
}

pub fn node(n: &Value) -> Describer {
    let mut d = Describer::default();
    header(&mut d, n, false);
    let roles: Vec<String> = n["metadata"]["labels"].as_object().into_iter().flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(String::from)).collect();
    d.kv(0, "Roles", if roles.is_empty() { "<none>".into() } else { roles.join(",") });
    d.map(0, "Labels", &n["metadata"]["labels"], "=");
    d.map(0, "Annotations", &n["metadata"]["annotations"], ": ");
    d.kv(0, "CreationTimestamp", timestamp(n));
    let taints: Vec<String> = n["spec"]["taints"].as_array().into_iter().flatten()
        .map(|t| match t["value"].as_str() { Some(v) => format!("{}={v}:{}", s(t, "/key"), s(t, "/effect")), None => format!("{}:{}", s(t, "/key"), s(t, "/effect")) })
        .collect();
    d.kv(0, "Taints", if taints.is_empty() { "<none>".into() } else { taints.join("\n") });
    d.kv(0, "Unschedulable", if n["spec"]["unschedulable"] == true { "true" } else { "false" });
    if let Some(conds) = n["status"]["conditions"].as_array().filter(|c| !c.is_empty()) {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage");
        d.line(1, "----\t------\t-----------------\t------------------\t------\t-------");
        for c in conds {
            d.line(1, &format!("{}\t{}\t{}\t{}\t{}\t{}", s(c, "/type"), s(c, "/status"), s(c, "/lastHeartbeatTime"), s(c, "/lastTransitionTime"), s(c, "/reason"), s(c, "/message")));
        }
    }
    d.line(0, "Addresses:");
    for a in n["status"]["addresses"].as_array().into_iter().flatten() {
        d.kv(1, s(a, "/type"), s(a, "/address"));
    }
    for (key, field) in [("Capacity", "capacity"), ("Allocatable", "allocatable")] {
        if let Some(m) = n["status"][field].as_object() {
            d.line(0, &format!("{key}:"));
            for (k, v) in m {
                d.kv(1, k, v.as_str().unwrap_or(""));
            }
        }
    }
    d.kv(0, "PodCIDR", s(n, "/spec/podCIDR"));
    d
}

pub fn deployment(dep: &Value) -> Describer {
    let mut d = Describer::default();
    header(&mut d, dep, true);
    d.kv(0, "CreationTimestamp", timestamp(dep));
    d.map(0, "Labels", &dep["metadata"]["labels"], "=");
    d.map(0, "Annotations", &dep["metadata"]["annotations"], ": ");
    let selector = kube_api::labels::Selector::from_label_selector_json(&dep["spec"]["selector"]).map(|s| s.to_string()).unwrap_or_default();
    d.kv(0, "Selector", selector);
    let replicas = dep.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    d.kv(0, "Replicas", format!(
        "{replicas} desired | {} updated | {} total | {} available | {} unavailable",
        num(dep, "/status/updatedReplicas"), num(dep, "/status/replicas"), num(dep, "/status/availableReplicas"), num(dep, "/status/unavailableReplicas")
    ));
    let strategy = or_none(s(dep, "/spec/strategy/type"));
    d.kv(0, "StrategyType", &strategy);
    d.kv(0, "MinReadySeconds", num(dep, "/spec/minReadySeconds").to_string());
    if strategy == "RollingUpdate" {
        let ru = &dep["spec"]["strategy"]["rollingUpdate"];
        let text = |v: &Value| match v { Value::String(s) => s.clone(), Value::Number(n) => n.to_string(), _ => String::new() };
        d.kv(0, "RollingUpdateStrategy", format!("{} max unavailable, {} max surge", text(&ru["maxUnavailable"]), text(&ru["maxSurge"])));
    }
    d.line(0, "Pod Template:");
    template_into(&mut d, 1, &dep["spec"]["template"]);
    if let Some(conds) = dep["status"]["conditions"].as_array().filter(|c| !c.is_empty()) {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus\tReason");
        d.line(1, "----\t------\t------");
        for c in conds {
            d.line(1, &format!("{}\t{}\t{}", s(c, "/type"), s(c, "/status"), s(c, "/reason")));
        }
    }
    d
}

pub fn replica_set(rs: &Value) -> Describer {
    let mut d = Describer::default();
    header(&mut d, rs, true);
    let selector = kube_api::labels::Selector::from_label_selector_json(&rs["spec"]["selector"]).map(|s| s.to_string()).unwrap_or_default();
    d.kv(0, "Selector", selector);
    d.map(0, "Labels", &rs["metadata"]["labels"], "=");
    d.map(0, "Annotations", &rs["metadata"]["annotations"], ": ");
    if let Some(owner) = rs["metadata"]["ownerReferences"].as_array().and_then(|o| o.iter().find(|r| r["controller"] == true)) {
        d.kv(0, "Controlled By", format!("{}/{}", s(owner, "/kind"), s(owner, "/name")));
    }
    let replicas = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    d.kv(0, "Replicas", format!("{} current / {replicas} desired", num(rs, "/status/replicas")));
    d.kv(0, "Pods Status", format!("{} Running / 0 Waiting / 0 Succeeded / 0 Failed", num(rs, "/status/readyReplicas")));
    d.line(0, "Pod Template:");
    template_into(&mut d, 1, &rs["spec"]["template"]);
    d
}

pub fn service(svc: &Value, endpoints: Option<&Value>) -> Describer {
    let mut d = Describer::default();
    header(&mut d, svc, true);
    d.map(0, "Labels", &svc["metadata"]["labels"], "=");
    d.map(0, "Annotations", &svc["metadata"]["annotations"], ": ");
    let selector = svc["spec"]["selector"].as_object().map(|m| {
        let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
        pairs.sort();
        pairs.join(",")
    }).unwrap_or_default();
    d.kv(0, "Selector", or_none(&selector));
    d.kv(0, "Type", s(svc, "/spec/type"));
    d.kv(0, "IP Family Policy", or_none(s(svc, "/spec/ipFamilyPolicy")));
    let families: Vec<&str> = svc["spec"]["ipFamilies"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    d.kv(0, "IP Families", or_none(&families.join(",")));
    d.kv(0, "IP", s(svc, "/spec/clusterIP"));
    let ips: Vec<&str> = svc["spec"]["clusterIPs"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    d.kv(0, "IPs", or_none(&ips.join(",")));
    let eps: Vec<String> = endpoints.map(|e| {
        e["subsets"].as_array().into_iter().flatten().flat_map(|sub| {
            let ports: Vec<i64> = sub["ports"].as_array().into_iter().flatten().map(|p| num(p, "/port")).collect();
            sub["addresses"].as_array().into_iter().flatten().flat_map(move |a| {
                let ip = s(a, "/ip").to_string();
                ports.clone().into_iter().map(move |p| format!("{ip}:{p}"))
            }).collect::<Vec<_>>()
        }).collect()
    }).unwrap_or_default();
    for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
        let name = or_unset(s(p, "/name"));
        d.kv(0, "Port", format!("{name}\t{}/{}", num(p, "/port"), p["protocol"].as_str().unwrap_or("TCP")));
        let tp = match &p["targetPort"] { Value::Number(n) => n.to_string(), Value::String(s) => s.clone(), _ => String::new() };
        d.kv(0, "TargetPort", format!("{tp}/{}", p["protocol"].as_str().unwrap_or("TCP")));
        if let Some(np) = p["nodePort"].as_i64() {
            d.kv(0, "NodePort", format!("{name}\t{np}/{}", p["protocol"].as_str().unwrap_or("TCP")));
        }
        d.kv(0, "Endpoints", eps.join(","));
    }
    d.kv(0, "Session Affinity", or_none(s(svc, "/spec/sessionAffinity")));
    if let Some(p) = svc["spec"]["externalTrafficPolicy"].as_str() {
        d.kv(0, "External Traffic Policy", p);
    }
    d.kv(0, "Internal Traffic Policy", or_none(s(svc, "/spec/internalTrafficPolicy")));
    d
}

fn or_unset(name: &str) -> String {
    if name.is_empty() { "<unset>".into() } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_reads_like_kubectl_describe() {
        let p = json!({"metadata": {"name": "nginx", "namespace": "default", "labels": {"run": "nginx"}},
                       "spec": {"containers": [{"name": "nginx", "image": "nginx"}], "serviceAccountName": "default"},
                       "status": {"phase": "Pending", "qosClass": "BestEffort"}});
        let mut d = pod(&p);
        events(&mut d, &[], Utc::now());
        let text = d.finish();
        assert!(text.starts_with("Name:             nginx\nNamespace:        default\nPriority:         0\n"), "{text}");
        assert!(text.contains("\nContainers:\n  nginx:\n    Image:        nginx\n"), "{text}");
        assert!(text.ends_with("Events:           <none>\n"), "{text}");
    }
}
