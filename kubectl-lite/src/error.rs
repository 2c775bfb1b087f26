//! The one error type of kubectl-lite, whose `Display` is exactly the line kubectl prints on
//! stderr before exiting with status 1:
//! - errors from the server: `Error from server (NotFound): pods "x" not found`;
//! - an unreachable server: `The connection to the server ... was refused - ...`;
//! - everything decided on the client: `error: the server doesn't have a resource type "frobs"`.

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apiserver refused (a `Status`), or could not be reached. kube-client's `Display`
    /// is already kubectl's wording.
    #[error(transparent)]
    Client(#[from] kube_client::Error),

    /// The kubeconfig or `--server` is unusable.
    #[error("error: {0}")]
    Config(#[from] kube_client::ConfigError),

    /// A mistake caught on the client (bad flags, unknown resource type, malformed file).
    #[error("error: {0}")]
    Usage(String),

    /// The command already printed its errors (one per object, as `kubectl delete a b`
    /// does) and only the exit status is left to set.
    #[error("")]
    Reported,
}

/// `Result` with kubectl-lite's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for [`Error::Usage`].
pub fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Usage(e.to_string())
    }
}
