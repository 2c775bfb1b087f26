//! Validation helpers shared by every kind: the [`FieldError`] type (one cause of a 422
//! Invalid answer) and upstream's name rules (DNS-1123 labels and subdomains, label keys
//! and values).

use std::fmt;

/// One problem with one field, as upstream's `field.Error`: it becomes a `StatusCause`
/// (`reason: FieldValueInvalid`, `field: spec.containers[0].name`, `message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueDuplicate`, `FieldValueForbidden`.
    pub reason: &'static str,
    /// The path of the field, e.g. `metadata.name` or `spec.containers[0].image`.
    pub field: String,
    /// The full message as upstream words it, e.g. `Required value`.
    pub message: String,
}

impl FieldError {
    pub fn required(field: &str) -> FieldError {
        FieldError { reason: "FieldValueRequired", field: field.into(), message: "Required value".into() }
    }

    /// `Invalid value: "Web": a lowercase RFC 1123 ...`
    pub fn invalid(field: &str, value: &str, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {value:?}: {detail}"),
        }
    }

    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!("Unsupported value: {value:?}: supported values: {}", list.join(", ")),
        }
    }

    pub fn duplicate(field: &str, value: &str) -> FieldError {
        FieldError { reason: "FieldValueDuplicate", field: field.into(), message: format!("Duplicate value: {value:?}") }
    }

    pub fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError { reason: "FieldValueForbidden", field: field.into(), message: format!("Forbidden: {detail}") }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
