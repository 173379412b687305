//! A node's drain before a rolling restart. SIGTERM starts it: `/readyz` answers 503 at once
//! (so a load balancer sends no new connection), the SSH listener stops accepting, connected
//! vendors are told the node is restarting, and sessions get up to `node.drain_timeout`
//! before they are closed. [`Drain`] is the shared flag: started once, with the reason and the
//! time sessions will be closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why and until when the node drains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draining {
    /// What started it (`SIGTERM`).
    pub reason: String,
    /// Unix seconds at which sessions still open are closed.
    pub closes_at: i64,
    /// How long sessions were given.
    pub timeout: Duration,
}

/// Whether the node drains; cloned handles share it.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    started: CancellationToken,
    what: Arc<OnceLock<Draining>>,
    open: Arc<AtomicUsize>,
}

/// One vendor connection the drain waits for; dropping it says the connection has ended.
#[derive(Debug)]
pub struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drain {
    /// Starts draining (only the first call counts); sessions close `timeout` from now.
    pub fn begin(&self, reason: &str, timeout: Duration) {
        let closes_at = crate::clock::now().saturating_add(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX));
        if self.what.set(Draining { reason: reason.to_owned(), closes_at, timeout }).is_ok() {
            self.started.cancel();
        }
    }

    /// Why the node drains, once it does.
    pub fn state(&self) -> Option<&Draining> {
        self.what.get()
    }

    /// Returns once draining has started.
    pub async fn started(&self) {
        self.started.cancelled().await;
    }

    /// Counts a vendor connection until the returned guard is dropped.
    pub fn hold(&self) -> Held {
        self.open.fetch_add(1, Ordering::Relaxed);
        Held(self.open.clone())
    }

    /// Vendor connections still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Once draining has started, returns when no vendor connection is left or `timeout` has
    /// passed since the start, whichever is first (polled: connections end rarely).
    pub async fn settled(&self, timeout: Duration) {
        self.started().await;
        let deadline = tokio::time::Instant::now() + timeout;
        while self.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200).min(deadline - tokio::time::Instant::now())).await;
        }
    }

    /// A token cancelled when draining starts.
    pub fn token(&self) -> CancellationToken {
        self.started.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[tokio::test]
    async fn the_first_begin_wins_and_wakes_the_waiters() {
        let d = Drain::default();
        assert!(d.state().is_none());
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.started().await }
        });
        d.begin("SIGTERM", Duration::from_secs(300));
        d.begin("again", Duration::from_secs(1));
        waiter.await.unwrap();
        let s = d.state().unwrap();
        assert_eq!(s.reason, "SIGTERM");
        assert_eq!(s.timeout, Duration::from_secs(300));
    }
}
