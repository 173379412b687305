//! The listener: accepts vendor connections through the shared accept loop
//! ([`portcullis_core::net`]), refuses at once when the cap on unauthenticated connections is
//! reached (each connection holds one of those slots until it authenticates), and runs each
//! connection on the loop's task tracker so that shutdown can wait for sessions to close and
//! recordings to be sealed.

use crate::conn;
use crate::shared::{Broker, BrokerError};
use portcullis_core::net::{self, Accepted, Caps, Overdue};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for sessions to close and recordings to be sealed.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Serves vendors on `listener` until `shutdown` is cancelled, then drains.
pub async fn run(listener: TcpListener, broker: Broker, shutdown: CancellationToken) -> Result<(), BrokerError> {
    // Draining before a restart (SIGTERM) closes the listener at once; the connections go on
    // until `shutdown`, which comes at most `node.drain_timeout` later.
    let drain = broker.ctx().drain.clone();
    let accepting = CancellationToken::new();
    let stop_accepting = tokio::spawn({
        let (accepting, shutdown, drain) = (accepting.clone(), shutdown.clone(), drain.clone());
        async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = drain.started() => tracing::info!("draining: the SSH listener no longer accepts"),
            }
            accepting.cancel();
        }
    });
    let caps = Caps {
        accept_backoff: Duration::from_millis(100),
        grace: DRAIN_GRACE + broker.ctx().config.node.drain_timeout.0,
        // Sessions still running after the grace are left to finish on their own.
        overdue: Overdue::Detach,
        span: conn_span,
        // Each connection, with every task it starts (bridges, recordings, the device's own
        // connection), runs on one single-threaded runtime: see portcullis_core::shards.
        shards: Some(broker.ctx().shards.clone()),
        // Behind HAProxy: the vendor's address from a trusted proxy's PROXY v2 header is the
        // peer of the limits, the lockouts, the audit rows and the logs.
        proxy: broker.ctx().config.proxy.rule(),
        ..Caps::shared("ssh", broker.inner.unauthenticated.clone())
    };
    // Window enforcement of every connection, read once per change; it outlives the drain, so
    // sessions still closing are still enforced.
    let fanout_stop = CancellationToken::new();
    let fanout = tokio::spawn(broker.inner.fanout.clone().run(broker.changes(), fanout_stop.clone()));
    let conn_shutdown = shutdown.clone();
    net::serve_connections(listener, caps, accepting, move |Accepted { stream, peer, slot }| {
        let broker = broker.clone();
        let shutdown = conn_shutdown.child_token();
        async move {
            // The drain waits for this connection until it ends.
            let _held = broker.ctx().drain.hold();
            // Per-source limits, early drop and penalties (`startups`): a refused connection
            // is closed before the greeting, and leaves no audit row.
            let startup = match broker.inner.startups.admit(peer.ip()) {
                Ok(s) => s,
                Err(why) => {
                    tracing::debug!(?why, "connection refused before sign-in");
                    return;
                }
            };
            // Accepted on the main runtime; read and written on the connection's shard.
            let stream = match net::adopt(stream) {
                Ok(s) => s,
                Err(e) => {
                    // Dropped unfinished, the start-up counts as failed.
                    tracing::debug!(error = %e, "cannot move the connection to its runtime");
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            conn::serve(broker, stream, peer, slot, startup, shutdown).await
        }
    })
    .await;
    // Every connection ended during a drain: the node still serves its web page until the
    // drain is over.
    shutdown.cancelled().await;
    let _ = stop_accepting.await;
    fanout_stop.cancel();
    let _ = fanout.await;
    Ok(())
}

/// One span per vendor connection; the session fills in who and what once it knows.
fn conn_span(peer: SocketAddr) -> tracing::Span {
    tracing::info_span!("conn", %peer, user = tracing::field::Empty, device = tracing::field::Empty, session = tracing::field::Empty)
}
