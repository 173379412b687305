//! The capture writer: a thread of its own that owns the file, frames queued chunks as TCP
//! segments, hashes every byte it writes, hands what it wrote to the operating system at most
//! [`FLUSH_INTERVAL`] after writing it, and on finish closes the directions still open,
//! flushes and fsyncs. The file is a [`DirectFile`] (written around the page cache).
//!
//! pcap-file writes the file header; each packet record (its 16-byte record header, the
//! IPv4/TCP headers, the payload) is written here, because pcap-file's `write_packet` takes a
//! packet as one contiguous slice, which would mean copying every recorded payload behind
//! its headers first. The three parts go into the file's buffer directly, the only copy of
//! the payload. The records are laid out exactly as pcap-file writes and reads them
//! (`tests.rs` reads every capture back with its reader).

use super::frame::{Direction, Flow, FlowEnds, MAX_SEGMENT};
use super::Item;
use crate::direct::DirectFile;
use crate::seal::Hashing;
use crate::{RecorderError, Seal};
use pcap_file::pcap::{PcapHeader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The capture file's buffer: with [`super::PCAP_QUEUE`] chunks of at most 32 KiB queued,
/// what may pass unrecorded when the disk fails stays at 2 MiB (README, security model).
pub(crate) const BUFFER: usize = 1024 * 1024;

/// The longest a written packet waits in the buffer before it is handed to the operating
/// system (as for terminal recordings).
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    out: Hashing<DirectFile>,
    path: PathBuf,
    flow: Flow,
    packets: u64,
    /// Directions whose FIN has been written.
    closed_to_device: bool,
    closed_from_device: bool,
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Writer {
    /// Creates the file (refusing to overwrite one) and writes the header and handshake.
    pub(crate) fn create(path: &Path, ends: FlowEnds, at: SystemTime) -> Result<Writer, RecorderError> {
        let file = DirectFile::create_new(path, BUFFER).map_err(|e| RecorderError::io("create", path, e))?;
        tracing::debug!(path = %path.display(), direct = file.is_direct(), "capture file created");
        let hashing = Hashing::new(file);
        let header = PcapHeader { datalink: DataLink::RAW, endianness: Endianness::Big, ts_resolution: TsResolution::MicroSecond, ..Default::default() };
        let out = PcapWriter::with_header(hashing, header).map_err(|e| pcap_err(path, e))?.into_writer();
        let mut w = Writer { out, path: path.to_path_buf(), flow: Flow::new(ends), packets: 0, closed_to_device: false, closed_from_device: false };
        for h in w.flow.handshake() {
            w.write(at, &h, &[])?;
        }
        w.out.flush().map_err(|e| RecorderError::io("write", path, e))?;
        Ok(w)
    }

    /// One packet record: the record header (big-endian, microseconds, as the file header
    /// says), then `headers` and `payload`, in one vectored write.
    fn write(&mut self, at: SystemTime, headers: &[u8], payload: &[u8]) -> Result<(), RecorderError> {
        let t = since_epoch(at);
        let len = u32::try_from(headers.len() + payload.len()).unwrap_or(u32::MAX).to_be_bytes();
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&u32::try_from(t.as_secs()).unwrap_or(u32::MAX).to_be_bytes());
        record[4..8].copy_from_slice(&t.subsec_micros().to_be_bytes());
        record[8..12].copy_from_slice(&len);
        record[12..16].copy_from_slice(&len);
        let mut slices = [IoSlice::new(&record), IoSlice::new(headers), IoSlice::new(payload)];
        write_all_vectored(&mut self.out, &mut slices).map_err(|e| RecorderError::io("write", &self.path, e))?;
        self.packets += 1;
        Ok(())
    }

    fn apply(&mut self, item: Item) -> Result<(), RecorderError> {
        match item {
            Item::Data { dir, at, bytes } => {
                for chunk in bytes.chunks(MAX_SEGMENT) {
                    let h = self.flow.data(dir, chunk);
                    self.write(at, &h, chunk)?;
                }
            }
            Item::Fin { dir, at } => self.fin(dir, at)?,
        }
        Ok(())
    }

    fn fin(&mut self, dir: Direction, at: SystemTime) -> Result<(), RecorderError> {
        let closed = match dir {
            Direction::ToDevice => &mut self.closed_to_device,
            Direction::FromDevice => &mut self.closed_from_device,
        };
        if std::mem::replace(closed, true) {
            return Ok(());
        }
        let h = self.flow.fin(dir);
        self.write(at, &h, &[])
    }

    /// Writes until every sender is gone, then closes the file; returns the seal. Runs a
    /// runtime of its own on the writer's thread, for the queue and the flush timer.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Item>) -> Result<Seal, RecorderError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| RecorderError::io("start a writer for", &self.path, e))?;
        if let Err(e) = rt.block_on(self.drain(&mut rx)) {
            tracing::error!(path = %self.path.display(), error = %e, "capture writer failed");
            return Err(e);
        }
        let now = SystemTime::now();
        self.fin(Direction::ToDevice, now)?;
        self.fin(Direction::FromDevice, now)?;
        let Writer { out: mut hashing, path, packets, .. } = self;
        hashing.flush().map_err(|e| RecorderError::io("write", &path, e))?;
        let (mut file, sha256, bytes) = hashing.finish();
        file.sync_all().map_err(|e| RecorderError::io("fsync", &path, e))?;
        Ok(Seal { path, sha256, bytes, events: packets })
    }

    /// Applies queued items until the queue closes, flushing what was written once it has
    /// waited [`FLUSH_INTERVAL`] (giving the buffer back: the tunnel may now stay quiet);
    /// the timer runs only while something waits.
    async fn drain(&mut self, rx: &mut mpsc::Receiver<Item>) -> Result<(), RecorderError> {
        let mut flush_at: Option<Instant> = None;
        // One timer, moved when a flush is due again: a new one per item registered a timer
        // per packet (see the asciicast writer's `pump`).
        let flush = tokio::time::sleep_until(Instant::now());
        tokio::pin!(flush);
        loop {
            tokio::select! {
                item = rx.recv() => {
                    let Some(item) = item else { return Ok(()) };
                    self.apply(item)?;
                    if flush_at.is_none() {
                        let at = Instant::now() + FLUSH_INTERVAL;
                        flush.as_mut().reset(at);
                        flush_at = Some(at);
                    }
                }
                () = &mut flush, if flush_at.is_some() => {
                    self.out.get_mut().release().map_err(|e| RecorderError::io("write", &self.path, e))?;
                    flush_at = None;
                }
            }
        }
    }
}

/// Writes all of `slices`, however the writer splits them up.
fn write_all_vectored(w: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pcap_err(path: &Path, e: pcap_file::PcapError) -> RecorderError {
    match e {
        pcap_file::PcapError::IoError(io) => RecorderError::io("write", path, io),
        other => RecorderError::io("write", path, std::io::Error::other(other.to_string())),
    }
}
