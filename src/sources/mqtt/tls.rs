//! TLS for the broker connection: rustls with the ring provider, a CA file
//! and an optional client certificate, all PEM (parsed by rustls-pki-types'
//! `PemObject`; rustls-pemfile is unmaintained, RUSTSEC-2025-0134).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

use super::config::TlsConfig;

/// The most a PEM file may hold (a CA bundle is a few hundred KiB).
const PEM_FILE_CAP: u64 = 4 << 20;

fn read(base: &Path, p: &Path) -> Result<Vec<u8>, String> {
    let full = if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    };
    crate::config::read_small_file(&full, PEM_FILE_CAP)
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// Builds the rustls client config; an error names the key (`ca_file`, ...)
/// and the problem.
pub fn client_config(
    t: &TlsConfig,
    base: &Path,
) -> Result<rustls::ClientConfig, (&'static str, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_file = t
        .ca_file
        .as_ref()
        .ok_or(("ca_file", "must be set when tls is configured".to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    let pem = read(base, ca_file).map_err(|e| ("ca_file", e))?;
    for c in certs(&pem, "ca_file").map_err(|e| ("ca_file", e))? {
        roots
            .add(c)
            .map_err(|e| ("ca_file", format!("unusable CA certificate: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ("ca_file", e.to_string()))?
    .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(c), Some(k)) => {
            let chain = read(base, c)
                .and_then(|pem| certs(&pem, "client_cert_file"))
                .map_err(|e| ("client_cert_file", e))?;
            let kpem = read(base, k).map_err(|e| ("client_key_file", e))?;
            let key = PrivateKeyDer::from_pem_slice(&kpem).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    ("client_key_file", "no PRIVATE KEY in the file".to_string())
                }
                e => ("client_key_file", format!("invalid PEM: {e}")),
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                (
                    "client_key_file",
                    format!("key does not fit the certificate: {e}"),
                )
            })
        }
        (Some(_), None) => Err((
            "client_key_file",
            "must be set with client_cert_file".into(),
        )),
        (None, Some(_)) => Err((
            "client_cert_file",
            "must be set with client_key_file".into(),
        )),
    }
}
