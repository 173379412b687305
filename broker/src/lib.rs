//! The SSH side of Portcullis. Vendors connect with a plain OpenSSH client; this crate
//! authenticates them (key, then a TOTP code), holds them at the approval gate until a grant
//! covers the device they named, connects to the device itself with the vaulted credential
//! after checking its pinned host key, bridges and records every channel, and closes
//! everything when the window ends, the grant is revoked or an operator stops the session.
//!
//! Layout by phase: [`server`] accepts connections and applies the caps; [`handler`] is the
//! russh adapter (authentication, refusals); [`conn`] is the per-connection task that owns
//! the session state; [`channel`] sets up each session channel; [`gate`] is the approval
//! wait; [`lobby`] is the vendor's small command shell; [`device`] is the client towards the
//! device; [`bridge`] moves and records bytes; [`recording`] starts and seals recordings;
//! [`sftp`] watches file transfers; [`tunnel`] decides and bridges `ssh -L` tunnels;
//! [`window`] enforces the grant's end.

mod bridge;
mod channel;
mod conn;
mod device;
mod gate;
mod handler;
mod lobby;
mod prompt;
mod recording;
mod server;
mod sftp;
mod target;
mod tunnel;
mod window;

pub use server::run;

use portcullis_core::feed::ChangeRx;
use portcullis_core::Context;
use russh::keys::PrivateKey;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Errors that stop the listener itself (a single connection's errors never do).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("accepting connections failed: {0}")]
    Accept(#[from] std::io::Error),
}

/// Everything the broker shares between connections; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Services over the shared store.
    ctx: Context,
    /// russh server settings, with the broker's host key.
    ssh: Arc<russh::server::Config>,
    /// Wakes waiters when anything was decided or changed.
    changes: ChangeRx,
    /// Slots for connections that have not authenticated yet.
    unauthenticated: Arc<Semaphore>,
    /// Slots for authenticated connections.
    sessions: Arc<Semaphore>,
}

impl Broker {
    /// Builds the broker from opened services, its host key and the change feed.
    pub fn new(ctx: Context, host_key: PrivateKey, changes: ChangeRx) -> Broker {
        let cfg = &ctx.config.ssh;
        let mut methods = russh::MethodSet::empty();
        methods.push(russh::MethodKind::PublicKey);
        methods.push(russh::MethodKind::KeyboardInteractive);
        let ssh = russh::server::Config {
            server_id: russh::SshId::Standard("SSH-2.0-Portcullis".into()),
            methods,
            auth_rejection_time: std::time::Duration::from_millis(300),
            auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
            keys: vec![host_key],
            max_auth_attempts: 6,
            inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
            keepalive_interval: Some(std::time::Duration::from_secs(30)),
            nodelay: true,
            ..Default::default()
        };
        let inner = Inner {
            unauthenticated: Arc::new(Semaphore::new(cfg.max_unauthenticated)),
            sessions: Arc::new(Semaphore::new(cfg.max_sessions)),
            ssh: Arc::new(ssh),
            changes,
            ctx,
        };
        Broker { inner: Arc::new(inner) }
    }

    pub(crate) fn ctx(&self) -> &Context {
        &self.inner.ctx
    }

    pub(crate) fn changes(&self) -> ChangeRx {
        self.inner.changes.clone()
    }
}
