//! Entry points for the fuzz targets (crate `portcullis-fuzz`, `fuzz/`): thin wrappers that
//! let arbitrary bytes reach the crate's private parsers — the SFTP watcher, the lobby's
//! command line, the SSH user name and the tunnel rules that need no store. Not an API:
//! nothing in Portcullis calls these, and they change nothing about how the parsers behave.

use crate::sftp::{Load, Watch};
use portcullis_core::domain::DeviceName;
use portcullis_core::store::DeviceRecord;

pub use crate::lobby::{Command as LobbyCommand, RequestArgs};
pub use crate::sftp::{Load as SftpLoad, MAX_HANDLES as SFTP_MAX_HANDLES, MAX_HELD_ALL as SFTP_MAX_HELD_ALL, MAX_PENDING as SFTP_MAX_PENDING};
pub use crate::target::Target;

/// The watcher of one SFTP channel, as the bridge drives it: bytes from the vendor's client
/// (requests) and from the device's server (responses), in the order they pass.
#[derive(Default)]
pub struct SftpWatch {
    watch: Watch,
}

/// An audit row the watcher made: its kind's wire string and its detail.
pub type SftpRow = (&'static str, serde_json::Value);

impl SftpWatch {
    /// Bytes from the vendor's client. `Err` names the anomaly that ends the channel.
    pub fn vendor_bytes(&mut self, data: &[u8]) -> Result<Vec<SftpRow>, &'static str> {
        self.parse(data, true)
    }

    /// Bytes from the device's server.
    pub fn device_bytes(&mut self, data: &[u8]) -> Result<Vec<SftpRow>, &'static str> {
        self.parse(data, false)
    }

    fn parse(&mut self, data: &[u8], request: bool) -> Result<Vec<SftpRow>, &'static str> {
        match self.watch.parse(data, request) {
            Ok(rows) => Ok(rows.into_iter().map(|(k, d)| (k.as_str(), d)).collect()),
            Err(a) => Err(a.why()),
        }
    }

    /// The rows for files still open when the channel ends.
    pub fn finish(&mut self) -> Vec<SftpRow> {
        self.watch.finish().into_iter().map(|(k, d)| (k.as_str(), d)).collect()
    }

    /// What the watcher holds now.
    pub fn load(&self) -> Load {
        self.watch.load()
    }
}

/// Parses a lobby command line as the lobby does.
pub fn lobby_line(line: &str) -> LobbyCommand {
    crate::lobby::parse_line(line)
}

/// The tunnel rules that need neither the store nor the network: the device name and port
/// a `direct-tcpip` request may go on with, or the refusal's reason.
pub fn tunnel_precheck(host: &str, port: u32, only: Option<&DeviceName>) -> Result<(DeviceName, u16), String> {
    crate::tunnel::precheck(host, port, only).map_err(|r| r.reason)
}

/// The address a tunnel to `port` of a device stored with `address` connects to.
pub fn tunnel_address(dev: &DeviceRecord, port: u16) -> Option<String> {
    crate::tunnel::device_target(dev, port)
}
