//! `kubectl get`: one kind, several (`pods,svc`), `all`, or named objects, printed from the
//! server's `Table` (`Accept: ...;as=Table;...`), or as yaml/json/name/jsonpath from the
//! plain objects. `-w` keeps watching and prints each change as one more row, without a
//! header, aligned with the table above.

use futures::StreamExt;
use kube_api::ResourceInfo;
use kube_client::{Event, ListParams, WatchParams};
use serde_json::Value;

use super::print;
use crate::context::{kind_name, split_args};
use crate::error::{usage, Error, Result};
use crate::printers::{self, Output, TabWriter, TableOptions};
use crate::Ctx;

/// Display one or many resources.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE[.VERSION][.GROUP] [NAME ...] or TYPE/NAME ...
    pub resources: Vec<String>,
    /// Output format. One of: (json, yaml, name, wide, jsonpath=...).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on, supports '=', '==', and '!='.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// After listing/getting the requested object, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Output watch event objects when --watch or --watch-only is used. Existing objects are
    /// output as initial ADDED events.
    #[arg(long)]
    pub output_watch_events: bool,
    /// When printing, show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// When using the default output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
}

/// One resource type with the names asked for (none: list them all).
struct Request {
    resource: &'static ResourceInfo,
    names: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let output = Output::parse(args.output.as_deref())?;
    if args.resources.is_empty() {
        return Err(usage(
            "Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples",
        ));
    }
    let mut requests: Vec<Request> = Vec::new();
    for (resource, name) in split_args(&args.resources)? {
        match requests.iter_mut().find(|r| std::ptr::eq(r.resource, resource)) {
            Some(r) => r.names.extend(name),
            None => requests.push(Request { resource, names: name.into_iter().collect() }),
        }
    }
    let several_kinds = requests.len() > 1 || args.resources[0].split(',').any(|w| w == "all");
    let namespace = ctx.list_namespace()?;
    let lp = ListParams {
        label_selector: args.selector.clone(),
        field_selector: args.field_selector.clone(),
        ..ListParams::default().limit(500)
    };
    let mut errors: Vec<Error> = Vec::new();

    if let Output::Table { wide } = output {
        let mut printed_any = false;
        for req in &requests {
            let api = ctx.api(req.resource, &namespace)?;
            let table = if req.names.is_empty() {
                list_table(&api, &lp).await?
            } else {
                let mut rows = Vec::new();
                let mut columns = Value::Null;
                for name in &req.names {
                    match api.get_table(name).await {
                        Ok(t) => {
                            columns = t["columnDefinitions"].clone();
                            rows.extend(t["rows"].as_array().cloned().unwrap_or_default());
                        }
                        Err(e) => errors.push(e.into()),
                    }
                }
                serde_json::json!({"columnDefinitions": columns, "rows": rows})
            };
            let opts = TableOptions {
                wide,
                with_namespace: ctx.global.all_namespaces && req.resource.namespaced,
                show_labels: args.show_labels,
                no_headers: args.no_headers,
                kind_prefix: several_kinds.then(|| kind_name(req.resource)),
            };
            let empty = table["rows"].as_array().is_none_or(Vec::is_empty);
            // One writer per kind: kubectl resets column widths between kinds.
            let mut tw = TabWriter::new();
            if !empty {
                let mut text = String::new();
                if printed_any && !args.no_headers {
                    text.push('\n');
                }
                let mut rows = printers::table_rows(&table, &opts);
                if args.watch && args.output_watch_events {
                    with_event_column(&mut rows, "ADDED", !opts.no_headers);
                }
                text.push_str(&tw.format(&rows));
                print(&text);
                printed_any = true;
            }
            if args.watch {
                if requests.len() > 1 {
                    return Err(usage("you may only specify a single resource type"));
                }
                if !printed_any && errors.is_empty() {
                    eprintln!("{}", no_resources(ctx, req.resource)?);
                }
                let version = table["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
                return watch(ctx, args, req, &namespace, &version, tw, opts, printed_any).await;
            }
        }
        if !printed_any && errors.is_empty() {
            eprintln!("{}", no_resources(ctx, requests[0].resource)?);
        }
    } else {
        let mut items = Vec::new();
        let mut names = Vec::new();
        let single = requests.len() == 1 && requests[0].names.len() == 1;
        for req in &requests {
            let api = ctx.api(req.resource, &namespace)?;
            let objects = if req.names.is_empty() {
                api.list_all(&lp).await?.items
            } else {
                let mut found = Vec::new();
                for name in &req.names {
                    match api.get(name).await {
                        Ok(o) => found.push(o),
                        Err(e) => errors.push(e.into()),
                    }
                }
                found
            };
            for mut obj in objects {
                obj["apiVersion"] = req.resource.api_version().into();
                obj["kind"] = req.resource.kind.into();
                // kubectl hides managedFields unless --show-managed-fields.
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
                names.push(printers::object_name(req.resource, super::name_of(&obj)));
                items.push(obj);
            }
        }
        if items.is_empty() && errors.is_empty() && output == Output::Name {
            eprintln!("{}", no_resources(ctx, requests[0].resource)?);
        } else if single && items.len() == 1 {
            print(&printers::format_object(&output, &items[0], &names)?);
        } else if !(single && items.is_empty()) {
            print(&printers::format_object(&output, &printers::list_of(items), &names)?);
        }
    }
    finish(errors)
}

/// Prints the errors collected on the way (kubectl prints them after the objects it found).
pub fn finish(errors: Vec<Error>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Error::Reported)
}

/// A whole collection as one `Table`, following `continue` tokens 500 rows at a time.
async fn list_table(api: &kube_client::DynamicApi, lp: &ListParams) -> Result<Value> {
    let mut table = api.list_table(lp).await?;
    loop {
        let token = table["metadata"]["continue"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            return Ok(table);
        }
        let next = api.list_table(&ListParams { continue_token: Some(token), ..lp.clone() }).await?;
        let more = next["rows"].as_array().cloned().unwrap_or_default();
        if let Some(rows) = table["rows"].as_array_mut() {
            rows.extend(more);
        }
        table["metadata"] = next["metadata"].clone();
    }
}

/// `No resources found in default namespace.`, or `No resources found` across namespaces
/// and for cluster-scoped kinds.
fn no_resources(ctx: &Ctx, resource: &ResourceInfo) -> Result<String> {
    if ctx.global.all_namespaces || !resource.namespaced {
        Ok("No resources found".to_string())
    } else {
        Ok(format!("No resources found in {} namespace.", ctx.namespace()?))
    }
}

/// One watch event's row(s), with the EVENT column for `--output-watch-events`.
fn print_event(tw: &mut TabWriter, opts: &mut TableOptions, args: &Args, event: &str, table: &serde_json::Value) {
    let mut rows = printers::table_rows(table, opts);
    if args.output_watch_events {
        with_event_column(&mut rows, event, !opts.no_headers);
    }
    print(&tw.format(&rows));
    opts.no_headers = true;
}

/// Prefix rows with the event type (`EVENT` in the header), as kubectl does.
fn with_event_column(rows: &mut [Vec<String>], event: &str, has_header: bool) {
    for (i, row) in rows.iter_mut().enumerate() {
        let cell = if has_header && i == 0 { "EVENT" } else { event };
        row.insert(0, cell.to_string());
    }
}

/// `get -w`: one row per event, as long as the server keeps the watch open.
async fn watch(
    ctx: &Ctx,
    args: &Args,
    req: &Request,
    namespace: &str,
    version: &str,
    mut tw: TabWriter,
    mut opts: TableOptions,
    header_printed: bool,
) -> Result<()> {
    // The header comes with the first rows printed: the list's, or else the first event's.
    opts.no_headers = opts.no_headers || header_printed;
    let field_selector = match (req.names.as_slice(), &args.field_selector) {
        ([name], _) => Some(format!("metadata.name={name}")),
        (_, fs) => fs.clone(),
    };
    let wp = WatchParams {
        label_selector: args.selector.clone(),
        field_selector,
        ..WatchParams::from_version(version)
    };
    let api = ctx.api(req.resource, namespace)?;
    let mut events = api.watch_table(&wp).await?;
    while let Some(event) = events.next().await {
        match event? {
            Event::Added(t) => print_event(&mut tw, &mut opts, args, "ADDED", &t),
            Event::Modified(t) => print_event(&mut tw, &mut opts, args, "MODIFIED", &t),
            Event::Deleted(t) => print_event(&mut tw, &mut opts, args, "DELETED", &t),
            Event::Bookmark { .. } => {}
        }
    }
    Ok(())
}
