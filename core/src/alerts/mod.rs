//! Alerts ranked by patient-safety impact. Six rules (`[alerts]`) watch what vendors do and,
//! when one fires, write an `alert.*` audit row whose detail carries the rule, the vendor,
//! the device and session when there is one, and a severity derived from the device's
//! criticality and zone ([`crate::config::AlertsConfig::severity_for`]). Being audit rows,
//! alerts reach the SIEM export (with the severity mapped to CEF and syslog), the approvers'
//! notifications and the alerts page, where an approver, auditor or administrator
//! acknowledges them ([`Alerts::acknowledge`], one audited write).
//!
//! The rules are fed by the code that sees the event: sign-ins and wrong codes by
//! [`crate::auth`], session starts, refusals and byte counts by the broker. The burst rules
//! count in memory per node ([`burst`]), bounded by `alerts.max_tracked` keys.

mod burst;
mod store;
#[cfg(test)]
mod tests;

pub use burst::Bursts;
pub use store::{AckError, AlertView};

use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::config::AlertsConfig;
use crate::domain::{AlertSeverity, SessionId, ZoneSet};
use crate::policy::Policy;
use crate::store::{DeviceRecord, Store, StoreError};
use crate::maintenance::WindowStatus;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// One alert rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    OutsideWindow,
    BytesExceeded,
    RefusalBurst,
    NewSource,
    UnusualHours,
    FailedCodes,
}

impl Rule {
    /// Every rule, in the order of the documentation.
    pub const ALL: &'static [Rule] = &[Rule::OutsideWindow, Rule::BytesExceeded, Rule::RefusalBurst, Rule::NewSource, Rule::UnusualHours, Rule::FailedCodes];

    /// Its audit kind.
    pub fn kind(self) -> Kind {
        match self {
            Rule::OutsideWindow => Kind::AlertOutsideWindow,
            Rule::BytesExceeded => Kind::AlertBytesExceeded,
            Rule::RefusalBurst => Kind::AlertRefusalBurst,
            Rule::NewSource => Kind::AlertNewSource,
            Rule::UnusualHours => Kind::AlertUnusualHours,
            Rule::FailedCodes => Kind::AlertFailedCodes,
        }
    }

    /// Its name: the `rule` field of the detail and the `[alerts]` key that switches it.
    pub fn as_str(self) -> &'static str {
        self.kind().as_str().trim_start_matches("alert.")
    }

    /// The rule an audit kind reports, if it is an alert.
    pub fn of_kind(kind: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.kind().as_str() == kind)
    }
}

/// The alert service: a small clonable handle.
#[derive(Clone, Debug)]
pub struct Alerts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: AuditLog,
    cfg: Arc<AlertsConfig>,
    /// The policy in force (its maintenance windows follow reloads).
    policy: Policy,
    /// Wrong codes per account. A std mutex: held for one in-memory update, never across `.await`.
    codes: Mutex<Bursts>,
    /// Refusals per vendor (same).
    refusals: Mutex<Bursts>,
}

/// What one alert is about.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    pub rule: Rule,
    /// The vendor (account) it is about.
    pub vendor: &'a str,
    pub device: Option<&'a DeviceRecord>,
    pub session: Option<SessionId>,
    /// The rule's own facts (counts, thresholds, addresses), merged into the detail.
    pub facts: Value,
}

impl Alerts {
    /// Builds the service; `cfg` was checked at load.
    pub fn new(store: Store, audit: AuditLog, cfg: AlertsConfig, policy: Policy) -> Alerts {
        let cap = cfg.max_tracked;
        let codes = Bursts::new(cfg.failed_codes, cfg.failed_codes_window.0.as_millis() as i64, cap);
        let refusals = Bursts::new(cfg.refusal_burst, cfg.refusal_window.0.as_millis() as i64, cap);
        Alerts { inner: Arc::new(Inner { store, audit, cfg: Arc::new(cfg), policy, codes: Mutex::new(codes), refusals: Mutex::new(refusals) }) }
    }

    /// The configuration in force.
    pub fn config(&self) -> &AlertsConfig {
        &self.inner.cfg
    }

    /// The severity an alert about `device` gets.
    pub fn severity(&self, device: Option<&DeviceRecord>) -> AlertSeverity {
        self.inner.cfg.severity_for(device.map(|d| (d.criticality, &d.zone)))
    }

    /// Writes the alert's audit row; returns its seq.
    pub async fn raise(&self, a: Alert<'_>) -> Result<i64, StoreError> {
        let severity = self.severity(a.device);
        let mut detail = json!({ "rule": a.rule.as_str(), "severity": severity, "vendor": a.vendor });
        if let Some(obj) = detail.as_object_mut() {
            if let Some(d) = a.device {
                obj.insert("device".into(), json!(d.name));
                obj.insert("criticality".into(), json!(d.criticality));
                obj.insert("zone".into(), json!(d.zone));
            }
            if let Some(s) = a.session {
                obj.insert("session".into(), json!(s.0));
            }
            if let Value::Object(facts) = a.facts {
                for (k, v) in facts {
                    obj.entry(k).or_insert(v);
                }
            }
        }
        let subject = match (a.session, a.device) {
            (Some(s), _) => Subject::Session(s),
            (None, Some(d)) => Subject::device(&d.name),
            (None, None) => Subject::user(a.vendor),
        };
        tracing::warn!(rule = a.rule.as_str(), %severity, vendor = a.vendor, "alert");
        self.inner.audit.record(Event::new("system", a.rule.kind(), subject, detail)).await
    }

    /// Rules 1 and 5, when session `session` of `vendor` started on `device` at `at` (Unix
    /// seconds). Returns the alerts written.
    pub async fn session_started(&self, vendor: &str, session: SessionId, device: &DeviceRecord, at: i64) -> Result<Vec<i64>, StoreError> {
        let cfg = &self.inner.cfg;
        let mut out = Vec::new();
        if cfg.outside_window {
            if let WindowStatus::Outside(next) = self.inner.policy.window_status(&device.name, &device.zone, at) {
                let facts = json!({ "outside_window_policy": self.inner.policy.rule(device.criticality, &device.zone).outside_window.as_str(), "next_window": next.map(|o| o.describe()) });
                out.push(self.raise(Alert { rule: Rule::OutsideWindow, vendor, device: Some(device), session: Some(session), facts }).await?);
            }
        }
        if let (true, Some(hours)) = (cfg.unusual_hours, &cfg.hours) {
            if !hours.contains(at) {
                let facts = json!({ "local_time": hours.local(at), "working_hours": cfg.working_hours, "working_days": cfg.working_days, "time_zone": cfg.time_zone });
                out.push(self.raise(Alert { rule: Rule::UnusualHours, vendor, device: Some(device), session: Some(session), facts }).await?);
            }
        }
        Ok(out)
    }

    /// Rule 2: whether a session that has now moved `total` bytes, having moved `before`
    /// bytes until this chunk, crosses the threshold with it (so it alerts exactly once).
    pub fn crosses_bytes(&self, before: u64, total: u64) -> bool {
        let limit = self.inner.cfg.bytes_per_session;
        limit > 0 && before <= limit && total > limit
    }

    /// Rule 2's alert, once [`Alerts::crosses_bytes`] said so.
    pub async fn bytes_exceeded(&self, vendor: &str, session: SessionId, device: &DeviceRecord, total: u64) -> Result<i64, StoreError> {
        let facts = json!({ "bytes": total, "threshold": self.inner.cfg.bytes_per_session });
        self.raise(Alert { rule: Rule::BytesExceeded, vendor, device: Some(device), session: Some(session), facts }).await
    }

    /// Rule 3: one refused channel, tunnel or forwarding of `vendor` (in `session` on `device`
    /// when there is one). Alerts once per window when the burst threshold is reached.
    pub async fn refused(&self, vendor: &str, session: Option<SessionId>, device: Option<&DeviceRecord>, what: &str) -> Result<Option<i64>, StoreError> {
        let fired = self.inner.refusals.lock().map(|mut b| b.note(vendor, clock::now_ms())).unwrap_or(None);
        let Some(count) = fired else { return Ok(None) };
        let facts = json!({ "refusals": count, "window": humantime::format_duration(self.inner.cfg.refusal_window.0).to_string(), "last_refused": what });
        self.raise(Alert { rule: Rule::RefusalBurst, vendor, device, session, facts }).await.map(Some)
    }

    /// Rule 6: one wrong TOTP code for account `name` from `peer`.
    pub async fn code_failed(&self, name: &str, peer: &str) -> Result<Option<i64>, StoreError> {
        let fired = self.inner.codes.lock().map(|mut b| b.note(name, clock::now_ms())).unwrap_or(None);
        let Some(count) = fired else { return Ok(None) };
        let facts = json!({ "failed_codes": count, "window": humantime::format_duration(self.inner.cfg.failed_codes_window.0).to_string(), "peer": peer });
        self.raise(Alert { rule: Rule::FailedCodes, vendor: name, device: None, session: None, facts }).await.map(Some)
    }

    /// Rule 4: a complete sign-in of vendor `name` from `peer` (`ADDRESS:PORT` or an address).
    /// Records the address; alerts when the account has signed in before, never from it.
    pub async fn signed_in(&self, name: &str, peer: &str, via: &str) -> Result<Option<i64>, StoreError> {
        if !self.inner.cfg.new_source {
            return Ok(None);
        }
        let source = source_address(peer);
        let (new, known) = store::note_source(&self.inner.store, name, &source, clock::now()).await?;
        if !new || known == 0 {
            return Ok(None);
        }
        let facts = json!({ "source": source, "known_sources": known, "via": via });
        self.raise(Alert { rule: Rule::NewSource, vendor: name, device: None, session: None, facts }).await.map(Some)
    }

    /// Sizes of the burst counters (keys, instants), for tests and diagnostics.
    pub fn tracked(&self) -> (usize, usize) {
        let codes = self.inner.codes.lock().map(|b| b.tracked() + b.held()).unwrap_or(0);
        let refusals = self.inner.refusals.lock().map(|b| b.tracked() + b.held()).unwrap_or(0);
        (codes, refusals)
    }

    /// The newest `limit` alerts, newest first, with their acknowledgement.
    pub async fn list(&self, zones: &ZoneSet, limit: u32) -> Result<Vec<AlertView>, StoreError> {
        if zones.is_everywhere() {
            return store::list(&self.inner.store, limit).await;
        }
        // A zone-limited reader sees only the alerts about its zones' devices: the others say
        // who worked where. Filtered here, over the newest rows the store gives.
        let rows = store::list(&self.inner.store, store::MOST).await?;
        Ok(rows.into_iter().filter(|a| visible(zones, a)).take(limit as usize).collect())
    }

    /// Acknowledges alert `seq` as `by`: one audited write (`alert.acknowledged`). An alert
    /// is acknowledged once; a second attempt is refused with who acknowledged it and when.
    /// An alert outside `zones` is answered as one that does not exist.
    pub async fn acknowledge(&self, seq: i64, by: &str, zones: &ZoneSet) -> Result<AlertView, AckError> {
        store::acknowledge(&self.inner.store, &self.inner.audit, seq, by, |a| visible(zones, a)).await
    }
}

/// Whether an alert is within `zones`: every alert for an unlimited reader; for a limited one,
/// only those naming a device in one of its zones.
fn visible(zones: &ZoneSet, a: &AlertView) -> bool {
    zones.is_everywhere() || a.detail.get("zone").and_then(serde_json::Value::as_str).is_some_and(|z| zones.covers(z))
}

/// The address part of a peer (`10.0.0.5:52344` → `10.0.0.5`, `[::1]:22` → `::1`).
pub fn source_address(peer: &str) -> String {
    if let Ok(sa) = peer.parse::<std::net::SocketAddr>() {
        return sa.ip().to_string();
    }
    peer.trim_matches(['[', ']']).to_owned()
}
