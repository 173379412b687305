//! What a signed-in connection was refused, kept within bounds. Every refusal is a decision,
//! but a client that asks 300 times for what it cannot have must not write 300 audit rows:
//! the first few of each connection are audited one by one, the rest are counted and written
//! as one summary row when the connection ends, and a connection that keeps asking is closed.
//! Environment variables are refused silently (OpenSSH's own `SendEnv LANG LC_*` would
//! otherwise put a warning-looking row on every connection) and only counted; a flood of them
//! is summarised like the rest. This module imports nothing of the broker.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Refusals audited one by one per connection.
pub(crate) const AUDITED: u64 = 5;
/// Refusals after which the connection is closed.
pub(crate) const CUT_AFTER: u64 = 64;
/// Environment variables refused before they count as a flood in the summary.
const ENV_QUIET: u64 = 16;

/// What to do with one more refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write its own audit row.
    Audit,
    /// Count it for the summary.
    Count,
    /// Count it, and close the connection: it keeps asking.
    Cut,
}

/// The refusals of one connection.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    audited: u64,
    total: u64,
    /// Refusals not audited one by one, by what was refused.
    counted: BTreeMap<&'static str, u64>,
}

impl Refusals {
    /// Notes one refusal of `what` (`env`, `x11`, `direct-tcpip`, ...).
    pub(crate) fn note(&mut self, what: &'static str) -> Verdict {
        self.total += 1;
        let verdict = if what != "env" && self.audited < AUDITED {
            self.audited += 1;
            Verdict::Audit
        } else {
            *self.counted.entry(what).or_default() += 1;
            Verdict::Count
        };
        if self.total >= CUT_AFTER {
            Verdict::Cut
        } else {
            verdict
        }
    }

    /// The detail of the summary row to write when the connection ends, if there is one.
    pub(crate) fn summary(&self) -> Option<Value> {
        let mut counts = self.counted.clone();
        if counts.get("env").is_some_and(|n| *n <= ENV_QUIET) {
            counts.remove("env");
        }
        let not_audited: u64 = counts.values().sum();
        (not_audited > 0).then(|| json!({ "what": "summary", "not_audited_one_by_one": not_audited, "counts": counts, "total": self.total }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_are_audited_the_rest_summarised_and_a_flood_cut() {
        let mut r = Refusals::default();
        for _ in 0..AUDITED {
            assert_eq!(r.note("x11"), Verdict::Audit);
        }
        assert_eq!(r.note("agent"), Verdict::Count);
        let s = r.summary().unwrap_or_default();
        assert_eq!((s["counts"]["agent"].as_u64(), s["total"].as_u64()), (Some(1), Some(AUDITED + 1)));
        while r.total < CUT_AFTER - 1 {
            assert_ne!(r.note("direct-tcpip"), Verdict::Cut);
        }
        assert_eq!(r.note("direct-tcpip"), Verdict::Cut);
    }

    #[test]
    fn debian_sendenv_leaves_no_row_and_an_env_flood_is_summarised() {
        let mut r = Refusals::default();
        for _ in 0..3 {
            assert_eq!(r.note("env"), Verdict::Count);
        }
        assert_eq!(r.summary(), None, "LANG and LC_* make no row");
        for _ in 0..20 {
            r.note("env");
        }
        assert_eq!(r.summary().unwrap_or_default()["counts"]["env"].as_u64(), Some(23));
    }
}
