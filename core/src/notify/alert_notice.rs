//! What approvers are told about an alert (`alert.*` rows at or above `alerts.notify`): the
//! severity, the rule, the vendor, the device and the session, with a link to the alerts page.
//! Alerts are already bounded at their source (one per rule and window, one per session for
//! bytes), so the notifications are too. Every value comes from the alert's audit detail;
//! vendor and device names are validated names, yet they still go through the same one-line
//! and chat escaping as typed text.

use super::notice::{chat_escape, one_line};
use crate::clock;
use crate::config::PublicUrl;
use serde_json::{json, Value};

/// Longest value of a field in the text, in characters.
const MAX_FIELD_CHARS: usize = 200;

/// One alert, as told to approvers.
#[derive(Debug, Clone)]
pub struct AlertNotice {
    /// The alert's audit row.
    pub seq: i64,
    /// Unix milliseconds.
    pub ts: i64,
    /// `alert.failed_codes`, …
    pub kind: String,
    /// The audit detail.
    pub detail: Value,
    /// `PUBLIC_URL/alerts`.
    pub link: String,
}

impl AlertNotice {
    /// The notice of alert row `seq`.
    pub fn new(seq: i64, ts: i64, kind: &str, detail: Value, public_url: &PublicUrl) -> AlertNotice {
        let link = if kind.starts_with("breakglass.") { public_url.breakglass_page() } else { public_url.alerts_page() };
        AlertNotice { seq, ts, kind: kind.to_owned(), detail, link }
    }

    fn field(&self, key: &str) -> String {
        match self.detail.get(key) {
            Some(Value::String(s)) => one_line(s, MAX_FIELD_CHARS),
            Some(Value::Null) | None => String::new(),
            Some(v) => one_line(&v.to_string(), MAX_FIELD_CHARS),
        }
    }

    /// `critical alert failed_codes: acme on pump-1 (session 12)`.
    fn summary(&self) -> String {
        if self.kind.starts_with("breakglass.") {
            return self.breakglass_summary();
        }
        let mut s = format!("{} alert {}: {}", self.field("severity"), self.field("rule"), self.field("vendor"));
        let device = self.field("device");
        if !device.is_empty() {
            s.push_str(&format!(" on {device} ({}, zone {})", self.field("criticality"), self.field("zone")));
        }
        let session = self.field("session");
        if !session.is_empty() {
            s.push_str(&format!(" (session {session})"));
        }
        s
    }

    /// `BREAK-GLASS opened: acme on pump-1 (life-critical, zone icu), incident INC-7: reason`,
    /// or the overdue review of one.
    fn breakglass_summary(&self) -> String {
        let what = if self.kind == "breakglass.review_overdue" { "review OVERDUE" } else { "opened" };
        format!(
            "BREAK-GLASS {what}: {} on {} ({}, zone {}), incident {}: {}",
            self.field("vendor"), self.field("device"), self.field("criticality"), self.field("zone"), self.field("incident"), self.field("reason")
        )
    }

    /// The webhook body: a `text` for chat tools and the facts as fields.
    pub fn webhook_body(&self) -> Value {
        json!({
            "text": format!("Portcullis {}\nAcknowledge: {}", chat_escape(&self.summary()), self.link),
            "portcullis": {
                "event": self.kind,
                "alert": self.seq,
                "at": clock::rfc3339_ms(self.ts),
                "detail": self.detail,
                "url": self.link,
            }
        })
    }

    /// The e-mail subject.
    pub fn subject(&self) -> String {
        one_line(&format!("[Portcullis] {}", self.summary()), 140)
    }

    /// The e-mail body.
    pub fn email_body(&self) -> String {
        let facts = self.detail.as_object().map(|o| o.iter().map(|(k, _)| format!("{k:<14} {}\n", self.field(k))).collect::<String>()).unwrap_or_default();
        format!("Alert #{} ({}) at {}.\n\n{facts}\nAcknowledge it at:\n{}\n", self.seq, self.kind, clock::rfc3339_ms(self.ts), self.link)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_notice_names_severity_rule_vendor_device_and_session_on_one_line() {
        let url = PublicUrl::parse("https://pam.example.org").unwrap();
        let detail = json!({ "rule": "bytes_exceeded", "severity": "critical", "vendor": "acme\n<@here>", "device": "pump-1", "criticality": "life-critical", "zone": "icu", "session": 12 });
        let n = AlertNotice::new(7, 1_764_000_000_000, "alert.bytes_exceeded", detail, &url);
        assert_eq!(n.subject(), "[Portcullis] critical alert bytes_exceeded: acme <@here> on pump-1 (life-critical, zone icu) (session 12)");
        let body = n.webhook_body();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("&lt;@here&gt;") && !text.contains("<@here>"), "{text}");
        assert_eq!(body["portcullis"]["alert"], 7);
        assert_eq!(body["portcullis"]["url"], "https://pam.example.org/alerts");
        assert!(n.email_body().contains("https://pam.example.org/alerts"));
    }

    #[test]
    fn a_break_glass_notice_names_the_incident_and_links_to_the_reviews() {
        let url = PublicUrl::parse("https://pam.example.org").unwrap();
        let detail = json!({ "severity": "critical", "vendor": "acme", "device": "vent-1", "criticality": "high", "zone": "icu", "incident": "INC-4411", "reason": "alarm <!channel>" });
        let n = AlertNotice::new(9, 1_764_000_000_000, "breakglass.opened", detail, &url);
        assert_eq!(n.subject(), "[Portcullis] BREAK-GLASS opened: acme on vent-1 (high, zone icu), incident INC-4411: alarm <!channel>");
        let body = n.webhook_body();
        assert_eq!(body["portcullis"]["url"], "https://pam.example.org/breakglass");
        assert!(body["text"].as_str().unwrap().contains("&lt;!channel&gt;"), "{body}");
        let late = AlertNotice::new(10, 1_764_000_000_000, "breakglass.review_overdue", json!({ "vendor": "acme", "device": "vent-1" }), &url);
        assert!(late.subject().contains("BREAK-GLASS review OVERDUE"), "{}", late.subject());
    }
}
