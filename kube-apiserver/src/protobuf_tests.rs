//! Decoding protobuf bodies: the exact bytes the real kubectl sent, and bodies built here
//! with prost-reflect from the same descriptors.

use super::*;
use prost::Message;
use serde_json::json;

/// `kubectl create deployment web --image=zwindler/vhelloworld --replicas=2` (kubectl 1.32),
/// captured on the wire.
const KUBECTL_DEPLOYMENT: &[u8] = b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment\x12\xc1\x01\x0a\x1f\x0a\x03web\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12\x8f\x01\x08\x02\x12\x0c\x0a\x0a\x0a\x03app\x12\x03web\x1au\x0a\x1c\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12U\x127\x0a\x0bvhelloworld\x12\x14zwindler/vhelloworld*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x22\x02\x0a\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00\x22\x00";

/// `kubectl create secret generic s --from-literal=p=q`.
const KUBECTL_SECRET: &[u8] = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x1d\x0a\x11\x0a\x01s\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x06\x0a\x01p\x12\x01q\x1a\x00\x1a\x00\x22\x00";

/// `kubectl create service clusterip web --tcp=80:8080`.
const KUBECTL_SERVICE: &[u8] = b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12i\x0a\x1f\x0a\x03web\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12B\x0a\x1b\x0a\x0780-8080\x12\x03TCP\x18P\x22\x07\x08\x00\x10\x90?\x1a\x00(\x00\x12\x0a\x0a\x03app\x12\x03web\x1a\x00\x22\x09ClusterIP:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";

/// Build a message from JSON-ish field values with prost-reflect, as client-go would send it.
fn message(name: &str, fields: &[(&str, PValue)]) -> DynamicMessage {
    let desc = POOL.get_message_by_name(name).unwrap_or_else(|| panic!("no message {name}"));
    let mut m = DynamicMessage::new(desc);
    for (field, value) in fields {
        m.set_field_by_name(field, value.clone());
    }
    m
}

fn msg(name: &str, fields: &[(&str, PValue)]) -> PValue {
    PValue::Message(message(name, fields))
}

fn s(v: &str) -> PValue {
    PValue::String(v.into())
}

/// Wrap an object in the `k8s\0` + runtime.Unknown envelope.
fn envelope(api_version: &str, kind: &str, object: &DynamicMessage) -> Vec<u8> {
    let unknown = message(
        UNKNOWN,
        &[
            ("typeMeta", msg("k8s.io.apimachinery.pkg.runtime.TypeMeta", &[("apiVersion", s(api_version)), ("kind", s(kind))])),
            ("raw", PValue::Bytes(object.encode_to_vec().into())),
        ],
    );
    [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
}

#[test]
fn kubectl_create_deployment_decodes_to_the_json_kubectl_would_have_sent() {
    let v = decode(KUBECTL_DEPLOYMENT).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "vhelloworld", "image": "zwindler/vhelloworld", "resources": {}}]}
                },
                "strategy": {}
            },
            "status": {}
        })
    );
    // apiVersion and kind come first, as in a manifest.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys[..2], ["apiVersion", "kind"]);
}

#[test]
fn kubectl_create_secret_data_is_base64() {
    let v = decode(KUBECTL_SECRET).unwrap();
    assert_eq!(v, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"p": "cQ=="}}));
}

#[test]
fn kubectl_create_service_target_port_is_a_number() {
    let v = decode(KUBECTL_SERVICE).unwrap();
    assert_eq!(
        v["spec"],
        json!({
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "selector": {"app": "web"},
            "type": "ClusterIP"
        })
    );
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn configmap_built_with_prost_reflect_round_trips() {
    let cm = message(
        "k8s.io.api.core.v1.ConfigMap",
        &[
            ("metadata", msg("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", &[("name", s("c")), ("namespace", s("default"))])),
            ("data", PValue::Map([(MapKey::String("a".into()), s("b")), (MapKey::String("empty".into()), s(""))].into())),
            ("binaryData", PValue::Map([(MapKey::String("bin".into()), PValue::Bytes(vec![0u8, 255].into()))].into())),
        ],
    );
    let v = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"},
            // An empty value in a map is data, not a Go zero value: it stays.
            "data": {"a": "b", "empty": ""},
            "binaryData": {"bin": "AP8="}
        })
    );
}

#[test]
fn zero_pointer_fields_survive_and_zero_value_fields_are_dropped() {
    let spec = msg(
        "k8s.io.api.apps.v1.DeploymentSpec",
        &[("replicas", PValue::I32(0)), ("minReadySeconds", PValue::I32(0)), ("paused", PValue::Bool(false))],
    );
    let d = message("k8s.io.api.apps.v1.Deployment", &[("spec", spec)]);
    let v = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(v["spec"], json!({"replicas": 0}));
}

#[test]
fn times_quantities_int_or_strings_and_inlined_structs_have_their_json_forms() {
    let time = msg("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &[("seconds", PValue::I64(1_795_789_625))]);
    let qty = |q: &str| msg(QUANTITY, &[("string", s(q))]);
    let named_port = msg(INT_OR_STRING, &[("type", PValue::I64(1)), ("strVal", s("http"))]);
    let container = msg(
        "k8s.io.api.core.v1.Container",
        &[
            ("name", s("c")),
            ("resources", msg("k8s.io.api.core.v1.ResourceRequirements", &[("limits", PValue::Map([(MapKey::String("cpu".into()), qty("500m"))].into()))])),
            (
                "readinessProbe",
                msg(
                    "k8s.io.api.core.v1.Probe",
                    &[("handler", msg("k8s.io.api.core.v1.ProbeHandler", &[("httpGet", msg("k8s.io.api.core.v1.HTTPGetAction", &[("port", named_port)]))]))],
                ),
            ),
        ],
    );
    let volume = msg(
        "k8s.io.api.core.v1.Volume",
        &[("name", s("scratch")), ("volumeSource", msg("k8s.io.api.core.v1.VolumeSource", &[("emptyDir", msg("k8s.io.api.core.v1.EmptyDirVolumeSource", &[]))]))],
    );
    let pod = message(
        "k8s.io.api.core.v1.Pod",
        &[
            ("metadata", msg("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", &[("name", s("p")), ("creationTimestamp", time)])),
            ("spec", msg("k8s.io.api.core.v1.PodSpec", &[("containers", PValue::List(vec![container])), ("volumes", PValue::List(vec![volume]))])),
        ],
    );
    let v = decode(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], "2026-11-27T14:27:05Z");
    assert_eq!(v["spec"]["containers"][0]["resources"], json!({"limits": {"cpu": "500m"}}));
    assert_eq!(v["spec"]["containers"][0]["readinessProbe"], json!({"httpGet": {"port": "http"}}));
    assert_eq!(v["spec"]["volumes"][0], json!({"name": "scratch", "emptyDir": {}}));
}

#[test]
fn micro_time_has_six_decimals() {
    let t = message(MICRO_TIME, &[("seconds", PValue::I64(1_795_789_625)), ("nanos", PValue::I32(123_456_789))]);
    assert_eq!(time_to_json(&t, true), json!("2026-11-27T14:27:05.123456Z"));
}

#[test]
fn unknown_kinds_and_fields_are_415_and_corrupt_bodies_are_400() {
    let other = message("k8s.io.api.core.v1.ConfigMap", &[]);
    let err = ApiError::from(decode(&envelope("example.com/v1", "Widget", &other)).unwrap_err());
    assert_eq!(err.code(), 415, "{err}");
    assert!(err.to_string().contains("example.com/v1 Widget"), "{err}");

    // Field 99 of ConfigMap, a varint the schema subset does not declare.
    let mut cm = message("k8s.io.api.core.v1.ConfigMap", &[]).encode_to_vec();
    cm.extend([0x98, 0x06, 0x01]);
    let body = {
        let unknown = message(
            UNKNOWN,
            &[
                ("typeMeta", msg("k8s.io.apimachinery.pkg.runtime.TypeMeta", &[("apiVersion", s("v1")), ("kind", s("ConfigMap"))])),
                ("raw", PValue::Bytes(cm.into())),
            ],
        );
        [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
    };
    let err = ApiError::from(decode(&body).unwrap_err());
    assert_eq!(err.code(), 415);
    assert!(err.to_string().contains("field 99 of k8s.io.api.core.v1.ConfigMap"), "{err}");

    for corrupt in [&b"{}"[..], b"k8s\x00\x0a\xff", &KUBECTL_DEPLOYMENT[..KUBECTL_DEPLOYMENT.len() - 20], b"k8s\x00"] {
        let err = ApiError::from(decode(corrupt).unwrap_err());
        assert_eq!(err.code(), 400, "{err}");
    }
}

#[test]
fn message_names_follow_upstream_packages() {
    assert_eq!(message_name("v1", "Pod"), "k8s.io.api.core.v1.Pod");
    assert_eq!(message_name("apps/v1", "Deployment"), "k8s.io.api.apps.v1.Deployment");
    assert_eq!(message_name("rbac.authorization.k8s.io/v1", "Role"), "k8s.io.api.rbac.v1.Role");
}
