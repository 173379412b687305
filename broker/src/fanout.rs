//! The per-node fan-out of control state: one task reads, once per movement of the change
//! feed, what every connection of this node must obey (account disabled, grant revoked, stop
//! asked for), and hands each connection its own verdict in memory. A connection registers
//! what it is ([`Interest`]) and gets a [`Watch`]; it never queries the store itself. One
//! change thus costs at most two queries however many sessions run ([`Store::session_controls`]
//! for the sessions, [`Store::disabled_accounts`] for connections still in the lobby), and
//! changes that arrive while a read runs are folded into the next read.
//!
//! Fail closed: a read that fails gives every connection [`Verdict::Unavailable`], and so does
//! the end of the task for any reason but [`Fanout::run`]'s stop token (a panic, an abort),
//! including for connections that register afterwards. A session missing from the read (its
//! row was ended elsewhere) is read on its own, as before the fan-out, so its verdict never
//! depends on which query saw it.
//!
//! A leaf: it uses no other module of this crate.

use portcullis_core::domain::{GrantId, NodeId, SessionId};
use portcullis_core::feed::ChangeRx;
use portcullis_core::clock;
use portcullis_core::store::{revoked_now, SessionControl, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// What the store says about one watched connection, as of the last read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Verdict {
    /// Nothing against it (or not read yet).
    #[default]
    Fine,
    /// The vendor's account was disabled.
    Disabled,
    /// The grant was revoked, by the named user.
    Revoked(String),
    /// A stop was asked for: it closes the session at `at` (Unix seconds); `by` asked.
    Stop { at: i64, by: String },
    /// The store could not say (a read failed, the grant is gone, or the fan-out ended).
    Unavailable,
}

/// What a connection is, as the fan-out reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// A connection with no session yet (the lobby, or before the first channel): only its
    /// account matters.
    Account(i64),
    /// A running session under a grant of the vendor `vendor`.
    Session { id: SessionId, grant: GrantId, vendor: i64 },
}

/// Per-node fan-out; cheap to clone.
#[derive(Clone)]
pub(crate) struct Fanout {
    inner: Arc<Inner>,
}

/// What [`Fanout`] shares with its task and with every [`Watch`].
struct Inner {
    store: Store,
    /// Sessions read are those recorded under this node.
    node: NodeId,
    /// The registered connections. Std mutex: held for map changes and for handing out
    /// verdicts, never across an `.await`.
    subs: Mutex<Subs>,
    /// Wakes the task for a read when a connection registers.
    wake: Notify,
    /// Set when the task ended without being asked to: every verdict is then `Unavailable`.
    dead: AtomicBool,
    /// Store queries made, for tests and measurements.
    queries: AtomicU64,
    /// Reads completed (each one a pass over every registered connection).
    passes: AtomicU64,
}

#[derive(Default)]
struct Subs {
    next: u64,
    entries: HashMap<u64, Sub>,
}

struct Sub {
    what: Interest,
    tx: watch::Sender<Verdict>,
}

/// One connection's registration: its verdicts, and its removal when dropped.
pub(crate) struct Watch {
    rx: watch::Receiver<Verdict>,
    key: u64,
    inner: Arc<Inner>,
}

impl Watch {
    /// Waits for the verdict to change and returns it. Never returns while nothing changes.
    pub(crate) async fn changed(&mut self) -> Verdict {
        if self.rx.changed().await.is_err() {
            // The sender lives in the registry until this watch is dropped; it cannot go.
            return Verdict::Unavailable;
        }
        self.rx.borrow_and_update().clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut s) = self.inner.subs.lock() {
            s.entries.remove(&self.key);
        }
    }
}

impl Fanout {
    /// A fan-out over `store` for the sessions of `node`; nothing is read until [`Fanout::run`].
    pub(crate) fn new(store: Store, node: NodeId) -> Fanout {
        let inner = Inner {
            store,
            node,
            subs: Mutex::new(Subs::default()),
            wake: Notify::new(),
            dead: AtomicBool::new(false),
            queries: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        };
        Fanout { inner: Arc::new(inner) }
    }

    /// Registers a connection; its first verdict comes with the next read, which this asks for.
    pub(crate) fn watch(&self, what: Interest) -> Watch {
        let dead = self.inner.dead.load(Ordering::SeqCst);
        let (tx, mut rx) = watch::channel(if dead { Verdict::Unavailable } else { Verdict::Fine });
        if dead {
            rx.mark_changed();
        }
        let mut key = 0;
        if let Ok(mut s) = self.inner.subs.lock() {
            s.next += 1;
            key = s.next;
            s.entries.insert(key, Sub { what, tx });
        }
        // Otherwise the registry is poisoned and `tx` is dropped here: the watch then reads
        // `Unavailable` at once (fail closed).
        self.inner.wake.notify_one();
        Watch { rx, key, inner: self.inner.clone() }
    }

    /// Store queries made so far.
    #[cfg(test)]
    pub(crate) fn queries(&self) -> u64 {
        self.inner.queries.load(Ordering::SeqCst)
    }

    /// Reads completed so far.
    #[cfg(test)]
    pub(crate) fn passes(&self) -> u64 {
        self.inner.passes.load(Ordering::SeqCst)
    }

    /// Connections registered now.
    #[cfg(test)]
    pub(crate) fn watching(&self) -> usize {
        self.inner.subs.lock().map(|s| s.entries.len()).unwrap_or(0)
    }

    /// Reads once per movement of `changes` (and when a connection registers) until `stop` is
    /// cancelled. Ended any other way, it fails every connection closed.
    pub(crate) async fn run(self, mut changes: ChangeRx, stop: CancellationToken) {
        let mut guard = Guard { inner: self.inner.clone(), armed: true };
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                r = changes.changed() => {
                    if r.is_err() {
                        // Nobody can announce a change any more: nothing can be enforced.
                        break;
                    }
                }
                _ = self.inner.wake.notified() => {}
            }
            changes.borrow_and_update();
            self.pass().await;
        }
        guard.armed = !stop.is_cancelled();
    }

    /// One read for every registered connection, and the verdicts handed out. Besides the
    /// read itself (one compact row per session) it allocates nothing per connection: verdicts
    /// are handed out under the registry's lock as they are worked out.
    async fn pass(&self) {
        let (sessions, accounts) = match self.inner.subs.lock() {
            Ok(s) => (s.entries.values().any(|e| matches!(e.what, Interest::Session { .. })), s.entries.values().any(|e| matches!(e.what, Interest::Account(_)))),
            Err(_) => return,
        };
        let controls = if sessions { self.query(self.inner.store.session_controls(&self.inner.node)).await.map_err(|_| ()) } else { Ok(Vec::new()) };
        let disabled = if accounts { self.query(self.inner.store.disabled_accounts()).await.map_err(|_| ()) } else { Ok(Vec::new()) };
        // Sessions the node-wide read did not return, read one by one after the lock is let go.
        let mut missed = Vec::new();
        if let Ok(s) = self.inner.subs.lock() {
            for (key, sub) in &s.entries {
                let v = match sub.what {
                    Interest::Account(user) => match &disabled {
                        Ok(d) if d.contains(&user) => Verdict::Disabled,
                        Ok(_) => Verdict::Fine,
                        Err(()) => Verdict::Unavailable,
                    },
                    Interest::Session { id, grant, vendor } => match &controls {
                        Ok(c) => match c.binary_search_by_key(&id, |row| row.id).ok().map(|i| &c[i]) {
                            Some(row) if row.grant_id == grant => of_row(row),
                            _ => {
                                missed.push((*key, id, grant, vendor));
                                continue;
                            }
                        },
                        Err(()) => Verdict::Unavailable,
                    },
                };
                hand_out(&sub.tx, v);
            }
        }
        drop(controls);
        for (key, id, grant, vendor) in missed {
            let v = self.single(id, grant, vendor).await;
            if let Ok(s) = self.inner.subs.lock() {
                if let Some(sub) = s.entries.get(&key) {
                    hand_out(&sub.tx, v);
                }
            }
        }
        self.inner.passes.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts one store query.
    async fn query<T>(&self, q: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.inner.queries.fetch_add(1, Ordering::SeqCst);
        let r = q.await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "window enforcement cannot read the store");
        }
        r
    }

    /// The verdict of a session the node-wide read did not return, read on its own: the
    /// account, the grant and the session row.
    async fn single(&self, id: SessionId, grant: GrantId, vendor: i64) -> Verdict {
        let store = &self.inner.store;
        match self.query(store.account_enabled(vendor)).await {
            Ok(true) => {}
            Ok(false) => return Verdict::Disabled,
            Err(_) => return Verdict::Unavailable,
        }
        let rec = match self.query(store.session(id)).await {
            Ok(rec) => rec,
            Err(_) => return Verdict::Unavailable,
        };
        let stop_at = rec.as_ref().filter(|r| r.stop_requested_at.is_some()).map(|r| r.stop_at.unwrap_or(0));
        match self.query(store.grant(grant)).await {
            Ok(Some(g)) if revoked_now(g.revoked_at, stop_at, clock::now()) => return Verdict::Revoked(g.revoked_by.unwrap_or_default()),
            Ok(Some(_)) => {}
            // Without the grant nothing says the session may go on.
            Ok(None) | Err(_) => return Verdict::Unavailable,
        }
        match rec {
            Some(rec) if rec.stop_requested_at.is_some() => Verdict::Stop { at: rec.stop_at.unwrap_or(0), by: rec.stop_requested_by.unwrap_or_default() },
            _ => Verdict::Fine,
        }
    }
}

/// The verdict of a session's row: account, then revocation, then stop.
fn of_row(row: &SessionControl) -> Verdict {
    if !row.account_enabled {
        return Verdict::Disabled;
    }
    if row.revoked {
        return Verdict::Revoked(row.revoked_by.clone().unwrap_or_default());
    }
    match &row.stop {
        Some((at, by)) => Verdict::Stop { at: *at, by: by.clone() },
        None => Verdict::Fine,
    }
}

/// Sends `v` if it is news, so that a connection wakes only when its own state changed.
fn hand_out(tx: &watch::Sender<Verdict>, v: Verdict) {
    tx.send_if_modified(|cur| {
        if *cur == v {
            false
        } else {
            *cur = v;
            true
        }
    });
}

/// Fails every connection closed when the task ends without being asked to (a panic unwinds
/// through it, an abort drops it).
struct Guard {
    inner: Arc<Inner>,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.inner.dead.store(true, Ordering::SeqCst);
        tracing::error!("window enforcement stopped; every session is ended");
        if let Ok(s) = self.inner.subs.lock() {
            for sub in s.entries.values() {
                hand_out(&sub.tx, Verdict::Unavailable);
            }
        }
    }
}

#[cfg(test)]
mod tests;
