//! Loads the certificate and key and builds the rustls server config.
//!
//! Only the aws-lc-rs crypto provider is used, chosen explicitly rather
//! than through a process-wide default.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::{TlsFiles, WebError};

/// A TLS acceptor for `files`, offering HTTP/2 and HTTP/1.1 via ALPN.
pub(crate) async fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, WebError> {
    let certs = load_certs(&files.cert_pem).await?;
    let key = load_key(&files.key_pem).await?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn read(path: &Path) -> Result<Vec<u8>, WebError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| WebError::Read {
            path: path.to_owned(),
            source,
        })
}

fn pem_error(path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> WebError + '_ {
    move |source| WebError::Pem {
        path: path.to_owned(),
        source,
    }
}

async fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, WebError> {
    let pem = read(path).await?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(WebError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

async fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, WebError> {
    let pem = read(path).await?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(pem_error(path))
}
