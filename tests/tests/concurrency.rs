//! Concurrent writers: optimistic concurrency on one object, and the ClusterIP allocator
//! shared by two apiservers on one etcd.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use e2e::{client, str_at};
use futures::future::join_all;
use kube_api::registry;
use kube_client::{DynamicApi, PostParams};
use serde_json::{json, Value};
use testutil::ApiServer;

fn api_for(api: &ApiServer, plural: &str) -> anyhow::Result<DynamicApi> {
    let res = registry::by_plural("", plural).expect("registered");
    Ok(DynamicApi::new(client(api)?, res, "default"))
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
}

fn cluster_ip(svc: &Value) -> anyhow::Result<Ipv4Addr> {
    Ok(str_at(svc, "/spec/clusterIP").parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_twenty_concurrent_updates_from_one_version_exactly_one_succeeds_and_the_rest_conflict() -> anyhow::Result<()> {
    const WRITERS: usize = 20;
    let api = ApiServer::start()?;
    let cms = api_for(&api, "configmaps")?;
    let base = cms.create(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"writer": "none"}}), &PostParams::default()).await?;

    let updates = (0..WRITERS).map(|i| {
        let cms = cms.clone();
        let mut object = base.clone();
        object["data"]["writer"] = json!(i.to_string());
        async move { cms.replace(&object, &PostParams::default()).await }
    });
    let results = join_all(updates).await;

    let winners: Vec<&Value> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one update wins: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.status_code(), Some(409), "{err}");
        assert!(err.is_conflict(), "{err}");
        assert!(err.to_string().contains(r#"Operation cannot be fulfilled on configmaps "c""#), "{err}");
    }
    // The stored object is the winner's.
    let stored = cms.get("c").await?;
    assert_eq!(stored["data"]["writer"], winners[0]["data"]["writer"]);
    assert_eq!(str_at(&stored, "/metadata/resourceVersion"), str_at(winners[0], "/metadata/resourceVersion"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apiservers_on_one_etcd_never_hand_out_the_same_cluster_ip() -> anyhow::Result<()> {
    const EACH: usize = 50;
    let first = ApiServer::start()?;
    let second = ApiServer::start_on(&first.etcd_endpoint, &[])?;
    let (a, b) = (api_for(&first, "services")?, api_for(&second, "services")?);

    let creates = (0..EACH).flat_map(|i| {
        [(a.clone(), format!("a-{i}")), (b.clone(), format!("b-{i}"))].map(|(svcs, name)| async move {
            svcs.create(&service(&name), &PostParams::default()).await
        })
    });
    let created = join_all(creates).await;

    let mut ips = HashSet::new();
    ips.insert(Ipv4Addr::new(10, 0, 0, 1)); // the `kubernetes` Service's
    for svc in created {
        let svc = svc?;
        let ip = cluster_ip(&svc)?;
        let o = ip.octets();
        assert!(o[0] == 10 && o[1] == 0 && o[2] == 0 && o[3] != 0 && o[3] != 255, "{ip} outside 10.0.0.0/24");
        assert!(ips.insert(ip), "{ip} handed out twice");
    }
    assert_eq!(ips.len(), 2 * EACH + 1);
    // What the apiservers answered is what is stored.
    let listed = a.list(&Default::default()).await?;
    let stored: HashSet<Ipv4Addr> = listed.items.iter().map(cluster_ip).collect::<Result<_, _>>()?;
    assert_eq!(stored, ips);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_service_releases_its_cluster_ip_for_the_next_one() -> anyhow::Result<()> {
    // A /28 has 14 usable addresses; the `kubernetes` Service holds the first.
    const FREE: usize = 13;
    let api = ApiServer::start_with(&["--service-cluster-ip-range=10.0.0.0/28"])?;
    let svcs = api_for(&api, "services")?;
    let pp = PostParams::default();
    for i in 0..FREE {
        let svc = svcs.create(&service(&format!("s-{i}")), &pp).await?;
        let last = cluster_ip(&svc)?.octets()[3];
        assert!((2..=14).contains(&last), "{last}");
    }
    let err = svcs.create(&service("one-too-many"), &pp).await.expect_err("the range is full");
    assert_eq!(err.status_code(), Some(500), "{err}");
    assert!(err.to_string().contains("10.0.0.0/28 is full"), "{err}");
    assert!(matches!(svcs.get("one-too-many").await, Err(e) if e.is_not_found()), "a refused create stores nothing");

    // Three rounds of delete-then-create: three times the range's size, never exhausted.
    for round in 0..3 {
        for i in 0..FREE {
            let name = if round == 0 { format!("s-{i}") } else { format!("r{}-{i}", round - 1) };
            svcs.delete(&name, &Default::default()).await?;
            svcs.create(&service(&format!("r{round}-{i}")), &pp).await?;
        }
    }
    let listed = svcs.list(&Default::default()).await?;
    let ips: HashSet<Ipv4Addr> = listed.items.iter().map(cluster_ip).collect::<Result<_, _>>()?;
    assert_eq!(ips.len(), FREE + 1, "every address in use exactly once");
    Ok(())
}

