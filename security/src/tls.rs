//! TLS material from PEM files (tonic's rustls, aws-lc-rs crypto: the
//! same library sqlx uses). Every file is read and checked at start-up so
//! a missing or bad file is an error naming the flag and the path, not a
//! failed handshake later.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Identity};

use crate::error::{SecurityError, read_file};

/// Makes aws-lc-rs the process's rustls provider (several crates of the
/// dependency graph enable rustls; with more than one provider compiled
/// in, rustls would refuse to pick one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A certificate chain and its private key, checked.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub(crate) identity: Identity,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// Reads and checks a PEM file of certificates (at least one).
pub fn load_certificates(flag: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    let pem = read_file(flag, path)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| {
            SecurityError::bad_file(flag, path, format!("not a valid PEM certificate: {e}"))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(SecurityError::bad_file(
            flag,
            path,
            "expected at least one PEM certificate (-----BEGIN CERTIFICATE-----), found none",
        ));
    }
    Ok(pem)
}

/// Reads a CA bundle for verifying peers.
pub fn load_ca(flag: &'static str, path: &Path) -> Result<Certificate, SecurityError> {
    load_certificates(flag, path).map(Certificate::from_pem)
}

impl TlsIdentity {
    /// `--tls-cert` and `--tls-key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, SecurityError> {
        install_crypto_provider();
        let cert_pem = load_certificates("--tls-cert", cert)?;
        let key_pem = read_file("--tls-key", key)?;
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            SecurityError::bad_file(
                "--tls-key",
                key,
                format!("expected a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        Ok(Self {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            identity: Identity::from_pem(cert_pem, key_pem),
        })
    }

    pub fn identity(&self) -> Identity {
        self.identity.clone()
    }
}
