//! The HTTPS side of Portcullis: the approvers' pages and the JSON API they run on, an axum
//! app served over rustls.
//!
//! [`run`] owns the whole listener: it loads the TLS certificate and key, accepts
//! connections until the shutdown token is cancelled, then lets in-flight requests finish for
//! a short grace period. Every decision is made by the core services in
//! [`portcullis_core`]; this crate only authenticates, translates and renders.

pub mod api;
pub mod api_error;
pub mod auth;
mod error;
mod health;
mod ready;
mod layers;
pub mod pages;
mod routes;
mod serve;
pub mod sso;
pub mod state;
mod tls;
mod trace;

use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::WebError;
pub use routes::router;
pub use state::AppState;
pub use tls::{TlsCert, TlsPair};

/// Where the server's TLS certificate chain and private key live (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
}

/// Serve HTTPS on `listener` until `shutdown` is cancelled, with the certificate `tls` holds
/// (loaded with [`TlsCert::load`]; [`TlsCert::reload`] changes it for new handshakes).
///
/// Once serving, bad connections are logged and dropped, never fatal.
pub async fn run(listener: TcpListener, tls: TlsCert, state: AppState, shutdown: CancellationToken) -> Result<(), WebError> {
    let acceptor = tls.acceptor()?;
    let proxy = state.ctx.config.proxy.rule();
    let app = routes::router(state);
    serve::serve(listener, acceptor, app, proxy, shutdown).await;
    Ok(())
}
