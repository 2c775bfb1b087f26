//! `-o yaml` as kubectl writes it (Go's `yaml.v2` behind `sigs.k8s.io/yaml`): two-space
//! indentation, list items at their key's indentation, strings quoted only when they would
//! read back as something else (`"true"`, `"5"`, `"2024-01-01T00:00:00Z"`, `""`) and
//! multi-line strings as `|` blocks. Keys come sorted from the caller.

use serde_json::Value;

/// The YAML text of `value`.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_list(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    let mut first = true;
    for (k, v) in m {
        // The first key of a map that is a list item follows the `- ` on the same line.
        if !first || !out.ends_with("- ") {
            indent(out, level);
        }
        first = false;
        out.push_str(&key(k));
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_list(out, a, level);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, level + 2));
            out.push('\n');
        }
    }
}

fn write_list(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(out, m, level + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, level + 2);
            }
            other => {
                out.push_str(&scalar(other, level + 2));
                out.push('\n');
            }
        }
    }
}

fn key(k: &str) -> String {
    string(k, 0)
}

fn scalar(v: &Value, level: usize) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, level),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    }
}

fn string(s: &str, level: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| c != '\n' && c.is_control() && c != '\t') {
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        let mut out = format!("|{chomp}");
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(&mut out, level);
                out.push_str(line);
            }
        }
        return out;
    }
    if resolves_to_other_type(s) {
        return format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    }
    if plain_allowed(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Whether a plain scalar would be read back as a bool, null, number or timestamp
/// (YAML 1.1, as `yaml.v2` resolves).
fn resolves_to_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "yes", "Yes", "YES", "n",
        "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", "-.inf", ".nan", ".NaN",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    if t.parse::<f64>().is_ok() && !t.contains(char::is_alphabetic) || t.parse::<i64>().is_ok() {
        return true;
    }
    if let Some(hex) = t.strip_prefix("0x") {
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
    }
    // Timestamps: 2001-12-14, 2001-12-14T21:59:43Z, ...
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// libyaml's rules for a plain (unquoted) scalar, simplified.
fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = s.chars().nth(1);
        if !(matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ')) {
            return false;
        }
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_sit_at_their_keys_indentation_and_odd_strings_are_quoted() {
        let v = json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"run": "x"}, "name": "x"},
                       "spec": {"containers": [{"image": "nginx", "name": "x", "ports": [{"containerPort": 80}]}], "empty": {}, "list": []},
                       "data": {"flag": "true", "num": "5", "msg": "a: b", "blank": ""}});
        let want = "\
metadata:
  creationTimestamp: \"2024-01-01T00:00:00Z\"
  labels:
    run: x
  name: x
spec:
  containers:
  - image: nginx
    name: x
    ports:
    - containerPort: 80
  empty: {}
  list: []
data:
  flag: \"true\"
  num: \"5\"
  msg: 'a: b'
  blank: \"\"
";
        assert_eq!(to_yaml(&v), want);
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        let v = json!({"a": {"b": "{\"x\":1}\n"}});
        assert_eq!(to_yaml(&v), "a:\n  b: |\n    {\"x\":1}\n");
    }
}
