//! The commands the broker suggests to a vendor, written with the real host and port the
//! vendor reaches the broker on ([`Entry`]) and the right tool for what a grant allows: `ssh`
//! for a terminal, `sftp`/`scp` for files (their user option carries `VENDOR:DEVICE`, since
//! they would read the `:` in `jdoe:pump@host` as the start of a path), `ssh -N -L` with the
//! device's real port for a tunnel. Also the `~/.ssh/config` block of the lobby's `config`
//! command, after which `ssh DEVICE`, `scp FILE DEVICE:PATH` and `sftp DEVICE` just work.

use crate::state::Entry;
use portcullis_core::domain::{Channel, ChannelSet, Username};
use std::fmt::{Display, Write};

/// Suggested commands for one vendor.
pub(crate) struct Hints<'a> {
    entry: &'a Entry,
    user: &'a Username,
}

impl<'a> Hints<'a> {
    pub(crate) fn new(entry: &'a Entry, user: &'a Username) -> Hints<'a> {
        Hints { entry, user }
    }

    /// ` -p PORT` (or ` -P PORT` for `flag = "-P"`), nothing for port 22.
    fn port(&self, flag: &str) -> String {
        if self.entry.port == 22 { String::new() } else { format!(" {flag} {}", self.entry.port) }
    }

    /// The host as `sftp` and `scp` need it: an IPv6 address in brackets.
    fn file_host(&self) -> String {
        if self.entry.host.contains(':') { format!("[{}]", self.entry.host) } else { self.entry.host.clone() }
    }

    /// `ssh -p PORT VENDOR@HOST`: the lobby (append a command to run one).
    pub(crate) fn lobby(&self) -> String {
        format!("ssh{} {}@{}", self.port("-p"), self.user, self.entry.host)
    }

    /// `ssh -p PORT VENDOR:DEVICE@HOST`: a terminal on the device.
    pub(crate) fn terminal(&self, dev: impl Display + Copy) -> String {
        format!("ssh{} {}:{dev}@{}", self.port("-p"), self.user, self.entry.host)
    }

    /// `sftp -P PORT -o User=VENDOR:DEVICE HOST`.
    pub(crate) fn sftp(&self, dev: impl Display + Copy) -> String {
        format!("sftp{} -o User={}:{dev} {}", self.port("-P"), self.user, self.file_host())
    }

    /// `scp -P PORT -o User=VENDOR:DEVICE FILE HOST:PATH`.
    pub(crate) fn scp(&self, dev: impl Display + Copy) -> String {
        format!("scp{} -o User={}:{dev} FILE {}:PATH", self.port("-P"), self.user, self.file_host())
    }

    /// `ssh -p PORT -N -L LOCAL:DEVICE:PORT VENDOR@HOST`, then `localhost:LOCAL`.
    pub(crate) fn tunnel(&self, dev: impl Display + Copy, port: u16) -> String {
        self.tunnel_to(&local_port(port).to_string(), &dev.to_string(), &port.to_string())
    }

    /// [`Hints::tunnel`] with any words in place of the ports and device (for help texts).
    pub(crate) fn tunnel_to(&self, local: &str, dev: &str, port: &str) -> String {
        format!("ssh{} -N -L {local}:{dev}:{port} {}@{}", self.port("-p"), self.user, self.entry.host)
    }

    /// The command for one channel of a grant.
    pub(crate) fn channel(&self, dev: impl Display + Copy, c: Channel) -> String {
        match c {
            Channel::Shell => self.terminal(dev),
            Channel::Files => format!("{}   (or {})", self.sftp(dev), self.scp(dev)),
            Channel::Tcp(p) => format!("{}   (then localhost:{})", self.tunnel(dev, p), local_port(p)),
        }
    }

    /// One indented line per channel: what to run for each thing `channels` allows.
    pub(crate) fn channels(&self, dev: impl Display + Copy, channels: &ChannelSet) -> String {
        let mut out = String::new();
        for c in channels.iter() {
            let what = match c {
                Channel::Shell => "terminal:",
                Channel::Files => "files:",
                Channel::Tcp(_) => "tunnel:",
            };
            let _ = writeln!(out, "  {what:<10}{}", self.channel(dev, c));
        }
        out
    }

    /// The `~/.ssh/config` block for `dev`: its name as the host alias, the broker's host and
    /// port, `User VENDOR:DEVICE`, and comments naming the enrolled keys (`fingerprints`) and
    /// the commands that then work for what `channels` allows.
    pub(crate) fn ssh_config(&self, dev: impl Display + Copy, channels: &ChannelSet, fingerprints: &[String]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Host {dev}");
        let _ = writeln!(out, "    HostName {}", self.entry.host);
        let _ = writeln!(out, "    Port {}", self.entry.port);
        let _ = writeln!(out, "    User {}:{dev}", self.user);
        let keys = if fingerprints.is_empty() { "none enrolled".to_owned() } else { fingerprints.join(", ") };
        let _ = writeln!(out, "    # IdentityFile ~/.ssh/YOUR_KEY   (the private half of a key enrolled for {}: {keys})", self.user);
        for c in channels.iter() {
            let line = match c {
                Channel::Shell => format!("ssh {dev}"),
                Channel::Files => format!("sftp {dev}   or   scp FILE {dev}:PATH"),
                Channel::Tcp(p) => format!("ssh -N -L {}:{dev}:{p} {dev}   (then localhost:{})", local_port(p), local_port(p)),
            };
            let _ = writeln!(out, "    #   {line}");
        }
        out
    }
}

/// The local port suggested for a tunnel to `port`: the same number, or 10000 more for a
/// port below 1024 (which only root may listen on).
pub(crate) fn local_port(port: u16) -> u16 {
    if port >= 1024 { port } else { port.saturating_add(10000) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use portcullis_core::domain::DeviceName;

    fn names() -> (Username, DeviceName) {
        (Username::parse("jdoe").unwrap(), DeviceName::parse("pump-12").unwrap())
    }

    #[test]
    fn commands_name_the_real_port_and_the_right_tool() {
        let (user, dev) = names();
        let entry = Entry { host: "broker.example".into(), port: 2222 };
        let h = Hints::new(&entry, &user);
        assert_eq!(h.terminal(&dev), "ssh -p 2222 jdoe:pump-12@broker.example");
        assert_eq!(h.sftp(&dev), "sftp -P 2222 -o User=jdoe:pump-12 broker.example");
        assert_eq!(h.scp(&dev), "scp -P 2222 -o User=jdoe:pump-12 FILE broker.example:PATH");
        assert_eq!(h.tunnel(&dev, 443), "ssh -p 2222 -N -L 10443:pump-12:443 jdoe@broker.example");
        assert_eq!(h.tunnel(&dev, 8080), "ssh -p 2222 -N -L 8080:pump-12:8080 jdoe@broker.example");
        let files = h.channels(&dev, &ChannelSet::parse("files").unwrap());
        assert!(files.contains("sftp -P 2222") && !files.contains("ssh -p"), "{files}");
        let entry = Entry { host: "fd00::5".into(), port: 22 };
        let h = Hints::new(&entry, &user);
        assert_eq!(h.lobby(), "ssh jdoe@fd00::5");
        assert_eq!(h.sftp(&dev), "sftp -o User=jdoe:pump-12 [fd00::5]");
    }

    #[test]
    fn ssh_config_block() {
        let (user, dev) = names();
        let entry = Entry { host: "127.0.0.1".into(), port: 40022 };
        let block = Hints::new(&entry, &user).ssh_config(&dev, &ChannelSet::parse("shell,files,tcp:104").unwrap(), &["SHA256:abc".into()]);
        let settings: Vec<&str> = block.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
        assert_eq!(settings, ["Host pump-12", "HostName 127.0.0.1", "Port 40022", "User jdoe:pump-12"]);
        assert!(block.contains("SHA256:abc"), "{block}");
        assert!(block.contains("ssh -N -L 10104:pump-12:104 pump-12"), "{block}");
    }
}
