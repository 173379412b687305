//! Fuzz targets for every parser of Portcullis that reads what someone else wrote: the SFTP
//! watcher ([`sftp`]), the lobby's command line ([`lobby`]), the SSH user name and the tunnel
//! rules ([`target`]), the asciicast reader ([`asciicast`]), the evidence bundle verifier
//! ([`evidence`]) and the config loader ([`config`]).
//!
//! Each target is one function taking arbitrary bytes. It feeds them to the product's own
//! code and checks what must hold whatever the input (state within its caps, results that
//! agree with themselves); it returns normally for every input unless it found a bug, in
//! which case it panics, which the fuzzer records as a crash. The AFL++ binaries
//! (`src/bin/`, feature `afl`) call these functions; so does the replay test
//! (`tests/replay.rs`), which runs every committed corpus and regression input in the normal
//! test suite. `scripts/fuzz.sh` builds and runs one target.

mod asciicast;
mod config;
mod evidence;
mod lobby;
mod sftp;
mod target;

pub use asciicast::asciicast;
pub use config::config;
pub use evidence::evidence;
pub use lobby::lobby;
pub use sftp::{frame as sftp_frame, sftp};
pub use target::target;

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// The targets by name, as `scripts/fuzz.sh` and the corpus folders name them.
pub const TARGETS: [(&str, Target); 6] = [
    ("sftp", sftp),
    ("lobby", lobby),
    ("target", target),
    ("asciicast", asciicast),
    ("evidence", evidence),
    ("config", config),
];
