//! The e-mail channel: one plain-text message per notice to the configured recipients, over
//! SMTP with lettre (tokio, rustls with the aws-lc-rs provider and the system's trust store).
//! `starttls` requires the upgrade (never falls back to plain text), `tls` speaks TLS from the
//! first byte, `plain` is for a relay on loopback only (checked by the configuration). The
//! password is read once from its file when the channel is built.

use super::{NotifyError, SendError};
use crate::config::{SmtpConfig, SmtpMode};
use crate::notify::notice::Notice;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::Path;
use std::time::Duration;

/// A configured SMTP channel.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("to", &self.to.len()).finish_non_exhaustive()
    }
}

impl Email {
    /// Builds the transport; `base_dir` resolves a relative password file.
    pub fn new(cfg: &SmtpConfig, base_dir: &Path, timeout: Duration) -> Result<Email, NotifyError> {
        let setup = |e: lettre::transport::smtp::Error| NotifyError::Setup(format!("smtp: {e}"));
        let host = cfg.host.trim();
        let builder = match cfg.mode {
            SmtpMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(setup)?,
            SmtpMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(setup)?,
            SmtpMode::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(cfg.port()).timeout(Some(timeout));
        if let (Some(user), Some(path)) = (&cfg.username, cfg.password_path(base_dir)) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| NotifyError::Setup(format!("cannot read smtp.password_file {}: {e}", path.display())))?;
            let password = text.lines().next().unwrap_or_default().to_owned();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = cfg.from.as_ref().ok_or_else(|| NotifyError::Setup("smtp.from is required".into()))?;
        Ok(Email {
            transport: builder.build(),
            from: from.mailbox().clone(),
            to: cfg.to.iter().map(|a| a.mailbox().clone()).collect(),
        })
    }

    /// Sends the notice to every recipient.
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let mut msg = Message::builder().from(self.from.clone()).subject(notice.subject()).header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            msg = msg.to(to.clone());
        }
        let msg = msg.body(notice.email_body()).map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("the mail server refused: {e}"))),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}
