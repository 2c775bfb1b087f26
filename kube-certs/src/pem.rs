//! Reading PEM files: certificate chains (`-----BEGIN CERTIFICATE-----`, leaf first) and
//! private keys (PKCS#8 `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`, as cfssl writes).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })
}

/// Every certificate of a PEM text, in order; `what` names the source in errors.
pub fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem).filter_map(|c| c.ok()).collect();
    if certs.is_empty() {
        return Err(Error::NoCertificate(what.to_string()));
    }
    Ok(certs)
}

/// The first private key of a PEM text.
pub fn key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| Error::NoKey(what.to_string()))
}

pub fn certs_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    certs(&read(path)?, &path.display().to_string())
}

pub fn key_file(path: &Path) -> Result<PrivateKeyDer<'static>> {
    key(&read(path)?, &path.display().to_string())
}
