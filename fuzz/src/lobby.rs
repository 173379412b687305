//! The lobby's command line (`broker/src/lobby.rs`): every line a vendor may type, or send as
//! `ssh VENDOR@broker COMMAND`, split into words as a shell would and parsed into a command.
//!
//! The input is text (bytes that are not UTF-8 are replaced, as the lobby does with a remote
//! command); each line is parsed on its own, and the whole input once more as one command.
//! Checked: parsing is deterministic, a parsed `request` has a device word that is not an
//! option, and its channels print as a list that parses back to the same set.

use portcullis_broker::fuzzing::{lobby_line, LobbyCommand};
use portcullis_core::domain::{ChannelSet, DeviceName};

/// Parses every line of the input, and the input as one command.
pub fn lobby(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n').chain(std::iter::once(text.as_ref())) {
        let command = lobby_line(line);
        assert_eq!(command, lobby_line(line), "parsing is deterministic");
        if let LobbyCommand::Request(args) = command {
            assert!(!args.device.starts_with('-'), "{args:?}");
            assert_eq!(ChannelSet::parse(&args.channels.to_string()).ok().as_ref(), Some(&args.channels), "{args:?}");
            if let Ok(name) = DeviceName::parse(&args.device) {
                assert_eq!(name.as_str(), args.device);
            }
        }
    }
}
