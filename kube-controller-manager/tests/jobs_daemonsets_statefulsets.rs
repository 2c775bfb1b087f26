//! Jobs (completion, retries up to the backoff limit), DaemonSets and StatefulSets end to end.
//!
//! Run with: `cargo build --bins && cargo test -p kube-controller-manager --test jobs_daemonsets_statefulsets`

mod support;

use std::time::Duration;

use kube_api::batch::Job;
use kube_api::core::Pod;
use kube_client::{Api, PatchType};
use serde_json::json;
use support::{live_pods, wait_for, Cluster, FakeKubelet};

const WAIT: Duration = Duration::from_secs(40);

fn job_yaml(name: &str, completions: i32, parallelism: i32, backoff: i32) -> String {
    format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  completions: {completions}\n  parallelism: {parallelism}\n  backoffLimit: {backoff}\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n")
}

/// The container "exits": the pod's phase becomes Succeeded or Failed.
async fn finish(pods: &Api<Pod>, p: &Pod, phase: &str) -> anyhow::Result<()> {
    pods.patch_status(&p.metadata.name, &PatchType::Merge, &json!({"status": {"phase": phase, "conditions": []}})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_parallelism_pods_until_completions_succeed() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    c.apply(&job_yaml("pi", 3, 2, 6))?;
    let pods = c.pods("default");
    let mut done = std::collections::HashSet::new();
    while done.len() < 3 {
        let running = wait_for("a running job pod", WAIT, || async {
            let p = live_pods(&c.client, "default", "job-name=pi").await?;
            let active: Vec<_> = p.into_iter().filter(|p| p.status.phase == "Running" && !done.contains(&p.metadata.name)).collect();
            assert!(active.len() <= 2, "parallelism 2: {} pods running", active.len());
            Ok(active.into_iter().next())
        })
        .await?;
        finish(&pods, &running, "Succeeded").await?;
        done.insert(running.metadata.name.clone());
    }
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    let job = wait_for("Complete", WAIT, || async {
        let j = jobs.get("pi").await?;
        Ok(j.status.conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True").then_some(j))
    })
    .await?;
    assert_eq!((job.status.succeeded, job.status.active), (Some(3), Some(0)));
    assert!(job.status.completion_time.is_some());
    let out = c.kubectl().ok(&["get", "jobs"])?;
    assert!(out.contains("3/3"), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_pods_keep_failing_fails_after_the_backoff_limit() -> anyhow::Result<()> {
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    c.apply(&job_yaml("flaky", 1, 1, 1))?;
    let pods = c.pods("default");
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    for attempt in 1..=2 {
        let p = wait_for("a running attempt", WAIT, || async {
            let p = live_pods(&c.client, "default", "job-name=flaky").await?;
            Ok(p.into_iter().find(|p| p.status.phase == "Running"))
        })
        .await?;
        finish(&pods, &p, "Failed").await?;
        wait_for("the failure counted", WAIT, || async { Ok((jobs.get("flaky").await?.status.failed == Some(attempt)).then_some(())) }).await?;
    }
    let job = wait_for("Failed", WAIT, || async {
        let j = jobs.get("flaky").await?;
        Ok(j.status.conditions.iter().any(|c| c.type_ == "Failed" && c.reason == "BackoffLimitExceeded").then_some(j))
    })
    .await?;
    assert_eq!(job.status.active, Some(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_set_runs_one_pod_on_every_eligible_node_and_follows_nodes() -> anyhow::Result<()> {
    use kube_api::apps::DaemonSet;
    use kube_api::core::Node;
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into(), "node-2".into(), "node-3".into()]).await?;
    let nodes: Api<Node> = Api::all(c.client.clone());
    // node-3 is tainted: not for this daemon.
    nodes.patch("node-3", &PatchType::Merge, &json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})).await?;
    c.apply("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: c\n        image: busybox\n")?;
    let ds: Api<DaemonSet> = Api::namespaced(c.client.clone(), "default");
    wait_for("one ready pod on node-1 and node-2", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=agent").await?;
        let mut on: Vec<_> = p.iter().filter(|p| p.status.phase == "Running").map(|p| p.spec.node_name.clone()).collect();
        on.sort();
        let d = ds.get("agent").await?;
        Ok((on == ["node-1", "node-2"] && d.status.number_ready == 2 && d.status.desired_number_scheduled == 2).then_some(()))
    })
    .await?;
    // The taint goes: node-3 gets its pod. node-1 leaves: its pod goes.
    nodes.patch("node-3", &PatchType::Merge, &json!({"spec": {"taints": null}})).await?;
    c.kubectl().ok(&["delete", "node", "node-1"])?;
    wait_for("pods on node-2 and node-3 only", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=agent").await?;
        let mut on: Vec<_> = p.iter().map(|p| p.spec.node_name.clone()).collect();
        on.sort();
        Ok((on == ["node-2", "node-3"]).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_set_starts_its_pods_in_order_scales_down_in_reverse_and_updates_from_the_top() -> anyhow::Result<()> {
    use kube_api::apps::StatefulSet;
    let c = Cluster::start(&[])?;
    let _kubelet = FakeKubelet::start(&c.client, &["node-1".into()]).await?;
    let yaml = |replicas: i32, image: &str| format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: db\n  template:\n    metadata:\n      labels:\n        app: db\n    spec:\n      containers:\n      - name: c\n        image: {image}\n");
    // Watch the order: pod N may exist only once pods 0..N-1 are Running and Ready.
    let order_kept = {
        let client = c.client.clone();
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let mut max_seen = 0;
            while std::time::Instant::now() < deadline && max_seen < 3 {
                let p = live_pods(&client, "default", "app=db").await.unwrap_or_default();
                for pod in &p {
                    let ord: usize = pod.metadata.name.trim_start_matches("db-").parse().unwrap_or(0);
                    for before in 0..ord {
                        let ok = p.iter().any(|x| x.metadata.name == format!("db-{before}") && support::is_ready(x));
                        if !ok {
                            return Err(format!("db-{ord} exists while db-{before} is not ready"));
                        }
                    }
                }
                max_seen = p.len();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })
    };
    c.apply(&yaml(3, "postgres:1"))?;
    let sets: Api<StatefulSet> = Api::namespaced(c.client.clone(), "default");
    let pods = wait_for("db-0..2 ready", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=db").await?;
        let s = sets.get("db").await?;
        Ok((p.len() == 3 && p.iter().all(support::is_ready) && s.status.ready_replicas == Some(3)).then_some(p))
    })
    .await?;
    order_kept.await?.map_err(anyhow::Error::msg)?;
    let mut names: Vec<_> = pods.iter().map(|p| (p.metadata.name.clone(), p.spec.hostname.clone(), p.spec.subdomain.clone())).collect();
    names.sort();
    assert_eq!(names[0], ("db-0".to_string(), "db-0".to_string(), "db".to_string()));
    assert_eq!(names[2].0, "db-2");

    // Rolling update from the top: db-2 is replaced first.
    c.apply(&yaml(3, "postgres:2"))?;
    let first = wait_for("the first pod replaced", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=db").await?;
        Ok(p.into_iter().find(|p| p.spec.containers[0].image == "postgres:2").map(|p| p.metadata.name))
    })
    .await?;
    assert_eq!(first, "db-2");
    wait_for("all updated", WAIT, || async {
        let s = sets.get("db").await?;
        Ok((s.status.updated_replicas == Some(3) && s.status.ready_replicas == Some(3) && s.status.current_revision == s.status.update_revision).then_some(()))
    })
    .await?;

    c.kubectl().ok(&["scale", "statefulset", "db", "--replicas=1"])?;
    wait_for("only db-0 left", WAIT, || async {
        let p = live_pods(&c.client, "default", "app=db").await?;
        Ok((p.len() == 1 && p[0].metadata.name == "db-0").then_some(()))
    })
    .await?;
    Ok(())
}
