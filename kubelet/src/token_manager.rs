//! Service account tokens for `serviceAccountToken` projections (upstream's
//! `pkg/kubelet/token/token_manager.go`).
//!
//! The kubelet never signs anything: for each (pod, service account, audience, lifetime)
//! it asks the apiserver with a **TokenRequest** —
//! `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, an
//! `authentication.k8s.io/v1` `TokenRequest` whose `spec.boundObjectRef` is the pod, so
//! the token dies with the pod — and keeps the answer (`status.token`,
//! `status.expirationTimestamp`) in a cache. A cached token is used until 80% of its
//! lifetime has passed (or 24 h), then requested again; the projected volume is rewritten
//! with the new one (the status manager refreshes volumes after every pass of the loop).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use kube_api::core::{Pod, ServiceAccount};
use kube_client::{Api, Client};
use serde::Deserialize;
use serde_json::{json, Value};

/// Upstream's default `expirationSeconds` of a projection.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// A token is requested again after this age, whatever its lifetime (upstream's `maxTTL`).
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The `serviceAccountToken` source of a projected volume.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountTokenProjection {
    /// The token's intended audience; empty: the apiserver's own.
    #[serde(default)]
    pub audience: String,
    /// Requested lifetime (default 3600; the apiserver may shorten or lengthen it).
    pub expiration_seconds: Option<i64>,
    /// The file, relative to the volume.
    #[serde(default)]
    pub path: String,
}

/// A token the apiserver issued.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub token: String,
    pub expires: SystemTime,
    /// The lifetime the apiserver granted (`spec.expirationSeconds` of its answer).
    pub lifetime: Duration,
}

impl Token {
    /// Upstream's `requiresRefresh`: within 20% of the lifetime from expiry, or older than
    /// 24 h.
    pub fn requires_refresh(&self, now: SystemTime) -> bool {
        let issued = self.expires - self.lifetime;
        now >= issued + MAX_TTL || now >= self.expires - self.lifetime / 5
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    service_account: String,
    audience: String,
    expiration_seconds: i64,
    pod_uid: String,
}

/// The cache of issued tokens (shared by the pod workers and the status manager).
#[derive(Default)]
pub struct TokenManager {
    /// A std Mutex: held for a lookup or an insert, never across the request.
    cache: Mutex<HashMap<Key, Token>>,
}

impl TokenManager {
    /// The token for `source` in `pod`: from the cache, or requested from the apiserver.
    /// The error is the mount's failure message.
    pub async fn get(&self, client: &Client, pod: &Pod, source: &ServiceAccountTokenProjection, now: SystemTime) -> Result<String, String> {
        let key = Key {
            namespace: pod.metadata.namespace.clone(),
            service_account: service_account(pod).to_string(),
            audience: source.audience.clone(),
            expiration_seconds: source.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            pod_uid: pod.metadata.uid.clone(),
        };
        let cached = self.lock().get(&key).cloned();
        match cached {
            Some(t) if !t.requires_refresh(now) => return Ok(t.token),
            _ => {}
        }
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), &key.namespace);
        let answer: Result<Value, _> = sa.create_subresource("token", &key.service_account, &request(pod, source)).await;
        let token = match answer.map_err(|e| e.to_string()).and_then(|v| parse_response(&v, key.expiration_seconds)) {
            Ok(t) => t,
            // A token that still works is better than none while the apiserver is away.
            Err(e) => match cached {
                Some(t) if now < t.expires => {
                    tracing::warn!(pod = %pod.metadata.key(), "token refresh failed, keeping the current token: {e}");
                    return Ok(t.token);
                }
                _ => return Err(format!("failed to fetch token: {e}")),
            },
        };
        tracing::info!(pod = %pod.metadata.key(), "got a token for service account {}/{} (audience {:?}, {}s)",
            key.namespace, key.service_account, key.audience, token.lifetime.as_secs());
        self.lock().insert(key, token.clone());
        Ok(token.token)
    }

    /// Drops the tokens of pods that are gone.
    pub fn retain_pods(&self, uids: &HashSet<String>) {
        self.lock().retain(|k, _| uids.contains(&k.pod_uid));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Token>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The pod's service account (`default` when the spec names none).
pub fn service_account(pod: &Pod) -> &str {
    if pod.spec.service_account_name.is_empty() {
        "default"
    } else {
        &pod.spec.service_account_name
    }
}

/// The TokenRequest the kubelet posts for `source` in `pod` (upstream's shape: audiences,
/// expirationSeconds, and the pod as the bound object).
pub fn request(pod: &Pod, source: &ServiceAccountTokenProjection) -> Value {
    let audiences: Vec<&str> = if source.audience.is_empty() { vec![] } else { vec![&source.audience] };
    json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": service_account(pod), "namespace": pod.metadata.namespace},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": source.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid},
        },
    })
}

/// Reads `status.token` and `status.expirationTimestamp` of the apiserver's answer.
pub fn parse_response(v: &Value, requested_seconds: i64) -> Result<Token, String> {
    let token = v.pointer("/status/token").and_then(Value::as_str).filter(|t| !t.is_empty());
    let Some(token) = token else { return Err("the TokenRequest answer has no status.token".into()) };
    let expires = v.pointer("/status/expirationTimestamp").and_then(Value::as_str).unwrap_or_default();
    let expires = chrono::DateTime::parse_from_rfc3339(expires)
        .map_err(|e| format!("bad status.expirationTimestamp {expires:?}: {e}"))?;
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(expires.timestamp().max(0) as u64);
    let seconds = v.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(requested_seconds);
    Ok(Token { token: token.to_string(), expires, lifetime: Duration::from_secs(seconds.max(0) as u64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "team", "uid": "u-1"},
            "spec": {"serviceAccountName": "builder", "containers": []}
        }))
        .unwrap()
    }

    #[test]
    fn the_request_binds_the_token_to_the_pod_with_the_audience_and_lifetime_asked() {
        let source = ServiceAccountTokenProjection { audience: "vault".into(), expiration_seconds: Some(3607), path: "token".into() };
        assert_eq!(
            request(&pod(), &source),
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": {"name": "builder", "namespace": "team"},
                "spec": {
                    "audiences": ["vault"],
                    "expirationSeconds": 3607,
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "u-1"}
                }
            })
        );
        let default = request(&Pod::default(), &ServiceAccountTokenProjection::default());
        assert_eq!(default["spec"]["audiences"], json!([]), "empty: the apiserver's audiences");
        assert_eq!(default["spec"]["expirationSeconds"], 3600);
        assert_eq!(default["metadata"]["name"], "default");
    }

    #[test]
    fn a_token_is_refreshed_after_80_percent_of_its_lifetime() {
        let answer = json!({"spec": {"expirationSeconds": 3600},
            "status": {"token": "abc", "expirationTimestamp": "2026-01-01T01:00:00Z"}});
        let t = parse_response(&answer, 3607).unwrap();
        assert_eq!(t.token, "abc");
        assert_eq!(t.lifetime, Duration::from_secs(3600));
        let issued = t.expires - t.lifetime;
        assert!(!t.requires_refresh(issued + Duration::from_secs(2879)));
        assert!(t.requires_refresh(issued + Duration::from_secs(2880)));
        let long = Token { lifetime: Duration::from_secs(7 * 24 * 3600), expires: issued + Duration::from_secs(7 * 24 * 3600), ..t };
        assert!(long.requires_refresh(issued + MAX_TTL), "never older than 24 h");
    }

    #[test]
    fn an_answer_without_a_token_is_an_error() {
        assert!(parse_response(&json!({"status": {}}), 3600).is_err());
        assert!(parse_response(&json!({"status": {"token": "t", "expirationTimestamp": "soon"}}), 3600).is_err());
    }
}
