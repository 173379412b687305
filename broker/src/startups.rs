//! Who may start a sign-in. Unauthenticated connections are cheap to open and cost the broker
//! a slot until they sign in or time out, so, like OpenSSH's `PerSourceMaxStartups`,
//! `MaxStartups` and `PerSourcePenalties`, each new connection is admitted here first:
//!
//! - at most `per_source` connections from one source may be signing in at once (a source is
//!   an IPv4 address, or an IPv6 /64, which one host usually holds whole);
//! - past `start` connections signing in over all sources, new ones are dropped at random,
//!   `rate` percent at `start` rising linearly to every one at `full`;
//! - a source whose connections end without signing in accrues a penalty (more when it let
//!   the sign-in deadline pass); once the penalty reaches `min`, its new connections are
//!   refused until the penalty runs out (it never exceeds `max`).
//!
//! A refused connection is closed at accept, before the SSH greeting, and written to no log
//! but the debug trace, so a flood neither holds the door nor fills the audit log, and a
//! vendor from another address signs in as usual. The state is one small map, pruned as it
//! goes: a source stays in it only while it has connections signing in or a penalty running,
//! and at most [`MAX_PENALISED`] penalties are kept (past that, new ones are not recorded, so
//! an attacker with many addresses cannot grow memory); this module imports nothing of the
//! broker and spawns nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most sources with a penalty kept at once.
pub const MAX_PENALISED: usize = 65_536;

/// The limits, from `[ssh]` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupLimits {
    /// Connections one source may have signing in at once.
    pub per_source: usize,
    /// Signing-in connections (all sources) from which new ones are dropped at random.
    pub start: usize,
    /// Percent dropped at `start`.
    pub rate: u32,
    /// Signing-in connections at which every new one is dropped.
    pub full: usize,
    /// Penalty for a connection that ends without signing in.
    pub penalty_failed: Duration,
    /// Penalty for a connection that let the sign-in deadline pass.
    pub penalty_grace: Duration,
    /// Penalty a source must accrue before its connections are refused.
    pub penalty_min: Duration,
    /// Longest penalty.
    pub penalty_max: Duration,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its source has `per_source` connections signing in already.
    PerSource,
    /// Dropped at random: the broker is busy with sign-ins.
    EarlyDrop,
    /// Its source is serving a penalty.
    Penalised,
}

/// How a connection that was admitted ended its sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It signed in.
    SignedIn,
    /// It went away without signing in.
    Failed,
    /// It let the sign-in deadline pass.
    GraceExceeded,
    /// The broker ended it (shutdown): no fault of the source.
    Interrupted,
}

/// One source's state.
#[derive(Debug, Default)]
struct Source {
    /// Its connections signing in now.
    starting: usize,
    /// Penalty accrued, running out at `until`.
    accrued: Duration,
    until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Table {
    sources: HashMap<IpAddr, Source>,
    /// Connections signing in over all sources.
    starting: usize,
}

/// The admission table of one listener; cheap to clone.
#[derive(Debug, Clone)]
pub struct Startups {
    limits: StartupLimits,
    /// Short critical sections only (a map lookup), never across an `.await`.
    table: Arc<Mutex<Table>>,
}

/// A connection admitted to sign in; [`Startup::finish`] says how it ended (dropping it
/// unfinished counts as [`Outcome::Failed`]).
#[derive(Debug)]
pub struct Startup {
    startups: Startups,
    source: IpAddr,
    done: bool,
}

/// The key of a source: the address, or its /64 for IPv6.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::from(s)
            }
        },
    }
}

impl Startups {
    /// An empty table with these limits.
    pub fn new(limits: StartupLimits) -> Startups {
        Startups { limits, table: Arc::new(Mutex::new(Table::default())) }
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(&self, ip: IpAddr) -> Result<Startup, Refused> {
        self.admit_rolled(ip, Instant::now(), rand::random::<u32>() % 100)
    }

    /// [`Startups::admit`] at `now`, with `roll` (0..100) as the random draw.
    fn admit_rolled(&self, ip: IpAddr, now: Instant, roll: u32) -> Result<Startup, Refused> {
        let source = source_of(ip);
        let l = self.limits;
        let mut t = self.table.lock().map_err(|_| Refused::EarlyDrop)?;
        let total = t.starting;
        let s = t.sources.entry(source).or_default();
        if s.until.is_some_and(|u| u <= now) {
            s.accrued = Duration::ZERO;
            s.until = None;
        }
        if s.until.is_some() && s.accrued >= l.penalty_min {
            return Err(Refused::Penalised);
        }
        if s.starting >= l.per_source {
            return Err(Refused::PerSource);
        }
        if total >= l.full || (total >= l.start && roll < drop_percent(&l, total)) {
            return Err(Refused::EarlyDrop);
        }
        s.starting += 1;
        t.starting += 1;
        Ok(Startup { startups: self.clone(), source, done: false })
    }

    /// Ends one connection's sign-in from `source` at `now`, penalising it if it failed.
    fn finish(&self, source: IpAddr, outcome: Outcome, now: Instant) {
        let Ok(mut t) = self.table.lock() else { return };
        t.starting = t.starting.saturating_sub(1);
        let l = self.limits;
        let add = match outcome {
            Outcome::SignedIn | Outcome::Interrupted => Duration::ZERO,
            Outcome::Failed => l.penalty_failed,
            Outcome::GraceExceeded => l.penalty_grace,
        };
        // The table holds this source too, while it is being finished.
        let crowded = t.sources.len() > MAX_PENALISED;
        let remove = match t.sources.get_mut(&source) {
            Some(s) => {
                s.starting = s.starting.saturating_sub(1);
                if s.until.is_some_and(|u| u <= now) {
                    s.accrued = Duration::ZERO;
                    s.until = None;
                }
                if !add.is_zero() && (s.until.is_some() || !crowded) {
                    s.accrued = (s.accrued + add).min(l.penalty_max);
                    s.until = Some(now + s.accrued);
                }
                s.starting == 0 && s.until.is_none()
            }
            None => false,
        };
        if remove {
            t.sources.remove(&source);
        }
    }

    /// Sources in the table (for tests: it must not grow without bound).
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.table.lock().map(|t| t.sources.len()).unwrap_or(0)
    }
}

/// Percent of new connections dropped with `total` signing in (from `start` on).
fn drop_percent(l: &StartupLimits, total: usize) -> u32 {
    if l.full <= l.start {
        return 100;
    }
    let span = (l.full - l.start) as u64;
    let past = (total.saturating_sub(l.start) as u64).min(span);
    let extra = (100u64.saturating_sub(u64::from(l.rate))) * past / span;
    (u64::from(l.rate) + extra).min(100) as u32
}

impl Startup {
    /// Says how the sign-in ended.
    pub fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.startups.finish(self.source, outcome, Instant::now());
    }
}

impl Drop for Startup {
    fn drop(&mut self) {
        if !self.done {
            self.startups.finish(self.source, Outcome::Failed, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn limits() -> StartupLimits {
        StartupLimits {
            per_source: 3,
            start: 5,
            rate: 30,
            full: 10,
            penalty_failed: Duration::from_secs(5),
            penalty_grace: Duration::from_secs(10),
            penalty_min: Duration::from_secs(15),
            penalty_max: Duration::from_secs(600),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_source_cannot_hold_every_slot() {
        let s = Startups::new(limits());
        let now = Instant::now();
        let held: Vec<Startup> = (0..3).map(|_| s.admit_rolled(ip("127.0.0.2"), now, 99).unwrap()).collect();
        assert_eq!(s.admit_rolled(ip("127.0.0.2"), now, 99).unwrap_err(), Refused::PerSource);
        // Another address signs in as usual.
        let vendor = s.admit_rolled(ip("127.0.0.1"), now, 0).unwrap();
        vendor.finish(Outcome::SignedIn);
        held.into_iter().for_each(|h| h.finish(Outcome::SignedIn));
        assert!(s.admit_rolled(ip("127.0.0.2"), now, 99).is_ok(), "a slot freed by the flood is usable again");
    }

    #[test]
    fn ipv6_sources_are_their_64() {
        let s = Startups::new(limits());
        let now = Instant::now();
        let _a: Vec<Startup> = ["2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"].iter().map(|a| s.admit_rolled(ip(a), now, 99).unwrap()).collect();
        assert_eq!(s.admit_rolled(ip("2001:db8::9"), now, 99).unwrap_err(), Refused::PerSource);
        assert!(s.admit_rolled(ip("2001:db8:0:1::1"), now, 99).is_ok(), "another /64 is another source");
    }

    #[test]
    fn early_drop_rises_from_start_to_full() {
        let l = limits();
        assert_eq!((drop_percent(&l, 5), drop_percent(&l, 10), drop_percent(&l, 50)), (30, 100, 100));
        assert!(drop_percent(&l, 6) > 30 && drop_percent(&l, 9) < 100);
        let s = Startups::new(l);
        let now = Instant::now();
        let _held: Vec<Startup> = (0..5).map(|i| s.admit_rolled(ip(&format!("10.0.0.{i}")), now, 99).unwrap()).collect();
        assert_eq!(s.admit_rolled(ip("10.0.1.1"), now, 29).unwrap_err(), Refused::EarlyDrop, "a low roll is dropped at start");
        let kept = s.admit_rolled(ip("10.0.1.1"), now, 30).unwrap();
        let _more: Vec<Startup> = (0..4).map(|i| s.admit_rolled(ip(&format!("10.0.2.{i}")), now, 99).unwrap()).collect();
        assert_eq!(s.admit_rolled(ip("10.0.3.1"), now, 99).unwrap_err(), Refused::EarlyDrop, "at full every one is dropped");
        drop(kept);
    }

    /// One connection from `from` at `now` that ends with `outcome`.
    fn attempt(s: &Startups, from: &str, now: Instant, outcome: Outcome) -> Result<(), Refused> {
        let mut c = s.admit_rolled(ip(from), now, 99)?;
        c.done = true;
        s.finish(c.source, outcome, now);
        Ok(())
    }

    #[test]
    fn failing_sources_are_penalised_then_forgiven() {
        let s = Startups::new(limits());
        let now = Instant::now();
        // Two failures (10 s) stay under the minimum: a vendor who mistyped is not refused.
        attempt(&s, "127.0.0.3", now, Outcome::Failed).unwrap();
        attempt(&s, "127.0.0.3", now, Outcome::Failed).unwrap();
        attempt(&s, "127.0.0.3", now, Outcome::GraceExceeded).unwrap();
        assert_eq!(attempt(&s, "127.0.0.3", now, Outcome::SignedIn).unwrap_err(), Refused::Penalised);
        attempt(&s, "127.0.0.4", now, Outcome::SignedIn).unwrap();
        let later = now + Duration::from_secs(21);
        attempt(&s, "127.0.0.3", later, Outcome::SignedIn).unwrap();
    }

    #[test]
    fn penalties_are_capped() {
        let s = Startups::new(StartupLimits { penalty_min: Duration::from_secs(3600), ..limits() });
        let now = Instant::now();
        for _ in 0..200 {
            attempt(&s, "127.0.0.5", now, Outcome::GraceExceeded).unwrap();
        }
        let t = s.table.lock().unwrap();
        assert_eq!(t.sources.get(&ip("127.0.0.5")).map(|x| x.accrued), Some(Duration::from_secs(600)));
    }

    #[test]
    fn signed_in_sources_leave_no_trace() {
        let s = Startups::new(limits());
        for i in 0..100 {
            s.admit(ip(&format!("10.1.{}.{}", i / 250, i % 250))).unwrap().finish(Outcome::SignedIn);
        }
        assert_eq!(s.sources(), 0, "the table is pruned");
    }

    #[test]
    fn the_penalty_table_is_bounded() {
        let s = Startups::new(limits());
        let now = Instant::now();
        for i in 0..(MAX_PENALISED + 100) {
            let from = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            attempt(&s, &from, now, Outcome::GraceExceeded).unwrap();
        }
        assert_eq!(s.sources(), MAX_PENALISED, "new penalties past the cap are not kept");
    }
}
