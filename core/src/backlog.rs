//! Session ends and recording seals that could not be written because the store was away, or
//! its storage full.
//! A session cut because the store stopped answering still has to be ended, and its
//! recordings sealed, in the store and the audit log: those rows wait here, in memory and in
//! order, and are written as soon as the store answers again ([`Feed::reachable`]), each
//! marked `late` in its audit row. Every step is said in the log.
//!
//! The wait is bounded: at most [`CAPACITY`] rows wait, and a row the store answers with an
//! error [`MAX_ATTEMPTS`] times is given up (one it cannot be reached for waits on). A row given up, or still waiting
//! when the node stops, leaves its session open in the store; start-up recovery closes such
//! sessions when a node starts.

use crate::clock;
use crate::domain::SessionId;
use crate::feed::Feed;
use crate::sessions::{RecordingSeal, Sessions};
use crate::store::StoreError;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Most rows that wait for the store at once.
pub const CAPACITY: usize = 1024;
/// Attempts at one row while the store answers, before it is given up.
pub const MAX_ATTEMPTS: u32 = 5;
/// How often waiting rows are tried again, besides when the store is seen to answer.
const RETRY: Duration = Duration::from_secs(2);

/// One write that waits.
#[derive(Debug, Clone)]
enum Write {
    /// A recording that finished cleanly, or was cut short (`truncated` says why).
    Seal { actor: String, seal: RecordingSeal, truncated: Option<String> },
    /// A session that ended at `at` (Unix seconds).
    End { actor: String, session: SessionId, reason: String, at: i64 },
}

impl Write {
    fn session(&self) -> SessionId {
        match self {
            Write::Seal { seal, .. } => seal.session,
            Write::End { session, .. } => *session,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Write::Seal { .. } => "recording seal",
            Write::End { .. } => "session end",
        }
    }
}

/// The writes of the session service that survive the store going away; cheap to clone (one
/// shared queue per process).
#[derive(Clone, Debug)]
pub struct Backlog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sessions: Sessions,
    feed: Feed,
    /// Rows in the order they happened, each with the attempts made while the store
    /// answered. Std mutex: pushed and popped without an `.await` inside.
    queue: Mutex<VecDeque<(Write, u32)>>,
    /// Wakes [`Backlog::run`] when a row is queued.
    queued: Notify,
}

/// Whether a write failed because the store could not take it for now: it did not answer (no
/// connection, or it was lost), or its storage is full or failing (SQLite's `SQLITE_FULL` and
/// `SQLITE_IOERR`, PostgreSQL's classes 53 "insufficient resources" and 58 "system error").
/// Such rows wait for as long as that lasts, within [`CAPACITY`].
fn store_away(e: &StoreError) -> bool {
    use sqlx::Error as E;
    match e {
        StoreError::Db(E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::Protocol(_) | E::Tls(_) | E::WorkerCrashed) => true,
        StoreError::Db(E::Database(db)) => db.code().is_some_and(|code| storage_failing(&code)),
        _ => false,
    }
}

/// Whether a database error code says the storage is full or failing (see [`store_away`]).
fn storage_failing(code: &str) -> bool {
    // SQLite gives its (extended) result code as a number: the primary code is its low byte.
    if let Ok(n) = code.parse::<u32>() {
        return matches!(n & 0xff, 10 | 13);
    }
    code.starts_with("53") || code.starts_with("58")
}

/// Whether a failed write may succeed when tried again: the store did not answer, or it
/// answered with a database error (a server shutting down says so that way).
fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(_))
}

impl Backlog {
    /// The backlog of `sessions`, which watches `feed` to know when the store answers.
    pub fn new(sessions: Sessions, feed: Feed) -> Backlog {
        Backlog { inner: Arc::new(Inner { sessions, feed, queue: Mutex::new(VecDeque::new()), queued: Notify::new() }) }
    }

    /// Rows waiting for the store.
    pub fn len(&self) -> usize {
        self.inner.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends session `id` now with `reason` ([`Sessions::end`]); when the store does not
    /// answer, the end waits here and is written when it does.
    pub async fn end_session(&self, actor: &str, id: SessionId, reason: &str) {
        let w = Write::End { actor: actor.to_owned(), session: id, reason: reason.to_owned(), at: clock::now() };
        self.write_or_wait(w).await;
    }

    /// Seals a recording that finished cleanly ([`Sessions::seal_recording`]); when the store
    /// does not answer, the seal waits here and is written when it does.
    pub async fn seal_recording(&self, actor: &str, seal: &RecordingSeal) {
        self.write_or_wait(Write::Seal { actor: actor.to_owned(), seal: seal.clone(), truncated: None }).await;
    }

    /// Seals a recording that was cut short, with why ([`Sessions::mark_truncated`]); when the
    /// store cannot take it, the seal waits here and is written when it can.
    pub async fn mark_truncated(&self, actor: &str, seal: &RecordingSeal, why: &str) {
        self.write_or_wait(Write::Seal { actor: actor.to_owned(), seal: seal.clone(), truncated: Some(why.to_owned()) }).await;
    }

    /// Writes at once when the store answers and nothing waits before; otherwise (or when the
    /// write finds the store away) queues the row behind the others, keeping their order.
    async fn write_or_wait(&self, w: Write) {
        if self.inner.feed.is_reachable() && self.is_empty() {
            match self.write(&w, false).await {
                Ok(()) => return,
                Err(e) if retryable(&e) => warn!(error = %e, session = %w.session(), what = w.what(), "the store does not answer; the row waits until it does"),
                Err(e) => {
                    error!(error = %e, session = %w.session(), what = w.what(), "cannot write");
                    return;
                }
            }
        } else {
            warn!(session = %w.session(), what = w.what(), "the store does not answer; the row waits until it does");
        }
        self.push(w);
    }

    fn push(&self, w: Write) {
        let Ok(mut q) = self.inner.queue.lock() else { return };
        if q.len() >= CAPACITY {
            error!(session = %w.session(), what = w.what(), capacity = CAPACITY, "too many rows wait for the store; this one is given up (start-up recovery closes the session)");
            return;
        }
        q.push_back((w, 0));
        drop(q);
        self.inner.queued.notify_one();
    }

    async fn write(&self, w: &Write, late: bool) -> Result<(), StoreError> {
        let s = &self.inner.sessions;
        match (w, late) {
            (Write::Seal { actor, seal, truncated: None }, false) => s.seal_recording(actor, seal).await,
            (Write::Seal { actor, seal, truncated: Some(why) }, false) => s.mark_truncated(actor, seal, why).await,
            (Write::Seal { actor, seal, truncated }, true) => s.seal_recording_late(actor, seal, truncated.as_deref()).await,
            (Write::End { actor, session, reason, .. }, false) => s.end(actor, *session, reason).await,
            (Write::End { actor, session, reason, at }, true) => s.end_late(actor, *session, reason, *at).await,
        }
    }

    /// Writes the waiting rows, oldest first, while the store answers; stops at the first
    /// that finds it away.
    pub async fn flush(&self) {
        loop {
            let Some((w, attempts)) = self.inner.queue.lock().ok().and_then(|q| q.front().cloned()) else { return };
            let result = self.write(&w, true).await;
            let Ok(mut q) = self.inner.queue.lock() else { return };
            match result {
                Ok(()) => {
                    info!(session = %w.session(), what = w.what(), "written late, now that the store answers");
                    q.pop_front();
                }
                // Not counted: the rows wait for as long as the store is away.
                Err(e) if store_away(&e) => {
                    warn!(error = %e, session = %w.session(), what = w.what(), waiting = q.len(), "the store still does not answer; the rows keep waiting");
                    return;
                }
                Err(e) if retryable(&e) && attempts + 1 < MAX_ATTEMPTS => {
                    warn!(error = %e, session = %w.session(), what = w.what(), waiting = q.len(), attempt = attempts + 1, "the store refused a waiting row; it is tried again");
                    if let Some(front) = q.front_mut() {
                        front.1 = attempts + 1;
                    }
                    return;
                }
                Err(e) => {
                    // Already written (a commit whose answer was lost), or refused for good.
                    error!(error = %e, session = %w.session(), what = w.what(), "a waiting row cannot be written; it is given up (start-up recovery closes the session if it is still open)");
                    q.pop_front();
                }
            }
        }
    }

    /// Writes waiting rows whenever the store answers, until `shutdown`; then says what is
    /// left.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut reachable = self.inner.feed.reachable();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.queued.notified() => {}
                r = reachable.changed() => if r.is_err() { break },
                _ = tokio::time::sleep(RETRY) => {}
            }
            if !self.is_empty() && self.inner.feed.is_reachable() {
                self.flush().await;
            }
        }
        let left = self.len();
        if left > 0 {
            error!(left, "rows still wait for the store as the node stops; start-up recovery closes their sessions");
        }
    }
}

#[cfg(test)]
mod tests;
