//! `Service` (a stable virtual IP and DNS name in front of a set of Pods) and `Endpoints`
//! (the Pod addresses behind it, kept by the endpoints controller, read by kube-proxy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use super::{IntOrString, ObjectReference};
use crate::meta::ObjectMeta;
use crate::validation::{
    is_dns1123_label, is_valid_port_name, is_valid_port_num, validate_labels, validate_object_meta, FieldError,
    NameRule,
};
use crate::Object;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
    #[serde(default)]
    pub status: ServiceStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// The Pods behind the Service; without one, Endpoints are managed by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Allocated from `--service-cluster-ip-range`, or `None` for a headless Service.
    #[serde(rename = "clusterIP", default, skip_serializing_if = "String::is_empty")]
    pub cluster_ip: String,
    #[serde(rename = "clusterIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    /// `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(rename = "externalIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    /// `None` (default) or `ClientIP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_affinity: String,
    #[serde(rename = "loadBalancerIP", default, skip_serializing_if = "String::is_empty")]
    pub load_balancer_ip: String,
    pub load_balancer_source_ranges: Option<Value>,
    /// For `ExternalName`: the DNS name the Service is a CNAME of.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// `Cluster` or `Local`, for node ports and load balancers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_traffic_policy: String,
    pub health_check_node_port: Option<i32>,
    pub publish_not_ready_addresses: Option<bool>,
    pub session_affinity_config: Option<SessionAffinityConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<String>,
    /// `SingleStack`, `PreferDualStack` or `RequireDualStack`.
    pub ip_family_policy: Option<String>,
    pub allocate_load_balancer_node_ports: Option<bool>,
    pub load_balancer_class: Option<String>,
    /// `Cluster` (default) or `Local`.
    pub internal_traffic_policy: Option<String>,
    pub traffic_distribution: Option<String>,
}

impl ServiceSpec {
    /// A headless Service has no virtual IP; DNS answers with the Pod IPs.
    pub fn is_headless(&self) -> bool {
        self.cluster_ip == "None"
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Required (a DNS-1123 label) when the Service has more than one port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub app_protocol: Option<String>,
    /// The port of the virtual IP.
    #[serde(default)]
    pub port: i32,
    /// The Pods' port: a number or the name of a container port. Defaults to `port`.
    pub target_port: Option<IntOrString>,
    /// Allocated from `--service-node-port-range` for `NodePort` and `LoadBalancer`.
    pub node_port: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinityConfig {
    #[serde(rename = "clientIP", default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIpConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientIpConfig {
    /// Defaults to 10800 (3 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Always written (`loadBalancer: {}`), as upstream's non-pointer struct.
    #[serde(default)]
    pub load_balancer: LoadBalancerStatus,
    pub conditions: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngress>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    pub ip_mode: Option<String>,
    pub ports: Option<Value>,
}

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

impl Object for Service {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Service";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// `SetDefaults_Service`, plus the single-stack IPv4 families the REST layer fills in.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.session_affinity.is_empty() {
            spec.session_affinity = "None".into();
        }
        if spec.session_affinity == "ClientIP" {
            let config = spec.session_affinity_config.get_or_insert_with(Default::default);
            let client_ip = config.client_ip.get_or_insert_with(Default::default);
            client_ip.timeout_seconds.get_or_insert(10800);
        }
        if spec.type_.is_empty() {
            spec.type_ = "ClusterIP".into();
        }
        for p in &mut spec.ports {
            if p.protocol.is_empty() {
                p.protocol = "TCP".into();
            }
            if p.target_port.as_ref().is_none_or(IntOrString::is_zero) {
                p.target_port = Some(IntOrString::Int(p.port));
            }
        }
        let external = spec.type_ == "NodePort" || spec.type_ == "LoadBalancer";
        if external && spec.external_traffic_policy.is_empty() {
            spec.external_traffic_policy = "Cluster".into();
        }
        if spec.type_ != "ExternalName" {
            spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
            if spec.ip_families.is_empty() {
                spec.ip_families = vec!["IPv4".into()];
            }
            spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
        }
        if spec.type_ == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Dns1035Label);
        let spec = &self.spec;
        if !SERVICE_TYPES.contains(&spec.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.type", &spec.type_, SERVICE_TYPES));
        }
        if spec.type_ == "ExternalName" {
            if spec.external_name.is_empty() {
                errs.push(FieldError::required("spec.externalName"));
            }
        } else if spec.ports.is_empty() && !spec.is_headless() {
            errs.push(FieldError::required("spec.ports"));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in spec.ports.iter().enumerate() {
            let pp = format!("spec.ports[{i}]");
            if spec.ports.len() > 1 && p.name.is_empty() {
                errs.push(FieldError::required(&format!("{pp}.name")));
            } else if !p.name.is_empty() {
                errs.extend(is_dns1123_label(&p.name).iter().map(|m| FieldError::invalid(&format!("{pp}.name"), &p.name, m)));
                if !names.insert(p.name.as_str()) {
                    errs.push(FieldError::duplicate(&format!("{pp}.name"), &p.name));
                }
            }
            errs.extend(is_valid_port_num(p.port.into()).iter().map(|m| FieldError::invalid_raw(&format!("{pp}.port"), p.port, m)));
            if !PROTOCOLS.contains(&p.protocol.as_str()) {
                errs.push(FieldError::not_supported(&format!("{pp}.protocol"), &p.protocol, PROTOCOLS));
            }
            match &p.target_port {
                Some(IntOrString::Int(t)) => errs.extend(
                    is_valid_port_num((*t).into())
                        .iter()
                        .map(|m| FieldError::invalid_raw(&format!("{pp}.targetPort"), t, m)),
                ),
                Some(IntOrString::String(s)) => errs.extend(
                    is_valid_port_name(s).iter().map(|m| FieldError::invalid(&format!("{pp}.targetPort"), s, m)),
                ),
                None => {}
            }
            if let Some(n) = p.node_port.filter(|n| *n != 0) {
                if spec.type_ == "ClusterIP" || spec.type_ == "ExternalName" {
                    let detail = format!("may not be used when `type` is '{}'", spec.type_);
                    errs.push(FieldError::forbidden(&format!("{pp}.nodePort"), &detail));
                } else {
                    errs.extend(is_valid_port_num(n.into()).iter().map(|m| FieldError::invalid_raw(&format!("{pp}.nodePort"), n, m)));
                }
            }
        }
        const AFFINITIES: &[&str] = &["ClientIP", "None"];
        if !AFFINITIES.contains(&spec.session_affinity.as_str()) {
            errs.push(FieldError::not_supported("spec.sessionAffinity", &spec.session_affinity, AFFINITIES));
        }
        errs.extend(validate_labels(&spec.selector, "spec.selector"));
        errs
    }

    /// Only controllers (and the load-balancer provider) write a Service's status.
    fn prepare_for_create(&mut self) {
        self.status = ServiceStatus::default();
    }
}

/// The addresses behind a Service, grouped in subsets that share the same ports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<EndpointSubset>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    /// Ready Pods: kube-proxy sends traffic to these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<EndpointAddress>,
    /// Pods that exist but are not ready (yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    #[serde(default)]
    pub ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    pub node_name: Option<String>,
    /// The Pod behind the address.
    pub target_ref: Option<ObjectReference>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub port: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub app_protocol: Option<String>,
}

impl Object for Endpoints {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Endpoints";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// `SetDefaults_EndpointPort`: protocol TCP.
    fn set_defaults(&mut self) {
        for p in self.subsets.iter_mut().flat_map(|s| s.ports.iter_mut()) {
            if p.protocol.is_empty() {
                p.protocol = "TCP".into();
            }
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        for (i, s) in self.subsets.iter().enumerate() {
            for (j, p) in s.ports.iter().enumerate() {
                let pp = format!("subsets[{i}].ports[{j}]");
                errs.extend(is_valid_port_num(p.port.into()).iter().map(|m| FieldError::invalid_raw(&format!("{pp}.port"), p.port, m)));
                if !PROTOCOLS.contains(&p.protocol.as_str()) {
                    errs.push(FieldError::not_supported(&format!("{pp}.protocol"), &p.protocol, PROTOCOLS));
                }
            }
            for (field, list) in [("addresses", &s.addresses), ("notReadyAddresses", &s.not_ready_addresses)] {
                for (j, a) in list.iter().enumerate() {
                    if a.ip.is_empty() {
                        errs.push(FieldError::required(&format!("subsets[{i}].{field}[{j}].ip")));
                    }
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::object::decode_typed;

    #[test]
    fn seed_service_defaults_as_upstream() {
        let (mut svc, unknown) = decode_typed::<Service>(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"labels": {"app": "web"}, "name": "web", "namespace": "default"},
            "spec": {"ports": [{"port": 3000, "protocol": "TCP", "targetPort": 80}, {"name": "b", "port": 81}], "selector": {"app": "web"}}
        }))
        .unwrap();
        assert!(unknown.is_empty());
        svc.spec.ports[0].name = "a".into();
        svc.set_defaults();
        svc.prepare_for_create();
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
        let v = serde_json::to_value(&svc).unwrap();
        assert_eq!(v["spec"]["type"], "ClusterIP");
        assert_eq!(v["spec"]["sessionAffinity"], "None");
        assert_eq!(v["spec"]["ports"][1], json!({"name": "b", "protocol": "TCP", "port": 81, "targetPort": 81}));
        assert_eq!(v["spec"]["internalTrafficPolicy"], "Cluster");
        assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(v["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(v["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn service_validation() {
        let errs = |v: serde_json::Value| -> Vec<String> {
            let (mut s, _) = decode_typed::<Service>(v).unwrap();
            s.set_defaults();
            s.validate().iter().map(|e| e.to_string()).collect()
        };
        assert_eq!(errs(json!({"metadata": {"name": "web", "namespace": "d"}})), vec!["spec.ports: Required value"]);
        assert!(errs(json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"clusterIP": "None"}})).is_empty());
        assert_eq!(
            errs(json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"type": "Foo", "ports": [{"port": 0}]}})),
            vec![
                "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            ]
        );
        assert_eq!(
            errs(json!({"metadata": {"name": "1web", "namespace": "d"}, "spec": {"ports": [{"port": 80}]}}))[0],
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        );
    }

    #[test]
    fn namespace_and_secret_defaults() {
        let (mut ns, _) = decode_typed::<crate::core::Namespace>(json!({"metadata": {"name": "team-a"}})).unwrap();
        ns.set_defaults();
        ns.prepare_for_create();
        assert!(ns.validate().is_empty());
        let v = serde_json::to_value(&ns).unwrap();
        assert_eq!(v["metadata"]["labels"], json!({"kubernetes.io/metadata.name": "team-a"}));
        assert_eq!(v["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(v["status"], json!({"phase": "Active"}));

        let (mut s, _) = decode_typed::<crate::core::Secret>(json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}})).unwrap();
        s.set_defaults();
        assert_eq!(serde_json::to_value(&s).unwrap(), json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}, "type": "Opaque"}));
    }
}
