//! The options of each verb, and how they become a query string or a body.
//!
//! Names follow upstream's Go structs (`ListOptions`, `DeleteOptions`, `PatchOptions`, ...),
//! minus the `Options`; the query keys are the apiserver's (`labelSelector`, `continue`,
//! `allowWatchBookmarks`, ...).

use serde_json::{json, Map, Value};

/// `GET` of a collection (`?labelSelector=app=web&limit=500`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListParams {
    /// `app=web,tier!=db`: only objects whose labels match.
    pub label_selector: Option<String>,
    /// `spec.nodeName=node1`: only objects whose fields match.
    pub field_selector: Option<String>,
    /// At most this many items per page; the answer's `metadata.continue` fetches the next.
    pub limit: Option<u32>,
    /// The `continue` token of the previous page.
    pub continue_token: Option<String>,
    /// `0`: any version is fine (served from the apiserver's cache); empty: the latest.
    pub resource_version: Option<String>,
}

impl ListParams {
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_string());
        self
    }

    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_string());
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub(crate) fn query(&self) -> String {
        query(&[
            ("labelSelector", self.label_selector.clone()),
            ("fieldSelector", self.field_selector.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
            ("continue", self.continue_token.clone()),
            ("resourceVersion", self.resource_version.clone()),
        ])
    }
}

/// `GET ...?watch=true`: a stream of changes after `resource_version`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchParams {
    /// Start after this version (the `metadata.resourceVersion` of a list). Empty: start
    /// now, after a synthetic `ADDED` for every existing object.
    pub resource_version: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// The server closes the stream after this long; reflectors then watch again.
    pub timeout_seconds: Option<u32>,
    /// Ask for `BOOKMARK` events: the server tells us the current version now and then, so
    /// a restarted watch does not start from a version long compacted.
    pub allow_bookmarks: bool,
}

impl WatchParams {
    /// Watch from the version a list returned.
    pub fn from_version(resource_version: &str) -> Self {
        WatchParams {
            resource_version: Some(resource_version.to_string()),
            ..Default::default()
        }
    }

    pub(crate) fn query(&self) -> String {
        query(&[
            ("watch", Some("true".to_string())),
            ("resourceVersion", self.resource_version.clone()),
            ("labelSelector", self.label_selector.clone()),
            ("fieldSelector", self.field_selector.clone()),
            (
                "timeoutSeconds",
                self.timeout_seconds.map(|t| t.to_string()),
            ),
            (
                "allowWatchBookmarks",
                self.allow_bookmarks.then(|| "true".to_string()),
            ),
        ])
    }
}

/// Options of writes (`POST`, `PUT`, and `PATCH` other than apply).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PostParams {
    /// `?dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// Who makes the change, recorded in `managedFields` (`kubectl-create`, ...).
    pub field_manager: Option<String>,
    /// `Strict`, `Warn` or `Ignore`: what the server does with unknown fields.
    pub field_validation: Option<String>,
}

impl PostParams {
    pub(crate) fn query(&self) -> String {
        query(&self.pairs())
    }

    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("dryRun", self.dry_run.then(|| "All".to_string())),
            ("fieldManager", self.field_manager.clone()),
            ("fieldValidation", self.field_validation.clone()),
        ]
    }
}

/// The four kinds of `PATCH`, told apart by `Content-Type`.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchType {
    /// RFC 6902, a list of operations: `[{"op":"replace","path":"/spec/replicas","value":3}]`.
    Json,
    /// RFC 7386: the body is merged into the object; `null` deletes; lists are replaced whole.
    Merge,
    /// Kubernetes' own merge: lists with a merge key (containers by `name`) are merged item
    /// by item. What `kubectl apply` (client side) sends.
    Strategic,
    /// Server-side apply: the body is the whole intent of `field_manager`; `force` takes over
    /// fields another manager owns instead of failing with a conflict.
    Apply { field_manager: String, force: bool },
}

impl PatchType {
    /// The `Content-Type` that selects this patch on the server.
    pub fn content_type(&self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            // JSON is YAML, so we send the manifest as JSON under the YAML media type.
            PatchType::Apply { .. } => "application/apply-patch+yaml",
        }
    }

    pub(crate) fn query(&self, pp: &PostParams) -> String {
        let mut pairs = pp.pairs();
        if let PatchType::Apply {
            field_manager,
            force,
        } = self
        {
            pairs.retain(|(k, _)| *k != "fieldManager");
            pairs.push(("fieldManager", Some(field_manager.clone())));
            pairs.push(("force", Some(force.to_string())));
        }
        query(&pairs)
    }
}

/// What happens to the objects an object owns when it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Leave the dependents, with their owner reference removed.
    Orphan,
    /// Delete the owner now; the garbage collector deletes the dependents afterwards.
    Background,
    /// Delete the dependents first; the owner lingers (with a finalizer) until they are gone.
    Foreground,
}

/// Delete only if the object is still this one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// `DELETE`, with a `DeleteOptions` body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteParams {
    /// Seconds the kubelet gives a pod's containers to stop; `0` deletes at once.
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<PropagationPolicy>,
    pub preconditions: Option<Preconditions>,
    pub dry_run: bool,
}

impl DeleteParams {
    pub fn background() -> Self {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        }
    }

    /// The `DeleteOptions` body, or `None` when every option is left unset (then we send
    /// no body at all, as client-go does).
    pub(crate) fn body(&self) -> Option<Value> {
        let mut m = Map::new();
        if let Some(g) = self.grace_period_seconds {
            m.insert("gracePeriodSeconds".into(), json!(g));
        }
        if let Some(p) = self.propagation_policy {
            m.insert("propagationPolicy".into(), json!(format!("{p:?}")));
        }
        if let Some(pre) = &self.preconditions {
            let mut pm = Map::new();
            if let Some(uid) = &pre.uid {
                pm.insert("uid".into(), json!(uid));
            }
            if let Some(rv) = &pre.resource_version {
                pm.insert("resourceVersion".into(), json!(rv));
            }
            m.insert("preconditions".into(), Value::Object(pm));
        }
        if self.dry_run {
            m.insert("dryRun".into(), json!(["All"]));
        }
        if m.is_empty() {
            return None;
        }
        let mut body = Map::new();
        body.insert("kind".into(), json!("DeleteOptions"));
        body.insert("apiVersion".into(), json!("v1"));
        body.extend(m);
        Some(Value::Object(body))
    }
}

/// `GET .../pods/{name}/log`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogParams {
    /// Required when the pod has several containers.
    pub container: Option<String>,
    /// Keep the answer open and stream new lines (`kubectl logs -f`).
    pub follow: bool,
    pub tail_lines: Option<i64>,
    pub timestamps: bool,
    /// The logs of the previous instance of a restarted container.
    pub previous: bool,
    pub since_seconds: Option<i64>,
}

impl LogParams {
    pub(crate) fn query(&self) -> String {
        query(&[
            ("container", self.container.clone()),
            ("follow", self.follow.then(|| "true".to_string())),
            ("tailLines", self.tail_lines.map(|n| n.to_string())),
            ("timestamps", self.timestamps.then(|| "true".to_string())),
            ("previous", self.previous.then(|| "true".to_string())),
            ("sinceSeconds", self.since_seconds.map(|n| n.to_string())),
        ])
    }
}

/// `?a=1&b=2` from the pairs that have a value (empty string when none), URL-encoded.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v {
            ser.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", ser.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_become_the_apiservers_query_keys() {
        let lp = ListParams {
            continue_token: Some("abc".into()),
            ..ListParams::default().labels("app=web").limit(500)
        };
        assert_eq!(
            lp.query(),
            "?labelSelector=app%3Dweb&limit=500&continue=abc"
        );
        assert_eq!(ListParams::default().query(), "");
    }

    #[test]
    fn watch_params_always_say_watch() {
        let wp = WatchParams {
            timeout_seconds: Some(300),
            allow_bookmarks: true,
            ..WatchParams::from_version("42")
        };
        assert_eq!(
            wp.query(),
            "?watch=true&resourceVersion=42&timeoutSeconds=300&allowWatchBookmarks=true"
        );
    }

    #[test]
    fn apply_carries_its_field_manager_and_force() {
        let pt = PatchType::Apply {
            field_manager: "kubectl".into(),
            force: false,
        };
        let pp = PostParams {
            field_validation: Some("Strict".into()),
            ..Default::default()
        };
        assert_eq!(
            pt.query(&pp),
            "?fieldValidation=Strict&fieldManager=kubectl&force=false"
        );
        assert_eq!(pt.content_type(), "application/apply-patch+yaml");
    }

    #[test]
    fn delete_options_are_sent_only_when_set() {
        assert_eq!(DeleteParams::default().body(), None);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some("u1".into()),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        assert_eq!(
            dp.body().unwrap(),
            json!({"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,
                   "propagationPolicy":"Background","preconditions":{"uid":"u1"}})
        );
    }
}
