//! Tunnel recordings as pcap files (libpcap format, link type RAW: IPv4 packets), written with
//! the `pcap-file` crate. Each recorded byte stream pair is framed as one TCP connection (see
//! `frame`), so `tshark -r` or Wireshark's "Follow TCP stream" gives back the exact bytes of
//! each direction and decodes the protocol inside.
//!
//! [`PcapRecorder::create`] writes the file header and the handshake before the tunnel
//! connects (no recording, no tunnel) and starts a writer thread; the cloneable
//! [`PcapRecorder`] queues chunks through a bounded queue (so a slow disk slows the tunnel,
//! never grows memory); [`PcapHandle::finish`] writes the FINs, flushes, fsyncs and returns
//! the [`Seal`] (SHA-256 of the file; `events` counts packets); [`seal_capture_file`] recomputes
//! it from disk, also for a capture its writer never finished.

mod frame;
mod writer;

pub use frame::{Direction, FlowEnds};

use crate::{RecorderError, Seal};
use bytes::Bytes;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// Chunks that may wait for the writer, per recording: with chunks of at most 32 KiB, 1 MiB,
/// and as much again in the file's buffer (`writer::BUFFER`).
pub const PCAP_QUEUE: usize = 32;
/// How long a chunk may wait for room in the queue before the recording counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(crate) enum Item {
    Data { dir: Direction, at: SystemTime, bytes: Bytes },
    Fin { dir: Direction, at: SystemTime },
}

/// Queues a tunnel's bytes for its capture file; cheap to clone.
#[derive(Clone, Debug)]
pub struct PcapRecorder {
    tx: mpsc::Sender<Item>,
}

/// Finishes the capture file.
#[derive(Debug)]
pub struct PcapHandle {
    tx: mpsc::Sender<Item>,
    done: oneshot::Receiver<Result<Seal, RecorderError>>,
}

impl PcapRecorder {
    /// Creates `path` (which must not exist), writes the pcap header and the handshake, and
    /// starts the writer thread.
    pub async fn create(path: &Path, ends: FlowEnds) -> Result<(PcapRecorder, PcapHandle), RecorderError> {
        let owned = path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || writer::Writer::create(&owned, ends, SystemTime::now()))
            .await
            .map_err(|_| RecorderError::WriterGone)??;
        let (tx, rx) = mpsc::channel(PCAP_QUEUE);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("pcap-writer".into())
            .spawn(move || {
                let _ = done_tx.send(opened.run(rx));
            })
            .map_err(|e| RecorderError::io("start a writer for", path, e))?;
        Ok((PcapRecorder { tx: tx.clone() }, PcapHandle { tx, done }))
    }

    /// Records bytes sent in direction `dir` that the caller also forwards: the queue holds
    /// a reference to the same buffer, not a copy.
    pub async fn data(&self, dir: Direction, bytes: Bytes) -> Result<(), RecorderError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.send(Item::Data { dir, at: SystemTime::now(), bytes }).await
    }

    /// Records that the side sending in `dir` closed its half (a FIN).
    pub async fn fin(&self, dir: Direction) -> Result<(), RecorderError> {
        self.send(Item::Fin { dir, at: SystemTime::now() }).await
    }

    async fn send(&self, item: Item) -> Result<(), RecorderError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.tx.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(RecorderError::WriterFailed("the capture writer stopped".into())),
            Err(_) => Err(RecorderError::Stalled(SEND_TIMEOUT)),
        }
    }
}

impl PcapHandle {
    /// Closes both directions that are still open, flushes, fsyncs; returns the seal.
    pub async fn finish(self) -> Result<Seal, RecorderError> {
        drop(self.tx);
        self.done.await.map_err(|_| RecorderError::WriterGone)?
    }
}

/// Recomputes the [`Seal`] of a capture from disk, `events` being the whole packets it holds
/// (a packet cut short by a crash is not counted). Blocking, like [`crate::seal_file`].
pub fn seal_capture_file(path: &Path) -> Result<Seal, RecorderError> {
    let mut seal = crate::seal_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| RecorderError::io("open", path, e))?;
    seal.events = 0;
    if let Ok(mut reader) = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)) {
        while let Some(Ok(_)) = reader.next_packet() {
            seal.events += 1;
        }
    }
    Ok(seal)
}

#[cfg(test)]
mod tests;
