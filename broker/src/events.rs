//! What the russh handler tells the connection task: a completed sign-in, a sign-in the store
//! cannot check, an accepted session channel, a tunnel to decide, or something forbidden to
//! audit. The handler only produces
//! these; the connection task only consumes them.

use crate::target::Target;
use portcullis_core::store::UserRecord;
use russh::server::{ChannelOpenHandle, Msg};
use russh::Channel;

/// What the handler tells the connection task.
pub(crate) enum ConnEvent {
    /// Both factors passed.
    Authenticated { user: Box<UserRecord>, target: Target },
    /// The sign-in cannot be checked because the store does not answer; the connection task
    /// tells the vendor and hangs up.
    Unavailable,
    /// A session channel was opened and accepted.
    Channel(Channel<Msg>),
    /// A tunnel was asked for; the connection task accepts or refuses it.
    Tunnel(Box<TunnelRequest>),
    /// Something forbidden was asked for; the connection task audits it.
    Refused { what: &'static str, detail: serde_json::Value },
}

/// A `direct-tcpip` open request, handed over by the handler.
pub(crate) struct TunnelRequest {
    pub channel: Channel<Msg>,
    pub reply: ChannelOpenHandle,
    /// As the vendor wrote it (capped), for the audit log only.
    pub host: String,
    pub port: u32,
    pub originator: String,
    pub originator_port: u32,
}
