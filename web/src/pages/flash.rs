//! The one-line confirmation shown after a form post. The redirect carries a fixed word and
//! the numbers or names involved (`?done=granted&id=12`), never free text, so a crafted link
//! cannot make the page say something Portcullis did not.

use portcullis_core::domain::{DeviceName, Username};
use serde::Deserialize;

/// The query string of a page reached after a form post.
#[derive(Debug, Default, Deserialize)]
pub struct FlashQuery {
    pub done: Option<String>,
    pub id: Option<String>,
    pub have: Option<i64>,
    pub need: Option<i64>,
    pub secs: Option<u64>,
}

impl FlashQuery {
    /// The sentence to show, if the query names a known outcome.
    pub fn message(&self) -> Option<String> {
        let num = self.id.as_deref().and_then(|s| s.parse::<i64>().ok());
        let user = self.id.as_deref().and_then(|s| Username::parse(s).ok());
        let device = self.id.as_deref().and_then(|s| DeviceName::parse(s).ok());
        Some(match (self.done.as_deref()?, num) {
            ("granted", Some(id)) => format!("Request #{id} approved: the vendor has access now (or from the scheduled start)."),
            ("recorded", Some(id)) => format!(
                "Your approval of request #{id} is recorded ({} of {}); another approver must approve too.",
                self.have.unwrap_or(0),
                self.need.unwrap_or(0)
            ),
            ("awaiting-signoff", Some(id)) => format!(
                "Your approval of request #{id} is recorded ({} of {}); it is waiting for a clinical sign-off: an approver holding clinical-signoff must approve.",
                self.have.unwrap_or(0),
                self.need.unwrap_or(0)
            ),
            ("denied", Some(id)) => format!("Request #{id} denied; the vendor sees your reason."),
            ("revoked", Some(id)) => format!("Access of request #{id} revoked; its sessions are being closed."),
            ("stopping", Some(id)) => format!(
                "Session {id} is stopping: the vendor was warned and it closes in {}.",
                super::format::secs(self.secs.unwrap_or(0) as i64)
            ),
            ("stopped", Some(id)) => format!("Session {id} was stopped."),
            ("contained", Some(id)) => format!("Containment #{id} ordered: grants revoked, pending requests denied, sessions stopping; new requests there are refused until it is lifted."),
            ("contain-lifted", Some(id)) => format!("Containment #{id} lifted; requests there may be made again."),

            ("breakglass-reviewed", Some(id)) => format!("Your review of break-glass #{id} is recorded."),
            ("breakglass-disabled", Some(id)) => format!("Break-glass #{id} reviewed as not justified: the vendor's account is disabled."),
            ("acknowledged", Some(id)) => format!("Alert {id} acknowledged; your name is on it in the audit log."),
            ("enrolled", _) => "Your password and authenticator are set. Welcome.".to_owned(),
            ("user-disabled", _) => format!("Account {} disabled; its sign-ins ended.", user?),
            ("user-enabled", _) => format!("Account {} enabled.", user?),
            ("user-key-added", _) => format!("Account {}: SSH key added.", user?),
            ("user-key-removed", _) => format!("Account {}: SSH key removed; it can no longer sign in with it.", user?),
            ("user-expiry", _) => format!("Account {}: end date changed.", user?),
            ("user-access", _) => format!("Account {}: what it may see changed.", user?),
            ("device-disabled", _) => format!("Device {} disabled.", device?),
            ("device-enabled", _) => format!("Device {} enabled.", device?),
            ("device-added", _) => format!("Device {} added.", device?),
            ("device-changed", _) => format!("Device {} changed.", device?),
            ("device-rotated", _) => format!("Device {}: the new credential is sealed in the vault; the old one is gone.", device?),
            ("device-repinned", _) => format!("Device {}: the new host key is pinned.", device?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(done: &str, id: &str) -> FlashQuery {
        FlashQuery { done: Some(done.into()), id: Some(id.into()), ..FlashQuery::default() }
    }

    #[test]
    fn known_words_only() {
        assert!(q("granted", "12").message().is_some_and(|m| m.contains("#12")));
        assert_eq!(q("granted", "twelve").message(), None);
        assert_eq!(q("call 555-1234", "1").message(), None);
        assert_eq!(q("user-disabled", "<script>").message(), None);
        assert!(q("user-disabled", "nurse1").message().is_some_and(|m| m.contains("nurse1")));
    }
}
