//! File transfer: the `sftp` subsystem (which modern `scp` uses too) bridged to the device's
//! own SFTP server. The bytes pass unchanged; on the way the watcher cuts them into SFTP
//! packets ([`wire`]) and follows what they do to files ([`track`]), so every open, close
//! (with direction, size and the SHA-256 of what was uploaded or downloaded), rename,
//! remove, mkdir, rmdir and setstat, and every extension, is written to the audit log. The
//! raw channel is recorded as pcap, like a tunnel.
//!
//! The watcher either understands a packet or the channel ends: a vendor's request is parsed
//! *before* it is forwarded, and one that would make the file audit wrong — a reused request
//! id, a handle no open returned, more in flight than can be followed, a malformed or unknown
//! packet — is not forwarded; the channel is closed with the reason ([`track::Anomaly`]).
//!
//! Audit rows go through a bounded queue to a writer that runs beside the bridge, so a slow
//! database slows the transfer instead of growing memory.

mod track;
mod wire;

use bytes::Bytes;
use portcullis_recorder::pcap::{Direction, PcapRecorder};
use std::sync::Mutex;
use tokio::sync::mpsc;
pub(crate) use track::{Anomaly, Row};
pub use track::{Load, MAX_HANDLES, MAX_HELD_ALL, MAX_PENDING};
use track::Tracker;
use wire::Framer;

/// Audit rows that may wait for the writer.
const ROW_QUEUE: usize = 256;

/// Parsing state of both directions. One lock for both: held only while parsing a chunk,
/// never across an `.await`.
#[derive(Default)]
pub(crate) struct Watch {
    requests: Framer,
    responses: Framer,
    tracker: Tracker,
}

impl Watch {
    /// Cuts a chunk of one direction (`request`: from the vendor's client) into packets and
    /// follows them; the audit rows they make, or why the channel must end.
    pub(crate) fn parse(&mut self, data: &[u8], request: bool) -> Result<Vec<Row>, Anomaly> {
        let framed = if request { self.requests.feed(data) } else { self.responses.feed(data) };
        if framed.lost_now {
            return Err(Anomaly::Unparsable);
        }
        let mut rows = Vec::new();
        for p in framed.packets {
            rows.extend(if request { self.tracker.request(p)? } else { self.tracker.response(p)? });
        }
        Ok(rows)
    }

    /// Rows for files still open when the channel ends.
    pub(crate) fn finish(&mut self) -> Vec<Row> {
        self.tracker.finish()
    }

    /// What the watcher holds now.
    pub(crate) fn load(&self) -> Load {
        self.tracker.load()
    }
}

/// Records an SFTP channel and reports its file operations.
pub(crate) struct SftpTap {
    rec: PcapRecorder,
    watch: Mutex<Watch>,
    rows: mpsc::Sender<Row>,
}

/// Why an SFTP channel must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The recording failed.
    Recording,
    /// The watcher could no longer follow the transfer.
    Refused(Anomaly),
}

/// Receives the audit rows of one SFTP channel.
pub(crate) type RowRx = mpsc::Receiver<Row>;

impl SftpTap {
    /// A tap recording into `rec`; audit rows come out of the returned receiver.
    pub(crate) fn new(rec: PcapRecorder) -> (SftpTap, RowRx) {
        let (rows, rx) = mpsc::channel(ROW_QUEUE);
        (SftpTap { rec, watch: Mutex::new(Watch::default()), rows }, rx)
    }

    /// Bytes from the vendor's client: requests. Recorded, then parsed; an error means they
    /// must not be forwarded.
    pub(crate) async fn vendor_bytes(&self, data: &Bytes) -> Result<(), Stop> {
        self.rec.data(Direction::ToDevice, data.clone()).await.map_err(|_| Stop::Recording)?;
        let rows = self.parse(data, true).map_err(Stop::Refused)?;
        self.emit(rows).await;
        Ok(())
    }

    /// Bytes from the device's server: responses.
    pub(crate) async fn device_bytes(&self, data: &Bytes) -> Result<(), Stop> {
        self.rec.data(Direction::FromDevice, data.clone()).await.map_err(|_| Stop::Recording)?;
        let rows = self.parse(data, false).map_err(Stop::Refused)?;
        self.emit(rows).await;
        Ok(())
    }

    fn parse(&self, data: &[u8], request: bool) -> Result<Vec<Row>, Anomaly> {
        let Ok(mut w) = self.watch.lock() else { return Err(Anomaly::Unparsable) };
        w.parse(data, request)
    }

    async fn emit(&self, rows: Vec<Row>) {
        for row in rows {
            // The receiver lives as long as the channel; if it is gone the rows have nowhere to go.
            let _ = self.rows.send(row).await;
        }
    }

    /// Reports files still open, then closes the row queue.
    pub(crate) async fn finish(self) {
        let rows = self.watch.lock().map(|mut w| w.finish()).unwrap_or_default();
        self.emit(rows).await;
    }
}
