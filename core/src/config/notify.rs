//! The `[notify]` section: how approvers are told that a vendor is waiting. Two channels,
//! each optional: a JSON webhook (Slack and Microsoft Teams incoming webhooks, or anything
//! that takes a JSON POST) and e-mail over SMTP (`[notify.smtp]`). With neither configured
//! nothing is sent.
//!
//! Values are checked as they are read: the webhook URL must be `https`, or `http` to a
//! loopback address only (a relay on the same machine, or a test), because the payload names
//! devices and reasons and the URL itself is the webhook's secret; e-mail addresses must
//! parse. Rules that tie several keys together are in [`NotifyConfig::check`], which `serve`
//! runs before it starts anything. The webhook URL is never printed by `Debug`.

use super::{ConfigError, Dur};
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The `[notify]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where the webhook JSON is POSTed; none: no webhook.
    pub webhook_url: Option<WebhookUrl>,
    /// The web page's address as approvers reach it; links point at `PUBLIC_URL/requests`.
    /// Required when a channel is configured.
    pub public_url: Option<PublicUrl>,
    /// Limit for one delivery attempt (connecting, sending, the answer).
    pub timeout: Dur,
    /// Wait before the first retry of a failed delivery; doubles up to [`MAX_RETRY_WAIT`].
    pub retry_backoff: Dur,
    /// A delivery still failing this long after its first attempt is given up and audited
    /// as `notify.failed`; later requests are then delivered.
    pub give_up_after: Dur,
    /// E-mail; none: no e-mail.
    pub smtp: Option<SmtpConfig>,
}

/// Longest wait between two attempts at one delivery.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            public_url: None,
            timeout: Dur(Duration::from_secs(10)),
            retry_backoff: Dur(Duration::from_secs(1)),
            give_up_after: Dur(Duration::from_secs(3600)),
            smtp: None,
        }
    }
}

/// The `[notify.smtp]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Mail server name or address.
    pub host: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `plain`.
    pub port: Option<u16>,
    pub mode: SmtpMode,
    /// Sender, `addr@example.org` or `Name <addr@example.org>`.
    pub from: Option<MailAddress>,
    /// Recipients.
    pub to: Vec<MailAddress>,
    /// Login name, if the server wants one (then `password_file` too).
    pub username: Option<String>,
    /// File holding the password (first line); relative to the configuration's folder.
    pub password_file: Option<PathBuf>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpMode {
    /// Plain connection, upgraded with STARTTLS (required, never skipped).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only to a mail relay on this machine (loopback), e.g. for tests.
    Plain,
}

impl std::str::FromStr for SmtpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "starttls" => Ok(SmtpMode::Starttls),
            "tls" => Ok(SmtpMode::Tls),
            "plain" => Ok(SmtpMode::Plain),
            other => Err(format!("unknown SMTP mode {other:?} (expected starttls, tls or plain)")),
        }
    }
}

impl SmtpConfig {
    /// The port to use.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.mode {
            SmtpMode::Starttls => 587,
            SmtpMode::Tls => 465,
            SmtpMode::Plain => 25,
        })
    }

    /// The password file, resolved against the configuration's folder.
    pub fn password_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.password_file.as_ref().map(|p| if p.is_relative() { base_dir.join(p) } else { p.clone() })
    }
}

impl NotifyConfig {
    /// Whether any channel is configured.
    pub fn enabled(&self) -> bool {
        self.webhook_url.is_some() || self.smtp.is_some()
    }

    /// Checks the rules that tie keys together.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("notify: {m}")));
        if self.enabled() && self.public_url.is_none() {
            return bad("public_url is required when a webhook or SMTP is configured (it is the link approvers follow)");
        }
        if self.timeout.0.is_zero() || self.retry_backoff.0.is_zero() {
            return bad("timeout and retry_backoff must be more than zero");
        }
        let Some(smtp) = &self.smtp else { return Ok(()) };
        if smtp.host.trim().is_empty() {
            return bad("smtp.host is required");
        }
        if smtp.from.is_none() || smtp.to.is_empty() {
            return bad("smtp.from and at least one smtp.to address are required");
        }
        if smtp.username.is_some() != smtp.password_file.is_some() {
            return bad("smtp.username and smtp.password_file go together");
        }
        if smtp.mode == SmtpMode::Plain && !is_loopback_host(&smtp.host) {
            return bad("smtp.mode = \"plain\" is only allowed to a loopback host; use starttls or tls");
        }
        if smtp.mode == SmtpMode::Plain && smtp.username.is_some() {
            return bad("smtp.mode = \"plain\" would send the password unencrypted; use starttls or tls");
        }
        Ok(())
    }
}

/// Whether `host` names this machine: `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The webhook's address: `https`, or `http` to loopback only. Its path is a secret for
/// Slack and Teams, so `Debug` shows the scheme and host only.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Parses and checks a webhook URL.
    pub fn parse(s: &str) -> Result<WebhookUrl, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("webhook_url is not a URL: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        match url.scheme() {
            "https" if !host.is_empty() => Ok(WebhookUrl(url)),
            "http" if is_loopback_host(&host) => Ok(WebhookUrl(url)),
            "http" => Err("webhook_url must be https (http only to a loopback address)".into()),
            _ => Err("webhook_url must be an https:// URL".into()),
        }
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookUrl({}://{}/…)", self.0.scheme(), self.0.host_str().unwrap_or("?"))
    }
}

/// The web page's public address (`http` or `https`), without query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl PublicUrl {
    /// Parses and checks a public URL.
    pub fn parse(s: &str) -> Result<PublicUrl, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("public_url is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("public_url must be an http(s):// URL with a host".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("public_url must not have a query or fragment".into());
        }
        Ok(PublicUrl(url))
    }

    /// `PUBLIC_URL/requests`, the approvers' list of requests.
    pub fn requests_page(&self) -> String {
        format!("{}/requests", self.0.as_str().trim_end_matches('/'))
    }

    /// `PUBLIC_URL/alerts`, the alerts page.
    pub fn alerts_page(&self) -> String {
        format!("{}/alerts", self.0.as_str().trim_end_matches('/'))
    }

    /// `PUBLIC_URL/breakglass`, the break-glass reviews page.
    pub fn breakglass_page(&self) -> String {
        format!("{}/breakglass", self.0.as_str().trim_end_matches('/'))
    }
}

/// An e-mail address, `addr@example.org` or `Name <addr@example.org>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress(lettre::message::Mailbox);

impl MailAddress {
    /// Parses an address.
    pub fn parse(s: &str) -> Result<MailAddress, String> {
        s.trim().parse().map(MailAddress).map_err(|e| format!("{s:?} is not an e-mail address: {e}"))
    }

    /// Parses a comma-separated list (environment form).
    pub fn parse_list(s: &str) -> Result<Vec<MailAddress>, String> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(MailAddress::parse).collect()
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &lettre::message::Mailbox {
        &self.0
    }
}

macro_rules! deserialize_by_parse {
    ($($t:ty),+) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t>::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    )+};
}
deserialize_by_parse!(WebhookUrl, PublicUrl, MailAddress);

#[cfg(test)]
mod tests;
