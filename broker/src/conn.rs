//! The per-connection task. It waits for the handler to report a completed sign-in (within
//! the pre-authentication deadline), then owns the connection's state: the account, the
//! device asked for, the one device connection shared by all channels, the brokered session
//! row, and the cancellation token that ends every channel at once (window end, revocation,
//! stop, recording failure, broker shutdown).

use crate::device::{self, DeviceError, DeviceLink};
use crate::handler::{ConnEvent, VendorHandler};
use crate::recording::CastTap;
use crate::target::Target;
use crate::{channel, tunnel, window, Broker};
use portcullis_core::audit::Event;
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::store::{DeviceRecord, GrantRecord, UserRecord};
use russh::server::Handle;
use russh::{ChannelId, Disconnect};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, Instrument, Span};

/// Most tunnels open at once on one connection (a browser through a tunnel opens several).
const MAX_TUNNELS: usize = 32;

/// A running brokered session.
#[derive(Clone)]
pub(crate) struct ActiveSession {
    pub id: SessionId,
    pub grant: GrantRecord,
}

/// State of one authenticated connection, shared by its channel tasks.
pub(crate) struct Conn {
    pub broker: Broker,
    pub user: UserRecord,
    pub target: Target,
    /// The enabled device named in the user name, if it exists.
    pub device: Option<DeviceRecord>,
    pub peer: String,
    pub handle: Handle,
    /// Cancelled when the whole session must end.
    pub cancel: CancellationToken,
    /// Connected lazily, once, after a grant covers the device.
    link: tokio::sync::Mutex<Option<Arc<DeviceLink>>>,
    /// Created with the first bridged channel or tunnel; one grant per connection.
    session: tokio::sync::Mutex<Option<ActiveSession>>,
    /// Slots for tunnels open at once on this connection.
    tunnels: Arc<Semaphore>,
    /// Open bridged channels and whether each has a terminal (for warnings). Short
    /// critical sections only, never across an `.await`.
    open: Mutex<HashMap<ChannelId, OpenChannel>>,
    /// Why the session ended, set by whoever ended it first.
    end_reason: Mutex<Option<String>>,
    next_channel: AtomicU32,
}

/// A bridged channel, as warnings need it.
struct OpenChannel {
    /// Whether it has a terminal (warnings go to stdout) or not (stderr).
    pty: bool,
    /// Its recording and live feed, for terminals and commands: warnings are kept there too.
    cast: Option<CastTap>,
}

/// Runs one vendor connection from the first byte to the last.
pub(crate) async fn serve(broker: Broker, stream: TcpStream, peer: SocketAddr, unauth: OwnedSemaphorePermit, shutdown: CancellationToken) {
    // A second handle on the socket, so the connection can be cut even when the SSH layer
    // is stuck (a client that stalls before key exchange never reads a disconnect message).
    let (stream, killer) = match split_off_killer(stream) {
        Ok(x) => x,
        Err(e) => {
            debug!(error = %e, "cannot prepare the socket");
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel(32);
    let handler = VendorHandler::new(broker.clone(), peer.to_string(), tx);
    let running = match russh::server::run_stream(broker.inner.ssh.clone(), stream, handler).await {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "SSH handshake failed");
            return;
        }
    };
    let handle = running.handle();
    let deadline = broker.ctx().config.ssh.preauth_timeout.0;
    let authed = tokio::select! {
        r = tokio::time::timeout(deadline, wait_for_auth(&mut rx)) => r.ok().flatten(),
        _ = shutdown.cancelled() => None,
    };
    let Some((user, target)) = authed else {
        let _ = handle.disconnect(Disconnect::ByApplication, "authentication not completed in time".into(), "en".into()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), running).await;
        let _ = killer.shutdown(std::net::Shutdown::Both);
        return;
    };
    drop(unauth);
    let Ok(_slot) = broker.inner.sessions.clone().try_acquire_owned() else {
        let _ = handle.disconnect(Disconnect::TooManyConnections, "the broker is at its session limit".into(), "en".into()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), running).await;
        let _ = killer.shutdown(std::net::Shutdown::Both);
        return;
    };
    let span = Span::current();
    span.record("user", target.user.as_str());
    if let Some(d) = &target.device {
        span.record("device", d.as_str());
    }
    let device = match &target.device {
        Some(name) => match broker.ctx().store.device_by_name(name).await {
            Ok(d) => d.filter(|d| !d.disabled),
            Err(e) => {
                error!(error = %e, "store unavailable");
                let _ = handle.disconnect(Disconnect::ByApplication, "service unavailable".into(), "en".into()).await;
                let _ = killer.shutdown(std::net::Shutdown::Both);
                return;
            }
        },
        None => None,
    };
    info!("authenticated");
    let conn = Arc::new(Conn {
        broker,
        user,
        target,
        device,
        peer: peer.to_string(),
        handle: handle.clone(),
        cancel: shutdown,
        link: tokio::sync::Mutex::new(None),
        session: tokio::sync::Mutex::new(None),
        tunnels: Arc::new(Semaphore::new(MAX_TUNNELS)),
        open: Mutex::new(HashMap::new()),
        end_reason: Mutex::new(None),
        next_channel: AtomicU32::new(0),
    });
    let channels = TaskTracker::new();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ConnEvent::Channel(ch)) => {
                    channels.spawn(channel::run(conn.clone(), ch).instrument(Span::current()));
                }
                Some(ConnEvent::Tunnel(req)) => {
                    channels.spawn(tunnel::run(conn.clone(), *req).instrument(Span::current()));
                }
                Some(ConnEvent::Refused { what, detail }) => conn.audit_refusal(what, detail).await,
                Some(ConnEvent::Authenticated { .. }) => {}
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
    conn.finish().await;
    let reason = conn.end_reason().unwrap_or_default();
    let _ = handle.disconnect(Disconnect::ByApplication, reason, "en".into()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
    let _ = killer.shutdown(std::net::Shutdown::Both);
}

/// Returns the stream for russh and a duplicate handle that can shut the socket down.
fn split_off_killer(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let killer = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, killer))
}

async fn wait_for_auth(rx: &mut mpsc::Receiver<ConnEvent>) -> Option<(UserRecord, Target)> {
    while let Some(ev) = rx.recv().await {
        if let ConnEvent::Authenticated { user, target } = ev {
            return Some((user, target));
        }
    }
    None
}

impl Conn {
    /// Ends the session (first reason wins) and cancels every channel.
    pub fn end(&self, reason: &str) {
        if let Ok(mut r) = self.end_reason.lock() {
            if r.is_none() {
                *r = Some(reason.to_owned());
            }
        }
        self.cancel.cancel();
    }

    /// Why the session ended, if it did.
    pub fn end_reason(&self) -> Option<String> {
        self.end_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Numbers recordings within the session.
    pub fn next_channel_number(&self) -> u32 {
        self.next_channel.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a bridged channel for warnings.
    pub fn register(&self, id: ChannelId, pty: bool, cast: Option<CastTap>) {
        if let Ok(mut m) = self.open.lock() {
            m.insert(id, OpenChannel { pty, cast });
        }
    }

    /// Forgets a bridged channel.
    pub fn unregister(&self, id: ChannelId) {
        if let Ok(mut m) = self.open.lock() {
            m.remove(&id);
        }
    }

    /// Writes a notice to every bridged channel (stdout for terminals, stderr otherwise),
    /// keeping it in terminal recordings as output and as a marker.
    pub async fn notify_all(&self, text: &str) {
        let targets: Vec<(ChannelId, bool, Option<CastTap>)> =
            self.open.lock().map(|m| m.iter().map(|(k, v)| (*k, v.pty, v.cast.clone())).collect()).unwrap_or_default();
        for (id, pty, cast) in targets {
            let msg = format!("\r\n[portcullis] {text}\r\n").into_bytes();
            if let Some(c) = &cast {
                c.notice(&msg, text).await;
            }
            let _ = if pty { self.handle.data(id, msg).await } else { self.handle.extended_data(id, 1, msg).await };
        }
    }

    /// Appends an audit row about this connection; failures are logged (the caller decides).
    pub async fn audit(&self, kind: &'static str, subject: String, mut detail: serde_json::Value) -> bool {
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("peer".into(), json!(self.peer));
            if let Some(d) = &self.target.device {
                obj.entry("device").or_insert(json!(d));
            }
        }
        match self.broker.ctx().audit.record(Event::new(self.user.username.as_str(), kind, subject, detail)).await {
            Ok(_) => true,
            Err(e) => {
                error!(error = %e, kind, "audit append failed");
                false
            }
        }
    }

    async fn audit_refusal(&self, what: &'static str, mut detail: serde_json::Value) {
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("what".into(), json!(what));
        }
        info!(what, "refused");
        self.audit("channel.refused", format!("user:{}", self.user.username), detail).await;
    }

    /// The device connection, made on first use. Host key mismatches are audited as alerts.
    pub async fn device_link(&self) -> Result<Arc<DeviceLink>, DeviceError> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_ref() {
            return Ok(l.clone());
        }
        let dev = self.device.as_ref().ok_or(DeviceError::Unknown)?;
        let cred = self.broker.ctx().vault.open_credential(dev.name.as_str(), &dev.credential).map_err(|_| DeviceError::Vault)?;
        match device::connect(dev, cred).await {
            Ok(link) => {
                let link = Arc::new(link);
                *slot = Some(link.clone());
                Ok(link)
            }
            Err(DeviceError::HostKeyMismatch { presented }) => {
                error!(device = %dev.name, %presented, "device host key does not match the pinned key");
                self.audit("device.hostkey_mismatch", format!("device:{}", dev.name), json!({
                    "expected": device::fingerprint_of_line(&dev.host_key), "presented": presented, "address": dev.address,
                }))
                .await;
                Err(DeviceError::HostKeyMismatch { presented })
            }
            Err(e) => Err(e),
        }
    }

    /// A slot for one more open tunnel, if the connection has one free.
    pub fn tunnel_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.tunnels.clone().try_acquire_owned().ok()
    }

    /// The brokered session under `grant` on `dev`, created (and its window enforced) with the
    /// first bridged channel or tunnel. A connection serves one grant: a channel under
    /// another grant (another device, or a newer grant) gets `None`.
    pub async fn session(self: &Arc<Self>, grant: &GrantRecord, dev: &DeviceRecord) -> Option<ActiveSession> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            if s.grant.id != grant.id {
                info!(session = %s.id, "a channel under another grant was refused; reconnect to use it");
                return None;
            }
            return Some(s.clone());
        }
        let ctx = self.broker.ctx();
        let id = match self.insert_session(grant, dev).await {
            Ok(id) => id,
            Err(e) => {
                error!(error = %e, "cannot record the session start; refusing");
                return None;
            }
        };
        Span::current().record("session", id.0);
        let s = ActiveSession { id, grant: grant.clone() };
        *slot = Some(s.clone());
        let me = self.clone();
        let changes = self.broker.changes();
        let warn = ctx.config.session.warn_before.iter().map(|d| d.0).collect();
        tokio::spawn(window::enforce(me, s.clone(), changes, warn).instrument(Span::current()));
        Some(s)
    }

    async fn insert_session(&self, grant: &GrantRecord, dev: &DeviceRecord) -> Result<SessionId, portcullis_core::StoreError> {
        let ctx = self.broker.ctx();
        let mut tx = ctx.store.begin_write().await?;
        let id = ctx.store.insert_session(&mut tx, grant.id, self.user.id, dev.id, &self.peer, clock::now()).await?;
        let seq = ctx
            .audit
            .record_in(&mut tx, Event::new(self.user.username.as_str(), "session.started", format!("session:{id}"), json!({
                "device": dev.name, "grant": grant.id, "request": grant.request_id, "peer": self.peer, "ends_at": grant.ends_at,
            })))
            .await?;
        tx.commit().await?;
        ctx.audit.committed(seq).await?;
        Ok(id)
    }

    async fn finish(&self) {
        if let Some(link) = self.link.lock().await.take() {
            link.disconnect().await;
        }
        let Some(s) = self.session.lock().await.take() else { return };
        let reason = self.end_reason().unwrap_or_else(|| "ended".into());
        let ctx = self.broker.ctx();
        let result: Result<(), portcullis_core::StoreError> = async {
            let mut tx = ctx.store.begin_write().await?;
            ctx.store.end_session(&mut tx, s.id, &reason, clock::now()).await?;
            let seq = ctx
                .audit
                .record_in(&mut tx, Event::new(self.user.username.as_str(), "session.ended", format!("session:{}", s.id), json!({ "reason": reason })))
                .await?;
            tx.commit().await?;
            ctx.audit.committed(seq).await
        }
        .await;
        match result {
            Ok(()) => info!(%reason, "session ended"),
            Err(e) => error!(error = %e, "cannot record the session end"),
        }
    }
}
