//! The change feed: every decision and change appends an audit row, so "something happened"
//! is "the audit head moved". A [`Feed`] holds the highest committed sequence number this
//! process knows of on a `watch` channel; waiting SSH sessions, window enforcement and the
//! notifier wake on it instead of each polling the database.
//!
//! Three sources move it, from the fastest to the slowest:
//! - **this process**: [`crate::audit::AuditLog`] publishes each row right after its
//!   transaction commits, so a decision made here wakes its waiters at once;
//! - **other processes on PostgreSQL**: every append also runs `pg_notify('portcullis_audit',
//!   seq)` in its transaction (delivered at commit), and [`spawn`] keeps a `LISTEN`
//!   connection that publishes what arrives, reconnecting with backoff when it drops
//!   ([`listen`]);
//! - **the safety net**: [`spawn`] also reads `MAX(seq)` every `session.control_poll`. It is
//!   the only way a change made by *another process* on SQLite (a CLI command, say) is
//!   noticed, and it covers a notification lost while the `LISTEN` connection was down.
//!
//! The feed also says whether the store answers ([`Feed::reachable`]): the safety-net read
//! sets it each time it succeeds or fails (a read that fails has waited the pool's acquire
//! timeout, so one failure means the store gave no connection for that long), and every
//! commit of this process proves it again. Running sessions end when it turns false,
//! because nothing may go on unaudited; writes that had to wait are made when it turns true.
//! On SQLite the read also looks at the free space of the database's disk ([`room`]): with
//! less than `store.min_free_mib` left, the store counts as unable to take writes.

mod listen;
mod room;

use room::Room;

use crate::store::{Backend, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Receives the latest audit sequence number.
pub type ChangeRx = watch::Receiver<i64>;

/// The channel PostgreSQL notifications of new audit rows are sent on.
pub const PG_CHANNEL: &str = "portcullis_audit";

/// Publishes the audit head to every waiter of this process; cheap to clone (one shared
/// channel). The published value only ever moves forward.
#[derive(Clone, Debug)]
pub struct Feed {
    tx: Arc<watch::Sender<i64>>,
    /// Whether the store answered the last time it was asked; starts true (the store was
    /// just opened).
    reachable: Arc<watch::Sender<bool>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// A feed at sequence 0.
    pub fn new() -> Feed {
        Feed { tx: Arc::new(watch::Sender::new(0)), reachable: Arc::new(watch::Sender::new(true)) }
    }

    /// Announces that rows up to `seq` are committed; wakes waiters if that is news. A
    /// commit also proves the store answers.
    pub fn publish(&self, seq: i64) {
        self.set_reachable(true);
        self.tx.send_if_modified(|cur| {
            let news = seq > *cur;
            if news {
                *cur = seq;
            }
            news
        });
    }

    /// A receiver that wakes on every advance.
    pub fn subscribe(&self) -> ChangeRx {
        self.tx.subscribe()
    }

    /// The highest sequence number published so far.
    pub fn head(&self) -> i64 {
        *self.tx.borrow()
    }

    /// Records whether the store answers; a change is logged and wakes the waiters of
    /// [`Feed::reachable`].
    pub fn set_reachable(&self, up: bool) {
        let changed = self.reachable.send_if_modified(|cur| std::mem::replace(cur, up) != up);
        match (changed, up) {
            (true, true) => tracing::info!("the store answers again"),
            (true, false) => tracing::error!("the store does not answer; running sessions end and new ones are refused until it does"),
            _ => {}
        }
    }

    /// Whether the store answers, as last seen; wakes on every change.
    pub fn reachable(&self) -> watch::Receiver<bool> {
        self.reachable.subscribe()
    }

    /// Whether the store answered the last time it was asked.
    pub fn is_reachable(&self) -> bool {
        *self.reachable.borrow()
    }
}

/// Starts the watchers of changes made by other processes: on PostgreSQL a `LISTEN` on
/// `store_url` (the store's own URL), and everywhere the safety-net poll every `poll`. The
/// task ends when `shutdown` is cancelled. A database that cannot be read is logged and
/// retried; the feed keeps its last value meanwhile.
pub fn spawn(store: Store, feed: Feed, store_url: String, min_free_mib: u64, poll: Duration, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let room = Room::of(&store_url, min_free_mib);
        let listen = async {
            if store.backend() == Backend::Postgres {
                listen::run(&store_url, &store, &feed, &shutdown).await;
            }
        };
        tokio::join!(poll_head(&store, &feed, room.as_ref(), poll, &shutdown), listen);
    })
}

/// The safety net: reads the head every `every` (the first time at once).
async fn poll_head(store: &Store, feed: &Feed, room: Option<&Room>, every: Duration, shutdown: &CancellationToken) {
    let mut short = false;
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        catch_up(store, feed).await;
        if let Some(r) = room {
            let enough = r.enough();
            if enough == short {
                short = !enough;
                if short {
                    tracing::warn!(folder = %r.dir().display(), free = ?r.free(), reserve = r.min_free(), "the database's disk is almost full: it counts as unable to take writes until space returns");
                } else {
                    tracing::info!("the database's disk has room again");
                }
            }
            if short {
                feed.set_reachable(false);
            }
        }
    }
}


/// Reads the head once and publishes it; says whether the store answered.
async fn catch_up(store: &Store, feed: &Feed) {
    match store.audit_head().await {
        Ok(seq) => {
            feed.set_reachable(true);
            feed.publish(seq);
        }
        Err(e) => {
            tracing::warn!(error = %e, "change feed cannot read the audit head");
            feed.set_reachable(false);
        }
    }
}

#[cfg(test)]
mod tests;
