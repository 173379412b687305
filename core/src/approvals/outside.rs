//! What a device's maintenance windows do to a decision: outside them a request is refused
//! (naming the next opening), needs one more approver or needs a clinical sign-off, as the
//! policy says; inside one, the grant ends when the window closes. One helper for filing and approving, so both read the
//! windows the same way.

use crate::config::OutsideWindow;
use crate::maintenance::WindowStatus;
use serde_json::{json, Value};

/// A device's windows at the instant a request or grant would start, with the policy's mode.
#[derive(Debug, Clone)]
pub(super) struct WindowCheck {
    pub status: WindowStatus,
    pub mode: OutsideWindow,
}

impl WindowCheck {
    pub fn new(status: WindowStatus, mode: OutsideWindow) -> Self {
        Self { status, mode }
    }

    fn outside(&self) -> bool {
        matches!(self.status, WindowStatus::Outside(_))
    }

    /// The refusal, when the device is outside its windows and the policy refuses there.
    pub fn refusal(&self, device: &str) -> Option<String> {
        (self.outside() && self.mode == OutsideWindow::Refuse).then(|| format!("{device} takes vendor access only in its maintenance windows: {}", self.status.describe()))
    }

    /// Approvers needed beyond the rule's.
    pub fn extra_approvers(&self) -> i64 {
        i64::from(self.outside() && self.mode == OutsideWindow::ExtraApprover)
    }

    /// Whether a grant starting at this instant needs a clinical sign-off among its approvers.
    pub fn needs_signoff(&self) -> bool {
        self.outside() && self.mode == OutsideWindow::ClinicalSignoff
    }

    /// A grant's end: never past the end of the window it starts in. Also says whether it was cut.
    pub fn clip(&self, ends_at: i64) -> (i64, bool) {
        match &self.status {
            WindowStatus::Inside(o) if o.ends_at < ends_at => (o.ends_at, true),
            _ => (ends_at, false),
        }
    }

    /// The `maintenance_window` field of the audit rows.
    pub fn audit(&self) -> Value {
        let mut facts = self.status.audit();
        if self.outside() {
            facts["policy"] = json!(self.mode.as_str());
        }
        facts
    }
}
