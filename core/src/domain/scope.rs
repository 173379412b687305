//! What a containment order closes: one network zone (every device in it) or one device. Typed
//! so that the store, the decision service and every interface agree on its two forms and on
//! the text they show (`zone icu`, `device pump-12`).

use super::{DeviceName, ParseError, Zone};
use serde::Serialize;
use std::fmt;

/// A zone or one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Scope {
    Zone(Zone),
    Device(DeviceName),
}

impl Scope {
    /// `zone` or `device`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Zone(_) => "zone",
            Scope::Device(_) => "device",
        }
    }

    /// The zone's or the device's name.
    pub fn name(&self) -> &str {
        match self {
            Scope::Zone(z) => z.as_str(),
            Scope::Device(d) => d.as_str(),
        }
    }

    /// A scope from its stored (or typed) kind and name.
    pub fn parse(kind: &str, name: &str) -> Result<Scope, ParseError> {
        match kind {
            "zone" => Ok(Scope::Zone(Zone::parse(name)?)),
            "device" => Ok(Scope::Device(DeviceName::parse(name)?)),
            other => Err(ParseError(format!("a containment covers a zone or a device, not {other:?}"))),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_scope_reads_back_from_its_kind_and_name() {
        for (kind, name, text) in [("zone", "icu", "zone icu"), ("device", "pump-12", "device pump-12")] {
            let s = Scope::parse(kind, name).unwrap();
            assert_eq!((s.kind(), s.name(), s.to_string().as_str()), (kind, name, text));
        }
        assert_eq!(serde_json::to_value(Scope::parse("zone", "icu").unwrap()).unwrap(), serde_json::json!({"kind": "zone", "name": "icu"}));
        assert!(Scope::parse("ward", "icu").is_err());
        assert!(Scope::parse("zone", "ICU; drop").is_err());
    }
}
