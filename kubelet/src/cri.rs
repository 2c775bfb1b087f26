//! The CRI client: gRPC to the container runtime (containerd) over a Unix socket.
//!
//! CRI ("Container Runtime Interface") is the contract between the kubelet and a runtime:
//! two gRPC services, `RuntimeService` (pod sandboxes and containers) and `ImageService`
//! (images). The messages are generated at build time from `proto/cri.proto` (see
//! `build.rs`) into [`api`]. [`Cri`] wraps both clients with one typed method per call, so
//! that the rest of the kubelet reads `cri.stop_container(id, 30)` instead of building
//! request structs, and every failure carries the name of the call that failed.
//!
//! The transport is exactly tonic's Unix-socket example: tonic wants a URI, so we give it a
//! dummy one and a connector that ignores it and dials the socket instead.

use std::collections::HashMap;
use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The generated `runtime.v1` types and clients.
#[allow(clippy::all, missing_docs)]
pub mod api {
    tonic::include_proto!("runtime.v1");
}

use api::image_service_client::ImageServiceClient;
use api::runtime_service_client::RuntimeServiceClient;

/// What can go wrong talking to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// `--container-runtime-endpoint` is not `unix:///path` or `/path`.
    #[error("unsupported container runtime endpoint {0:?}: want unix:///path/to/socket")]
    Endpoint(String),
    /// The socket could not be dialled (runtime not running, wrong path, ...).
    #[error("connect to container runtime at {path}")]
    Connect {
        path: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// A call reached the runtime and failed; `status.message()` is the runtime's reason.
    #[error("CRI {call} failed: {}", .status.message())]
    Call {
        call: &'static str,
        #[source]
        status: tonic::Status,
    },
}

impl CriError {
    /// The runtime's own message, as shown to users in container statuses.
    pub fn message(&self) -> String {
        match self {
            CriError::Call { status, .. } => status.message().to_string(),
            other => other.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, CriError>;

/// Both CRI services over one connection. Cheap to clone (the channel is shared).
#[derive(Clone)]
pub struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// `unix:///run/containerd/containerd.sock` or `/run/containerd/containerd.sock` → the path.
pub fn socket_path(endpoint: &str) -> Result<PathBuf> {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        return Ok(PathBuf::from(path));
    }
    if endpoint.starts_with('/') {
        return Ok(PathBuf::from(endpoint));
    }
    Err(CriError::Endpoint(endpoint.to_string()))
}

impl Cri {
    /// Connects to the runtime's socket (`unix:///path` or `/path`).
    pub async fn connect(endpoint: &str) -> Result<Cri> {
        let path = socket_path(endpoint)?;
        let shown = path.display().to_string();
        // The URI is never used: the connector below dials the socket whatever it is asked.
        let channel = Endpoint::from_static("http://[::]:50051")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
            }))
            .await
            .map_err(|source| CriError::Connect { path: shown, source })?;
        Ok(Cri { runtime: RuntimeServiceClient::new(channel.clone()), images: ImageServiceClient::new(channel) })
    }

    /// The runtime's name and version (`containerd`, `1.6.20~ds1`).
    pub async fn version(&self) -> Result<api::VersionResponse> {
        let req = api::VersionRequest { version: "v1".into() };
        Ok(self.runtime.clone().version(req).await.map_err(call("Version"))?.into_inner())
    }

    /// The runtime's conditions: `RuntimeReady` and `NetworkReady` (false until a CNI
    /// config is in place). The node's Ready condition follows them.
    pub async fn status(&self) -> Result<api::RuntimeStatus> {
        let req = api::StatusRequest { verbose: false };
        Ok(self.runtime.clone().status(req).await.map_err(call("Status"))?.into_inner().status.unwrap_or_default())
    }

    // ----- pod sandboxes ---------------------------------------------------------------

    /// Sandboxes whose labels include all of `labels` (any state).
    pub async fn list_pod_sandboxes(&self, labels: HashMap<String, String>) -> Result<Vec<api::PodSandbox>> {
        let filter = api::PodSandboxFilter { label_selector: labels, ..Default::default() };
        let req = api::ListPodSandboxRequest { filter: Some(filter) };
        Ok(self.runtime.clone().list_pod_sandbox(req).await.map_err(call("ListPodSandbox"))?.into_inner().items)
    }

    pub async fn pod_sandbox_status(&self, id: &str) -> Result<api::PodSandboxStatus> {
        let req = api::PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: false };
        let resp = self.runtime.clone().pod_sandbox_status(req).await.map_err(call("PodSandboxStatus"))?;
        Ok(resp.into_inner().status.unwrap_or_default())
    }

    /// Creates and starts a sandbox (the pause container and its network namespace).
    pub async fn run_pod_sandbox(&self, config: api::PodSandboxConfig) -> Result<String> {
        let req = api::RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() };
        Ok(self.runtime.clone().run_pod_sandbox(req).await.map_err(call("RunPodSandbox"))?.into_inner().pod_sandbox_id)
    }

    /// Stops every container of the sandbox and frees its network (idempotent).
    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let req = api::StopPodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.clone().stop_pod_sandbox(req).await.map_err(call("StopPodSandbox"))?;
        Ok(())
    }

    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let req = api::RemovePodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.clone().remove_pod_sandbox(req).await.map_err(call("RemovePodSandbox"))?;
        Ok(())
    }

    // ----- containers ------------------------------------------------------------------

    /// Containers whose labels include all of `labels` (any state).
    pub async fn list_containers(&self, labels: HashMap<String, String>) -> Result<Vec<api::Container>> {
        let filter = api::ContainerFilter { label_selector: labels, ..Default::default() };
        let req = api::ListContainersRequest { filter: Some(filter) };
        Ok(self.runtime.clone().list_containers(req).await.map_err(call("ListContainers"))?.into_inner().containers)
    }

    /// State, exit code, times and reason of one container.
    pub async fn container_status(&self, id: &str) -> Result<api::ContainerStatus> {
        let req = api::ContainerStatusRequest { container_id: id.into(), verbose: false };
        let resp = self.runtime.clone().container_status(req).await.map_err(call("ContainerStatus"))?;
        Ok(resp.into_inner().status.unwrap_or_default())
    }

    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String> {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.into(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        Ok(self.runtime.clone().create_container(req).await.map_err(call("CreateContainer"))?.into_inner().container_id)
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        let req = api::StartContainerRequest { container_id: id.into() };
        self.runtime.clone().start_container(req).await.map_err(call("StartContainer"))?;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `timeout_seconds` (the pod's grace period).
    pub async fn stop_container(&self, id: &str, timeout_seconds: i64) -> Result<()> {
        let req = api::StopContainerRequest { container_id: id.into(), timeout: timeout_seconds };
        self.runtime.clone().stop_container(req).await.map_err(call("StopContainer"))?;
        Ok(())
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let req = api::RemoveContainerRequest { container_id: id.into() };
        self.runtime.clone().remove_container(req).await.map_err(call("RemoveContainer"))?;
        Ok(())
    }

    /// Runs `cmd` in the container and waits for it (exec probes, `kubectl exec` later).
    pub async fn exec_sync(&self, id: &str, cmd: Vec<String>, timeout_seconds: i64) -> Result<api::ExecSyncResponse> {
        let req = api::ExecSyncRequest { container_id: id.into(), cmd, timeout: timeout_seconds };
        Ok(self.runtime.clone().exec_sync(req).await.map_err(call("ExecSync"))?.into_inner())
    }

    // ----- images ----------------------------------------------------------------------

    /// The image if the runtime has it, `None` if not.
    pub async fn image_status(&self, image: &str) -> Result<Option<api::Image>> {
        let req = api::ImageStatusRequest { image: Some(image_spec(image)), verbose: false };
        Ok(self.images.clone().image_status(req).await.map_err(call("ImageStatus"))?.into_inner().image)
    }

    /// Pulls the image from its registry; returns the image reference (its ID) to run.
    pub async fn pull_image(&self, image: &str, sandbox_config: Option<api::PodSandboxConfig>) -> Result<String> {
        let req = api::PullImageRequest { image: Some(image_spec(image)), auth: None, sandbox_config };
        Ok(self.images.clone().pull_image(req).await.map_err(call("PullImage"))?.into_inner().image_ref)
    }
}

fn image_spec(image: &str) -> api::ImageSpec {
    api::ImageSpec { image: image.into(), annotations: HashMap::new() }
}

/// Wraps a failed call's status with the call's name.
fn call(name: &'static str) -> impl Fn(tonic::Status) -> CriError {
    move |status| CriError::Call { call: name, status }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_unix_urls_or_plain_paths() {
        assert_eq!(socket_path("unix:///run/c.sock").unwrap(), PathBuf::from("/run/c.sock"));
        assert_eq!(socket_path("/run/c.sock").unwrap(), PathBuf::from("/run/c.sock"));
        assert!(socket_path("tcp://localhost:1").is_err());
    }
}
