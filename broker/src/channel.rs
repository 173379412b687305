//! One session channel: collects the pty request, waits for `shell`, `exec` or the `sftp`
//! subsystem, then either runs the lobby (plain `VENDOR` user name) or, for `VENDOR:DEVICE`,
//! passes the approval gate, checks that the grant names the channel (`shell` for a terminal
//! or command, `files` for SFTP), starts the recording (no recording, no session), connects
//! to the device and bridges. Legacy `scp -O` (`scp -t`/`scp -f` as a command) is refused
//! with a message: its transfers could not be logged file by file.

use crate::bridge::Tap;
use crate::device::{self, DeviceError, DeviceLink, LinkSlot};
use crate::gate::{Admission, Caller};
use crate::kind::Kind;
use crate::prompt::{PtyInfo, Term};
use crate::recording::Started;
use crate::sftp::{RowRx, SftpTap};
use crate::state::{ActiveSession, Conn};
use crate::moderated::Waited;
use crate::{bridge, gate, lobby, moderated, recording, session};
use portcullis_core::audit::{Kind as AuditKind, Subject};
use portcullis_core::clock;
use portcullis_core::metrics::StreamKind;
use portcullis_core::store::DeviceRecord;
use portcullis_recorder::pcap::FlowEnds;
use portcullis_recorder::CastHeader;
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use serde_json::json;
use std::sync::Arc;
use tracing::{error, info, warn};

/// Whether a command is the server side of legacy scp (`scp -t …` upload, `scp -f …` download).
pub(crate) fn is_legacy_scp(cmd: &[u8]) -> bool {
    let text = String::from_utf8_lossy(cmd);
    let mut words = text.split_whitespace();
    let Some(prog) = words.next() else { return false };
    if prog != "scp" && !prog.ends_with("/scp") {
        return false;
    }
    words.take_while(|w| w.starts_with('-')).any(|w| w.contains('t') || w.contains('f'))
}

/// Runs one channel to its end.
pub(crate) async fn run(conn: Arc<Conn>, link: Arc<LinkSlot>, mut ch: Channel<Msg>) {
    let id = ch.id();
    let mut pty: Option<PtyInfo> = None;
    let kind = loop {
        let msg = tokio::select! {
            m = ch.wait() => m,
            _ = conn.cancel.cancelled() => {
                let _ = ch.close().await;
                return;
            }
        };
        match msg {
            Some(ChannelMsg::RequestPty { term, col_width, row_height, terminal_modes, .. }) => {
                // Answered by the handler, as soon as it arrives (see its `pty_request`).
                pty = Some(PtyInfo { term, cols: col_width, rows: row_height, modes: terminal_modes });
            }
            Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                if let Some(p) = pty.as_mut() {
                    p.cols = col_width;
                    p.rows = row_height;
                }
            }
            Some(ChannelMsg::RequestShell { .. }) => {
                let _ = conn.handle.channel_success(id).await;
                break Kind::Shell;
            }
            Some(ChannelMsg::Exec { command, .. }) => {
                let _ = conn.handle.channel_success(id).await;
                break Kind::Exec(command);
            }
            // Other subsystems are refused (and audited) by the handler.
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == "sftp" => {
                let _ = conn.handle.channel_success(id).await;
                break Kind::Sftp;
            }
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => return,
            // Forbidden requests (agent, X11, env, other subsystems) are answered by the handler.
            Some(_) => {}
        }
    };
    if conn.device_name.is_none() {
        Box::pin(lobby::run(&conn, Term::new(&mut ch, pty), kind)).await;
        return;
    }
    // One-off steps (store writes, the device's handshake) are boxed here and in
    // `device_channel`, so that what an idle channel's task holds is the bridge alone.
    device_channel(conn, &link, ch, pty, kind).await;
}

async fn device_channel(conn: Arc<Conn>, link: &LinkSlot, mut ch: Channel<Msg>, pty: Option<PtyInfo>, kind: Kind) {
    let mut term = Term::new(&mut ch, pty);
    let Some((dev, session)) = Box::pin(admitted(&conn, &mut term, &kind)).await else {
        term.exit(1).await;
        return;
    };
    let pty = term.pty.clone();
    let (tap, rows, started) = match Box::pin(start_recording(&conn, pty.as_ref(), &kind, &dev, &session)).await {
        Ok(x) => x,
        Err(_) => {
            term.warn("portcullis: the session cannot be recorded, so it is not started.\n").await;
            term.exit(1).await;
            return;
        }
    };
    let n = started.n;
    // A moderated session: nothing reaches the device before a moderator watches.
    let room = if conn.ctx.approvals.policy().rule(dev.criticality, &dev.zone).moderated {
        match Box::pin(await_moderator(&conn, &mut term, &tap, session.id, &kind)).await {
            Some(rx) => Some(rx),
            None => {
                term.exit(1).await;
                drop(tap);
                Box::pin(started.seal(&conn)).await;
                return;
            }
        }
    } else {
        None
    };
    // The recording exists before anything reaches the device.
    let dch = match Box::pin(connect_device(&conn, link, pty.as_ref(), &kind)).await {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "device unavailable");
            term.warn(&format!("portcullis: device {} is unavailable.\n", dev.name)).await;
            term.exit(1).await;
            drop(tap);
            Box::pin(started.seal(&conn)).await;
            return;
        }
    };
    let id = term.ch.id();
    drop(term);
    let cast = match &tap {
        Tap::Cast(c) => Some(c.clone()),
        Tap::Sftp(_) => None,
    };
    conn.register(id, pty.is_some(), cast.clone());
    // A file transfer closes when input pauses; a terminal or command has its input dropped.
    let followed = async {
        if let Some(rx) = room {
            // Boxed: the follower's state is allocated for moderated sessions only, not carried
            // by every channel's task (an idle session's memory is mostly such task state).
            let paused = Box::pin(async {
                let mut files = (kind == Kind::Sftp).then(|| rx.clone());
                tokio::select! {
                    () = moderated::follow(&conn, session.id, id, pty.is_some(), cast, rx) => false,
                    () = moderated::until_paused(files.as_mut()) => true,
                }
            })
            .await;
            if paused {
                return bridge::Ended::InputPaused;
            }
        }
        std::future::pending::<bridge::Ended>().await
    };
    info!(channel = n, "bridging");
    let subject = Subject::Session(session.id);
    let bridged = async {
        let stream = match &kind {
            Kind::Shell => StreamKind::Terminal,
            Kind::Exec(_) => StreamKind::Exec,
            Kind::Sftp => StreamKind::Sftp,
        };
        let ended = tokio::select! {
            e = bridge::run(&conn, ch, dch, &tap, stream) => e,
            e = followed => e,
        };
        match tap {
            Tap::Sftp(t) => t.finish().await,
            Tap::Cast(c) => c.end(&conn.end_reason().unwrap_or_else(|| ended.describe().to_owned())).await,
        }
        ended
    };
    let audited = async {
        if let Some(mut rows) = rows {
            while let Some((kind, detail)) = rows.recv().await {
                // A file operation that cannot be audited must not go on unaudited.
                Box::pin(conn.audit_or_end(kind, subject.clone(), with_channel(detail, n))).await;
            }
        }
    };
    let (ended, ()) = tokio::join!(bridged, audited);
    match ended {
        bridge::Ended::FileAuditLost(a) => {
            warn!(channel = n, why = a.why(), "file transfer stopped");
            Box::pin(conn.audit_or_end(AuditKind::SftpAborted, subject.clone(), json!({ "channel": n, "why": a.why() }))).await;
        }
        bridge::Ended::InputPaused => {
            info!(channel = n, "file transfer closed: input paused");
            conn.notify_all(&moderated::closed_text("file transfer")).await;
            Box::pin(conn.audit_or_end(AuditKind::SftpAborted, subject.clone(), json!({ "channel": n, "why": ended.describe() }))).await;
        }
        _ => {}
    }
    conn.unregister(id);
    info!(channel = n, ?ended, "channel closed");
    Box::pin(started.seal(&conn)).await;
}

/// Waits for a moderator to join the live view of a moderated session. What the vendor
/// types meanwhile is dropped (nothing typed unwatched reaches the device later); Ctrl-C
/// gives up. A file transfer is refused while input is paused ([`moderated::paused`]).
/// `None` after telling the vendor why the session does not go on.
async fn await_moderator(conn: &Conn, term: &mut Term<'_>, tap: &Tap, id: portcullis_core::domain::SessionId, kind: &Kind) -> Option<portcullis_core::moderation::Following> {
    let wait = conn.ctx.config.session.moderator_wait.0;
    if *kind == Kind::Sftp && moderated::paused(&conn.ctx.live.moderation().get(id)) {
        files_paused(conn, term).await;
        return None;
    }
    tap.marker("waiting for a moderator").await;
    term.warn(&moderated::waiting_text(id, wait)).await;
    let waited = moderated::wait(conn, id);
    tokio::pin!(waited);
    let outcome = loop {
        tokio::select! {
            w = &mut waited => break w,
            m = term.ch.wait() => match m {
                Some(ChannelMsg::Data { data }) if data.contains(&3) => break Waited::Ended,
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => break Waited::Ended,
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    if let Some(p) = term.pty.as_mut() {
                        p.cols = col_width;
                        p.rows = row_height;
                    }
                }
                Some(_) => {}
            },
        }
    };
    match outcome {
        Waited::Joined(rx) if *kind == Kind::Sftp && moderated::paused(&rx.borrow()) => {
            files_paused(conn, term).await;
            None
        }
        Waited::Joined(rx) => Some(rx),
        Waited::TimedOut => {
            info!(session = %id, "no moderator joined in time");
            tap.marker("no moderator joined in time").await;
            Box::pin(conn.audit_or_end(AuditKind::SessionModeratorWaitExpired, Subject::Session(id), json!({ "waited_seconds": wait.as_secs(), "device_contacted": false }))).await;
            term.warn(&format!("portcullis: no moderator joined within {} minutes, so the device was not contacted. Your grant stays valid for its window: connect again when a moderator can watch.\n", wait.as_secs().div_ceil(60))).await;
            None
        }
        Waited::Ended => {
            tap.marker("the vendor left before a moderator joined").await;
            term.warn("portcullis: you left before a moderator joined; the device was not contacted.\n").await;
            None
        }
    }
}

/// Refuses a file transfer while a moderated session's input is paused.
async fn files_paused(conn: &Conn, term: &mut Term<'_>) {
    let why = "this device is moderated: file transfer opens only while a moderator watches the session and input is not paused";
    term.warn(&format!("portcullis: {why}.\n")).await;
    conn.refused("files", json!({ "reason": why })).await;
}

/// Checks the device and the command, passes the gate and opens the brokered session; `None`
/// after telling the vendor why not (the caller ends the channel).
async fn admitted(conn: &Conn, term: &mut Term<'_>, kind: &Kind) -> Option<(DeviceRecord, ActiveSession)> {
    let interactive = term.pty.is_some() && *kind == Kind::Shell;
    let Some(dev) = conn.device.clone() else {
        term.warn("portcullis: no such device, or it is disabled.\n").await;
        return None;
    };
    if let Kind::Exec(cmd) = kind {
        if is_legacy_scp(cmd) {
            term.warn("portcullis: legacy scp (scp -O) is not supported, because its transfers cannot be logged file by file.\nUse scp without -O (it uses SFTP), or sftp.\n").await;
            let shown: String = String::from_utf8_lossy(cmd).chars().take(256).collect();
            conn.refused("scp-legacy", json!({ "command": shown })).await;
            return None;
        }
    }
    let grant = match gate::admit(&Caller::of(conn), term, &dev, interactive, kind.needs()).await {
        Admission::Granted(g) => g,
        Admission::Refused => return None,
        Admission::NotGranted(grant) => {
            let what = if matches!(kind, Kind::Sftp) { "files" } else { "shell" };
            conn.refused(what, json!({ "reason": "not granted", "granted": grant.channels, "request": grant.request_id })).await;
            return None;
        }
    };
    let Some(session) = session::open(conn, &grant, &dev).await else {
        term.warn("portcullis: the session cannot be recorded, so it is not started.\n").await;
        return None;
    };
    Some((dev, session))
}

/// Starts the channel's recording: pcap watched for file operations for SFTP, asciicast with
/// a live feed otherwise.
async fn start_recording(conn: &Conn, pty: Option<&PtyInfo>, kind: &Kind, dev: &DeviceRecord, session: &ActiveSession) -> Result<(Tap, Option<RowRx>, Started), String> {
    match kind {
        Kind::Sftp => {
            let ends = FlowEnds { client: recording::vendor_end(conn, 0), server: device_end(dev) };
            recording::start_pcap(conn, session.id, "sftp", ends).await.map(|(rec, s)| {
                let (tap, rows) = SftpTap::new(rec);
                (Tap::Sftp(tap), Some(rows), s)
            })
        }
        _ => {
            let header = cast_header(conn, pty, kind, &dev.name, session.id);
            recording::start_cast(conn, session.id, header).await.map(|(tap, s)| (Tap::Cast(tap), None, s))
        }
    }
}

/// Adds the recording number to an audit detail.
fn with_channel(mut detail: serde_json::Value, n: u32) -> serde_json::Value {
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("channel".into(), json!(n));
    }
    detail
}

/// The device's end of an SFTP capture: its address and SSH port.
fn device_end(dev: &DeviceRecord) -> (std::net::Ipv4Addr, u16) {
    let addr = dev.address.parse::<std::net::SocketAddr>().ok();
    (recording::shown_v4(addr.map(|a| a.ip()), std::net::Ipv4Addr::new(192, 0, 2, 2)), addr.map_or(22, |a| a.port()))
}

fn cast_header(conn: &Conn, pty: Option<&PtyInfo>, kind: &Kind, dev: &portcullis_core::domain::DeviceName, session: portcullis_core::domain::SessionId) -> CastHeader {
    // A client that does not know its size (no local terminal) asks for a 0×0 pty; such a
    // recording is replayed at the usual 80×24 rather than as a single cell.
    let size = |n: u32, usual: u16| if n == 0 { usual } else { n.min(1000) as u16 };
    let mut header = CastHeader::new(pty.map_or(80, |p| size(p.cols, 80)), pty.map_or(24, |p| size(p.rows, 24)), clock::now());
    header.term = pty.map(|p| p.term.chars().take(64).collect());
    if let Kind::Exec(cmd) = kind {
        header.command = Some(String::from_utf8_lossy(cmd).chars().take(4096).collect());
    }
    header.title = Some(format!("{} on {} (session {})", conn.user.username, dev, session));
    header
}

async fn connect_device(conn: &Conn, link: &LinkSlot, pty: Option<&PtyInfo>, kind: &Kind) -> Result<russh::Channel<russh::client::Msg>, String> {
    let link = link.get_or_connect(|| device_link(conn)).await.map_err(|e| e.to_string())?;
    open_device_channel(&link, pty, kind).await.map_err(|e| e.to_string())
}

/// Connects to the connection's device with its vaulted credential. Host key mismatches are
/// audited as alerts.
async fn device_link(conn: &Conn) -> Result<DeviceLink, DeviceError> {
    let dev = conn.device.as_ref().ok_or(DeviceError::Unknown)?;
    let cred = conn.ctx.vault.open_credential(dev.name.as_str(), &dev.credential).map_err(|_| DeviceError::Vault)?;
    match device::connect(dev, cred).await {
        Err(DeviceError::HostKeyMismatch { presented }) => {
            error!(device = %dev.name, %presented, "device host key does not match the pinned key");
            conn.audit(AuditKind::DeviceHostkeyMismatch, Subject::device(&dev.name), json!({
                "expected": device::fingerprint_of_line(&dev.host_key), "presented": presented, "address": dev.address,
            }))
            .await;
            Err(DeviceError::HostKeyMismatch { presented })
        }
        other => other,
    }
}

async fn open_device_channel(link: &DeviceLink, pty: Option<&PtyInfo>, kind: &Kind) -> Result<russh::Channel<russh::client::Msg>, russh::Error> {
    let dch = link.open_session().await?;
    if let Some(p) = pty {
        dch.request_pty(false, &p.term, p.cols, p.rows, 0, 0, &p.modes).await?;
    }
    match kind {
        Kind::Shell => dch.request_shell(true).await?,
        Kind::Exec(cmd) => dch.exec(true, cmd.clone()).await?,
        Kind::Sftp => dch.request_subsystem(true, "sftp").await?,
    }
    Ok(dch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_legacy_scp() {
        for cmd in ["scp -t /tmp", "scp -f /etc/passwd", "scp -v -t -- /x", "/usr/bin/scp -r -t dir", "scp -pt ."] {
            assert!(is_legacy_scp(cmd.as_bytes()), "{cmd}");
        }
        for cmd in ["scpx -t", "echo scp -t", "cat /tmp/scp -t", "scp", ""] {
            assert!(!is_legacy_scp(cmd.as_bytes()), "{cmd}");
        }
    }
}
