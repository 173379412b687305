//! The change feed: every decision and change appends an audit row, so "something happened"
//! is "the audit head moved". One task per process watches the head and publishes it on a
//! `watch` channel; waiting SSH sessions and window enforcement wake on it instead of each
//! polling the database. Works across processes and nodes because the audit log is shared.

use crate::audit;
use crate::store::Store;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Receives the latest audit sequence number.
pub type ChangeRx = watch::Receiver<i64>;

/// Starts the watcher; it ends when `shutdown` is cancelled. If the database cannot be read
/// the watcher keeps the last value and logs, and retries at the next tick.
pub fn spawn(store: Store, every: Duration, shutdown: CancellationToken) -> (ChangeRx, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(0i64);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            match audit::head_seq(&store).await {
                Ok(seq) => {
                    tx.send_if_modified(|cur| {
                        let changed = *cur != seq;
                        *cur = seq;
                        changed
                    });
                }
                Err(e) => tracing::warn!(error = %e, "change feed cannot read the audit head"),
            }
        }
    });
    (rx, task)
}
