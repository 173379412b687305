//! The listener: accepts vendor connections, refuses at once when the cap on
//! unauthenticated connections is reached, and runs each connection on a task tracker so that
//! shutdown can wait for sessions to close and recordings to be sealed.

use crate::conn;
use crate::shared::{Broker, BrokerError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

/// How long shutdown waits for sessions to close and recordings to be sealed.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Serves vendors on `listener` until `shutdown` is cancelled, then drains.
pub async fn run(listener: TcpListener, broker: Broker, shutdown: CancellationToken) -> Result<(), BrokerError> {
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = broker.inner.unauthenticated.clone().try_acquire_owned() else {
            warn!(%peer, "too many unauthenticated connections; refusing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::info_span!("conn", %peer, user = tracing::field::Empty, device = tracing::field::Empty, session = tracing::field::Empty);
        tracker.spawn(conn::serve(broker.clone(), stream, peer, permit, shutdown.child_token()).instrument(span));
    }
    tracker.close();
    info!(connections = tracker.len(), "listener closed; draining sessions");
    if tokio::time::timeout(DRAIN_GRACE, tracker.wait()).await.is_err() {
        warn!("sessions did not drain in time");
    }
    Ok(())
}
