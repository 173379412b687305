//! Numeric identifiers of requests, grants and sessions, as distinct types so that a request
//! id is never passed where a session id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = super::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim_start_matches('#');
                s.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Self)
                    .ok_or_else(|| super::ParseError(format!("{s:?} is not a valid id")))
            }
        }
    };
}

id_type!(
    /// An access request made by a vendor for one device.
    RequestId
);
id_type!(
    /// A time-bound grant created when a request has all the approvals its policy needs.
    GrantId
);
id_type!(
    /// One vendor connection to one device through the broker.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_or_without_hash() {
        assert_eq!("#42".parse::<RequestId>(), Ok(RequestId(42)));
        assert_eq!("7".parse::<SessionId>(), Ok(SessionId(7)));
        assert!("0".parse::<RequestId>().is_err());
        assert!("-1".parse::<RequestId>().is_err());
        assert!("1; DROP".parse::<RequestId>().is_err());
    }
}
