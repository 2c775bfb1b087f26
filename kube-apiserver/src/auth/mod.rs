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
//!
//! ## Layout
//! - this file: the words ([`UserInfo`], [`Attributes`], [`Decision`]), the [`Chain`] and
//!   `--authorization-mode` ([`Mode`]), and upstream's 403 message;
//! - [`impersonation`]: `Impersonate-User`/`-Group`/`-Uid`/`-Extra-*` headers (`kubectl --as`);
//! - [`rbac`]: the RBAC authorizer; [`policy`]: the bootstrap roles and bindings;
//!   [`escalation`]: no one grants (or binds) permissions they do not hold;
//! - [`node`]: the Node authorizer (kubelets see only what their pods use);
//! - [`review`]: `SelfSubjectAccessReview` / `SubjectAccessReview` (`kubectl auth can-i`);
//! - [`keys`]: service-account key files; [`serviceaccount`]: issues the JWTs and is the
//!   [`TokenAuthenticator`] that accepts them back;
//! - [`mirror`]: the in-memory copies, kept current from the watch caches, that authorizers read.

pub mod escalation;
pub mod impersonation;
pub mod keys;
pub mod mirror;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod review;
pub mod serviceaccount;

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

    /// The same for a token meant for one of `audiences` (a TokenReview's
    /// `spec.audiences`); authenticators that do not know audiences ignore them.
    async fn authenticate_for(&self, token: &str, audiences: &[String]) -> Option<Result<UserInfo, String>> {
        let _ = audiences;
        self.authenticate(token).await
    }
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
    /// The raw `fieldSelector` of a list or watch (`spec.nodeName=node1`): the Node
    /// authorizer lets a kubelet list only its own pods.
    pub field_selector: String,
    /// The raw `labelSelector` of a list or watch.
    pub label_selector: String,
}

/// One authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit refusal: no later authorizer is asked.
    Deny(String),
    /// Let the next authorizer decide; the text says why not allowed (may be empty), and
    /// ends up in the 403's message if no one allows.
    NoOpinion(String),
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

/// `--authorization-mode=AlwaysDeny`: nothing is (but `system:masters` still pass).
pub struct AlwaysDeny;

impl Authorizer for AlwaysDeny {
    fn authorize(&self, _: &Attributes) -> Decision {
        Decision::Deny(String::new())
    }
}

/// One value of `--authorization-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    AlwaysDeny,
    Rbac,
    Node,
}

impl Mode {
    const NAMES: [(&'static str, Mode); 4] =
        [("AlwaysAllow", Mode::AlwaysAllow), ("AlwaysDeny", Mode::AlwaysDeny), ("RBAC", Mode::Rbac), ("Node", Mode::Node)];

    /// `Node,RBAC` → `[Node, Rbac]`; an unknown or repeated mode is an error naming the known ones.
    pub fn parse_list(flag: &str) -> Result<Vec<Mode>, String> {
        let mut modes = Vec::new();
        for word in flag.split(',').map(str::trim) {
            let Some((_, mode)) = Mode::NAMES.iter().find(|(name, _)| *name == word) else {
                let known: Vec<&str> = Mode::NAMES.iter().map(|(n, _)| *n).collect();
                return Err(format!("--authorization-mode: authorization mode {word:?} is not a valid mode (valid modes: {})", known.join(", ")));
            };
            if modes.contains(mode) {
                return Err(format!("--authorization-mode: authorization mode {word:?} has already been specified"));
            }
            modes.push(*mode);
        }
        Ok(modes)
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

    /// The authorizers of `modes`, in order; RBAC and Node follow the store's watch caches.
    pub fn from_modes(modes: &[Mode], store: &crate::store::Store) -> Chain {
        let modes = modes
            .iter()
            .map(|m| -> Box<dyn Authorizer> {
                match m {
                    Mode::AlwaysAllow => Box::new(AlwaysAllow),
                    Mode::AlwaysDeny => Box::new(AlwaysDeny),
                    Mode::Rbac => Box::new(rbac::Rbac::new(store)),
                    Mode::Node => Box::new(node::NodeAuthorizer::new(store)),
                }
            })
            .collect();
        Chain { modes }
    }

    /// The chain's answer: `Allow`, `Deny(reason)` (an explicit refusal) or
    /// `NoOpinion(reasons)` (no one allowed: also a 403).
    pub fn decide(&self, attrs: &Attributes) -> Decision {
        if attrs.user.in_group(MASTERS) {
            return Decision::Allow;
        }
        let mut reasons = Vec::new();
        for mode in &self.modes {
            match mode.authorize(attrs) {
                Decision::Allow => return Decision::Allow,
                Decision::Deny(reason) => return Decision::Deny(reason),
                Decision::NoOpinion(reason) if !reason.is_empty() => reasons.push(reason),
                Decision::NoOpinion(_) => {}
            }
        }
        Decision::NoOpinion(reasons.join(", "))
    }

    /// `Ok(())` or the reason for a 403.
    pub fn check(&self, attrs: &Attributes) -> Result<(), String> {
        match self.decide(attrs) {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) | Decision::NoOpinion(reason) => Err(reason),
        }
    }
}

/// The 403 of a refused request, as upstream's `ForbiddenStatusError`: the message of
/// [`forbidden_message`] and `details: {name, group, kind: <resource>[/<subresource>]}`.
pub fn forbidden(attrs: &Attributes, reason: &str) -> crate::errors::ApiError {
    let message = forbidden_message(attrs, reason);
    if !attrs.resource_request {
        return crate::errors::ApiError::Forbidden(message);
    }
    crate::errors::ApiError::ForbiddenResource {
        resource: combined_resource(attrs),
        group: attrs.api_group.clone(),
        name: attrs.name.clone(),
        message,
    }
}

fn combined_resource(attrs: &Attributes) -> String {
    if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    }
}

/// Upstream's 403 message: `pods is forbidden: User "x" cannot list resource "pods" in API
/// group "" in the namespace "default"` (plus `: reason` when an authorizer gave one).
/// Outside the core group the resource is qualified: `deployments.apps is forbidden: ...`.
pub fn forbidden_message(attrs: &Attributes, reason: &str) -> String {
    let who = &attrs.user.name;
    let mut msg = if attrs.resource_request {
        let resource = combined_resource(attrs);
        let qualified = if attrs.api_group.is_empty() { resource.clone() } else { format!("{resource}.{}", attrs.api_group) };
        let subject = if attrs.name.is_empty() { qualified } else { format!("{qualified} \"{}\"", attrs.name) };
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
        let scale = Attributes { api_group: "apps".into(), resource: "deployments".into(), subresource: "scale".into(), namespace: "ns".into(), ..node };
        assert_eq!(forbidden_message(&scale, "why"), "deployments/scale.apps \"n1\" is forbidden: User \"x\" cannot get resource \"deployments/scale\" in API group \"apps\" in the namespace \"ns\": why");
    }

    #[test]
    fn modes_parse_in_order_and_unknown_ones_are_named() {
        assert_eq!(Mode::parse_list("Node,RBAC"), Ok(vec![Mode::Node, Mode::Rbac]));
        assert_eq!(Mode::parse_list("AlwaysDeny"), Ok(vec![Mode::AlwaysDeny]));
        let err = Mode::parse_list("RBAC,Webhook").unwrap_err();
        assert!(err.contains("\"Webhook\" is not a valid mode") && err.contains("AlwaysAllow, AlwaysDeny, RBAC, Node"), "{err}");
        assert!(Mode::parse_list("RBAC,RBAC").is_err());
    }

    #[test]
    fn a_deny_stops_the_chain_and_no_opinions_collect_reasons() {
        struct Says(Decision);
        impl Authorizer for Says {
            fn authorize(&self, _: &Attributes) -> Decision {
                self.0.clone()
            }
        }
        let attrs = Attributes { user: UserInfo::new("u", ["g"]), ..Attributes::default() };
        let chain = Chain { modes: vec![Box::new(Says(Decision::NoOpinion("a".into()))), Box::new(Says(Decision::NoOpinion("b".into())))] };
        assert_eq!(chain.check(&attrs), Err("a, b".to_string()));
        let chain = Chain { modes: vec![Box::new(Says(Decision::Deny("no".into()))), Box::new(AlwaysAllow)] };
        assert_eq!(chain.check(&attrs), Err("no".to_string()));
    }

    #[test]
    fn masters_pass_and_no_opinion_forbids() {
        struct Nobody;
        impl Authorizer for Nobody {
            fn authorize(&self, _: &Attributes) -> Decision {
                Decision::NoOpinion(String::new())
            }
        }
        let chain = Chain { modes: vec![Box::new(Nobody)] };
        let mut attrs = Attributes { user: UserInfo::insecure(), ..Attributes::default() };
        assert!(chain.check(&attrs).is_ok());
        attrs.user = UserInfo::anonymous();
        assert!(chain.check(&attrs).is_err());
    }
}
