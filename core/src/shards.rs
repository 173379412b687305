//! Thread-per-core runtimes for connections that move bulk data (SSH sessions).
//!
//! A vendor session is a chain of tasks: the vendor's SSH connection, the bridge, the
//! recording writer and the device's SSH connection each hand every chunk to the next. On a
//! work-stealing runtime each hand-off may wake another worker thread, and on a busy host a
//! chunk then waits for that thread to be scheduled; measured on 1 GiB of output, that cost
//! more CPU than the encryption. Here each connection runs, with every task it spawns, on one
//! single-threaded runtime (a shard), so its hand-offs stay on one thread; connections are
//! dealt to the shards in turn, one shard per core, so that many sessions still use every
//! core. Everything else (the web server, the change feed, exports) stays on the main
//! runtime. Waking a task across runtimes is supported by tokio, so channels, watches and
//! timers shared with the main runtime work unchanged.
//!
//! The threads are started on first use, so a command that never serves starts none, and
//! they stop when the last handle on the shards is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::runtime::{Builder, Handle};
use tokio_util::sync::CancellationToken;

/// The shards of this process; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Shards {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The handles of the running shards, started on first use.
    handles: OnceLock<Vec<Handle>>,
    /// The next shard to deal a connection to.
    next: AtomicUsize,
    /// Stops every shard thread.
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Shards {
    /// The runtime of the next connection, in turn; `None` when no shard could be started
    /// (the caller then uses its own runtime).
    pub fn pick(&self) -> Option<Handle> {
        let handles = self.inner.handles.get_or_init(|| start(&self.inner.stop));
        if handles.is_empty() {
            return None;
        }
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % handles.len();
        handles.get(i).cloned()
    }

    /// Tasks alive on every shard (for `/healthz`).
    pub fn alive_tasks(&self) -> usize {
        self.inner.handles.get().map_or(0, |hs| hs.iter().map(|h| h.metrics().num_alive_tasks()).sum())
    }
}

/// Starts one shard per core; a shard that cannot be started is left out (and logged).
fn start(stop: &CancellationToken) -> Vec<Handle> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..cores)
        .filter_map(|i| {
            let runtime = match Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a connection runtime");
                    return None;
                }
            };
            let handle = runtime.handle().clone();
            let stop = stop.clone();
            let started = std::thread::Builder::new().name(format!("conn-shard-{i}")).spawn(move || {
                // Runs the shard's tasks until told to stop; dropping the runtime then drops
                // whatever is left (connections are drained before the process lets go).
                runtime.block_on(stop.cancelled());
            });
            match started {
                Ok(_) => Some(handle),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a connection thread");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashSet;

    #[tokio::test]
    async fn connections_are_dealt_to_every_core_and_run_there() {
        let shards = Shards::default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut threads = HashSet::new();
        for _ in 0..cores * 2 {
            let handle = shards.pick().expect("a shard");
            // A task spawned from a shard's task stays on the same thread.
            let (outer, inner) = handle
                .spawn(async {
                    let outer = std::thread::current().name().map(str::to_owned);
                    let inner = tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await.unwrap();
                    (outer, inner)
                })
                .await
                .unwrap();
            assert_eq!(outer, inner, "a connection's own tasks run on its shard");
            threads.insert(outer.expect("named thread"));
        }
        assert_eq!(threads.len(), cores, "one shard per core, each used: {threads:?}");
        assert!(threads.iter().all(|t| t.starts_with("conn-shard-")));
    }

    #[tokio::test]
    async fn shards_stop_when_dropped_and_none_start_unused() {
        let unused = Shards::default();
        assert_eq!(unused.alive_tasks(), 0);
        drop(unused);
        let shards = Shards::default();
        let handle = shards.pick().expect("a shard");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let parked = handle.spawn(async move {
            let _ = rx.await;
        });
        assert!(shards.alive_tasks() >= 1);
        drop(shards);
        // The shard's runtime is dropped with its tasks: the parked task is cancelled.
        let err = parked.await.expect_err("the task is dropped with its shard");
        assert!(err.is_cancelled());
        drop(tx);
    }
}
