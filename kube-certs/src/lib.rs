//! # kube-certs
//!
//! The certificates of a cluster, and the TLS every component speaks.
//!
//! Seed 003 makes a CA and one `admin` certificate with cfssl and uses it everywhere. The
//! `kube-certs` command makes the same files (`ca.pem`, `ca-key.pem`, `admin.pem`,
//! `admin-key.pem`), plus one certificate per component as upstream recommends, and a
//! kubeconfig per component. The library is what the binaries share to *use* them:
//!
//! - [`pem`]: read certificates and keys from PEM files.
//! - [`issue`]: make a CA and sign leaf certificates with it (rcgen, ECDSA P-256 keys).
//! - [`cluster`]: the list of files a cluster needs (what `kube-certs` writes).
//! - [`kubeconfig`]: write a kubeconfig with embedded certificates.
//! - [`tls`]: rustls configurations: serving (with an optional client CA whose verdict is
//!   read *after* the handshake, so that a bad certificate earns a 401, not a TLS alert),
//!   self-signed serving certificates, and dialing (CA, client certificate, skip-verify).
//!
//! Every rustls configuration uses the `ring` crypto provider explicitly ([`tls::provider`]),
//! so no process-wide default needs to be installed.

pub mod cluster;
pub mod issue;
pub mod kubeconfig;
pub mod pem;
pub mod tls;

use std::path::PathBuf;

/// Why a certificate could not be read, made or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The PEM text holds no certificate (or is not PEM).
    #[error("{0}: no PEM certificate found")]
    NoCertificate(String),
    /// The PEM text holds no private key (or is not PEM).
    #[error("{0}: no PEM private key found")]
    NoKey(String),
    /// rcgen refused to make or sign a certificate.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused a certificate, key or configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// A client-CA file that rustls cannot use as a trust anchor.
    #[error("client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
