//! Names people type: vendor and approver user names, device names, network zones and node ids.
//! They share one rule set (lower-case ASCII letters, digits, `.`, `_`, `-`; starting with a
//! letter or digit) so that they are safe in SSH user names (`VENDOR:DEVICE`), file paths and
//! log lines, and never contain the `:` separator.

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

fn validate(kind: &str, s: &str, max: usize) -> Result<(), ParseError> {
    if s.is_empty() || s.len() > max {
        return Err(ParseError(format!("{kind} must be 1 to {max} characters long")));
    }
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let all_ok = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !all_ok {
        return Err(ParseError(format!(
            "{kind} {s:?} may only contain lower-case letters, digits, '.', '_' and '-', and must start with a letter or digit"
        )));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                validate($kind, s, $max)?;
                Ok(Self(s.to_owned()))
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
    };
}

name_type!(
    /// A Portcullis account name (vendor, approver, auditor or admin).
    Username, "user name", 32
);
name_type!(
    /// The name of a device vendors can reach, e.g. `infusion-pump-12`.
    DeviceName, "device name", 64
);
name_type!(
    /// A broker node's identity (`[node] id`, by default the host name), recorded with each
    /// session it runs so that a restart closes only what this node left open.
    NodeId, "node id", 64
);
name_type!(
    /// A network or clinical zone a device belongs to, e.g. `icu` or `radiology`.
    Zone, "zone", 64
);

impl NodeId {
    /// A node id made from a host name: lower-cased, each character a node id cannot hold
    /// replaced by `-`, cut to 64 characters; `localhost` when nothing usable is left.
    pub fn from_host_name(host: &str) -> NodeId {
        let mut id: String = host
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') { c } else { '-' })
            .take(64)
            .collect();
        id = id.trim_start_matches(['.', '_', '-']).to_owned();
        if id.is_empty() {
            id = "localhost".to_owned();
        }
        NodeId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(Username::parse("jdoe").map(|u| u.to_string()), Ok("jdoe".into()));
        assert!(DeviceName::parse("infusion-pump-12").is_ok());
        assert!(Zone::parse("icu.3").is_ok());
    }

    #[test]
    fn refuses_hostile_names() {
        for bad in ["", "JDoe", "a:b", "-x", "a b", "x;drop", "../etc", "é", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(DeviceName::parse(&"d".repeat(65)).is_err());
    }

    #[test]
    fn a_host_name_becomes_a_valid_node_id() {
        for (host, want) in [("broker-1", "broker-1"), ("Broker-1.Hospital.org", "broker-1.hospital.org"), ("-x y", "x-y"), ("", "localhost"), ("é", "localhost")] {
            let id = NodeId::from_host_name(host);
            assert_eq!(id.as_str(), want, "{host:?}");
            assert!(NodeId::parse(id.as_str()).is_ok(), "{host:?} gave {id}");
        }
        assert_eq!(NodeId::from_host_name(&"h".repeat(100)).as_str().len(), 64);
    }

    #[test]
    fn serde_validates() {
        let bad: Result<Username, _> = serde_json::from_str("\"A:B\"");
        assert!(bad.is_err());
        let good: Username = serde_json::from_str("\"ok\"").unwrap_or_else(|_| unreachable!());
        assert_eq!(good.as_str(), "ok");
    }
}
