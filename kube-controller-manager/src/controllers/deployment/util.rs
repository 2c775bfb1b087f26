//! The Deployment controller's arithmetic — upstream's `pkg/controller/deployment/util`:
//! the `pod-template-hash`, revisions, `maxSurge`/`maxUnavailable`, and which ReplicaSet is
//! the new one.
//!
//! **The pod-template-hash.** Upstream hashes the template with `DeepHashObject` (FNV-32a
//! over Go's `%#v` printing of the struct), adds the `collisionCount`, and encodes the
//! decimal sum with `rand.SafeEncodeString` (letters without vowels, so no word is ever
//! spelt). Go's `%#v` printing of a Go struct cannot be reproduced outside Go, so we hash
//! the template's **JSON** instead: same FNV-32a, same collision-count bytes, same safe
//! encoding. The names look like upstream's (`web-7c5ddbdf54`) and are stable for a given
//! template, but not equal to what upstream would compute for the same template.

use std::sync::Arc;

use kube_api::apps::{Deployment, ReplicaSet};
use kube_api::core::{IntOrString, PodTemplateSpec};

/// The label (and selector key) that ties a ReplicaSet's pods to its template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a ReplicaSet (and of its Deployment): 1, 2, 3, ...
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// `spec.replicas` of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `replicas + maxSurge` when the ReplicaSet was last scaled (proportional scaling).
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations never copied between a Deployment and its ReplicaSets (as upstream's
/// `annotationsToSkip`, which `kubectl rollout undo` also honours).
pub const ANNOTATIONS_TO_SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// FNV-32a, the hash upstream uses for the pod-template-hash.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Upstream's `rand.SafeEncodeString`: each byte becomes one of 27 consonants and digits.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// The `pod-template-hash` of a template (see the module comment).
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// The `deployment.kubernetes.io/revision` of a ReplicaSet (0 if none).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata.annotations.get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The highest revision among `rses`.
pub fn max_revision(rses: &[Arc<ReplicaSet>]) -> i64 {
    rses.iter().map(|rs| revision(rs)).max().unwrap_or(0)
}

/// Two templates are the same rollout if they differ only in the `pod-template-hash`
/// label (upstream's `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.metadata.labels.remove(POD_TEMPLATE_HASH);
    b.metadata.labels.remove(POD_TEMPLATE_HASH);
    a == b
}

/// The ReplicaSet whose template is the Deployment's, the oldest if several.
pub fn find_new_rs(d: &Deployment, rses: &[Arc<ReplicaSet>]) -> Option<Arc<ReplicaSet>> {
    let mut sorted = rses.to_vec();
    sort_by_creation(&mut sorted);
    sorted.into_iter().find(|rs| equal_ignore_hash(&rs.spec.template, &d.spec.template))
}

/// Oldest first; the name breaks ties.
pub fn sort_by_creation(rses: &mut [Arc<ReplicaSet>]) {
    rses.sort_by(|a, b| {
        let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

pub fn deployment_replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

/// Sum of `spec.replicas`.
pub fn replica_count(rses: &[Arc<ReplicaSet>]) -> i32 {
    rses.iter().map(|rs| spec_replicas(rs)).sum()
}

/// An int, or a percentage of `total` rounded up or down (upstream's
/// `intstr.GetScaledValueFromIntOrPercent`).
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let x = i64::from(total) * p;
            (if round_up { (x + 99) / 100 } else { x / 100 }) as i32
        }
    }
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec.strategy.type_ != "Recreate"
}

/// (maxSurge, maxUnavailable) as numbers: surge rounds up, unavailable down, and both
/// zero would block a rollout, so unavailable becomes 1 (upstream's `ResolveFenceposts`).
pub fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let replicas = deployment_replicas(d);
    let ru = d.spec.strategy.rolling_update.clone().unwrap_or_default();
    let surge = scaled_value(ru.max_surge.as_ref().or(Some(&IntOrString::String("25%".into()))), replicas, true);
    let unavailable = scaled_value(ru.max_unavailable.as_ref().or(Some(&IntOrString::String("25%".into()))), replicas, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// How many pods may be missing during a rollout (0 for Recreate).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = deployment_replicas(d);
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(replicas)
}

/// How many pods may exist above `replicas` during a rollout (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    resolve_fenceposts(d).0
}

/// The size the new ReplicaSet may grow to now (upstream's `NewRSNewReplicas`).
pub fn new_rs_new_replicas(d: &Deployment, all: &[Arc<ReplicaSet>], new_rs_replicas: i32) -> i32 {
    let replicas = deployment_replicas(d);
    if !is_rolling(d) {
        return replicas;
    }
    let current = replica_count(all);
    let max_total = replicas + max_surge(d);
    if current >= max_total {
        return new_rs_replicas; // cannot scale up yet
    }
    let scale_up = (max_total - current).min(replicas - new_rs_replicas).max(0);
    new_rs_replicas + scale_up
}

/// The ReplicaSet has all the Deployment's replicas, all available.
pub fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let replicas = deployment_replicas(d);
    let desired = rs.metadata.annotations.get(DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok());
    spec_replicas(rs) == replicas && desired == Some(replicas) && rs.status.available_replicas.unwrap_or(0) == replicas
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_api::apps::RollingUpdateDeployment;

    fn deploy(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        let mut d = Deployment::default();
        d.spec.replicas = Some(replicas);
        d.spec.strategy.type_ = "RollingUpdate".into();
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        });
        d
    }

    #[test]
    fn fnv32a_and_safe_encoding_match_upstream_primitives() {
        // FNV-1a 32 test vectors.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
        // SafeEncodeString maps each byte into "bcdfghjklmnpqrstvwxz2456789".
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn the_hash_is_stable_depends_on_the_template_and_on_the_collision_count() {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t.clone(), None));
        assert!(h.len() >= 8 && h.len() <= 10, "{h}");
        assert_ne!(h, compute_hash(&t, Some(1)));
        t.metadata.labels.insert("v".into(), "2".into());
        assert_ne!(h, compute_hash(&t, None));
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        let d = deploy(10, "25%".into(), "25%".into());
        assert_eq!(resolve_fenceposts(&d), (3, 2));
        let d = deploy(3, 0.into(), 0.into());
        assert_eq!(resolve_fenceposts(&d), (0, 1), "both zero would block the rollout");
        let d = deploy(2, 5.into(), 5.into());
        assert_eq!(max_unavailable(&d), 2, "never more than replicas");
    }

    #[test]
    fn the_new_replica_set_grows_within_max_surge() {
        let d = deploy(10, 3.into(), 0.into());
        let rs = |n: i32| {
            let mut rs = ReplicaSet::default();
            rs.spec.replicas = Some(n);
            Arc::new(rs)
        };
        // old 10 + new 0: may add 3.
        assert_eq!(new_rs_new_replicas(&d, &[rs(10), rs(0)], 0), 3);
        // old 10 + new 3 = 13 = max: wait.
        assert_eq!(new_rs_new_replicas(&d, &[rs(10), rs(3)], 3), 3);
        // old 2 + new 8: may reach 10, not more.
        assert_eq!(new_rs_new_replicas(&d, &[rs(2), rs(8)], 8), 10);
    }

    #[test]
    fn templates_equal_but_for_the_hash_label_are_the_same_rollout() {
        let mut a = PodTemplateSpec::default();
        a.metadata.labels.insert("app".into(), "web".into());
        let mut b = a.clone();
        b.metadata.labels.insert(POD_TEMPLATE_HASH.into(), "abc".into());
        assert!(equal_ignore_hash(&a, &b));
        b.spec.restart_policy = "Never".into();
        assert!(!equal_ignore_hash(&a, &b));
    }
}
