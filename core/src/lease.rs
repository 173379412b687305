//! The node's heartbeat lease in the store, and the watch for lost nodes.
//!
//! At start `serve` registers the node's lease (table `nodes`: its id, the address of its web
//! listener, a random incarnation for this run) and [`run`] renews it every `node.heartbeat`.
//! Each tick, after renewing, the node also looks for leases of other nodes that have not been
//! renewed for their `node.lease`, and closes such a node's sessions
//! ([`crate::sessions::Sessions::close_lost_node`]); the claim is a conditional write, so one
//! survivor acts on each lost node.
//!
//! Clock: every lease time is the database server's (`renewed_at` is written by the
//! renewal's own `UPDATE`, expiry compared there too), never a node's. A node's clock that
//! runs fast or slow therefore cannot expire another's lease early or keep its own alive, and
//! the only clocks that matter are the database's and each node's measure of elapsed time for
//! its heartbeat.
//!
//! A node that finds its lease taken over (it paused, or lost the store, for longer than the
//! lease, and a survivor closed its sessions) must not go on serving them: [`Lease::lost`]
//! moves, every running session of the node is cut (the broker watches it), and the node
//! registers a fresh lease under a new incarnation before it renews again. Its writes for
//! the closed sessions (their end, their seals) are refused by the store: a session ends
//! once, a recording is sealed once, and the sealed copies are frozen files its writers never
//! had open.

use crate::domain::NodeId;
use crate::sessions::Sessions;
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The node's lease as this process holds it; cheap to clone.
#[derive(Clone, Debug)]
pub struct Lease {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// How many times this process found its lease taken over.
    lost: watch::Sender<u64>,
    /// The incarnation registered last (0: none yet).
    incarnation: AtomicI64,
    /// When the lease was last registered or renewed. Std mutex: set and read without an
    /// `.await` inside.
    renewed: Mutex<Option<Instant>>,
}

impl Default for Lease {
    fn default() -> Self {
        Lease { inner: Arc::new(Inner { lost: watch::Sender::new(0), incarnation: AtomicI64::new(0), renewed: Mutex::new(None) }) }
    }
}

/// What [`run`] needs to know of the node.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub node: NodeId,
    /// Where other nodes reach this node's web listener.
    pub web_url: String,
    pub heartbeat: Duration,
    pub lease: Duration,
}

impl Lease {
    /// Moves each time the node finds its lease taken over; sessions running then are cut.
    pub fn lost(&self) -> watch::Receiver<u64> {
        self.inner.lost.subscribe()
    }

    /// Time since the lease was last registered or renewed (None before the first).
    pub fn age(&self) -> Option<Duration> {
        self.inner.renewed.lock().ok().and_then(|r| *r).map(|t| t.elapsed())
    }

    fn renewed_now(&self) {
        if let Ok(mut r) = self.inner.renewed.lock() {
            *r = Some(Instant::now());
        }
    }

    /// Registers a lease under a new incarnation.
    pub async fn register(&self, store: &Store, s: &LeaseSettings) -> Result<(), StoreError> {
        let incarnation = loop {
            let i = rand::random::<i64>().unsigned_abs() as i64;
            if i != 0 {
                break i;
            }
        };
        store.register_node(&s.node, incarnation, &s.web_url, i64::try_from(s.lease.as_secs()).unwrap_or(i64::MAX)).await?;
        self.inner.incarnation.store(incarnation, Ordering::SeqCst);
        self.renewed_now();
        Ok(())
    }

    /// Gives the lease up at a clean stop, if none of the node's sessions is left open in the
    /// store (otherwise it runs out, and a survivor closes them).
    pub async fn release(&self, store: &Store, node: &NodeId) -> Result<bool, StoreError> {
        store.release_node(node, self.inner.incarnation.load(Ordering::SeqCst)).await
    }

    /// One renewal: true while held; false when it was taken over (the sessions of the node
    /// are then told, and a fresh lease registered).
    async fn renew(&self, store: &Store, s: &LeaseSettings) -> Result<bool, StoreError> {
        if store.renew_node(&s.node, self.inner.incarnation.load(Ordering::SeqCst)).await? {
            self.renewed_now();
            return Ok(true);
        }
        tracing::error!(node = %s.node, "this node's lease was taken over (it did not renew it in time, or another process registered the same node id); its running sessions are cut");
        self.inner.lost.send_modify(|n| *n += 1);
        self.register(store, s).await?;
        Ok(false)
    }
}

/// Renews the lease every heartbeat and closes the sessions of lost nodes, until `shutdown`.
/// The lease must have been registered ([`Lease::register`]). Store errors are logged and
/// tried again at the next tick.
pub async fn run(lease: Lease, store: Store, sessions: Sessions, s: LeaseSettings, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(s.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match lease.renew(&store, &s).await {
            Ok(true) => {}
            // Taken over: this node was the lost one; it looks for others next time.
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew this node's lease");
                continue;
            }
        }
        if let Err(e) = close_lost(&store, &sessions).await {
            tracing::warn!(error = %e, "cannot close the sessions of a lost node");
        }
    }
}

/// Closes the sessions of every node whose lease ran out.
async fn close_lost(store: &Store, sessions: &Sessions) -> Result<(), StoreError> {
    for lease in store.expired_leases(sessions.node()).await? {
        if let Some(lost) = sessions.close_lost_node(&lease).await? {
            let ids: Vec<String> = lost.ended.iter().map(ToString::to_string).collect();
            tracing::warn!(lost = %lost.node, renewed_at = %crate::clock::rfc3339(lease.renewed_at), sessions = %ids.join(","), "a node stopped renewing its lease; its sessions are closed as `node lost`");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
