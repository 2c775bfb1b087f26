//! `/healthz` and `/metrics` on `--bind-address:--secure-port` (10257), over HTTPS with a
//! self-signed certificate as upstream ([`kube_client::secure_serving`]):
//! `curl -k https://127.0.0.1:10257/healthz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::StatusCode;
use kube_client::secure_serving::SecureServing;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// What the endpoints report.
#[derive(Clone, Default)]
pub struct Health {
    leader: Arc<AtomicBool>,
}

impl Health {
    pub fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Relaxed);
    }

    fn metrics(&self) -> String {
        let leading = u8::from(self.leader.load(Ordering::Relaxed));
        format!(
            "# HELP leader_election_master_status Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.\n\
             # TYPE leader_election_master_status gauge\n\
             leader_election_master_status{{name=\"kube-controller-manager\"}} {leading}\n"
        )
    }
}

fn answer(health: &Health, path: &str) -> (StatusCode, String) {
    match path {
        "/healthz" | "/livez" | "/readyz" => (StatusCode::OK, "ok".to_string()),
        "/metrics" => (StatusCode::OK, health.metrics()),
        _ => (StatusCode::NOT_FOUND, "404 page not found\n".to_string()),
    }
}

/// Serves until `cancel`. A port already in use is logged, not fatal.
pub async fn serve(addr: SocketAddr, health: Health, cancel: CancellationToken) {
    match SecureServing::bind(addr, "kube-controller-manager", None).await {
        Ok(serving) => serving.serve(move |path| answer(&health, path), cancel).await,
        Err(e) => warn!("cannot serve /healthz on {addr}: {e}"),
    }
}
