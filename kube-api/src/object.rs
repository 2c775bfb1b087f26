//! The [`Object`] trait every kind implements, and the typed pipeline the apiserver runs on
//! every write: decode (strictly or not) → default → validate.
//!
//! The apiserver itself handles objects as `serde_json::Value` (it stores what it accepted,
//! and most of its work — metadata, selectors, patches — does not depend on the kind). Each
//! kind's typed rules are reached through [`KindOps`], a table of plain functions built for
//! each kind by [`KindOps::of`], which the [registry](crate::registry) hands out.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::meta::ObjectMeta;
use crate::validation::FieldError;

/// A kind of object: typed, with metadata, defaulting and validation.
pub trait Object: Serialize + DeserializeOwned + Clone + Default + std::fmt::Debug + Send + Sync + 'static {
    /// The API group (`""` for core), version and kind, e.g. `("apps", "v1", "Deployment")`.
    const GROUP: &'static str;
    const VERSION: &'static str;
    const KIND: &'static str;

    fn metadata(&self) -> &ObjectMeta;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// Fill in what the user left out, as upstream's `SetDefaults_*` functions do.
    fn set_defaults(&mut self) {}

    /// Check the object; each problem is a [`FieldError`] (422 Invalid with causes).
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Check an update against the stored object (`old`): what may not change (upstream's
    /// `ValidateUpdate`, e.g. a binding's `roleRef`). Runs after [`validate`](Self::validate).
    fn validate_update(&self, _old: &Self) -> Vec<FieldError> {
        Vec::new()
    }

    /// What the apiserver resets on create (upstream's `PrepareForCreate`), e.g. the
    /// status of kinds whose status only controllers may write.
    fn prepare_for_create(&mut self) {}

    /// `apiVersion` as written in manifests: `v1` or `apps/v1`.
    fn api_version() -> String {
        if Self::GROUP.is_empty() {
            Self::VERSION.to_string()
        } else {
            format!("{}/{}", Self::GROUP, Self::VERSION)
        }
    }
}

/// How strictly a write treats fields the schema does not know (`?fieldValidation=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and answer with a warning header.
    Warn,
    /// Reject the request with 400 BadRequest.
    Strict,
}

/// Why a body could not be decoded as its kind.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The JSON does not fit the kind's schema (a string where a number is expected, ...).
    #[error("{0}")]
    Schema(String),
    /// Unknown fields under `fieldValidation=Strict`; each entry is a path like `spec.foo`.
    #[error("strict decoding error: {}", .0.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", "))]
    UnknownFields(Vec<String>),
}

/// The typed rules of one kind, as plain functions on JSON values.
#[derive(Clone, Copy)]
pub struct KindOps {
    /// Decode through the typed struct: returns the normalized value and the paths of
    /// unknown fields (dropped), or an error under `Strict`.
    pub decode: fn(Value, FieldValidation) -> Result<(Value, Vec<String>), DecodeError>,
    /// Apply upstream's defaults.
    pub default: fn(&mut Value),
    /// Reset what clients may not set on create.
    pub prepare_for_create: fn(&mut Value),
    /// Validate; an empty list means valid.
    pub validate: fn(&Value) -> Vec<FieldError>,
    /// Validate an update: `(new, old)`.
    pub validate_update: fn(&Value, &Value) -> Vec<FieldError>,
}

impl KindOps {
    /// The table of functions for kind `K`.
    pub const fn of<K: Object>() -> KindOps {
        KindOps {
            decode: decode::<K>,
            default: default_value::<K>,
            prepare_for_create: prepare_value::<K>,
            validate: validate::<K>,
            validate_update: validate_update::<K>,
        }
    }
}

/// Deserialize `value` as `K`, collecting the paths of the fields `K` does not know.
pub fn decode_typed<K: Object>(value: Value) -> Result<(K, Vec<String>), DecodeError> {
    let mut unknown = Vec::new();
    let typed: K = serde_ignored::deserialize(value, |path| unknown.push(path_to_string(&path)))
        .map_err(|e| DecodeError::Schema(e.to_string()))?;
    Ok((typed, unknown))
}

fn decode<K: Object>(value: Value, mode: FieldValidation) -> Result<(Value, Vec<String>), DecodeError> {
    let (typed, unknown) = decode_typed::<K>(value)?;
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        return Err(DecodeError::UnknownFields(unknown));
    }
    let value = serde_json::to_value(&typed).map_err(|e| DecodeError::Schema(e.to_string()))?;
    Ok((value, unknown))
}

/// Runs a typed mutation on a JSON value. Values that do not decode are left alone:
/// `decode` runs first in the apiserver and reports the problem.
fn mutate<K: Object>(value: &mut Value, f: fn(&mut K)) {
    if let Ok(mut typed) = serde_json::from_value::<K>(value.clone()) {
        f(&mut typed);
        if let Ok(v) = serde_json::to_value(&typed) {
            *value = v;
        }
    }
}

fn default_value<K: Object>(value: &mut Value) {
    mutate::<K>(value, K::set_defaults)
}

fn prepare_value<K: Object>(value: &mut Value) {
    mutate::<K>(value, K::prepare_for_create)
}

fn validate<K: Object>(value: &Value) -> Vec<FieldError> {
    match serde_json::from_value::<K>(value.clone()) {
        Ok(typed) => typed.validate(),
        Err(e) => vec![FieldError::invalid("", "", &e.to_string())],
    }
}

fn validate_update<K: Object>(new: &Value, old: &Value) -> Vec<FieldError> {
    match (serde_json::from_value::<K>(new.clone()), serde_json::from_value::<K>(old.clone())) {
        (Ok(new), Ok(old)) => new.validate_update(&old),
        // `validate` has reported an undecodable new object; an undecodable stored one has no rules to keep.
        _ => Vec::new(),
    }
}

fn path_to_string(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", path_to_string(parent)),
        Path::Map { parent, key } => {
            let p = path_to_string(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            path_to_string(parent)
        }
    }
}

/// Implements [`Object`] with no defaults and no validation beyond decoding: for kinds whose
/// rules are all in their types.
#[macro_export]
macro_rules! object_kind {
    ($ty:ident, $group:literal, $version:literal) => {
        impl $crate::Object for $ty {
            const GROUP: &'static str = $group;
            const VERSION: &'static str = $version;
            const KIND: &'static str = stringify!($ty);
            fn metadata(&self) -> &$crate::ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut $crate::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
