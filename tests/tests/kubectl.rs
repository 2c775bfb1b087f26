//! The real kubectl (/usr/bin/kubectl, and 1.27 and 1.33 for a smaller set) against the
//! real apiserver on a real etcd: the commands of the seeds, their output, and the error
//! messages a user reads.
//!
//! Manifests are the seeds' own, in `tests/manifests/`: seed 000's nginx pod (`nginx.yml`)
//! and `nginx.json`, seed 003's `deploy.yaml` and `service.yaml`, seed 001's RC (`rc.yaml`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{curl, json, str_at, wait_for};
use testutil::{ApiServer, Kubectl};

const NGINX_YML: &str = include_str!("../manifests/nginx.yml");
const NGINX_JSON: &str = include_str!("../manifests/nginx.json");
const DEPLOY_YAML: &str = include_str!("../manifests/deploy.yaml");
const SERVICE_YAML: &str = include_str!("../manifests/service.yaml");
const RC_YAML: &str = include_str!("../manifests/rc.yaml");

const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
const KUBECTL_1_33: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// `kubectl ARGS -f -` with `manifest` on stdin; stdout, or the error with stderr.
fn with_input(k: &Kubectl, args: &[&str], manifest: &str) -> anyhow::Result<String> {
    let out = k.run_with_input(args, manifest)?;
    anyhow::ensure!(out.status.success(), "kubectl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`with_input`] but expects failure; returns (exit code, stderr).
fn fails_with_input(k: &Kubectl, args: &[&str], manifest: &str) -> anyhow::Result<(i32, String)> {
    let out = k.run_with_input(args, manifest)?;
    anyhow::ensure!(!out.status.success(), "kubectl {} should have failed: {}", args.join(" "), String::from_utf8_lossy(&out.stdout));
    Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[test]
fn version_reports_the_server_version() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let version = json(&api.kubectl().ok(&["version", "-o", "json"])?)?;
    assert_eq!(str_at(&version, "/serverVersion/major"), "1", "{version}");
    assert!(str_at(&version, "/serverVersion/gitVersion").starts_with("v1."), "{version}");
    Ok(())
}

#[test]
fn api_resources_lists_every_kind_with_its_short_names() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let out = api.kubectl().ok(&["api-resources"])?;
    let row = |name: &str| out.lines().find(|l| l.split_whitespace().next() == Some(name)).map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(row("pods"), Some(vec!["pods", "po", "v1", "true", "Pod"]), "{out}");
    assert_eq!(row("deployments"), Some(vec!["deployments", "deploy", "apps/v1", "true", "Deployment"]), "{out}");
    assert_eq!(row("nodes"), Some(vec!["nodes", "no", "v1", "false", "Node"]), "{out}");
    assert_eq!(row("replicationcontrollers"), Some(vec!["replicationcontrollers", "rc", "v1", "true", "ReplicationController"]), "{out}");
    for name in ["services", "namespaces", "configmaps", "replicasets", "statefulsets", "daemonsets", "jobs", "leases", "events"] {
        assert!(row(name).is_some(), "{name} missing from:\n{out}");
    }
    Ok(())
}

#[test]
fn get_prints_pods_nodes_namespaces_and_all_in_every_output_format() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    with_input(&k, &["create", "-f", "-"], NGINX_YML)?;

    let table = k.ok(&["get", "pods"])?;
    let header: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{table}");
    assert!(table.contains("nginx") && table.contains("0/2") && table.contains("Pending"), "{table}");
    let wide = k.ok(&["get", "pods", "-o", "wide"])?;
    assert!(wide.lines().next().unwrap_or("").contains("NOMINATED NODE"), "{wide}");
    let yaml = k.ok(&["get", "pods", "-o", "yaml"])?;
    assert!(yaml.contains("kind: List") && yaml.contains("name: nginx") && yaml.contains("restartPolicy: Always"), "{yaml}");
    let list = json(&k.ok(&["get", "pods", "-o", "json"])?)?;
    assert_eq!(str_at(&list, "/items/0/metadata/name"), "nginx");
    assert_eq!(str_at(&list, "/items/0/spec/containers/1/name"), "log-truncator");

    let nodes = k.run(&["get", "nodes", "-o", "wide"])?;
    assert!(nodes.status.success());
    assert!(String::from_utf8_lossy(&nodes.stderr).contains("No resources found"));
    let ns = k.ok(&["get", "ns", "-o", "wide"])?;
    assert!(ns.contains("kube-system") && ns.contains("Active"), "{ns}");
    let ns = json(&k.ok(&["get", "namespace", "default", "-o", "json"])?)?;
    assert_eq!(str_at(&ns, "/status/phase"), "Active");

    let all = k.ok(&["get", "all"])?;
    assert!(all.contains("pod/nginx") && all.contains("service/kubernetes"), "{all}");
    let all = k.ok(&["get", "all", "-o", "yaml"])?;
    assert!(all.contains("kind: Pod") && all.contains("kind: Service"), "{all}");
    Ok(())
}

#[test]
fn create_f_of_seed_000s_pod_and_a_curl_post_of_its_json_both_store_the_pod() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    assert_eq!(with_input(&k, &["create", "-f", "-"], NGINX_YML)?.trim(), "pod/nginx created");
    let pod = json(&k.ok(&["get", "pod", "nginx", "-o", "json"])?)?;
    assert_eq!(str_at(&pod, "/spec/volumes/0/name"), "nginx-logs");
    assert_eq!(str_at(&pod, "/spec/containers/0/imagePullPolicy"), "Always", "defaulted as upstream");
    assert_eq!(str_at(&pod, "/spec/schedulerName"), "default-scheduler");
    // A second create of the same name.
    let (code, err) = fails_with_input(&k, &["create", "-f", "-"], NGINX_YML)?;
    assert_eq!(code, 1);
    assert!(err.contains(r#"Error from server (AlreadyExists): error when creating "STDIN": pods "nginx" already exists"#), "{err}");

    // Seed 000's curl, with $$ma_machine$$ replaced and another name.
    let body = NGINX_JSON.replace("$$ma_machine$$", "node-1").replacen(r#""name": "nginx""#, r#""name": "nginx-json""#, 1);
    let url = format!("{}/api/v1/namespaces/default/pods", api.url);
    let (code, created) = curl(&["-X", "POST", &url, "-H", "Content-Type: application/json", "-d", &body])?;
    assert_eq!(code, 201, "{created}");
    let created = json(&created)?;
    assert_eq!(str_at(&created, "/spec/nodeName"), "node-1");
    let (code, got) = curl(&[&format!("{url}/nginx-json")])?;
    assert_eq!(code, 200);
    assert_eq!(str_at(&json(&got)?, "/metadata/uid"), str_at(&created, "/metadata/uid"));
    // The pod is bound to a node: DELETE starts a graceful deletion (the kubelet finishes it).
    let (code, deleting) = curl(&["-X", "DELETE", &format!("{url}/nginx-json")])?;
    assert_eq!(code, 200, "{deleting}");
    assert!(!str_at(&json(&deleting)?, "/metadata/deletionTimestamp").is_empty(), "{deleting}");
    Ok(())
}

#[test]
fn apply_twice_lands_the_change_and_keeps_the_last_applied_configuration() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    assert_eq!(with_input(&k, &["apply", "-f", "-"], DEPLOY_YAML)?.trim(), "deployment.apps/web created");
    let changed = DEPLOY_YAML.replace("replicas: 2", "replicas: 3").replace("zwindler/vhelloworld", "nginx:1.25");
    assert_eq!(with_input(&k, &["apply", "-f", "-"], &changed)?.trim(), "deployment.apps/web configured");
    assert_eq!(with_input(&k, &["apply", "-f", "-"], &changed)?.trim(), "deployment.apps/web unchanged");

    let deploy = json(&k.ok(&["get", "deploy", "web", "-o", "json"])?)?;
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(str_at(&deploy, "/spec/template/spec/containers/0/image"), "nginx:1.25");
    assert_eq!(deploy["metadata"]["generation"], 2, "one change of the spec, one generation");
    let last = json(str_at(&deploy, "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"))?;
    assert_eq!(last["spec"]["replicas"], 3, "{last}");
    assert_eq!(str_at(&deploy, "/spec/strategy/type"), "RollingUpdate", "defaults survive the patch");
    Ok(())
}

#[test]
fn apply_server_side_creates_then_updates_as_field_manager_kubectl() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    assert_eq!(with_input(&k, &["apply", "--server-side", "-f", "-"], SERVICE_YAML)?.trim(), "service/web serverside-applied");
    let svc = json(&k.ok(&["get", "svc", "web", "-o", "json", "--show-managed-fields"])?)?;
    assert!(str_at(&svc, "/spec/clusterIP").starts_with("10.0.0."), "{svc}");
    assert_eq!(str_at(&svc, "/metadata/managedFields/0/manager"), "kubectl", "{svc}");
    assert_eq!(str_at(&svc, "/metadata/managedFields/0/operation"), "Apply", "{svc}");

    let changed = SERVICE_YAML.replace("port: 3000", "port: 3001");
    with_input(&k, &["apply", "--server-side", "-f", "-"], &changed)?;
    let svc2 = json(&k.ok(&["get", "svc", "web", "-o", "json"])?)?;
    assert_eq!(svc2["spec"]["ports"][0]["port"], 3001);
    assert_eq!(svc2["spec"]["clusterIP"], svc["spec"]["clusterIP"], "the ClusterIP is kept");
    Ok(())
}

#[test]
fn label_and_scale_change_pods_deployments_and_replication_controllers() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    with_input(&k, &["create", "-f", "-"], NGINX_YML)?;
    with_input(&k, &["create", "-f", "-"], DEPLOY_YAML)?;
    with_input(&k, &["create", "-f", "-"], RC_YAML)?;

    assert_eq!(k.ok(&["label", "pod", "nginx", "tier=front"])?.trim(), "pod/nginx labeled");
    assert_eq!(k.ok(&["get", "pods", "-l", "tier=front", "-o", "name"])?.trim(), "pod/nginx");
    assert_eq!(k.ok(&["get", "pods", "-l", "tier=back", "-o", "name"])?.trim(), "");
    let err = k.fails(&["label", "pod", "nginx", "tier=back"])?;
    assert!(err.contains("already has a value (front)"), "{err}");
    k.ok(&["label", "pod", "nginx", "tier=back", "--overwrite"])?;
    k.ok(&["label", "pod", "nginx", "tier-"])?;
    let pod = json(&k.ok(&["get", "pod", "nginx", "-o", "json"])?)?;
    assert!(pod["metadata"]["labels"].get("tier").is_none(), "{pod}");

    assert_eq!(k.ok(&["scale", "deployment", "web", "--replicas=4"])?.trim(), "deployment.apps/web scaled");
    assert_eq!(k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])?, "4");
    assert_eq!(k.ok(&["scale", "rc", "hello-world-controller", "--replicas=5"])?.trim(), "replicationcontroller/hello-world-controller scaled");
    assert_eq!(k.ok(&["get", "rc", "hello-world-controller", "-o", "jsonpath={.spec.replicas}"])?, "5");
    // A precondition on the current size.
    let err = k.fails(&["scale", "deployment", "web", "--current-replicas=2", "--replicas=1"])?;
    assert!(err.contains("Expected replicas to be 2, was 4"), "{err}");
    Ok(())
}

#[test]
fn delete_removes_an_unbound_pod_and_a_deployment() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    with_input(&k, &["create", "-f", "-"], NGINX_YML)?;
    with_input(&k, &["create", "-f", "-"], DEPLOY_YAML)?;
    assert_eq!(k.ok(&["delete", "pod", "nginx"])?.trim(), r#"pod "nginx" deleted"#);
    let out = k.run_with_input(&["delete", "-f", "-"], DEPLOY_YAML)?;
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#"deployment.apps "web" deleted"#), "{out:?}");
    let err = k.fails(&["get", "pod", "nginx"])?;
    assert!(err.contains(r#"pods "nginx" not found"#), "{err}");
    assert!(k.ok(&["get", "deploy", "-o", "name"])?.trim().is_empty());
    Ok(())
}

#[test]
fn get_watch_prints_added_modified_and_deleted_events() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    let mut child = k
        .command(&["get", "pods", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let output = Arc::new(Mutex::new(String::new()));
    let reader = {
        let output = output.clone();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                output.lock().expect("lock").push_str(&(line + "\n"));
            }
        })
    };
    // kubectl lists, then watches from the list's version: nothing below can be missed,
    // whether the watch is open yet or not.
    with_input(&k, &["create", "-f", "-"], NGINX_YML)?;
    k.ok(&["label", "pod", "nginx", "seen=yes"])?;
    k.ok(&["delete", "pod", "nginx"])?;
    let seen = wait_for("kubectl get -w to print DELETED", Duration::from_secs(20), || {
        let out = output.lock().expect("lock").clone();
        out.contains("DELETED").then_some(out)
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let out = seen?;
    let events: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(out.lines().next().map(|l| l.split_whitespace().take(2).collect::<Vec<_>>()), Some(vec!["EVENT", "NAME"]), "{out}");
    assert_eq!(events.first(), Some(&"ADDED"), "{out}");
    assert!(events.contains(&"MODIFIED"), "{out}");
    assert_eq!(events.last(), Some(&"DELETED"), "{out}");
    assert!(out.lines().skip(1).all(|l| l.contains("nginx")), "{out}");
    Ok(())
}

#[test]
fn describe_pod_prints_the_pod_and_its_empty_events() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    with_input(&k, &["create", "-f", "-"], NGINX_YML)?;
    let out = k.ok(&["describe", "pod", "nginx"])?;
    for expected in ["Name:", "nginx", "Namespace:", "default", "log-truncator", "/var/log/nginx", "QoS Class:", "BestEffort", "Events:"] {
        assert!(out.contains(expected), "{expected} missing from:\n{out}");
    }
    let out = k.ok(&["describe", "svc", "kubernetes"])?;
    assert!(out.contains("10.0.0.1"), "{out}");
    Ok(())
}

#[test]
fn a_missing_object_is_not_found_with_upstreams_message() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let out = api.kubectl().run(&["get", "pod", "nope"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), r#"Error from server (NotFound): pods "nope" not found"#);
    let err = api.kubectl().fails(&["delete", "deployment", "nope"])?;
    assert_eq!(err.trim(), r#"Error from server (NotFound): deployments.apps "nope" not found"#);
    Ok(())
}

#[test]
fn replace_of_a_stale_copy_is_a_conflict() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();
    with_input(&k, &["create", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n")?;
    let old = k.ok(&["get", "configmap", "c", "-o", "yaml"])?;
    k.ok(&["label", "configmap", "c", "changed=yes"])?;
    let (code, err) = fails_with_input(&k, &["replace", "-f", "-"], &old)?;
    assert_eq!(code, 1);
    assert!(
        err.contains(r#"Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again"#),
        "{err}"
    );
    // Without the stale version, replace goes through.
    let fresh: String = old.lines().filter(|l| !l.trim_start().starts_with("resourceVersion:")).map(|l| format!("{l}\n")).collect();
    with_input(&k, &["replace", "-f", "-"], &fresh)?;
    Ok(())
}

#[test]
fn invalid_objects_unknown_fields_unknown_kinds_and_missing_namespaces_are_refused() -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl();

    let bad_name = NGINX_YML.replacen("name: nginx", "name: Bad_Name", 1);
    let (code, err) = fails_with_input(&k, &["create", "-f", "-"], &bad_name)?;
    assert_eq!(code, 1);
    assert!(err.contains(r#"The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name""#), "{err}");

    let typo = NGINX_YML.replacen("image: nginx", "imagee: nginx", 1);
    let (_, err) = fails_with_input(&k, &["create", "-f", "-"], &typo)?;
    assert!(err.contains("Error from server (BadRequest)") && err.contains(r#"unknown field "spec.containers[0].imagee""#), "{err}");

    // An unknown kind: kubectl's validation first asks for CRDs (which we do not serve yet,
    // so it stops there); without validation it finds no resource for the kind.
    let frob = "apiVersion: v1\nkind: Frob\nmetadata:\n  name: f\n";
    let (code, err) = fails_with_input(&k, &["create", "-f", "-"], frob)?;
    assert_eq!(code, 1, "{err}");
    let (code, err) = fails_with_input(&k, &["create", "--validate=false", "-f", "-"], frob)?;
    assert_eq!(code, 1);
    assert!(err.contains(r#"no matches for kind "Frob" in version "v1""#), "{err}");

    let (code, err) = fails_with_input(&k, &["create", "-n", "nope", "-f", "-"], NGINX_YML)?;
    assert_eq!(code, 1);
    assert!(err.contains(r#"Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found"#), "{err}");
    Ok(())
}

/// The smaller set for older and newer kubectl: version, get, create -f, apply -f twice, delete.
fn kubectl_round_trip(binary: &str) -> anyhow::Result<()> {
    let api = ApiServer::start()?;
    let k = api.kubectl().version(binary);
    let version = json(&k.ok(&["version", "-o", "json"])?)?;
    assert!(str_at(&version, "/serverVersion/gitVersion").starts_with("v1."), "{version}");
    assert!(k.ok(&["get", "namespaces"])?.contains("kube-system"));
    assert_eq!(with_input(&k, &["create", "-f", "-"], NGINX_YML)?.trim(), "pod/nginx created");
    assert!(k.ok(&["get", "pods"])?.contains("nginx"));
    assert_eq!(with_input(&k, &["apply", "-f", "-"], DEPLOY_YAML)?.trim(), "deployment.apps/web created");
    let changed = DEPLOY_YAML.replace("replicas: 2", "replicas: 5");
    assert_eq!(with_input(&k, &["apply", "-f", "-"], &changed)?.trim(), "deployment.apps/web configured");
    assert_eq!(k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])?, "5");
    assert_eq!(k.ok(&["delete", "pod", "nginx"])?.trim(), r#"pod "nginx" deleted"#);
    assert!(k.fails(&["get", "pod", "nginx"])?.contains(r#"pods "nginx" not found"#));
    Ok(())
}

#[test]
fn kubectl_1_27_versions_gets_creates_applies_and_deletes() -> anyhow::Result<()> {
    kubectl_round_trip(KUBECTL_1_27)
}

#[test]
fn kubectl_1_33_versions_gets_creates_applies_and_deletes() -> anyhow::Result<()> {
    kubectl_round_trip(KUBECTL_1_33)
}
