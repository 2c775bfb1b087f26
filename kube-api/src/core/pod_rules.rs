//! The rules of Pods: defaulting (upstream's `SetDefaults_PodSpec`, `SetDefaults_Container`,
//! ... plus what admission plugins add to a new Pod), validation (`ValidatePodSpec`, the
//! subset the project needs, with upstream's messages), and the QoS class computed on create.
//!
//! [`default_pod_spec`] and [`validate_pod_template`] are shared by every workload kind:
//! the pod template of a Deployment is defaulted exactly as a Pod's spec.

use std::collections::{BTreeMap, BTreeSet};

use super::{go_map_string, Container, Pod, PodSpec, PodStatus, PodTemplateSpec, Probe, Toleration};
use crate::validation::{
    is_dns1123_label, is_valid_port_name, is_valid_port_num, validate_labels, validate_object_meta, FieldError,
    NameRule,
};
use crate::Object;

/// `0644`, the default mode of files projected from ConfigMaps, Secrets and the downward API.
pub const DEFAULT_MODE: i32 = 0o644;
/// The grace period a Pod gets to stop when none is given.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// How long a Pod stays on a `not-ready` or `unreachable` node (DefaultTolerationSeconds plugin).
pub const DEFAULT_NOT_READY_TOLERATION_SECONDS: i64 = 300;

impl Object for Pod {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Pod";

    fn metadata(&self) -> &crate::ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut crate::ObjectMeta {
        &mut self.metadata
    }

    /// The spec defaults, `SetDefaults_Pod` (requests default to limits) and the defaults
    /// of the admission plugins upstream runs on new Pods: ServiceAccount (`default`),
    /// Priority (0, `PreemptLowerPriority`) and DefaultTolerationSeconds. The token volume
    /// the ServiceAccount plugin also mounts is left to a later issue.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        for c in spec.init_containers.iter_mut().chain(spec.containers.iter_mut()) {
            let requests = &mut c.resources.requests;
            for (name, limit) in &c.resources.limits {
                requests.entry(name.clone()).or_insert_with(|| limit.clone());
            }
        }
        default_pod_spec(spec);
        if spec.service_account_name.is_empty() {
            spec.service_account_name = "default".into();
        }
        if spec.service_account.is_empty() {
            spec.service_account = spec.service_account_name.clone();
        }
        if spec.priority.is_none() && spec.priority_class_name.is_empty() {
            spec.priority = Some(0);
        }
        spec.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let tolerated =
                spec.tolerations.iter().any(|t| t.key == key && (t.effect.is_empty() || t.effect == "NoExecute"));
            if !tolerated {
                spec.tolerations.push(Toleration {
                    key: key.into(),
                    operator: "Exists".into(),
                    effect: "NoExecute".into(),
                    toleration_seconds: Some(DEFAULT_NOT_READY_TOLERATION_SECONDS),
                    ..Default::default()
                });
            }
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        errs.extend(validate_pod_spec(&self.spec, "spec"));
        errs
    }

    /// A new Pod is `Pending`, with its QoS class; whatever status the client sent is dropped.
    fn prepare_for_create(&mut self) {
        self.status = PodStatus {
            phase: "Pending".into(),
            qos_class: pod_qos_class(&self.spec).into(),
            ..Default::default()
        };
        self.metadata.generation = Some(1);
    }
}

/// Upstream's defaults for a pod spec, shared by Pods and every pod template.
pub fn default_pod_spec(spec: &mut PodSpec) {
    if spec.dns_policy.is_empty() {
        spec.dns_policy = "ClusterFirst".into();
    }
    if spec.restart_policy.is_empty() {
        spec.restart_policy = "Always".into();
    }
    if spec.security_context.is_none() {
        spec.security_context = Some(serde_json::json!({}));
    }
    spec.termination_grace_period_seconds.get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    if spec.scheduler_name.is_empty() {
        spec.scheduler_name = "default-scheduler".into();
    }
    spec.enable_service_links.get_or_insert(true);
    // The v1 conversion keeps the deprecated `serviceAccount` equal to `serviceAccountName`.
    if spec.service_account_name.is_empty() {
        spec.service_account_name = spec.service_account.clone();
    } else if spec.service_account.is_empty() {
        spec.service_account = spec.service_account_name.clone();
    }
    let host_network = spec.host_network == Some(true);
    for c in spec.init_containers.iter_mut().chain(spec.containers.iter_mut()) {
        default_container(c, host_network);
    }
    for v in &mut spec.volumes {
        if v.has_no_source() {
            v.empty_dir = Some(Default::default());
        }
        if let Some(h) = &mut v.host_path {
            h.type_.get_or_insert_with(String::new);
        }
        if let Some(s) = &mut v.secret {
            s.default_mode.get_or_insert(DEFAULT_MODE);
        }
        if let Some(c) = &mut v.config_map {
            c.default_mode.get_or_insert(DEFAULT_MODE);
        }
        if let Some(d) = &mut v.downward_api {
            d.default_mode.get_or_insert(DEFAULT_MODE);
            for f in &mut d.items {
                if let Some(r) = &mut f.field_ref {
                    if r.api_version.is_empty() {
                        r.api_version = "v1".into();
                    }
                }
            }
        }
        if let Some(serde_json::Value::Object(p)) = &mut v.projected {
            p.entry("defaultMode").or_insert(DEFAULT_MODE.into());
        }
    }
}

fn default_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.is_empty() {
        c.image_pull_policy = default_image_pull_policy(&c.image).into();
    }
    if c.termination_message_path.is_empty() {
        c.termination_message_path = "/dev/termination-log".into();
    }
    if c.termination_message_policy.is_empty() {
        c.termination_message_policy = "File".into();
    }
    for p in &mut c.ports {
        if p.protocol.is_empty() {
            p.protocol = "TCP".into();
        }
        // With the host's network, the container port *is* a host port.
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for e in &mut c.env {
        if let Some(r) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            if r.api_version.is_empty() {
                r.api_version = "v1".into();
            }
        }
    }
    for p in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(p);
    }
    if let Some(l) = &mut c.lifecycle {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            if let Some(g) = &mut h.http_get {
                default_http_get(g);
            }
        }
    }
}

fn default_probe(p: &mut Probe) {
    p.timeout_seconds.get_or_insert(1);
    p.period_seconds.get_or_insert(10);
    p.success_threshold.get_or_insert(1);
    p.failure_threshold.get_or_insert(3);
    if let Some(g) = &mut p.http_get {
        default_http_get(g);
    }
}

fn default_http_get(g: &mut super::HttpGetAction) {
    if g.path.is_empty() {
        g.path = "/".into();
    }
    if g.scheme.is_empty() {
        g.scheme = "HTTP".into();
    }
}

/// `Always` for `:latest` or an untagged image, `IfNotPresent` otherwise (a tag, or only a
/// digest). A `:` before the last `/` is a registry port, not a tag.
pub fn default_image_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = match last.split_once(':') {
        Some((_, t)) => t,
        None if digest.is_none() && !image.is_empty() => "latest",
        None => "",
    };
    if tag == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// Upstream's `GetPodQOS`: `BestEffort` without any cpu/memory request or limit,
/// `Guaranteed` when every container limits both and requests equal limits, else `Burstable`.
pub fn pod_qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec.all_containers() {
        for (name, q) in &c.resources.requests {
            if let Some(v) = qos_quantity(name, q.as_str()) {
                *requests.entry(name.as_str()).or_default() += v;
            }
        }
        let mut found = BTreeSet::new();
        for (name, q) in &c.resources.limits {
            if let Some(v) = qos_quantity(name, q.as_str()) {
                found.insert(name.as_str());
                *limits.entry(name.as_str()).or_default() += v;
            }
        }
        if !(found.contains("cpu") && found.contains("memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A non-zero cpu or memory quantity, in nano units; other resources do not count for QoS.
/// A quantity that does not parse counts as non-zero (validation reports it elsewhere).
fn qos_quantity(name: &str, q: &str) -> Option<i128> {
    if name != "cpu" && name != "memory" {
        return None;
    }
    match nano_units(q) {
        Some(0) => None,
        Some(v) => Some(v),
        None => Some(i128::MAX / 1024),
    }
}

/// A quantity as an integer count of 10⁻⁹ units ([`crate::quantity`] does the parsing).
fn nano_units(q: &str) -> Option<i128> {
    crate::quantity::Quantity::parse(q).ok().map(|q| q.nanos())
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Upstream's `ValidatePodSpec`, the parts the project relies on: containers (names,
/// images, ports, mounts), volumes, restart and DNS policies.
pub fn validate_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut volumes = BTreeSet::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        let p = format!("{path}.volumes[{i}]");
        if v.name.is_empty() {
            errs.push(FieldError::required(&format!("{p}.name")));
        } else {
            errs.extend(is_dns1123_label(&v.name).iter().map(|m| FieldError::invalid(&format!("{p}.name"), &v.name, m)));
            if !volumes.insert(v.name.as_str()) {
                errs.push(FieldError::duplicate(&format!("{p}.name"), &v.name));
            }
        }
    }
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&format!("{path}.containers")));
    }
    let mut names = BTreeSet::new();
    let lists = [("initContainers", &spec.init_containers), ("containers", &spec.containers)];
    for (field, list) in lists {
        for (i, c) in list.iter().enumerate() {
            errs.extend(validate_container(c, &format!("{path}.{field}[{i}]"), &mut names, &volumes));
        }
    }
    if !spec.restart_policy.is_empty() && !RESTART_POLICIES.contains(&spec.restart_policy.as_str()) {
        errs.push(FieldError::not_supported(&format!("{path}.restartPolicy"), &spec.restart_policy, RESTART_POLICIES));
    }
    if !spec.dns_policy.is_empty() && !DNS_POLICIES.contains(&spec.dns_policy.as_str()) {
        errs.push(FieldError::not_supported(&format!("{path}.dnsPolicy"), &spec.dns_policy, DNS_POLICIES));
    }
    if let Some(s) = spec.active_deadline_seconds {
        if s <= 0 {
            errs.push(FieldError::invalid_raw(
                &format!("{path}.activeDeadlineSeconds"),
                s,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }
    if let Some(s) = spec.termination_grace_period_seconds {
        if s < 0 {
            errs.push(FieldError::invalid_raw(
                &format!("{path}.terminationGracePeriodSeconds"),
                s,
                "must be greater than or equal to 0",
            ));
        }
    }
    errs.extend(validate_labels(&spec.node_selector, &format!("{path}.nodeSelector")));
    errs
}

fn validate_container<'a>(
    c: &'a Container,
    path: &str,
    names: &mut BTreeSet<&'a str>,
    volumes: &BTreeSet<&str>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if c.name.is_empty() {
        errs.push(FieldError::required(&format!("{path}.name")));
    } else {
        errs.extend(is_dns1123_label(&c.name).iter().map(|m| FieldError::invalid(&format!("{path}.name"), &c.name, m)));
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&format!("{path}.name"), &c.name));
        }
    }
    if c.image.trim().is_empty() {
        errs.push(FieldError::required(&format!("{path}.image")));
    }
    if !c.image_pull_policy.is_empty() && !PULL_POLICIES.contains(&c.image_pull_policy.as_str()) {
        errs.push(FieldError::not_supported(&format!("{path}.imagePullPolicy"), &c.image_pull_policy, PULL_POLICIES));
    }
    let mut port_names = BTreeSet::new();
    for (i, p) in c.ports.iter().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        if !p.name.is_empty() {
            errs.extend(is_valid_port_name(&p.name).iter().map(|m| FieldError::invalid(&format!("{pp}.name"), &p.name, m)));
            if !port_names.insert(p.name.as_str()) {
                errs.push(FieldError::duplicate(&format!("{pp}.name"), &p.name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(&format!("{pp}.containerPort")));
        } else {
            errs.extend(
                is_valid_port_num(p.container_port.into())
                    .iter()
                    .map(|m| FieldError::invalid_raw(&format!("{pp}.containerPort"), p.container_port, m)),
            );
        }
        if let Some(h) = p.host_port.filter(|h| *h != 0) {
            errs.extend(is_valid_port_num(h.into()).iter().map(|m| FieldError::invalid_raw(&format!("{pp}.hostPort"), h, m)));
        }
        if p.protocol.is_empty() {
            errs.push(FieldError::required(&format!("{pp}.protocol")));
        } else if !PROTOCOLS.contains(&p.protocol.as_str()) {
            errs.push(FieldError::not_supported(&format!("{pp}.protocol"), &p.protocol, PROTOCOLS));
        }
    }
    for (i, e) in c.env.iter().enumerate() {
        if e.name.is_empty() {
            errs.push(FieldError::required(&format!("{path}.env[{i}].name")));
        }
    }
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let mp = format!("{path}.volumeMounts[{i}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(&format!("{mp}.name")));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(&format!("{mp}.name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&format!("{mp}.mountPath")));
        }
    }
    errs
}

/// A workload's pod template: its labels (at `<path>.metadata.labels`) and its spec.
pub fn validate_pod_template(template: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&template.metadata.labels, &format!("{path}.metadata.labels"));
    errs.extend(validate_pod_spec(&template.spec, &format!("{path}.spec")));
    errs
}

/// The checks every ReplicaSet-like controller makes on its template (upstream's
/// `ValidatePodTemplateSpecForReplicaSet`): the selector must select the template's pods,
/// and the pods must restart `Always`.
pub fn validate_template_for_selector(
    template: &PodTemplateSpec,
    matches: bool,
    selector_is_empty: bool,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !selector_is_empty && !matches {
        errs.push(FieldError::invalid_raw(
            &format!("{path}.metadata.labels"),
            go_map_string(&template.metadata.labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template(template, path));
    if template.spec.restart_policy != "Always" {
        errs.push(FieldError::not_supported(&format!("{path}.spec.restartPolicy"), &template.spec.restart_policy, &["Always"]));
    }
    if template.spec.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            &format!("{path}.spec.activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::object::decode_typed;

    /// Seed 000's nginx pod: two containers sharing an emptyDir.
    fn nginx_pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "nginx"},
            "spec": {
                "nodeName": "node-1",
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "volumeMounts": [{"mountPath": "/var/log/nginx", "name": "nginx-logs"}]
                    },
                    {
                        "name": "log-truncator",
                        "image": "busybox",
                        "command": ["/bin/sh"],
                        "args": ["-c", "while true; do cat /dev/null > /logdir/access.log; sleep 10; done"],
                        "volumeMounts": [{"mountPath": "/logdir", "name": "nginx-logs"}]
                    }
                ],
                "volumes": [{"name": "nginx-logs", "emptyDir": {}}]
            }
        })
    }

    fn pod_from(v: Value) -> Pod {
        let (pod, unknown) = decode_typed::<Pod>(v).expect("decodes");
        assert!(unknown.is_empty(), "unknown fields: {unknown:?}");
        pod
    }

    #[test]
    fn seed_nginx_pod_round_trips_with_only_upstreams_empty_structs_added() {
        let input = nginx_pod();
        let out = serde_json::to_value(pod_from(input.clone())).unwrap();
        // Upstream, too, writes Go's non-pointer structs: `resources: {}` and `status: {}`.
        let mut expected = input;
        expected["status"] = json!({});
        for c in expected["spec"]["containers"].as_array_mut().unwrap() {
            c["resources"] = json!({});
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn a_typo_is_reported_with_its_path() {
        let mut v = nginx_pod();
        v["spec"]["containers"][0]["imagee"] = json!("nginx");
        v["spec"]["volumes"][0]["emptyDir"]["medum"] = json!("Memory");
        let (_, unknown) = decode_typed::<Pod>(v).unwrap();
        assert_eq!(unknown, vec!["spec.containers[0].imagee", "spec.volumes[0].emptyDir.medum"]);
    }

    #[test]
    fn every_upstream_field_decodes_without_being_unknown() {
        let v: Value = serde_json::from_str(r#"{
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "full", "namespace": "default"},
            "spec": {
                "volumes": [{"name": "v", "projected": {"sources": []}}, {"name": "h", "hostPath": {"path": "/x", "type": "Directory"}}],
                "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always"}],
                "containers": [{
                    "name": "c", "image": "nginx:1.25", "command": ["a"], "args": ["b"], "workingDir": "/",
                    "ports": [{"name": "http", "containerPort": 80, "hostPort": 8080, "hostIP": "0.0.0.0", "protocol": "TCP"}],
                    "envFrom": [{"prefix": "P_", "configMapRef": {"name": "cm"}, "secretRef": {"name": "s", "optional": true}}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": 1}}},
                            {"name": "D", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                            {"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": false}}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1}, "claims": []},
                    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                    "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": true, "subPath": "x", "mountPropagation": "None", "recursiveReadOnly": "Disabled", "subPathExpr": "$(A)"}],
                    "volumeDevices": [],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "host": "h", "scheme": "HTTPS", "httpHeaders": [{"name": "X", "value": "y"}]},
                                      "initialDelaySeconds": 1, "timeoutSeconds": 2, "periodSeconds": 3, "successThreshold": 1, "failureThreshold": 5, "terminationGracePeriodSeconds": 10},
                    "readinessProbe": {"tcpSocket": {"port": 80, "host": "h"}},
                    "startupProbe": {"exec": {"command": ["true"]}, "grpc": {"port": 9000}},
                    "lifecycle": {"postStart": {"exec": {"command": ["x"]}}, "preStop": {"sleep": {"seconds": 5}}, "stopSignal": "SIGTERM"},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"privileged": false}, "stdin": false, "stdinOnce": false, "tty": false
                }],
                "ephemeralContainers": [], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "activeDeadlineSeconds": 100,
                "dnsPolicy": "ClusterFirst", "nodeSelector": {"disk": "ssd"}, "serviceAccountName": "default", "serviceAccount": "default",
                "automountServiceAccountToken": true, "nodeName": "n", "hostNetwork": false, "hostPID": false, "hostIPC": false,
                "shareProcessNamespace": false, "securityContext": {}, "imagePullSecrets": [{"name": "reg"}], "hostname": "h", "subdomain": "s",
                "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}], "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [{"key": "k", "operator": "Exists"}]}}]},
                    "podAffinity": {}, "podAntiAffinity": {}},
                "schedulerName": "default-scheduler",
                "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5}],
                "hostAliases": [], "priorityClassName": "", "priority": 0,
                "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a"], "options": [{"name": "ndots", "value": "2"}]},
                "readinessGates": [{"conditionType": "x"}], "runtimeClassName": "runc", "enableServiceLinks": true,
                "preemptionPolicy": "PreemptLowerPriority", "overhead": {}, "topologySpreadConstraints": [], "setHostnameAsFQDN": false,
                "os": {"name": "linux"}, "hostUsers": true, "schedulingGates": [], "resourceClaims": [], "resources": {}
            },
            "status": {
                "observedGeneration": 1, "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1}],
                "message": "m", "reason": "r", "nominatedNodeName": "n", "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
                "podIP": "10.1.0.2", "podIPs": [{"ip": "10.1.0.2"}], "startTime": "2025-01-01T00:00:00Z",
                "initContainerStatuses": [],
                "containerStatuses": [{"name": "c", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
                    "lastState": {"terminated": {"exitCode": 1, "signal": 9, "reason": "Error", "message": "m", "startedAt": null, "finishedAt": null, "containerID": "containerd://x"}},
                    "ready": true, "restartCount": 1, "image": "nginx:1.25", "imageID": "sha256:x", "containerID": "containerd://y", "started": true,
                    "allocatedResources": {}, "resources": {}, "volumeMounts": [], "user": {}, "allocatedResourcesStatus": [], "stopSignal": "SIGTERM"}],
                "qosClass": "Burstable", "ephemeralContainerStatuses": [], "resize": "", "resourceClaimStatuses": []
            }
        }"#).unwrap();
        let pod = pod_from(v);
        assert_eq!(pod.spec.containers[0].resources.limits["cpu"].as_str(), "1");
        assert_eq!(pod.status.container_statuses[0].restart_count, 1);
    }

    #[test]
    fn pod_defaults_follow_upstream() {
        let mut pod = pod_from(nginx_pod());
        pod.set_defaults();
        let spec = &pod.spec;
        assert_eq!(spec.restart_policy, "Always");
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.dns_policy, "ClusterFirst");
        assert_eq!(spec.scheduler_name, "default-scheduler");
        assert_eq!(spec.security_context, Some(json!({})));
        assert_eq!(spec.enable_service_links, Some(true));
        assert_eq!((spec.service_account_name.as_str(), spec.service_account.as_str()), ("default", "default"));
        assert_eq!((spec.priority, spec.preemption_policy.as_deref()), (Some(0), Some("PreemptLowerPriority")));
        let c = &spec.containers[0];
        assert_eq!(c.image_pull_policy, "Always");
        assert_eq!(c.termination_message_path, "/dev/termination-log");
        assert_eq!(c.termination_message_policy, "File");
        assert_eq!(c.ports[0].protocol, "TCP");
        let keys: Vec<_> = spec.tolerations.iter().map(|t| (t.key.as_str(), t.effect.as_str(), t.toleration_seconds)).collect();
        assert_eq!(
            keys,
            vec![("node.kubernetes.io/not-ready", "NoExecute", Some(300)), ("node.kubernetes.io/unreachable", "NoExecute", Some(300))]
        );
        // Defaulting twice changes nothing.
        let once = pod.clone();
        pod.set_defaults();
        assert_eq!(pod, once);
    }

    #[test]
    fn probes_volumes_and_requests_get_defaults() {
        let mut pod = pod_from(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c", "image": "x:1", "livenessProbe": {"httpGet": {"port": 80}},
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
                "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}, {"name": "c", "secret": {"secretName": "s"}},
                            {"name": "d", "hostPath": {"path": "/d"}}]
            }
        }));
        pod.set_defaults();
        let probe = pod.spec.containers[0].liveness_probe.as_ref().unwrap();
        assert_eq!((probe.timeout_seconds, probe.period_seconds, probe.success_threshold, probe.failure_threshold), (Some(1), Some(10), Some(1), Some(3)));
        let get = probe.http_get.as_ref().unwrap();
        assert_eq!((get.path.as_str(), get.scheme.as_str()), ("/", "HTTP"));
        let v = &pod.spec.volumes;
        assert!(v[0].empty_dir.is_some());
        assert_eq!(v[1].config_map.as_ref().unwrap().default_mode, Some(420));
        assert_eq!(v[2].secret.as_ref().unwrap().default_mode, Some(420));
        assert_eq!(v[3].host_path.as_ref().unwrap().type_.as_deref(), Some(""));
        let r = &pod.spec.containers[0].resources;
        assert_eq!(r.requests, r.limits, "requests default to limits");
        pod.prepare_for_create();
        assert_eq!((pod.status.phase.as_str(), pod.status.qos_class.as_str()), ("Pending", "Guaranteed"));
    }

    #[test]
    fn image_pull_policy_depends_on_the_tag() {
        for (image, policy) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("busybox:1.36", "IfNotPresent"),
            ("localhost:5000/x", "Always"),
            ("localhost:5000/x:v2", "IfNotPresent"),
            ("x@sha256:4b2f2bcb26a3e3d8e93ff6b2e8f7b7a0e0a0b0c0d0e0f0a1b2c3d4e5f6a7b8c9", "IfNotPresent"),
            ("x:latest@sha256:4b2f", "Always"),
        ] {
            assert_eq!(default_image_pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let spec_with = |resources: Value| -> PodSpec {
            serde_json::from_value(json!({"containers": [{"name": "c", "image": "x", "resources": resources}]})).unwrap()
        };
        for (resources, class) in [
            (json!({}), "BestEffort"),
            (json!({"requests": {"cpu": "0"}}), "BestEffort"),
            (json!({"requests": {"cpu": "100m"}}), "Burstable"),
            (json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}), "Guaranteed"),
            (json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}), "Burstable"),
            (json!({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}), "Burstable"),
        ] {
            assert_eq!(pod_qos_class(&spec_with(resources.clone())), class, "{resources}");
        }
    }

    #[test]
    fn validation_reports_upstream_fields_and_messages() {
        let messages = |v: Value| -> Vec<String> {
            let mut pod = pod_from(v);
            pod.metadata.namespace = "default".into();
            pod.set_defaults();
            pod.validate().iter().map(|e| e.to_string()).collect()
        };
        assert!(messages(nginx_pod()).is_empty());
        let cases: Vec<(Value, &str)> = vec![
            (json!({"metadata": {"name": "p"}, "spec": {}}), "spec.containers: Required value"),
            (json!({"metadata": {"name": "P"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
             "metadata.name: Invalid value: \"P\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
            (json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}), "spec.containers[0].image: Required value"),
            (json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}, {"name": "c", "image": "y"}]}}),
             "spec.containers[1].name: Duplicate value: \"c\""),
            (json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "C_1", "image": "x"}]}}),
             "spec.containers[0].name: Invalid value: \"C_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
            (json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "x"}]}}),
             "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
            (json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 70000}]}]}}),
             "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
            (json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "volumeMounts": [{"name": "logs", "mountPath": "/l"}]}]}}),
             "spec.containers[0].volumeMounts[0].name: Not found: \"logs\""),
            (json!({"metadata": {}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
             "metadata.name: Required value: name or generateName is required"),
        ];
        for (v, want) in cases {
            let got = messages(v);
            assert_eq!(got, vec![want.to_string()]);
        }
    }
}
