//! What approvers are told about a new access request (or an alert, [`AlertNotice`]), rendered for each channel: the JSON
//! of a webhook (a `text` that Slack and Microsoft Teams incoming webhooks both show, plus
//! the same facts as structured fields), and an e-mail's subject and plain-text body.
//!
//! The reason and the organisation are free text typed by people. They reach the structured
//! fields exactly as typed (JSON escaping is the serializer's job). In the `text` they are
//! made one line and `&`, `<`, `>` are escaped, so they cannot form links or mentions in
//! Slack or markup in Teams. In the e-mail subject every control character becomes a space,
//! so nothing typed can start a new header line.

use crate::clock;
use crate::config::PublicUrl;
use crate::store::RequestRecord;
pub use super::alert_notice::AlertNotice;
use serde_json::{json, Value};

/// Longest subject line, in characters.
const MAX_SUBJECT_CHARS: usize = 140;
/// Longest free-text value in the one-line `text`, in characters.
const MAX_TEXT_FIELD_CHARS: usize = 600;

/// What approvers are told: a new access request, or an alert ([`AlertNotice`]).
#[derive(Debug, Clone)]
pub enum Notice {
    Request(Box<RequestNotice>),
    Alert(AlertNotice),
}

/// One new access request, as told to approvers.
#[derive(Debug, Clone)]
pub struct RequestNotice {
    request: RequestRecord,
    /// The approvers' page, `PUBLIC_URL/requests`.
    link: String,
}

impl Notice {
    /// The notice of `request`.
    pub fn new(request: RequestRecord, public_url: &PublicUrl) -> Notice {
        Notice::Request(Box::new(RequestNotice { request, link: public_url.requests_page() }))
    }

    /// The webhook body.
    pub fn webhook_body(&self) -> Value {
        match self {
            Notice::Request(r) => r.webhook_body(),
            Notice::Alert(a) => a.webhook_body(),
        }
    }

    /// The e-mail subject: one line, whatever was typed.
    pub fn subject(&self) -> String {
        match self {
            Notice::Request(r) => r.subject(),
            Notice::Alert(a) => a.subject(),
        }
    }

    /// The e-mail body (plain text).
    pub fn email_body(&self) -> String {
        match self {
            Notice::Request(r) => r.email_body(),
            Notice::Alert(a) => a.email_body(),
        }
    }
}

impl RequestNotice {
    /// The request's number.
    pub fn request_id(&self) -> crate::domain::RequestId {
        self.request.id
    }

    /// The webhook body.
    pub fn webhook_body(&self) -> Value {
        let r = &self.request;
        json!({
            "text": self.text(),
            "portcullis": {
                "event": "request.created",
                "request": r.id.0,
                "requester": r.vendor,
                "organisation": r.org,
                "device": r.device,
                "criticality": r.criticality,
                "zone": r.zone,
                "reason": r.reason,
                "minutes": r.minutes,
                "required_approvals": r.required_approvals,
                "created_at": clock::rfc3339(r.created_at),
                "url": self.link,
            }
        })
    }

    /// The one-message summary shown by chat tools.
    fn text(&self) -> String {
        let r = &self.request;
        let org = chat_escape(&one_line(&r.org, MAX_TEXT_FIELD_CHARS));
        let reason = chat_escape(&one_line(&r.reason, MAX_TEXT_FIELD_CHARS));
        format!(
            "Access request #{id} is waiting for approval\n{vendor} ({org}) asks for {minutes} minutes on {device} \
             ({crit}, zone {zone}; {need} approval{s} needed).\nReason: {reason}\nDecide: {link}",
            id = r.id,
            vendor = r.vendor,
            org = if org.is_empty() { "no organisation".to_owned() } else { org },
            minutes = r.minutes,
            device = r.device,
            crit = r.criticality,
            zone = r.zone,
            need = r.required_approvals,
            s = if r.required_approvals == 1 { "" } else { "s" },
            link = self.link,
        )
    }

    /// The e-mail subject: one line, whatever was typed.
    pub fn subject(&self) -> String {
        let r = &self.request;
        let s = format!("[Portcullis] Access request #{}: {} on {} ({}) for {} min", r.id, r.vendor, r.device, r.criticality, r.minutes);
        one_line(&s, MAX_SUBJECT_CHARS)
    }

    /// The e-mail body (plain text; shown as is, never as markup).
    pub fn email_body(&self) -> String {
        let r = &self.request;
        let printable = |s: &str| s.chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect::<String>();
        format!(
            "Access request #{id} is waiting for approval.\n\n\
             Requester:     {vendor}\nOrganisation:  {org}\nDevice:        {device}\nCriticality:   {crit}\nZone:          {zone}\n\
             Minutes:       {minutes}\nApprovals:     {need} needed\nFiled:         {at}\n\nReason:\n{reason}\n\n\
             Approve or deny it at:\n{link}\n",
            id = r.id,
            vendor = r.vendor,
            org = one_line(&r.org, MAX_TEXT_FIELD_CHARS),
            device = r.device,
            crit = r.criticality,
            zone = r.zone,
            minutes = r.minutes,
            need = r.required_approvals,
            at = clock::rfc3339(r.created_at),
            reason = printable(&r.reason),
            link = self.link,
        )
    }
}

/// `s` on one line: every control character (and Unicode line or paragraph separator)
/// becomes a space; at most `max` characters, an ellipsis marking a cut.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c }).collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_owned();
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Escapes what Slack's message format (and Teams' markup) give meaning to: `&`, `<`, `>`.
pub fn chat_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_and_cuts() {
        assert_eq!(one_line("a\r\nBcc: x@y\u{2028}z\t", 100), "a  Bcc: x@y z");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("  ok  ", 4), "ok");
    }

    #[test]
    fn chat_escape_defuses_links_and_mentions() {
        assert_eq!(chat_escape("<!channel> <http://x|y> & co"), "&lt;!channel&gt; &lt;http://x|y&gt; &amp; co");
    }
}
