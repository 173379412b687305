//! File transfer: the `sftp` subsystem (which modern `scp` uses too) bridged to the device's
//! own SFTP server. The bytes pass unchanged; on the way the watcher cuts them into SFTP
//! packets ([`wire`]) and follows what they do to files ([`track`]), so every open, close
//! (with direction, size and the SHA-256 of what was uploaded or downloaded), rename,
//! remove, mkdir, rmdir and setstat is written to the audit log. The raw channel is recorded
//! as pcap, like a tunnel.
//!
//! Audit rows go through a bounded queue to a writer that runs beside the bridge, so a slow
//! database slows the transfer instead of growing memory.

mod track;
mod wire;

use portcullis_recorder::pcap::{Direction, PcapRecorder};
use std::sync::Mutex;
use tokio::sync::mpsc;
use track::{Row, Tracker};
use wire::Framer;

/// Audit rows that may wait for the writer.
const ROW_QUEUE: usize = 256;

/// Parsing state of both directions. One lock for both: held only while parsing a chunk,
/// never across an `.await`.
#[derive(Default)]
struct Watch {
    requests: Framer,
    responses: Framer,
    tracker: Tracker,
}

/// Records an SFTP channel and reports its file operations.
pub(crate) struct SftpTap {
    rec: PcapRecorder,
    watch: Mutex<Watch>,
    rows: mpsc::Sender<Row>,
}

/// Receives the audit rows of one SFTP channel.
pub(crate) type RowRx = mpsc::Receiver<Row>;

impl SftpTap {
    /// A tap recording into `rec`; audit rows come out of the returned receiver.
    pub(crate) fn new(rec: PcapRecorder) -> (SftpTap, RowRx) {
        let (rows, rx) = mpsc::channel(ROW_QUEUE);
        (SftpTap { rec, watch: Mutex::new(Watch::default()), rows }, rx)
    }

    /// Bytes from the vendor's client: requests.
    pub(crate) async fn vendor_bytes(&self, data: &[u8]) -> Result<(), ()> {
        self.rec.data(Direction::ToDevice, data).await.map_err(|_| ())?;
        let rows = self.parse(data, true);
        self.emit(rows).await;
        Ok(())
    }

    /// Bytes from the device's server: responses.
    pub(crate) async fn device_bytes(&self, data: &[u8]) -> Result<(), ()> {
        self.rec.data(Direction::FromDevice, data).await.map_err(|_| ())?;
        let rows = self.parse(data, false);
        self.emit(rows).await;
        Ok(())
    }

    fn parse(&self, data: &[u8], request: bool) -> Vec<Row> {
        let Ok(mut w) = self.watch.lock() else { return Vec::new() };
        let w = &mut *w;
        let framed = if request { w.requests.feed(data) } else { w.responses.feed(data) };
        let mut rows = Vec::new();
        if framed.lost_now {
            rows.push(("sftp.unparsed", serde_json::json!({
                "direction": if request { "requests" } else { "responses" },
                "why": "a packet was malformed or longer than the watcher buffers; later operations are in the recording only",
            })));
        }
        for p in framed.packets {
            rows.extend(if request { w.tracker.request(p) } else { w.tracker.response(p) });
        }
        rows
    }

    async fn emit(&self, rows: Vec<Row>) {
        for row in rows {
            // The receiver lives as long as the channel; if it is gone the rows have nowhere to go.
            let _ = self.rows.send(row).await;
        }
    }

    /// Reports files still open, then closes the row queue.
    pub(crate) async fn finish(self) {
        let rows = self.watch.lock().map(|mut w| w.tracker.finish()).unwrap_or_default();
        self.emit(rows).await;
    }
}
