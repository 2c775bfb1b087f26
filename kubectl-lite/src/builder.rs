//! The resource builder: the objects named by `-f` — files, directories (their `.yaml`,
//! `.yml` and `.json` files, in name order), `-` for stdin — each file holding one or more
//! YAML documents (`---`) or JSON. A `kind: List` is flattened into its items. A malformed
//! file is reported as kubectl reports it, with the file name and the line.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{usage, Result};

/// One object from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The file it came from (`STDIN` for `-`).
    pub file: String,
    pub object: Value,
}

/// Every object of every `-f` argument, in order.
pub fn load(paths: &[String]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for path in paths {
        if path == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            out.extend(parse("STDIN", &text)?);
            continue;
        }
        let p = Path::new(path);
        if !p.exists() {
            return Err(usage(format!("the path \"{path}\" does not exist")));
        }
        if p.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
                .collect();
            files.sort();
            for f in files {
                out.extend(parse_file(&f.display().to_string())?);
            }
        } else {
            out.extend(parse_file(path)?);
        }
    }
    if out.is_empty() {
        return Err(usage("no objects passed to apply"));
    }
    Ok(out)
}

fn parse_file(path: &str) -> Result<Vec<Source>> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("open {path}: {e}")))?;
    parse(path, &text)
}

/// The objects of one file's text: YAML documents (JSON is YAML too).
pub fn parse(file: &str, text: &str) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| yaml_error(file, &e))?;
        if value.is_null() {
            continue; // An empty document (a trailing `---`).
        }
        let object: Value = serde_json::to_value(&value)
            .map_err(|e| usage(format!("error parsing {file}: error converting YAML to JSON: {e}")))?;
        if !object.is_object() {
            return Err(usage(format!(
                "error validating \"{file}\": error validating data: invalid object to validate"
            )));
        }
        if object["kind"].as_str().unwrap_or("").is_empty() {
            return Err(usage(format!("error validating \"{file}\": error validating data: kind not set")));
        }
        if object["apiVersion"].as_str().unwrap_or("").is_empty() {
            return Err(usage(format!("error validating \"{file}\": error validating data: apiVersion not set")));
        }
        if object["kind"] == "List" {
            for item in object["items"].as_array().into_iter().flatten() {
                out.push(Source { file: file.to_string(), object: item.clone() });
            }
        } else {
            out.push(Source { file: file.to_string(), object });
        }
    }
    Ok(out)
}

/// `error parsing bad.yaml: error converting YAML to JSON: yaml: line 3: mapping values are
/// not allowed in this context`: kubectl's wording, with serde_yaml's position as the line.
fn yaml_error(file: &str, e: &serde_yaml::Error) -> crate::Error {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let message = message.split(" at position ").next().unwrap_or(&message).to_string();
    match e.location() {
        Some(loc) => usage(format!("error parsing {file}: error converting YAML to JSON: yaml: line {}: {message}", loc.line())),
        None => usage(format!("error parsing {file}: error converting YAML to JSON: yaml: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn several_documents_and_lists_become_several_objects() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n- {apiVersion: v1, kind: Secret, metadata: {name: c}}\n";
        let names: Vec<String> = parse("f.yaml", text)
            .unwrap()
            .iter()
            .map(|s| format!("{}/{}", s.object["kind"].as_str().unwrap(), s.object["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(names, ["Pod/a", "ConfigMap/b", "Secret/c"]);
    }

    #[test]
    fn json_is_accepted() {
        let objs = parse("p.json", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#).unwrap();
        assert_eq!(objs[0].object["metadata"], json!({"name": "p"}));
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_name_and_line() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: x: y\n";
        let err = parse("bad.yaml", text).unwrap_err().to_string();
        assert!(err.starts_with("error: error parsing bad.yaml: error converting YAML to JSON: yaml: line 5: "), "{err}");
        let err = parse("nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n").unwrap_err().to_string();
        assert_eq!(err, "error: error validating \"nokind.yaml\": error validating data: kind not set");
    }

    #[test]
    fn directories_are_read_in_name_order_and_missing_paths_named() {
        let dir = std::env::temp_dir().join(format!("kubectl-lite-builder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n").unwrap();
        std::fs::write(dir.join("a.json"), r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        let objs = load(&[dir.display().to_string()]).unwrap();
        let names: Vec<&str> = objs.iter().map(|s| s.object["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        let err = load(&["/nonexistent.yaml".into()]).unwrap_err().to_string();
        assert_eq!(err, "error: the path \"/nonexistent.yaml\" does not exist");
        std::fs::remove_dir_all(&dir).ok();
    }
}
