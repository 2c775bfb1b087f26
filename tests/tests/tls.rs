//! TLS everywhere and authentication, as seed 003 runs the cluster: certificates from
//! `kube-certs`, etcd with `--client-cert-auth`, the apiserver with seed 003's exact flags
//! (only `--secure-port`/`--bind-address` added, so that tests do not collide on 6443), and
//! the real kubectl with the kubeconfig seed 003 builds with `kubectl config`.
//!
//! Credentials that prove nothing get upstream's `401 Unauthorized`: a certificate from
//! another CA, an expired certificate, an unknown token, and no credentials at all when
//! `--anonymous-auth=false`.

use std::path::Path;
use std::process::Command;

use kube_certs::issue::{Ca, Leaf, Usage};
use testutil::tls::{seed_003_kubeconfig, Certs};
use testutil::{binary, ApiServer, Etcd, Kubectl, Process};

const DEPLOY_YAML: &str = include_str!("../manifests/deploy.yaml");

/// Seed 003's kube-apiserver flags, with our certificates.
fn seed_003_apiserver_flags(c: &Certs, etcd: &str) -> Vec<String> {
    vec![
        "--allow-privileged".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={}", c.arg("ca.pem")),
        format!("--etcd-cafile={}", c.arg("ca.pem")),
        format!("--etcd-certfile={}", c.arg("admin.pem")),
        format!("--etcd-keyfile={}", c.arg("admin-key.pem")),
        format!("--etcd-servers={etcd}"),
        format!("--service-account-key-file={}", c.arg("admin.pem")),
        format!("--service-account-signing-key-file={}", c.arg("admin-key.pem")),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--tls-cert-file={}", c.arg("admin.pem")),
        format!("--tls-private-key-file={}", c.arg("admin-key.pem")),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// kubectl with the server on its command line and no credentials.
fn kubectl_without_credentials(api: &ApiServer) -> Kubectl {
    Kubectl::new("/usr/bin/kubectl", &api.url)
}

fn ca_flag(c: &Certs) -> String {
    format!("--certificate-authority={}", c.arg("ca.pem"))
}

#[test]
fn seed_003_runs_etcd_and_the_apiserver_with_tls_and_the_real_kubectl_uses_its_kubeconfig() -> anyhow::Result<()> {
    let c = Certs::generate(&[])?;
    let etcd = Etcd::start_tls(&c.path("ca.pem"), &c.path("admin.pem"), &c.path("admin-key.pem"))?;
    let api = ApiServer::start_secure_on(&etcd.endpoint, &refs(&seed_003_apiserver_flags(&c, &etcd.endpoint)))?;
    assert!(api.log().contains(&format!("Serving securely on 127.0.0.1:{}", api.port)), "{}", api.log());
    assert!(!api.log().contains("serving insecurely"), "seed 003's command line has no insecure port: {}", api.log());

    let conf = seed_003_kubeconfig(&c.dir.join("admin-seed.conf"), &c.path("ca.pem"), &c.path("admin.pem"), &c.path("admin-key.pem"), &api.url)?;
    let k = Kubectl::with_kubeconfig("/usr/bin/kubectl", &conf);
    let ns = k.ok(&["get", "ns"])?;
    assert!(ns.contains("kube-system") && ns.contains("default"), "{ns}");
    let version = k.ok(&["version"])?;
    assert!(version.contains("Server Version: v1.33"), "{version}");
    let resources = k.ok(&["api-resources"])?;
    assert!(resources.contains("deployments") && resources.contains("namespaces"), "{resources}");
    let out = k.run_with_input(&["apply", "-f", "-"], DEPLOY_YAML)?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/web created"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(k.ok(&["get", "deploy"])?.contains("web"));
    // Older kubectl too.
    let old = k.version("/usr/lib/google-cloud-sdk/bin/kubectl.1.27");
    assert!(old.ok(&["get", "deploy", "web", "-o", "name"])?.contains("deployment.apps/web"));

    // The apiserver wrote to etcd over TLS with its client certificate: etcdctl (with the
    // same certificates) reads it back.
    let stored = etcd.ctl(&["get", "/registry/deployments/default/web", "--print-value-only"])?;
    assert!(String::from_utf8_lossy(&stored.stdout).contains("\"name\":\"web\""), "{}", String::from_utf8_lossy(&stored.stderr));

    // Our own clients read the same kubeconfig: kubectl-lite, and kube-client's loading rules.
    let lite = Command::new(binary("kubectl-lite")?).args(["--kubeconfig", &conf.display().to_string(), "get", "deploy"]).output()?;
    assert!(String::from_utf8_lossy(&lite.stdout).contains("web"), "kubectl-lite: {}", String::from_utf8_lossy(&lite.stderr));

    // The controller manager and the scheduler with seed 003's flags and `--kubeconfig`
    // (our own ports, so that tests do not collide): the Deployment gets its ReplicaSet and
    // pods, and both serve /healthz over HTTPS with a self-signed certificate.
    let conf_arg = conf.display().to_string();
    let [kcm_port, sched_port] = testutil::free_ports::<2>();
    let kcm = Process::start(
        "kube-controller-manager",
        &[
            "--kubeconfig", &conf_arg,
            &format!("--cluster-signing-cert-file={}", c.arg("ca.pem")),
            &format!("--cluster-signing-key-file={}", c.arg("ca-key.pem")),
            &format!("--service-account-private-key-file={}", c.arg("admin-key.pem")),
            "--use-service-account-credentials",
            &format!("--root-ca-file={}", c.arg("ca.pem")),
            &format!("--secure-port={kcm_port}"),
            "--bind-address=127.0.0.1",
        ],
    )?;
    let sched = Process::start("kube-scheduler", &["--kubeconfig", &conf_arg, &format!("--secure-port={sched_port}"), "--bind-address=127.0.0.1"])?;
    e2e::wait_for("the ReplicaSet's pods", std::time::Duration::from_secs(30), || {
        let pods = k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).ok()?;
        (pods.lines().count() == 2).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}; kcm log:\n{}", kcm.log()))?;
    for (port, who) in [(kcm_port, &kcm), (sched_port, &sched)] {
        e2e::wait_for("HTTPS /healthz", std::time::Duration::from_secs(20), || {
            e2e::curl(&["-k", &format!("https://127.0.0.1:{port}/healthz")]).ok().filter(|(code, _)| *code == 200)
        })
        .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", who.log()))?;
        assert!(who.log().contains(&format!("Serving securely on 127.0.0.1:{port}")), "{}", who.log());
    }

    // Anonymous requests are allowed by default (`--anonymous-auth=true`): health checks
    // work without credentials.
    // (curl: kubectl with no credentials at all prompts for a user name.)
    assert_eq!(e2e::curl(&["--cacert", &c.arg("ca.pem"), &format!("{}/healthz", api.url)])?, (200, "ok".to_string()));
    // ... but with --authorization-mode=Node,RBAC nothing grants system:anonymous more:
    // listing pods is forbidden, with upstream's message.
    let (code, body) = e2e::curl(&["--cacert", &c.arg("ca.pem"), &format!("{}/api/v1/namespaces/default/pods", api.url)])?;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
        "{body}"
    );
    // kubectl checks the server's certificate against the CA: without it, refused.
    let untrusted = kubectl_without_credentials(&api).fails(&["--token=any", "get", "--raw", "/healthz"])?;
    assert!(untrusted.contains("certificate signed by unknown authority"), "{untrusted}");
    Ok(())
}

/// A kube-client `Config` for `server` trusting `ca_pem`, with a client certificate.
fn client_with_cert(server: &str, ca_pem: &[u8], cert_pem: &str, key_pem: &str) -> anyhow::Result<kube_client::Client> {
    let mut config = kube_client::Config::from_server(server)?;
    config.tls.ca_pem = Some(ca_pem.to_vec());
    config.tls.client_cert_pem = Some(cert_pem.as_bytes().to_vec());
    config.tls.client_key_pem = Some(key_pem.as_bytes().to_vec());
    Ok(kube_client::Client::new(config)?)
}

async fn get_code(client: &kube_client::Client, path: &str) -> u16 {
    match client.request(http::Method::GET, path, None, None, None).await {
        Ok((code, _, _)) => code.as_u16(),
        Err(e) => e.status_code().unwrap_or(0),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_prove_nothing_get_401_unauthorized_and_good_ones_pass() -> anyhow::Result<()> {
    let c = Certs::generate(&[])?;
    let tokens = write(&c.dir, "tokens.csv", "s3cret,alice,1001,\"dev,ops\"\n")?;
    let etcd = Etcd::start()?;
    let flags = [
        format!("--tls-cert-file={}", c.arg("kube-apiserver.pem")),
        format!("--tls-private-key-file={}", c.arg("kube-apiserver-key.pem")),
        format!("--client-ca-file={}", c.arg("ca.pem")),
        format!("--token-auth-file={tokens}"),
        "--anonymous-auth=false".into(),
    ];
    let api = ApiServer::start_secure_on(&etcd.endpoint, &refs(&flags))?;
    let ca_pem = std::fs::read(c.path("ca.pem"))?;
    let k = kubectl_without_credentials(&api);
    let ca = ca_flag(&c);

    // Good credentials: our CA's certificate (kube-client), a known static token (kubectl).
    let admin = client_with_cert(&api.url, &ca_pem, &std::fs::read_to_string(c.path("admin.pem"))?, &std::fs::read_to_string(c.path("admin-key.pem"))?)?;
    assert_eq!(get_code(&admin, "/api/v1/namespaces").await, 200);
    assert!(k.ok(&[&ca, "--token=s3cret", "get", "ns"])?.contains("kube-system"));

    // A certificate from another CA.
    let other = Ca::new("Kubernetes")?.issue(&Leaf::new("admin", Some("system:masters"), &[], Usage::Client))?;
    let foreign = client_with_cert(&api.url, &ca_pem, &other.cert_pem, &other.key_pem)?;
    assert_eq!(get_code(&foreign, "/api/v1/namespaces").await, 401);

    // An expired certificate from our CA (kubectl sends it: its issuer is the one asked for).
    let ours = Ca::from_pem(&std::fs::read_to_string(c.path("ca.pem"))?, &std::fs::read_to_string(c.path("ca-key.pem"))?)?;
    let mut old = Leaf::new("admin", Some("system:masters"), &[], Usage::Client);
    old.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    old.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let expired = ours.issue(&old)?;
    let (cert, key) = (write(&c.dir, "expired.pem", &expired.cert_pem)?, write(&c.dir, "expired-key.pem", &expired.key_pem)?);
    let err = k.fails(&[&ca, &format!("--client-certificate={cert}"), &format!("--client-key={key}"), "get", "ns"])?;
    assert!(err.contains("Unauthorized"), "{err}");

    // An unknown token, and nothing at all with --anonymous-auth=false (curl: kubectl with
    // no credentials at all prompts for a user name).
    assert!(k.fails(&[&ca, "--token=wrong", "get", "ns"])?.contains("Unauthorized"));
    let (code, body) = e2e::curl(&["--cacert", &c.arg("ca.pem"), &format!("{}/api/v1/namespaces", api.url)])?;
    assert_eq!(code, 401);
    let status: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!((e2e::str_at(&status, "/kind"), e2e::str_at(&status, "/reason"), e2e::str_at(&status, "/message")), ("Status", "Unauthorized", "Unauthorized"));
    assert!(api.log().contains("client certificate of 127.0.0.1"), "the reason is logged: {}", api.log());
    Ok(())
}
