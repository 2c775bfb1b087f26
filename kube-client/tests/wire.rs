//! The exact requests the typed `Api` sends, checked against a tiny in-process HTTP server
//! that records every request and answers like the apiserver would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube_api::core::Pod;
use kube_api::Object;
use kube_client::{
    Api, Client, Config, DeleteParams, Deleted, DynamicApi, Event, ListParams, LogParams,
    PatchType, WatchParams,
};
use serde_json::{json, Value};

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: String,
    uri: String,
    content_type: Option<String>,
    accept: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Body = BoxBody<Bytes, Infallible>;

fn full(code: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

/// A body sent in pieces, with a pause between them so that they travel as separate chunks.
fn chunked(pieces: Vec<String>) -> Response<Body> {
    let stream = futures::stream::iter(pieces).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, Infallible>(Frame::data(Bytes::from(p)))
    });
    Response::new(BodyExt::boxed(StreamBody::new(stream)))
}

fn pod_json(name: &str) -> Value {
    json!({"apiVersion":"v1","kind":"Pod",
           "metadata":{"name":name,"namespace":"default","resourceVersion":"5"},
           "spec":{"containers":[{"name":"nginx","image":"nginx"}]}})
}

fn not_found(name: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
           "message":format!("pods \"{name}\" not found"),"reason":"NotFound","details":{"name":name,"kind":"pods"},"code":404})
}

async fn answer(req: Request<Incoming>, log: Log) -> Result<Response<Body>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let (content_type, accept) = (header("content-type"), header("accept"));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        uri: uri.clone(),
        content_type,
        accept,
        body: body.clone(),
    });

    let pods = "/api/v1/namespaces/default/pods";
    let echo = || serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    let resp = match (method.as_str(), uri.as_str()) {
        ("GET", u) if u == format!("{pods}/web") => full(StatusCode::OK, pod_json("web")),
        ("GET", u) if u == format!("{pods}/missing") => {
            full(StatusCode::NOT_FOUND, not_found("missing"))
        }
        ("GET", u) if u.starts_with(&format!("{pods}?labelSelector")) => {
            let (item, cont) = if u.contains("continue=") {
                ("b", "")
            } else {
                ("a", "t1")
            };
            full(
                StatusCode::OK,
                json!({"kind":"PodList","apiVersion":"v1",
                "metadata":{"resourceVersion":"9","continue":cont},"items":[pod_json(item)]}),
            )
        }
        ("GET", u) if u.starts_with(&format!("{pods}?watch=true")) => chunked(vec![
            format!(
                "{}\n{{\"type\":\"MODI",
                json!({"type":"ADDED","object":pod_json("w1")})
            ),
            format!("FIED\",\"object\":{}}}\n", pod_json("w1")),
            format!("{}\n", json!({"type":"DELETED","object":pod_json("w1")})),
        ]),
        ("GET", u) if u.starts_with(&format!("{pods}/web/log")) => {
            chunked(vec!["line 1\nli".into(), "ne 2\n".into()])
        }
        ("POST", u) if u == format!("{pods}/web/binding") => full(
            StatusCode::CREATED,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}),
        ),
        ("POST", _) => full(StatusCode::CREATED, echo()),
        ("PUT" | "PATCH", _) => full(StatusCode::OK, pod_json("web")),
        ("DELETE", u) if u == format!("{pods}/web") => {
            let mut p = pod_json("web");
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            full(StatusCode::OK, p)
        }
        ("DELETE", _) => full(
            StatusCode::OK,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"}),
        ),
        _ => Response::builder()
            .status(404)
            .body(Full::new(Bytes::from("404 page not found")).boxed())
            .unwrap(),
    };
    Ok(resp)
}

/// Starts the fake apiserver on a free port.
async fn fake_apiserver() -> (SocketAddr, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = server_log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(req, log.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, log)
}

async fn setup() -> (Api<Pod>, Client, Log) {
    let (addr, log) = fake_apiserver().await;
    let client = Client::new(
        Config::from_server(&addr.to_string())
            .unwrap()
            .with_user_agent("test"),
    )
    .unwrap();
    (Api::namespaced(client.clone(), "default"), client, log)
}

fn last(log: &Log) -> Seen {
    log.lock().unwrap().last().cloned().expect("a request")
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(pod_json(name)).unwrap()
}

#[tokio::test]
async fn get_sends_a_get_to_the_object_path_and_not_found_is_an_api_error() {
    let (pods, _, log) = setup().await;
    let web = pods.get("web").await.unwrap();
    assert_eq!(web.metadata().name, "web");
    let seen = last(&log);
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("GET", "/api/v1/namespaces/default/pods/web")
    );
    assert_eq!(seen.accept.as_deref(), Some("application/json"));

    let err = pods.get("missing").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        r#"Error from server (NotFound): pods "missing" not found"#
    );
    assert_eq!(pods.get_opt("missing").await.unwrap(), None);
}

#[tokio::test]
async fn list_sends_selectors_and_limit_and_list_all_follows_continue() {
    let (pods, _, log) = setup().await;
    let lp = ListParams::default().labels("app=web").limit(1);
    let page = pods.list(&lp).await.unwrap();
    assert_eq!(page.metadata.continue_, "t1");
    assert_eq!(
        last(&log).uri,
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=1"
    );

    let all = pods.list_all(&lp).await.unwrap();
    let names: Vec<_> = all
        .items
        .iter()
        .map(|p| p.metadata().name.clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(all.metadata.resource_version, "9");
    assert_eq!(
        last(&log).uri,
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=1&continue=t1"
    );
}

#[tokio::test]
async fn create_posts_json_with_api_version_and_kind_filled_in() {
    let (pods, _, log) = setup().await;
    let mut p = pod("new");
    // A typed object built in code often has no apiVersion/kind: the client adds them.
    let mut v = serde_json::to_value(&p).unwrap();
    v.as_object_mut().unwrap().remove("apiVersion");
    v.as_object_mut().unwrap().remove("kind");
    p = serde_json::from_value(v).unwrap();
    pods.create(&p).await.unwrap();
    let seen = last(&log);
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/api/v1/namespaces/default/pods")
    );
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        (body["apiVersion"].as_str(), body["kind"].as_str()),
        (Some("v1"), Some("Pod"))
    );
    assert_eq!(body["metadata"]["name"], "new");
}

#[tokio::test]
async fn replace_puts_the_object_and_replace_status_puts_the_status_subresource() {
    let (pods, _, log) = setup().await;
    pods.replace(&pod("web")).await.unwrap();
    let seen = last(&log);
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("PUT", "/api/v1/namespaces/default/pods/web")
    );
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body["metadata"]["resourceVersion"], "5",
        "the precondition travels with the object"
    );

    pods.replace_status(&pod("web")).await.unwrap();
    assert_eq!(last(&log).uri, "/api/v1/namespaces/default/pods/web/status");
}

#[tokio::test]
async fn each_patch_type_sends_its_content_type() {
    let (pods, _, log) = setup().await;
    let cases = [
        (
            PatchType::Json,
            "application/json-patch+json",
            "/api/v1/namespaces/default/pods/web",
        ),
        (
            PatchType::Merge,
            "application/merge-patch+json",
            "/api/v1/namespaces/default/pods/web",
        ),
        (
            PatchType::Strategic,
            "application/strategic-merge-patch+json",
            "/api/v1/namespaces/default/pods/web",
        ),
        (
            PatchType::Apply {
                field_manager: "kubectl".into(),
                force: true,
            },
            "application/apply-patch+yaml",
            "/api/v1/namespaces/default/pods/web?fieldManager=kubectl&force=true",
        ),
    ];
    for (pt, content_type, uri) in cases {
        pods.patch("web", &pt, &json!({"metadata":{"labels":{"a":"b"}}}))
            .await
            .unwrap();
        let seen = last(&log);
        assert_eq!(seen.method, "PATCH");
        assert_eq!(seen.content_type.as_deref(), Some(content_type));
        assert_eq!(seen.uri, uri);
    }
    pods.patch_status(
        "web",
        &PatchType::Merge,
        &json!({"status":{"phase":"Running"}}),
    )
    .await
    .unwrap();
    assert_eq!(last(&log).uri, "/api/v1/namespaces/default/pods/web/status");
}

#[tokio::test]
async fn delete_sends_delete_options_and_tells_a_pending_deletion_from_a_finished_one() {
    let (pods, _, log) = setup().await;
    match pods
        .delete("web", &DeleteParams::background())
        .await
        .unwrap()
    {
        Deleted::Pending(p) => assert!(p.metadata().deletion_timestamp.is_some()),
        Deleted::Gone(s) => panic!("expected the object, got {s:?}"),
    }
    let seen = last(&log);
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("DELETE", "/api/v1/namespaces/default/pods/web")
    );
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["propagationPolicy"], "Background");

    assert!(matches!(
        pods.delete("old", &DeleteParams::default()).await.unwrap(),
        Deleted::Gone(_)
    ));
    assert_eq!(last(&log).body, "", "no options, no body");
}

#[tokio::test]
async fn a_watch_yields_events_split_across_chunks_and_ends_when_the_server_closes() {
    let (pods, _, log) = setup().await;
    let wp = WatchParams {
        allow_bookmarks: true,
        ..WatchParams::from_version("9")
    };
    let events: Vec<Event<Pod>> = pods.watch(&wp).await.unwrap().try_collect().await.unwrap();
    let types: Vec<_> = events.iter().map(Event::type_name).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(
        events[1].object().map(|p| p.metadata().name.as_str()),
        Some("w1")
    );
    assert_eq!(
        last(&log).uri,
        "/api/v1/namespaces/default/pods?watch=true&resourceVersion=9&allowWatchBookmarks=true"
    );
}

#[tokio::test]
async fn binding_is_a_post_to_the_subresource_and_logs_stream() {
    let (pods, _, log) = setup().await;
    let binding = json!({"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},
                         "target":{"apiVersion":"v1","kind":"Node","name":"node1"}});
    let status: kube_api::Status = pods
        .create_subresource("binding", "web", &binding)
        .await
        .unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"));
    assert_eq!(
        last(&log).uri,
        "/api/v1/namespaces/default/pods/web/binding"
    );

    let lp = LogParams {
        container: Some("nginx".into()),
        follow: true,
        ..Default::default()
    };
    let text = pods.logs_text("web", &lp).await.unwrap();
    assert_eq!(text, "line 1\nline 2\n");
    assert_eq!(
        last(&log).uri,
        "/api/v1/namespaces/default/pods/web/log?container=nginx&follow=true"
    );
}

#[tokio::test]
async fn the_dynamic_api_asks_for_tables_as_kubectl_does() {
    let (_, client, log) = setup().await;
    let pods = kube_api::registry::by_plural("", "pods").unwrap();
    let api = DynamicApi::new(client, pods, "default");
    let web = api.get("web").await.unwrap();
    assert_eq!(web["metadata"]["name"], "web");
    let _ = api
        .list_table(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(
        last(&log).accept.as_deref(),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
    );
}

#[tokio::test]
async fn a_plain_text_error_gets_a_synthesized_status() {
    let (_, client, _) = setup().await;
    let nodes = kube_api::registry::by_plural("", "nodes").unwrap();
    // The fake server answers unknown paths with a plain-text 404, as a bare mux would.
    let err = DynamicApi::new(client, nodes, "")
        .get("n1")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.status().and_then(|s| s.message.as_deref()),
        Some("404 page not found")
    );
}
