//! The subset of kubectl's JSONPath templates (`-o jsonpath=...`) that everyday use needs:
//!
//! - fields `{.metadata.name}`, quoted keys `{.metadata.labels['app']}`;
//! - list items `{.items[0]}`, `{.items[*].metadata.name}`, `{.items[-1]}`;
//! - filters `{.status.addresses[?(@.type=="InternalIP")].address}`;
//! - `{range .items[*]}...{end}` and string literals `{"\n"}`;
//! - text outside braces is printed as is.
//!
//! As in kubectl: several results of one expression are joined by spaces, a missing key
//! prints nothing, and maps and lists print as compact JSON.

use serde_json::Value;

use crate::error::{usage, Result};

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `[3]`, `[-1]`.
    Index(i64),
    /// `[*]` or `.*`.
    All,
    /// `[?(@.a.b == "x")]`; `None` value: the field exists.
    Filter(Vec<Step>, Option<(bool, Value)>),
}

impl JsonPath {
    /// Parses a template; kubectl accepts `{.a}` and, for convenience, `.a` alone.
    pub fn parse(template: &str) -> Result<JsonPath> {
        let bad = |why: &str| usage(format!("error parsing jsonpath {template}, {why}"));
        let mut items = Vec::new(); // (is_action, text)
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = find_close(rest).ok_or_else(|| bad("unclosed action"))?;
                    items.push((true, rest[1..end].trim().to_string()));
                    rest = &rest[end + 1..];
                }
                Some(i) => {
                    items.push((false, rest[..i].to_string()));
                    rest = &rest[i..];
                }
                None => {
                    items.push((false, rest.to_string()));
                    rest = "";
                }
            }
        }
        if items.len() == 1 && !items[0].0 && items[0].1.starts_with('.') {
            items[0].0 = true; // `-o jsonpath=.metadata.name`
        }
        let mut iter = items.into_iter();
        let nodes = parse_nodes(&mut iter, false).map_err(|e| bad(&e))?;
        Ok(JsonPath { nodes })
    }

    /// The text of the template applied to `data`.
    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.nodes, data, &mut out);
        Ok(out)
    }
}

/// The index of the `}` closing the action at the start of `s`, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

fn parse_nodes(items: &mut impl Iterator<Item = (bool, String)>, in_range: bool) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    while let Some((action, text)) = items.next() {
        if !action {
            nodes.push(Node::Text(text));
        } else if text == "end" {
            return if in_range { Ok(nodes) } else { Err("not in range, nothing to end".into()) };
        } else if let Some(path) = text.strip_prefix("range ") {
            let steps = parse_path(path.trim())?;
            let body = parse_nodes(items, true)?;
            nodes.push(Node::Range(steps, body));
        } else if text.starts_with('"') || text.starts_with('\'') {
            nodes.push(Node::Text(unquote(&text)?));
        } else {
            nodes.push(Node::Path(parse_path(&text)?));
        }
    }
    if in_range {
        return Err("unclosed range".into());
    }
    Ok(nodes)
}

fn unquote(text: &str) -> Result<String, String> {
    let q = text.chars().next().unwrap_or('"');
    let inner = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)).ok_or("unterminated string")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_path(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let s = text.trim_start_matches(['$', '@']);
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i] != '.' && b[i] != '[' {
                    i += 1;
                }
                let name: String = b[start..i].iter().collect();
                match name.as_str() {
                    "" => {}
                    "*" => steps.push(Step::All),
                    _ => steps.push(Step::Field(name)),
                }
            }
            '[' => {
                let close = matching_bracket(&b, i).ok_or("unterminated array")?;
                let inner: String = b[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c => return Err(format!("unrecognized character in action: {c:?}")),
        }
    }
    Ok(steps)
}

fn matching_bracket(b: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '[' => depth += 1,
            None if c == ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            None => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::All);
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        return Ok(Step::Field(unquote(inner)?));
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        for (op, equal) in [("==", true), ("!=", false)] {
            if let Some((left, right)) = filter.split_once(op) {
                let right = right.trim();
                let value = if right.starts_with('"') || right.starts_with('\'') {
                    Value::String(unquote(right)?)
                } else {
                    serde_json::from_str(right).map_err(|_| format!("unrecognized filter value {right}"))?
                };
                return Ok(Step::Filter(parse_path(left.trim())?, Some((equal, value))));
            }
        }
        return Ok(Step::Filter(parse_path(filter.trim())?, None));
    }
    inner.parse::<i64>().map(Step::Index).map_err(|_| format!("invalid array index {inner}"))
}

fn eval<'a>(steps: &[Step], data: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![data];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Field(name) => next.extend(v.get(name.as_str())),
                Step::Index(i) => {
                    if let Some(a) = v.as_array() {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(idx).ok().and_then(|i| a.get(i)));
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(path, test) => {
                    for item in v.as_array().into_iter().flatten() {
                        let found = eval(path, item);
                        let keep = match test {
                            None => !found.is_empty(),
                            Some((equal, want)) => found.contains(&want) == *equal,
                        };
                        if keep {
                            next.push(item);
                        }
                    }
                }
            }
        }
        current = next;
    }
    current
}

fn render(nodes: &[Node], data: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(steps) => {
                let texts: Vec<String> = eval(steps, data).into_iter().map(text).collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range(steps, body) => {
                for item in eval(steps, data) {
                    render(body, item, out);
                }
            }
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(template: &str, data: &Value) -> String {
        JsonPath::parse(template).unwrap().render(data).unwrap()
    }

    #[test]
    fn the_everyday_templates_print_what_kubectl_prints() {
        let list = json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app": "web"}}, "status": {"addresses": [
                {"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"}]}},
            {"metadata": {"name": "b"}, "spec": {"replicas": 3}}]});
        let cases = [
            ("{.items[*].metadata.name}", "a b"),
            ("{.items[0].metadata.name}", "a"),
            ("{.items[-1].spec.replicas}", "3"),
            ("{.items[0].metadata.labels}", "{\"app\":\"web\"}"),
            ("{.items[0].metadata.labels['app']}", "web"),
            ("{.items[0].status.addresses[?(@.type==\"InternalIP\")].address}", "10.0.0.1"),
            ("{range .items[*]}{.metadata.name}{\"\\n\"}{end}", "a\nb\n"),
            ("names: {.items[*].metadata.name}!", "names: a b!"),
            ("{.items[*].missing}", ""),
            ("{.kind}", "List"),
        ];
        for (template, want) in cases {
            assert_eq!(run(template, &list), want, "{template}");
        }
    }

    #[test]
    fn broken_templates_are_errors() {
        for t in ["{.a", "{range .items[*]}{.x}", "{end}", "{.a[x]}"] {
            assert!(JsonPath::parse(t).is_err(), "{t}");
        }
    }
}
