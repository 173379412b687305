//! One sink's delivery loop. It takes the sink's lease ([`crate::cursor`]), reads the next
//! batch of rows after its cursor, renders them, sends them, and only then moves the cursor
//! to the batch's last row (compare-and-swap). When nothing is left it releases the lease and
//! sleeps until the change feed moves. A receiver that is down or a write that fails drops
//! the connection and retries the same batch on a new one after a doubling wait
//! (`export.retry_backoff` up to [`MAX_RETRY_WAIT`]), so a batch is never skipped: delivery is
//! at-least-once and in chain order. A failure between sending and moving the cursor (a crash,
//! a lost lease) sends that batch again; receivers drop the repeats by `seq`.
//!
//! The signed checkpoints follow the same way, each sink with a second cursor
//! (`export-checkpoints:NAME`), after the rows: a checkpoint reaches the sink after the rows it
//! covers. A checkpoint signed with no new row (the periodic one, or one another process signed
//! after its last row) is picked up when an idle worker wakes every few seconds (at most
//! `audit.checkpoint_interval`, at least every 5 s) even if the feed does not move.

use super::conn::{self, Conn};
use super::format::{self, Framing, Origin};
use super::rows;
use crate::audit;
use crate::config::{ExportConfig, SinkConfig, MAX_RETRY_WAIT};
use crate::cursor::{self, Claim};
use crate::feed::ChangeRx;
use crate::store::{Store, StoreError};
use crate::clock;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Wait after the database could not be read, before trying again.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// Everything one sink's loop needs.
pub(super) struct Worker {
    pub store: Store,
    pub cfg: Arc<ExportConfig>,
    pub sink: SinkConfig,
    /// Client configuration, for a `tls://` target only.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub origin: Arc<Origin>,
    /// This process's name in lease columns.
    pub node: Arc<str>,
    /// `export:NAME`.
    pub cursor: String,
    /// `export-checkpoints:NAME`.
    pub checkpoint_cursor: String,
    /// How long an idle worker waits, even if the feed does not move, before it looks for a
    /// checkpoint no new row announced.
    pub checkpoint_wake: Duration,
}

/// What a cursor follows.
#[derive(Debug, Clone, Copy)]
enum Stream {
    /// The audit rows.
    Rows,
    /// The signed checkpoints of rows up to this one.
    Checkpoints(i64),
}

/// Why a pass stopped.
enum Pass {
    /// Everything is delivered.
    Idle,
    /// Another node holds the lease until then (Unix ms).
    Busy(i64),
    /// Shutting down.
    Stopped,
}

/// Why a pass failed.
enum Failure {
    Store(StoreError),
    Sink(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Worker {
    /// Runs until `shutdown`.
    pub async fn run(self, mut changes: ChangeRx, shutdown: CancellationToken) {
        let name = self.sink.name.as_str();
        let mut conn: Option<Conn> = None;
        let mut backoff = self.cfg.retry_backoff.0;
        loop {
            changes.mark_unchanged();
            // `Some(t)`: sleep until t; `feed` too: or until the change feed moves.
            let (wake_at, feed) = match self.pass(&mut conn, &shutdown).await {
                Ok(Pass::Idle) => (Some(Instant::now() + self.checkpoint_wake), true),
                Ok(Pass::Busy(until_ms)) => (Some(Instant::now() + Duration::from_millis((until_ms - clock::now_ms()).clamp(10, 60_000) as u64)), true),
                Ok(Pass::Stopped) => break,
                Err(Failure::Store(e)) => {
                    tracing::warn!(sink = name, error = %e, "export: cannot read the store; retrying");
                    (Some(Instant::now() + STORE_RETRY), false)
                }
                Err(Failure::Sink(error)) => {
                    tracing::warn!(sink = name, target = %self.sink.target, %error, retry_in = ?backoff, "export: receiver unreachable; will retry");
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                    let at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_RETRY_WAIT);
                    (Some(at), false)
                }
            };
            if feed {
                // Everything reachable was sent: the next failure starts with a short wait again.
                backoff = self.cfg.retry_backoff.0;
            }
            let sleep = async {
                match wake_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let moved = async {
                if feed {
                    changes.changed().await.is_err()
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                closed = moved => if closed { break },
                _ = sleep => {}
            }
        }
        if let Some(c) = conn.take() {
            c.close().await;
        }
        for c in [&self.cursor, &self.checkpoint_cursor] {
            if let Err(e) = cursor::release(&self.store, c, &self.node).await {
                tracing::debug!(sink = name, error = %e, "export: cannot release the lease");
            }
        }
    }

    /// How long a lease lasts: connecting plus one write, with room to spare.
    fn lease(&self) -> i64 {
        (self.cfg.timeout.0 * 3 + Duration::from_secs(5)).as_millis() as i64
    }

    /// Sends every row after the rows' cursor, then every checkpoint after the checkpoints'.
    async fn pass(&self, conn: &mut Option<Conn>, shutdown: &CancellationToken) -> Result<Pass, Failure> {
        match self.follow(Stream::Rows, conn, shutdown).await? {
            Pass::Idle => {
                // Only checkpoints of rows already sent: a row committed since the rows went
                // idle is sent first, on the wake its commit brings.
                let sent = cursor::position(&self.store, &self.cursor).await?.unwrap_or(0);
                self.follow(Stream::Checkpoints(sent), conn, shutdown).await
            }
            other => Ok(other),
        }
    }

    /// Sends everything of `stream` after its cursor, batch by batch.
    async fn follow(&self, stream: Stream, conn: &mut Option<Conn>, shutdown: &CancellationToken) -> Result<Pass, Failure> {
        let name = match stream {
            Stream::Rows => &self.cursor,
            Stream::Checkpoints(_) => &self.checkpoint_cursor,
        };
        loop {
            let now = clock::now_ms();
            let at = match cursor::claim(&self.store, name, &self.node, now, now + self.lease()).await? {
                Claim::Held { seq } => seq,
                Claim::Busy { until_ms } => return Ok(Pass::Busy(until_ms)),
            };
            let Some((last, bytes)) = self.batch(stream, at).await? else {
                cursor::release(&self.store, name, &self.node).await?;
                return Ok(Pass::Idle);
            };
            let sent = tokio::select! {
                _ = shutdown.cancelled() => return Ok(Pass::Stopped),
                sent = self.send(conn, &bytes) => sent,
            };
            sent.map_err(Failure::Sink)?;
            if !cursor::advance(&self.store, name, &self.node, at, last, clock::now_ms()).await? {
                tracing::warn!(sink = %self.sink.name, cursor = %name, "export: another node moved the cursor meanwhile");
            }
            tracing::debug!(sink = %self.sink.name, ?stream, from = at + 1, to = last, "export: batch delivered");
        }
    }

    /// The next batch of `stream` after `at`, rendered, with the position of its last record;
    /// `None` when there is nothing left.
    async fn batch(&self, stream: Stream, at: i64) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let framing = if self.sink.target.is_lines() { Framing::Lines } else { Framing::OctetCounted };
        let format = self.sink.format;
        Ok(match stream {
            Stream::Rows => {
                let rows = rows::page(&self.store, at, self.cfg.batch_size).await?;
                rows.last().map(|l| (l.seq, rows.iter().flat_map(|r| format::record(format, framing, &self.origin, r)).collect()))
            }
            Stream::Checkpoints(upto) => {
                let cps = audit::checkpoints_between(&self.store, at, upto, self.cfg.batch_size).await?;
                cps.last().map(|l| (l.seq, cps.iter().flat_map(|c| format::checkpoint::record(format, framing, &self.origin, c)).collect()))
            }
        })
    }

    /// Sends one batch, (re)connecting first if needed; a failure drops the connection.
    async fn send(&self, conn: &mut Option<Conn>, bytes: &[u8]) -> Result<(), String> {
        let limit = self.cfg.timeout.0;
        if conn.as_mut().is_some_and(|c| !c.still_open()) {
            tracing::info!(sink = %self.sink.name, "export: the receiver closed the connection; reconnecting");
            if let Some(c) = conn.take() {
                c.close().await;
            }
        }
        let c = match conn {
            Some(c) => c,
            None => {
                let opened = tokio::time::timeout(limit, conn::open(&self.sink, self.tls.as_ref())).await;
                let c = opened.map_err(|_| format!("no connection within {}", humantime::format_duration(limit)))?.map_err(|e| e.to_string())?;
                tracing::info!(sink = %self.sink.name, target = %self.sink.target, "export: connected");
                conn.insert(c)
            }
        };
        let written = tokio::time::timeout(limit, c.send(bytes)).await;
        let result = match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("write not finished within {}", humantime::format_duration(limit))),
        };
        if result.is_err() {
            *conn = None;
        }
        result
    }
}
