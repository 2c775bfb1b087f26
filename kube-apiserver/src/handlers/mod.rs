//! The resource handlers: one function per verb, reached through [`serve`].
//!
//! - [`read`]: get, list, watch
//! - [`write`]: create, update (PUT), patch
//! - [`delete`]: delete, deletecollection
//! - [`subresources`]: binding, scale, eviction, log
//! - [`tokens`]: serviceaccounts/token (TokenRequest) and tokenreviews, answered, not stored

pub mod delete;
pub mod read;
pub mod subresources;
pub mod tokens;
pub mod write;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use kube_api::object::FieldValidation;
use kube_api::table::IncludeObject;
use kube_api::ResourceInfo;
use serde_json::Value;

use crate::auth::UserInfo;
use crate::errors::{ApiError, Result};
use crate::negotiate::{self, Format};
use crate::request::{Query, RequestInfo, Verb};
use crate::store::WriteOptions;
use crate::State;

/// The body type of every response: a full buffer, or a stream for watch and logs.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Everything a handler needs about the request.
pub struct Ctx<'a> {
    pub state: &'a State,
    /// Who is asking (after impersonation): admission rules that depend on the user read it.
    pub user: UserInfo,
    pub info: RequestInfo,
    pub query: Query,
    pub headers: HeaderMap,
    pub format: Format,
    pub body: Bytes,
}

/// Serve one resource request.
pub async fn serve(state: &State, user: &UserInfo, info: RequestInfo, method: &Method, query: Query, headers: HeaderMap, body: Bytes) -> Result<Response<Body>> {
    let format = negotiate::accepted_format(&headers)?;
    let ctx = Ctx { state, user: user.clone(), info, query, headers, format, body };
    let sub = ctx.info.subresource.as_str();
    // A resource serves the verbs discovery lists for it, no others.
    if sub.is_empty() && !ctx.res().verbs.contains(&ctx.info.verb.as_str()) {
        return Err(ApiError::MethodNotAllowed);
    }
    match (ctx.info.verb, sub) {
        // Reviews are questions answered at once, never stored: token reviews by the
        // authenticators, access reviews by the authorizers.
        (Verb::Create, "") if ctx.res().is_virtual() => match ctx.res().kind {
            "TokenReview" => tokens::token_review(&ctx).await,
            _ => crate::auth::review::create(state, user, ctx.res(), &ctx.headers, &ctx.body),
        },
        (Verb::Get, "") => read::get(&ctx).await,
        (Verb::List, "") => read::list(&ctx).await,
        (Verb::Watch, "") => read::watch(&ctx).await,
        (Verb::Create, "") => write::create(&ctx).await,
        (Verb::Update, "" | "status") => write::update(&ctx).await,
        (Verb::Patch, "" | "status") => write::patch(&ctx).await,
        (Verb::Delete, "") => delete::delete(&ctx).await,
        (Verb::DeleteCollection, "") => delete::delete_collection(&ctx).await,
        (Verb::Get, "status") => read::get(&ctx).await,
        (Verb::Create, "binding") => subresources::binding(&ctx).await,
        (Verb::Create, "eviction") => subresources::eviction(&ctx).await,
        (Verb::Get | Verb::Update | Verb::Patch, "scale") => subresources::scale(&ctx, method).await,
        (Verb::Get, "log") => subresources::log(&ctx).await,
        (Verb::Create, "token") => tokens::token_request(&ctx).await,
        (Verb::Update, "finalize") => write::update(&ctx).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

impl Ctx<'_> {
    pub fn res(&self) -> &'static ResourceInfo {
        self.info.resource
    }

    pub fn q(&self, name: &str) -> &str {
        self.query.get(name).map(String::as_str).unwrap_or("")
    }

    /// The options of a write, from the query string and the User-Agent.
    pub fn write_options(&self) -> Result<WriteOptions> {
        let validation = match self.q("fieldValidation") {
            "" | "Ignore" => FieldValidation::Ignore,
            "Warn" => FieldValidation::Warn,
            "Strict" => FieldValidation::Strict,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "fieldValidation parameter unsupported: {other} (valid values: Ignore, Warn, Strict)"
                )))
            }
        };
        let dry_run = match self.q("dryRun") {
            "" => false,
            "All" => true,
            other => return Err(ApiError::BadRequest(format!("unsupported dry run value: {other} (only All is supported)"))),
        };
        let field_manager = match self.q("fieldManager") {
            "" => default_manager(&self.headers),
            m => m.to_string(),
        };
        Ok(WriteOptions { dry_run, validation, field_manager })
    }

    /// The decoded request body.
    pub fn body_value(&self) -> Result<Value> {
        negotiate::decode_body(&self.body, &negotiate::content_type(&self.headers))
    }

    /// Answer with one object, as JSON, YAML or a one-row Table.
    pub fn object_response(&self, code: StatusCode, object: &Value, warnings: &[String]) -> Result<Response<Body>> {
        let value = match self.format {
            Format::Table { v1beta1 } => {
                let rv = crate::store::str_at(object, "/metadata/resourceVersion").to_string();
                table_value(self.res(), &[object], &rv, self.include_object(), v1beta1)
            }
            _ => object.clone(),
        };
        Ok(value_response(code, &value, self.format, warnings))
    }

    pub fn include_object(&self) -> IncludeObject {
        match self.q("includeObject") {
            "None" => IncludeObject::None,
            "Object" => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A Table for `objects` of `res`.
pub fn table_value(res: &ResourceInfo, objects: &[&Value], rv: &str, include: IncludeObject, v1beta1: bool) -> Value {
    let table = kube_api::table::to_table(res.kind, objects, chrono::Utc::now(), include, rv);
    let mut v = serde_json::to_value(table).unwrap_or(Value::Null);
    if v1beta1 {
        v["apiVersion"] = Value::from("meta.k8s.io/v1beta1");
    }
    v
}

/// Upstream derives the default field manager from the User-Agent's program name
/// (`kubectl/v1.32.0 (linux/amd64)` → `kubectl`).
fn default_manager(headers: &HeaderMap) -> String {
    let ua = headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

/// A complete response with a JSON (or YAML) body.
pub fn value_response<T: serde::Serialize + ?Sized>(code: StatusCode, value: &T, format: Format, warnings: &[String]) -> Response<Body> {
    let (bytes, content_type) = negotiate::encode(value, format);
    let mut builder = Response::builder().status(code).header(http::header::CONTENT_TYPE, content_type);
    for w in warnings {
        builder = builder.header("Warning", format!("299 - {:?}", w));
    }
    builder.body(full(bytes)).unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// An error as a `Status` object.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let status = serde_json::to_value(err.to_status()).unwrap_or(Value::Null);
    let code = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    value_response(code, &status, Format::Json, &[])
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}
