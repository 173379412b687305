//! The accept loop: TLS handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! Each connection runs in its own task. A client that does not finish the
//! TLS handshake in time, or sends garbage, only loses its own connection.
//! Accepting, the cap on connections and draining are the shared loop of
//! [`portcullis_core::net`]. On shutdown the listener is closed, open
//! connections are asked to finish their current requests, and whatever is
//! still running after the grace period is aborted.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use portcullis_core::net::{self, Accepted, Caps};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// Time a client gets to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client gets to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time in-flight requests get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Most connections handled at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 512;
/// Most concurrent HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 32;
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// Serve `app` on `listener` until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    proxy: Option<std::sync::Arc<net::proxy::ProxyRule>>,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "web server listening");
    }
    let caps = Caps {
        accept_backoff: ACCEPT_BACKOFF,
        grace: SHUTDOWN_GRACE,
        // A trusted proxy's header is read before the TLS handshake; its address is the peer.
        proxy,
        ..Caps::new("web", MAX_CONNECTIONS)
    };
    let conn_shutdown = shutdown.clone();
    net::serve_connections(listener, caps, shutdown, move |conn: Accepted| {
        let task = connection(conn.stream, conn.peer, acceptor.clone(), app.clone(), conn_shutdown.clone());
        async move {
            // Counts against MAX_CONNECTIONS until the connection closes.
            let _slot = conn.slot;
            task.await;
        }
    })
    .await;
    info!("web server stopped");
}

/// Handle one TCP connection from handshake to close.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
) {
    let handshake = tokio::select! {
        () = shutdown.cancelled() => return,
        result = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => result,
    };
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS);
    // Every request learns the client's address (for the audit log).
    let app = app.layer(axum::Extension(crate::auth::Peer(peer)));
    // With upgrades: the live view's websocket (HTTP/1.1 Upgrade).
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "HTTP connection ended with error");
    }
}
