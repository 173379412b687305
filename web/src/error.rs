//! Errors of the web crate.

use std::path::PathBuf;

/// Why the HTTPS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A PEM file could not be parsed.
    #[error("cannot parse {path}: {source}")]
    Pem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    /// rustls refused the certificate or key (e.g. they do not match).
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
}
