//! Telling approvers that a vendor is waiting, or that an alert fired. When an access request
//! is created, its audit row (`request.created`) is the queue, and so are alert rows
//! (`alert.*`, at or above the severity `alerts.notify` names): each configured channel — a JSON webhook
//! ([`webhook`]), e-mail over SMTP ([`email`]) — follows those rows from a cursor kept in the
//! database ([`crate::cursor`]) and sends a [`notice`] for each ([`deliver`]).
//!
//! Guarantees: a notification is sent after its request committed (the row is its proof),
//! in request order, at least once. A restart resumes from the cursor; with several nodes,
//! a lease in the cursor row lets one node send at a time, so each notice is normally sent
//! once and sent twice only when a node dies between sending and moving the cursor. A
//! receiver that is down delays the queue (retries with a doubling wait) until
//! `notify.give_up_after`; a notice the receiver refuses outright, or that is given up, is
//! audited as `notify.failed` and skipped. Notifications start with the requests created
//! after the channel first ran: a cursor is created at the audit head, never at zero, so
//! turning notifications on does not replay history.

mod alert_notice;
mod deliver;
mod email;
mod notice;
mod webhook;

pub use crate::cursor::position;
pub use email::Email;
pub use notice::{chat_escape, one_line, AlertNotice, Notice, RequestNotice};
pub use webhook::Webhook;

use crate::audit::AuditLog;
use crate::cursor;
use crate::config::{Config, ConfigError, NotifyConfig, PublicUrl};
use crate::store::{Store, StoreError};
use crate::clock;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why notifications could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Setup(String),
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again (connection refused, timeout, 5xx, 429, a 4xx SMTP reply).
    Transient(String),
    /// Trying again will not help (the receiver refused this payload).
    Permanent(String),
}

/// A way of reaching approvers.
#[derive(Debug)]
pub enum Channel {
    Webhook(Webhook),
    Email(Email),
}

impl Channel {
    /// The name of its cursor and in logs: `webhook` or `email`.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Email(_) => "email",
        }
    }

    /// One attempt at sending `notice`.
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        match self {
            Channel::Webhook(w) => w.send(&notice.webhook_body()).await,
            Channel::Email(e) => e.send(notice).await,
        }
    }
}

/// The configured channels and what they need; [`Notifier::run`] delivers.
pub struct Notifier {
    store: Store,
    audit: AuditLog,
    cfg: Arc<NotifyConfig>,
    public_url: PublicUrl,
    channels: Vec<Arc<Channel>>,
    node: Arc<str>,
    /// Which alerts are sent (`alerts.notify`).
    alert_level: crate::config::NotifyLevel,
}

/// Wait before trying again to create the cursors when the store failed.
const PREPARE_RETRY: Duration = Duration::from_secs(5);

impl Notifier {
    /// Checks `[notify]` and builds its channels; `None` when no channel is configured.
    pub fn from_config(config: &Config, store: Store, audit: AuditLog) -> Result<Option<Notifier>, NotifyError> {
        let cfg = &config.notify;
        cfg.check()?;
        let Some(public_url) = cfg.public_url.clone().filter(|_| cfg.enabled()) else { return Ok(None) };
        let mut channels = Vec::new();
        if let Some(url) = &cfg.webhook_url {
            channels.push(Arc::new(Channel::Webhook(Webhook::new(url, cfg.timeout.0)?)));
        }
        if let Some(smtp) = &cfg.smtp {
            channels.push(Arc::new(Channel::Email(Email::new(smtp, &config.base_dir, cfg.timeout.0)?)));
        }
        let node = format!("{}-{}", std::process::id(), hex::encode(rand::random::<[u8; 6]>()));
        Ok(Some(Notifier { store, audit, cfg: Arc::new(cfg.clone()), public_url, channels, node: node.into(), alert_level: config.alerts.notify }))
    }

    /// The channels' names.
    pub fn channels(&self) -> Vec<&'static str> {
        self.channels.iter().map(|c| c.name()).collect()
    }

    /// Creates each channel's cursor at the current audit head unless it has one, so that a
    /// channel starts with the requests created from now on. Idempotent.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        let head = self.store.audit_head().await?;
        for c in &self.channels {
            cursor::ensure(&self.store, c.name(), head, clock::now_ms()).await?;
        }
        Ok(())
    }

    /// Delivers until `shutdown`: one task per channel, woken by `changes`.
    pub async fn run(self, changes: crate::feed::ChangeRx, shutdown: CancellationToken) {
        while let Err(e) = self.prepare().await {
            tracing::warn!(error = %e, "notifications: cannot create the delivery cursors; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PREPARE_RETRY) => {}
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for channel in &self.channels {
            let worker = deliver::Worker {
                store: self.store.clone(),
                audit: self.audit.clone(),
                cfg: self.cfg.clone(),
                public_url: self.public_url.clone(),
                channel: channel.clone(),
                node: self.node.clone(),
                alert_level: self.alert_level,
            };
            tasks.spawn(worker.run(changes.clone(), shutdown.clone()));
        }
        while let Some(ended) = tasks.join_next().await {
            if let Err(e) = ended {
                tracing::error!(error = %e, "notifications: a delivery task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
