//! Keeps refused sign-ins from flooding the audit log. Every refusal is a fact worth keeping,
//! but sixteen `ssh` loops must not write four hundred rows: per source address and interval
//! (one minute), the first few refusals are written one by one and the rest are counted, and
//! the count is written as one row (`auth.refused` with `reason: aggregated` and `count`) when
//! the interval of that source is over — at its next refusal, or by the periodic flush, so no
//! count is lost while the node runs. The table holds one small entry per recent source and
//! is pruned at each flush; past [`MAX_SOURCES`] sources, new ones share one entry (`*`), so
//! an attacker with many addresses cannot grow memory, only make the counts coarser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Refusals written one by one per source and interval.
pub const ONE_BY_ONE: u64 = 3;
/// Sources tracked one by one at most.
pub const MAX_SOURCES: usize = 10_000;
/// The shared entry of sources past [`MAX_SOURCES`].
pub const OVERFLOW: &str = "*";

/// The interval, in seconds.
pub const INTERVAL_SECS: i64 = 60;

/// A source's current interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// When it started (Unix seconds).
    since: i64,
    written: u64,
    /// Refusals counted, not yet written.
    counted: u64,
}

/// What to write for one refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Write this refusal's own row.
    pub write: bool,
    /// First write the count of the source's previous interval: (source, since, count).
    pub flush: Option<Summary>,
}

/// A count to write: refusals from `source` not written one by one since `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub source: String,
    pub since: i64,
    pub count: u64,
}

/// The per-source table; cheap to clone, shared by every clone of the auth service.
#[derive(Debug, Clone, Default)]
pub struct FloodGate {
    /// Short critical sections only, never across an `.await`.
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

/// The address part of a peer (`127.0.0.1:5555` → `127.0.0.1`, `[::1]:22` → `::1`).
pub fn source_of(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

impl FloodGate {
    /// Decides for one refusal from `peer` at `now`.
    pub fn note(&self, peer: &str, now: i64) -> Decision {
        let mut source = source_of(peer);
        let Ok(mut w) = self.windows.lock() else { return Decision { write: true, flush: None } };
        if w.len() >= MAX_SOURCES && !w.contains_key(&source) {
            source = OVERFLOW.to_owned();
        }
        let entry = w.entry(source.clone()).or_insert(Window { since: now, written: 0, counted: 0 });
        let mut flush = None;
        if now - entry.since >= INTERVAL_SECS {
            if entry.counted > 0 {
                flush = Some(Summary { source, since: entry.since, count: entry.counted });
            }
            *entry = Window { since: now, written: 0, counted: 0 };
        }
        let write = entry.written < ONE_BY_ONE;
        if write {
            entry.written += 1;
        } else {
            entry.counted += 1;
        }
        Decision { write, flush }
    }

    /// The counts of intervals over at `now`, to write; forgets finished sources.
    pub fn due(&self, now: i64) -> Vec<Summary> {
        let Ok(mut w) = self.windows.lock() else { return Vec::new() };
        let mut out = Vec::new();
        w.retain(|source, win| {
            if now - win.since < INTERVAL_SECS {
                return true;
            }
            if win.counted > 0 {
                out.push(Summary { source: source.clone(), since: win.since, count: win.counted });
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_one_by_one_then_one_count_per_interval_and_source() {
        let g = FloodGate::default();
        let writes: Vec<bool> = (0..10).map(|_| g.note("127.0.0.9:40000", 1000).write).collect();
        assert_eq!(writes.iter().filter(|w| **w).count(), ONE_BY_ONE as usize);
        assert!(g.note("127.0.0.1:1", 1000).write, "another source has its own allowance");
        // The next interval: the count of the last one comes first.
        let d = g.note("127.0.0.9:40001", 1000 + INTERVAL_SECS);
        assert_eq!(d.flush, Some(Summary { source: "127.0.0.9".into(), since: 1000, count: 7 }));
        assert!(d.write);
    }

    #[test]
    fn the_periodic_flush_writes_what_is_due_and_prunes() {
        let g = FloodGate::default();
        for _ in 0..5 {
            g.note("[::1]:22", 0);
        }
        g.note("127.0.0.2:1", 50);
        assert!(g.due(30).is_empty(), "nothing is due within the interval");
        assert_eq!(g.due(INTERVAL_SECS), vec![Summary { source: "::1".into(), since: 0, count: 2 }]);
        assert!(g.due(INTERVAL_SECS).is_empty(), "written once");
        assert!(g.due(50 + INTERVAL_SECS).is_empty(), "a source under the allowance leaves no count");
        assert_eq!(g.windows.lock().map(|w| w.len()).unwrap_or(9), 0, "pruned");
    }

    #[test]
    fn many_sources_share_one_entry_past_the_cap() {
        let g = FloodGate::default();
        for i in 0..(MAX_SOURCES + 500) {
            g.note(&format!("10.{}.{}.{}:1", i >> 16 & 255, i >> 8 & 255, i & 255), 0);
        }
        assert_eq!(g.windows.lock().map(|w| w.len()).unwrap_or(0), MAX_SOURCES + 1);
        let due = g.due(INTERVAL_SECS);
        assert_eq!(due, vec![Summary { source: OVERFLOW.into(), since: 0, count: 500 - ONE_BY_ONE }]);
    }
}
