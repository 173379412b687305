//! The state of one authenticated connection, shared by its channel and tunnel tasks and its
//! window watch: who connected and from where, the brokered session (one grant per
//! connection), the open bridged channels (for warnings), why the session ended, the tunnel
//! slots, the numbering of recordings and what the connection was refused ([`refusals`]). A
//! leaf: it uses no other module of this crate and spawns nothing; the modules that act on a
//! connection sit above it.
//!
//! Fail closed: a row about what the connection does (a tunnel, a file, a refusal) that cannot
//! be written ends the whole session ([`Conn::audit_or_end`]); nothing goes on unaudited.

mod alerting;
mod refusals;
mod tap;

pub(crate) use refusals::{Refusals, Verdict};
pub(crate) use tap::CastTap;

use portcullis_core::audit::{Event, Kind, Subject};
use portcullis_core::domain::{DeviceName, SessionId};
use portcullis_core::feed::ChangeRx;
use portcullis_core::store::{DeviceRecord, GrantRecord, UserRecord};
use portcullis_core::Context;
use russh::server::Handle;
use russh::ChannelId;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

/// Why a session ends when a row about it cannot be written.
pub(crate) const AUDIT_LOST: &str = "the audit log cannot be written";

/// Most tunnels open at once on one connection (a browser through a tunnel opens several).
const MAX_TUNNELS: usize = 32;

/// A running brokered session.
#[derive(Clone)]
pub(crate) struct ActiveSession {
    pub id: SessionId,
    pub grant: GrantRecord,
}

/// Where vendors reach the broker (`ssh.public_host`/`public_port`, or else the address and
/// port this vendor connected to): what the commands the broker suggests name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub host: String,
    pub port: u16,
}

/// Who connected, as the connection task learnt it after the sign-in.
pub(crate) struct Vendor {
    pub user: UserRecord,
    /// The device named in the SSH user name (`VENDOR:DEVICE`); `None` for the lobby.
    pub device_name: Option<DeviceName>,
    /// That device, if it exists and is enabled.
    pub device: Option<DeviceRecord>,
    /// The vendor's address, as `IP:PORT`.
    pub peer: String,
    /// Where the vendor reached the broker.
    pub entry: Entry,
}

/// State of one authenticated connection, shared by its channel tasks.
pub(crate) struct Conn {
    /// Services over the shared store.
    pub ctx: Context,
    /// The broker's change feed; clone it to wait (each clone starts where this one is).
    pub changes: ChangeRx,
    pub user: UserRecord,
    /// The device named in the SSH user name; `None` means the lobby.
    pub device_name: Option<DeviceName>,
    /// The enabled device named in the user name, if it exists.
    pub device: Option<DeviceRecord>,
    pub peer: String,
    /// Where vendors reach the broker, for suggested commands.
    pub entry: Entry,
    pub handle: Handle,
    /// Cancelled when the whole session must end.
    pub cancel: CancellationToken,
    /// Created with the first bridged channel or tunnel; one grant per connection. Held
    /// across the store write that records the start, so two channels start one session.
    session: tokio::sync::Mutex<Option<ActiveSession>>,
    /// The session once it started, for the window watch to wait on.
    started: watch::Sender<Option<ActiveSession>>,
    /// Slots for tunnels open at once on this connection.
    tunnels: Arc<Semaphore>,
    /// Open bridged channels and whether each has a terminal (for warnings). Short
    /// critical sections only, never across an `.await`.
    open: Mutex<HashMap<ChannelId, OpenChannel>>,
    /// Why the session ended, set by whoever ended it first. Std mutex: set and read
    /// without an `.await` inside.
    end_reason: Mutex<Option<String>>,
    /// The number of the last recording started in the session.
    next_channel: AtomicU32,
    /// What this connection was refused, from the handler and from tunnel requests alike.
    refusals: Mutex<Refusals>,
    /// Bytes moved by the session, both ways, every channel and tunnel (rule `bytes_per_session`).
    bytes: AtomicU64,
    /// A moderated session's vendor input is dropped, not forwarded: no moderator watches or
    /// one paused it (the moderation follower sets it, the bridge reads it).
    pub input_paused: AtomicBool,
}

/// A bridged channel, as warnings need it.
struct OpenChannel {
    /// Whether it has a terminal (warnings go to stdout) or not (stderr).
    pty: bool,
    /// Its recording and live feed, for terminals and commands: warnings are kept there too.
    cast: Option<CastTap>,
}

impl Conn {
    /// The state of a connection that just signed in.
    pub fn new(ctx: Context, changes: ChangeRx, vendor: Vendor, handle: Handle, cancel: CancellationToken) -> Conn {
        let Vendor { user, device_name, device, peer, entry } = vendor;
        Conn {
            ctx,
            changes,
            user,
            device_name,
            device,
            peer,
            entry,
            handle,
            cancel,
            session: tokio::sync::Mutex::new(None),
            started: watch::Sender::new(None),
            tunnels: Arc::new(Semaphore::new(MAX_TUNNELS)),
            open: Mutex::new(HashMap::new()),
            end_reason: Mutex::new(None),
            next_channel: AtomicU32::new(0),
            refusals: Mutex::new(Refusals::default()),
            bytes: AtomicU64::new(0),
            input_paused: AtomicBool::new(false),
        }
    }

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
    pub async fn audit(&self, kind: Kind, subject: Subject, mut detail: serde_json::Value) -> bool {
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("peer".into(), json!(self.peer));
            if let Some(d) = &self.device_name {
                obj.entry("device").or_insert(json!(d));
            }
        }
        match self.ctx.audit.record(Event::new(self.user.username.as_str(), kind, subject, detail)).await {
            Ok(_) => true,
            Err(e) => {
                error!(error = %e, %kind, "audit append failed");
                false
            }
        }
    }

    /// Appends a row about something the session does (a tunnel, a file, a refusal). When it
    /// cannot be written the whole session ends with [`AUDIT_LOST`] and this returns false, so
    /// the caller stops what the row was about: nothing goes on unaudited.
    pub async fn audit_or_end(&self, kind: Kind, subject: Subject, detail: serde_json::Value) -> bool {
        let written = self.audit(kind, subject, detail).await;
        if !written {
            self.end(AUDIT_LOST);
        }
        written
    }

    /// Notes that `what` was refused (`detail` says why; `what` is added to it). The first few
    /// refusals of a connection are audited one by one, the rest are counted for the summary
    /// row ([`Conn::refusal_summary`]), and a connection that keeps asking is ended.
    pub async fn refused(&self, what: &'static str, mut detail: serde_json::Value) {
        let verdict = self.refusals.lock().map(|mut r| r.note(what)).unwrap_or(Verdict::Cut);
        if what != "env" {
            self.alert_refused(what).await;
        }
        match verdict {
            Verdict::Audit => {
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("what".into(), json!(what));
                }
                info!(what, "refused");
                self.audit_or_end(Kind::ChannelRefused, Subject::user(&self.user.username), detail).await;
            }
            Verdict::Count => debug!(what, "refused (counted)"),
            Verdict::Cut => {
                info!(what, "too many refused requests; closing");
                self.end("too many refused requests");
            }
        }
    }

    /// The detail of the row that sums up the refusals not audited one by one, if any.
    pub fn refusal_summary(&self) -> Option<serde_json::Value> {
        self.refusals.lock().ok().and_then(|r| r.summary())
    }

    /// A slot for one more open tunnel, if the connection has one free.
    pub fn tunnel_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.tunnels.clone().try_acquire_owned().ok()
    }

    /// The brokered session under `grant`: the running one, or one `start` records (it
    /// returns the new session's id, or `None` when it cannot). A connection serves one
    /// grant: a channel under another grant (another device, or a newer grant) gets `None`.
    pub async fn session<F, Fut>(&self, grant: &GrantRecord, start: F) -> Option<ActiveSession>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<SessionId>>,
    {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            if s.grant.id != grant.id {
                info!(session = %s.id, "a channel under another grant was refused; reconnect to use it");
                return None;
            }
            return Some(s.clone());
        }
        let id = start().await?;
        let s = ActiveSession { id, grant: grant.clone() };
        *slot = Some(s.clone());
        self.started.send_replace(Some(s.clone()));
        Some(s)
    }

    /// Waits until the session has started; `None` if the connection ends first.
    pub async fn started(&self) -> Option<ActiveSession> {
        let mut rx = self.started.subscribe();
        tokio::select! {
            s = rx.wait_for(Option::is_some) => s.ok().and_then(|s| s.clone()),
            _ = self.cancel.cancelled() => None,
        }
    }

    /// Takes the running session, for recording its end (once).
    pub async fn take_session(&self) -> Option<ActiveSession> {
        self.session.lock().await.take()
    }
}

#[cfg(test)]
mod tests {
    /// The state stays a leaf: it names no other module of the crate and spawns no task.
    #[test]
    fn uses_no_other_module_and_spawns_nothing() {
        let (krate, spawn) = (["crate", "::"].concat(), ["spawn", "("].concat());
        for (file, text) in [("mod.rs", include_str!("mod.rs")), ("tap.rs", include_str!("tap.rs"))] {
            assert!(!text.contains(&krate), "state/{file} uses another module of the crate");
            assert!(!text.contains(&spawn), "state/{file} spawns a task");
        }
    }
}
