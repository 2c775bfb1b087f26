//! The `apps/v1` kinds: the workload controllers that keep Pods running from a template.
//! `Deployment` rolls out new versions through `ReplicaSet`s, which keep N Pods;
//! `StatefulSet` gives each Pod a stable name and storage; `DaemonSet` runs one Pod per node.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::core::pod_rules::{default_pod_spec, validate_template_for_selector};
use crate::core::{Condition, IntOrString, LabelSelector, PodTemplateSpec};
use crate::meta::{ObjectMeta, Time};
use crate::core::validate_label_selector;
use crate::validation::{validate_nonnegative, validate_object_meta, FieldError, NameRule};
use crate::Object;

// ---------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DeploymentSpec,
    #[serde(default)]
    pub status: DeploymentStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub replicas: Option<i32>,
    /// Must select the template's labels; immutable in apps/v1.
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// How long a new Pod must be ready before it counts as available.
    pub min_ready_seconds: Option<i32>,
    /// How many old ReplicaSets to keep for rollback.
    pub revision_history_limit: Option<i32>,
    pub paused: Option<bool>,
    /// After this long without progress, the `Progressing` condition turns `False`.
    pub progress_deadline_seconds: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    pub rolling_update: Option<RollingUpdateDeployment>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// Pods that may be unavailable during the update: a number or a percentage (`25%`).
    pub max_unavailable: Option<IntOrString>,
    /// Pods that may exist above `replicas` during the update.
    pub max_surge: Option<IntOrString>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub observed_generation: Option<i64>,
    pub replicas: Option<i32>,
    pub updated_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub unavailable_replicas: Option<i32>,
    pub terminating_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
    /// Bumped when the hash of the template collides with an existing ReplicaSet's.
    pub collision_count: Option<i32>,
}

/// `Available`, `Progressing`, `ReplicaFailure`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub last_update_time: Option<Time>,
    #[serde(default)]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

macro_rules! apps_kind {
    ($ty:ident) => {
        const GROUP: &'static str = "apps";
        const VERSION: &'static str = "v1";
        const KIND: &'static str = stringify!($ty);
        fn metadata(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn metadata_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
        /// Only the controller writes status; a new object is generation 1.
        fn prepare_for_create(&mut self) {
            self.status = Default::default();
            self.metadata.generation = Some(1);
        }
    };
}

impl Object for Deployment {
    apps_kind!(Deployment);

    /// `SetDefaults_Deployment`: 1 replica, `RollingUpdate` 25%/25%, 10 old ReplicaSets,
    /// 600 s progress deadline; the template gets the pod defaults.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        if spec.strategy.type_.is_empty() {
            spec.strategy.type_ = "RollingUpdate".into();
        }
        if spec.strategy.type_ == "RollingUpdate" {
            let ru = spec.strategy.rolling_update.get_or_insert_with(Default::default);
            ru.max_unavailable.get_or_insert_with(|| "25%".into());
            ru.max_surge.get_or_insert_with(|| "25%".into());
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        default_pod_spec(&mut spec.template.spec);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        let spec = &self.spec;
        errs.extend(validate_nonnegative(spec.replicas, "spec.replicas"));
        errs.extend(validate_selector_and_template(spec.selector.as_ref(), &spec.template, "deployment"));
        const STRATEGIES: &[&str] = &["Recreate", "RollingUpdate"];
        if !STRATEGIES.contains(&spec.strategy.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.strategy.type", &spec.strategy.type_, STRATEGIES));
        }
        if spec.strategy.type_ == "Recreate" && spec.strategy.rolling_update.is_some() {
            errs.push(FieldError::forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            ));
        }
        if let Some(ru) = &spec.strategy.rolling_update {
            errs.extend(validate_int_or_percent(ru.max_unavailable.as_ref(), "spec.strategy.rollingUpdate.maxUnavailable"));
            errs.extend(validate_int_or_percent(ru.max_surge.as_ref(), "spec.strategy.rollingUpdate.maxSurge"));
        }
        errs.extend(validate_nonnegative(spec.min_ready_seconds, "spec.minReadySeconds"));
        errs.extend(validate_nonnegative(spec.revision_history_limit, "spec.revisionHistoryLimit"));
        errs
    }
}

/// A count or a percentage (`25%`), not negative (upstream's `ValidatePositiveIntOrPercent`).
fn validate_int_or_percent(v: Option<&IntOrString>, field: &str) -> Vec<FieldError> {
    match v {
        Some(IntOrString::Int(i)) if *i < 0 => {
            vec![FieldError::invalid_raw(field, i, "must be greater than or equal to 0")]
        }
        Some(IntOrString::String(s)) => match s.strip_suffix('%').map(str::parse::<i32>) {
            Some(Ok(p)) if p >= 0 => Vec::new(),
            Some(Ok(_)) => vec![FieldError::invalid(field, s, "must be greater than or equal to 0")],
            _ => vec![FieldError::invalid(field, s, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")],
        },
        _ => Vec::new(),
    }
}

/// The selector checks of Deployments, ReplicaSets, StatefulSets and DaemonSets: required,
/// non-empty, well-formed, and matching the template's labels.
fn validate_selector_and_template(selector: Option<&LabelSelector>, template: &PodTemplateSpec, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match selector {
        None => {
            errs.push(FieldError::required("spec.selector"));
            errs.extend(crate::core::validate_pod_template(template, "spec.template"));
        }
        Some(sel) => {
            errs.extend(validate_label_selector(sel, "spec.selector"));
            if sel.is_empty() {
                errs.push(FieldError::invalid_raw("spec.selector", "null", &format!("empty selector is invalid for {kind}")));
            }
            let matches = sel.matches(&template.metadata.labels);
            errs.extend(validate_template_for_selector(template, matches, sel.is_empty(), "spec.template"));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------
// ReplicaSet
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    #[serde(default)]
    pub status: ReplicaSetStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    pub replicas: Option<i32>,
    pub min_ready_seconds: Option<i32>,
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// Always written (no `omitempty` upstream).
    #[serde(default)]
    pub replicas: i32,
    /// Pods whose labels match the template's labels (not only the selector).
    pub fully_labeled_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub terminating_replicas: Option<i32>,
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Object for ReplicaSet {
    apps_kind!(ReplicaSet);

    fn set_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        default_pod_spec(&mut self.spec.template.spec);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        errs.extend(validate_nonnegative(self.spec.replicas, "spec.replicas"));
        errs.extend(validate_nonnegative(self.spec.min_ready_seconds, "spec.minReadySeconds"));
        errs.extend(validate_selector_and_template(self.spec.selector.as_ref(), &self.spec.template, "deployment"));
        errs
    }
}

// ---------------------------------------------------------------------------------------
// StatefulSet
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: StatefulSetSpec,
    #[serde(default)]
    pub status: StatefulSetStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetSpec {
    pub replicas: Option<i32>,
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    pub volume_claim_templates: Option<Value>,
    /// The headless Service that gives each Pod its DNS name (`web-0.nginx`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// `OrderedReady` (default: one at a time, in order) or `Parallel`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_management_policy: String,
    #[serde(default)]
    pub update_strategy: StatefulSetUpdateStrategy,
    pub revision_history_limit: Option<i32>,
    pub min_ready_seconds: Option<i32>,
    pub persistent_volume_claim_retention_policy: Option<PersistentVolumeClaimRetentionPolicy>,
    pub ordinals: Option<StatefulSetOrdinals>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetUpdateStrategy {
    /// `RollingUpdate` (default) or `OnDelete`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    pub rolling_update: Option<RollingUpdateStatefulSetStrategy>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateStatefulSetStrategy {
    /// Only Pods with an ordinal ≥ partition are updated.
    pub partition: Option<i32>,
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimRetentionPolicy {
    /// `Retain` (default) or `Delete`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_deleted: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_scaled: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetOrdinals {
    #[serde(default)]
    pub start: i32,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetStatus {
    pub observed_generation: Option<i64>,
    /// Always written (no `omitempty` upstream).
    #[serde(default)]
    pub replicas: i32,
    pub ready_replicas: Option<i32>,
    /// Pods at `currentRevision`.
    pub current_replicas: Option<i32>,
    /// Pods at `updateRevision`.
    pub updated_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    pub collision_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    pub available_replicas: Option<i32>,
}

impl Object for StatefulSet {
    apps_kind!(StatefulSet);

    /// `SetDefaults_StatefulSet`.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.pod_management_policy.is_empty() {
            spec.pod_management_policy = "OrderedReady".into();
        }
        if spec.update_strategy.type_.is_empty() {
            spec.update_strategy.type_ = "RollingUpdate".into();
        }
        if spec.update_strategy.type_ == "RollingUpdate" {
            let ru = spec.update_strategy.rolling_update.get_or_insert_with(Default::default);
            ru.partition.get_or_insert(0);
        }
        let policy = spec.persistent_volume_claim_retention_policy.get_or_insert_with(Default::default);
        for p in [&mut policy.when_deleted, &mut policy.when_scaled] {
            if p.is_empty() {
                *p = "Retain".into();
            }
        }
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        default_pod_spec(&mut spec.template.spec);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        let spec = &self.spec;
        errs.extend(validate_nonnegative(spec.replicas, "spec.replicas"));
        const POLICIES: &[&str] = &["OrderedReady", "Parallel"];
        if !POLICIES.contains(&spec.pod_management_policy.as_str()) {
            errs.push(FieldError::not_supported("spec.podManagementPolicy", &spec.pod_management_policy, POLICIES));
        }
        const STRATEGIES: &[&str] = &["OnDelete", "RollingUpdate"];
        if !STRATEGIES.contains(&spec.update_strategy.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.updateStrategy.type", &spec.update_strategy.type_, STRATEGIES));
        }
        if let Some(p) = spec.update_strategy.rolling_update.as_ref().and_then(|r| r.partition) {
            errs.extend(validate_nonnegative(Some(p), "spec.updateStrategy.rollingUpdate.partition"));
        }
        errs.extend(validate_selector_and_template(spec.selector.as_ref(), &spec.template, "statefulset"));
        errs
    }
}

// ---------------------------------------------------------------------------------------
// DaemonSet
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DaemonSetSpec,
    #[serde(default)]
    pub status: DaemonSetStatus,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub update_strategy: DaemonSetUpdateStrategy,
    pub min_ready_seconds: Option<i32>,
    pub revision_history_limit: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetUpdateStrategy {
    /// `RollingUpdate` (default) or `OnDelete`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    pub rolling_update: Option<RollingUpdateDaemonSet>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDaemonSet {
    pub max_unavailable: Option<IntOrString>,
    pub max_surge: Option<IntOrString>,
}

/// The first four counts are always written (no `omitempty` upstream).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Nodes running at least one daemon Pod that should.
    #[serde(default)]
    pub current_number_scheduled: i32,
    /// Nodes running a daemon Pod that should not.
    #[serde(default)]
    pub number_misscheduled: i32,
    /// Nodes that should run the daemon Pod.
    #[serde(default)]
    pub desired_number_scheduled: i32,
    #[serde(default)]
    pub number_ready: i32,
    pub observed_generation: Option<i64>,
    pub updated_number_scheduled: Option<i32>,
    pub number_available: Option<i32>,
    pub number_unavailable: Option<i32>,
    pub collision_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Object for DaemonSet {
    apps_kind!(DaemonSet);

    /// `SetDefaults_DaemonSet`: `RollingUpdate` with maxUnavailable 1, maxSurge 0; 10 revisions.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.update_strategy.type_.is_empty() {
            spec.update_strategy.type_ = "RollingUpdate".into();
        }
        if spec.update_strategy.type_ == "RollingUpdate" {
            let ru = spec.update_strategy.rolling_update.get_or_insert_with(Default::default);
            ru.max_unavailable.get_or_insert(IntOrString::Int(1));
            ru.max_surge.get_or_insert(IntOrString::Int(0));
        }
        spec.revision_history_limit.get_or_insert(10);
        default_pod_spec(&mut spec.template.spec);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = validate_object_meta(&self.metadata, true, NameRule::Subdomain);
        let spec = &self.spec;
        const STRATEGIES: &[&str] = &["OnDelete", "RollingUpdate"];
        if !STRATEGIES.contains(&spec.update_strategy.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.updateStrategy.type", &spec.update_strategy.type_, STRATEGIES));
        }
        if let Some(ru) = &spec.update_strategy.rolling_update {
            errs.extend(validate_int_or_percent(ru.max_unavailable.as_ref(), "spec.updateStrategy.rollingUpdate.maxUnavailable"));
            errs.extend(validate_int_or_percent(ru.max_surge.as_ref(), "spec.updateStrategy.rollingUpdate.maxSurge"));
        }
        errs.extend(validate_nonnegative(spec.min_ready_seconds, "spec.minReadySeconds"));
        errs.extend(validate_selector_and_template(spec.selector.as_ref(), &spec.template, "daemonset"));
        errs
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::object::decode_typed;

    /// Seed 003's deployment.
    fn web_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"labels": {"app": "web"}, "name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"image": "zwindler/vhelloworld", "name": "web"}]}
                }
            }
        })
    }

    #[test]
    fn seed_deployment_defaults_as_upstream() {
        let (mut d, unknown) = decode_typed::<Deployment>(web_deployment()).unwrap();
        assert!(unknown.is_empty());
        d.set_defaults();
        d.prepare_for_create();
        assert!(d.validate().is_empty(), "{:?}", d.validate());
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}));
        assert_eq!(v["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(v["spec"]["progressDeadlineSeconds"], 600);
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["schedulerName"], "default-scheduler");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert!(pod.get("tolerations").is_none(), "admission defaults are for Pods only");
        assert_eq!(v["status"], json!({}));
        assert_eq!(d.metadata.generation, Some(1));
    }

    #[test]
    fn selector_must_match_template_labels() {
        let mut v = web_deployment();
        v["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        v["spec"]["replicas"] = json!(-1);
        let (mut d, _) = decode_typed::<Deployment>(v).unwrap();
        d.set_defaults();
        let errs: Vec<String> = d.validate().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ]
        );
        let (d, _) = decode_typed::<Deployment>(json!({"metadata": {"name": "x", "namespace": "d"}})).unwrap();
        assert!(d.validate().iter().any(|e| e.to_string() == "spec.selector: Required value"));
    }

    #[test]
    fn workload_defaults() {
        let (mut rs, _) = decode_typed::<ReplicaSet>(json!({"spec": {}})).unwrap();
        rs.set_defaults();
        assert_eq!(rs.spec.replicas, Some(1));

        let (mut sts, _) = decode_typed::<StatefulSet>(json!({"spec": {"serviceName": "web"}})).unwrap();
        sts.set_defaults();
        let v = serde_json::to_value(&sts.spec).unwrap();
        assert_eq!(v["podManagementPolicy"], "OrderedReady");
        assert_eq!(v["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(v["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!((v["replicas"].clone(), v["revisionHistoryLimit"].clone()), (json!(1), json!(10)));

        let (mut ds, _) = decode_typed::<DaemonSet>(json!({})).unwrap();
        ds.set_defaults();
        let v = serde_json::to_value(&ds.spec).unwrap();
        assert_eq!(v["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        assert_eq!(v["revisionHistoryLimit"], 10);
        assert_eq!(serde_json::to_value(&ds.status).unwrap(),
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}));
    }

    #[test]
    fn label_selector_operators_are_checked() {
        let sel: LabelSelector = serde_json::from_value(json!({"matchExpressions": [
            {"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]}, {"key": "c", "operator": "Has"}
        ]})).unwrap();
        let errs: Vec<String> = validate_label_selector(&sel, "spec.selector").iter().map(|e| e.to_string()).collect();
        assert_eq!(errs, vec![
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            "spec.selector.matchExpressions[2].operator: Invalid value: \"Has\": not a valid selector operator",
        ]);
    }
}
