//! SIEM export: the audit log streamed to each configured sink (`[[export.sinks]]`) as RFC 5424
//! syslog, CEF over syslog, or JSON lines ([`format`]), over TCP, TLS, to a file or to
//! standard output ([`conn`]).
//!
//! Guarantees: every row reaches every sink, in chain order, at least once. Each sink follows
//! the log from a cursor in the database (`delivery_cursors`, named `export:NAME`, shared with
//! the approvers' notifier through [`crate::cursor`]) that moves only after a batch was handed
//! over (written and flushed; for a file also synced). A restart of the broker or of the
//! receiver resumes from the cursor; a batch may be sent twice when the broker stops between
//! sending and moving the cursor, and the receiver drops repeats by `seq`. TCP gives no
//! application-level acknowledgement: bytes flushed into a connection that the receiver
//! drops without reading are lost to it, which is why the connection is checked for a close
//! before every batch. With several nodes, a lease lets one node send at a time. A new sink
//! starts at the beginning of the log; memory stays bounded by `export.batch_size`.
//!
//! Every signed checkpoint is sent to every sink too (a second cursor per sink,
//! `export-checkpoints:NAME`), so that the SIEM keeps a witness of the chain's head off this
//! host: `portcullis audit verify --witness FILE` reads the receiver's file back.

mod conn;
mod deliver;
pub mod format;
mod rows;
mod tls;

pub use format::{record, Framing, Origin};
pub use rows::page;

use crate::config::{Config, ExportConfig};
use crate::store::{Store, StoreError};
use crate::clock;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("export sink {sink:?}: {message}")]
pub struct ExportError {
    pub sink: String,
    pub message: String,
}

/// The cursor name of the sink called `name`.
pub fn cursor_name(name: &str) -> String {
    format!("export:{name}")
}

/// The name of the cursor that follows the signed checkpoints for the sink called `name`.
pub fn checkpoint_cursor_name(name: &str) -> String {
    format!("export-checkpoints:{name}")
}

/// The longest an idle sink waits before it looks for a checkpoint that no new row announced
/// (one indexed query per sink).
const CHECKPOINT_LOOK: Duration = Duration::from_secs(5);

/// Wait before trying again to create the cursors when the store failed.
const PREPARE_RETRY: Duration = Duration::from_secs(5);

/// The configured sinks; [`Exporter::run`] delivers.
pub struct Exporter {
    store: Store,
    cfg: Arc<ExportConfig>,
    /// One TLS client configuration per sink (`None` unless `tls://`), same order as the sinks.
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    origin: Arc<Origin>,
    node: Arc<str>,
    /// How often an idle sink looks for a checkpoint signed with no new row: the periodic one,
    /// or one another process (a CLI command, another node) signed after its last row.
    checkpoint_wake: std::time::Duration,
}

impl Exporter {
    /// Builds the sinks of `[export]` (loading CA files); `None` when no sink is configured.
    pub fn from_config(config: &Config, store: Store) -> Result<Option<Exporter>, ExportError> {
        let cfg = &config.export;
        if cfg.sinks.is_empty() {
            return Ok(None);
        }
        let mut tls = Vec::with_capacity(cfg.sinks.len());
        for sink in &cfg.sinks {
            let client = match sink.target {
                crate::config::ExportTarget::Tls { .. } => {
                    Some(tls::client_config(sink).map_err(|message| ExportError { sink: sink.name.clone(), message })?)
                }
                _ => None,
            };
            tls.push(client);
        }
        let node = format!("{}-{}", std::process::id(), hex::encode(rand::random::<[u8; 6]>()));
        Ok(Some(Exporter {
            store,
            cfg: Arc::new(cfg.clone()),
            tls,
            origin: Arc::new(Origin::local()),
            node: node.into(),
            checkpoint_wake: config.audit.checkpoint_interval.0.clamp(Duration::from_secs(1), CHECKPOINT_LOOK),
        }))
    }

    /// The sinks' names.
    pub fn sinks(&self) -> Vec<String> {
        self.cfg.sinks.iter().map(|s| s.name.clone()).collect()
    }

    /// Creates each sink's cursors (rows and checkpoints) at the start of the log unless it
    /// has them. Idempotent.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        for s in &self.cfg.sinks {
            crate::cursor::ensure(&self.store, &cursor_name(&s.name), 0, clock::now_ms()).await?;
            crate::cursor::ensure(&self.store, &checkpoint_cursor_name(&s.name), 0, clock::now_ms()).await?;
        }
        Ok(())
    }

    /// Delivers until `shutdown`: one task per sink, woken by `changes`.
    pub async fn run(self, changes: crate::feed::ChangeRx, shutdown: CancellationToken) {
        while let Err(e) = self.prepare().await {
            tracing::warn!(error = %e, "export: cannot create the delivery cursors; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PREPARE_RETRY) => {}
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (sink, tls) in self.cfg.sinks.iter().zip(&self.tls) {
            let worker = deliver::Worker {
                store: self.store.clone(),
                cfg: self.cfg.clone(),
                sink: sink.clone(),
                tls: tls.clone(),
                origin: self.origin.clone(),
                node: self.node.clone(),
                cursor: cursor_name(&sink.name),
                checkpoint_cursor: checkpoint_cursor_name(&sink.name),
                checkpoint_wake: self.checkpoint_wake,
            };
            tasks.spawn(worker.run(changes.clone(), shutdown.clone()));
        }
        while let Some(ended) = tasks.join_next().await {
            if let Err(e) = ended {
                tracing::error!(error = %e, "export: a delivery task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
