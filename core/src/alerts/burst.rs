//! Sliding-window counters for the burst rules (refusals, wrong codes), with bounded memory.
//! Each key (a vendor, an account) keeps at most `threshold` instants; at most `cap` keys are
//! tracked, and when a new key arrives at the cap the key used least recently is forgotten.
//! So a flood from many sources costs at most `cap × threshold` instants, however long it
//! lasts. A key that fires stays quiet for one window, its events then not counted: a flood makes
//! one alert per window, not one per event. This module imports nothing of the crate.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// One key's recent events.
#[derive(Debug)]
struct Track {
    /// Instants (Unix ms) of the events within the window, oldest first; at most `threshold`.
    times: VecDeque<i64>,
    /// No alert before this instant (Unix ms): the key fired in the window before.
    quiet_until: i64,
    /// Its position in `order`.
    used: u64,
}

/// Counters of one rule.
#[derive(Debug)]
pub struct Bursts {
    /// Events within `window_ms` that fire; 0: never fires, tracks nothing.
    threshold: u32,
    window_ms: i64,
    /// Most keys tracked at once.
    cap: usize,
    keys: HashMap<String, Track>,
    /// Keys by last use, oldest first (the `used` tick of each).
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Bursts {
    /// Counters that fire at `threshold` events within `window_ms`, tracking at most `cap` keys.
    pub fn new(threshold: u32, window_ms: i64, cap: usize) -> Bursts {
        Bursts { threshold, window_ms: window_ms.max(1), cap: cap.max(1), keys: HashMap::new(), order: BTreeMap::new(), tick: 0 }
    }

    /// Notes one event of `key` at `now_ms`; returns the count in the window when this event
    /// makes the key fire.
    pub fn note(&mut self, key: &str, now_ms: i64) -> Option<u32> {
        if self.threshold == 0 {
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        if !self.keys.contains_key(key) && self.keys.len() >= self.cap {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.keys.remove(&oldest);
            }
        }
        let track = self.keys.entry(key.to_owned()).or_insert_with(|| Track { times: VecDeque::new(), quiet_until: i64::MIN, used: 0 });
        self.order.remove(&track.used);
        track.used = tick;
        self.order.insert(tick, key.to_owned());
        if now_ms < track.quiet_until {
            // The alert already written covers these: they start no new count.
            return None;
        }
        let threshold = self.threshold as usize;
        track.times.push_back(now_ms);
        while track.times.front().is_some_and(|t| *t <= now_ms - self.window_ms) || track.times.len() > threshold {
            track.times.pop_front();
        }
        if track.times.len() >= threshold {
            track.quiet_until = now_ms + self.window_ms;
            track.times.clear();
            return Some(self.threshold);
        }
        None
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// Instants held over all keys (what the memory bound is about).
    pub fn held(&self) -> usize {
        self.keys.values().map(|t| t.times.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn fires_at_the_threshold_once_per_window() {
        let mut b = Bursts::new(3, 60_000, 100);
        assert_eq!(b.note("jdoe", 0), None);
        assert_eq!(b.note("jdoe", 1_000), None);
        assert_eq!(b.note("jdoe", 2_000), Some(3));
        for i in 0..1000 {
            assert_eq!(b.note("jdoe", 3_000 + i), None, "a flood inside the window fires no more");
        }
        assert_eq!(b.note("jdoe", 62_000), None, "after the quiet window the count starts again");
        assert_eq!(b.note("jdoe", 62_001), None);
        assert_eq!(b.note("jdoe", 62_002), Some(3));
    }

    #[test]
    fn events_older_than_the_window_do_not_count() {
        let mut b = Bursts::new(3, 10_000, 100);
        assert_eq!(b.note("a", 0), None);
        assert_eq!(b.note("a", 5_000), None);
        assert_eq!(b.note("a", 10_000), None, "the first one left the window");
        assert_eq!(b.note("a", 12_000), Some(3));
        assert_eq!(Bursts::new(0, 1, 10).note("a", 0), None, "threshold 0 is off");
    }

    #[test]
    fn a_flood_from_many_keys_stays_within_the_cap() {
        let mut b = Bursts::new(5, 60_000, 64);
        for i in 0..100_000i64 {
            b.note(&format!("source-{i}"), i);
            b.note(&format!("source-{i}"), i);
        }
        assert_eq!(b.tracked(), 64);
        assert!(b.held() <= 64 * 5, "{}", b.held());
        assert_eq!(b.order.len(), 64, "the order index is bounded too");
        // The key in use survives the churn: its events keep counting.
        let mut k = Bursts::new(3, 60_000, 2);
        k.note("busy", 0);
        k.note("x", 1);
        k.note("busy", 2);
        k.note("y", 3);
        assert_eq!(k.note("busy", 4), Some(3), "the least recently used key was evicted, not the busy one");
    }
}
