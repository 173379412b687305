//! The HTTPS side of Portcullis: an axum app served over rustls.
//!
//! For now it serves a health check and a small landing page; the approver
//! web pages will be added here. [`run`] owns the whole listener: it loads
//! the TLS certificate and key, accepts connections until the shutdown
//! token is cancelled, then lets in-flight requests finish for a short
//! grace period.

mod error;
mod layers;
mod page;
mod routes;
mod serve;
mod tls;

use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::WebError;

/// Where the server's TLS certificate chain and private key live (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
}

/// What the handlers can see.
#[derive(Debug, Clone)]
pub struct WebState {
    /// Portcullis version, reported by `/healthz`.
    pub version: &'static str,
    /// Name of this broker installation, shown on the landing page.
    pub name: String,
}

/// Serve HTTPS on `listener` until `shutdown` is cancelled.
///
/// Fails only if the TLS files cannot be loaded; once serving, bad
/// connections are logged and dropped, never fatal.
pub async fn run(
    listener: TcpListener,
    tls: TlsFiles,
    state: WebState,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    let acceptor = tls::acceptor(&tls).await?;
    let app = routes::router(state);
    serve::serve(listener, acceptor, app, shutdown).await;
    Ok(())
}
