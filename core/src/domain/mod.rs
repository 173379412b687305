//! Typed domain values, validated at the edge (CLI arguments, SSH user names, HTTP bodies)
//! so that the rest of the code never handles a raw string where a name or state is meant.

mod access;
mod channels;
mod enums;
mod ids;
mod names;
mod scope;

pub use access::{PermissionSet, ZoneSet};
pub use channels::{Channel, ChannelSet};
pub use enums::{AlertSeverity, Criticality, Permission, RequestState, Role, SessionState};
pub use ids::{GrantId, RequestId, SessionId};
pub use names::{DeviceName, NodeId, Username, Zone};
pub use scope::Scope;

/// A value that failed validation, with a message fit to show the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);
