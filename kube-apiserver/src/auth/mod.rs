//! Who is asking, and may they? Upstream's two filters in front of every handler:
//!
//! 1. **Authentication** turns a connection and its headers into a [`UserInfo`] (a name and
//!    groups). The insecure port trusts everyone as [`UserInfo::insecure`] (upstream's
//!    `system:unsecured`, in `system:masters`); the secure port reads client certificates
//!    (CN = user, O = groups) and bearer tokens; a request with no identity is
//!    [`UserInfo::anonymous`].
//! 2. **Authorization** asks each configured [`Authorizer`] in turn (`--authorization-mode`,
//!    e.g. `Node,RBAC`) about the request's [`Attributes`]: the first `Allow` or `Deny` wins;
//!    if all have no opinion the request is forbidden (403).

pub mod authn;
pub mod token_file;

use std::collections::BTreeMap;

/// The authenticated identity of a request (upstream's `user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The group of every authenticated user.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group whose members may do anything (cluster-admin is bound to it).
pub const MASTERS: &str = "system:masters";

impl UserInfo {
    pub fn new(name: impl Into<String>, groups: impl IntoIterator<Item = impl Into<String>>) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.into_iter().map(Into::into).collect(), ..UserInfo::default() }
    }

    /// Whoever talks to the insecure port: trusted as an administrator, as upstream did.
    pub fn insecure() -> UserInfo {
        UserInfo::new("system:unsecured", [MASTERS, AUTHENTICATED])
    }

    /// A request that presented no identity (`--anonymous-auth=true`).
    pub fn anonymous() -> UserInfo {
        UserInfo::new("system:anonymous", ["system:unauthenticated"])
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Turns a bearer token (`Authorization: Bearer ...`) into a user: static tokens
/// (`--token-auth-file`), service-account JWTs (`--service-account-key-file`), ...
/// Authenticators are asked in order (`State::token_authenticators`).
#[async_trait::async_trait]
pub trait TokenAuthenticator: Send + Sync {
    /// `None`: not a token this authenticator knows, ask the next one; `Some(Err(why))`: a
    /// token of its kind that is invalid or expired (the request gets 401).
    async fn authenticate(&self, token: &str) -> Option<Result<UserInfo, String>>;
}

/// What is being asked, in the words authorizers use (upstream's `authorizer.Attributes`).
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`;
    /// for non-resource requests the lower-case HTTP method (`get`, `post`, ...).
    pub verb: String,
    /// True for `/api/...` and `/apis/...` resource requests; false for `/healthz`, `/version`, ...
    pub resource_request: bool,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The URL path (what non-resource rules match).
    pub path: String,
}

/// One authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit refusal: no later authorizer is asked.
    Deny(String),
    /// Let the next authorizer decide.
    NoOpinion,
}

/// One authorization mode (`AlwaysAllow`, `RBAC`, `Node`, ...).
pub trait Authorizer: Send + Sync {
    fn authorize(&self, attrs: &Attributes) -> Decision;
}

/// `--authorization-mode=AlwaysAllow`: everything is allowed (the default, as upstream).
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize(&self, _: &Attributes) -> Decision {
        Decision::Allow
    }
}

/// The configured modes, asked in order; members of `system:masters` are always allowed
/// (upstream's privileged-group authorizer, in front of the chain).
pub struct Chain {
    pub modes: Vec<Box<dyn Authorizer>>,
}

impl Chain {
    pub fn always_allow() -> Chain {
        Chain { modes: vec![Box::new(AlwaysAllow)] }
    }

    /// `Ok(())` or the reason for a 403.
    pub fn check(&self, attrs: &Attributes) -> Result<(), String> {
        if attrs.user.in_group(MASTERS) {
            return Ok(());
        }
        for mode in &self.modes {
            match mode.authorize(attrs) {
                Decision::Allow => return Ok(()),
                Decision::Deny(reason) => return Err(reason),
                Decision::NoOpinion => {}
            }
        }
        Err(String::new())
    }
}

/// Upstream's 403 message: `pods is forbidden: User "x" cannot list resource "pods" in API
/// group "" in the namespace "default"` (plus `: reason` when an authorizer gave one).
pub fn forbidden_message(attrs: &Attributes, reason: &str) -> String {
    let who = &attrs.user.name;
    let mut msg = if attrs.resource_request {
        let resource = if attrs.subresource.is_empty() { attrs.resource.clone() } else { format!("{}/{}", attrs.resource, attrs.subresource) };
        let subject = if attrs.name.is_empty() { resource.clone() } else { format!("{resource} \"{}\"", attrs.name) };
        let mut m = format!("{subject} is forbidden: User \"{who}\" cannot {} resource \"{resource}\" in API group \"{}\"", attrs.verb, attrs.api_group);
        if attrs.namespace.is_empty() {
            m.push_str(" at the cluster scope");
        } else {
            m.push_str(&format!(" in the namespace \"{}\"", attrs.namespace));
        }
        m
    } else {
        format!("forbidden: User \"{who}\" cannot {} path \"{}\"", attrs.verb, attrs.path)
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_read_like_upstream() {
        let attrs = Attributes {
            user: UserInfo::new("x", ["g"]),
            verb: "list".into(),
            resource_request: true,
            namespace: "default".into(),
            resource: "pods".into(),
            ..Attributes::default()
        };
        assert_eq!(forbidden_message(&attrs, ""), "pods is forbidden: User \"x\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"");
        let node = Attributes { verb: "get".into(), namespace: String::new(), resource: "nodes".into(), name: "n1".into(), ..attrs };
        assert_eq!(forbidden_message(&node, ""), "nodes \"n1\" is forbidden: User \"x\" cannot get resource \"nodes\" in API group \"\" at the cluster scope");
    }

    #[test]
    fn masters_pass_and_no_opinion_forbids() {
        struct Nobody;
        impl Authorizer for Nobody {
            fn authorize(&self, _: &Attributes) -> Decision {
                Decision::NoOpinion
            }
        }
        let chain = Chain { modes: vec![Box::new(Nobody)] };
        let mut attrs = Attributes { user: UserInfo::insecure(), ..Attributes::default() };
        assert!(chain.check(&attrs).is_ok());
        attrs.user = UserInfo::anonymous();
        assert!(chain.check(&attrs).is_err());
    }
}
