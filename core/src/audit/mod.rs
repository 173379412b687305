//! The append-only, hash-chained audit log. Every decision and change is one row whose hash
//! covers its own fields and the previous row's hash; the database refuses UPDATE and DELETE
//! on the table (triggers), and checkpoints signed with the audit Ed25519 key pin the chain's
//! head so that a rewritten chain or a cut-off tail is detected by [`verify`].
//!
//! Appends are serialised: on SQLite by the write transaction itself (`BEGIN IMMEDIATE`), on
//! PostgreSQL by a transaction-scoped advisory lock, so two nodes never fork the chain. An
//! append is always the last statement of its transaction, so the lock is held briefly.
//! Facts with no other change ([`AuditLog::record`]) are group-committed: rows of concurrent
//! callers share one transaction, each still chained, and each caller is answered only once
//! that transaction has committed ([`batch`]).
//!
//! Each committed row moves the change feed ([`crate::feed`]): [`AuditLog`] publishes it in
//! this process right after the commit, and on PostgreSQL the append also queues
//! `pg_notify('portcullis_audit', seq)`, which the database delivers to every listening node
//! when (and only if) the transaction commits.

mod append;
mod batch;
mod checkpoint;
mod event;
mod hash;
mod search;
mod verify;
mod write;

pub use checkpoint::{checkpoint_covering, checkpoint_message, checkpoint_verifies, checkpoints, checkpoints_between, ed25519_verifies, key_id_of, AuditSigner, Checkpoint};
pub use hash::{row_hash, GENESIS_HASH};
pub use search::{latest_checkpoint, search, Search, MAX_ROWS};
pub use event::{BadSubject, Event, Kind, Subject};
pub use verify::{verify, verify_with_witness, VerifyReport};
pub use write::AuditedWrite;

use crate::feed::Feed;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;


/// Advisory lock key that serialises appends on PostgreSQL ("PCAU" in ASCII).
const PG_APPEND_LOCK: i64 = 0x5043_4155;

/// A stored row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub ts: i64,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: r.try_get("seq")?,
            ts: r.try_get("ts")?,
            actor: r.try_get("actor")?,
            kind: r.try_get("kind")?,
            subject: r.try_get("subject")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        })
    }

    /// The hash this row should carry given its fields.
    pub fn expected_hash(&self) -> String {
        row_hash(self.seq, self.ts, &self.actor, &self.kind, &self.subject, &self.detail, &self.prev_hash)
    }
}

/// The audit log as services use it: appends, with a signed checkpoint every `every` rows,
/// announcing each committed row on the process's change feed.
#[derive(Clone, Debug)]
pub struct AuditLog {
    store: Store,
    signer: AuditSigner,
    /// Rows between signed checkpoints (0: only explicit checkpoints).
    every: u64,
    /// This process's change feed; shared by every clone of the handle.
    feed: Feed,
    /// The group commit of [`AuditLog::record`]; shared by every clone of the handle.
    batcher: Arc<batch::Batcher>,
}

impl AuditLog {
    /// Builds the handle, with a change feed of its own.
    pub fn new(store: Store, signer: AuditSigner, every: u64) -> Self {
        Self { store, signer, every, feed: Feed::new(), batcher: Arc::default() }
    }

    /// The change feed this log publishes committed rows on.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The signer (for verification and periodic checkpoints).
    pub fn signer(&self) -> &AuditSigner {
        &self.signer
    }

    /// Checkpoints if the rows `first..=last` just committed reached the interval (one of
    /// them is a multiple of it), then announces `last` on the change feed, so that a follower
    /// woken by it (the SIEM exporter) finds the checkpoint too. Called after a commit by
    /// [`AuditedWrite::commit`] and by the group commit only.
    async fn committed(&self, first: i64, last: i64) -> Result<(), StoreError> {
        let due = self.every > 0 && (last as u64) / self.every > (first.max(1) as u64 - 1) / self.every;
        let signed = if due {
            self.signer.checkpoint_head(&self.store).await.map(|_| ())
        } else {
            Ok(())
        };
        self.feed.publish(last);
        signed
    }

    /// Signs the current head now (periodic task, shutdown, end of a CLI command).
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.signer.checkpoint_head(&self.store).await
    }
}

/// The last `n` rows, oldest first.
pub async fn tail(store: &Store, n: i64) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT $1",
    )
    .bind(n)
    .fetch_all(store.pool())
    .await?;
    let mut out = rows.iter().map(AuditRow::from_row).collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

const ROW_COLUMNS: &str = "seq, ts, actor, kind, subject, detail, prev_hash, hash";

/// Rows `from..=to`, oldest first.
pub async fn range(store: &Store, from: i64, to: i64) -> Result<Vec<AuditRow>, StoreError> {
    let q = format!("SELECT {ROW_COLUMNS} FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq");
    let rows = sqlx::query(&q).bind(from).bind(to).fetch_all(store.pool()).await?;
    rows.iter().map(AuditRow::from_row).collect()
}

/// Rows whose subject is one of `subjects` (at most two: a session's and its request's),
/// oldest first.
pub async fn about(store: &Store, subjects: [&str; 2]) -> Result<Vec<AuditRow>, StoreError> {
    let q = format!("SELECT {ROW_COLUMNS} FROM audit_log WHERE subject = $1 OR subject = $2 ORDER BY seq");
    let rows = sqlx::query(&q).bind(subjects[0]).bind(subjects[1]).fetch_all(store.pool()).await?;
    rows.iter().map(AuditRow::from_row).collect()
}

#[cfg(test)]
mod tests;
