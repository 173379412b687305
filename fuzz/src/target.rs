//! The SSH user name and the tunnel rules that need no network (`broker/src/target.rs`,
//! `broker/src/tunnel.rs`): `VENDOR` or `VENDOR:DEVICE`, and for a `direct-tcpip` request the
//! host (a Portcullis device name, never an address) and the port.
//!
//! The input is `[port: u32 big-endian][user name]\n[host]` (missing parts are empty; the host
//! is the user name when there is no newline). Checked: a parsed user name prints back to the
//! same text; a host the tunnel rules accept is a valid device name equal to the text (so not
//! an address), the connection's own device when it names one, with a port of 1 to 65535 equal
//! to the one asked; the address a tunnel connects to always ends with that port.

use portcullis_broker::fuzzing::{tunnel_address, tunnel_precheck, Target};
use portcullis_core::domain::{Criticality, DeviceName, Zone};
use portcullis_core::store::DeviceRecord;
use std::net::IpAddr;

/// Parses the user name, then applies the tunnel rules to the host.
pub fn target(data: &[u8]) {
    let (port, rest) = match data.split_first_chunk::<4>() {
        Some((p, rest)) => (u32::from_be_bytes(*p), rest),
        None => (0, data),
    };
    let text = String::from_utf8_lossy(rest);
    let (user, host) = text.split_once('\n').unwrap_or((&text, &text));

    let target = Target::parse(user).ok();
    if let Some(t) = &target {
        let printed = match &t.device {
            Some(d) => format!("{}:{d}", t.user),
            None => t.user.to_string(),
        };
        assert_eq!(printed, user);
        assert_eq!(Target::parse(&printed).ok().as_ref(), Some(t));
    }
    let only = target.and_then(|t| t.device);
    for only in [None, only.as_ref()] {
        if let Ok((name, p)) = tunnel_precheck(host, port, only) {
            assert_eq!(name.as_str(), host);
            assert!(host.parse::<IpAddr>().is_err(), "{host:?} is an address");
            assert!(p > 0 && u32::from(p) == port, "{p} for {port}");
            if let Some(d) = only {
                assert_eq!(*d, name);
            }
        }
    }
    if let (Ok(p), Some(dev)) = (u16::try_from(port), device(host)) {
        if let Some(address) = tunnel_address(&dev, p) {
            assert!(address.ends_with(&format!(":{p}")), "{address:?} for port {p}");
        }
    }
}

/// A device stored with `address`.
fn device(address: &str) -> Option<DeviceRecord> {
    Some(DeviceRecord {
        id: 1,
        name: DeviceName::parse("fuzz").ok()?,
        address: address.to_owned(),
        login: "svc".into(),
        credential: Vec::new(),
        host_key: String::new(),
        criticality: Criticality::High,
        zone: Zone::parse("fuzz").ok()?,
        tcp_ports: vec![104],
        phi: false,
        disabled: false,
        created_at: 0,
    })
}
