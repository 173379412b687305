//! What the SSH user name asks for: `VENDOR` opens the lobby, `VENDOR:DEVICE` goes to one
//! device. Both halves are validated domain names, so nothing else reaches the store.

use portcullis_core::domain::{DeviceName, ParseError, Username};

/// The parsed SSH user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Username,
    pub device: Option<DeviceName>,
}

impl Target {
    /// Parses `VENDOR` or `VENDOR:DEVICE`.
    pub fn parse(ssh_user: &str) -> Result<Target, ParseError> {
        match ssh_user.split_once(':') {
            None => Ok(Target { user: Username::parse(ssh_user)?, device: None }),
            Some((u, d)) => Ok(Target { user: Username::parse(u)?, device: Some(DeviceName::parse(d)?) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let t = Target::parse("jdoe:infusion-pump-12").unwrap_or_else(|_| unreachable!());
        assert_eq!(t.user.as_str(), "jdoe");
        assert_eq!(t.device.map(|d| d.to_string()), Some("infusion-pump-12".into()));
        assert_eq!(Target::parse("jdoe").map(|t| t.device), Ok(None));
    }

    #[test]
    fn refuses_odd_names() {
        for bad in ["", ":", "jdoe:", ":pump", "jdoe:pump:x", "Jdoe", "jdoe:../etc", "root;id"] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }
}
