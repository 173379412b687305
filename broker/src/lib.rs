//! The SSH side of Portcullis. Vendors connect with a plain OpenSSH client; this crate
//! authenticates them (key, then a TOTP code), holds them at the approval gate until a grant
//! covers the device they named, connects to the device itself with the vaulted credential
//! after checking its pinned host key, bridges and records every channel, and closes
//! everything when the window ends, the grant is revoked or an operator stops the session.
//!
//! Layout by phase, from the top down (a module only uses modules listed after it; none
//! uses one that uses it back):
//! - [`server`] accepts connections and applies the caps;
//! - [`conn`] runs one connection: waits for the sign-in, builds the state, hands channels
//!   and tunnels to their tasks, starts the window watch, ends the session;
//! - [`handler`] is the russh adapter (authentication, refusals);
//! - [`channel`] sets up each session channel; [`lobby`] is the vendor's small command
//!   shell; [`tunnel`] decides and bridges `ssh -L` tunnels;
//! - [`gate`] is the approval wait; [`window`] enforces the grant's end, on the verdicts
//!   [`fanout`] reads once per change for every connection of the node;
//! - [`bridge`] moves and records bytes; [`recording`] starts and seals recordings;
//!   [`session`] writes the brokered session's start and end;
//! - leaves, which use no other module of this crate: [`state`] (the per-connection state
//!   every task shares, and the terminal recording tap), [`shared`] (what all connections
//!   share: [`Broker`]), [`events`] (what the handler tells the connection task), [`kind`]
//!   (what a session channel asks to run), [`fanout`] (the node's one reader of control
//!   state), [`target`] (the SSH user name), [`prompt`]
//!   (talking to a vendor before bridging), [`device`] (the client towards the device),
//!   [`cutoff`] (a vendor's socket the connection can cut while the SSH layer owns it) and
//!   [`sftp`] (watching file transfers).
//!
//! `fuzzing` (hidden) lets the fuzz targets reach the private parsers; nothing here uses it.

mod algorithms;
mod bridge;
mod channel;
mod conn;
mod cutoff;
mod device;
mod emergency;
mod events;
mod fanout;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod handler;
mod hint;
mod kind;
mod lobby;
mod moderated;
mod pace;
mod prompt;
mod recording;
mod server;
mod session;
mod sftp;
mod shared;
mod socket;
mod startups;
mod state;
mod target;
mod tunnel;
mod window;
mod words;

#[cfg(test)]
mod testkit;

pub use server::run;
pub use shared::{Broker, BrokerError};
