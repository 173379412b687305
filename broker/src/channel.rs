//! One session channel: collects the pty request, waits for `shell` or `exec`, then either
//! runs the lobby (plain `VENDOR` user name) or, for `VENDOR:DEVICE`, passes the approval gate,
//! connects to the device, starts the recording (no recording, no session) and bridges.

use crate::conn::Conn;
use crate::prompt::{PtyInfo, Term};
use crate::{bridge, gate, lobby};
use portcullis_core::clock;
use portcullis_recorder::{CastHeader, Recorder};
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use serde_json::json;
use std::sync::Arc;
use tracing::{error, info, warn};

/// What the vendor asked the channel to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Shell,
    Exec(Vec<u8>),
}

/// Runs one channel to its end.
pub(crate) async fn run(conn: Arc<Conn>, mut ch: Channel<Msg>) {
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
                pty = Some(PtyInfo { term, cols: col_width, rows: row_height, modes: terminal_modes });
                let _ = conn.handle.channel_success(id).await;
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
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => return,
            // Forbidden requests (agent, X11, env, subsystem) are answered by the handler.
            Some(_) => {}
        }
    };
    if conn.target.device.is_none() {
        lobby::run(&conn, Term::new(&mut ch, pty), kind).await;
        return;
    }
    device_channel(conn, ch, pty, kind).await;
}

async fn device_channel(conn: Arc<Conn>, mut ch: Channel<Msg>, pty: Option<PtyInfo>, kind: Kind) {
    let interactive = pty.is_some() && kind == Kind::Shell;
    let mut term = Term::new(&mut ch, pty);
    let Some(dev) = conn.device.clone() else {
        term.warn("portcullis: no such device, or it is disabled.\n").await;
        term.exit(1).await;
        return;
    };
    let Some(grant) = gate::ensure_grant(&conn, &mut term, &dev, interactive).await else {
        term.exit(1).await;
        return;
    };
    let Some(session) = conn.session(&grant).await else {
        term.warn("portcullis: the session cannot be recorded, so it is not started.\n").await;
        term.exit(1).await;
        return;
    };
    let pty = term.pty.clone();
    let n = conn.next_channel_number();
    let ctx = conn.broker.ctx();
    let dir = ctx.config.recording.dir.join(session.id.to_string());
    let path = dir.join(format!("{n}.cast"));
    let mut header = CastHeader::new(
        pty.as_ref().map_or(80, |p| p.cols.clamp(1, 1000) as u16),
        pty.as_ref().map_or(24, |p| p.rows.clamp(1, 1000) as u16),
        clock::now(),
    );
    header.term = pty.as_ref().map(|p| p.term.chars().take(64).collect());
    if let Kind::Exec(cmd) = &kind {
        header.command = Some(String::from_utf8_lossy(cmd).chars().take(4096).collect());
    }
    header.title = Some(format!("{} on {} (session {})", conn.user.username, dev.name, session.id));
    let started = async {
        tokio::fs::create_dir_all(&dir).await.map_err(|e| e.to_string())?;
        let rec_id = ctx.store.insert_recording(session.id, i64::from(n), "asciicast", &path.display().to_string(), clock::now()).await.map_err(|e| e.to_string())?;
        let (rec, handle) = Recorder::create(&path, header).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((rec_id, rec, handle))
    }
    .await;
    let (rec_id, rec, handle) = match started {
        Ok(x) => x,
        Err(e) => {
            error!(error = %e, "recording cannot start; refusing the channel");
            conn.audit("recording.failed", format!("session:{}", session.id), json!({ "channel": n, "error": e })).await;
            term.warn("portcullis: the session cannot be recorded, so it is not started.\n").await;
            term.exit(1).await;
            return;
        }
    };
    // The recording exists before anything reaches the device.
    let dch = match connect_device(&conn, pty.as_ref(), &kind).await {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "device unavailable");
            term.warn(&format!("portcullis: device {} is unavailable.\n", dev.name)).await;
            term.exit(1).await;
            seal(&conn, session.id, n, rec_id, handle).await;
            return;
        }
    };
    let id = term.ch.id();
    drop(term);
    conn.register(id, pty.is_some());
    info!(channel = n, "bridging");
    let ended = bridge::run(&conn, ch, dch, rec).await;
    conn.unregister(id);
    info!(channel = n, ?ended, "channel closed");
    seal(&conn, session.id, n, rec_id, handle).await;
}

async fn connect_device(conn: &Conn, pty: Option<&PtyInfo>, kind: &Kind) -> Result<russh::Channel<russh::client::Msg>, String> {
    let link = conn.device_link().await.map_err(|e| e.to_string())?;
    open_device_channel(&link, pty, kind).await.map_err(|e| e.to_string())
}

async fn open_device_channel(link: &crate::device::DeviceLink, pty: Option<&PtyInfo>, kind: &Kind) -> Result<russh::Channel<russh::client::Msg>, russh::Error> {
    let dch = link.open_session().await?;
    if let Some(p) = pty {
        dch.request_pty(false, &p.term, p.cols, p.rows, 0, 0, &p.modes).await?;
    }
    match kind {
        Kind::Shell => dch.request_shell(true).await?,
        Kind::Exec(cmd) => dch.exec(true, cmd.clone()).await?,
    }
    Ok(dch)
}

async fn seal(conn: &Conn, session: portcullis_core::domain::SessionId, n: u32, rec_id: i64, handle: portcullis_recorder::RecordingHandle) {
    let ctx = conn.broker.ctx();
    match handle.finish().await {
        Ok(seal) => {
            let sealed = async {
                let mut tx = ctx.store.begin_write().await?;
                ctx.store.seal_recording(&mut tx, rec_id, &seal.sha256, seal.bytes as i64, clock::now()).await?;
                let seq = ctx
                    .audit
                    .record_in(&mut tx, portcullis_core::audit::Event::new(conn.user.username.as_str(), "recording.sealed", format!("session:{session}"), json!({
                        "channel": n, "path": seal.path.display().to_string(), "sha256": seal.sha256, "bytes": seal.bytes, "events": seal.events,
                    })))
                    .await?;
                tx.commit().await?;
                ctx.audit.committed(seq).await
            }
            .await;
            if let Err(e) = sealed {
                error!(error = %e, "cannot seal the recording in the audit log");
            }
        }
        Err(e) => {
            error!(error = %e, "recording did not finish cleanly");
            conn.audit("recording.failed", format!("session:{session}"), json!({ "channel": n, "error": e.to_string() })).await;
        }
    }
}
