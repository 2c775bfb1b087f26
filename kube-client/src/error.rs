//! The one error type of the client, and the mapping from an HTTP answer to it.
//!
//! The apiserver reports every failure as a `Status` object (`kind: Status`, `reason`,
//! `message`, `code`). We decode it into [`Error::Api`] so that callers can ask the
//! questions controllers ask all the time — *was it not found? a conflict?* — with
//! [`Error::is_not_found`], [`Error::is_conflict`], ... instead of matching on numbers.

use std::error::Error as StdError;

use hyper::StatusCode;
use kube_api::meta::Status;

use crate::config::ConfigError;

/// A boxed error from the HTTP stack (hyper, the connection pool).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apiserver answered with a failure `Status` (or a non-2xx answer we turned into
    /// one). Printed as kubectl prints it: `Error from server (NotFound): pods "x" not found`.
    /// Boxed: a `Status` is large, and errors travel through every `?`.
    #[error("Error from server ({}): {}", .0.reason.as_deref().unwrap_or("Unknown"), .0.message.as_deref().unwrap_or(""))]
    Api(Box<Status>),

    /// No connection to the apiserver could be made. The message for a refused connection
    /// is kubectl's, word for word.
    #[error("{}", connect_message(server, source.as_ref()))]
    Connect {
        /// `host:port` of the apiserver, as kubectl names it.
        server: String,
        #[source]
        source: BoxError,
    },

    /// The connection broke while sending a request or reading an answer.
    #[error("error talking to the server {server}: {source}")]
    Transport {
        /// `host:port` of the apiserver.
        server: String,
        #[source]
        source: BoxError,
    },

    /// The apiserver did not answer within the request timeout.
    #[error("the server {server} did not answer within {seconds}s (Client.Timeout exceeded)")]
    Timeout {
        /// `host:port` of the apiserver.
        server: String,
        /// The timeout that expired.
        seconds: u64,
    },

    /// An answer (or one event of a watch stream) could not be decoded.
    #[error("could not decode {what}: {source}")]
    Decode {
        /// What we were decoding, e.g. `an event from the watch stream`.
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A request body could not be serialized (a map with non-string keys, ...).
    #[error("could not encode the request body: {0}")]
    Encode(#[source] serde_json::Error),

    /// The kubeconfig or the server address is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The kubeconfig's certificates or key cannot be used (not PEM, a key without its
    /// certificate, ...).
    #[error("invalid TLS configuration for {server}: {source}")]
    Tls {
        /// The server URL from the configuration.
        server: String,
        #[source]
        source: kube_certs::Error,
    },

    /// The request cannot be built (an object without a name, a namespaced object without
    /// a namespace, ...): a mistake of the caller, caught before anything is sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A watch stream sent a line longer than we accept: a broken or hostile server.
    #[error("a watch event of more than {limit} bytes: the stream is not line-delimited JSON")]
    LineTooLong {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
}

fn connect_message(server: &str, source: &(dyn StdError + Send + Sync + 'static)) -> String {
    if is_connection_refused(source) {
        format!("The connection to the server {server} was refused - did you specify the right host or port?")
    } else {
        format!(
            "Unable to connect to the server {server}: {}",
            innermost(source)
        )
    }
}

/// Whether an error chain bottoms out in `ECONNREFUSED`.
fn is_connection_refused(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// The deepest error of a chain: hyper's outer messages ("client error (Connect)") say little.
fn innermost<'a>(err: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur
}

impl Error {
    /// The `Status` of an API error.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api(s) => Some(s),
            _ => None,
        }
    }

    /// The HTTP code of an API error (`404`, `409`, `410`, ...).
    pub fn status_code(&self) -> Option<u16> {
        self.status().and_then(|s| s.code)
    }

    /// The machine-readable reason of an API error (`NotFound`, `Conflict`, `Expired`, ...).
    pub fn reason(&self) -> Option<&str> {
        self.status().and_then(|s| s.reason.as_deref())
    }

    /// 404 NotFound.
    pub fn is_not_found(&self) -> bool {
        self.reason() == Some("NotFound")
            || (self.reason().is_none() && self.status_code() == Some(404))
    }

    /// 409 Conflict: the object changed since we read it (stale `resourceVersion`).
    /// Controllers re-read and try again.
    pub fn is_conflict(&self) -> bool {
        self.reason() == Some("Conflict")
            || (self.reason().is_none() && self.status_code() == Some(409))
    }

    /// 409 AlreadyExists: a create of a name that is taken.
    pub fn is_already_exists(&self) -> bool {
        self.reason() == Some("AlreadyExists")
    }

    /// 410 Gone / Expired: a watch or list asked for a `resourceVersion` that was
    /// compacted. A reflector must list again.
    pub fn is_gone(&self) -> bool {
        self.status_code() == Some(410) || matches!(self.reason(), Some("Gone" | "Expired"))
    }
}

/// Turns a non-2xx answer into [`Error::Api`]. The body is a `Status` when the apiserver
/// wrote it; anything else (a proxy's HTML page, plain text) gets a `Status` synthesized
/// from the HTTP code, as client-go does, with the body text as the message.
pub(crate) fn error_from_response(code: StatusCode, body: &[u8]) -> Error {
    if let Ok(status) = serde_json::from_slice::<Status>(body) {
        if status.types.kind == "Status" {
            let mut status = status;
            if status.code.is_none() {
                status.code = Some(code.as_u16());
            }
            return Error::Api(Box::new(status));
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    let message = if text.is_empty() {
        default_message(code).to_string()
    } else {
        text
    };
    Error::Api(Box::new(Status::failure(
        code.as_u16(),
        reason_for_code(code),
        message,
    )))
}

/// Upstream's reason for a bare HTTP code (`k8s.io/apimachinery/pkg/api/errors`).
pub(crate) fn reason_for_code(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

fn default_message(code: StatusCode) -> &'static str {
    match code.as_u16() {
        404 => "the server could not find the requested resource",
        405 => "the server does not allow this method on the requested resource",
        409 => "the server reported a conflict",
        500 => "an error on the server has prevented the request from succeeding",
        503 => "the server is currently unable to handle the request",
        _ => "an error on the server has prevented the request from succeeding",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_body_becomes_an_api_error_with_its_reason() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#;
        let err = error_from_response(StatusCode::NOT_FOUND, body);
        assert!(err.is_not_found());
        assert!(!err.is_conflict());
        assert_eq!(err.status_code(), Some(404));
        assert_eq!(
            err.to_string(),
            r#"Error from server (NotFound): pods "x" not found"#
        );
    }

    #[test]
    fn conflict_and_already_exists_are_told_apart() {
        let conflict = error_from_response(
            StatusCode::CONFLICT,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified"}"#,
        );
        let exists = error_from_response(
            StatusCode::CONFLICT,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","code":409,"message":"pods \"web\" already exists"}"#,
        );
        assert!(conflict.is_conflict() && !conflict.is_already_exists());
        assert!(exists.is_already_exists() && !exists.is_conflict());
    }

    #[test]
    fn a_body_that_is_not_a_status_gets_one_synthesized_from_the_code() {
        let err = error_from_response(StatusCode::SERVICE_UNAVAILABLE, b"upstream connect error\n");
        assert_eq!(err.status_code(), Some(503));
        assert_eq!(err.reason(), Some("ServiceUnavailable"));
        assert_eq!(
            err.status().and_then(|s| s.message.as_deref()),
            Some("upstream connect error")
        );

        let empty = error_from_response(StatusCode::NOT_FOUND, b"");
        assert!(empty.is_not_found());
        // A JSON object that is not a Status (a Pod, say) is not mistaken for one.
        let pod = error_from_response(StatusCode::GONE, br#"{"kind":"Pod","metadata":{}}"#);
        assert!(pod.is_gone());
    }

    #[test]
    fn a_refused_connection_reads_like_kubectl() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err = Error::Connect {
            server: "127.0.0.1:8080".into(),
            source: Box::new(io),
        };
        assert_eq!(
            err.to_string(),
            "The connection to the server 127.0.0.1:8080 was refused - did you specify the right host or port?"
        );
    }
}
