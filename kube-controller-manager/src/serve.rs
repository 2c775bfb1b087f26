//! `/healthz` and `/metrics` on `--bind-address:--secure-port` (10257).
//!
//! Plain HTTP for now (upstream serves HTTPS; TLS comes with the TLS issue). Two paths
//! need no framework: a tiny HTTP/1.1 responder reads the request line and answers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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

/// Serves until `cancel`. A port already in use is logged, not fatal.
pub async fn serve(addr: SocketAddr, health: Health, cancel: CancellationToken) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            warn!("cannot serve /healthz on {addr}: {e}");
            return;
        }
    };
    info!("Serving /healthz and /metrics on http://{addr}");
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => return,
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let health = health.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path.split('?').next().unwrap_or("") {
                "/healthz" | "/livez" | "/readyz" => ("200 OK", "ok".to_string()),
                "/metrics" => ("200 OK", health.metrics()),
                _ => ("404 Not Found", "404 page not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
