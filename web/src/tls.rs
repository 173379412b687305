//! Loads the certificate and key and builds the rustls server config.
//!
//! Only the aws-lc-rs crypto provider is used, chosen explicitly rather
//! than through a process-wide default. The certificate is served through a
//! [`TlsCert`] resolver, so that a reload (SIGHUP) puts a new certificate in
//! force for the handshakes that follow while open connections keep theirs.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::{TlsFiles, WebError};

/// The web listener's certificate and key, swappable as a whole. Clones share it.
#[derive(Clone)]
pub struct TlsCert {
    provider: Arc<CryptoProvider>,
    /// The pair in force: a certificate chain checked to match its key. A std lock, held only
    /// to clone or swap the `Arc` (never across an `.await`).
    current: Arc<RwLock<Arc<CertifiedKey>>>,
}

impl fmt::Debug for TlsCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCert").field("sha256", &self.sha256()).finish()
    }
}

impl TlsCert {
    /// Loads `files`: the chain must parse, hold a certificate and match the key.
    pub async fn load(files: &TlsFiles) -> Result<TlsCert, WebError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = certified(files, &provider).await?;
        Ok(TlsCert { provider, current: Arc::new(RwLock::new(Arc::new(key))) })
    }

    /// Loads `files` again and, only if they load as a whole, puts them in force for the
    /// handshakes that follow; on error the certificate in force stays. Returns the new
    /// leaf's SHA-256 (hex).
    pub async fn reload(&self, files: &TlsFiles) -> Result<String, WebError> {
        let pair = self.check(files).await?;
        let sha = pair.sha256();
        self.put(pair);
        Ok(sha)
    }

    /// Loads `files` as [`TlsCert::reload`] would, without putting them in force (so that a
    /// reload can check everything it changes before it changes anything).
    pub async fn check(&self, files: &TlsFiles) -> Result<TlsPair, WebError> {
        Ok(TlsPair(Arc::new(certified(files, &self.provider).await?)))
    }

    /// Puts a pair from [`TlsCert::check`] in force.
    pub fn put(&self, pair: TlsPair) {
        let key = pair.0;
        match self.current.write() {
            Ok(mut cur) => *cur = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }

    /// The SHA-256 of the leaf certificate in force, lowercase hex.
    pub fn sha256(&self) -> String {
        leaf_sha256(&self.get())
    }

    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(cur) => cur.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A TLS acceptor serving the pair in force, offering HTTP/2 and HTTP/1.1 via ALPN.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, WebError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// A certificate chain checked to match its key, not yet in force.
#[derive(Clone)]
pub struct TlsPair(Arc<CertifiedKey>);

impl TlsPair {
    /// The SHA-256 of the leaf certificate, lowercase hex.
    pub fn sha256(&self) -> String {
        leaf_sha256(&self.0)
    }
}

/// The SHA-256 of a pair's leaf certificate, lowercase hex.
fn leaf_sha256(key: &CertifiedKey) -> String {
    key.cert.first().map(|c| hex::encode(Sha256::digest(c.as_ref()))).unwrap_or_default()
}

/// rustls asks this for the certificate of every new handshake.
#[derive(Debug)]
struct Resolver(TlsCert);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.get())
    }
}

/// Reads and checks a certificate chain and its key.
async fn certified(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, WebError> {
    let certs = load_certs(&files.cert_pem).await?;
    let key = load_key(&files.key_pem).await?;
    let pair = CertifiedKey::from_der(certs, key, provider)?;
    // from_der lets a key whose public half it cannot see pass; the leaf must still parse.
    pair.end_entity_cert()?;
    Ok(pair)
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
