//! The PROXY protocol v2 (the binary header HAProxy sends with `send-proxy-v2`) on a listener.
//! A connection whose peer is one of the configured trusted proxies must begin with a valid
//! header, read within a deadline and a length bound; the client address it carries becomes the
//! connection's peer. A `LOCAL` header (HAProxy's own health checks) or one with no IP address
//! leaves the proxy as the peer. A connection from any other address is never parsed: its
//! bytes are the protocol itself, so a client cannot claim an address by sending a header.
//! Parsing is the `ppp` crate's; this module only bounds the reading and decides trust.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ppp::v2::{Addresses, Command, Header};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// The fixed part of a v2 header: the 12-byte signature, version and command, family and
/// protocol, and the length of what follows.
const FIXED_LEN: usize = 16;
/// The 12-byte signature that opens every v2 header.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Most bytes after the fixed part: the largest address block (two UNIX paths, 216 bytes)
/// plus room for the TLVs HAProxy sends. A longer header is refused before it is read.
pub const MAX_PAYLOAD: usize = 512;
/// The header deadline unless `[proxy] header_timeout` says otherwise.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// An address block: an IP address and the number of leading bits that must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this block (an IPv4 address seen as IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net.get(..full) != ip.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (net.get(full), ip.get(full)) {
        (Some(n), Some(i)) => n & mask == i & mask,
        _ => false,
    }
}

impl FromStr for Cidr {
    type Err = String;
    /// `ADDR/BITS`, or a bare address (one host).
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net = addr.trim().parse::<IpAddr>().map_err(|_| format!("{s:?} is not an address or ADDR/BITS block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match bits {
            None => max,
            Some(b) => b.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who may send a PROXY header, how long it may take, and how many were refused.
#[derive(Debug)]
pub struct ProxyRule {
    trusted: Vec<Cidr>,
    deadline: Duration,
    refused: AtomicU64,
}

impl ProxyRule {
    /// Headers from peers in `trusted`, each read within `deadline`.
    pub fn new(trusted: Vec<Cidr>, deadline: Duration) -> ProxyRule {
        ProxyRule { trusted, deadline, refused: AtomicU64::new(0) }
    }

    /// Whether a connection from `ip` must begin with a header.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// Connections from a trusted proxy closed for a missing, bad or late header.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The peer a connection from `peer` stands for: `peer` itself when it is not a trusted
    /// proxy (nothing is read); otherwise the client address in the header it must send first,
    /// or `peer` for a `LOCAL` header. Nothing past the header is read.
    pub async fn resolve<R: AsyncRead + Unpin>(&self, stream: &mut R, peer: SocketAddr) -> Result<SocketAddr, Refusal> {
        if !self.trusts(peer.ip()) {
            return Ok(peer);
        }
        let read = tokio::time::timeout(self.deadline, read_header(stream)).await;
        let result = match read {
            Ok(Ok(Some(client))) => Ok(client),
            Ok(Ok(None)) => Ok(peer),
            Ok(Err(why)) => Err(why),
            Err(_) => Err(Refusal::Timeout),
        };
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// Why a connection from a trusted proxy was closed before it was served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no PROXY v2 header within the deadline")]
    Timeout,
    #[error("the connection ended or failed before a whole PROXY v2 header: {0}")]
    Io(std::io::ErrorKind),
    #[error("the connection does not begin with a PROXY v2 signature")]
    NotProxy,
    #[error("PROXY v2 header of {0} bytes is over the limit")]
    TooLong(usize),
    #[error("malformed PROXY v2 header: {0}")]
    Malformed(String),
}

/// Reads exactly one v2 header from `stream`: the client's address for a `PROXY` command over
/// IPv4 or IPv6, `None` for `LOCAL` or an address family without an IP address. TLVs are
/// skipped unread.
pub async fn read_header<R: AsyncRead + Unpin>(stream: &mut R) -> Result<Option<SocketAddr>, Refusal> {
    let mut buf = vec![0u8; FIXED_LEN];
    stream.read_exact(&mut buf).await.map_err(|e| Refusal::Io(e.kind()))?;
    if buf.get(..SIGNATURE.len()) != Some(&SIGNATURE[..]) {
        return Err(Refusal::NotProxy);
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_PAYLOAD {
        return Err(Refusal::TooLong(FIXED_LEN + len));
    }
    buf.resize(FIXED_LEN + len, 0);
    stream.read_exact(&mut buf[FIXED_LEN..]).await.map_err(|e| Refusal::Io(e.kind()))?;
    let header = Header::try_from(&buf[..]).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(None);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
        Addresses::IPv6(a) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
        Addresses::Unspecified | Addresses::Unix(_) => None,
    })
}

#[cfg(test)]
mod tests;
