//! Timing one transfer, and what the machine's cores and the broker did meanwhile.
//!
//! A [`Stopwatch`] is started and stopped where a path's timed window starts and ends (the
//! first byte sent, the last byte received, the client's exit). On stopping it keeps, for the
//! caller of the path, how many clock ticks all the cores spent busy and in all over that
//! window (`/proc/stat`), and how many the broker spent ([`watch_broker`]). A route whose
//! cores are all busy is bound by the CPU its processes need together, not by waiting on one
//! another.

use crate::procfs::cpu_ticks;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// The broker's pid (0: none yet).
static BROKER: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// What the last stopwatch stopped on this thread saw.
    static LAST: Cell<Option<Span>> = const { Cell::new(None) };
}

/// Counts the broker's CPU time (process `pid`) in every window from now on.
pub fn watch_broker(pid: u32) {
    BROKER.store(pid, Ordering::Relaxed);
}

/// Clock ticks over one or more timed windows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    /// All the machine's cores: busy (every field of `/proc/stat`'s `cpu` line but idle and
    /// I/O wait) and in all.
    pub busy: u64,
    pub all: u64,
    /// The broker's user and system time.
    pub broker: u64,
}

impl Span {
    /// Adds another window.
    pub fn add(&mut self, other: Span) {
        self.busy += other.busy;
        self.all += other.all;
        self.broker += other.broker;
    }

    /// The cores' busy share, in percent (`None` for an empty span).
    pub fn busy_percent(&self) -> Option<f64> {
        (self.all > 0).then(|| 100.0 * self.busy as f64 / self.all as f64)
    }
}

/// A running timed window.
pub struct Stopwatch {
    start: Instant,
    at: Span,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        let at = now();
        Stopwatch { start: Instant::now(), at }
    }

    /// Seconds since the start; the window's ticks are kept for [`take_last`].
    pub fn stop(self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        let end = now();
        let span = Span {
            busy: end.busy.saturating_sub(self.at.busy),
            all: end.all.saturating_sub(self.at.all),
            broker: end.broker.saturating_sub(self.at.broker),
        };
        LAST.with(|l| l.set(Some(span)));
        secs
    }
}

/// What the last stopwatch stopped on this thread saw, once.
pub fn take_last() -> Option<Span> {
    LAST.with(Cell::take)
}

/// The counters now.
fn now() -> Span {
    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let line = stat.lines().find(|l| l.starts_with("cpu ")).expect("a cpu line in /proc/stat");
    // user nice system idle iowait irq softirq steal (guest time is inside user time)
    let f: Vec<u64> = line.split_whitespace().skip(1).take(8).map(|v| v.parse().expect("a tick count")).collect();
    let all: u64 = f.iter().sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    let pid = BROKER.load(Ordering::Relaxed);
    Span { busy: all - idle, all, broker: if pid == 0 { 0 } else { cpu_ticks(pid) } }
}
