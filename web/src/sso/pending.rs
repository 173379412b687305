//! Sign-ins in flight, kept in this process's memory: each started sign-in's `state` names
//! its nonce and PKCE verifier until the provider sends the browser back. A state is taken
//! at most once (a replayed callback finds nothing), expires after `oidc.state_ttl`, and the
//! table is capped so a flood of started sign-ins cannot grow it without bound. The same
//! table, under other keys, holds the local-code step that may follow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries held; beyond it, starting another sign-in is refused until some expire.
pub const MAX_PENDING: usize = 10_000;

/// A single-use table of values that expire.
#[derive(Debug)]
pub struct Pending<T> {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> Pending<T> {
    /// An empty table whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::new(HashMap::new()) }
    }

    /// Keeps `value` under `key`; false if the table is full.
    pub fn put(&self, key: String, value: T) -> bool {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
        if map.len() >= MAX_PENDING {
            return false;
        }
        map.insert(key, (now, value));
        true
    }

    /// A copy of the value under `key`, if it is there and not expired (left in place).
    pub fn get(&self, key: &str) -> Option<T>
    where
        T: Clone,
    {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Removes and returns the value under `key`, if it is there and not expired.
    pub fn take(&self, key: &str) -> Option<T> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (at, value) = map.remove(key)?;
        (at.elapsed() < self.ttl).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_key_is_taken_once() {
        let p = Pending::new(Duration::from_secs(60));
        assert!(p.put("s1".into(), 7));
        assert_eq!(p.take("s1"), Some(7));
        assert_eq!(p.take("s1"), None, "a second take of the same state finds nothing");
        assert_eq!(p.take("never"), None);
    }

    #[test]
    fn an_expired_key_is_not_returned() {
        let p = Pending::new(Duration::ZERO);
        assert!(p.put("s1".into(), 7));
        assert_eq!(p.take("s1"), None);
    }
}
