//! Label selectors: which objects a controller, a Service or `kubectl get -l` is about.
//!
//! Upstream: `k8s.io/apimachinery/pkg/labels` (the selector, its string form and its parser)
//! and `metav1.LabelSelectorAsSelector` (the `{matchLabels, matchExpressions}` shape).
//!
//! A [`Selector`] is a list of [`Requirement`]s that must all hold ("AND"). It comes from
//! three places, and each has its own constructor:
//!
//! | where it is written                               | constructor                              |
//! |---------------------------------------------------|------------------------------------------|
//! | `?labelSelector=app=web,tier!=db`, `kubectl -l`   | [`Selector::parse`]                      |
//! | `spec.selector` of Deployments, ReplicaSets, Jobs | [`Selector::from_label_selector_json`]   |
//! | `spec.selector` of Services and RCs (a plain map) | [`Selector::from_map`]                   |
//!
//! Two selectors look alike but mean opposite things, exactly as upstream:
//! [`Selector::everything`] (an empty selector, `{}`: no requirement, so every object
//! matches) and [`Selector::nothing`] (an *absent* selector: no object matches). A Deployment
//! whose `spec.selector` is `{}` would adopt every pod of its namespace; one whose selector
//! is missing adopts none.
//!
//! The grammar of the string form, as upstream's parser accepts it:
//!
//! ```text
//! selector    = requirement { "," requirement }      (or the empty string: everything)
//! requirement = [ "!" ] KEY                          (exists / does not exist)
//!             | KEY ( "=" | "==" | "!=" ) VALUE
//!             | KEY ( "in" | "notin" ) "(" VALUE { "," VALUE } ")"
//!             | KEY ( ">" | "<" ) INTEGER
//! ```
//!
//! Whitespace separates tokens and is otherwise ignored. `in` and `notin` are keywords only
//! where an operator is expected, so a label may still be called `in`.
//!
//! Layout: the lexer and parser are in `labels/parser.rs`; the rules for keys and values
//! ([`check_key`], [`check_value`]) are at the end of this file.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

mod parser;

/// Why a label selector could not be built. The messages are upstream's, so that
/// `kubectl` users see the words they know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The string form did not follow the grammar, e.g. `found ',', expected: identifier
    /// after ','`. Problems inside one requirement are prefixed with `unable to parse
    /// requirement: `, as upstream does.
    #[error("{0}")]
    Syntax(String),
    /// A requirement is well formed but invalid: a bad key or value, or the wrong number of
    /// values for its operator (upstream's `NewRequirement` checks).
    #[error("{0}")]
    InvalidRequirement(String),
    /// A `matchExpressions` entry names an operator other than In, NotIn, Exists and
    /// DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// The JSON given as a `metav1.LabelSelector` does not have its shape (e.g. a
    /// `matchLabels` value that is not a string).
    #[error("invalid label selector: {0}")]
    Malformed(String),
}

/// How a requirement compares a label's value (upstream's `selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`: the label exists and has this value.
    Equals,
    /// `key==value`: the same as `Equals`, kept apart so it prints back as written.
    DoubleEquals,
    /// `key!=value`: the label is missing or has another value.
    NotEquals,
    /// `key in (a,b)`: the label exists and has one of the values.
    In,
    /// `key notin (a,b)`: the label is missing or has none of the values.
    NotIn,
    /// `key`: the label exists, whatever its value.
    Exists,
    /// `!key`: the label does not exist.
    DoesNotExist,
    /// `key>1`: the label's value is an integer greater than this one.
    Gt,
    /// `key<1`: the label's value is an integer smaller than this one.
    Lt,
}

/// One condition on one label key. Build it with [`Requirement::new`], which checks it as
/// upstream's `NewRequirement` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and without duplicates, so that printing and comparing are deterministic.
    values: Vec<String>,
}

/// A set of requirements that must all hold. See the module documentation for where
/// selectors come from and for the difference between "everything" and "nothing".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Sorted by key (stable, so requirements on one key keep their order), as upstream.
    requirements: Vec<Requirement>,
    /// True only for [`Selector::nothing`]: the selector that matches no object at all.
    matches_nothing: bool,
}

impl Requirement {
    /// Checks and builds a requirement: the key must be a qualified name, every value a
    /// valid label value, and the number of values must suit the operator (one for `=`,
    /// `!=`, `>` and `<`; at least one for `in` and `notin`; none for exists).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let mut errors = Vec::new();
        if let Err(detail) = check_key(key) {
            errors.push(invalid("key", &format!("{key:?}"), &detail));
        }
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::Gt | Operator::Lt if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(detail) = count_error {
            errors.push(invalid("values", &go_string_slice(&values), detail));
        }
        for (i, value) in values.iter().enumerate() {
            if matches!(operator, Operator::Gt | Operator::Lt) && value.parse::<i64>().is_err() {
                let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                errors.push(invalid(&format!("values[{i}]"), &format!("{value:?}"), detail));
            }
            if let Err(detail) = check_value(value) {
                errors.push(invalid(&format!("values[{i}][{key}]"), &format!("{value:?}"), &detail));
            }
        }
        if !errors.is_empty() {
            return Err(SelectorError::InvalidRequirement(aggregate(errors)));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement { key: key.to_string(), operator, values })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted. Empty for `Exists` and `DoesNotExist`.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a set of labels satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let listed = |v: &String| self.values.contains(v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                // Both sides must be integers; a label that is not one never matches.
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// The canonical string form: `a=b`, `a!=b`, `a in (b,c)`, `!a`, `a>1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.join(",");
        let key = &self.key;
        match self.operator {
            Operator::Equals => write!(f, "{key}={values}"),
            Operator::DoubleEquals => write!(f, "{key}=={values}"),
            Operator::NotEquals => write!(f, "{key}!={values}"),
            Operator::In => write!(f, "{key} in ({values})"),
            Operator::NotIn => write!(f, "{key} notin ({values})"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Gt => write!(f, "{key}>{values}"),
            Operator::Lt => write!(f, "{key}<{values}"),
        }
    }
}

impl Selector {
    /// The selector with no requirement: every object matches (upstream's `Everything()`,
    /// also what an empty `{}` LabelSelector means).
    pub fn everything() -> Selector {
        Selector { requirements: Vec::new(), matches_nothing: false }
    }

    /// The selector no object matches (upstream's `Nothing()`, what an absent LabelSelector
    /// means). It prints as the empty string, as upstream's does.
    pub fn nothing() -> Selector {
        Selector { requirements: Vec::new(), matches_nothing: true }
    }

    /// A selector from already checked requirements, sorted by key.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements, matches_nothing: false }
    }

    /// Parses the string form (`?labelSelector=`, `kubectl -l`). The empty string selects
    /// everything.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        Ok(Selector::from_requirements(parser::parse(text)?))
    }

    /// Equality on every entry of a map: the selector of a Service or a
    /// ReplicationController. An empty map selects everything (upstream's
    /// `SelectorFromSet`); callers for which an empty selector means "none" must check.
    pub fn from_map(labels: &BTreeMap<String, String>) -> Selector {
        let requirements = labels
            .iter()
            .map(|(key, value)| Requirement {
                key: key.clone(),
                operator: Operator::Equals,
                values: vec![value.clone()],
            })
            .collect();
        Selector::from_requirements(requirements)
    }

    /// Reads a `metav1.LabelSelector` (`{matchLabels: {...}, matchExpressions: [{key,
    /// operator, values}]}`). `null` (an absent selector) selects nothing; `{}` selects
    /// everything. Pass `&Value::Null` when the field is missing.
    pub fn from_label_selector_json(selector: &Value) -> Result<Selector, SelectorError> {
        let object = match selector {
            Value::Null => return Ok(Selector::nothing()),
            Value::Object(object) => object,
            other => return Err(SelectorError::Malformed(format!("expected an object, found {other}"))),
        };
        let mut requirements = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Value::String(value) = value else {
                        return Err(SelectorError::Malformed(format!("matchLabels.{key} must be a string")));
                    };
                    requirements.push(Requirement::new(key, Operator::Equals, vec![value.clone()])?);
                }
            }
            Some(_) => return Err(SelectorError::Malformed("matchLabels must be an object".into())),
        }
        let expressions = match object.get("matchExpressions") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(expressions)) => expressions,
            Some(_) => return Err(SelectorError::Malformed("matchExpressions must be a list".into())),
        };
        for expression in expressions {
            requirements.push(requirement_from_expression(expression)?);
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matches_nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// [`matches`](Self::matches) on the `metadata.labels` of a JSON object (missing labels
    /// are an empty set; a label whose value is not a string is ignored).
    pub fn matches_value(&self, object: &Value) -> bool {
        let labels: BTreeMap<String, String> = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|labels| labels.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
            .unwrap_or_default();
        self.matches(&labels)
    }

    /// True for the selector with no requirement (everything); false for
    /// [`Selector::nothing`], as upstream's `Empty()`.
    pub fn is_empty(&self) -> bool {
        !self.matches_nothing && self.requirements.is_empty()
    }

    /// True only for [`Selector::nothing`].
    pub fn matches_nothing(&self) -> bool {
        self.matches_nothing
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The one value a label must have for a match, if the selector pins it (`key=v`,
    /// `key==v` or `key in (v)`), as upstream's `RequiresExactMatch`.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let requirement = self.requirements.iter().find(|r| r.key == key)?;
        match (requirement.operator, requirement.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical string form, requirements sorted by key and joined by commas:
    /// `app=web,tier in (back,front)`. Both everything and nothing print as "".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

/// One `matchExpressions` entry: `{key, operator: In|NotIn|Exists|DoesNotExist, values}`.
fn requirement_from_expression(expression: &Value) -> Result<Requirement, SelectorError> {
    let field = |name: &str| expression.get(name).and_then(Value::as_str).unwrap_or_default();
    let operator = match field("operator") {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => return Err(SelectorError::UnknownOperator(other.to_string())),
    };
    let values = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| SelectorError::Malformed("matchExpressions values must be strings".into()))?,
        Some(_) => return Err(SelectorError::Malformed("matchExpressions values must be a list".into())),
    };
    Requirement::new(field("key"), operator, values)
}

// ---------------------------------------------------------------------------------------
// Label key and value rules (upstream's `validation.IsQualifiedName` and
// `IsValidLabelValue`), with upstream's wording, double spaces included.
// ---------------------------------------------------------------------------------------

const NAME_PART_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at most
/// 63 characters (`app`, `app.kubernetes.io/name`). The error lists every problem.
pub fn check_key(key: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    let name = match key.split('/').collect::<Vec<_>>().as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else if prefix.len() > 253 {
                errors.push("prefix part must be no more than 253 characters".to_string());
            } else if !is_dns1123_subdomain(prefix) {
                errors.push(format!("prefix part {SUBDOMAIN_MESSAGE}"));
            }
            *name
        }
        _ => {
            return Err(format!(
                "a qualified name {NAME_PART_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ))
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name_part(name) {
        errors.push(format!("name part {NAME_PART_MESSAGE}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Checks a label value: empty, or at most 63 characters of `[-A-Za-z0-9_.]` starting and
/// ending with a letter or digit.
pub fn check_value(value: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(VALUE_MESSAGE.to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    name.starts_with(alnum) && name.ends_with(alnum) && name.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// Dot-separated labels of `[a-z0-9]`, with inner `-`, as `example.com`.
fn is_dns1123_subdomain(name: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.split('.').all(|label| {
        label.starts_with(lower_alnum)
            && label.ends_with(lower_alnum)
            && label.chars().all(|c| lower_alnum(c) || c == '-')
    })
}

/// Upstream's `field.Invalid(path, value, detail).Error()`.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value}: {detail}")
}

/// How Go's `%#v` prints a `[]string`, which upstream's messages show.
fn go_string_slice(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Upstream's error aggregate: one message alone, several as `[a, b]` without repeats.
fn aggregate(mut errors: Vec<String>) -> String {
    errors.dedup();
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_string_form_parses_and_prints_canonically_sorted_by_key() {
        let cases = [
            ("", ""),
            ("   ", ""),
            ("x=a", "x=a"),
            ("x==a", "x==a"),
            ("x!=a", "x!=a"),
            ("y=b,x=a", "x=a,y=b"),
            ("  x  =  a  ,  y != b ", "x=a,y!=b"),
            ("x in (c,a,b)", "x in (a,b,c)"),
            ("x notin (a)", "x notin (a)"),
            ("x in (a,a)", "x in (a)"),
            ("x in ()", "x in ()"),
            ("x in (a,)", "x in (,a)"),
            ("x", "x"),
            ("!x", "!x"),
            ("! x", "!x"),
            ("x>1,y<2", "x>1,y<2"),
            ("x=", "x="),
            ("x=,y=b", "x=,y=b"),
            ("in=notin", "in=notin"),
            ("x in (in,notin)", "x in (in,notin)"),
            ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
            ("a=b,c!=d,e in (f,g),h notin (i),j,!k", "a=b,c!=d,e in (f,g),h notin (i),j,!k"),
        ];
        for (input, canonical) in cases {
            let selector = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(selector.to_string(), canonical, "input {input:?}");
        }
    }

    #[test]
    fn malformed_selectors_get_upstreams_messages() {
        let cases = [
            ("x=a,", "found '', expected: identifier after ','"),
            (",x=a", "found ',', expected: !, identifier, or 'end of string'"),
            ("!", "unable to parse requirement: found '', expected: identifier"),
            ("x=a y=b", "found 'y', expected: ',' or 'end of string'"),
            ("x in a", "unable to parse requirement: found 'a' expected: '('"),
            ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
            ("x (a)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
            ("x=(", "unable to parse requirement: found '(', expected: identifier"),
            ("x>a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"),
        ];
        for (input, message) in cases {
            match Selector::parse(input) {
                Ok(s) => panic!("{input:?} parsed as {s}"),
                Err(e) => assert_eq!(e.to_string(), message, "input {input:?}"),
            }
        }
    }

    #[test]
    fn invalid_keys_and_values_are_rejected_with_the_rule_they_break() {
        let error = Selector::parse("-x=a").map(|s| s.to_string()).unwrap_err().to_string();
        assert!(
            error.starts_with("unable to parse requirement: <nil>: Invalid value: \"-x\": name part must consist"),
            "{error}"
        );
        let error = Selector::parse("x=-a").map(|s| s.to_string()).unwrap_err().to_string();
        assert!(
            error.starts_with("unable to parse requirement: values[0][x]: Invalid value: \"-a\": a valid label"),
            "{error}"
        );
        let error = Selector::parse("Example.com/x").map(|s| s.to_string()).unwrap_err().to_string();
        assert!(error.contains("prefix part a lowercase RFC 1123 subdomain"), "{error}");
        assert!(Selector::parse(&format!("x={}", "a".repeat(64))).is_err());
        assert!(Selector::parse("a/b/c").is_err());
    }

    #[test]
    fn matching_follows_each_operator() {
        let set = labels(&[("app", "web"), ("tier", "front"), ("replicas", "3")]);
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("missing in (x)", false),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!app", false),
            ("!missing", true),
            ("replicas>2", true),
            ("replicas<3", false),
            ("app>1", false),
            ("missing<1", false),
            ("app=web,tier=back", false),
        ];
        for (selector, expected) in cases {
            let parsed = Selector::parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
            assert_eq!(parsed.matches(&set), expected, "selector {selector:?}");
        }
    }

    #[test]
    fn an_empty_label_selector_matches_everything_and_an_absent_one_nothing() {
        let set = labels(&[("app", "web")]);
        let empty = Selector::from_label_selector_json(&json!({})).expect("{} is valid");
        assert!(empty.is_empty() && empty.matches(&set) && empty.matches(&BTreeMap::new()));
        let absent = Selector::from_label_selector_json(&Value::Null).expect("null is valid");
        assert!(!absent.is_empty() && absent.matches_nothing());
        assert!(!absent.matches(&set) && !absent.matches(&BTreeMap::new()));
        assert_eq!(absent.to_string(), "");
    }

    #[test]
    fn match_labels_and_match_expressions_combine() {
        let selector = Selector::from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }))
        .expect("valid selector");
        assert_eq!(selector.to_string(), "app=web,!canary,tier in (back,front)");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "back")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "back"), ("canary", "1")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn bad_match_expressions_are_errors() {
        let unknown = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(
            Selector::from_label_selector_json(&unknown).map(|s| s.to_string()),
            Err(SelectorError::UnknownOperator("Gt".into()))
        );
        let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        let error = Selector::from_label_selector_json(&empty_in).map(|s| s.to_string()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        let not_string = json!({"matchLabels": {"a": 1}});
        assert!(matches!(Selector::from_label_selector_json(&not_string), Err(SelectorError::Malformed(_))));
    }

    #[test]
    fn a_map_selector_requires_every_entry() {
        let selector = Selector::from_map(&labels(&[("tier", "front"), ("app", "web")]));
        assert_eq!(selector.to_string(), "app=web,tier=front");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
        assert!(Selector::from_map(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn matches_value_reads_metadata_labels() {
        let selector = Selector::parse("app=web").expect("valid");
        assert!(selector.matches_value(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!selector.matches_value(&json!({"metadata": {"name": "x"}})));
        assert!(Selector::everything().matches_value(&json!({})));
    }

    #[test]
    fn exact_matches_are_reported_for_equality_and_single_value_sets() {
        let selector = Selector::parse("a=1,b in (2),c in (3,4),d!=5").expect("valid");
        assert_eq!(selector.requires_exact_match("a"), Some("1"));
        assert_eq!(selector.requires_exact_match("b"), Some("2"));
        assert_eq!(selector.requires_exact_match("c"), None);
        assert_eq!(selector.requires_exact_match("d"), None);
        assert_eq!(selector.requires_exact_match("e"), None);
    }
}
