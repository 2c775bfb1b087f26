//! Service-account tokens: JWTs the apiserver signs for a ServiceAccount, and accepts back
//! as bearer tokens. Upstream's `pkg/serviceaccount` (`jwt.go`, `claims.go`).
//!
//! ```text
//! TokenRequest (POST serviceaccounts/NAME/token)      Authorization: Bearer <jwt>
//!        │                                                     │
//!  [`Issuer::issue`]: claims → signed with the          [`Authenticator`]: issuer known? signature
//!  --service-account-signing-key-file                    by one of the --service-account-key-file
//!        │                                               keys? audience? not expired? the
//!        ▼                                               ServiceAccount (and bound Pod/Secret) still
//!  eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJ...           there with the same uid? → UserInfo
//! ```
//!
//! The claims, as upstream writes them:
//!
//! ```json
//! {"aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 1764259200, "iat": 1764255600,
//!  "iss": "https://kubernetes.default.svc.cluster.local", "jti": "…", "nbf": 1764255600,
//!  "sub": "system:serviceaccount:default:default",
//!  "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "default", "uid": "…"},
//!                    "pod": {"name": "web", "uid": "…"}}}
//! ```
//!
//! A token bound to a Pod or a Secret dies with it: the authenticator looks the object up
//! on every use. A ServiceAccount deleted and recreated under the same name has another
//! uid, so its old tokens stop working too.

use std::collections::BTreeMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use kube_api::registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{PrivateKey, PublicKey};
use super::{TokenAuthenticator, UserInfo, AUTHENTICATED};
use crate::errors::ApiError;
use crate::store::{str_at, Store};

/// Every service account is in this group, and in `system:serviceaccounts:NAMESPACE`.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// `system:serviceaccount:` + namespace + `:` + name is a service account's user name.
pub const USERNAME_PREFIX: &str = "system:serviceaccount:";
/// The token lifetime the ServiceAccount admission plugin asks for in projected volumes.
/// The apiserver recognises it and issues a one-year token (upstream's
/// `--service-account-extend-token-expiration`), warning after the asked hour.
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;
/// How long such an extended token lives (one year).
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;
/// Clock skew tolerated on `exp` and `nbf`, as go-jose's default leeway.
const LEEWAY_SECONDS: u64 = 60;

/// `system:serviceaccount:NS:NAME`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("{USERNAME_PREFIX}{namespace}:{name}")
}

/// The claims of a service-account JWT.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: PrivateClaims,
}

/// The `kubernetes.io` claim: which objects the token belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrivateClaims {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

impl Ref {
    fn of(object: &Value) -> Ref {
        Ref { name: str_at(object, "/metadata/name").into(), uid: str_at(object, "/metadata/uid").into() }
    }
}

/// What a token is for: the service account, the object it is bound to, how long it lives.
pub struct TokenSpec<'a> {
    pub service_account: &'a Value,
    /// A bound Pod or Secret (`boundObjectRef`), already looked up.
    pub bound: Option<Bound<'a>>,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    /// Seconds after which users of the token are warned (extended tokens only).
    pub warn_after_seconds: Option<i64>,
}

pub enum Bound<'a> {
    Pod(&'a Value),
    Secret(&'a Value),
}

/// Builds the claims of a new token issued at `now` (Unix seconds); upstream's `Claims`.
pub fn claims(issuer: &str, spec: &TokenSpec<'_>, now: i64) -> Claims {
    let sa = spec.service_account;
    let namespace = str_at(sa, "/metadata/namespace").to_string();
    let mut private = PrivateClaims { namespace: namespace.clone(), serviceaccount: Ref::of(sa), ..PrivateClaims::default() };
    match spec.bound {
        Some(Bound::Pod(p)) => private.pod = Some(Ref::of(p)),
        Some(Bound::Secret(s)) => private.secret = Some(Ref::of(s)),
        None => {}
    }
    private.warnafter = spec.warn_after_seconds.map(|w| now + w);
    Claims {
        iss: issuer.to_string(),
        sub: username(&namespace, str_at(sa, "/metadata/name")),
        aud: spec.audiences.clone(),
        exp: now + spec.expiration_seconds,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes: private,
    }
}

/// Signs tokens with `--service-account-signing-key-file` as `--service-account-issuer`.
pub struct Issuer {
    pub issuer: String,
    key: EncodingKey,
    header: Header,
}

impl Issuer {
    pub fn new(issuer: &str, key: &PrivateKey) -> Result<Issuer, String> {
        let public = key.public_key();
        let mut header = Header::new(public.algorithm());
        header.kid = Some(public.key_id());
        header.typ = None;
        Ok(Issuer { issuer: issuer.to_string(), key: key.encoding_key()?, header })
    }

    /// The signed JWT for these claims.
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&self.header, claims, &self.key).map_err(|e| ApiError::Internal(format!("failed to generate token: {e}")))
    }
}

/// The service-account flags, read and checked at start-up (so that an unreadable key
/// stops the apiserver with a clear message before it serves anything).
pub struct Settings {
    /// `--service-account-issuer`: the first signs, all are accepted.
    pub issuers: Vec<String>,
    /// `--service-account-key-file` (default: the signing key's public half).
    pub keys: Vec<PublicKey>,
    /// `--service-account-signing-key-file`.
    pub signing_key: Option<PrivateKey>,
    /// `--api-audiences` (default: the first issuer).
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration`, in seconds.
    pub max_expiration_seconds: Option<i64>,
    /// `--service-account-extend-token-expiration`.
    pub extend_expiration: bool,
}

impl Settings {
    /// `Ok(None)` when no service-account key is configured (seed 000's apiserver).
    pub fn from_flags(c: &crate::config::Config) -> Result<Option<Settings>, String> {
        if c.service_account_signing_key_file.is_none() && c.service_account_key_file.is_empty() {
            return Ok(None);
        }
        if c.service_account_issuer.is_empty() {
            return Err("--service-account-issuer is a required flag with --service-account-key-file or --service-account-signing-key-file".into());
        }
        let signing_key = match &c.service_account_signing_key_file {
            Some(path) => Some(super::keys::read_private_key(path).map_err(|e| format!("--service-account-signing-key-file: {e}"))?),
            None => None,
        };
        let mut keys = Vec::new();
        for path in &c.service_account_key_file {
            keys.extend(super::keys::read_public_keys(path).map_err(|e| format!("--service-account-key-file: {e}"))?);
        }
        if let Some(k) = &signing_key {
            if !keys.contains(&k.public_key()) {
                if !c.service_account_key_file.is_empty() {
                    tracing::warn!("the --service-account-signing-key-file key is not among the --service-account-key-file keys: its tokens are accepted anyway");
                }
                keys.push(k.public_key());
            }
        }
        let max_expiration_seconds = match c.service_account_max_token_expiration {
            Some(d) if d.as_secs() < 3600 => return Err("--service-account-max-token-expiration must be at least 1h".into()),
            Some(d) => Some(d.as_secs() as i64),
            None => None,
        };
        let api_audiences = if c.api_audiences.is_empty() { vec![c.service_account_issuer[0].clone()] } else { c.api_audiences.clone() };
        Ok(Some(Settings {
            issuers: c.service_account_issuer.clone(),
            keys,
            signing_key,
            api_audiences,
            max_expiration_seconds,
            extend_expiration: c.service_account_extend_token_expiration,
        }))
    }

    /// The token issuer (with a signing key only) and the authenticator reading `store`.
    pub fn build(self, store: Store) -> Result<(Option<Tokens>, Authenticator), String> {
        let tokens = match &self.signing_key {
            Some(key) => Some(Tokens {
                issuer: Issuer::new(&self.issuers[0], key)?,
                api_audiences: self.api_audiences.clone(),
                max_expiration_seconds: self.max_expiration_seconds,
                extend_expiration: self.extend_expiration,
            }),
            None => None,
        };
        let auth = Authenticator { issuers: self.issuers, keys: self.keys, audiences: self.api_audiences, store };
        Ok((tokens, auth))
    }
}

/// What the TokenRequest subresource needs: the issuer and the lifetime rules.
pub struct Tokens {
    pub issuer: Issuer,
    pub api_audiences: Vec<String>,
    pub max_expiration_seconds: Option<i64>,
    pub extend_expiration: bool,
}

/// The bearer-token authenticator of service-account JWTs.
pub struct Authenticator {
    /// `--service-account-issuer` values: a token from another issuer is not ours.
    pub issuers: Vec<String>,
    /// `--service-account-key-file` keys (plus the signing key's public half).
    pub keys: Vec<PublicKey>,
    /// `--api-audiences`: a token must be meant for one of them.
    pub audiences: Vec<String>,
    /// Where the ServiceAccounts, Pods and Secrets the tokens name are looked up.
    pub store: Store,
}

impl Authenticator {
    /// Check `token` for `audiences` (the apiserver's own when empty). `None`: not a
    /// service-account token of ours.
    pub async fn review(&self, token: &str, audiences: &[String]) -> Option<Result<UserInfo, String>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let unverified: Value = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
        if !self.issuers.iter().any(|i| unverified.get("iss").and_then(Value::as_str) == Some(i)) {
            return None;
        }
        let audiences = if audiences.is_empty() { &self.audiences } else { audiences };
        Some(self.verify(token, header.alg, audiences).await)
    }

    async fn verify(&self, token: &str, alg: Algorithm, audiences: &[String]) -> Result<UserInfo, String> {
        let mut validation = Validation::new(alg);
        validation.set_issuer(self.issuers.as_slice());
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let mut last = "no --service-account-key-file key verifies tokens signed with this algorithm".to_string();
        for key in self.keys.iter().filter(|k| k.algorithm() == alg) {
            match jsonwebtoken::decode::<Claims>(token, &key.decoding_key(), &validation) {
                Ok(data) => return self.check_objects(&data.claims).await,
                Err(e) => match e.kind() {
                    ErrorKind::InvalidSignature => last = "invalid bearer token: the signature does not match".into(),
                    ErrorKind::ExpiredSignature => return Err("service account token has expired".into()),
                    ErrorKind::ImmatureSignature => return Err("service account token is not valid yet".into()),
                    ErrorKind::InvalidAudience => {
                        return Err(format!("token audiences {:?} is invalid for the target audiences {audiences:?}", token_audiences(token)))
                    }
                    ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                        return Err("invalid bearer token: malformed".into())
                    }
                    other => return Err(format!("invalid service account token: {other:?}")),
                },
            }
        }
        Err(last)
    }

    /// The objects the claims name must still exist with the same uids (upstream's
    /// `validator.Validate`).
    async fn check_objects(&self, claims: &Claims) -> Result<UserInfo, String> {
        let k = &claims.kubernetes;
        let sa = self.lookup("serviceaccounts", &k.namespace, &k.serviceaccount.name).await?;
        let sa_uid = str_at(&sa, "/metadata/uid");
        if sa_uid != k.serviceaccount.uid {
            return Err(format!("service account UID ({sa_uid}) does not match claim ({})", k.serviceaccount.uid));
        }
        if sa.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(format!("service account {}/{} has been deleted", k.namespace, k.serviceaccount.name));
        }
        let mut extra = BTreeMap::new();
        if let Some(s) = &k.secret {
            let secret = self.lookup("secrets", &k.namespace, &s.name).await?;
            let uid = str_at(&secret, "/metadata/uid");
            if uid != s.uid {
                return Err(format!("secret UID ({uid}) does not match service account secret ref claim ({})", s.uid));
            }
        }
        if let Some(p) = &k.pod {
            let pod = self.lookup("pods", &k.namespace, &p.name).await?;
            let uid = str_at(&pod, "/metadata/uid");
            if uid != p.uid {
                return Err(format!("pod UID ({uid}) does not match service account pod ref claim ({})", p.uid));
            }
            extra.insert("authentication.kubernetes.io/pod-name".to_string(), vec![p.name.clone()]);
            extra.insert("authentication.kubernetes.io/pod-uid".to_string(), vec![p.uid.clone()]);
        }
        if !claims.jti.is_empty() {
            extra.insert("authentication.kubernetes.io/credential-id".to_string(), vec![format!("JTI={}", claims.jti)]);
        }
        Ok(UserInfo {
            name: username(&k.namespace, &k.serviceaccount.name),
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                ALL_SERVICE_ACCOUNTS_GROUP.to_string(),
                format!("{ALL_SERVICE_ACCOUNTS_GROUP}:{}", k.namespace),
                AUTHENTICATED.to_string(),
            ],
            extra,
        })
    }

    async fn lookup(&self, plural: &str, namespace: &str, name: &str) -> Result<Value, String> {
        let res = registry::by_plural("", plural).ok_or_else(|| format!("{plural} are not served"))?;
        self.store.get(res, namespace, name).await.map_err(|e| match e {
            ApiError::NotFound { .. } => format!("{plural} \"{name}\" not found"),
            other => other.to_string(),
        })
    }
}

fn token_audiences(token: &str) -> Vec<String> {
    jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token)
        .ok()
        .and_then(|c| match c.get("aud") {
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => Some(a.iter().filter_map(|v| v.as_str().map(String::from)).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl TokenAuthenticator for Authenticator {
    async fn authenticate(&self, token: &str) -> Option<Result<UserInfo, String>> {
        self.review(token, &[]).await
    }

    async fn authenticate_for(&self, token: &str, audiences: &[String]) -> Option<Result<UserInfo, String>> {
        self.review(token, audiences).await
    }
}

#[cfg(test)]
#[path = "serviceaccount_tests.rs"]
mod tests;
