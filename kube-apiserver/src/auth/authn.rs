//! Authentication on the secure port: which [`UserInfo`] a request is, or 401.
//!
//! As upstream's union authenticator, in order:
//! 1. the **client certificate** checked after the TLS handshake against `--client-ca-file`
//!    (CN = user, O = groups): valid → that user;
//! 2. a **bearer token** (`Authorization: Bearer ...`) asked of each
//!    [`TokenAuthenticator`](super::TokenAuthenticator) (`--token-auth-file`, service-account
//!    tokens): the first that knows it decides;
//! 3. nothing presented and `--anonymous-auth=true` → `system:anonymous`.
//!
//! Credentials presented that prove nothing (a certificate from another CA or expired, an
//! unknown token) → 401 `Unauthorized`, even when anonymous requests are allowed.

use http::HeaderMap;
use kube_certs::tls::{CertIdentity, ClientCa};
use rustls_pki_types::CertificateDer;

use super::{UserInfo, AUTHENTICATED};
use crate::State;

/// What the client certificate of a connection proved (checked once per connection).
#[derive(Clone, Debug)]
pub enum PeerCert {
    /// No certificate sent (or no `--client-ca-file`).
    None,
    Valid(UserInfo),
    /// Sent, but not signed by our CA, expired, or not for client authentication.
    Invalid(String),
}

impl PeerCert {
    /// Judges the chain a client sent in the TLS handshake.
    pub fn check(client_ca: Option<&ClientCa>, chain: Option<&[CertificateDer<'static>]>) -> PeerCert {
        match (client_ca, chain) {
            (Some(ca), Some(chain)) if !chain.is_empty() => match ca.verify(chain) {
                Ok(id) => PeerCert::Valid(user_from_cert(id)),
                Err(why) => PeerCert::Invalid(why),
            },
            _ => PeerCert::None,
        }
    }
}

/// Upstream's x509 authenticator: CN is the user name, each O a group.
pub fn user_from_cert(id: CertIdentity) -> UserInfo {
    let mut groups = id.organizations;
    if !groups.iter().any(|g| g == AUTHENTICATED) {
        groups.push(AUTHENTICATED.to_string());
    }
    UserInfo { name: id.common_name, groups, ..UserInfo::default() }
}

/// The bearer token of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who is asking, or why not (`Err`: answer 401; the reason goes to the log only).
pub async fn authenticate(state: &State, peer: &PeerCert, headers: &HeaderMap) -> Result<UserInfo, String> {
    let mut failures = Vec::new();
    match peer {
        PeerCert::Valid(user) => return Ok(user.clone()),
        PeerCert::Invalid(why) => failures.push(format!("x509: {why}")),
        PeerCert::None => {}
    }
    if let Some(token) = bearer(headers) {
        for authenticator in &state.token_authenticators {
            match authenticator.authenticate(token).await {
                Some(Ok(user)) => return Ok(user),
                Some(Err(why)) => {
                    failures.push(why);
                    break;
                }
                None => {}
            }
        }
        if failures.is_empty() {
            failures.push("invalid bearer token".to_string());
        }
    }
    if failures.is_empty() && state.config.anonymous_auth {
        return Ok(UserInfo::anonymous());
    }
    if failures.is_empty() {
        failures.push("no credentials and --anonymous-auth=false".to_string());
    }
    Err(failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_identity_is_the_user_and_its_groups_plus_authenticated() {
        let user = user_from_cert(CertIdentity { common_name: "admin".into(), organizations: vec!["system:masters".into()] });
        assert_eq!(user, UserInfo::new("admin", ["system:masters", AUTHENTICATED]));
        let node = user_from_cert(CertIdentity { common_name: "system:node:n1".into(), organizations: vec!["system:nodes".into()] });
        assert!(node.in_group("system:nodes") && node.in_group(AUTHENTICATED));
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(http::header::AUTHORIZATION, "bearer  x ".parse().unwrap());
        assert_eq!(bearer(&h), Some("x"));
    }
}
