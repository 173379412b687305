//! The webhook channel: one JSON POST per notice. The client uses rustls with the aws-lc-rs
//! provider and the system's trust store (reqwest's `rustls` feature), bounds every attempt
//! with the configured timeout, and follows a redirect only within the same origin (scheme,
//! host and port) — a redirect elsewhere is refused, so the payload never leaves for a host
//! nobody configured. Errors never carry the URL: for Slack and Teams it is the secret.

use super::{NotifyError, SendError};
use crate::config::WebhookUrl;
use reqwest::redirect::{Attempt, Policy};
use reqwest::StatusCode;
use std::time::Duration;

/// Most redirects followed (all within the origin).
const MAX_REDIRECTS: usize = 3;

/// A configured webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Webhook {
    /// Builds the client.
    pub fn new(url: &WebhookUrl, timeout: Duration) -> Result<Webhook, NotifyError> {
        let origin = url.url().origin();
        let policy = Policy::custom(move |attempt: Attempt<'_>| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().origin() == origin {
                attempt.follow()
            } else {
                attempt.error("redirect to another host refused")
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Setup(format!("webhook client: {}", e.without_url())))?;
        Ok(Webhook { client, url: url.url().clone() })
    }

    /// POSTs `body`.
    pub async fn send(&self, body: &serde_json::Value) -> Result<(), SendError> {
        let resp = self
            .client
            .post(self.url.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let redirect = e.is_redirect();
                let text = error_chain(&e.without_url());
                if redirect { SendError::Permanent(text) } else { SendError::Transient(text) }
            })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT {
            Err(SendError::Transient(format!("the receiver answered {status}")))
        } else {
            Err(SendError::Permanent(format!("the receiver refused the notification: {status}")))
        }
    }
}

/// The error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
