//! Service accounts and their tokens, end to end: the real apiserver started with seed 003's
//! key flags (an RSA key as cfssl writes it, PKCS#1, and its certificate as
//! `--service-account-key-file`), the real kube-controller-manager's `serviceaccount` and
//! `root-ca-cert-publisher` controllers, and the real kubectl (`create token`, TokenReview).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use e2e::{json, str_at, wait_for};
use serde_json::Value;
use testutil::{ApiServer, Kubectl, Process};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// An RSA key in PKCS#1 (`RSA PRIVATE KEY`, as cfssl writes it) and a self-signed
/// certificate for it, made with openssl.
fn keys(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let key = dir.join("admin-key.pem");
    let cert = dir.join("admin.pem");
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl").args(args).output().context("run openssl")?;
        if !out.status.success() {
            bail!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    run(&["genrsa", "-traditional", "-out", &key.display().to_string(), "2048"])?;
    run(&["req", "-x509", "-new", "-key", &key.display().to_string(), "-subj", "/CN=admin", "-days", "1", "-out", &cert.display().to_string()])?;
    Ok((key, cert))
}

struct Cluster {
    api: ApiServer,
    kubectl: Kubectl,
    cert: PathBuf,
    _kcm: Process,
}

fn cluster() -> anyhow::Result<Cluster> {
    let dir = testutil::unique_temp_dir()?;
    let (key, cert) = keys(&dir)?;
    let api = ApiServer::start_with(&[
        &format!("--service-account-key-file={}", cert.display()),
        &format!("--service-account-signing-key-file={}", key.display()),
        &format!("--service-account-issuer={ISSUER}"),
    ])?;
    let kcm = Process::start(
        "kube-controller-manager",
        &[
            &format!("--master={}", api.url),
            "--secure-port=0",
            "--controllers=serviceaccount,root-ca-cert-publisher",
            &format!("--service-account-private-key-file={}", key.display()),
            &format!("--root-ca-file={}", cert.display()),
        ],
    )?;
    let kubectl = api.kubectl();
    Ok(Cluster { api, kubectl, cert, _kcm: kcm })
}

/// The claims of a JWT (its middle part), unverified.
fn claims(token: &str) -> anyhow::Result<Value> {
    let payload = token.trim().split('.').nth(1).context("a JWT has three parts")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// `kubectl create -f` of a TokenReview for `token`; the review's status.
fn review(kubectl: &Kubectl, token: &str) -> anyhow::Result<Value> {
    let manifest = format!("apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {}\n", token.trim());
    let out = kubectl.run_with_input(&["create", "-f", "-", "-o", "json"], &manifest)?;
    if !out.status.success() {
        bail!("kubectl create tokenreview: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(json(&String::from_utf8_lossy(&out.stdout))?["status"].clone())
}

fn wait_default_sa(kubectl: &Kubectl, namespace: &str) -> anyhow::Result<String> {
    wait_for(&format!("serviceaccount {namespace}/default"), Duration::from_secs(30), || {
        kubectl.ok(&["get", "serviceaccount", "default", "-n", namespace, "-o", "jsonpath={.metadata.uid}"]).ok().filter(|u| !u.is_empty())
    })
}

#[test]
fn kubectl_create_token_gives_a_jwt_that_token_review_accepts() -> anyhow::Result<()> {
    let c = cluster()?;
    let uid = wait_default_sa(&c.kubectl, "default")?;

    let token = c.kubectl.ok(&["create", "token", "default"])?;
    let cl = claims(&token)?;
    assert_eq!(cl["iss"], ISSUER);
    assert_eq!(cl["sub"], "system:serviceaccount:default:default");
    assert_eq!(cl["aud"], serde_json::json!([ISSUER]));
    assert_eq!(cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(), 3600);
    assert_eq!(cl["nbf"], cl["iat"]);
    assert_eq!(cl["kubernetes.io"]["namespace"], "default");
    assert_eq!(cl["kubernetes.io"]["serviceaccount"], serde_json::json!({"name": "default", "uid": uid}));

    let status = review(&c.kubectl, &token)?;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], "system:serviceaccount:default:default");
    assert_eq!(status["user"]["uid"], uid.as_str());
    assert_eq!(status["user"]["groups"], serde_json::json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]));

    // --duration and --audience.
    let short = claims(&c.kubectl.ok(&["create", "token", "default", "--duration", "10m"])?)?;
    assert_eq!(short["exp"].as_i64().unwrap() - short["iat"].as_i64().unwrap(), 600);
    let err = c.kubectl.fails(&["create", "token", "default", "--duration", "5m"])?;
    assert!(err.contains("may not specify a duration less than 10 minutes"), "{err}");
    let vault = c.kubectl.ok(&["create", "token", "default", "--audience", "vault"])?;
    assert_eq!(claims(&vault)?["aud"], serde_json::json!(["vault"]));
    let status = review(&c.kubectl, &vault)?;
    assert_eq!(status["authenticated"], false, "a token for vault is not for the apiserver: {status}");

    // A tampered token (the payload names another account) is refused.
    let parts: Vec<&str> = token.trim().split('.').collect();
    let mut forged = cl.clone();
    forged["sub"] = "system:serviceaccount:kube-system:admin".into();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged)?);
    let status = review(&c.kubectl, &format!("{}.{forged}.{}", parts[0], parts[2]))?;
    assert_eq!(status["authenticated"], false, "{status}");
    assert!(str_at(&status, "/error").contains("signature"), "{status}");

    // A token of a deleted service account is refused.
    c.kubectl.ok(&["create", "serviceaccount", "robot"])?;
    let robot = c.kubectl.ok(&["create", "token", "robot"])?;
    assert_eq!(review(&c.kubectl, &robot)?["authenticated"], true);
    c.kubectl.ok(&["delete", "serviceaccount", "robot"])?;
    let status = review(&c.kubectl, &robot)?;
    assert_eq!(status["authenticated"], false, "{status}");
    assert!(str_at(&status, "/error").contains("serviceaccounts \"robot\" not found"), "{status}");

    // No such service account: upstream's 404.
    let err = c.kubectl.fails(&["create", "token", "nobody"])?;
    assert!(err.contains("serviceaccounts \"nobody\" not found"), "{err}");
    drop(c.api);
    Ok(())
}

#[test]
fn pods_get_the_token_volume_and_a_missing_service_account_is_refused() -> anyhow::Result<()> {
    let c = cluster()?;
    wait_default_sa(&c.kubectl, "default")?;
    c.kubectl.ok(&["run", "web", "--image=busybox", "--restart=Never"])?;
    let pod = json(&c.kubectl.ok(&["get", "pod", "web", "-o", "json"])?)?;
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    let volume = pod["spec"]["volumes"].as_array().context("volumes")?.iter().find(|v| str_at(v, "/name").starts_with("kube-api-access-")).cloned().context("no kube-api-access volume")?;
    let name = str_at(&volume, "/name").to_string();
    assert_eq!(name.len(), "kube-api-access-".len() + 5, "{name}");
    assert_eq!(
        volume["projected"],
        serde_json::json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        })
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"],
        serde_json::json!([{"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}])
    );

    // A token bound to the pod names it, and dies with it.
    let token = c.kubectl.ok(&["create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "web"])?;
    let cl = claims(&token)?;
    assert_eq!(cl["kubernetes.io"]["pod"], serde_json::json!({"name": "web", "uid": pod["metadata"]["uid"]}));
    let status = review(&c.kubectl, &token)?;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["extra"]["authentication.kubernetes.io/pod-name"], serde_json::json!(["web"]));
    c.kubectl.ok(&["delete", "pod", "web", "--wait=false"])?;
    wait_for("pod web gone", Duration::from_secs(10), || c.kubectl.fails(&["get", "pod", "web"]).ok())?;
    assert_eq!(review(&c.kubectl, &token)?["authenticated"], false);

    // automountServiceAccountToken: false leaves the pod alone.
    c.kubectl.ok(&["run", "quiet", "--image=busybox", "--restart=Never", "--overrides", r#"{"spec": {"automountServiceAccountToken": false}}"#])?;
    let quiet = json(&c.kubectl.ok(&["get", "pod", "quiet", "-o", "json"])?)?;
    assert!(quiet["spec"]["volumes"].is_null(), "{}", quiet["spec"]);

    // A service account that does not exist: upstream's words.
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lost\nspec:\n  serviceAccountName: nope\n  containers:\n  - name: c\n    image: busybox\n";
    let out = c.kubectl.run_with_input(&["create", "-f", "-"], manifest)?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"Error from server (Forbidden): error when creating "STDIN": pods "lost" is forbidden: error looking up service account default/nope: serviceaccount "nope" not found"#),
        "{err}"
    );
    Ok(())
}

#[test]
fn the_controller_manager_gives_every_namespace_a_default_service_account_and_the_root_ca() -> anyhow::Result<()> {
    let c = cluster()?;
    c.kubectl.ok(&["create", "namespace", "demo"])?;
    let first = wait_default_sa(&c.kubectl, "demo")?;
    c.kubectl.ok(&["delete", "serviceaccount", "default", "-n", "demo"])?;
    let second = wait_for("default recreated", Duration::from_secs(30), || {
        c.kubectl
            .ok(&["get", "serviceaccount", "default", "-n", "demo", "-o", "jsonpath={.metadata.uid}"])
            .ok()
            .filter(|u| !u.is_empty() && *u != first)
    })?;
    assert_ne!(first, second);

    let ca = std::fs::read_to_string(&c.cert)?;
    let published = wait_for("kube-root-ca.crt in demo", Duration::from_secs(30), || {
        c.kubectl.ok(&["get", "configmap", "kube-root-ca.crt", "-n", "demo", "-o", "json"]).ok()
    })?;
    assert_eq!(json(&published)?["data"]["ca.crt"], ca.as_str());
    // Changed by hand, it is put back.
    c.kubectl.ok(&["patch", "configmap", "kube-root-ca.crt", "-n", "demo", "--type=merge", "-p", r#"{"data": {"ca.crt": "junk"}}"#])?;
    wait_for("ca.crt put back", Duration::from_secs(30), || {
        let cm = json(&c.kubectl.ok(&["get", "configmap", "kube-root-ca.crt", "-n", "demo", "-o", "json"]).ok()?).ok()?;
        (cm["data"]["ca.crt"] == ca.as_str()).then_some(())
    })?;
    // The system namespaces have it too.
    for ns in ["default", "kube-system", "kube-public"] {
        wait_for(&format!("kube-root-ca.crt in {ns}"), Duration::from_secs(30), || {
            c.kubectl.ok(&["get", "configmap", "kube-root-ca.crt", "-n", ns]).ok()
        })?;
    }
    Ok(())
}
