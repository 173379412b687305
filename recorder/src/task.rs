//! The writer task: owns the recording file, turns queued events into asciicast lines, hashes
//! what it writes, flushes periodically and on finish, and reports its outcome.
//!
//! The lines are hashed where they are written, on the blocking pool, each buffer just before
//! its write, in the order of the writes: SHA-256 was a fifth of the session thread's work
//! during bulk output, and there it held up the vendor's and the device's connections.
//!
//! It runs off the data path (spawned by [`crate::Recorder::create`]) and ends when the
//! [`crate::RecordingHandle`] asks it to finish or when every `Recorder` clone is gone; either
//! way it writes any held UTF-8 tails, flushes, fsyncs and closes the file. On an I/O error it
//! publishes [`State::Failed`] and stops taking events, so the broker can end the session.
//!
//! An idle recording costs nothing: the write buffer grows with the lines written (up to
//! [`WRITE_BUFFER`], then it is written out) and is given back, with the file's own buffer,
//! when a timed flush finds the recording quiet, and the flush timer is armed only while
//! written lines wait for it, so a terminal where nothing happens neither holds a buffer nor
//! wakes its task.
//!
//! The file is a [`DirectFile`] (written around the page cache, [`FILE_BUFFER`] bytes at a
//! time); its writes run on the blocking pool, never on the session's thread.

use std::path::PathBuf;
use std::time::Duration;

use std::io::Write as _;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::direct::DirectFile;
use crate::escape::{escape_str, StreamEncoder};
use crate::seal::SealHasher;
use crate::{RecorderError, Seal};

/// The longest a written line waits in the buffer before it is handed to the operating system.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Lines are handed to the file in chunks of this size while data keeps coming: the file's
/// own buffer size, so a busy recording crosses to the blocking pool once per direct write
/// (with 64 KiB it crossed four times as often, for about a tenth more of the broker's CPU).
const WRITE_BUFFER: usize = 256 * 1024;
/// The file's buffer, written out in one direct write when full. With [`WRITE_BUFFER`] and
/// [`crate::BYTE_BUDGET`] it makes what may pass unrecorded when the disk fails about
/// 1.1 MiB per channel (README, security model).
pub(crate) const FILE_BUFFER: usize = 256 * 1024;

/// Which byte stream a data event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Output,
    Input,
}

impl Stream {
    fn code(self) -> &'static str {
        match self {
            Stream::Output => "o",
            Stream::Input => "i",
        }
    }
}

/// One queued event; `at` is the time since the recording started, taken on the data path.
#[derive(Debug)]
pub(crate) enum Command {
    Data {
        stream: Stream,
        at: Duration,
        bytes: Vec<u8>,
        /// Its share of the recorder's byte budget, given back once written.
        budget: OwnedSemaphorePermit,
    },
    Resize {
        at: Duration,
        cols: u16,
        rows: u16,
    },
    Marker {
        at: Duration,
        label: String,
    },
}

/// What the writer task publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Finished,
    /// The text of the I/O error that stopped the writer.
    Failed(String),
}

/// A line begun in the writer's buffer: where it starts, where its data starts, and its time.
struct OpenLine {
    start: usize,
    data: usize,
    micros: u64,
}

/// The file and the hash of what was handed to it, which travel together to the blocking pool.
struct Out {
    file: DirectFile,
    seal: SealHasher,
}

pub(crate) struct Writer {
    /// The file and its hash; taken only while one of its writes runs on the blocking pool.
    out: Option<Out>,
    /// Lines not yet handed to the file; empty (no allocation) while the recording is idle.
    buf: Vec<u8>,
    /// Lines in `buf` (each ends with the one newline it holds).
    lines: u64,
    path: PathBuf,
    output: StreamEncoder,
    input: StreamEncoder,
    last_micros: u64,
    /// When lines written since the last flush must be flushed; `None` when nothing waits.
    flush_at: Option<Instant>,
}

impl Writer {
    /// `seal` already holds the header line, which was written before the task started.
    pub(crate) fn new(file: DirectFile, path: PathBuf, seal: SealHasher) -> Self {
        Writer {
            out: Some(Out { file, seal }),
            buf: Vec::new(),
            lines: 0,
            path,
            output: StreamEncoder::default(),
            input: StreamEncoder::default(),
            last_micros: 0,
            flush_at: None,
        }
    }

    /// The task body: writes until told to finish or until all senders are gone, then closes
    /// the file, publishes the state and hands the result to the `RecordingHandle`.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        finish: oneshot::Receiver<()>,
        state: watch::Sender<State>,
        done: oneshot::Sender<Result<Seal, RecorderError>>,
    ) {
        let path = self.path.clone();
        let result = match self.pump(&mut rx, finish).await {
            Ok(()) => self.close().await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(seal) => {
                tracing::debug!(path = %path.display(), sha256 = %seal.sha256, events = seal.events, "recording sealed");
                state.send_replace(State::Finished);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "recording writer failed");
                state.send_replace(State::Failed(e.to_string()));
            }
        }
        // Senders see the failure state before they see the closed queue.
        drop(rx);
        // The handle may have been dropped; the outcome is in the state and the log then.
        let _ = done.send(result);
    }

    async fn pump(
        &mut self,
        rx: &mut mpsc::Receiver<Command>,
        mut finish: oneshot::Receiver<()>,
    ) -> Result<(), RecorderError> {
        let mut finish_pending = true;
        // One timer for the life of the task, moved only when `flush_at` changes. A new
        // `sleep_until` per event registered a timer per event, and each registration woke
        // the session thread's driver once more (an eventfd write and an extra poll per
        // recorded chunk, seen with `perf record -e syscalls:sys_enter_write`).
        let flush = tokio::time::sleep_until(Instant::now());
        tokio::pin!(flush);
        loop {
            if let Some(at) = self.flush_at.filter(|at| *at != flush.deadline()) {
                flush.as_mut().reset(at);
            }
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.apply(cmd).await?,
                    None => return Ok(()),
                },
                asked = &mut finish, if finish_pending => {
                    finish_pending = false;
                    // A dropped handle is not a finish request: keep going until the
                    // recorders are gone.
                    if asked.is_ok() {
                        rx.close();
                        while let Some(cmd) = rx.recv().await {
                            self.apply(cmd).await?;
                        }
                        return Ok(());
                    }
                }
                () = &mut flush, if self.flush_at.is_some() => self.timed_flush().await?,
            }
        }
    }

    async fn apply(&mut self, cmd: Command) -> Result<(), RecorderError> {
        let (at, code) = match &cmd {
            Command::Data { stream, at, .. } => (*at, stream.code()),
            Command::Resize { at, .. } => (*at, "r"),
            Command::Marker { at, .. } => (*at, "m"),
        };
        // A data event's share of the byte budget, given back once it is written.
        let mut _held = None;
        let line = self.open_line(at, code);
        match cmd {
            Command::Data { stream, bytes, budget, .. } => {
                let encoder = match stream {
                    Stream::Output => &mut self.output,
                    Stream::Input => &mut self.input,
                };
                _held = Some(budget);
                encoder.encode(&bytes, &mut self.buf);
                if self.buf.len() == line.data {
                    // Nothing to show yet (empty chunk, or only a held partial character).
                    self.buf.truncate(line.start);
                    return Ok(());
                }
            }
            Command::Resize { cols, rows, .. } => {
                let _ = write!(self.buf, "{cols}x{rows}");
            }
            Command::Marker { label, .. } => escape_str(&label, &mut self.buf),
        }
        self.close_line(line).await
    }

    /// Starts the line `[S.UUUUUU, "code", "` at the end of the buffer; the event's data is
    /// escaped straight after it, so that it is not copied again. Times never go back (events
    /// from different clones may be queued slightly out of order).
    fn open_line(&mut self, at: Duration, code: &str) -> OpenLine {
        let micros = u64::try_from(at.as_micros())
            .unwrap_or(u64::MAX)
            .max(self.last_micros);
        let start = self.buf.len();
        let _ = write!(
            self.buf,
            "[{}.{:06}, \"{code}\", \"",
            micros / 1_000_000,
            micros % 1_000_000
        );
        OpenLine { start, data: self.buf.len(), micros }
    }

    /// Ends the line `line` opened, and hands the buffer to the file once it holds
    /// [`WRITE_BUFFER`] bytes.
    async fn close_line(&mut self, line: OpenLine) -> Result<(), RecorderError> {
        self.buf.extend_from_slice(b"\"]\n");
        self.last_micros = line.micros;
        self.lines += 1;
        if self.buf.len() >= WRITE_BUFFER {
            self.write_out().await?;
        }
        self.flush_at.get_or_insert_with(|| Instant::now() + FLUSH_INTERVAL);
        Ok(())
    }

    /// Hashes the buffered lines and runs `op` on the file with them, on the blocking pool;
    /// `action` names it in an error. The lines count as hashed from then on: the caller
    /// clears the buffer (or, on an error, the recording has failed and its hash is void).
    async fn on_file(&mut self, action: &'static str, op: fn(&mut DirectFile, &[u8]) -> std::io::Result<()>) -> Result<(), RecorderError> {
        let mut out = self.out.take().ok_or(RecorderError::WriterGone)?;
        let buf = std::mem::take(&mut self.buf);
        let lines = std::mem::take(&mut self.lines);
        let (out, buf, done) = tokio::task::spawn_blocking(move || {
            out.seal.update_lines(&buf, lines);
            let done = op(&mut out.file, &buf);
            (out, buf, done)
        })
        .await
        .map_err(|_| RecorderError::WriterGone)?;
        self.out = Some(out);
        self.buf = buf;
        done.map_err(|e| RecorderError::io(action, &self.path, e))
    }

    /// Hands the buffered lines to the file.
    async fn write_out(&mut self) -> Result<(), RecorderError> {
        if !self.buf.is_empty() {
            self.on_file("write", |f, b| f.write_all(b)).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes and flushes what waits, and gives the buffers back: the recording may now stay
    /// quiet for hours (a busy one grows new ones at once, which costs little next to its
    /// traffic).
    async fn timed_flush(&mut self) -> Result<(), RecorderError> {
        self.on_file("write", |f, b| {
            f.write_all(b)?;
            f.release()
        })
        .await?;
        self.flush_at = None;
        self.buf = Vec::new();
        Ok(())
    }

    /// Writes held tails as escaped bytes, flushes, fsyncs and closes; returns the seal.
    async fn close(mut self) -> Result<Seal, RecorderError> {
        let at = Duration::from_micros(self.last_micros);
        for stream in [Stream::Output, Stream::Input] {
            let line = self.open_line(at, stream.code());
            match stream {
                Stream::Output => self.output.flush(&mut self.buf),
                Stream::Input => self.input.flush(&mut self.buf),
            }
            if self.buf.len() == line.data {
                self.buf.truncate(line.start);
            } else {
                self.close_line(line).await?;
            }
        }
        self.on_file("write", |f, b| {
            f.write_all(b)?;
            f.flush()
        })
        .await?;
        self.buf.clear();
        self.on_file("fsync", |f, _| f.sync_all()).await?;
        // Dropping the file closes it.
        let out = self.out.take().ok_or(RecorderError::WriterGone)?;
        drop(out.file);
        Ok(out.seal.finish(self.path))
    }
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
