//! Reading the service-account keys from PEM files, as upstream's `keyutil` does.
//!
//! - `--service-account-signing-key-file`: one **private** key, RSA (→ `RS256`) or ECDSA
//!   P-256 (→ `ES256`), in any of the usual encodings: PKCS#1 (`RSA PRIVATE KEY`, what
//!   cfssl and `openssl genrsa -traditional` write), SEC1 (`EC PRIVATE KEY`) or PKCS#8
//!   (`PRIVATE KEY`, what rcgen and `openssl genpkey` write).
//! - `--service-account-key-file` (repeatable): the **public** keys tokens are verified
//!   with. Each file may hold public keys (`PUBLIC KEY`, `RSA PUBLIC KEY`), private keys
//!   (their public half is used) or certificates (`CERTIFICATE`: its subject's key) —
//!   seed 003 passes the apiserver's own certificate `certs/admin.pem`.
//!
//! A token's header names its key with `kid`: upstream's key id, the unpadded base64url
//! SHA-256 of the public key's PKIX (SubjectPublicKeyInfo) DER encoding.

use std::path::Path;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _, EncodeRsaPrivateKey as _};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode as _, Encode as _};

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not PEM.
    #[error("{path}: not a PEM file: {source}")]
    Pem {
        path: String,
        #[source]
        source: pem::PemError,
    },
    /// A PEM block of a known type whose content does not parse.
    #[error("{path}: invalid {tag} block: {detail}")]
    Invalid { path: String, tag: String, detail: String },
    /// Nothing usable in the file.
    #[error("{path}: {what}")]
    NoKey { path: String, what: &'static str },
}

/// A public key tokens can be verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    /// ECDSA on P-256 (upstream also takes P-384 and P-521; clusters use P-256).
    Ec(p256::PublicKey),
}

/// The private key tokens are signed with.
#[derive(Clone)]
pub enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ec(p256::SecretKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        match self {
            PrivateKey::Rsa(_) => f.write_str("PrivateKey::Rsa(..)"),
            PrivateKey::Ec(_) => f.write_str("PrivateKey::Ec(..)"),
        }
    }
}

impl PublicKey {
    /// The JWS algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Rsa(_) => Algorithm::RS256,
            PublicKey::Ec(_) => Algorithm::ES256,
        }
    }

    /// Upstream's key id: base64url(SHA-256(PKIX DER)), without padding.
    pub fn key_id(&self) -> String {
        let der = match self {
            PublicKey::Rsa(k) => rsa::pkcs8::EncodePublicKey::to_public_key_der(k).map(|d| d.as_bytes().to_vec()),
            PublicKey::Ec(k) => k.to_public_key_der().map(|d| d.as_bytes().to_vec()),
        }
        .unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(der))
    }

    /// The key in the form the JWT library verifies with.
    pub fn decoding_key(&self) -> DecodingKey {
        match self {
            PublicKey::Rsa(k) => DecodingKey::from_rsa_raw_components(&k.n().to_bytes_be(), &k.e().to_bytes_be()),
            PublicKey::Ec(k) => DecodingKey::from_ec_der(k.to_encoded_point(false).as_bytes()),
        }
    }
}

impl PrivateKey {
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivateKey::Ec(k) => PublicKey::Ec(k.public_key()),
        }
    }

    /// The key in the form the JWT library signs with.
    pub fn encoding_key(&self) -> Result<EncodingKey, String> {
        match self {
            PrivateKey::Rsa(k) => k.to_pkcs1_der().map(|d| EncodingKey::from_rsa_der(d.as_bytes())).map_err(|e| e.to_string()),
            PrivateKey::Ec(k) => k.to_pkcs8_der().map(|d| EncodingKey::from_ec_der(d.as_bytes())).map_err(|e| e.to_string()),
        }
    }
}

/// What one PEM block holds.
enum Block {
    Public(PublicKey),
    Private(PrivateKey),
}

fn parse_block(block: &pem::Pem, path: &str) -> Result<Option<Block>, KeyError> {
    let tag = block.tag();
    let der = block.contents();
    let invalid = |detail: String| KeyError::Invalid { path: path.into(), tag: tag.into(), detail };
    let parsed = match tag {
        "RSA PRIVATE KEY" => Block::Private(PrivateKey::Rsa(Box::new(rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| invalid(e.to_string()))?))),
        "EC PRIVATE KEY" => Block::Private(PrivateKey::Ec(p256::SecretKey::from_sec1_der(der).map_err(|e| invalid(format!("{e} (only P-256 keys are supported)")))?)),
        "PRIVATE KEY" => match rsa::RsaPrivateKey::from_pkcs8_der(der) {
            Ok(k) => Block::Private(PrivateKey::Rsa(Box::new(k))),
            Err(_) => Block::Private(PrivateKey::Ec(
                p256::SecretKey::from_pkcs8_der(der).map_err(|e| invalid(format!("neither an RSA nor a P-256 key: {e}")))?,
            )),
        },
        "RSA PUBLIC KEY" => Block::Public(PublicKey::Rsa(rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|e| invalid(e.to_string()))?)),
        "PUBLIC KEY" => Block::Public(spki_key(der).map_err(invalid)?),
        "CERTIFICATE" => {
            let cert = x509_cert::Certificate::from_der(der).map_err(|e| invalid(e.to_string()))?;
            let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| invalid(e.to_string()))?;
            Block::Public(spki_key(&spki).map_err(invalid)?)
        }
        // `EC PARAMETERS` (before `openssl ecparam -genkey` output) and anything else.
        _ => return Ok(None),
    };
    Ok(Some(parsed))
}

/// An RSA or P-256 key from a SubjectPublicKeyInfo.
fn spki_key(der: &[u8]) -> Result<PublicKey, String> {
    if let Ok(k) = rsa::pkcs8::DecodePublicKey::from_public_key_der(der) {
        return Ok(PublicKey::Rsa(k));
    }
    p256::PublicKey::from_public_key_der(der)
        .map(PublicKey::Ec)
        .map_err(|e| format!("neither an RSA nor a P-256 public key: {e}"))
}

fn read_blocks(path: &Path) -> Result<Vec<Block>, KeyError> {
    let name = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| KeyError::Read { path: name.clone(), source })?;
    let blocks = pem::parse_many(&data).map_err(|source| KeyError::Pem { path: name.clone(), source })?;
    let mut out = Vec::new();
    for b in &blocks {
        if let Some(parsed) = parse_block(b, &name)? {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// `--service-account-key-file`: every public key in the file (private keys and
/// certificates give theirs). Upstream's `ParsePublicKeysPEM`.
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let keys: Vec<PublicKey> = read_blocks(path)?
        .into_iter()
        .map(|b| match b {
            Block::Public(k) => k,
            Block::Private(k) => k.public_key(),
        })
        .collect();
    if keys.is_empty() {
        return Err(KeyError::NoKey { path: path.display().to_string(), what: "data does not contain any valid RSA or ECDSA public keys" });
    }
    Ok(keys)
}

/// `--service-account-signing-key-file`: the first private key in the file.
pub fn read_private_key(path: &Path) -> Result<PrivateKey, KeyError> {
    read_blocks(path)?
        .into_iter()
        .find_map(|b| match b {
            Block::Private(k) => Some(k),
            Block::Public(_) => None,
        })
        .ok_or_else(|| KeyError::NoKey { path: path.display().to_string(), what: "data does not contain a valid RSA or ECDSA private key" })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPublicKey as _;

    /// A 2048-bit RSA key, made once per test binary (generating one takes a moment).
    pub fn rsa_key() -> rsa::RsaPrivateKey {
        static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation"))
            .clone()
    }

    pub fn ec_key() -> p256::SecretKey {
        p256::SecretKey::random(&mut rsa::rand_core::OsRng)
    }

    pub fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// A self-signed certificate for a PKCS#8 private key, as a CA tool would write.
    pub fn certificate_for(pkcs8_pem: &str) -> String {
        let key = rcgen::KeyPair::from_pem(pkcs8_pem).expect("rcgen reads the key");
        let params = rcgen::CertificateParams::new(vec!["admin".to_string()]).unwrap();
        params.self_signed(&key).expect("self-signed certificate").pem()
    }

    #[test]
    fn every_encoding_of_an_rsa_key_gives_the_same_public_key() {
        let dir = testutil::unique_temp_dir().unwrap();
        let key = rsa_key();
        let public = PublicKey::Rsa(key.to_public_key());
        let pkcs1 = write(&dir, "pkcs1.pem", &key.to_pkcs1_pem(Default::default()).unwrap());
        let pkcs8_pem = key.to_pkcs8_pem(Default::default()).unwrap().to_string();
        let pkcs8 = write(&dir, "pkcs8.pem", &pkcs8_pem);
        let spki = write(&dir, "pub.pem", &rsa::pkcs8::EncodePublicKey::to_public_key_pem(&key.to_public_key(), Default::default()).unwrap());
        let rsa_pub = write(&dir, "rsapub.pem", &key.to_public_key().to_pkcs1_pem(Default::default()).unwrap());
        let cert = write(&dir, "cert.pem", &certificate_for(&pkcs8_pem));
        for path in [&pkcs1, &pkcs8, &spki, &rsa_pub, &cert] {
            assert_eq!(read_public_keys(path).unwrap(), vec![public.clone()], "{}", path.display());
        }
        for path in [&pkcs1, &pkcs8] {
            let private = read_private_key(path).unwrap();
            assert_eq!(private.public_key(), public);
            assert_eq!(private.public_key().algorithm(), Algorithm::RS256);
        }
        assert!(read_private_key(&cert).is_err(), "a certificate holds no private key");
    }

    #[test]
    fn ecdsa_keys_in_sec1_pkcs8_and_certificates() {
        let dir = testutil::unique_temp_dir().unwrap();
        let key = ec_key();
        let public = PublicKey::Ec(key.public_key());
        let sec1 = write(&dir, "sec1.pem", &key.to_sec1_pem(Default::default()).unwrap());
        let pkcs8_pem = key.to_pkcs8_pem(Default::default()).unwrap().to_string();
        let pkcs8 = write(&dir, "pkcs8.pem", &pkcs8_pem);
        let cert = write(&dir, "cert.pem", &certificate_for(&pkcs8_pem));
        for path in [&sec1, &pkcs8, &cert] {
            assert_eq!(read_public_keys(path).unwrap(), vec![public.clone()], "{}", path.display());
        }
        let private = read_private_key(&sec1).unwrap();
        assert_eq!(private.public_key().algorithm(), Algorithm::ES256);
        assert_eq!(private.public_key().key_id(), public.key_id());
        assert_eq!(public.key_id().len(), 43, "unpadded base64url of 32 bytes");
    }

    #[test]
    fn unreadable_files_say_why() {
        let dir = testutil::unique_temp_dir().unwrap();
        let missing = dir.join("nope.pem");
        assert!(read_public_keys(&missing).unwrap_err().to_string().contains("nope.pem"));
        let text = write(&dir, "text.pem", "hello\n");
        assert!(read_private_key(&text).is_err());
        let bad = write(&dir, "bad.pem", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        let err = read_private_key(&bad).unwrap_err().to_string();
        assert!(err.contains("invalid RSA PRIVATE KEY block"), "{err}");
    }
}
