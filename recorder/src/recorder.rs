//! The data-path side of a recording: [`Recorder`] (cheap to clone, queues events) and
//! [`RecordingHandle`] (finishes the recording and returns its [`Seal`]).
//!
//! Events go through a bounded queue of [`QUEUE_CAPACITY`] events to the writer task
//! ([`crate::task`]), and the bytes of events not yet handed to the file are capped at
//! [`BYTE_BUDGET`]. When either is full, sending waits (backpressure) for at most
//! [`SEND_TIMEOUT`] and then fails with [`RecorderError::Stalled`]. Any error from a `Recorder`
//! method means the session can no longer be recorded and must be ended (fail closed).
//!
//! The bridge records a chunk before forwarding it, so what can reach a device after the disk
//! has stopped taking the recording is bounded: the bytes queued but not written
//! ([`BYTE_BUDGET`]) plus the writer's buffers (256 KiB of lines, 256 KiB in the file's), about
//! 1.1 MiB per terminal channel.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::io::Write as _;
use tokio::sync::mpsc::error::TrySendError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::direct::DirectFile;
use crate::seal::SealHasher;
use crate::task::{Command, State, Stream, Writer, FILE_BUFFER};
use crate::{CastHeader, RecorderError, Seal};

/// Events the queue holds before senders wait. SSH channel packets are at most 32 KiB, so a
/// full queue holds at most about 32 MiB per session.
pub const QUEUE_CAPACITY: usize = 1024;

/// Bytes of events queued but not yet handed to the file, at most (see the module docs).
pub const BYTE_BUDGET: usize = 576 * 1024;

/// How long a send waits on a full queue before giving up with [`RecorderError::Stalled`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle used on the data path; clone it freely. See the module docs for backpressure.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Command>,
    state: watch::Receiver<State>,
    start: Instant,
    send_timeout: Duration,
    /// Permits for [`BYTE_BUDGET`] bytes; each queued data event holds its size until the
    /// writer has handed it to the file.
    budget: Arc<Semaphore>,
}

/// Finishes a recording. Dropping it without [`RecordingHandle::finish`] does not stop the
/// recording: the writer then finishes when the last [`Recorder`] clone is dropped.
#[derive(Debug)]
pub struct RecordingHandle {
    finish: oneshot::Sender<()>,
    done: oneshot::Receiver<Result<Seal, RecorderError>>,
    path: PathBuf,
}

impl Recorder {
    /// Creates `path` (it must not exist; its directory must), writes and fsyncs the header line,
    /// then spawns the writer task on the current tokio runtime. A storage problem is therefore
    /// reported here, before the session starts. On Unix the file is created with mode 0600.
    pub async fn create(
        path: &Path,
        header: CastHeader,
    ) -> Result<(Recorder, RecordingHandle), RecorderError> {
        let line = header.to_line()?;
        let owned = path.to_path_buf();
        let file = tokio::task::spawn_blocking(move || DirectFile::create_new(&owned, FILE_BUFFER))
            .await
            .map_err(|_| RecorderError::WriterGone)?
            .map_err(|e| RecorderError::io("create", path, e))?;
        match start(file, path, &line).await {
            Ok(pair) => Ok(pair),
            Err(e) => {
                // The file holds no session data yet; leave no half-written header behind.
                let _ = tokio::fs::remove_file(path).await;
                Err(e)
            }
        }
    }

    /// Records bytes sent by the server to the user (`"o"` event).
    pub async fn output(&self, bytes: &[u8]) -> Result<(), RecorderError> {
        self.data(Stream::Output, bytes).await
    }

    /// Records bytes typed by the user (`"i"` event).
    pub async fn input(&self, bytes: &[u8]) -> Result<(), RecorderError> {
        self.data(Stream::Input, bytes).await
    }

    /// Records a terminal resize (`"r"` event with data `"COLSxROWS"`).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), RecorderError> {
        let at = self.start.elapsed();
        self.send(Command::Resize { at, cols, rows }).await
    }

    /// Records a marker (`"m"` event), e.g. "approval window ends in 5 minutes".
    pub async fn marker(&self, label: &str) -> Result<(), RecorderError> {
        let at = self.start.elapsed();
        let label = label.to_string();
        self.send(Command::Marker { at, label }).await
    }

    /// A future that resolves when the writer task fails (disk full, I/O error), with
    /// [`RecorderError::WriterFailed`], or with [`RecorderError::WriterGone`] if the task
    /// vanished without a result. It never resolves once the recording finished normally.
    /// It owns what it needs, so it can sit in a `tokio::select!` beside the session:
    /// `_ = recorder.failed() => end the session`.
    pub fn failed(&self) -> impl Future<Output = RecorderError> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            let failure = match state.wait_for(|s| *s != State::Running).await {
                Ok(s) => match &*s {
                    State::Failed(message) => Some(message.clone()),
                    _ => None,
                },
                Err(_) => return RecorderError::WriterGone,
            };
            match failure {
                Some(message) => RecorderError::WriterFailed(message),
                None => std::future::pending().await,
            }
        }
    }

    /// The writer failure, if one has happened (a non-waiting check).
    pub fn failure(&self) -> Option<RecorderError> {
        match &*self.state.borrow() {
            State::Failed(message) => Some(RecorderError::WriterFailed(message.clone())),
            _ => None,
        }
    }

    /// The queue size, [`QUEUE_CAPACITY`].
    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    async fn data(&self, stream: Stream, bytes: &[u8]) -> Result<(), RecorderError> {
        let at = self.start.elapsed();
        let budget = self.reserve(bytes.len()).await?;
        let bytes = bytes.to_vec();
        self.send(Command::Data { stream, at, bytes, budget }).await
    }

    /// Takes `len` bytes of the budget (a chunk larger than the whole budget takes all of it),
    /// waiting at most the send timeout.
    async fn reserve(&self, len: usize) -> Result<OwnedSemaphorePermit, RecorderError> {
        let n = u32::try_from(len.clamp(1, BYTE_BUDGET)).unwrap_or(u32::MAX);
        if let Ok(p) = self.budget.clone().try_acquire_many_owned(n) {
            return Ok(p);
        }
        match tokio::time::timeout(self.send_timeout, self.budget.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => Err(RecorderError::Stalled(self.send_timeout)),
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), RecorderError> {
        let cmd = match self.tx.try_send(cmd) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(self.closed_error()),
            Err(TrySendError::Full(cmd)) => cmd,
        };
        match tokio::time::timeout(self.send_timeout, self.tx.send(cmd)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => Err(RecorderError::Stalled(self.send_timeout)),
        }
    }

    /// Why the queue is closed: a writer failure, a vanished task, or a finished recording.
    fn closed_error(&self) -> RecorderError {
        let task_gone = self.state.has_changed().is_err();
        match &*self.state.borrow() {
            State::Failed(message) => RecorderError::WriterFailed(message.clone()),
            State::Running if task_gone => RecorderError::WriterGone,
            _ => RecorderError::Closed,
        }
    }
}

impl RecordingHandle {
    /// The recording file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops taking events (later sends fail with [`RecorderError::Closed`]), writes everything
    /// already queued and any held partial UTF-8 tails, fsyncs and closes the file, and returns
    /// its seal. Returns the writer's error instead if it failed.
    pub async fn finish(self) -> Result<Seal, RecorderError> {
        // Fails only if the writer already ended; its result is waiting in `done` then.
        let _ = self.finish.send(());
        self.done.await.unwrap_or(Err(RecorderError::WriterGone))
    }
}

/// Writes the header line to a freshly opened file and fsyncs it, then starts the writer on
/// it.
async fn start(
    file: DirectFile,
    path: &Path,
    header_line: &str,
) -> Result<(Recorder, RecordingHandle), RecorderError> {
    let line = header_line.to_owned();
    let (file, written) = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let written = file.write_all(line.as_bytes()).and_then(|()| file.flush()).map_err(|e| ("write", e));
        let written = written.and_then(|()| file.sync_all().map_err(|e| ("fsync", e)));
        (file, written)
    })
    .await
    .map_err(|_| RecorderError::WriterGone)?;
    written.map_err(|(action, e)| RecorderError::io(action, path, e))?;
    let mut seal = SealHasher::default();
    seal.update(header_line.as_bytes());
    Ok(spawn_writer(file, path.to_path_buf(), seal, SEND_TIMEOUT))
}

fn spawn_writer(
    file: DirectFile,
    path: PathBuf,
    seal: SealHasher,
    send_timeout: Duration,
) -> (Recorder, RecordingHandle) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (state_tx, state) = watch::channel(State::Running);
    let (finish, finish_rx) = oneshot::channel();
    let (done_tx, done) = oneshot::channel();
    let writer = Writer::new(file, path.clone(), seal);
    tokio::spawn(writer.run(rx, finish_rx, state_tx, done_tx));
    let recorder = Recorder {
        tx,
        state,
        start: Instant::now(),
        send_timeout,
        budget: Arc::new(Semaphore::new(BYTE_BUDGET)),
    };
    (recorder, RecordingHandle { finish, done, path })
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
