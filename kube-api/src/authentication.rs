//! The `authentication.k8s.io/v1` kinds. Neither is stored: each is a question asked by
//! POST and answered in the same object.
//!
//! - [`TokenRequest`]: "give me a token for this service account" — the body and answer of
//!   `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` (`kubectl create token`,
//!   the kubelet's projected `serviceAccountToken` volumes).
//! - [`TokenReview`]: "who is this token?" — `POST /apis/authentication.k8s.io/v1/tokenreviews`,
//!   asked by whoever received a token and wants the apiserver to check it.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::meta::{ObjectMeta, Time};
use crate::validation::FieldError;
use crate::Object;

/// What `expirationSeconds` is when a TokenRequest leaves it out (one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a token may be asked for (ten minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TokenRequestSpec,
    #[serde(default)]
    pub status: TokenRequestStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequestSpec {
    /// Who the token is meant for (the JWT's `aud`); empty means the apiserver itself
    /// (`--api-audiences`).
    #[serde(default)]
    pub audiences: Vec<String>,
    pub expiration_seconds: Option<i64>,
    /// The object whose deletion ends the token (a Pod or a Secret).
    pub bound_object_ref: Option<BoundObjectReference>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundObjectReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequestStatus {
    #[serde(default)]
    pub token: String,
    pub expiration_timestamp: Option<Time>,
}

impl TokenRequest {
    /// The requested lifetime, defaulted (upstream's `SetDefaults_TokenRequestSpec`).
    pub fn expiration_seconds(&self) -> i64 {
        self.spec.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS)
    }

    /// Upstream's `ValidateTokenRequest`.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let secs = self.expiration_seconds();
        if secs < MIN_EXPIRATION_SECONDS {
            errs.push(FieldError::invalid_raw("spec.expirationSeconds", secs, "may not specify a duration less than 10 minutes"));
        }
        if secs > 1 << 32 {
            errs.push(FieldError::invalid_raw("spec.expirationSeconds", secs, "may not specify a duration larger than 2^32 seconds"));
        }
        errs
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReview {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TokenReviewSpec,
    #[serde(default)]
    pub status: TokenReviewStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewSpec {
    #[serde(default)]
    pub token: String,
    /// The audiences the reviewer accepts; empty means the apiserver's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default)]
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// The identity a token stands for (`authentication.k8s.io/v1` `UserInfo`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl Object for TokenReview {
    const GROUP: &'static str = "authentication.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "TokenReview";

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_request_defaults_to_an_hour_and_refuses_less_than_ten_minutes() {
        let req: TokenRequest = serde_json::from_value(serde_json::json!({"spec": {}})).unwrap();
        assert_eq!(req.expiration_seconds(), 3600);
        assert!(req.validate().is_empty());
        let short: TokenRequest = serde_json::from_value(serde_json::json!({"spec": {"expirationSeconds": 599}})).unwrap();
        let errs = short.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.expirationSeconds");
    }
}
