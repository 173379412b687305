//! Recordings of bridged channels: created before anything reaches the device (no recording,
//! no channel), registered in the store, and sealed when the channel ends — the file's
//! SHA-256 and size stored with it and written to the audit log as `recording.sealed` (when
//! the store cannot take it, as soon as it can). A recording whose writer failed (the disk is
//! full) is sealed as truncated, with the hash of what reached the disk, so what was kept can
//! still be proved unaltered. With `[recording] store = "s3"` the sealed file is then uploaded
//! by the node's uploader (`portcullis_core::recstore`), woken here.
//! Terminals and commands are asciicast (`N.cast`); tunnels and SFTP channels are pcap
//! (`N.pcap`), numbered within the session. The terminal tap itself ([`crate::state::CastTap`])
//! lives with the connection state, because warnings are written into every open recording.

use crate::state::{CastTap, Conn};
use portcullis_core::audit::{Kind, Subject};
use portcullis_core::sessions::RecordingSeal;
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::metrics;
use portcullis_recorder::pcap::{seal_capture_file, FlowEnds, PcapHandle, PcapRecorder};
use portcullis_recorder::{seal_file, CastHeader, Recorder, RecorderError, RecordingHandle, Seal};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use tracing::error;

/// What finishes a recording.
pub(crate) enum Finisher {
    Cast(RecordingHandle),
    Pcap(PcapHandle),
}

/// A started recording, to be sealed with [`Started::seal`].
pub(crate) struct Started {
    pub session: SessionId,
    /// The recording's number within the session.
    pub n: u32,
    /// Its row in the store.
    rec_id: i64,
    /// What it records, for the audit row (`terminal`, `tunnel`, `sftp`).
    what: &'static str,
    /// The file.
    path: PathBuf,
    finisher: Finisher,
    /// Counts the recording as open in the metrics until it is sealed (or dropped).
    slot: metrics::RecordingSlot,
}

async fn register(conn: &Conn, session: SessionId, ext: &str, kind: &str) -> Result<(u32, i64, PathBuf), String> {
    let ctx = &conn.ctx;
    let n = conn.next_channel_number();
    let dir = ctx.config.recording.dir.join(session.to_string());
    let path = dir.join(format!("{n}.{ext}"));
    tokio::fs::create_dir_all(&dir).await.map_err(|e| e.to_string())?;
    let rec_id = ctx.store.insert_recording(session, i64::from(n), kind, &path.display().to_string(), clock::now()).await.map_err(|e| e.to_string())?;
    Ok((n, rec_id, path))
}

/// Starts an asciicast recording and its live feed.
pub(crate) async fn start_cast(conn: &Conn, session: SessionId, header: CastHeader) -> Result<(CastTap, Started), String> {
    let (n, rec_id, path) = match register(conn, session, "cast", "asciicast").await {
        Ok(x) => x,
        Err(e) => return Err(failed(conn, session, None, e).await),
    };
    let (cols, rows, at) = (header.width, header.height, header.timestamp);
    match Recorder::create(&path, header).await {
        Ok((rec, handle)) => {
            let live = conn.ctx.live.start(session, n, cols, rows, at);
            Ok((CastTap { rec, live }, Started { session, n, rec_id, what: "terminal", path, finisher: Finisher::Cast(handle), slot: metrics::get().recording_slot() }))
        }
        Err(e) => Err(failed(conn, session, Some(n), e.to_string()).await),
    }
}

/// Starts a pcap recording of a byte-stream pair shown as a TCP connection between `ends`.
pub(crate) async fn start_pcap(conn: &Conn, session: SessionId, what: &'static str, ends: FlowEnds) -> Result<(PcapRecorder, Started), String> {
    let (n, rec_id, path) = match register(conn, session, "pcap", "pcap").await {
        Ok(x) => x,
        Err(e) => return Err(failed(conn, session, None, e).await),
    };
    match PcapRecorder::create(&path, ends).await {
        Ok((rec, handle)) => Ok((rec, Started { session, n, rec_id, what, path, finisher: Finisher::Pcap(handle), slot: metrics::get().recording_slot() })),
        Err(e) => Err(failed(conn, session, Some(n), e.to_string()).await),
    }
}

/// Logs and audits a recording that could not start; returns the error text.
async fn failed(conn: &Conn, session: SessionId, n: Option<u32>, e: String) -> String {
    error!(error = %e, "recording cannot start; refusing the channel");
    conn.audit(Kind::RecordingFailed, Subject::Session(session), json!({ "channel": n, "error": e })).await;
    e
}

impl Started {
    /// Finishes the file and seals it in the store and the audit log; a recording that did
    /// not finish cleanly is audited as failed, then sealed as truncated from what is on disk.
    pub(crate) async fn seal(self, conn: &Conn) {
        let began = std::time::Instant::now();
        let slot = self.slot;
        let cast = matches!(self.finisher, Finisher::Cast(_));
        let result: Result<Seal, RecorderError> = match self.finisher {
            Finisher::Cast(h) => h.finish().await,
            Finisher::Pcap(h) => h.finish().await,
        };
        let actor = conn.user.username.as_str();
        let sealed = |seal: Seal| RecordingSeal {
            session: self.session,
            recording_id: self.rec_id,
            channel: self.n,
            what: self.what,
            path: seal.path.display().to_string(),
            sha256: seal.sha256,
            bytes: seal.bytes,
            events: seal.events,
        };
        match result {
            Ok(seal) => {
                // Written at once, or when the store can take it if it cannot now.
                conn.ctx.backlog.seal_recording(actor, &sealed(seal)).await;
            }
            Err(e) => {
                error!(error = %e, "recording did not finish cleanly");
                conn.audit(Kind::RecordingFailed, Subject::Session(self.session), json!({ "channel": self.n, "error": e.to_string() })).await;
                let path = self.path.clone();
                let on_disk = tokio::task::spawn_blocking(move || if cast { seal_file(&path) } else { seal_capture_file(&path) }).await;
                match on_disk {
                    Ok(Ok(seal)) => {
                        conn.ctx.backlog.mark_truncated(actor, &sealed(seal), &format!("recording failed: {e}")).await;
                    }
                    Ok(Err(e)) => error!(error = %e, "cannot hash what is left of the recording"),
                    Err(e) => error!(error = %e, "cannot hash what is left of the recording"),
                }
            }
        }
        metrics::get().sealed_in(began.elapsed().as_secs_f64());
        // With a bucket, the uploader takes the sealed file from here.
        conn.ctx.recstore.wake();
        drop(slot);
    }
}

/// An IPv4 address to show in a capture for `ip`; captures of IPv6 or named hosts use
/// documentation addresses (RFC 5737), since the frames are IPv4.
pub(crate) fn shown_v4(ip: Option<IpAddr>, fallback: Ipv4Addr) -> Ipv4Addr {
    match ip {
        Some(IpAddr::V4(v4)) => v4,
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().unwrap_or(fallback),
        None => fallback,
    }
}

/// The vendor's end of a capture: their address and a port (their source port if known).
pub(crate) fn vendor_end(conn: &Conn, port: u16) -> (Ipv4Addr, u16) {
    let ip = conn.peer.parse::<SocketAddr>().ok().map(|a| a.ip());
    (shown_v4(ip, Ipv4Addr::new(192, 0, 2, 1)), port)
}
