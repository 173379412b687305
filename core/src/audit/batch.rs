//! Group commit of [`AuditLog::record`] (facts with no other change). Each caller queues its
//! prepared row and waits; whichever caller gets the writer's turn takes what is queued (at
//! most [`BATCH_MAX`] rows, oldest first), appends them all in one write transaction, each
//! hash-chained to the one before, commits once, and only then answers each caller with its
//! own sequence number. When anything in that transaction fails, the commit included, every
//! caller of the batch gets the error and none of its rows exists. After the commit the batch
//! follows the rules of [`super::AuditedWrite::commit`]: a checkpoint when one is due, then the
//! new head on the feed, then the answers.
//!
//! The batch is written by a task of its own that holds the writer's turn until every caller is
//! answered, so a caller that gives up waiting (its future dropped) cannot cut a batch in half
//! or leave others without an answer; its row, once queued, is written with its batch. The queue is bounded: a caller first takes one of
//! [`QUEUE_MAX`] places, kept until its row is answered, and waits for one when all are taken.
//!
//! Batches of this process follow each other; a batch and a concurrent [`AuditLog::begin`]
//! write (or another process's) are kept on one chain the way every append is: the write
//! transaction (SQLite) or the advisory lock (PostgreSQL) is held from reading the head to the
//! commit.

use super::append::{insert, Prepared};
use super::AuditLog;
use crate::store::StoreError;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{oneshot, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// Most rows written in one transaction.
pub(super) const BATCH_MAX: usize = 256;
/// Most rows queued or being written at once; further callers wait for a place.
pub(super) const QUEUE_MAX: usize = 1024;

/// What a caller is told about its row.
type Answer = Result<i64, StoreError>;

/// A queued row and its caller.
struct Pending {
    row: Prepared,
    reply: oneshot::Sender<Answer>,
    /// The caller's place in the queue, given back once it is answered.
    place: OwnedSemaphorePermit,
}

/// The queue of one [`AuditLog`] (shared by its clones).
#[derive(Debug)]
pub(super) struct Batcher {
    /// Rows waiting for the writer, oldest first. A std mutex: only pushed to and drained,
    /// never held across an `.await`.
    queue: Mutex<VecDeque<Pending>>,
    /// One permit per place in the queue ([`QUEUE_MAX`]).
    places: Arc<Semaphore>,
    /// The writer's turn: held by the task writing a batch, from taking it to the answers.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("row", &self.row).finish()
    }
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher { queue: Mutex::new(VecDeque::new()), places: Arc::new(Semaphore::new(QUEUE_MAX)), turn: Arc::new(tokio::sync::Mutex::new(())) }
    }
}

impl Batcher {
    /// Queues `row`, waits until a batch holding it is committed (or failed), and returns its
    /// sequence number.
    pub(super) async fn submit(&self, log: &AuditLog, row: Prepared) -> Answer {
        let place = Arc::clone(&self.places).acquire_owned().await.map_err(|_| abandoned())?;
        let (reply, mut answer) = oneshot::channel();
        self.queue().push_back(Pending { row, reply, place });
        loop {
            tokio::select! {
                biased;
                a = &mut answer => return a.unwrap_or_else(|_| Err(abandoned())),
                turn = Arc::clone(&self.turn).lock_owned() => {
                    // The row may have been answered while this caller waited for its turn.
                    match answer.try_recv() {
                        Ok(a) => return a,
                        Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                        Err(oneshot::error::TryRecvError::Empty) => {}
                    }
                    let batch = self.take();
                    // Written by a task of its own, which keeps the turn until all are answered.
                    let _ = tokio::spawn(write(log.clone(), batch, turn)).await;
                }
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        // A panic elsewhere cannot leave the queue half-changed: push and drain are single calls.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next batch: the oldest queued rows, at most [`BATCH_MAX`].
    fn take(&self) -> Vec<Pending> {
        let mut q = self.queue();
        let n = q.len().min(BATCH_MAX);
        q.drain(..n).collect()
    }

    /// Rows waiting, and rows waiting or being written (for tests).
    #[cfg(test)]
    pub(super) fn depth(&self) -> (usize, usize) {
        (self.queue().len(), QUEUE_MAX - self.places.available_permits())
    }
}

/// Writes one batch and answers its callers; `_turn` is released when it returns.
async fn write(log: AuditLog, batch: Vec<Pending>, _turn: OwnedMutexGuard<()>) {
    if batch.is_empty() {
        return;
    }
    let (rows, replies): (Vec<Prepared>, Vec<(oneshot::Sender<Answer>, OwnedSemaphorePermit)>) =
        batch.into_iter().map(|p| (p.row, (p.reply, p.place))).unzip();
    let written = async {
        let mut tx = log.store.begin_write().await?;
        let first = insert(&log.store, &mut tx, &rows).await?;
        tx.commit().await?;
        Ok::<i64, StoreError>(first)
    }
    .await;
    let first = match written {
        Ok(first) => first,
        Err(e) => {
            tracing::debug!(rows = rows.len(), error = %e, "audit: a batch of rows could not be written");
            for (reply, place) in replies {
                // The place is given back first, so that an answered caller finds it free.
                drop(place);
                let _ = reply.send(Err(copy(&e)));
            }
            return;
        }
    };
    let last = first + rows.len() as i64 - 1;
    let after = log.committed(first, last).await;
    for ((reply, place), seq) in replies.into_iter().zip(first..) {
        drop(place);
        let _ = reply.send(match &after {
            Ok(()) => Ok(seq),
            Err(e) => Err(copy(e)),
        });
    }
}

/// The error of a writer that stopped before answering (its runtime shut down).
fn abandoned() -> StoreError {
    StoreError::Db(sqlx::Error::WorkerCrashed)
}

/// The same error again, for each caller of a failed batch: same variant, same database code
/// and kind, so that callers telling "the store is away" from "refused" decide as they would
/// have for their own write.
pub(super) fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Db(db) => StoreError::Db(copy_sqlx(db)),
        StoreError::Migrate(m) => StoreError::Corrupt(m.to_string()),
        StoreError::UnsupportedUrl => StoreError::UnsupportedUrl,
        StoreError::NotFound(s) => StoreError::NotFound(s.clone()),
        StoreError::Exists(s) => StoreError::Exists(s.clone()),
        StoreError::Corrupt(s) => StoreError::Corrupt(s.clone()),
        StoreError::TooNew { found, known } => StoreError::TooNew { found: *found, known: *known },
    }
}

fn copy_sqlx(e: &sqlx::Error) -> sqlx::Error {
    use sqlx::Error as E;
    match e {
        E::Io(io) => E::Io(std::io::Error::new(io.kind(), io.to_string())),
        E::PoolTimedOut => E::PoolTimedOut,
        E::PoolClosed => E::PoolClosed,
        E::WorkerCrashed => E::WorkerCrashed,
        E::Protocol(s) => E::Protocol(s.clone()),
        E::Tls(t) => E::Tls(t.to_string().into()),
        E::Database(d) => E::Database(Box::new(CopiedDbError::of(d.as_ref()))),
        other => E::Configuration(other.to_string().into()),
    }
}

/// A database error as the database gave it: message, code and kind.
#[derive(Debug)]
struct CopiedDbError {
    message: String,
    code: Option<String>,
    kind: Kind,
}

/// The kinds `sqlx` tells apart (its own enum is not `Clone`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    Other,
}

impl CopiedDbError {
    fn of(d: &dyn sqlx::error::DatabaseError) -> CopiedDbError {
        use sqlx::error::ErrorKind as K;
        let kind = match d.kind() {
            K::UniqueViolation => Kind::Unique,
            K::ForeignKeyViolation => Kind::ForeignKey,
            K::NotNullViolation => Kind::NotNull,
            K::CheckViolation => Kind::Check,
            _ => Kind::Other,
        };
        CopiedDbError { message: d.message().to_owned(), code: d.code().map(|c| c.into_owned()), kind }
    }
}

impl std::fmt::Display for CopiedDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CopiedDbError {}

impl sqlx::error::DatabaseError for CopiedDbError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.as_deref().map(std::borrow::Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind as K;
        match self.kind {
            Kind::Unique => K::UniqueViolation,
            Kind::ForeignKey => K::ForeignKeyViolation,
            Kind::NotNull => K::NotNullViolation,
            Kind::Check => K::CheckViolation,
            Kind::Other => K::Other,
        }
    }
}

#[cfg(test)]
mod tests;
