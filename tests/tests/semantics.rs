//! The API's rules, through the real apiserver on a real etcd: graceful deletion,
//! finalizers, binding, generateName, dry run, YAML, pagination, selectors, namespace
//! lifecycle, request limits, health and metrics.

use std::time::Duration;

use e2e::{client, str_at};
use http::Method;
use kube_api::registry;
use kube_client::{Client, DeleteParams, Deleted, DynamicApi, ListParams, PatchType, PostParams};
use serde_json::{json, Value};
use testutil::ApiServer;
use tokio::time::Instant;

fn dynamic(api: &ApiServer, group: &str, plural: &str, namespace: &str) -> anyhow::Result<DynamicApi> {
    let res = registry::by_plural(group, plural).expect("registered");
    Ok(DynamicApi::new(client(api)?, res, namespace))
}

fn pod(name: &str, node: Option<&str>, labels: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
    if let Some(node) = node {
        p["spec"]["nodeName"] = json!(node);
    }
    p
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|o| str_at(o, "/metadata/name")).collect()
}

/// A raw request; (code, body). Non-2xx answers are returned, not raised.
async fn raw(c: &Client, method: Method, path: &str, body: Option<Vec<u8>>, content_type: Option<&str>, accept: Option<&str>) -> (u16, String) {
    match c.request(method, path, body, content_type, accept).await {
        Ok((code, _, bytes)) => (code.as_u16(), String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => (e.status_code().unwrap_or(0), e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_is_deleted_gracefully_and_an_unbound_one_at_once() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let pods = dynamic(&api, "", "pods", "default")?;
    let pp = PostParams::default();
    pods.create(&pod("bound", Some("node-1"), json!({})), &pp).await?;
    pods.create(&pod("unbound", None, json!({})), &pp).await?;

    match pods.delete("bound", &DeleteParams::default()).await? {
        Deleted::Pending(p) => {
            assert!(!str_at(&p, "/metadata/deletionTimestamp").is_empty(), "{p}");
            assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30, "{p}");
        }
        Deleted::Gone(s) => anyhow::bail!("a bound pod went at once: {s:?}"),
    }
    let still = pods.get("bound").await?;
    assert!(!str_at(&still, "/metadata/deletionTimestamp").is_empty());
    // What the kubelet does once the containers are stopped.
    let now = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    pods.delete("bound", &now).await?;
    assert!(matches!(pods.get("bound").await, Err(e) if e.is_not_found()));

    pods.delete("unbound", &DeleteParams::default()).await?;
    assert!(matches!(pods.get("unbound").await, Err(e) if e.is_not_found()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_with_a_finalizer_waits_for_its_removal_before_going() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "default")?;
    let mut cm = configmap("kept");
    cm["metadata"]["finalizers"] = json!(["example.com/keep"]);
    cms.create(&cm, &PostParams::default()).await?;

    cms.delete("kept", &DeleteParams::default()).await?;
    let marked = cms.get("kept").await?;
    assert!(!str_at(&marked, "/metadata/deletionTimestamp").is_empty(), "{marked}");
    // A second DELETE changes nothing.
    cms.delete("kept", &DeleteParams::default()).await?;
    assert!(cms.get("kept").await.is_ok());

    cms.patch("kept", &PatchType::Merge, &json!({"metadata": {"finalizers": null}}), &PostParams::default()).await?;
    assert!(matches!(cms.get("kept").await, Err(e) if e.is_not_found()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_sets_the_node_once_and_a_second_binding_conflicts() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let pods = dynamic(&api, "", "pods", "default")?;
    pods.create(&pod("p", None, json!({})), &PostParams::default()).await?;
    let binding = |node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    pods.create_subresource("binding", "p", &binding("node-1")).await?;
    assert_eq!(str_at(&pods.get("p").await?, "/spec/nodeName"), "node-1");
    let err = pods.create_subresource("binding", "p", &binding("node-2")).await.expect_err("already bound");
    assert_eq!(err.status_code(), Some(409), "{err}");
    assert_eq!(str_at(&pods.get("p").await?, "/spec/nodeName"), "node-1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_name_gives_distinct_names_and_dry_run_writes_nothing() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "default")?;
    let generated = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}});
    let a = cms.create(&generated, &PostParams::default()).await?;
    let b = cms.create(&generated, &PostParams::default()).await?;
    let (a, b) = (str_at(&a, "/metadata/name"), str_at(&b, "/metadata/name"));
    assert!(a.starts_with("web-") && a.len() == "web-".len() + 5, "{a}");
    assert_ne!(a, b);

    let dry = PostParams { dry_run: true, ..Default::default() };
    let answered = cms.create(&configmap("dry"), &dry).await?;
    assert_eq!(str_at(&answered, "/metadata/name"), "dry");
    assert!(matches!(cms.get("dry").await, Err(e) if e.is_not_found()), "dry run stored the object");
    let patched = cms.patch(a, &PatchType::Merge, &json!({"data": {"x": "y"}}), &dry).await?;
    assert_eq!(str_at(&patched, "/data/x"), "y");
    assert!(cms.get(a).await?.pointer("/data/x").is_none(), "dry-run patch stored");
    let dry_delete = DeleteParams { dry_run: true, ..Default::default() };
    cms.delete(a, &dry_delete).await?;
    assert!(cms.get(a).await.is_ok(), "dry-run delete deleted");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_is_served_when_asked_for() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let c = client(&api)?;
    let (code, _, body) = c.request(Method::GET, "/api/v1/namespaces/default", None, None, Some("application/yaml")).await?;
    assert_eq!(code, 200);
    let text = String::from_utf8_lossy(&body);
    let parsed: Value = serde_yaml::from_str(&text)?;
    assert_eq!(parsed["kind"], "Namespace", "{text}");
    assert!(text.contains("name: default"), "{text}");
    // And a YAML body is accepted.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n";
    let (code, body) = raw(&c, Method::POST, "/api/v1/namespaces/default/configmaps", Some(yaml.into()), Some("application/yaml"), None).await;
    assert_eq!(code, 201, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_pages_through_25_objects_with_limit_and_continue() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "default")?;
    for i in 0..25 {
        cms.create(&configmap(&format!("cm-{i:02}")), &PostParams::default()).await?;
    }
    let mut lp = ListParams::default().limit(10);
    let mut pages = Vec::new();
    let mut all = Vec::new();
    loop {
        let page = cms.list(&lp).await?;
        pages.push((page.items.len(), page.metadata.remaining_item_count, page.metadata.resource_version.clone()));
        all.extend(page.items);
        if page.metadata.continue_.is_empty() {
            break;
        }
        // A write between pages does not show: the pages are read at one revision.
        if pages.len() == 1 {
            cms.create(&configmap("cm-99-late"), &PostParams::default()).await?;
        }
        lp.continue_token = Some(page.metadata.continue_);
    }
    let sizes: Vec<usize> = pages.iter().map(|p| p.0).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(pages[0].1, Some(15));
    assert_eq!(pages[1].1, Some(5));
    assert!(pages.iter().all(|p| p.2 == pages[0].2), "one revision for every page: {pages:?}");
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names(&all), expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_label_and_field_selectors() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let pods = dynamic(&api, "", "pods", "default")?;
    let pp = PostParams::default();
    pods.create(&pod("a", Some("n1"), json!({"app": "web"})), &pp).await?;
    pods.create(&pod("b", None, json!({"app": "db"})), &pp).await?;
    pods.create(&pod("c", Some("n1"), json!({"app": "db", "tier": "x"})), &pp).await?;
    let list = |lp: ListParams| {
        let pods = pods.clone();
        async move { anyhow::Ok(names(&pods.list(&lp).await?.items).into_iter().map(String::from).collect::<Vec<_>>()) }
    };
    assert_eq!(list(ListParams::default().fields("spec.nodeName=")).await?, ["b"]);
    assert_eq!(list(ListParams::default().fields("spec.nodeName=n1")).await?, ["a", "c"]);
    assert_eq!(list(ListParams::default().fields("metadata.name=c")).await?, ["c"]);
    assert_eq!(list(ListParams::default().fields("spec.nodeName!=n1,metadata.name!=a")).await?, ["b"]);
    assert_eq!(list(ListParams::default().labels("app=db")).await?, ["b", "c"]);
    assert_eq!(list(ListParams::default().labels("app in (web),!tier")).await?, ["a"]);
    assert_eq!(list(ListParams::default().labels("tier").fields("spec.nodeName=n1")).await?, ["c"]);
    // Paged through etcd, the same filters apply.
    assert_eq!(list(ListParams::default().labels("app=db").limit(1)).await?, ["b"]);
    let err = pods.list(&ListParams::default().fields("spec.nope=x")).await.expect_err("unknown field label");
    assert_eq!(err.status_code(), Some(400), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_object_is_created_in_a_namespace_that_does_not_exist() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "x")?;
    let err = cms.create(&configmap("c"), &PostParams::default()).await.expect_err("namespace x is missing");
    assert_eq!(err.status_code(), Some(404));
    assert!(err.to_string().contains(r#"namespaces "x" not found"#), "{err}");
    let ns = dynamic(&api, "", "namespaces", "")?;
    ns.create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}), &PostParams::default()).await?;
    cms.create(&configmap("c"), &PostParams::default()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_are_refused_with_413_and_400() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let c = client(&api)?;
    let path = "/api/v1/namespaces/default/configmaps";
    let huge = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"}, "data": {"k": "x".repeat(3 * 1024 * 1024 + 1)}});
    let (code, body) = raw(&c, Method::POST, path, Some(serde_json::to_vec(&huge)?), Some("application/json"), None).await;
    assert_eq!(code, 413, "{}", &body[..body.len().min(300)]);
    let (code, body) = raw(&c, Method::POST, path, Some(b"{\"apiVersion\": \"v1\", \"kind\": ".to_vec()), Some("application/json"), None).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = raw(&c, Method::POST, path, Some(b"[1, 2]".to_vec()), Some("application/json"), None).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = raw(&c, Method::PATCH, &format!("{path}/nope"), Some(b"{}".to_vec()), Some("text/plain"), None).await;
    assert_eq!(code, 415, "{body}");
    // The server is unharmed, and nothing was stored.
    let (code, body) = raw(&c, Method::GET, path, None, None, None).await;
    assert_eq!(code, 200);
    assert!(!body.contains("huge"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_etcd_and_metrics_count_requests() -> anyhow::Result<()> {
    let mut api = ApiServer::start()?;
    let c = client(&api)?;
    assert_eq!(raw(&c, Method::GET, "/readyz", None, None, None).await.0, 200);
    assert_eq!(raw(&c, Method::GET, "/healthz", None, None, None).await.0, 200);

    let (code, metrics) = raw(&c, Method::GET, "/metrics", None, None, None).await;
    assert_eq!(code, 200);
    assert!(metrics.contains("apiserver_request_total"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("apiserver_request_total") && l.contains("GET")), "{metrics}");

    let mut etcd = api.etcd.take().expect("own etcd");
    etcd.stop()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = raw(&c, Method::GET, "/readyz", None, None, None).await;
        if code == 503 {
            assert!(body.contains("etcd"), "{body}");
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "/readyz still {code} 20 s after etcd stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let etcd = tokio::task::spawn_blocking(move || etcd.restart().map(|_| etcd)).await??;
    api.etcd = Some(etcd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw(&c, Method::GET, "/readyz", None, None, None).await.0 != 200 {
        anyhow::ensure!(Instant::now() < deadline, "/readyz not 200 20 s after etcd came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_paths_verbs_and_namespaces_get_clear_4xx_answers() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let c = client(&api)?;
    let body = |ns: &str| serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}})).unwrap_or_default();
    // The body's namespace must be the URL's.
    let (code, text) = raw(&c, Method::POST, "/api/v1/namespaces/default/configmaps", Some(body("kube-system")), Some("application/json"), None).await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("does not match the namespace"), "{text}");
    // The kind must be the resource's.
    let pod_body = serde_json::to_vec(&pod("p", None, json!({})))?;
    let (code, text) = raw(&c, Method::POST, "/api/v1/namespaces/default/configmaps", Some(pod_body), Some("application/json"), None).await;
    assert_eq!(code, 400, "{text}");
    // An unknown resource or group version.
    assert_eq!(raw(&c, Method::GET, "/api/v1/frobs", None, None, None).await.0, 404);
    assert_eq!(raw(&c, Method::GET, "/apis/apps/v2/deployments", None, None, None).await.0, 404);
    // A verb the resource does not serve.
    let (code, text) = raw(&c, Method::POST, "/api/v1/namespaces/default/configmaps/c", Some(body("default")), Some("application/json"), None).await;
    assert_eq!(code, 405, "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_preconditions_and_deletecollection_by_label() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "default")?;
    let pp = PostParams::default();
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let mut cm = configmap(name);
        cm["metadata"]["labels"] = json!({"app": app});
        cms.create(&cm, &pp).await?;
    }
    let wrong_uid = DeleteParams {
        preconditions: Some(kube_client::Preconditions { uid: Some("not-the-uid".into()), resource_version: None }),
        ..Default::default()
    };
    let err = cms.delete("a", &wrong_uid).await.expect_err("uid precondition");
    assert_eq!(err.status_code(), Some(409), "{err}");

    let c = client(&api)?;
    let (code, text) = raw(&c, Method::DELETE, "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb", None, None, None).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(names(&cms.list(&ListParams::default()).await?.items), ["c"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_after_its_timeout_seconds() -> anyhow::Result<()> {
    use futures::StreamExt;
    let api = ApiServer::start()?;
    let cms = dynamic(&api, "", "configmaps", "default")?;
    let wp = kube_client::WatchParams { timeout_seconds: Some(1), ..kube_client::WatchParams::from_version("0") };
    let started = Instant::now();
    let mut stream = cms.watch(&wp).await?;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while stream.next().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream did not end");
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    Ok(())
}
