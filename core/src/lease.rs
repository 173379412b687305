//! The node's heartbeat lease in the store, and the watch for lost nodes.
//!
//! At start `serve` registers the node's lease (table `nodes`: its id, the address of its web
//! listener, a random incarnation for this run) and [`run`] renews it every `node.heartbeat`.
//! Each tick, after renewing, the node also looks for leases of other nodes that have not been
//! renewed for their `node.lease`, and closes such a node's sessions
//! ([`crate::sessions::Sessions::close_lost_node`]); the claim is a conditional write, so one
//! survivor acts on each lost node. A node looks only once it has held its own lease without a
//! break for a whole lease: after a store outage every lease looks expired, and the first node
//! back must not take the others as lost before they could renew.
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
    /// When the lease was last registered or renewed, and since when it has been held
    /// without a gap longer than the lease. Std mutex: set and read without an `.await`
    /// inside.
    renewed: Mutex<Option<Held>>,
}

/// A lease held: its last renewal, and the start of the unbroken run of renewals it ends.
#[derive(Debug, Clone, Copy)]
struct Held {
    at: Instant,
    since: Instant,
}

impl Held {
    /// After a renewal at `now`: a gap longer than `lease` since the last one starts a new run
    /// (the store, or this node, was away: other nodes' leases may have run out for the same
    /// reason, and they get a lease's time to renew before anyone is taken as lost).
    fn renewed(prev: Option<Held>, now: Instant, lease: Duration) -> Held {
        match prev {
            Some(h) if now.saturating_duration_since(h.at) <= lease => Held { at: now, since: h.since },
            _ => Held { at: now, since: now },
        }
    }
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
        self.inner.renewed.lock().ok().and_then(|r| *r).map(|h| h.at.elapsed())
    }

    /// Whether this node has held its lease without a break for at least `lease`: only then
    /// may it take another node as lost. After a store outage every lease looks expired; this
    /// gives the other nodes the time to renew theirs first.
    pub fn settled(&self, lease: Duration) -> bool {
        self.inner.renewed.lock().ok().and_then(|r| *r).is_some_and(|h| h.since.elapsed() >= lease)
    }

    fn renewed_now(&self, lease: Duration, fresh: bool) {
        if let Ok(mut r) = self.inner.renewed.lock() {
            *r = Some(Held::renewed(if fresh { None } else { *r }, Instant::now(), lease));
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
        self.renewed_now(s.lease, true);
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
            self.renewed_now(s.lease, false);
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
        if !lease.settled(s.lease) {
            continue;
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
