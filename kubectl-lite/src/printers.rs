//! Everything `-o` means, and the tables `kubectl get` prints.
//!
//! Tables: the apiserver computes the cells (a `meta.k8s.io/v1` `Table`, see
//! `kube_api::table`); the client only lays them out, like upstream's `printers` package:
//! column names upper-cased, priority-1 columns only with `-o wide`, a `NAMESPACE` column
//! first with `-A`, a `LABELS` column last with `--show-labels`, `kind/name` in the `NAME`
//! column when several kinds are printed. Layout is Go's `text/tabwriter` as kubectl
//! configures it (minimum width 6, padding 3, widths remembered across flushes so that the
//! rows of `get -w` stay aligned with the header).
//!
//! Objects: `yaml` and `json` print keys sorted, as Go's encoders do; `name` prints
//! `pod/nginx`; `jsonpath=` runs a [`crate::jsonpath`] template.

mod tabwriter;
mod yaml;

use std::collections::BTreeMap;

use kube_api::ResourceInfo;
use serde_json::{json, Map, Value};

use crate::error::{usage, Result};
use crate::jsonpath::JsonPath;

pub use tabwriter::TabWriter;
pub use yaml::to_yaml;

/// What `-o` asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The human-readable table (no `-o`, or `-o wide` with `wide: true`).
    Table { wide: bool },
    Yaml,
    Json,
    Name,
    JsonPath(JsonPath),
}

impl Output {
    /// Parses `-o`'s value; `None` is the default table.
    pub fn parse(flag: Option<&str>) -> Result<Output> {
        Ok(match flag {
            None | Some("") => Output::Table { wide: false },
            Some("wide") => Output::Table { wide: true },
            Some("yaml") => Output::Yaml,
            Some("json") => Output::Json,
            Some("name") => Output::Name,
            Some(other) => match other.split_once('=') {
                Some(("jsonpath", template)) => Output::JsonPath(JsonPath::parse(template)?),
                _ => {
                    return Err(usage(format!(
                        "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,jsonpath,name,wide,yaml"
                    )))
                }
            },
        })
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Output::Table { .. })
    }
}

/// How to lay out a server `Table`.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub wide: bool,
    /// `-A`: a `NAMESPACE` column first.
    pub with_namespace: bool,
    pub show_labels: bool,
    pub no_headers: bool,
    /// `pod`, `deployment.apps`: prefix names with `kind/` (several kinds printed at once).
    pub kind_prefix: Option<String>,
}

/// The header and rows of a server `Table`, as text cells, ready for [`TabWriter`].
/// The header comes first unless `no_headers`.
pub fn table_rows(table: &Value, opts: &TableOptions) -> Vec<Vec<String>> {
    let columns = table["columnDefinitions"].as_array().cloned().unwrap_or_default();
    let shown: Vec<bool> = columns.iter().map(|c| opts.wide || c["priority"].as_i64().unwrap_or(0) == 0).collect();
    let mut out = Vec::new();
    if !opts.no_headers {
        let mut header = Vec::new();
        if opts.with_namespace {
            header.push("NAMESPACE".to_string());
        }
        for (c, show) in columns.iter().zip(&shown) {
            if *show {
                header.push(c["name"].as_str().unwrap_or("").to_uppercase());
            }
        }
        if opts.show_labels {
            header.push("LABELS".to_string());
        }
        out.push(header);
    }
    for row in table["rows"].as_array().into_iter().flatten() {
        let metadata = &row["object"]["metadata"];
        let mut line = Vec::new();
        if opts.with_namespace {
            line.push(metadata["namespace"].as_str().unwrap_or("").to_string());
        }
        for (i, cell) in row["cells"].as_array().into_iter().flatten().enumerate() {
            if !shown.get(i).copied().unwrap_or(false) {
                continue;
            }
            let mut text = cell_text(cell);
            if i == 0 {
                if let Some(kind) = &opts.kind_prefix {
                    text = format!("{kind}/{text}");
                }
            }
            line.push(text);
        }
        if opts.show_labels {
            line.push(format_labels(&metadata["labels"]));
        }
        out.push(line);
    }
    out
}

/// A cell as Go's `fmt.Fprint` prints it: strings as they are, numbers without `.0`.
pub fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `app=web,tier=front` (keys sorted), or `<none>`: upstream's `labels.FormatLabels`.
pub fn format_labels(labels: &Value) -> String {
    let Some(map) = labels.as_object().filter(|m| !m.is_empty()) else {
        return "<none>".to_string();
    };
    let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, cell_text(v))).collect();
    sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// `pod/nginx`, `deployment.apps/web`: `-o name`, and the subject of every message.
pub fn object_name(resource: &ResourceInfo, name: &str) -> String {
    format!("{}/{name}", crate::context::kind_name(resource))
}

/// Several objects as one, the way kubectl prints them with `-o yaml|json`:
/// a `v1` `List`.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// A copy of `value` with every map's keys in order, as Go prints maps.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// `-o json`: keys sorted, four spaces of indentation, as kubectl.
pub fn to_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    use serde::Serialize;
    let _ = sorted(value).serialize(&mut ser);
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// Prints one object (or a list) in a non-table format.
pub fn format_object(output: &Output, value: &Value, names: &[String]) -> Result<String> {
    Ok(match output {
        Output::Yaml => to_yaml(&sorted(value)),
        Output::Json => to_json(value),
        Output::Name => names.iter().map(|n| format!("{n}\n")).collect(),
        Output::JsonPath(jp) => jp.render(value)?,
        Output::Table { .. } => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_pads_like_kubectl() {
        let mut tw = TabWriter::new();
        let rows = vec![
            vec!["NAME".into(), "READY".into(), "AGE".into()],
            vec!["nginx".into(), "0/1".into(), "5s".into()],
        ];
        assert_eq!(tw.format(&rows), "NAME    READY   AGE\nnginx   0/1     5s\n");
        // Remembered widths: a later, narrower row keeps the alignment.
        assert_eq!(tw.format(&[vec!["a".into(), "1/1".into(), "1s".into()]]), "a       1/1     1s\n");
    }

    #[test]
    fn wide_columns_namespace_labels_and_kind_prefix() {
        let table = json!({
            "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "Age", "priority": 0}, {"name": "Node", "priority": 1}],
            "rows": [{"cells": ["web", "5s", "n1"], "object": {"metadata": {"namespace": "ns1", "labels": {"b": "2", "a": "1"}}}}]
        });
        let narrow = table_rows(&table, &TableOptions::default());
        assert_eq!(narrow, vec![vec!["NAME", "AGE"], vec!["web", "5s"]]);
        let all = table_rows(
            &table,
            &TableOptions { wide: true, with_namespace: true, show_labels: true, kind_prefix: Some("pod".into()), ..Default::default() },
        );
        assert_eq!(all[0], vec!["NAMESPACE", "NAME", "AGE", "NODE", "LABELS"]);
        assert_eq!(all[1], vec!["ns1", "pod/web", "5s", "n1", "a=1,b=2"]);
    }

    #[test]
    fn json_is_sorted_with_four_spaces() {
        assert_eq!(to_json(&json!({"b": 1, "a": [true]})), "{\n    \"a\": [\n        true\n    ],\n    \"b\": 1\n}\n");
    }
}
