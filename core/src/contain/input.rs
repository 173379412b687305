//! What a containment order and its lifting take: [`ContainInput`] and [`LiftInput`], built
//! from what is always needed (the scope, the administrator, the reason, the interface) with
//! the clinical confirmation and the immediate cut added by builder methods. Their text rules
//! (one line, a length limit, required or not) are those of every reason in Portcullis.

use crate::approvals::{reason, ApprovalError};
use crate::domain::{Scope, Username};

/// An administrator's order to contain a zone or a device.
#[derive(Debug, Clone)]
pub struct ContainInput {
    pub scope: Scope,
    /// The administrator who orders it.
    pub by: Username,
    /// Why (the incident); required.
    pub reason: String,
    /// Who confirmed the life-critical devices there are safe to disconnect (a person's name
    /// and role); required when a life-critical session is running in the scope.
    pub confirmed_by: Option<String>,
    /// Why the running sessions are cut at once instead of after the graceful stop; `None`
    /// keeps the graceful stop for life-critical devices.
    pub immediate: Option<String>,
    /// Which interface it came through (`api`, `web`, `cli:NAME`), for the audit row.
    pub via: String,
}

impl ContainInput {
    /// `by` contains `scope` for `reason`, through `via`; graceful, no confirmation yet.
    pub fn new(scope: Scope, by: &Username, reason: &str, via: &str) -> Self {
        Self { scope, by: by.clone(), reason: reason.to_owned(), confirmed_by: None, immediate: None, via: via.to_owned() }
    }

    /// Names who confirmed the life-critical devices are safe to disconnect.
    pub fn confirmed_by(mut self, who: Option<&str>) -> Self {
        self.confirmed_by = who.map(str::to_owned);
        self
    }

    /// Cuts every running session at once, for this reason.
    pub fn immediate(mut self, why: Option<&str>) -> Self {
        self.immediate = why.map(str::to_owned);
        self
    }

    /// The checked texts: the reason, the confirmation (blank is none) and the immediate
    /// reason (required when immediate is asked for).
    pub(super) fn checked(&self) -> Result<(String, Option<String>, Option<String>), ApprovalError> {
        let why = reason(&self.reason, true).map_err(|e| ApprovalError::Invalid(format!("a containment: {e}")))?;
        let confirmed = match &self.confirmed_by {
            Some(c) => Some(reason(c, false).map_err(|_| ApprovalError::Invalid(CONFIRMATION_FORM.into()))?).filter(|c| !c.is_empty()),
            None => None,
        };
        let immediate = match &self.immediate {
            Some(i) => Some(reason(i, true).map_err(|_| ApprovalError::Invalid(IMMEDIATE_NEEDS_REASON.into()))?),
            None => None,
        };
        Ok((why.to_owned(), confirmed.map(str::to_owned), immediate.map(str::to_owned)))
    }
}

/// The refusal of an immediate order without its reason.
pub const IMMEDIATE_NEEDS_REASON: &str = "an immediate containment needs its own reason: why the running sessions cannot be given the graceful stop";

const CONFIRMATION_FORM: &str = "the clinical confirmation must be one line naming who confirmed (name and role)";

/// An administrator's lifting of the containment in force over a scope.
#[derive(Debug, Clone)]
pub struct LiftInput {
    pub scope: Scope,
    pub by: Username,
    /// Why it may be lifted (e.g. the incident closed); required.
    pub reason: String,
    pub via: String,
}

impl LiftInput {
    /// `by` lifts the containment of `scope` for `reason`, through `via`.
    pub fn new(scope: Scope, by: &Username, reason: &str, via: &str) -> Self {
        Self { scope, by: by.clone(), reason: reason.to_owned(), via: via.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn order() -> ContainInput {
        ContainInput::new(Scope::parse("zone", "icu").unwrap(), &"root".parse().unwrap(), " INC-9 ransomware ", "cli:x")
    }

    #[test]
    fn texts_are_checked_once_here() {
        assert_eq!(order().checked().unwrap(), ("INC-9 ransomware".into(), None, None));
        let o = order().confirmed_by(Some("  Dr Ada, ICU charge nurse ")).immediate(Some("spreading"));
        assert_eq!(o.checked().unwrap(), ("INC-9 ransomware".into(), Some("Dr Ada, ICU charge nurse".into()), Some("spreading".into())));
        assert_eq!(order().confirmed_by(Some("   ")).checked().unwrap().1, None, "a blank confirmation is none");
        assert!(order().confirmed_by(Some("two\nlines")).checked().is_err());
        for blank in ["", "   "] {
            assert_eq!(order().immediate(Some(blank)).checked().unwrap_err().to_string(), IMMEDIATE_NEEDS_REASON);
            let mut o = order();
            o.reason = blank.into();
            assert!(o.checked().unwrap_err().to_string().contains("reason is required"));
        }
    }
}
