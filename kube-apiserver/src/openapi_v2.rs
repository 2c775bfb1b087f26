//! `GET /openapi/v2`: the smallest Swagger 2.0 document older kubectl needs, as protobuf.
//!
//! kubectl up to about 1.29 decides between server-side and client-side validation by
//! reading `/openapi/v2` (asked for as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
//! gnostic's `openapi.v2.Document`): if the PATCH operation of a kind's item path declares
//! the `fieldValidation` query parameter, it sends `?fieldValidation=Strict` and lets the
//! server validate. Without the document, `kubectl create -f` and `apply -f` fail with
//! `the server could not find the requested resource`.
//!
//! So the document holds, per resource, the item path with a `patch` operation carrying
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter; no definitions
//! (kubectl then uses its built-in patch strategies for the built-in kinds).
//!
//! The protobuf is written by hand with the field numbers of gnostic's `OpenAPIv2.proto`:
//! a few nested messages do not justify a code generator.

use kube_api::registry;

/// The document, encoded.
pub fn document() -> Vec<u8> {
    let mut paths = Vec::new();
    for r in registry::all() {
        let base = r.group_version_path();
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let gvk = format!("group: {:?}\nkind: {}\nversion: {}\n", r.group, r.kind, r.version);
        let mut op = Vec::new();
        for param in ["fieldValidation", "fieldManager", "dryRun"] {
            // QueryParameterSubSchema { in = 2, name = 4, type = 6 }
            let mut query = Vec::new();
            string(&mut query, 2, "query");
            string(&mut query, 4, param);
            string(&mut query, 6, "string");
            let non_body = message(3, &query); // NonBodyParameter.query_parameter_sub_schema
            let parameter = message(2, &non_body); // Parameter.non_body_parameter
            let item = message(1, &parameter); // ParametersItem.parameter
            op.extend(message(8, &item)); // Operation.parameters
        }
        string(&mut op, 5, &format!("patch{}", r.kind)); // Operation.operation_id
        op.extend(named_any(13, "x-kubernetes-group-version-kind", &gvk)); // Operation.vendor_extension
        op.extend(named_any(13, "x-kubernetes-action", "patch"));
        let path_item = message(8, &op); // PathItem.patch
        let mut named = Vec::new();
        string(&mut named, 1, &item); // NamedPathItem.name
        named.extend(message(2, &path_item)); // NamedPathItem.value
        paths.extend(message(2, &named)); // Paths.path
    }
    let mut info = Vec::new();
    string(&mut info, 1, "Kubernetes");
    string(&mut info, 2, crate::discovery::GIT_VERSION);
    let mut doc = Vec::new();
    string(&mut doc, 1, "2.0"); // Document.swagger
    doc.extend(message(2, &info)); // Document.info
    doc.extend(message(8, &paths)); // Document.paths
    doc
}

/// `NamedAny { name = 1, value = 2: Any { yaml = 2 } }` as field `field`.
fn named_any(field: u32, name: &str, yaml: &str) -> Vec<u8> {
    let mut any = Vec::new();
    string(&mut any, 2, yaml);
    let mut named = Vec::new();
    string(&mut named, 1, name);
    named.extend(message(2, &any));
    message(field, &named)
}

/// A length-delimited field (wire type 2) holding `bytes`.
fn message(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 6);
    varint(&mut out, u64::from(field << 3 | 2));
    varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    out.extend(message(field, s.as_bytes()));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_are_encoded_as_protobuf() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(message(1, b"ab"), [0x0a, 2, b'a', b'b']);
    }

    #[test]
    fn the_document_names_every_kind_and_the_field_validation_parameter() {
        let doc = String::from_utf8_lossy(&document()).into_owned();
        assert!(doc.contains("/api/v1/namespaces/{namespace}/pods/{name}"));
        assert!(doc.contains("kind: Deployment"));
        assert!(doc.contains("fieldValidation"));
    }
}
