//! `kubectl label` and `kubectl annotate`: `key=value` sets, `key-` removes, an existing key
//! changes only with `--overwrite`. One JSON merge patch of `metadata.labels` (or
//! `annotations`) per object; prints `pod/nginx labeled` (`unlabeled`, `not labeled`) or
//! `pod/nginx annotated`.

use kube_client::{ListParams, PatchType, PostParams};
use serde_json::{json, Map, Value};

use super::print;
use crate::context::split_args;
use crate::error::{usage, Error, Result};
use crate::printers::object_name;
use crate::Ctx;

/// Which map of the metadata the command edits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field {
    Labels,
    Annotations,
}

/// Update the labels (or annotations) on a resource.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE NAME KEY_1=VAL_1 ... KEY_N- or TYPE/NAME KEY=VAL ...
    pub args: Vec<String>,
    /// If true, allow labels to be overwritten, otherwise reject label updates that overwrite existing labels.
    #[arg(long)]
    pub overwrite: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources, in the namespace of the specified resource types
    #[arg(long)]
    pub all: bool,
}

/// The edits of the command line: `Some(value)` sets, `None` removes.
pub fn parse_changes(words: &[String]) -> Result<Vec<(String, Option<String>)>> {
    words
        .iter()
        .map(|w| match (w.split_once('='), w.strip_suffix('-')) {
            (Some((k, v)), _) => Ok((k.to_string(), Some(v.to_string()))),
            (None, Some(k)) => Ok((k.to_string(), None)),
            _ => Err(usage(format!("invalid label spec: {w}"))),
        })
        .collect()
}

pub async fn run(ctx: &Ctx, args: &Args, field: Field) -> Result<()> {
    let is_change = |w: &String| w.contains('=') || (w.ends_with('-') && !w.contains('/'));
    let split = args.args.iter().position(is_change).unwrap_or(args.args.len());
    let (targets, changes) = args.args.split_at(split);
    let changes = parse_changes(changes)?;
    if changes.is_empty() {
        return Err(usage(if field == Field::Labels { "at least one label update is required" } else { "at least one annotation update is required" }));
    }
    let key = if field == Field::Labels { "labels" } else { "annotations" };
    let ns = ctx.namespace()?;
    let mut objects = Vec::new();
    for (res, name) in split_args(targets)? {
        let api = ctx.api(res, &ns)?;
        match name {
            Some(name) => match api.get(&name).await {
                Ok(o) => objects.push((res, o)),
                Err(e) => return Err(e.into()),
            },
            None if args.selector.is_some() || args.all => {
                let lp = ListParams { label_selector: args.selector.clone(), ..Default::default() };
                objects.extend(api.list_all(&lp).await?.items.into_iter().map(|o| (res, o)));
            }
            None => return Err(usage("resource(s) were provided, but no name was specified")),
        }
    }
    let mut errors: Vec<Error> = Vec::new();
    for (res, obj) in objects {
        let name = super::name_of(&obj).to_string();
        let before = obj["metadata"][key].as_object().cloned().unwrap_or_default();
        let mut patch = Map::new();
        let mut after = before.clone();
        for (k, v) in &changes {
            match v {
                Some(v) => {
                    if let Some(old) = before.get(k).and_then(Value::as_str) {
                        if old != v && !args.overwrite {
                            errors.push(usage(format!("'{k}' already has a value ({old}), and --overwrite is false")));
                            continue;
                        }
                    }
                    patch.insert(k.clone(), json!(v));
                    after.insert(k.clone(), json!(v));
                }
                None => {
                    if before.contains_key(k) {
                        patch.insert(k.clone(), Value::Null);
                        after.remove(k);
                    } else {
                        eprintln!("{} \"{k}\" not found.", if field == Field::Labels { "label" } else { "annotation" });
                    }
                }
            }
        }
        if !errors.is_empty() {
            break;
        }
        let api = ctx.api(res, super::namespace_of(&obj, &ns))?;
        let body = json!({"metadata": {key: patch}});
        if let Err(e) = api.patch(&name, &PatchType::Merge, &body, &PostParams::default()).await {
            errors.push(e.into());
            continue;
        }
        let word = match field {
            Field::Annotations => "annotated",
            Field::Labels if before == after => "not labeled",
            Field::Labels if !args.overwrite && Value::Object(after).to_string().len() < Value::Object(before).to_string().len() => "unlabeled",
            Field::Labels => "labeled",
        };
        print(&format!("{} {word}\n", object_name(res, &name)));
    }
    super::get::finish(errors)
}
