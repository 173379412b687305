//! Prometheus metrics of one node. The registry is the official client's
//! (`prometheus-client`): it is owned here rather than installed as a process-wide recorder,
//! every counter and gauge is an atomic, and it writes the text format itself. One static
//! [`Metrics`] is made on first use ([`get`]) so that the places that count (sign-ins, the
//! bytes of a channel, store errors) need no handle threaded to them; what is cheaper to read
//! than to count (pending requests, live sessions, delivery lag) is read from the store at
//! scrape time (by `portcullis serve`, which sets the gauges below and the time-to-decision
//! histogram, [`decisions`]). Every label is a closed enum or an operator-configured name
//! (a SIEM sink, a notification channel): never a user, device, session or address.

mod decisions;
mod labels;

pub use labels::{Criticality, Direction, SignInChannel, SignInOutcome, SinkKind, StreamKind};

use labels::{BytesLabels, CritLabels, SignInLabels, SinkLabels};
use std::sync::atomic::{AtomicI64, Ordering};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

/// Upper bounds, in seconds, of the recording-seal histogram.
const SEAL_BUCKETS: [f64; 8] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    sessions: Family<CritLabels, Gauge>,
    sign_ins: Family<SignInLabels, Counter>,
    pending: Gauge,
    decision: decisions::DecisionTimes,
    bytes: Family<BytesLabels, Counter>,
    bytes_by: [[Counter; 2]; 4],
    recording_queue: Gauge,
    recordings_open: Gauge,
    upload_waiting: Gauge,
    upload_lag: Gauge<f64, AtomicU64>,
    upload_failures: Counter,
    seal: Histogram,
    store_errors: Counter,
    sink_lag_events: Family<SinkLabels, Gauge>,
    sink_lag_seconds: Family<SinkLabels, Gauge<f64, AtomicU64>>,
    store_contact_age: Gauge<f64, AtomicU64>,
    heartbeat_age: Gauge<f64, AtomicU64>,
    last_store_ok_ms: AtomicI64,
}

impl Metrics {
    /// A fresh registry with every metric registered (tests make their own; the node uses
    /// [`get`]).
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("portcullis"),
            sessions: Family::default(),
            sign_ins: Family::default(),
            pending: Gauge::default(),
            decision: decisions::DecisionTimes::default(),
            bytes: Family::default(),
            bytes_by: Default::default(),
            recording_queue: Gauge::default(),
            recordings_open: Gauge::default(),
            upload_waiting: Gauge::default(),
            upload_lag: Gauge::default(),
            upload_failures: Counter::default(),
            seal: Histogram::new(SEAL_BUCKETS),
            store_errors: Counter::default(),
            sink_lag_events: Family::default(),
            sink_lag_seconds: Family::default(),
            store_contact_age: Gauge::default(),
            heartbeat_age: Gauge::default(),
            last_store_ok_ms: AtomicI64::new(0),
        };
        for c in Criticality::ALL {
            m.sessions.get_or_create(&CritLabels { criticality: c }).set(0);
        }
        // Every sign-in series exists from the start, so that a rate over it is 0, not absent.
        for channel in SignInChannel::ALL {
            for outcome in SignInOutcome::ALL {
                m.sign_ins.get_or_create(&SignInLabels { channel, outcome }).inc_by(0);
            }
        }
        // The byte counters' handles are taken once: counting a chunk is one atomic add,
        // with no lookup in the family (and so no lock) on the relay path.
        for (i, kind) in StreamKind::ALL.into_iter().enumerate() {
            for (j, direction) in Direction::ALL.into_iter().enumerate() {
                m.bytes_by[i][j] = m.bytes.get_or_create(&BytesLabels { kind, direction }).clone();
            }
        }
        let r = &mut m.registry;
        r.register("sessions", "Live sessions on this node by device criticality", m.sessions.clone());
        r.register("sign_ins", "Sign-in attempts by channel and outcome", m.sign_ins.clone());
        r.register("pending_requests", "Access requests waiting for a decision", m.pending.clone());
        r.register("decision_seconds", "Time from an access request to its approval or denial", m.decision.clone());
        r.register("channel_bytes", "Bytes relayed through sessions by channel kind and direction", m.bytes.clone());
        r.register("recording_queue_depth", "Writes (recording seals, session ends) waiting for the store to answer", m.recording_queue.clone());
        r.register("recordings_open", "Recordings being written on this node (sealed when their channel ends)", m.recordings_open.clone());
        r.register("recording_upload_waiting", "Sealed recordings of this node not yet in the bucket (store = \"s3\")", m.upload_waiting.clone());
        r.register("recording_upload_lag_seconds", "Age since sealing of the oldest recording not yet in the bucket (0 when none waits)", m.upload_lag.clone());
        r.register("recording_upload_failures", "Attempts to upload a recording to the bucket that failed", m.upload_failures.clone());
        r.register("recording_seal_seconds", "Time to seal a recording (flush, hash, audit row)", m.seal.clone());
        r.register("store_errors", "Database errors met by this node", m.store_errors.clone());
        r.register("sink_lag_events", "Audit events not yet delivered, per SIEM sink or notification channel", m.sink_lag_events.clone());
        r.register("sink_lag_seconds", "Age of the oldest audit event not yet delivered, per sink (0 when caught up)", m.sink_lag_seconds.clone());
        r.register(
            "store_contact_age_seconds",
            "Seconds since this node last read the store successfully",
            m.store_contact_age.clone(),
        );
        r.register(
            "node_heartbeat_age_seconds",
            "Seconds since this node last renewed its lease in the store (NaN before the first)",
            m.heartbeat_age.clone(),
        );
        m
    }

    /// One sign-in attempt's outcome.
    pub fn sign_in(&self, channel: SignInChannel, outcome: SignInOutcome) {
        self.sign_ins.get_or_create(&SignInLabels { channel, outcome }).inc();
    }

    /// One chunk relayed (counted per chunk, never per byte).
    pub fn bytes(&self, kind: StreamKind, direction: Direction, n: usize) {
        self.bytes_by[kind as usize][direction as usize].inc_by(n as u64);
    }

    /// A database error.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Sets the time-to-decision histogram from every decided request's duration (seconds).
    pub fn set_decision_times(&self, seconds: &[i64]) {
        self.decision.set(seconds);
    }

    /// Writes waiting in the backlog for the store.
    pub fn set_recording_queue(&self, n: i64) {
        self.recording_queue.set(n);
    }

    /// Counts one open recording until the slot is dropped.
    pub fn recording_slot(&'static self) -> RecordingSlot {
        self.recordings_open.inc();
        RecordingSlot(&self.recordings_open)
    }

    /// Sealed recordings waiting for the bucket after an upload pass.
    pub fn set_upload_waiting(&self, n: i64) {
        self.upload_waiting.set(n);
    }

    /// Age in seconds of the oldest recording waiting for the bucket.
    pub fn set_upload_lag(&self, secs: f64) {
        self.upload_lag.set(secs);
    }

    /// An upload attempt that failed.
    pub fn upload_failed(&self) {
        self.upload_failures.inc();
    }

    /// A recording sealed in `secs`.
    pub fn sealed_in(&self, secs: f64) {
        self.seal.observe(secs);
    }

    /// Live sessions on this node with devices of criticality `c`.
    pub fn set_sessions(&self, c: Criticality, n: i64) {
        self.sessions.get_or_create(&CritLabels { criticality: c }).set(n);
    }

    /// Requests waiting for a decision.
    pub fn set_pending(&self, n: i64) {
        self.pending.set(n);
    }

    /// A sink's delivery lag: events behind, and the age in seconds of the oldest of them.
    pub fn set_sink_lag(&self, kind: SinkKind, sink: &str, events: i64, seconds: f64) {
        let labels = SinkLabels { kind, sink: sink.to_owned() };
        self.sink_lag_events.get_or_create(&labels).set(events);
        self.sink_lag_seconds.get_or_create(&labels).set(seconds);
    }

    /// Marks the store as reached now (ms since the epoch).
    pub fn note_store_ok(&self, now_ms: i64) {
        self.last_store_ok_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Sets the store-contact age from the last [`Self::note_store_ok`] (NaN before any).
    pub fn update_store_contact_age(&self, now_ms: i64) {
        let last = self.last_store_ok_ms.load(Ordering::Relaxed);
        let age = if last == 0 { f64::NAN } else { (now_ms - last).max(0) as f64 / 1000.0 };
        self.store_contact_age.set(age);
    }

    /// Sets the time since the node's lease was last renewed (None: not yet registered).
    pub fn set_heartbeat_age(&self, age: Option<std::time::Duration>) {
        self.heartbeat_age.set(age.map_or(f64::NAN, |a| a.as_secs_f64()));
    }

    /// The Prometheus text format of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// One recording counted as open while this lives.
#[derive(Debug)]
pub struct RecordingSlot(&'static Gauge);

impl Drop for RecordingSlot {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The node's metrics, made on first use.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests;
