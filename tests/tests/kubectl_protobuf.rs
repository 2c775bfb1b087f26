//! kubectl's imperative generators send their objects as protobuf
//! (`application/vnd.kubernetes.protobuf`): `create deployment`, `create namespace`, `create
//! configmap`, `create secret generic`, `create service clusterip`, `create job`, `create
//! serviceaccount`. The real kubectl (1.32, and 1.27) against the real apiserver: each is
//! created, and reads back as the object kubectl built. (`expose`, `run` and `scale` send
//! JSON; they are covered in `kubectl.rs`.)

use e2e::{json, str_at};
use testutil::ApiServer;

const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

#[test]
fn create_deployment_as_protobuf_stores_image_replicas_selector_and_template_labels() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    let out = k.ok(&["create", "deployment", "web", "--image=zwindler/vhelloworld", "--replicas=2"])?;
    assert_eq!(out.trim(), "deployment.apps/web created");

    let d = json(&k.ok(&["get", "deploy", "web", "-o", "json"])?)?;
    assert_eq!(str_at(&d, "/spec/template/spec/containers/0/image"), "zwindler/vhelloworld", "{d}");
    assert_eq!(str_at(&d, "/spec/template/spec/containers/0/name"), "vhelloworld", "{d}");
    assert_eq!(d.pointer("/spec/replicas").and_then(|v| v.as_i64()), Some(2), "{d}");
    assert_eq!(str_at(&d, "/spec/selector/matchLabels/app"), "web", "{d}");
    assert_eq!(str_at(&d, "/spec/template/metadata/labels/app"), "web", "{d}");
    // Go's zero values on the wire were not stored as values: defaults applied.
    assert_eq!(str_at(&d, "/spec/strategy/type"), "RollingUpdate", "{d}");
    assert_eq!(str_at(&d, "/spec/template/spec/restartPolicy"), "Always", "{d}");
    assert_eq!(str_at(&d, "/metadata/namespace"), "default", "{d}");
    Ok(())
}

#[test]
fn create_deployment_dry_run_server_prints_the_defaulted_object_and_stores_nothing() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    let yaml = k.ok(&["create", "deployment", "web", "--image=nginx", "--dry-run=server", "-o", "yaml"])?;
    assert!(yaml.contains("kind: Deployment") && yaml.contains("image: nginx") && yaml.contains("revisionHistoryLimit: 10"), "{yaml}");
    let err = k.fails(&["get", "deploy", "web"])?;
    assert!(err.contains("NotFound"), "{err}");

    let yaml = k.ok(&["create", "deployment", "web", "--image=nginx", "-o", "yaml"])?;
    assert!(yaml.contains("name: web") && yaml.contains("uid:"), "{yaml}");
    Ok(())
}

#[test]
fn create_namespace_configmap_secret_service_job_and_serviceaccount_as_protobuf() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    for (args, expect) in [
        (&["create", "namespace", "team-a"][..], "namespace/team-a created"),
        (&["create", "configmap", "c", "--from-literal=a=b"], "configmap/c created"),
        (&["create", "secret", "generic", "s", "--from-literal=p=q"], "secret/s created"),
        (&["create", "service", "clusterip", "web", "--tcp=80:8080"], "service/web created"),
        (&["create", "job", "j", "--image=busybox", "--", "echo", "hi"], "job.batch/j created"),
        (&["create", "serviceaccount", "sa"], "serviceaccount/sa created"),
    ] {
        assert_eq!(k.ok(args)?.trim(), expect);
    }

    let ns = json(&k.ok(&["get", "namespace", "team-a", "-o", "json"])?)?;
    assert_eq!(str_at(&ns, "/status/phase"), "Active", "{ns}");
    let cm = json(&k.ok(&["get", "configmap", "c", "-o", "json"])?)?;
    assert_eq!(str_at(&cm, "/data/a"), "b", "{cm}");
    let secret = json(&k.ok(&["get", "secret", "s", "-o", "json"])?)?;
    assert_eq!(str_at(&secret, "/data/p"), "cQ==", "base64 of q: {secret}");
    assert_eq!(str_at(&secret, "/type"), "Opaque", "{secret}");
    let svc = json(&k.ok(&["get", "service", "web", "-o", "json"])?)?;
    assert_eq!(svc.pointer("/spec/ports/0/port").and_then(|v| v.as_i64()), Some(80), "{svc}");
    assert_eq!(svc.pointer("/spec/ports/0/targetPort").and_then(|v| v.as_i64()), Some(8080), "{svc}");
    assert_eq!(str_at(&svc, "/spec/selector/app"), "web", "{svc}");
    assert!(!str_at(&svc, "/spec/clusterIP").is_empty(), "a ClusterIP was allocated: {svc}");
    let job = json(&k.ok(&["get", "job", "j", "-o", "json"])?)?;
    assert_eq!(str_at(&job, "/spec/template/spec/restartPolicy"), "Never", "{job}");
    assert_eq!(job.pointer("/spec/template/spec/containers/0/command"), Some(&serde_json::json!(["echo", "hi"])), "{job}");
    let sa = json(&k.ok(&["get", "serviceaccount", "sa", "-o", "json"])?)?;
    assert_eq!(str_at(&sa, "/metadata/name"), "sa", "{sa}");
    Ok(())
}

#[test]
fn kubectl_1_27_creates_with_protobuf_and_an_explicit_zero_replicas_is_kept() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl().version(KUBECTL_1_27);
    assert_eq!(k.ok(&["create", "deployment", "idle", "--image=nginx", "--replicas=0"])?.trim(), "deployment.apps/idle created");
    let d = json(&k.ok(&["get", "deploy", "idle", "-o", "json"])?)?;
    assert_eq!(d.pointer("/spec/replicas").and_then(|v| v.as_i64()), Some(0), "{d}");
    assert_eq!(k.ok(&["create", "secret", "generic", "s", "--from-literal=p=q"])?.trim(), "secret/s created");
    Ok(())
}
