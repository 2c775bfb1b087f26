//! Reading fields out of an object's JSON the way Go reads a zero-valued struct: a missing
//! field (or one of the wrong type) is `""`, `0`, an empty list or no time, never an error.
//! Paths are JSON pointers (`/status/phase`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The string at `path`, or `""`.
pub(super) fn str_<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, or `0`.
pub(super) fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// The integer at `path`, or `default` when it is not set (for fields upstream defaults,
/// such as `spec.replicas` = 1).
pub(super) fn int_or(v: &Value, path: &str, default: i64) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(default)
}

/// The list at `path`, or an empty one.
pub(super) fn arr<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    v.pointer(path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The map at `path`, if any.
pub(super) fn map<'a>(v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(path).and_then(Value::as_object)
}

/// The number of entries of the map at `path`.
pub(super) fn map_len(v: &Value, path: &str) -> usize {
    map(v, path).map_or(0, Map::len)
}

/// The RFC 3339 time at `path`; `None` when unset, `null` or unparseable (Go's zero time).
pub(super) fn time(v: &Value, path: &str) -> Option<DateTime<Utc>> {
    let s = v.pointer(path)?.as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
