//! The per-connection task. It waits for the handler to report a completed sign-in (within
//! the pre-authentication deadline), builds the connection's state ([`crate::state`]), then
//! hands each session channel and tunnel to its own task, runs the window watch, and when
//! the connection ends (vendor gone, window end, revocation, stop, recording failure, broker
//! shutdown) cancels every channel, closes the device connection and records the end.

use crate::device::LinkSlot;
use crate::events::ConnEvent;
use crate::fanout::Fanout;
use crate::handler::{VendorHandler, UNAVAILABLE};
use crate::shared::Broker;
use crate::startups::{Outcome, Startup};
use crate::state::{Conn, Entry, Vendor};
use crate::target::Target;
use crate::{channel, session, tunnel, window};
use portcullis_core::audit::{Kind, Subject};
use portcullis_core::store::UserRecord;
use russh::Disconnect;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, Instrument, Span};

/// Why a sign-in that did not finish is hung up on.
const NOT_IN_TIME: &str = "authentication not completed in time";

/// Runs one vendor connection from the first byte to the last. Its one-off steps (the
/// handshake, store reads and writes) are boxed, so that what an idle connection's task holds
/// is the waiting loop alone, not the largest of those steps. The sign-in deadline counts
/// from the accept (like OpenSSH's `LoginGraceTime`): a client that never sends its version
/// line, or stalls in key exchange, is cut at the deadline like one that never signs in.
pub(crate) async fn serve(broker: Broker, stream: TcpStream, peer: SocketAddr, unauth: OwnedSemaphorePermit, startup: Startup, shutdown: CancellationToken) {
    let deadline = tokio::time::Instant::now() + broker.ctx().config.ssh.preauth_timeout.0;
    let entry = entry_of(&broker.ctx().config.ssh, stream.local_addr().ok());
    // The connection can be cut even when the SSH layer is stuck (a client that stalls
    // before key exchange never reads a disconnect message), without a second file.
    let (stream, killer) = crate::cutoff::cuttable(crate::socket::buffered(stream));
    let (tx, mut rx) = mpsc::channel(32);
    let handler = VendorHandler::new(broker.clone(), peer.to_string(), tx);
    let started = tokio::select! {
        r = tokio::time::timeout_at(deadline, Box::pin(russh::server::run_stream(broker.inner.ssh.clone(), stream, handler))) => r,
        _ = shutdown.cancelled() => {
            startup.finish(Outcome::Interrupted);
            killer.cut();
            return;
        }
    };
    let running = match started {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(error = %e, "SSH handshake failed");
            startup.finish(Outcome::Failed);
            killer.cut();
            return;
        }
        Err(_) => {
            debug!("no SSH handshake before the sign-in deadline");
            startup.finish(Outcome::GraceExceeded);
            killer.cut();
            return;
        }
    };
    let handle = running.handle();
    let authed = tokio::select! {
        r = tokio::time::timeout_at(deadline, wait_for_auth(&mut rx)) => match r {
            Ok(Some(Ok(signed_in))) => Ok(signed_in),
            // Not the vendor's doing: no penalty for the source.
            Ok(Some(Err(StoreUnavailable))) => Err((Outcome::Interrupted, UNAVAILABLE)),
            Ok(None) => Err((Outcome::Failed, NOT_IN_TIME)),
            Err(_) => Err((Outcome::GraceExceeded, NOT_IN_TIME)),
        },
        _ = shutdown.cancelled() => Err((Outcome::Interrupted, NOT_IN_TIME)),
    };
    let (user, target) = match authed {
        Ok(x) => x,
        Err((outcome, why)) => {
            startup.finish(outcome);
            let _ = handle.disconnect(Disconnect::ByApplication, why.into(), "en".into()).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), running).await;
            killer.cut();
            return;
        }
    };
    startup.finish(Outcome::SignedIn);
    drop(unauth);
    let Ok(_slot) = broker.inner.sessions.clone().try_acquire_owned() else {
        let _ = handle.disconnect(Disconnect::TooManyConnections, "the broker is at its session limit".into(), "en".into()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), running).await;
        killer.cut();
        return;
    };
    let span = Span::current();
    span.record("user", target.user.as_str());
    if let Some(d) = &target.device {
        span.record("device", d.as_str());
    }
    let device = match &target.device {
        Some(name) => match Box::pin(broker.ctx().store.device_by_name(name)).await {
            Ok(d) => d.filter(|d| !d.disabled),
            Err(e) => {
                error!(error = %e, "store unavailable");
                let _ = handle.disconnect(Disconnect::ByApplication, UNAVAILABLE.into(), "en".into()).await;
                killer.cut();
                return;
            }
        },
        None => None,
    };
    info!("authenticated");
    let vendor = Vendor { user, device_name: target.device, device, peer: peer.to_string(), entry };
    let conn = Arc::new(Conn::new(broker.ctx().clone(), broker.changes(), vendor, handle.clone(), shutdown));
    run_session(&conn, broker.inner.fanout.clone(), &mut rx).await;
    let reason = conn.end_reason().unwrap_or_default();
    let _ = handle.disconnect(Disconnect::ByApplication, reason, "en".into()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
    killer.cut();
}

/// Where this vendor reached the broker: the configured public host and port, each falling
/// back to the address the connection was accepted on.
fn entry_of(ssh: &portcullis_core::config::SshConfig, local: Option<SocketAddr>) -> Entry {
    let host = match (&ssh.public_host, local) {
        (h, _) if !h.is_empty() => h.clone(),
        (_, Some(a)) => a.ip().to_canonical().to_string(),
        (_, None) => "BROKER".into(),
    };
    let port = match (ssh.public_port, local) {
        (0, Some(a)) => a.port(),
        (0, None) => 22,
        (p, _) => p,
    };
    Entry { host, port }
}

/// Runs an authenticated connection's channels and tunnels, and its window watch, until the
/// session ends; then waits for every channel, closes the device connection and records the
/// end.
async fn run_session(conn: &Arc<Conn>, fanout: Fanout, rx: &mut mpsc::Receiver<ConnEvent>) {
    let link = Arc::new(LinkSlot::default());
    let warn = conn.ctx.config.session.warn_before.iter().map(|d| d.0).collect();
    // Not on the tracker: the watch ends with the session, and closing must not wait on a
    // warning stuck behind a vendor who stopped reading.
    tokio::spawn(window::watch(conn.clone(), fanout, warn).instrument(Span::current()));
    let channels = TaskTracker::new();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ConnEvent::Channel(ch)) => {
                    channels.spawn(channel::run(conn.clone(), link.clone(), ch).instrument(Span::current()));
                }
                Some(ConnEvent::Tunnel(req)) => {
                    channels.spawn(tunnel::run(conn.clone(), *req).instrument(Span::current()));
                }
                Some(ConnEvent::Refused { what, detail }) => Box::pin(conn.refused(what, detail)).await,
                Some(ConnEvent::Authenticated { .. } | ConnEvent::Unavailable) => {}
                None => {
                    conn.end("vendor disconnected");
                    break;
                }
            },
            _ = conn.cancel.cancelled() => {
                conn.end("broker shutting down");
                break;
            }
        }
    }
    conn.cancel.cancel();
    channels.close();
    channels.wait().await;
    // After the channels: tunnel requests refused until the end are counted too.
    if let Some(summary) = conn.refusal_summary() {
        Box::pin(conn.audit(Kind::ChannelRefused, Subject::user(&conn.user.username), summary)).await;
    }
    if let Some(l) = link.take().await {
        Box::pin(l.disconnect()).await;
    }
    Box::pin(session::finish(conn)).await;
}

/// The store could not check a sign-in, as the handler reported.
struct StoreUnavailable;

/// Waits for the handler to report how the sign-in ended; `None` if the connection ends first.
async fn wait_for_auth(rx: &mut mpsc::Receiver<ConnEvent>) -> Option<Result<(UserRecord, Target), StoreUnavailable>> {
    while let Some(ev) = rx.recv().await {
        match ev {
            ConnEvent::Authenticated { user, target } => return Some(Ok((*user, target))),
            ConnEvent::Unavailable => return Some(Err(StoreUnavailable)),
            _ => {}
        }
    }
    None
}

