//! Making certificates: a CA, and leaf certificates signed by it (what cfssl does in seed 003).
//!
//! Keys are ECDSA P-256 (rcgen's default with the `ring` provider, which cannot generate RSA
//! keys). Every client — kubectl, etcd, curl — accepts them; upstream's own
//! `kubeadm init --encryption-algorithm=ECDSA-P256` makes the same kind.
//!
//! What a certificate says, and who reads it:
//! - the **subject**: `CN` is the user name and each `O` a group, for the apiserver's x509
//!   authenticator (`CN=admin, O=system:masters`; `CN=system:node:n1, O=system:nodes`);
//! - the **subject alternative names** (SANs): the DNS names and IP addresses a *server*
//!   certificate is valid for. A client dialing `https://127.0.0.1:6443` checks that
//!   `127.0.0.1` is an IP SAN; the subject's CN is not looked at (Go stopped in 1.15);
//! - the **extended key usages**: `serverAuth` to serve, `clientAuth` to authenticate.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::Result;

/// How long a leaf certificate is valid by default: cfssl's `8760h` of seed 003.
pub const LEAF_VALIDITY: Duration = Duration::days(365);
/// How long the CA is valid: ten years, as kubeadm's.
pub const CA_VALIDITY: Duration = Duration::days(3650);

/// A certificate and its private key, as PEM text.
#[derive(Clone, Debug)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a certificate is used for (its extended key usages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Client,
    Server,
    /// Both: seed 003's admin certificate serves the apiserver and etcd and authenticates.
    ClientAndServer,
}

/// What to put in a leaf certificate.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// `CN`: the user name for the x509 authenticator.
    pub common_name: String,
    /// `O`: the group (rcgen writes one `O` per subject; the x509 authenticator reads all).
    pub organization: Option<String>,
    /// DNS names and IP addresses (parsed: `127.0.0.1` becomes an IP SAN).
    pub sans: Vec<String>,
    pub usage: Usage,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Leaf {
    /// A leaf valid from now for [`LEAF_VALIDITY`].
    pub fn new(common_name: &str, organization: Option<&str>, sans: &[String], usage: Usage) -> Leaf {
        let now = OffsetDateTime::now_utc();
        Leaf {
            common_name: common_name.to_string(),
            organization: organization.map(str::to_string),
            sans: sans.to_vec(),
            usage,
            // A minute of slack for clocks a little behind ours.
            not_before: now - Duration::minutes(1),
            not_after: now + LEAF_VALIDITY,
        }
    }
}

/// A certificate authority that can sign leaf certificates.
pub struct Ca {
    pub pair: Pair,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA (`CN=<common_name>`, `O=Kubernetes`, as seed 003's `ca-csr.json`).
    pub fn new(common_name: &str) -> Result<Ca> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Kubernetes");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;
        let pair = Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() };
        Ok(Ca { pair, issuer: Issuer::new(params, key) })
    }

    /// An existing CA (e.g. cfssl's `ca.pem` and `ca-key.pem`).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca { pair: Pair { cert_pem: cert_pem.to_string(), key_pem: key_pem.to_string() }, issuer })
    }

    /// A new key and a certificate for it, signed by this CA.
    pub fn issue(&self, leaf: &Leaf) -> Result<Pair> {
        let key = KeyPair::generate()?;
        let cert = leaf_params(leaf)?.signed_by(&key, &self.issuer)?;
        Ok(Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// A self-signed serving certificate, as upstream components make at start when given no
/// `--tls-cert-file` (the kubelet, kube-scheduler, kube-controller-manager).
pub fn self_signed(common_name: &str, sans: &[String]) -> Result<Pair> {
    let key = KeyPair::generate()?;
    let cert = leaf_params(&Leaf::new(common_name, None, sans, Usage::Server))?.self_signed(&key)?;
    Ok(Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A new key pair on its own (the service-account signing key): private PKCS#8 PEM and
/// public SubjectPublicKeyInfo PEM.
pub fn key_pair() -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

fn leaf_params(leaf: &Leaf) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(leaf.sans.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, leaf.common_name.as_str());
    if let Some(o) = &leaf.organization {
        params.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = match leaf.usage {
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::ClientAndServer => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    params.not_before = leaf.not_before;
    params.not_after = leaf.not_after;
    Ok(params)
}
