//! Reading `application/vnd.kubernetes.protobuf` request bodies as the JSON objects the rest
//! of the apiserver handles.
//!
//! kubectl's imperative generators (`create deployment`, `create namespace`, `create
//! configmap`, `create secret generic`, `create service clusterip`, `create job`, `create
//! serviceaccount`, ...) build typed objects with client-go, which sends them as protobuf.
//! Answers stay JSON: client-go accepts `application/json` replies to protobuf requests.
//!
//! # The wire format
//!
//! ```text
//! "k8s\0"                       4-byte magic
//! runtime.Unknown {             k8s.io/apimachinery/pkg/runtime
//!   1: typeMeta { 1: apiVersion, 2: kind }
//!   2: raw                      the object, e.g. a k8s.io.api.apps.v1.Deployment message
//!   3: contentEncoding          always empty
//!   4: contentType              empty (or the protobuf type itself)
//! }
//! ```
//!
//! The object's message is named after its group version and kind: `apps/v1` + `Deployment`
//! is `k8s.io.api.apps.v1.Deployment`, the core group `v1` is `k8s.io.api.core.v1`. Field names
//! in the schemas are already the JSON names, so one walk over a decoded
//! [`DynamicMessage`] gives the JSON object. The schemas are `proto/k8s/` (a subset of
//! upstream's `generated.proto` files with upstream's names and numbers), compiled by
//! `build.rs` into a descriptor set that is included here.
//!
//! # From Go's encoding to JSON
//!
//! The bodies come from Go structs encoded by gogo-protobuf, and the JSON must read as if the
//! same structs had been encoded by `encoding/json`:
//! - Go *value* fields are always on the wire, zero or not (`namespace: ""`, `generation: 0`,
//!   an empty `creationTimestamp`); `encoding/json` leaves them out (`omitempty`). So a zero
//!   scalar is dropped, except for the fields in [`KEEP_ZERO`]: Go *pointer* fields, only on the
//!   wire when set, where zero means something (`replicas: 0`, `automountServiceAccountToken:
//!   false`, `runAsUser: 0`).
//! - Nested messages stay, even empty (`resources: {}`, `emptyDir: {}`), like Go structs.
//! - Embedded Go structs (`Volume.volumeSource`, `Probe.handler`, `...localObjectReference`)
//!   are inlined into their parent, as `json:",inline"` does ([`INLINE`]).
//! - Well-known messages have their own JSON: `meta.v1.Time` (RFC 3339, omitted when zero),
//!   `MicroTime` (6 decimals), `resource.Quantity` (its string), `intstr.IntOrString` (a number
//!   or a string), `runtime.RawExtension` and `FieldsV1` (the JSON they carry); `bytes` fields
//!   (`Secret.data`) become base64 strings.
//!
//! Nothing a client sent is dropped without notice: a field the schema subset does not know
//! is a 415 naming the message and field number (add it to `proto/k8s/`), and a kind without
//! a schema is a 415 too. A corrupt body is a 400.

use std::sync::LazyLock;

use base64::Engine;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, Value as PValue};
use serde_json::{Map, Number, Value};

use crate::errors::ApiError;

/// The media type of a protobuf body.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s-descriptors.bin"));

/// The compiled schemas. They are built into the binary by `build.rs`, so failing to read
/// them is a build defect, not something a request can cause.
static POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(DESCRIPTORS).expect("build.rs wrote a valid descriptor set"));

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";

/// Go pointer fields whose zero value is meaningful, as `Message.field` (`*` for any message).
/// gogo-protobuf writes them only when set, so a zero on the wire was sent on purpose.
const KEEP_ZERO: &[&str] = &[
    "DeploymentSpec.replicas",
    "ReplicaSetSpec.replicas",
    "*.revisionHistoryLimit",
    "*.progressDeadlineSeconds",
    "*.maxUnavailable",
    "*.maxSurge",
    "*.parallelism",
    "*.completions",
    "*.backoffLimit",
    "*.ttlSecondsAfterFinished",
    "*.suspend",
    "*.manualSelector",
    "*.startingDeadlineSeconds",
    "*.successfulJobsHistoryLimit",
    "*.failedJobsHistoryLimit",
    "*.terminationGracePeriodSeconds",
    "*.activeDeadlineSeconds",
    "*.automountServiceAccountToken",
    "*.shareProcessNamespace",
    "PodSpec.priority",
    "*.enableServiceLinks",
    "*.setHostnameAsFQDN",
    "*.hostUsers",
    "*.privileged",
    "*.runAsUser",
    "*.runAsGroup",
    "*.runAsNonRoot",
    "*.readOnlyRootFilesystem",
    "*.allowPrivilegeEscalation",
    "*.fsGroup",
    "*.immutable",
    "*.optional",
    "*.defaultMode",
    "*.mode",
    "*.allocateLoadBalancerNodePorts",
    "*.tolerationSeconds",
    "*.deletionGracePeriodSeconds",
    "*.controller",
    "*.blockOwnerDeletion",
    "ClientIPConfig.timeoutSeconds",
    "TokenRequestSpec.expirationSeconds",
    "*.remainingItemCount",
];

/// Fields that are embedded Go structs: their fields appear in the parent's JSON.
const INLINE: &[&str] = &["volumeSource", "handler", "localObjectReference", "persistentVolumeSource"];

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic.
    #[error("the protobuf body does not start with the Kubernetes magic bytes \"k8s\\x00\"")]
    NoMagic,
    /// The envelope or the object is not valid protobuf (or not valid for its schema).
    #[error("error decoding protobuf {what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: prost::DecodeError,
    },
    /// A `RawExtension` or `FieldsV1` does not hold JSON.
    #[error("error decoding the JSON inside protobuf field {field}: {source}")]
    EmbeddedJson {
        field: String,
        #[source]
        source: serde_json::Error,
    },
    /// The envelope names no kind.
    #[error("the protobuf body names no apiVersion and kind")]
    NoTypeMeta,
    /// The envelope's raw object is compressed or not protobuf.
    #[error("protobuf bodies with contentEncoding {encoding:?} / contentType {content_type:?} are not supported")]
    Encoding { encoding: String, content_type: String },
    /// No schema for this kind.
    #[error("protobuf bodies of {api_version} {kind} are not supported by this server (no schema for {message}); send application/json")]
    UnknownKind { api_version: String, kind: String, message: String },
    /// The body carries a field the schema subset does not declare.
    #[error("protobuf field {number} of {message} is not known to this server; send application/json, or add the field to proto/k8s")]
    UnknownField { message: String, number: u32 },
}

impl From<ProtobufError> for ApiError {
    fn from(e: ProtobufError) -> ApiError {
        match e {
            ProtobufError::UnknownKind { .. } | ProtobufError::UnknownField { .. } | ProtobufError::Encoding { .. } => {
                ApiError::UnsupportedProtobuf(e.to_string())
            }
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// Decode a protobuf request body into the JSON object it stands for, with `apiVersion`
/// and `kind` first.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let envelope = decode_message(UNKNOWN, rest, "envelope (runtime.Unknown)")?;
    let type_meta = match envelope.get_field_by_name("typeMeta").as_deref() {
        Some(PValue::Message(m)) => m.clone(),
        _ => return Err(ProtobufError::NoTypeMeta),
    };
    let api_version = string_field(&type_meta, "apiVersion");
    let kind = string_field(&type_meta, "kind");
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::NoTypeMeta);
    }
    let encoding = string_field(&envelope, "contentEncoding");
    let content_type = string_field(&envelope, "contentType");
    if !encoding.is_empty() || !(content_type.is_empty() || content_type == MEDIA_TYPE) {
        return Err(ProtobufError::Encoding { encoding, content_type });
    }
    let raw = match envelope.get_field_by_name("raw").as_deref() {
        Some(PValue::Bytes(b)) => b.clone(),
        _ => Default::default(),
    };

    let message = message_name(&api_version, &kind);
    let object = decode_message(&message, &raw, &message).map_err(|e| match e {
        ProtobufError::UnknownKind { .. } => ProtobufError::UnknownKind { api_version: api_version.clone(), kind: kind.clone(), message: message.clone() },
        other => other,
    })?;
    let Value::Object(fields) = message_to_json(&object)? else {
        unreachable!("a kind's message is never a well-known scalar type")
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    out.extend(fields);
    Ok(Value::Object(out))
}

/// `apps/v1` + `Deployment` → `k8s.io.api.apps.v1.Deployment`; `v1` → `k8s.io.api.core.v1`;
/// a DNS-style group (`rbac.authorization.k8s.io/v1`) uses its first label, as upstream's
/// packages do.
fn message_name(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("core", api_version));
    let package = group.split('.').next().unwrap_or(group);
    format!("k8s.io.api.{package}.{version}.{kind}")
}

fn decode_message(name: &str, bytes: &[u8], what: &str) -> Result<DynamicMessage, ProtobufError> {
    let desc: MessageDescriptor = POOL
        .get_message_by_name(name)
        .ok_or_else(|| ProtobufError::UnknownKind { api_version: String::new(), kind: String::new(), message: name.into() })?;
    DynamicMessage::decode(desc, bytes).map_err(|source| ProtobufError::Corrupt { what: what.into(), source })
}

fn string_field(m: &DynamicMessage, name: &str) -> String {
    match m.get_field_by_name(name).as_deref() {
        Some(PValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// One message as JSON; `None` for a zero `Time` (Go's `null`, left out).
fn message_to_json(m: &DynamicMessage) -> Result<Value, ProtobufError> {
    let desc = m.descriptor();
    if let Some(field) = m.unknown_fields().next() {
        return Err(ProtobufError::UnknownField { message: desc.full_name().into(), number: field.number() });
    }
    match desc.full_name() {
        TIME | MICRO_TIME => return Ok(time_to_json(m, desc.full_name() == MICRO_TIME)),
        QUANTITY => return Ok(Value::String(string_field(m, "string"))),
        INT_OR_STRING => {
            let int = |name| match m.get_field_by_name(name).as_deref() {
                Some(PValue::I64(v)) => *v,
                Some(PValue::I32(v)) => i64::from(*v),
                _ => 0,
            };
            return Ok(if int("type") == 1 { Value::String(string_field(m, "strVal")) } else { Value::from(int("intVal")) });
        }
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = m.fields().find_map(|(_, v)| match v {
                PValue::Bytes(b) => Some(b.clone()),
                _ => None,
            });
            return match raw {
                Some(b) if !b.is_empty() => serde_json::from_slice(&b)
                    .map_err(|source| ProtobufError::EmbeddedJson { field: desc.full_name().into(), source }),
                _ => Ok(Value::Null),
            };
        }
        _ => {}
    }

    let mut out = Map::new();
    for (field, value) in m.fields() {
        let name = field.name();
        let json = if field.is_map() {
            let PValue::Map(entries) = value else { continue };
            let mut obj = Map::new();
            for (k, v) in entries {
                obj.insert(map_key(k), value_to_json(v)?);
            }
            Value::Object(obj)
        } else if field.is_list() {
            let PValue::List(items) = value else { continue };
            Value::Array(items.iter().map(value_to_json).collect::<Result<_, _>>()?)
        } else {
            let json = value_to_json(value)?;
            if json.is_null() || (is_zero(&json) && !keeps_zero(desc.name(), name)) {
                continue;
            }
            json
        };
        match json {
            Value::Object(inner) if INLINE.contains(&name) && matches!(field.kind(), Kind::Message(_)) => out.extend(inner),
            json => {
                out.insert(name.to_string(), json);
            }
        }
    }
    Ok(Value::Object(out))
}

fn value_to_json(v: &PValue) -> Result<Value, ProtobufError> {
    Ok(match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        PValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => message_to_json(m)?,
        PValue::List(items) => Value::Array(items.iter().map(value_to_json).collect::<Result<_, _>>()?),
        PValue::Map(entries) => {
            let mut obj = Map::new();
            for (k, v) in entries {
                obj.insert(map_key(k), value_to_json(v)?);
            }
            Value::Object(obj)
        }
    })
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

/// `2026-11-27T14:13:45Z` (Time) or `2026-11-27T14:13:45.123456Z` (MicroTime); `null` for
/// the zero time, which Go encodes as an empty message.
fn time_to_json(m: &DynamicMessage, micro: bool) -> Value {
    let seconds = match m.get_field_by_name("seconds").as_deref() {
        Some(PValue::I64(s)) => *s,
        _ => 0,
    };
    let nanos = match m.get_field_by_name("nanos").as_deref() {
        Some(PValue::I32(n)) => *n,
        _ => 0,
    };
    if seconds == 0 && nanos == 0 {
        return Value::Null;
    }
    let Some(t) = chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0)) else {
        return Value::Null;
    };
    let format = if micro { "%Y-%m-%dT%H:%M:%S%.6fZ" } else { "%Y-%m-%dT%H:%M:%SZ" };
    Value::String(t.format(format).to_string())
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn keeps_zero(message: &str, field: &str) -> bool {
    KEEP_ZERO.iter().any(|entry| match entry.split_once('.') {
        Some(("*", f)) => f == field,
        Some((m, f)) => m == message && f == field,
        None => false,
    })
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
