//! What the workload controllers share — upstream's `pkg/controller/controller_utils.go`
//! and `controller_ref_manager.go`:
//!
//! - **Pod state**: [`is_pod_active`] (not finished, not being deleted), [`is_pod_ready`],
//!   [`is_pod_available`] (ready for at least `minReadySeconds`).
//! - **Which pods to delete first** when scaling down: [`sort_for_deletion`], upstream's
//!   `ActivePodsWithRanks` order (unscheduled < scheduled, pending < unknown < running,
//!   not ready < ready, lower deletion cost, more pods on the same node, ready for less
//!   time, more restarts, newer).
//! - **Ownership** ([`claim`]): a controller *owns* the objects whose `ownerReferences`
//!   entry with `controller: true` names its UID. Orphans that match its selector are
//!   **adopted** (an owner reference is added); owned objects that no longer match are
//!   **released** (the reference is removed). Objects controlled by someone else are
//!   never touched.
//! - **Slow start** ([`slow_start_batch`]): create 1, then 2, 4, 8, ... at a time and stop
//!   at the first failing batch — a quota error costs one failed request, not five hundred.
//! - Pods from a template ([`pod_from_template`]) with a controller owner reference.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube_api::core::{Pod, PodTemplateSpec};
use kube_api::{Object, OwnerReference};
use kube_client::{Api, PatchType};
use serde_json::json;

/// Upstream's `burstReplicas`: at most this many creations or deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// Not finished (Succeeded/Failed) and not being deleted: counts towards `replicas`.
pub fn is_pod_active(pod: &Pod) -> bool {
    pod.status.phase != "Succeeded" && pod.status.phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod became ready (its Ready condition's last transition), if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Option<DateTime<Utc>>> {
    pod.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Ready for at least `min_ready_seconds` at `now` (upstream's `IsPodAvailable`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since + chrono::Duration::seconds(min_ready_seconds.into()) <= now,
    }
}

/// How long until a ready pod becomes available, if it is ready but not yet available.
pub fn time_until_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let since = ready_since(pod)??;
    let at = since + chrono::Duration::seconds(min_ready_seconds.into());
    (at > now).then(|| (at - now).to_std().unwrap_or_default())
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.phase.as_str() {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .get("controller.kubernetes.io/pod-deletion-cost")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status.container_statuses.iter().map(|c| c.restart_count).max().unwrap_or(0)
}

/// Upstream's `ActivePodsWithRanks.Less`: is `a` a better pod to delete than `b`?
/// `rank` is the number of `related` pods on the pod's node (doubled-up pods go first).
fn deletion_order(a: &Pod, b: &Pod, rank: &HashMap<String, usize>) -> Ordering {
    let unassigned = |p: &Pod| !p.spec.node_name.is_empty();
    let ready = |p: &Pod| is_pod_ready(p);
    let node_rank = |p: &Pod| rank.get(&p.spec.node_name).copied().unwrap_or(0);
    let since = |p: &Pod| ready_since(p).flatten();
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    unassigned(a)
        .cmp(&unassigned(b)) // 1. unscheduled first
        .then(phase_rank(a).cmp(&phase_rank(b))) // 2. Pending < Unknown < Running
        .then(ready(a).cmp(&ready(b))) // 3. not ready first
        .then(deletion_cost(a).cmp(&deletion_cost(b))) // 4. lower deletion cost first
        .then(node_rank(b).cmp(&node_rank(a))) // 5. more pods on its node first
        .then_with(|| match (ready(a) && ready(b), since(a), since(b)) {
            (true, Some(x), Some(y)) => y.cmp(&x), // 6. ready for less time first
            _ => Ordering::Equal,
        })
        .then(restarts(b).cmp(&restarts(a))) // 7. more restarts first
        .then_with(|| match (created(a), created(b)) {
            (Some(x), Some(y)) => y.cmp(&x), // 8. newer first
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
}

/// Sorts `pods` best-to-delete first. `related` are the pods whose node placement counts
/// for rule 5 (upstream: the active pods of the same owner).
pub fn sort_for_deletion(pods: &mut [Arc<Pod>], related: &[Arc<Pod>]) {
    let mut rank: HashMap<String, usize> = HashMap::new();
    for p in related.iter().filter(|p| !p.spec.node_name.is_empty()) {
        *rank.entry(p.spec.node_name.clone()).or_default() += 1;
    }
    pods.sort_by(|a, b| deletion_order(a, b, &rank));
}

/// The owner reference a controller puts on what it creates or adopts.
pub fn controller_ref<K: Object>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(),
        kind: K::KIND.to_string(),
        name: owner.metadata().name.clone(),
        uid: owner.metadata().uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A pod for `owner` from its template: `generateName: <owner>-`, the template's labels
/// and annotations, a controller reference.
pub fn pod_from_template<K: Object>(owner: &K, template: &PodTemplateSpec) -> Pod {
    let mut pod = Pod {
        spec: template.spec.clone(),
        ..Default::default()
    };
    pod.metadata.generate_name = format!("{}-", owner.metadata().name);
    pod.metadata.namespace = owner.metadata().namespace.clone();
    pod.metadata.labels = template.metadata.labels.clone();
    pod.metadata.annotations = template.metadata.annotations.clone();
    pod.metadata.finalizers = template.metadata.finalizers.clone();
    pod.metadata.owner_references = vec![controller_ref(owner)];
    pod
}

/// What [`claim`] decided for one controller's candidates.
#[derive(Debug)]
pub struct Claim<D> {
    /// Controlled by the owner and still matching: its dependents.
    pub owned: Vec<Arc<D>>,
    /// Orphans that match: to adopt (they become owned once patched).
    pub adopt: Vec<Arc<D>>,
    /// Controlled by the owner but no longer matching: to release.
    pub release: Vec<Arc<D>>,
}

/// Upstream's `ClaimObject` for each candidate (objects in the owner's namespace).
/// A deleting owner adopts nothing and releases nothing; a deleting orphan is not adopted.
pub fn claim<D: Object>(
    owner_uid: &str,
    owner_deleting: bool,
    matches: impl Fn(&BTreeMap<String, String>) -> bool,
    candidates: impl IntoIterator<Item = Arc<D>>,
) -> Claim<D> {
    let mut c = Claim {
        owned: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
    };
    for d in candidates {
        let meta = d.metadata();
        match meta.controller_ref() {
            Some(r) if r.uid == owner_uid => {
                if matches(&meta.labels) || owner_deleting {
                    c.owned.push(d);
                } else {
                    c.release.push(d);
                }
            }
            Some(_) => {} // someone else's
            None => {
                if matches(&meta.labels) && !owner_deleting && meta.deletion_timestamp.is_none() {
                    c.adopt.push(d);
                }
            }
        }
    }
    c
}

/// Adds `owner`'s controller reference to an orphan (a merge patch carrying the
/// dependent's resourceVersion, so that a concurrent change makes it fail with 409).
pub async fn adopt<D: Object>(api: &Api<D>, dependent: &D, owner: OwnerReference) -> kube_client::Result<D> {
    let meta = dependent.metadata();
    let mut refs = meta.owner_references.clone();
    refs.push(owner);
    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": meta.resource_version}});
    api.patch(&meta.name, &PatchType::Merge, &patch).await
}

/// Removes the reference to `owner_uid` from a dependent.
pub async fn release<D: Object>(api: &Api<D>, dependent: &D, owner_uid: &str) -> kube_client::Result<D> {
    let meta = dependent.metadata();
    let refs: Vec<_> = meta.owner_references.iter().filter(|r| r.uid != owner_uid).collect();
    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": meta.resource_version}});
    api.patch(&meta.name, &PatchType::Merge, &patch).await
}

/// Runs `count` calls of `f` in batches of 1, 2, 4, ... (all calls of a batch at once),
/// stopping after the first batch in which a call failed. Answers how many succeeded and
/// the first error; the calls never made are `count - successes - failures`.
pub async fn slow_start_batch<F, Fut, E>(count: usize, initial: usize, f: F) -> (usize, usize, Option<E>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let (mut done, mut batch) = (0, initial.max(1).min(count));
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut first_err = None;
        let mut failed = 0;
        for r in results {
            match r {
                Ok(()) => done += 1,
                Err(e) => {
                    failed += 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        if first_err.is_some() {
            return (done, failed, first_err);
        }
        batch = (2 * batch).min(count - done);
    }
    (done, 0, None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kube_api::core::{ContainerStatus, PodCondition};
    use kube_api::meta::Time;

    pub fn pod(name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = "default".into();
        p.metadata.name = name.into();
        p.metadata.uid = format!("uid-{name}");
        p.metadata.labels.insert("app".into(), "web".into());
        p.metadata.creation_timestamp = Some(Time(DateTime::from_timestamp(1_000, 0).unwrap()));
        p.status.phase = "Pending".into();
        p
    }

    pub fn running(mut p: Pod, node: &str, ready_at: Option<i64>) -> Pod {
        p.spec.node_name = node.into();
        p.status.phase = "Running".into();
        if let Some(at) = ready_at {
            p.status.conditions.push(PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(DateTime::from_timestamp(at, 0).unwrap())),
                ..Default::default()
            });
        }
        p
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter().map(|p| p.metadata.name.as_str()).collect()
    }

    #[test]
    fn deletion_prefers_unscheduled_then_pending_then_not_ready_then_doubled_up_then_newer() {
        let unscheduled = pod("unscheduled");
        let mut pending = pod("pending");
        pending.spec.node_name = "n1".into();
        let not_ready = running(pod("not-ready"), "n1", None);
        let ready_alone = running(pod("ready-alone"), "n2", Some(100));
        let mut ready_doubled = running(pod("ready-doubled"), "n1", Some(100));
        ready_doubled.metadata.creation_timestamp = Some(Time(DateTime::from_timestamp(500, 0).unwrap()));
        let mut ready_newer = running(pod("ready-newer"), "n3", Some(100));
        ready_newer.metadata.creation_timestamp = Some(Time(DateTime::from_timestamp(2_000, 0).unwrap()));
        let mut restarted = running(pod("restarted"), "n4", Some(100));
        restarted.status.container_statuses.push(ContainerStatus {
            restart_count: 3,
            ..Default::default()
        });
        let mut pods: Vec<Arc<Pod>> = [ready_alone, restarted, ready_newer, ready_doubled, not_ready, pending, unscheduled]
            .into_iter()
            .map(Arc::new)
            .collect();
        let related = pods.clone();
        sort_for_deletion(&mut pods, &related);
        assert_eq!(
            names(&pods),
            ["unscheduled", "pending", "not-ready", "ready-doubled", "restarted", "ready-newer", "ready-alone"]
        );
    }

    #[test]
    fn ready_for_less_time_goes_first_among_ready_pods() {
        let old = running(pod("old"), "n1", Some(100));
        let young = running(pod("young"), "n2", Some(900));
        let mut pods = vec![Arc::new(old), Arc::new(young)];
        sort_for_deletion(&mut pods, &[]);
        assert_eq!(names(&pods), ["young", "old"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = running(pod("p"), "n1", Some(100));
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert!(is_pod_available(&p, 0, at(100)));
        assert!(!is_pod_available(&p, 10, at(105)));
        assert_eq!(time_until_available(&p, 10, at(105)), Some(std::time::Duration::from_secs(5)));
        assert!(is_pod_available(&p, 10, at(110)));
        assert!(!is_pod_available(&pod("pending"), 0, at(100)));
    }

    #[test]
    fn claim_adopts_matching_orphans_releases_non_matching_and_ignores_others() {
        let owner = "uid-rs";
        let mine = |name: &str, app: &str| {
            let mut p = pod(name);
            p.metadata.labels.insert("app".into(), app.into());
            p.metadata.owner_references.push(OwnerReference {
                uid: owner.into(),
                controller: Some(true),
                ..Default::default()
            });
            Arc::new(p)
        };
        let mut foreign = pod("foreign");
        foreign.metadata.owner_references.push(OwnerReference {
            uid: "uid-other".into(),
            controller: Some(true),
            ..Default::default()
        });
        let mut orphan_deleting = pod("orphan-deleting");
        orphan_deleting.metadata.deletion_timestamp = Some(Time::now());
        let mut orphan_other = pod("orphan-other");
        orphan_other.metadata.labels.insert("app".into(), "db".into());
        let candidates = vec![
            mine("kept", "web"),
            mine("relabelled", "db"),
            Arc::new(foreign),
            Arc::new(pod("orphan")),
            Arc::new(orphan_deleting),
            Arc::new(orphan_other),
        ];
        let matches = |l: &BTreeMap<String, String>| l.get("app").map(String::as_str) == Some("web");
        let c = claim(owner, false, matches, candidates.clone());
        assert_eq!(names(&c.owned), ["kept"]);
        assert_eq!(names(&c.adopt), ["orphan"]);
        assert_eq!(names(&c.release), ["relabelled"]);
        let c = claim(owner, true, matches, candidates);
        assert!(c.adopt.is_empty() && c.release.is_empty(), "a deleting owner neither adopts nor releases");
    }

    #[tokio::test]
    async fn slow_start_doubles_batches_and_stops_at_the_first_failing_batch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        let (ok, failed, err) = slow_start_batch(10, 1, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n == 4 { Err("quota") } else { Ok(()) }
        })
        .await;
        // batches 1, 2, 4: the 5th call (in the third batch) fails; no fourth batch.
        assert_eq!((ok, failed, err), (6, 1, Some("quota")));
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        let (ok, _, err) = slow_start_batch::<_, _, ()>(5, 1, || async { Ok(()) }).await;
        assert_eq!((ok, err), (5, None));
    }
}
