//! rustls configurations for serving and for dialing.
//!
//! ## Serving with client certificates, the upstream way
//! A server given a client CA (`--client-ca-file`) *asks* for a certificate but does not
//! *require* one, and does not judge it during the handshake: [`DeferredClientAuth`] only
//! checks that the client holds the certificate's private key (the handshake signature).
//! After the handshake, [`ClientCa::verify`] checks the chain, the dates and the
//! `clientAuth` usage, and the server turns the verdict into an identity or a 401
//! `Unauthorized` — exactly what upstream's apiserver answers for a certificate from another
//! CA or an expired one, where a rustls default would have killed the connection with a TLS
//! alert that kubectl reports as a cryptic `remote error: tls: ...`.
//!
//! The server sends its CA's name as a hint in the handshake, as Go's servers do; Go clients
//! (kubectl) then send only a certificate issued by that CA.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{pem, Error, Result};

/// The crypto provider of every configuration made here.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Who a verified client certificate says it is: `CN` and the `O`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub common_name: String,
    pub organizations: Vec<String>,
}

/// The CAs a server trusts to sign client certificates (`--client-ca-file`).
#[derive(Clone, Debug)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    pub fn from_pem(ca_pem: &[u8], what: &str) -> Result<ClientCa> {
        let mut roots = RootCertStore::empty();
        for cert in pem::certs(ca_pem, what)? {
            roots.add(cert)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).allow_unauthenticated().build()?;
        Ok(ClientCa { verifier })
    }

    pub fn from_file(path: &std::path::Path) -> Result<ClientCa> {
        ClientCa::from_pem(&pem::read(path)?, &path.display().to_string())
    }

    /// Checks a client's chain (leaf first) now: signed by one of our CAs, within its dates,
    /// usable for client authentication. `Err` carries why, for the log.
    pub fn verify(&self, chain: &[CertificateDer<'_>]) -> Result<CertIdentity, String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no client certificate")?;
        self.verifier.verify_client_cert(leaf, intermediates, UnixTime::now()).map_err(|e| e.to_string())?;
        identity(leaf)
    }
}

/// `CN` and `O`s of a certificate.
pub fn identity(cert: &CertificateDer<'_>) -> Result<CertIdentity, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|e| format!("unparsable certificate: {e}"))?;
    let subject = parsed.subject();
    let common_name = subject.iter_common_name().filter_map(|a| a.as_str().ok()).next().unwrap_or_default().to_string();
    let organizations = subject.iter_organization().filter_map(|a| a.as_str().ok()).map(str::to_string).collect();
    Ok(CertIdentity { common_name, organizations })
}

/// Asks for a client certificate, accepts any chain in the handshake (checking only the
/// proof of key possession), and leaves the chain's verdict to [`ClientCa::verify`].
#[derive(Debug)]
struct DeferredClientAuth {
    ca: ClientCa,
}

impl ClientCertVerifier for DeferredClientAuth {
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.verifier.root_hint_subjects()
    }
    fn verify_client_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: UnixTime) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verifier.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verifier.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.ca.verifier.supported_verify_schemes()
    }
}

/// A server configuration: this certificate chain and key; with `client_ca`, client
/// certificates are asked for (see the module comment). Offers HTTP/2 and HTTP/1.1 (ALPN).
pub fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>, client_ca: Option<&ClientCa>) -> Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(Arc::new(DeferredClientAuth { ca: ca.clone() })),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A server configuration from `--tls-cert-file` and `--tls-private-key-file`.
pub fn server_config_from_files(cert: &std::path::Path, key: &std::path::Path, client_ca: Option<&ClientCa>) -> Result<ServerConfig> {
    server_config(pem::certs_file(cert)?, pem::key_file(key)?, client_ca)
}

/// A server configuration with a fresh self-signed certificate for `sans`, as upstream's
/// components make when given no certificate ("Generated self-signed cert").
pub fn self_signed_server_config(common_name: &str, sans: &[String], client_ca: Option<&ClientCa>) -> Result<ServerConfig> {
    let pair = crate::issue::self_signed(common_name, sans)?;
    server_config(pem::certs(pair.cert_pem.as_bytes(), "self-signed")?, pem::key(pair.key_pem.as_bytes(), "self-signed")?, client_ca)
}

/// How a client trusts servers and proves who it is (all PEM).
#[derive(Clone, Debug, Default)]
pub struct Dial<'a> {
    /// The CA that signed the server's certificate. `None`: no CA is trusted (set one, or
    /// `insecure_skip_verify`: there are no system roots in a cluster's world).
    pub ca_pem: Option<&'a [u8]>,
    /// A client certificate chain and its key.
    pub client_cert_pem: Option<&'a [u8]>,
    pub client_key_pem: Option<&'a [u8]>,
    /// `insecure-skip-tls-verify: true`: accept any server certificate.
    pub insecure_skip_verify: bool,
    /// ALPN protocols to offer (empty: none, which means HTTP/1.1).
    pub alpn: Vec<Vec<u8>>,
}

/// A client configuration (what kube-client and the apiserver's kubelet client dial with).
pub fn client_config(dial: &Dial<'_>) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = if dial.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(SkipVerify(provider().signature_verification_algorithms)))
    } else {
        let mut roots = RootCertStore::empty();
        if let Some(ca) = dial.ca_pem {
            for cert in pem::certs(ca, "certificate-authority")? {
                roots.add(cert)?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (dial.client_cert_pem, dial.client_key_pem) {
        (Some(cert), Some(key)) => builder.with_client_auth_cert(pem::certs(cert, "client-certificate")?, pem::key(key, "client-key")?)?,
        (Some(_), None) => return Err(Error::NoKey("client-key (a client-certificate needs its key)".into())),
        (None, Some(_)) => return Err(Error::NoCertificate("client-certificate (a client-key needs its certificate)".into())),
        (None, None) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = dial.alpn.clone();
    Ok(config)
}

/// `insecure-skip-tls-verify`: any server certificate is accepted (its handshake signature
/// is still checked, so the connection is at least encrypted to whoever holds the key).
#[derive(Debug)]
struct SkipVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
