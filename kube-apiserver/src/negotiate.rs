//! Content negotiation: which representation the client asked for (`Accept`), and how to
//! read the body it sent (`Content-Type`).
//!
//! kubectl asks `get` for `application/json;as=Table;v=v1;g=meta.k8s.io,...,application/json`:
//! a server-side Table so it can print upstream's columns. It asks `-o yaml` for plain JSON.
//! Protobuf is never served; JSON is always an acceptable fallback. Protobuf *bodies* (what
//! kubectl's `create deployment|namespace|secret|...` send) are read by [`crate::protobuf`].

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use crate::errors::{ApiError, Result};

/// The representation of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    /// A `meta.k8s.io` Table (version `v1` or `v1beta1`, as asked).
    Table { v1beta1: bool },
}

/// Pick the first representation in the `Accept` header that we can produce.
pub fn accepted_format(headers: &HeaderMap) -> Result<Format> {
    let accept = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    for item in accept.split(',') {
        let mut params = item.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = "";
        let mut g = "";
        let mut v = "";
        for p in params {
            match p.split_once('=') {
                Some(("as", x)) => as_ = x,
                Some(("g", x)) => g = x,
                Some(("v", x)) => v = x,
                _ => {}
            }
        }
        let json_like = media == "application/json" || media == "*/*" || media == "application/*";
        if as_ == "Table" {
            if json_like && g == "meta.k8s.io" && (v == "v1" || v == "v1beta1") {
                return Ok(Format::Table { v1beta1: v == "v1beta1" });
            }
            continue;
        }
        if !as_.is_empty() {
            // e.g. as=APIGroupDiscoveryList or as=PartialObjectMetadataList: not served here.
            continue;
        }
        if json_like {
            return Ok(Format::Json);
        }
        if media == "application/yaml" {
            return Ok(Format::Yaml);
        }
    }
    // Only unsupported types (e.g. protobuf alone): upstream answers 406; kubectl always
    // adds application/json, so this is for hand-made requests.
    Err(ApiError::NotAcceptable)
}

/// Serialize a value in the requested plain format (Table conversion happens before).
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, format: Format) -> (Bytes, &'static str) {
    match format {
        Format::Yaml => {
            let text = serde_yaml::to_string(value).unwrap_or_default();
            (Bytes::from(text), "application/yaml")
        }
        _ => (Bytes::from(serde_json::to_vec(value).unwrap_or_default()), "application/json"),
    }
}

/// The media type of a request body.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decode a JSON, YAML or Kubernetes protobuf body into a JSON value; anything unparsable
/// is a 400 with the parser's message, as upstream's decoder answers.
pub fn decode_body(body: &[u8], media: &str) -> Result<Value> {
    let media = media.split(';').next().unwrap_or("").trim();
    if media == crate::protobuf::MEDIA_TYPE {
        return Ok(crate::protobuf::decode(body)?);
    }
    // Any other type is a 415 naming what we take, instead of a confusing 400 from the
    // JSON parser.
    if !(media.is_empty() || media == "*/*" || media.ends_with("json") || media.ends_with("yaml")) {
        return Err(ApiError::UnsupportedMediaType(format!("application/json, application/yaml, {}", crate::protobuf::MEDIA_TYPE)));
    }
    let value: Value = if media.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the object provided is unrecognized (must be of type Object): {e}"))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest("the body of the request must be an object".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let h = headers("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
        assert_eq!(accepted_format(&h).unwrap(), Format::Table { v1beta1: false });
    }

    #[test]
    fn discovery_v2_falls_back_to_plain_json() {
        let h = headers("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json");
        assert_eq!(accepted_format(&h).unwrap(), Format::Json);
    }

    #[test]
    fn protobuf_then_json_gets_json_and_protobuf_alone_is_refused() {
        assert_eq!(accepted_format(&headers("application/vnd.kubernetes.protobuf,application/json")).unwrap(), Format::Json);
        assert!(accepted_format(&headers("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(accepted_format(&headers("application/yaml")).unwrap(), Format::Yaml);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert!(matches!(decode_body(b"{", "application/json"), Err(ApiError::BadRequest(_))));
        assert!(matches!(decode_body(b"[1]", "application/json"), Err(ApiError::BadRequest(_))));
        assert!(decode_body(b"kind: Pod\n", "application/yaml").is_ok());
    }
}
