//! The one accept loop of every Portcullis listener (the vendors' SSH broker, the approvers'
//! HTTPS page, the demo's simulated device). [`serve_connections`] accepts until the shutdown
//! token is cancelled, gives each connection a slot under a cap before spawning anything
//! (a connection over the cap is closed at once), runs it in its own span, backs off when
//! `accept` itself fails (out of file descriptors must not spin), and at shutdown closes the
//! listener and drains the connections within a grace period.
//!
//! The caller decides what a connection is: the loop only hands it the stream, the peer and
//! the slot. Dropping the slot lets another connection in, so a service may keep it for the
//! connection's whole life (the web page) or only for part of it (the broker counts only
//! connections that have not authenticated yet).
//!
//! With [`Caps::proxy`], a connection from a trusted proxy first has its PROXY v2 header read
//! on a task of its own (holding its slot, so a slow header counts against the cap and never
//! stalls the loop); the address in the header is the peer the caller, the span and the logs
//! see. A connection from a trusted proxy with no valid header is closed. See [`proxy`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub mod proxy;

use tokio::net::{TcpListener, TcpStream};
use crate::shards::Shards;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument as _, Span};

/// Pause after a failed `accept` unless [`Caps::accept_backoff`] says otherwise.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// Drain grace unless [`Caps::grace`] says otherwise.
pub const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// What happens to connections still running when the drain grace is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    /// They are dropped (cancelled at their next await) before the loop returns.
    Abort,
    /// They are left to finish on their own; the loop returns without them.
    Detach,
}

/// The limits of one accept loop. [`Caps::new`] gives the defaults; override fields with
/// struct update syntax.
#[derive(Debug, Clone)]
pub struct Caps {
    /// Names the service in log lines (`web`, `ssh`, ...).
    pub service: &'static str,
    /// Connections served at once: each accepted connection takes one permit before its task
    /// is spawned and holds it until it drops its [`Accepted::slot`]. When none is left, a new
    /// connection is closed at once.
    pub slots: Arc<Semaphore>,
    /// Pause after a failed `accept` (cut short by shutdown).
    pub accept_backoff: Duration,
    /// How long connections get to finish after shutdown.
    pub grace: Duration,
    /// What happens to connections still running after `grace`.
    pub overdue: Overdue,
    /// Makes the span a connection runs in; it is given the peer's address.
    pub span: fn(SocketAddr) -> Span,
    /// Where connections run: dealt to these single-threaded runtimes in turn (and then
    /// the stream must be moved onto its shard's reactor, [`adopt`]), or on the runtime of
    /// the accept loop when `None`.
    pub shards: Option<Shards>,
    /// Trusted proxies whose connections begin with a PROXY v2 header; none: no header is
    /// ever read.
    pub proxy: Option<Arc<proxy::ProxyRule>>,
}

impl Caps {
    /// At most `max_connections` at once, default backoff and grace, overdue connections
    /// aborted, each connection in a [`conn_span`].
    pub fn new(service: &'static str, max_connections: usize) -> Caps {
        Caps::shared(service, Arc::new(Semaphore::new(max_connections)))
    }

    /// Like [`Caps::new`], with slots the caller owns too (to size or watch them).
    pub fn shared(service: &'static str, slots: Arc<Semaphore>) -> Caps {
        Caps {
            service,
            slots,
            accept_backoff: ACCEPT_BACKOFF,
            grace: DRAIN_GRACE,
            overdue: Overdue::Abort,
            span: conn_span,
            shards: None,
            proxy: None,
        }
    }
}

/// The default span of a connection: `conn` with the peer's address.
pub fn conn_span(peer: SocketAddr) -> Span {
    tracing::info_span!("conn", %peer)
}

/// One accepted connection, handed to the code that serves it.
#[derive(Debug)]
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// The connection's place under [`Caps::slots`]; dropping it lets another one in.
    pub slot: OwnedSemaphorePermit,
}

/// Accepts on `listener` until `shutdown` is cancelled, serving each connection on its own
/// task with the future `on_conn` makes for it, then closes the listener and drains (see
/// [`Caps::grace`] and [`Overdue`]). Once `shutdown` is cancelled no further connection is
/// handed out, even one already waiting.
pub async fn serve_connections<F, Fut>(listener: TcpListener, caps: Caps, shutdown: CancellationToken, mut on_conn: F)
where
    F: FnMut(Accepted) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let service = caps.service;
    let tracker = TaskTracker::new();
    // Cancelled only when overdue connections are to be dropped.
    let abort = CancellationToken::new();
    // Connections from a trusted proxy come back here once their header is read.
    let (headed_tx, mut headed) = tokio::sync::mpsc::unbounded_channel::<(TcpStream, SocketAddr, OwnedSemaphorePermit)>();
    loop {
        let (stream, peer, slot) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(ready) = headed.recv() => ready,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = caps.slots.clone().try_acquire_owned() else {
                        debug!(service, %peer, "at the connection cap; refusing");
                        drop(stream);
                        continue;
                    };
                    match caps.proxy.as_ref() {
                        Some(rule) if rule.trusts(peer.ip()) => {
                            let task = read_proxy_header(rule.clone(), stream, peer, slot, headed_tx.clone(), service);
                            let abort = abort.clone();
                            drop(tokio::spawn(tracker.track_future(async move {
                                tokio::select! {
                                    () = task => {}
                                    () = abort.cancelled() => {}
                                }
                            })));
                            continue;
                        }
                        _ => (stream, peer, slot),
                    }
                }
                Err(e) => {
                    warn!(service, error = %e, "accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(caps.accept_backoff) => continue,
                    }
                }
            },
        };
        let span = (caps.span)(peer);
        let task = span.in_scope(|| on_conn(Accepted { stream, peer, slot }));
        let abort = abort.clone();
        let task = async move {
            tokio::select! {
                () = task => {}
                () = abort.cancelled() => {}
            }
        };
        let task = tracker.track_future(task.instrument(span));
        match caps.shards.as_ref().and_then(Shards::pick) {
            Some(shard) => drop(shard.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
    drop(headed);
    drop(listener);
    drain(&tracker, &abort, &caps).await;
}

/// Reads the PROXY v2 header of a connection from a trusted proxy and hands it back to the
/// loop with the client's address, or closes it (logged, and counted in the rule).
async fn read_proxy_header(
    rule: Arc<proxy::ProxyRule>,
    mut stream: TcpStream,
    proxy_peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    back: tokio::sync::mpsc::UnboundedSender<(TcpStream, SocketAddr, OwnedSemaphorePermit)>,
    service: &'static str,
) {
    match rule.resolve(&mut stream, proxy_peer).await {
        Ok(peer) => {
            debug!(service, proxy = %proxy_peer, %peer, "PROXY header read");
            // The loop has stopped when the receiver is gone: the connection is dropped.
            let _ = back.send((stream, peer, slot));
        }
        Err(why) => warn!(service, proxy = %proxy_peer, refused = rule.refused(), error = %why, "connection from a trusted proxy closed: no valid PROXY v2 header"),
    }
}

/// `stream`, accepted on another runtime, moved onto the reactor of the runtime this runs on
/// (a connection's shard), so that its readiness wakes no other thread.
pub fn adopt(stream: TcpStream) -> std::io::Result<TcpStream> {
    TcpStream::from_std(stream.into_std()?)
}

/// Waits for the connections on `tracker` within the grace, then applies [`Caps::overdue`].
async fn drain(tracker: &TaskTracker, abort: &CancellationToken, caps: &Caps) {
    let service = caps.service;
    tracker.close();
    info!(service, connections = tracker.len(), "listener closed; draining connections");
    if tokio::time::timeout(caps.grace, tracker.wait()).await.is_ok() {
        return;
    }
    match caps.overdue {
        Overdue::Detach => warn!(service, left = tracker.len(), "connections did not finish in time; left running"),
        Overdue::Abort => {
            warn!(service, left = tracker.len(), "connections did not finish in time; aborted");
            abort.cancel();
            tracker.wait().await;
        }
    }
}

#[cfg(test)]
mod tests;
