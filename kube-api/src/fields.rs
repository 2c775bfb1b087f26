//! Field selectors: `?fieldSelector=spec.nodeName=node-1` — how a kubelet watches only its
//! own pods and `kubectl get events --field-selector involvedObject.name=web` filters events.
//!
//! Upstream: `k8s.io/apimachinery/pkg/fields`. Much simpler than label selectors: a
//! comma-separated list of `field=value`, `field==value` or `field!=value` terms, all of
//! which must hold. A value may contain `,`, `=` or `\` only escaped with a backslash
//! (`\,` `\=` `\\`). The empty string selects everything.
//!
//! Each resource supports only a few field labels (always `metadata.name` and
//! `metadata.namespace`; pods add `spec.nodeName` and `status.phase`, events
//! `involvedObject.*`, ...). That list lives in the registry of kinds; the apiserver checks
//! a selector against it with [`FieldSelector::check_supported`]. Values are read from the
//! JSON object by [`field_value`].

use std::fmt;

use serde_json::Value;

/// Why a field selector was refused. The messages are upstream's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term with no `=`, `==` or `!=` operator: `invalid selector: 'a'; can't understand 'a'`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidTerm { selector: String, term: String },
    /// A backslash followed by something other than `\`, `,` or `=` (or by nothing).
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A `,` or `=` inside a value that is not escaped with a backslash.
    #[error("invalid field selector: unescaped character in value: {0}")]
    UnescapedCharacter(char),
    /// The selector names a field label the resource does not support.
    #[error("field label not supported: {0}")]
    UnsupportedLabel(String),
}

/// How one term compares the field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` (also written `field==value`).
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a field selector, its value unescaped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field label, e.g. `spec.nodeName`.
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A parsed field selector: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector with no term: every object matches.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// `field=value`, the selector a kubelet uses for `spec.nodeName=<its node>`
    /// (upstream's `OneTermEqualSelector`).
    pub fn one_term_equal(field: &str, value: &str) -> FieldSelector {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.to_string(),
                operator: FieldOperator::Equals,
                value: value.to_string(),
            }],
        }
    }

    /// Parses `metadata.name=web,spec.nodeName!=,status.phase==Running`. Terms are sorted
    /// as upstream sorts them (by their text), which fixes the printed order.
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = split_terms(selector);
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let (field, operator, raw_value) = split_term(term).ok_or_else(|| FieldSelectorError::InvalidTerm {
                selector: selector.to_string(),
                term: term.to_string(),
            })?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape_value(raw_value)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Refuses a selector that uses a field label the resource does not support
    /// (`field label not supported: foo`). `is_supported` is usually the registry's
    /// `ResourceInfo::supports_field_label`.
    pub fn check_supported(&self, is_supported: impl Fn(&str) -> bool) -> Result<(), FieldSelectorError> {
        match self.requirements.iter().find(|r| !is_supported(&r.field)) {
            Some(r) => Err(FieldSelectorError::UnsupportedLabel(r.field.clone())),
            None => Ok(()),
        }
    }

    /// Whether the object satisfies every term; values are read by [`field_value`].
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let equal = field_value(object, &r.field) == r.value;
            match r.operator {
                FieldOperator::Equals => equal,
                FieldOperator::NotEquals => !equal,
            }
        })
    }

    /// The value an `=` term requires of `field`, if there is one: which node a
    /// `spec.nodeName=node-1` watch is about (upstream's `RequiresExactMatch`).
    pub fn single_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical form: `field=value` and `field!=value` terms (`==` printed as `=`),
    /// values escaped again, joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            let operator = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            let separator = if i > 0 { "," } else { "" };
            write!(f, "{separator}{}{operator}{}", r.field, escape_value(&r.value))?;
        }
        Ok(())
    }
}

/// The value of a field label on a JSON object, as the apiserver compares it: the dotted
/// path is followed from the top (`status.phase` → `object["status"]["phase"]`); a missing
/// field or `null` reads as "" (so `spec.nodeName=` selects unscheduled pods); booleans read
/// as `true`/`false` and numbers in decimal.
///
/// One label is not a path: an Event's `source` means `source.component`, as upstream's
/// event field set defines it.
pub fn field_value(object: &Value, label: &str) -> String {
    let path = if label == "source" { "source.component" } else { label };
    let mut current = object;
    for step in path.split('.') {
        match current.get(step) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Escapes `\`, `,` and `=` in a value so that it can be written in a selector.
pub fn escape_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Undoes [`escape_value`]; an unknown escape or a bare `,` or `=` is an error.
pub fn unescape_value(raw: &str) -> Result<String, FieldSelectorError> {
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('\\' | ',' | '=')) => value.push(escaped),
                Some(other) => return Err(FieldSelectorError::InvalidEscape(format!("\\{other}"))),
                None => return Err(FieldSelectorError::InvalidEscape("\\".into())),
            },
            ',' | '=' => return Err(FieldSelectorError::UnescapedCharacter(c)),
            other => value.push(other),
        }
    }
    Ok(value)
}

/// Splits at commas that are not escaped; the escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut after_backslash = false;
    for (i, c) in selector.char_indices() {
        match c {
            _ if after_backslash => after_backslash = false,
            '\\' => after_backslash = true,
            ',' => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Cuts a term at its first operator. `!=` and `==` are tried before `=` at each position,
/// so that `a==b` does not leave `=b` as the value. The field part has no escaping.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] =
        [("!=", FieldOperator::NotEquals), ("==", FieldOperator::Equals), ("=", FieldOperator::Equals)];
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS
            .iter()
            .find(|(text, _)| rest.starts_with(text))
            .map(|(text, operator)| (&term[..i], *operator, &rest[text.len()..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_parse_and_print_canonically() {
        let cases = [
            ("", ""),
            ("metadata.name=web", "metadata.name=web"),
            ("status.phase==Running", "status.phase=Running"),
            ("spec.nodeName!=", "spec.nodeName!="),
            (
                "metadata.name=web,spec.nodeName!=,status.phase==Running",
                "metadata.name=web,spec.nodeName!=,status.phase=Running",
            ),
            ("b=1,a=2", "a=2,b=1"),
            ("a=1,,b=2", "a=1,b=2"),
            (r"a=x\,y\=z\\w", r"a=x\,y\=z\\w"),
        ];
        for (input, canonical) in cases {
            let selector = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(selector.to_string(), canonical, "input {input:?}");
        }
        let escaped = FieldSelector::parse(r"a=x\,y\=z").expect("valid");
        assert_eq!(escaped.requirements()[0].value, "x,y=z");
    }

    #[test]
    fn malformed_selectors_get_upstreams_messages() {
        let cases = [
            ("a", "invalid selector: 'a'; can't understand 'a'"),
            ("x=1,a>1", "invalid selector: 'x=1,a>1'; can't understand 'a>1'"),
            ("a=b=c", "invalid field selector: unescaped character in value: ="),
            (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
            (r"a=b\", r"invalid field selector: invalid escape sequence: \"),
        ];
        for (input, message) in cases {
            assert_eq!(FieldSelector::parse(input).map(|s| s.to_string()).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn unsupported_field_labels_are_named() {
        let selector = FieldSelector::parse("metadata.name=a,foo=b").expect("valid");
        let supported = |label: &str| label.starts_with("metadata.");
        assert_eq!(
            selector.check_supported(supported).map_err(|e| e.to_string()),
            Err("field label not supported: foo".to_string())
        );
        assert!(FieldSelector::parse("metadata.name=a").expect("valid").check_supported(supported).is_ok());
    }

    #[test]
    fn matching_reads_fields_by_dotted_path() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": []},
            "status": {"phase": "Pending"},
        });
        let cases = [
            ("", true),
            ("metadata.name=web", true),
            ("metadata.name!=web", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("spec.nodeName=node-1", false),
            ("status.phase=Pending,metadata.namespace=default", true),
            ("status.phase=Running", false),
        ];
        for (selector, expected) in cases {
            let parsed = FieldSelector::parse(selector).expect("valid");
            assert_eq!(parsed.matches(&pod), expected, "selector {selector:?}");
        }
    }

    #[test]
    fn booleans_numbers_and_event_sources_read_as_upstream() {
        let node = json!({"spec": {"unschedulable": true}});
        assert_eq!(field_value(&node, "spec.unschedulable"), "true");
        let job = json!({"status": {"successful": 3}});
        assert_eq!(field_value(&job, "status.successful"), "3");
        let event = json!({"source": {"component": "kubelet", "host": "node-1"}, "type": "Normal"});
        assert_eq!(field_value(&event, "source"), "kubelet");
        assert_eq!(field_value(&event, "type"), "Normal");
        assert_eq!(field_value(&event, "involvedObject.name"), "");
    }

    #[test]
    fn single_value_finds_an_equality_term() {
        let selector = FieldSelector::parse("spec.nodeName=node-1,status.phase!=Failed").expect("valid");
        assert_eq!(selector.single_value("spec.nodeName"), Some("node-1"));
        assert_eq!(selector.single_value("status.phase"), None);
        assert_eq!(FieldSelector::one_term_equal("spec.nodeName", "n").single_value("spec.nodeName"), Some("n"));
    }
}
