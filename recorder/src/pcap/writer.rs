//! The capture writer: a plain thread (pcap-file writes through `std::io::Write`) that owns
//! the file, frames queued chunks as TCP segments, hashes every byte it writes, and on finish
//! closes the directions still open, flushes and fsyncs.

use super::frame::{Direction, Flow, FlowEnds};
use super::Item;
use crate::seal::Hashing;
use crate::{RecorderError, Seal};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

pub(crate) struct Writer {
    out: PcapWriter<Hashing<BufWriter<File>>>,
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
        let file = File::options().write(true).create_new(true).open(path).map_err(|e| RecorderError::io("create", path, e))?;
        let hashing = Hashing::new(BufWriter::with_capacity(64 * 1024, file));
        let header = PcapHeader { datalink: DataLink::RAW, ..Default::default() };
        let out = PcapWriter::with_header(hashing, header).map_err(|e| pcap_err(path, e))?;
        let mut w = Writer { out, path: path.to_path_buf(), flow: Flow::new(ends), packets: 0, closed_to_device: false, closed_from_device: false };
        for p in w.flow.handshake() {
            w.write(at, &p)?;
        }
        Ok(w)
    }

    fn write(&mut self, at: SystemTime, packet: &[u8]) -> Result<(), RecorderError> {
        let p = PcapPacket::new(since_epoch(at), packet.len() as u32, packet);
        self.out.write_packet(&p).map_err(|e| pcap_err(&self.path, e))?;
        self.packets += 1;
        Ok(())
    }

    fn apply(&mut self, item: Item) -> Result<(), RecorderError> {
        match item {
            Item::Data { dir, at, bytes } => {
                for p in self.flow.data(dir, &bytes) {
                    self.write(at, &p)?;
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
        let p = self.flow.fin(dir);
        self.write(at, &p)
    }

    /// Writes until every sender is gone, then closes the file; returns the seal.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Item>) -> Result<Seal, RecorderError> {
        while let Some(item) = rx.blocking_recv() {
            if let Err(e) = self.apply(item) {
                tracing::error!(path = %self.path.display(), error = %e, "capture writer failed");
                return Err(e);
            }
        }
        let now = SystemTime::now();
        self.fin(Direction::ToDevice, now)?;
        self.fin(Direction::FromDevice, now)?;
        let Writer { out, path, packets, .. } = self;
        let mut hashing = out.into_writer();
        hashing.flush().map_err(|e| RecorderError::io("write", &path, e))?;
        let (inner, sha256, bytes) = hashing.finish();
        let file = inner.into_inner().map_err(|e| RecorderError::io("write", &path, e.into_error()))?;
        file.sync_all().map_err(|e| RecorderError::io("fsync", &path, e))?;
        Ok(Seal { path, sha256, bytes, events: packets })
    }
}

fn pcap_err(path: &Path, e: pcap_file::PcapError) -> RecorderError {
    match e {
        pcap_file::PcapError::IoError(io) => RecorderError::io("write", path, io),
        other => RecorderError::io("write", path, std::io::Error::other(other.to_string())),
    }
}
