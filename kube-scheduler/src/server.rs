//! The scheduler's HTTPS endpoint on `--bind-address:--secure-port` (10259): `/healthz`,
//! `/livez`, `/readyz` and `/metrics`, with a self-signed certificate as upstream
//! ([`kube_client::secure_serving`]): `curl -k https://127.0.0.1:10259/healthz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::StatusCode;
use kube_client::secure_serving::{SecureServing, ServingError};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What the endpoints report.
#[derive(Clone, Default)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the informers have synced (`/readyz`).
    pub ready: Arc<AtomicBool>,
}

fn answer(health: &Health, path: &str) -> (StatusCode, String) {
    match path {
        "/healthz" | "/livez" => (StatusCode::OK, "ok".to_string()),
        "/readyz" if health.ready.load(Ordering::Relaxed) => (StatusCode::OK, "ok".to_string()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "informers not synced".to_string()),
        "/metrics" => (StatusCode::OK, health.metrics.render()),
        _ => (StatusCode::NOT_FOUND, "404 page not found\n".to_string()),
    }
}

/// Binds `addr` now (so that a busy port fails at start) and serves until `cancel`.
/// Answers the address actually bound (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, health: Health, cancel: CancellationToken) -> Result<SocketAddr, ServingError> {
    let serving = SecureServing::bind(addr, "kube-scheduler", None).await?;
    let local = serving.local_addr().map_err(|source| ServingError::Bind { addr, source })?;
    tokio::spawn(serving.serve(move |path| answer(&health, path), cancel));
    Ok(local)
}
