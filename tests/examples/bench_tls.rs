//! What TLS costs on the apiserver: in one run, on one apiserver (its insecure port and its
//! secure port both open), prints the rate of a simple GET (`/api/v1/namespaces/default`)
//! 1. over plain HTTP on the insecure port,
//! 2. over HTTPS with an x509 client certificate (authenticated as `admin`), on kept-alive
//!    connections (the usual case: kube-client pools its connections),
//! 3. over HTTPS with a fresh connection per request (a full handshake and certificate
//!    check each time: the worst case).
//!
//! It makes its own certificates (kube-certs), etcd and apiserver (the binary found beside
//! it: a release build, so build that first). Run with:
//!
//! ```text
//! cargo build --release -p kube-apiserver --bin kube-apiserver
//! cargo run --release -p e2e --example bench_tls
//! ```
//!
//! Not part of the test suite: the figures depend on the machine.

use std::time::Instant;

use http::Method;
use kube_client::{Client, Config};
use testutil::tls::Certs;
use testutil::{ApiServer, Etcd};

/// Requests per measurement on pooled connections, and how many run at once.
const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 16;
/// Requests with a fresh connection (and handshake) each.
const HANDSHAKES: usize = 1_000;

const PATH: &str = "/api/v1/namespaces/default";

/// `REQUESTS` GETs, `CONCURRENCY` at a time, on `client`'s pool: requests per second.
async fn pooled(client: &Client) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..REQUESTS / CONCURRENCY {
                client.request(Method::GET, PATH, None, None, None).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((REQUESTS / CONCURRENCY * CONCURRENCY) as f64 / started.elapsed().as_secs_f64())
}

/// `HANDSHAKES` GETs, `CONCURRENCY` at a time, each on a new client (a new connection).
async fn fresh(config: &Config) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..HANDSHAKES / CONCURRENCY {
                Client::new(config.clone())?.request(Method::GET, PATH, None, None, None).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((HANDSHAKES / CONCURRENCY * CONCURRENCY) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let certs = Certs::generate(&[])?;
    let etcd = Etcd::start()?;
    let insecure_port = testutil::free_port();
    let flags = [
        format!("--tls-cert-file={}", certs.arg("kube-apiserver.pem")),
        format!("--tls-private-key-file={}", certs.arg("kube-apiserver-key.pem")),
        format!("--client-ca-file={}", certs.arg("ca.pem")),
        format!("--insecure-port={insecure_port}"),
        "--log-level=warn".to_string(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let api = ApiServer::start_secure_on(&etcd.endpoint, &flags)?;

    let plain_config = Config::from_server(&format!("http://127.0.0.1:{insecure_port}"))?;
    let mut tls_config = Config::from_server(&api.url)?;
    tls_config.tls.ca_pem = Some(std::fs::read(certs.path("ca.pem"))?);
    tls_config.tls.client_cert_pem = Some(std::fs::read(certs.path("admin.pem"))?);
    tls_config.tls.client_key_pem = Some(std::fs::read(certs.path("admin-key.pem"))?);
    let (plain, tls) = (Client::new(plain_config.clone())?, Client::new(tls_config.clone())?);
    // Warm up both pools and the apiserver's cache.
    for _ in 0..200 {
        plain.request(Method::GET, PATH, None, None, None).await?;
        tls.request(Method::GET, PATH, None, None, None).await?;
    }

    println!("GET {PATH}, {CONCURRENCY} concurrent clients, one apiserver (pid {:?})", api.pid());
    let http_rate = pooled(&plain).await?;
    println!("  insecure port, plain HTTP, kept-alive:         {http_rate:>8.0} req/s");
    let tls_rate = pooled(&tls).await?;
    println!("  secure port, TLS + client cert, kept-alive:    {tls_rate:>8.0} req/s  ({:.0}% of plain)", 100.0 * tls_rate / http_rate);
    let plain_fresh = fresh(&plain_config).await?;
    println!("  insecure port, new connection per request:     {plain_fresh:>8.0} req/s");
    let tls_fresh = fresh(&tls_config).await?;
    println!("  secure port, new TLS handshake per request:    {tls_fresh:>8.0} req/s  ({:.1} ms per request, {CONCURRENCY} at once)", 1000.0 * CONCURRENCY as f64 / tls_fresh);
    Ok(())
}
