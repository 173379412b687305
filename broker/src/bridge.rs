//! Moving bytes between the vendor's channel and the device's, recording both directions.
//! Each direction is its own loop so a slow reader on one side never blocks the other; both
//! loops await the peer's flow-control window, so memory stays bounded by the channel
//! buffers. Pty size changes, signals, EOF and exit status pass through. What records the
//! bytes is a [`Tap`]: an asciicast recorder and live feed for terminals and commands, or the
//! SFTP watcher (pcap recording plus per-file audit) for file transfer.

use crate::moderated;
use crate::sftp::{Anomaly, SftpTap, Stop};
use crate::state::{CastTap, Conn};
use bytes::Bytes;
use portcullis_core::metrics::{self, Direction, StreamKind};
use russh::{client, server, Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Where a bridged channel's bytes are recorded.
pub(crate) enum Tap {
    Cast(CastTap),
    Sftp(SftpTap),
}

impl Tap {
    /// Records bytes from the vendor before they are forwarded; an error ends the channel
    /// and the bytes are not forwarded (fail closed). A capture holds the same buffer that is
    /// forwarded, not a copy.
    async fn input(&self, data: &Bytes) -> Result<(), Ended> {
        match self {
            Tap::Cast(r) => r.input(data).await.map_err(|_| Ended::RecordingFailed),
            Tap::Sftp(t) => t.vendor_bytes(data).await.map_err(Ended::from),
        }
    }

    /// Records bytes from the device before they are forwarded.
    async fn output(&self, data: &Bytes) -> Result<(), Ended> {
        match self {
            Tap::Cast(r) => r.output(data).await.map_err(|_| Ended::RecordingFailed),
            Tap::Sftp(t) => t.device_bytes(data).await.map_err(Ended::from),
        }
    }

    /// A marker in a terminal's recording (an SFTP capture has none).
    pub(crate) async fn marker(&self, label: &str) {
        if let Tap::Cast(r) = self {
            r.marker(label).await;
        }
    }

    async fn resize(&self, cols: u32, rows: u32) {
        if let Tap::Cast(r) = self {
            r.resize(cols.min(u32::from(u16::MAX)) as u16, rows.min(u32::from(u16::MAX)) as u16).await;
        }
    }

    /// Resolves when the recording failed on its own (storage error).
    async fn failed(&self) {
        match self {
            Tap::Cast(r) => {
                r.rec.failed().await;
            }
            Tap::Sftp(_) => std::future::pending::<()>().await,
        }
    }
}

/// How the bridge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    VendorClosed,
    DeviceClosed,
    /// The device's side went away without an exit status (its SSH server died, or the
    /// connection to it was lost): the vendor is told.
    DeviceLost,
    Cancelled,
    RecordingFailed,
    /// The SFTP watcher could no longer follow the transfer: its file audit would be wrong.
    FileAuditLost(Anomaly),
    /// A file transfer of a moderated session whose vendor input paused: closed, since
    /// dropping part of its packets would splice the rest into something else.
    InputPaused,
}

impl From<Stop> for Ended {
    fn from(s: Stop) -> Ended {
        match s {
            Stop::Recording => Ended::RecordingFailed,
            Stop::Refused(a) => Ended::FileAuditLost(a),
        }
    }
}

impl Ended {
    /// In words, for the recording's end marker.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Ended::VendorClosed => "the vendor closed the channel",
            Ended::DeviceClosed => "the device closed the channel",
            Ended::DeviceLost => "the connection to the device was lost",
            Ended::Cancelled => "the session ended",
            Ended::RecordingFailed => "recording failed",
            Ended::FileAuditLost(a) => a.why(),
            Ended::InputPaused => "input paused",
        }
    }
}

/// Bridges until one side closes, the session is cancelled or the recording fails.
/// The bytes are counted in the metrics under `kind` and for the session's byte alert
/// ([`Conn::count_bytes`]), one atomic add each per chunk.
pub(crate) async fn run(conn: &Conn, vendor: Channel<server::Msg>, device: Channel<client::Msg>, rec: &Tap, kind: StreamKind) -> Ended {
    let id = vendor.id();
    let (mut vr, vw) = vendor.split();
    let (mut dr, dw) = device.split();
    let up = upstream(conn, &mut vr, &dw, rec, kind);
    let down = downstream(conn, id, &mut dr, &vw, rec, kind);
    tokio::pin!(up, down);
    let failed = rec.failed();
    tokio::pin!(failed);
    let ended = tokio::select! {
        e = &mut down => e,
        e = &mut up => {
            if e == Ended::VendorClosed {
                let _ = dw.eof().await;
                let _ = dw.close().await;
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut down).await;
            }
            e
        }
        _ = conn.cancel.cancelled() => Ended::Cancelled,
        _ = &mut failed => Ended::RecordingFailed,
    };
    match ended {
        Ended::RecordingFailed => {
            let _ = vw.extended_data_bytes(1, &b"\r\n[portcullis] recording failed; the session is closed.\r\n"[..]).await;
            conn.end("recording failed");
        }
        Ended::DeviceLost => {
            let _ = vw.extended_data_bytes(1, &b"\r\n[portcullis] the connection to the device was lost; the channel is closed.\r\n"[..]).await;
        }
        Ended::FileAuditLost(a) => {
            let msg = format!("\r\n[portcullis] the file transfer was stopped: {}. Nothing more was forwarded.\r\n", a.why());
            let _ = vw.extended_data_bytes(1, msg.into_bytes()).await;
        }
        Ended::InputPaused => {
            let msg = format!("\r\n[portcullis] {}\r\n", moderated::closed_text("file transfer"));
            let _ = vw.extended_data_bytes(1, msg.into_bytes()).await;
        }
        _ => {}
    }
    let _ = dw.close().await;
    let _ = vw.eof().await;
    let _ = vw.close().await;
    ended
}

/// From the vendor to the device: data (recorded first), EOF, window changes and signals.
async fn upstream(conn: &Conn, vr: &mut ChannelReadHalf, dw: &ChannelWriteHalf<client::Msg>, rec: &Tap, kind: StreamKind) -> Ended {
    loop {
        match vr.wait().await {
            // A moderated session without a moderator watching, or paused by one: the input
            // is dropped (the vendor was told when it paused); a file transfer is closed.
            Some(ChannelMsg::Data { .. }) if conn.input_paused.load(Ordering::SeqCst) => {
                if matches!(rec, Tap::Sftp(_)) {
                    return Ended::InputPaused;
                }
            }
            Some(ChannelMsg::Data { data }) => {
                metrics::get().bytes(kind, Direction::ToDevice, data.len());
                conn.count_bytes(data.len()).await;
                if let Err(e) = rec.input(&data).await {
                    return e;
                }
                if dw.data_bytes(data).await.is_err() {
                    return Ended::DeviceClosed;
                }
            }
            Some(ChannelMsg::Eof) => {
                let _ = dw.eof().await;
            }
            Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                rec.resize(col_width, row_height).await;
                let _ = dw.window_change(col_width, row_height, pix_width, pix_height).await;
            }
            Some(ChannelMsg::Signal { signal }) => {
                let _ = dw.signal(signal).await;
            }
            Some(ChannelMsg::Close) | None => return Ended::VendorClosed,
            Some(_) => {}
        }
    }
}

/// From the device to the vendor (channel `id`): data and stderr (recorded first), exit
/// status and signal, EOF, and a refused request. A channel that ends without an exit status
/// or signal was lost, not closed by the program on the device.
///
/// The device's EOF is passed on after its exit status: a client that has sent its own EOF
/// (PuTTY, with nothing to type) closes the channel as soon as it sees the broker's, and an
/// exit status still on its way from the device would then be dropped (plink ended with 0
/// instead of the command's status).
async fn downstream(conn: &Conn, id: ChannelId, dr: &mut ChannelReadHalf, vw: &ChannelWriteHalf<server::Msg>, rec: &Tap, kind: StreamKind) -> Ended {
    let mut exited = false;
    let mut eof = false;
    loop {
        match dr.wait().await {
            Some(ChannelMsg::Data { data }) => {
                metrics::get().bytes(kind, Direction::FromDevice, data.len());
                conn.count_bytes(data.len()).await;
                if let Err(e) = rec.output(&data).await {
                    return e;
                }
                if vw.data_bytes(data).await.is_err() {
                    return Ended::VendorClosed;
                }
            }
            Some(ChannelMsg::ExtendedData { data, ext }) => {
                metrics::get().bytes(kind, Direction::FromDevice, data.len());
                conn.count_bytes(data.len()).await;
                if let Err(e) = rec.output(&data).await {
                    return e;
                }
                if vw.extended_data_bytes(ext, data).await.is_err() {
                    return Ended::VendorClosed;
                }
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                exited = true;
                let _ = vw.exit_status(exit_status).await;
                if eof {
                    let _ = vw.eof().await;
                }
            }
            Some(ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag }) => {
                exited = true;
                let _ = conn.handle.exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag).await;
                if eof {
                    let _ = vw.eof().await;
                }
            }
            // Held until the exit status (see above); the end of the bridge sends it anyway.
            Some(ChannelMsg::Eof) => {
                eof = true;
                if exited {
                    let _ = vw.eof().await;
                }
            }
            Some(ChannelMsg::Failure) => {
                let _ = vw.extended_data_bytes(1, &b"portcullis: the device refused the request.\r\n"[..]).await;
                let _ = vw.exit_status(1).await;
                return Ended::DeviceClosed;
            }
            Some(ChannelMsg::Close) | None if exited => return Ended::DeviceClosed,
            Some(ChannelMsg::Close) | None => return Ended::DeviceLost,
            Some(_) => {}
        }
    }
}
