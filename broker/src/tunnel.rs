//! TCP tunnels (`ssh -L LOCAL:DEVICE:PORT`, `ssh -W DEVICE:PORT`): a `direct-tcpip` channel
//! is opened only when DEVICE is the Portcullis name of a device the vendor holds a current
//! grant for, and `tcp:PORT` is in that grant and in the device's port list. The broker then
//! connects to the device's stored address with that port — never to a name or address the
//! vendor supplied, which is not even resolved. Everything else is refused as
//! administratively prohibited and audited (`channel.refused`, `what = direct-tcpip`) before
//! any connection is attempted. The refusal's description, which OpenSSH prints as
//! `channel N: open failed: administratively prohibited: TEXT`, says why and how to reach the
//! device instead: `ssh -J`/ProxyJump through the broker asks for exactly such a tunnel (to
//! the device's SSH port), and the answer is the `VENDOR:DEVICE` user name.
//!
//! Refusals go through the connection's refusal count like every other refusal: the first
//! few are audited one by one, the rest summed up, and a connection that keeps asking is
//! closed. Every row about an admitted tunnel is written or the session ends: `tunnel.opened`
//! is written before the vendor's channel is accepted, so a tunnel that cannot be audited
//! never carries a byte.
//!
//! An admitted tunnel is recorded as pcap (created before the connection), both directions
//! are counted, and it closes with the session (window end, revocation, stop). On a moderated
//! device it opens only while input is open and closes when the vendor's input pauses (the
//! last moderator left, or one paused it): `tunnel.closed` with reason `input paused`, and a
//! notice on the vendor's terminals, kept in their recordings.
//! Back-pressure: each direction reads a bounded chunk, records it (bounded queue) and
//! writes it (the SSH window or the socket) before reading the next.

use crate::events::TunnelRequest;
use crate::state::Conn;
use crate::hint::Hints;
use crate::{moderated, recording, session};
use bytes::{BufMut, BytesMut};
use portcullis_core::audit::{Kind, Subject};
use portcullis_core::clock;
use portcullis_core::metrics::{self, StreamKind};
use portcullis_core::domain::{Channel as Granted, DeviceName};
use portcullis_core::moderation::Following;
use portcullis_core::store::{DeviceRecord, GrantRecord};
use portcullis_recorder::pcap::{Direction, FlowEnds, PcapRecorder};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelOpenFailure};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn, Instrument};

/// How long connecting to the device's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from the device's socket at a time.
const CHUNK: usize = 32 * 1024;

/// Why a tunnel is refused.
pub(crate) struct Refusal {
    pub(crate) reason: String,
    device: Option<DeviceName>,
}

fn refuse(reason: impl Into<String>) -> Refusal {
    Refusal { reason: reason.into(), device: None }
}

/// Decides, opens, bridges and closes one tunnel.
pub(crate) async fn run(conn: Arc<Conn>, req: TunnelRequest) {
    let TunnelRequest { channel, reply, host, port, originator, originator_port } = req;
    let (dev, grant, port) = match decide(&conn, &host, port).await {
        Ok(x) => x,
        Err(r) => {
            reply.reject(prohibited(refusal_text(&conn, &host, port, &r))).await;
            info!(%host, port, reason = %r.reason, "tunnel refused");
            conn.refused("direct-tcpip", json!({
                "host": host, "port": port, "reason": r.reason, "device": r.device,
                "originator": originator, "originator_port": originator_port,
            }))
            .await;
            return;
        }
    };
    let Some(_slot) = conn.tunnel_slot() else {
        reply.reject(ChannelOpenFailure::ResourceShortage).await;
        return;
    };
    let Some(session) = session::open(&conn, &grant, &dev).await else {
        reply.reject(prohibited("portcullis: this connection serves another grant (or its session cannot be recorded); reconnect".into())).await;
        conn.refused("direct-tcpip", json!({
            "host": host, "port": port, "device": dev.name,
            "reason": "this connection serves another grant (or its session cannot be recorded); reconnect",
        }))
        .await;
        return;
    };
    // A moderated device: a tunnel opens only while a moderator watches and input is not
    // paused (the vendor waits in a terminal for one to join; see `crate::moderated`), and
    // closes when input pauses. Followed from before the check, so no pause slips between.
    let moderated = conn.ctx.approvals.policy().rule(dev.criticality, &dev.zone).moderated;
    let mut room = moderated.then(|| conn.ctx.live.moderation().subscribe(session.id));
    if room.as_mut().is_some_and(|rx| !rx.borrow_and_update().input_open()) {
        let why = "this device is moderated: tunnels open only while a moderator watches the session and input is not paused";
        reply.reject(prohibited(format!("portcullis: {why}"))).await;
        conn.refused("direct-tcpip", json!({ "host": host, "port": port, "device": dev.name, "reason": why })).await;
        return;
    }
    let Some(target) = device_target(&dev, port) else {
        warn!(address = %dev.address, "the device's stored address has no host part");
        reply.reject(ChannelOpenFailure::ConnectFailed).await;
        return;
    };
    let vendor_port = u16::try_from(originator_port).unwrap_or(0);
    let ends = FlowEnds {
        client: recording::vendor_end(&conn, vendor_port),
        server: (recording::shown_v4(target.parse::<SocketAddr>().ok().map(|a| a.ip()), std::net::Ipv4Addr::new(192, 0, 2, 2)), port),
    };
    let Ok((rec, started)) = recording::start_pcap(&conn, session.id, "tunnel", ends).await else {
        reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
        return;
    };
    let n = started.n;
    let subject = Subject::Session(session.id);
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tunnel_failed(&conn, &subject, &dev, port, n, e.to_string()).await;
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            drop(rec);
            started.seal(&conn).await;
            return;
        }
        Err(_) => {
            tunnel_failed(&conn, &subject, &dev, port, n, "timed out".into()).await;
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            drop(rec);
            started.seal(&conn).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    // The row comes before the vendor's channel is accepted: a tunnel that cannot be audited
    // never carries a byte, and the session ends.
    let opened = conn
        .audit_or_end(Kind::TunnelOpened, subject.clone(), json!({
            "device": dev.name, "port": port, "channel": n, "grant": grant.id, "request": grant.request_id,
            "originator": originator, "originator_port": originator_port,
        }))
        .await;
    if !opened {
        warn!(device = %dev.name, port, channel = n, "tunnel not opened: its audit row cannot be written");
        reply.reject(ChannelOpenFailure::ConnectFailed).await;
        drop((stream, rec));
        started.seal(&conn).await;
        return;
    }
    reply.accept().await;
    info!(device = %dev.name, port, channel = n, "tunnel open");
    let counts = Counts::default();
    let reason = bridge(&conn, channel, stream, &rec, &counts, room.as_mut()).instrument(tracing::Span::current()).await;
    drop(rec);
    if reason == PAUSED {
        conn.notify_all(&moderated::closed_text(&format!("tunnel to {} port {port}", dev.name))).await;
    }
    drop(room);
    conn.audit_or_end(Kind::TunnelClosed, subject, json!({
        "device": dev.name, "port": port, "channel": n, "reason": reason,
        "bytes_to_device": counts.to_device.load(Ordering::Relaxed),
        "bytes_from_device": counts.from_device.load(Ordering::Relaxed),
    }))
    .await;
    started.seal(&conn).await;
}

async fn tunnel_failed(conn: &Conn, subject: &Subject, dev: &DeviceRecord, port: u16, n: u32, error: String) {
    warn!(device = %dev.name, port, %error, "cannot reach the device's port");
    conn.audit_or_end(Kind::TunnelFailed, subject.clone(), json!({ "device": dev.name, "port": port, "channel": n, "error": error })).await;
}

/// "Administratively prohibited", with `text` as the description the vendor's client shows.
fn prohibited(text: String) -> ChannelOpenFailure {
    ChannelOpenFailure::Other { code: ChannelOpenFailure::AdministrativelyProhibited.code(), reason: text }
}

/// What the vendor is told about a refused tunnel: why, and how to reach a device instead,
/// since `ssh -J` (ProxyJump) through the broker lands here. One line of printable ASCII;
/// the host the client asked for is echoed only as far as it is made of such characters.
pub(crate) fn refusal_text(conn: &Conn, host: &str, port: u32, r: &Refusal) -> String {
    let h = Hints::new(&conn.entry, &conn.user.username);
    let asked: String = host.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
    let dev = r.device.as_ref().map_or("DEVICE", DeviceName::as_str);
    let terminal = h.terminal(dev);
    format!(
        "portcullis: no tunnel to {asked} port {port}: {}. Portcullis is not a jump host (ssh -J, ProxyJump): name the device in the user name instead, {terminal} (VENDOR:DEVICE); tunnels (-L, -W) reach only a port a grant names: {}",
        r.reason,
        h.tunnel_to("LOCALPORT", dev, "PORT"),
    )
}

/// Applies the rules; nothing here touches the network.
async fn decide(conn: &Conn, host: &str, port: u32) -> Result<(DeviceRecord, GrantRecord, u16), Refusal> {
    let (name, port) = precheck(host, port, conn.device_name.as_ref())?;
    let store = &conn.ctx.store;
    let dev = match store.device_by_name(&name).await {
        Ok(Some(d)) if !d.disabled => d,
        Ok(_) => return Err(refuse("no such enabled device")),
        Err(_) => return Err(refuse("service unavailable")),
    };
    let with = |reason: &str| Refusal { reason: reason.to_owned(), device: Some(dev.name.clone()) };
    if !dev.tcp_ports.contains(&port) {
        return Err(with("port not open on this device"));
    }
    match store.account_enabled(conn.user.id).await {
        Ok(true) => {}
        Ok(false) => return Err(with("account disabled")),
        Err(_) => return Err(with("service unavailable")),
    }
    let grant = match store.grant_for(conn.user.id, dev.id, Granted::Tcp(port), clock::now()).await {
        Ok(Some(g)) => g,
        Ok(None) => return Err(with("no current grant for this device")),
        Err(_) => return Err(with("service unavailable")),
    };
    if !grant.channels.contains(Granted::Tcp(port)) {
        return Err(with("port not granted"));
    }
    Ok((dev, grant, port))
}

/// The rules that need neither the store nor the network: `host` must be a device name, not
/// an address (which is never resolved), and the connection's own device when it was opened
/// for one (`only`); `port` must be a TCP port.
pub(crate) fn precheck(host: &str, port: u32, only: Option<&DeviceName>) -> Result<(DeviceName, u16), Refusal> {
    if host.parse::<IpAddr>().is_ok() || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
        return Err(refuse("an address, not a device name (use the Portcullis device name)"));
    }
    let name = DeviceName::parse(host).map_err(|_| refuse("not a device name"))?;
    if let Some(d) = only {
        if *d != name {
            return Err(Refusal { reason: format!("this connection is for device {d}"), device: Some(name) });
        }
    }
    let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| refuse("not a TCP port"))?;
    Ok((name, port))
}

/// The device's stored host with `port`: `10.20.0.12:22` → `10.20.0.12:104`.
pub(crate) fn device_target(dev: &DeviceRecord, port: u16) -> Option<String> {
    let host = match dev.address.parse::<SocketAddr>() {
        Ok(a) => return Some(SocketAddr::new(a.ip(), port).to_string()),
        Err(_) => dev.address.rsplit_once(':').map_or(dev.address.as_str(), |(h, _)| h),
    };
    (!host.is_empty()).then(|| format!("{host}:{port}"))
}

#[derive(Default)]
struct Counts {
    to_device: AtomicU64,
    from_device: AtomicU64,
}

/// Why a tunnel of a moderated session closed when its vendor input paused.
const PAUSED: &str = "input paused";

/// Moves bytes both ways until both sides have finished, either side closes, the recording
/// fails, the session ends or, for a moderated session (`room`), the vendor's input pauses:
/// no byte the vendor sends after the pause is forwarded. Returns why it ended.
async fn bridge(conn: &Conn, channel: Channel<Msg>, stream: TcpStream, rec: &PcapRecorder, counts: &Counts, mut room: Option<&mut Following>) -> &'static str {
    let (mut vr, vw) = channel.split();
    let (mut tr, mut tw) = stream.into_split();
    let paused = room.as_deref().cloned();
    let up = async {
        loop {
            match vr.wait().await {
                Some(ChannelMsg::Data { .. }) if paused.as_ref().is_some_and(|r| !r.borrow().input_open()) => return PAUSED,
                Some(ChannelMsg::Data { data }) => {
                    if rec.data(Direction::ToDevice, data.clone()).await.is_err() {
                        return "recording failed";
                    }
                    if tw.write_all(&data).await.is_err() {
                        return "device closed";
                    }
                    counts.to_device.fetch_add(data.len() as u64, Ordering::Relaxed);
                    metrics::get().bytes(StreamKind::Tunnel, metrics::Direction::ToDevice, data.len());
                    conn.count_bytes(data.len()).await;
                }
                Some(ChannelMsg::Eof) => {
                    let _ = rec.fin(Direction::ToDevice).await;
                    let _ = tw.shutdown().await;
                    return "eof";
                }
                Some(ChannelMsg::Close) | None => return "vendor closed",
                Some(_) => {}
            }
        }
    };
    let down = async {
        // Each chunk is read into a buffer of its own that the recording and the vendor's
        // channel share: no copy, and no zero-filling before the read.
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(CHUNK);
            let mut room = (&mut buf).limit(CHUNK);
            let n = match tr.read_buf(&mut room).await {
                Ok(0) | Err(_) => {
                    let _ = rec.fin(Direction::FromDevice).await;
                    let _ = vw.eof().await;
                    return "eof";
                }
                Ok(n) => n,
            };
            let chunk = buf.split().freeze();
            if rec.data(Direction::FromDevice, chunk.clone()).await.is_err() {
                return "recording failed";
            }
            if vw.data_bytes(chunk).await.is_err() {
                return "vendor closed";
            }
            counts.from_device.fetch_add(n as u64, Ordering::Relaxed);
            metrics::get().bytes(StreamKind::Tunnel, metrics::Direction::FromDevice, n);
            conn.count_bytes(n).await;
        }
    };
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let reason = loop {
        tokio::select! {
            r = &mut up, if !up_done => {
                if r != "eof" { break r }
                up_done = true;
            }
            r = &mut down, if !down_done => {
                if r != "eof" { break r }
                down_done = true;
            }
            _ = conn.cancel.cancelled() => break "session ended",
            () = moderated::until_paused(room.as_deref_mut()) => break PAUSED,
        }
        if up_done && down_done {
            break "closed";
        }
    };
    if reason == "recording failed" {
        conn.end("recording failed");
    }
    let _ = vw.eof().await;
    let _ = vw.close().await;
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_keeps_the_stored_host() {
        let mut d = DeviceRecord {
            id: 1,
            name: DeviceName::parse("pump").unwrap_or_else(|_| unreachable!()),
            address: "10.20.0.12:22".into(),
            login: "svc".into(),
            credential: vec![],
            host_key: String::new(),
            criticality: portcullis_core::domain::Criticality::High,
            zone: portcullis_core::domain::Zone::parse("icu").unwrap_or_else(|_| unreachable!()),
            tcp_ports: vec![104],
            phi: false,
            disabled: false,
            created_at: 0,
        };
        assert_eq!(device_target(&d, 104).as_deref(), Some("10.20.0.12:104"));
        d.address = "[fd00::5]:2222".into();
        assert_eq!(device_target(&d, 443).as_deref(), Some("[fd00::5]:443"));
        d.address = "pump12.ward.example:22".into();
        assert_eq!(device_target(&d, 104).as_deref(), Some("pump12.ward.example:104"));
    }
}
