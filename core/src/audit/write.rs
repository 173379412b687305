//! The one audited write. Every change of Portcullis data goes through an [`AuditedWrite`]:
//! it opens the write transaction, the caller makes its change on it and appends the audit
//! rows that describe it, and [`AuditedWrite::commit`] commits, then announces the new head on
//! the change feed and signs a checkpoint when one is due. Nothing else in the code base
//! appends to the log, so a change without its row, or a row that wakes nobody, cannot be
//! written by forgetting a step. Dropping the guard without committing rolls everything back.

use super::append::{insert, Prepared};
use super::{AuditLog, Event};
use crate::store::StoreError;
use sqlx::{Any, AnyConnection, Transaction};
use std::ops::{Deref, DerefMut};

/// A write transaction that must carry at least one audit row to commit.
#[must_use = "an audited write does nothing until it is committed"]
pub struct AuditedWrite {
    /// The log the rows go to (and whose feed and signer act after the commit).
    log: AuditLog,
    /// The open transaction; the caller's change and the rows share it.
    tx: Transaction<'static, Any>,
    /// Sequence numbers of the first and the last row appended, if any.
    rows: Option<(i64, i64)>,
}

impl AuditLog {
    /// Opens an audited write: make the change on the returned guard (it is the connection),
    /// [`AuditedWrite::append`] its rows, then [`AuditedWrite::commit`].
    pub async fn begin(&self) -> Result<AuditedWrite, StoreError> {
        let tx = self.store.begin_write().await?;
        Ok(AuditedWrite { log: self.clone(), tx, rows: None })
    }

    /// Appends one event with no other change; returns its sequence number once the row is
    /// committed, announced and checkpointed when due. Rows of concurrent callers share a
    /// transaction (group commit, see `batch`), each still chained to the one before. When the
    /// write fails every caller of the batch gets the error and none of its rows exists; as
    /// with [`AuditedWrite::commit`], a due checkpoint that fails after the commit is an error
    /// too.
    pub async fn record(&self, ev: Event) -> Result<i64, StoreError> {
        let row = Prepared::of(ev)?;
        self.batcher.submit(self, row).await
    }
}

impl AuditedWrite {
    /// Appends a row inside the transaction; returns its sequence number.
    pub async fn append(&mut self, ev: Event) -> Result<i64, StoreError> {
        let seq = insert(&self.log.store, &mut self.tx, &[Prepared::of(ev)?]).await?;
        self.rows = Some((self.rows.map_or(seq, |(first, _)| first), seq));
        Ok(seq)
    }

    /// Commits the change and its rows, then announces the new head and checkpoints when
    /// due. A write that appended no row is refused and rolled back: every change is audited.
    pub async fn commit(self) -> Result<i64, StoreError> {
        let Some((first, seq)) = self.rows else {
            self.tx.rollback().await?;
            return Err(StoreError::Corrupt("a change without its audit row was refused".into()));
        };
        self.tx.commit().await?;
        self.log.committed(first, seq).await?;
        Ok(seq)
    }
}

impl Deref for AuditedWrite {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for AuditedWrite {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::audit::{tail, Kind, Subject};
    use crate::testdb::{audit_log, stores};
    use serde_json::json;

    fn event(i: i64) -> Event {
        Event::new("tester", Kind::SystemInitialised, Subject::System, json!({ "i": i }))
    }

    #[tokio::test]
    async fn commit_publishes_and_checkpoints_after_the_change() {
        for t in stores().await {
            let log = audit_log(&t.store, 2);
            let mut rx = log.feed().subscribe();
            let mut w = log.begin().await.unwrap();
            w.append(event(1)).await.unwrap();
            let seq = w.append(event(2)).await.unwrap();
            assert_eq!(*rx.borrow_and_update(), 0, "{}: nothing is announced before the commit", t.name);
            assert_eq!(w.commit().await.unwrap(), seq);
            assert_eq!(*rx.borrow_and_update(), seq, "{}: the commit announces the head", t.name);
            let cp = crate::audit::latest_checkpoint(&t.store).await.unwrap();
            assert_eq!(cp.map(|c| c.seq), Some(2), "{}: the due checkpoint is signed", t.name);
        }
    }

    #[tokio::test]
    async fn a_write_without_a_row_or_dropped_leaves_nothing() {
        for t in stores().await {
            let log = audit_log(&t.store, 0);
            let w = log.begin().await.unwrap();
            assert!(matches!(w.commit().await, Err(StoreError::Corrupt(_))), "{}", t.name);
            let mut w = log.begin().await.unwrap();
            w.append(event(1)).await.unwrap();
            drop(w);
            assert!(tail(&t.store, 5).await.unwrap().is_empty(), "{}: a dropped write rolls back", t.name);
            log.record(event(2)).await.unwrap();
            assert_eq!(tail(&t.store, 5).await.unwrap().len(), 1, "{}", t.name);
        }
    }
}
