//! TLS for a broker connection: rustls with the ring provider, a CA file
//! and an optional client certificate, all PEM (parsed by rustls-pki-types'
//! `PemObject`; rustls-pemfile is unmaintained, RUSTSEC-2025-0134).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{join, rebase_paths, Check, Rebase, Validate};

/// The most a PEM file may hold (a CA bundle is a few hundred KiB).
const PEM_FILE_CAP: u64 = 4 << 20;

/// `tls = { ca_file = "...", client_cert_file = "...", client_key_file = "..." }`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM file of the CA(s) that signed the broker's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for brokers that require them.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// The TLS key a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsKey {
    CaFile,
    ClientCertFile,
    ClientKeyFile,
}

impl TlsKey {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsKey::CaFile => "ca_file",
            TlsKey::ClientCertFile => "client_cert_file",
            TlsKey::ClientKeyFile => "client_key_file",
        }
    }
}

impl std::fmt::Display for TlsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a TLS key's file.
#[derive(Debug, thiserror::Error)]
pub enum TlsProblem {
    #[error("must be set when tls is configured")]
    NoCaFile,
    #[error("must be set with {0}")]
    MissingPair(TlsKey),
    /// The message names the file and why (see `config::read_small_file`).
    #[error("{0}")]
    Unreadable(String),
    #[error("{0}: invalid PEM: {1}")]
    InvalidCertPem(TlsKey, rustls::pki_types::pem::Error),
    #[error("{0}: no CERTIFICATE in the file")]
    NoCertificate(TlsKey),
    #[error("unusable CA certificate: {0}")]
    UnusableCa(rustls::Error),
    #[error("{0}")]
    Provider(rustls::Error),
    #[error("no PRIVATE KEY in the file")]
    NoPrivateKey,
    #[error("invalid PEM: {0}")]
    InvalidKeyPem(rustls::pki_types::pem::Error),
    #[error("key does not fit the certificate: {0}")]
    KeyMismatch(rustls::Error),
}

/// A TLS problem at its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct TlsError {
    pub key: TlsKey,
    pub problem: TlsProblem,
}

fn at(key: TlsKey) -> impl Fn(TlsProblem) -> TlsError {
    move |problem| TlsError { key, problem }
}

fn read(p: &Path) -> Result<Vec<u8>, TlsProblem> {
    crate::config::read_small_file(p, PEM_FILE_CAP).map_err(TlsProblem::Unreadable)
}

impl Rebase for TlsConfig {
    fn rebase(&mut self, base: &Path) {
        rebase_paths(
            [
                &mut self.ca_file,
                &mut self.client_cert_file,
                &mut self.client_key_file,
            ],
            base,
        );
    }
}

fn certs(pem: &[u8], what: TlsKey) -> Result<Vec<CertificateDer<'static>>, TlsProblem> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsProblem::InvalidCertPem(what, e))?;
    if certs.is_empty() {
        return Err(TlsProblem::NoCertificate(what));
    }
    Ok(certs)
}

/// Builds the rustls client config; an error names the key (`ca_file`, ...)
/// and the problem.
pub fn client_config(t: &TlsConfig) -> Result<rustls::ClientConfig, TlsError> {
    use TlsKey::*;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_file = t
        .ca_file
        .as_ref()
        .ok_or(TlsProblem::NoCaFile)
        .map_err(at(CaFile))?;
    let mut roots = rustls::RootCertStore::empty();
    let pem = read(ca_file).map_err(at(CaFile))?;
    for c in certs(&pem, CaFile).map_err(at(CaFile))? {
        roots
            .add(c)
            .map_err(|e| at(CaFile)(TlsProblem::UnusableCa(e)))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| at(CaFile)(TlsProblem::Provider(e)))?
    .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(c), Some(k)) => {
            let chain = read(c)
                .and_then(|pem| certs(&pem, ClientCertFile))
                .map_err(at(ClientCertFile))?;
            let kpem = read(k).map_err(at(ClientKeyFile))?;
            let key = PrivateKeyDer::from_pem_slice(&kpem)
                .map_err(|e| match e {
                    rustls::pki_types::pem::Error::NoItemsFound => TlsProblem::NoPrivateKey,
                    e => TlsProblem::InvalidKeyPem(e),
                })
                .map_err(at(ClientKeyFile))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| at(ClientKeyFile)(TlsProblem::KeyMismatch(e)))
        }
        (Some(_), None) => Err(at(ClientKeyFile)(TlsProblem::MissingPair(ClientCertFile))),
        (None, Some(_)) => Err(at(ClientCertFile)(TlsProblem::MissingPair(ClientKeyFile))),
    }
}

/// Reads and parses the PEM files now, so `greengate check` reports a typo;
/// problems name `<path>.ca_file` etc.
impl Validate for TlsConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let mut t = self.clone();
        t.rebase(cx.base_dir());
        if let Err(e) = client_config(&t) {
            cx.problem(join(path, e.key.as_str()), e.problem.to_string());
        }
    }
}
