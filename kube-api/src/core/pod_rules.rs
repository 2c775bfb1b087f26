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

/// A quantity as an integer count of 10⁻⁹ units: enough for QoS comparisons. Full
/// quantity arithmetic lives in [`crate::quantity`].
fn nano_units(q: &str) -> Option<i128> {
    let q = q.trim();
    let end = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(q.len());
    let (number, suffix) = q.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let negative = int.starts_with('-');
    let int = int.trim_start_matches(['+', '-']);
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let frac9 = format!("{:0<9}", frac.get(..frac.len().min(9))?);
    let mut value: i128 = int.parse::<i128>().unwrap_or(0) * 1_000_000_000 + frac9.parse::<i128>().ok()?;
    let (num, den): (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().ok()?;
            let p = 10i128.checked_pow(exp.unsigned_abs())?;
            if exp >= 0 {
                (p, 1)
            } else {
                (1, p)
            }
        }
        _ => return None,
    };
    value = value.checked_mul(num)? / den;
    Some(if negative { -value } else { value })
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
