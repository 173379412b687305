//! Closed sets of values: account roles, device criticality, request and session states.
//! Each is stored and shown as a fixed lower-case word.

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored and displayed word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            /// Parses the stored word.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(ParseError(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        s,
                        [$($word),+].join(", ")
                    ))),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> { Self::parse(s) }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> { Self::parse(&s) }
        }
        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }
    };
}

word_enum!(
    /// What an account may do.
    Role, "role", {
        /// Connects to devices over SSH after approval.
        Vendor => "vendor",
        /// Approves or denies access requests.
        Approver => "approver",
        /// Reads sessions, recordings and the audit log.
        Auditor => "auditor",
        /// Enrols users and devices; may also approve.
        Admin => "admin",
    }
);

word_enum!(
    /// How much harm an unexpected change to a device could do to a patient.
    Criticality, "criticality", {
        /// Sustains or directly affects a patient's life (ventilator, infusion pump).
        LifeCritical => "life-critical",
        /// Clinically important but not immediately life-sustaining.
        High => "high",
        /// Everything else.
        Standard => "standard",
    }
);

word_enum!(
    /// How much an alert matters for patients, from a device's criticality and zone
    /// (`[alerts.severity]`, `[alerts.zones]`). Ordered from the most to the least urgent.
    AlertSeverity, "alert severity", {
        /// A life-critical device or a zone that treats patients now: act at once.
        Critical => "critical",
        /// Clinically important equipment: act within the shift.
        High => "high",
        /// Standard equipment, or an alert about an account rather than a device.
        Medium => "medium",
        /// Worth a look.
        Low => "low",
    }
);

impl AlertSeverity {
    /// Its rank: 0 for critical, 3 for low (a smaller number is more urgent).
    pub fn rank(self) -> u8 {
        match self {
            AlertSeverity::Critical => 0,
            AlertSeverity::High => 1,
            AlertSeverity::Medium => 2,
            AlertSeverity::Low => 3,
        }
    }

    /// The more urgent of the two.
    pub fn max(self, other: AlertSeverity) -> AlertSeverity {
        if other.rank() < self.rank() { other } else { self }
    }
}

word_enum!(
    /// Where an access request stands.
    RequestState, "request state", {
        /// Waiting for (more) approvals.
        Pending => "pending",
        /// Approved; a grant exists.
        Approved => "approved",
        /// Denied by an approver.
        Denied => "denied",
        /// Nobody decided in time.
        Expired => "expired",
        /// Approved, then revoked.
        Revoked => "revoked",
    }
);

word_enum!(
    /// Whether a brokered session is still running.
    SessionState, "session state", {
        /// Connected to the device.
        Active => "active",
        /// Finished, stopped or cut at the end of the window.
        Ended => "ended",
    }
);

word_enum!(
    /// A right an account holds only when it is granted explicitly: no role carries one by
    /// itself, an administrator included (least privilege: whoever enrols devices and accounts
    /// has no need to see patients' screens, and may grant the right to whoever does, on the
    /// record). New rights are added here as words.
    Permission, "permission", {
        /// Replay, download, watch and export the sessions of devices tagged `phi`, whose
        /// screens can show patient data.
        Phi => "phi",
        /// Open an emergency session without a prior approval, stating an incident reference
        /// and a reason; the only right a vendor account may hold (see [`crate::breakglass`]).
        BreakGlass => "break-glass",
        /// Give the clinical sign-off that a request outside its device's maintenance windows
        /// needs under `outside_window = "clinical-signoff"`; only an account that approves
        /// (approver, admin) may hold it.
        ClinicalSignoff => "clinical-signoff",
    }
);

impl Role {
    /// Whether this role may approve requests (policy may narrow this further).
    pub fn may_approve(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_word() {
        for c in Criticality::ALL {
            assert_eq!(Criticality::parse(c.as_str()), Ok(*c));
        }
        for s in RequestState::ALL {
            assert_eq!(s.as_str().parse::<RequestState>(), Ok(*s));
        }
        assert!(Role::parse("root").is_err());
        assert!(Criticality::parse("LIFE-CRITICAL").is_err());
        assert!(Role::Admin.may_approve() && !Role::Vendor.may_approve());
    }
}
