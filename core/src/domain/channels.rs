//! What a grant lets a vendor open on a device: a terminal (`shell`, which also covers a
//! single command), file transfer over SFTP (`files`), and TCP tunnels to listed ports
//! (`tcp:104`). A request names the channels it asks for, an approval grants those or fewer,
//! and the broker opens nothing else. Written `shell,files,tcp:104`, always in that order.

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One kind of channel a grant can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// An interactive terminal or one command (`ssh VENDOR:DEVICE@broker [COMMAND]`).
    Shell,
    /// File transfer through the `sftp` subsystem (also what modern `scp` uses).
    Files,
    /// A TCP tunnel (`ssh -L`) to this port on the device's own address.
    Tcp(u16),
}

impl Channel {
    /// Parses `shell`, `files` or `tcp:PORT` (PORT from 1 to 65535).
    pub fn parse(s: &str) -> Result<Channel, ParseError> {
        match s.trim() {
            "shell" => Ok(Channel::Shell),
            "files" => Ok(Channel::Files),
            other => {
                let port = other.strip_prefix("tcp:").ok_or_else(|| {
                    ParseError(format!("unknown channel {other:?} (expected shell, files or tcp:PORT)"))
                })?;
                match port.parse::<u16>() {
                    Ok(p) if p > 0 && !port.starts_with('+') && !port.starts_with('0') => Ok(Channel::Tcp(p)),
                    _ => Err(ParseError(format!("{port:?} is not a TCP port (1 to 65535)"))),
                }
            }
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Shell => f.write_str("shell"),
            Channel::Files => f.write_str("files"),
            Channel::Tcp(p) => write!(f, "tcp:{p}"),
        }
    }
}

/// A non-empty set of channels, e.g. `shell,files,tcp:104`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelSet(BTreeSet<Channel>);

/// Most channels one set may name (a device lists only a few ports).
const MAX_CHANNELS: usize = 32;

impl ChannelSet {
    /// Only a terminal: what a request without channel options asks for, and what requests
    /// and grants made before channels existed hold.
    pub fn shell() -> ChannelSet {
        ChannelSet([Channel::Shell].into_iter().collect())
    }

    /// Builds a set from channels; an empty list is refused.
    pub fn from_channels(channels: impl IntoIterator<Item = Channel>) -> Result<ChannelSet, ParseError> {
        let set: BTreeSet<Channel> = channels.into_iter().collect();
        if set.is_empty() {
            return Err(ParseError("name at least one channel (shell, files or tcp:PORT)".into()));
        }
        if set.len() > MAX_CHANNELS {
            return Err(ParseError(format!("at most {MAX_CHANNELS} channels")));
        }
        Ok(ChannelSet(set))
    }

    /// Parses a comma-separated list such as `shell,files,tcp:104`.
    pub fn parse(s: &str) -> Result<ChannelSet, ParseError> {
        let items = s.split(',').filter(|p| !p.trim().is_empty()).map(Channel::parse).collect::<Result<Vec<_>, _>>()?;
        ChannelSet::from_channels(items)
    }

    /// Whether the set names `c`.
    pub fn contains(&self, c: Channel) -> bool {
        self.0.contains(&c)
    }

    /// The channels, in display order.
    pub fn iter(&self) -> impl Iterator<Item = Channel> + '_ {
        self.0.iter().copied()
    }

    /// Whether every channel here is also in `other`.
    pub fn is_subset(&self, other: &ChannelSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The channels in both sets, or `None` when they share none.
    pub fn intersection(&self, other: &ChannelSet) -> Option<ChannelSet> {
        ChannelSet::from_channels(self.0.intersection(&other.0).copied()).ok()
    }

    /// Refuses TCP ports the device does not list.
    pub fn check_ports(&self, allowed: &[u16]) -> Result<(), ParseError> {
        let bad: Vec<String> = self
            .iter()
            .filter_map(|c| match c {
                Channel::Tcp(p) if !allowed.contains(&p) => Some(p.to_string()),
                _ => None,
            })
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        let listed = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        };
        Err(ParseError(format!("TCP port {} is not open on this device (allowed: {listed})", bad.join(", "))))
    }
}

impl fmt::Display for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.0.iter().map(Channel::to_string).collect();
        f.write_str(&words.join(","))
    }
}

impl std::str::FromStr for ChannelSet {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ChannelSet {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<ChannelSet> for String {
    fn from(c: ChannelSet) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ChannelSet {
        ChannelSet::parse(s).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn round_trips_in_a_fixed_order() {
        assert_eq!(set("tcp:443, files,shell,tcp:104").to_string(), "shell,files,tcp:104,tcp:443");
        assert_eq!(set("shell,shell").to_string(), "shell");
        assert_eq!(ChannelSet::shell().to_string(), "shell");
        assert!(set("files,tcp:104").contains(Channel::Tcp(104)));
        assert!(!set("files,tcp:104").contains(Channel::Shell));
    }

    #[test]
    fn refuses_bad_words() {
        for bad in ["", ",", "tcp", "tcp:", "tcp:0", "tcp:65536", "tcp:-1", "tcp:+5", "tcp:080", "udp:53", "Shell", "tcp:1 04", "x11"] {
            assert!(ChannelSet::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn subsets_and_intersections() {
        let asked = set("shell,files,tcp:104");
        assert!(set("tcp:104").is_subset(&asked));
        assert!(!set("tcp:443").is_subset(&asked));
        assert_eq!(asked.intersection(&set("files,tcp:443")), Some(set("files")));
        assert_eq!(asked.intersection(&set("tcp:443")), None);
    }

    #[test]
    fn ports_checked_against_the_device() {
        assert!(set("shell,tcp:104").check_ports(&[104, 443]).is_ok());
        let e = set("tcp:22,tcp:104").check_ports(&[104]).err().map(|e| e.0).unwrap_or_default();
        assert!(e.contains("22") && e.contains("allowed: 104"), "{e}");
        assert!(set("files").check_ports(&[]).is_ok());
    }

    #[test]
    fn serde_validates() {
        let bad: Result<ChannelSet, _> = serde_json::from_str("\"tcp:0\"");
        assert!(bad.is_err());
        let good: ChannelSet = serde_json::from_str("\"files,shell\"").unwrap_or_else(|_| unreachable!());
        assert_eq!(serde_json::to_string(&good).unwrap_or_default(), "\"shell,files\"");
    }
}
