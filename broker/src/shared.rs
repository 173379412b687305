//! What every connection of the listener shares: the services, the russh settings with the
//! broker's host key, the change feed and its fan-out to window enforcement, and the two caps (unauthenticated connections and
//! sessions). Built once by [`Broker::new`]; cheap to clone.

use crate::fanout::Fanout;
use crate::startups::{StartupLimits, Startups};
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
    pub(crate) inner: Arc<Inner>,
}

/// What [`Broker`] shares; fields are read by the listener and the connection task.
pub(crate) struct Inner {
    /// Services over the shared store.
    ctx: Context,
    /// russh server settings, with the broker's host key.
    pub(crate) ssh: Arc<russh::server::Config>,
    /// Wakes waiters when anything was decided or changed.
    changes: ChangeRx,
    /// Slots for connections that have not authenticated yet.
    pub(crate) unauthenticated: Arc<Semaphore>,
    /// Slots for authenticated connections.
    pub(crate) sessions: Arc<Semaphore>,
    /// Who may start a sign-in: per-source limits, early drop, penalties.
    pub(crate) startups: Startups,
    /// Reads the store once per change for every connection's window enforcement; its task
    /// runs while the listener does ([`crate::server::run`]).
    pub(crate) fanout: Fanout,
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
            // Refusals are paced by the handler (crate::pace), not by russh, which would also
            // delay the partial success after an accepted key.
            auth_rejection_time: std::time::Duration::ZERO,
            auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
            keys: vec![host_key],
            max_auth_attempts: 6,
            inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
            keepalive_interval: Some(std::time::Duration::from_secs(30)),
            nodelay: true,
            preferred: crate::algorithms::server(),
            ..Default::default()
        };
        let startups = Startups::new(StartupLimits {
            per_source: cfg.per_source_max_startups,
            start: cfg.max_startups.start,
            rate: cfg.max_startups.rate,
            full: cfg.max_startups.full,
            penalty_failed: cfg.penalty_failed.0,
            penalty_grace: cfg.penalty_grace_exceeded.0,
            penalty_min: cfg.penalty_min.0,
            penalty_max: cfg.penalty_max.0,
        });
        let inner = Inner {
            fanout: Fanout::new(ctx.store.clone(), ctx.sessions.node().clone()),
            startups,
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
