//! How one audit row becomes bytes for a SIEM: JSON lines ([`jsonl`]), RFC 5424 syslog
//! ([`syslog`]) and CEF carried in syslog ([`cef`]); how a signed checkpoint does, in the same
//! three formats, and is read back from a receiver's file ([`checkpoint`]); and how records
//! are delimited: one per line for files and standard output, or RFC 6587 octet counting
//! (`LEN SP MSG`) on TCP and TLS, which lets a message hold any byte. Every record carries the row's chain position
//! (`seq`) and hash, so a receiver can put rows in order and drop the duplicates that
//! at-least-once delivery may bring.

pub mod cef;
pub mod checkpoint;
pub mod jsonl;
pub mod syslog;

use crate::audit::AuditRow;
use crate::config::ExportFormat;
use crate::domain::AlertSeverity;

/// How records are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Each record ends with `\n` (the formats never put a raw line break inside a record).
    Lines,
    /// RFC 6587 octet counting: the record's length in bytes, a space, the record.
    OctetCounted,
}

/// RFC 5424 severities used for audit rows, from the most to the least urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// An alert about a life-critical device (or a zone raised to critical): act now.
    Critical = 2,
    /// Something broke that protects patients or evidence (host key mismatch, recording failure).
    Error = 3,
    /// A refusal or a failure: wrong codes, locked accounts, refused channels.
    Warning = 4,
    /// A decision or a change: requests, approvals, users, devices, policy.
    Notice = 5,
    /// Routine: sign-ins, sessions and transfers that went as they should.
    Info = 6,
}

impl Severity {
    /// The severity of an audit kind.
    pub fn of(kind: &str) -> Severity {
        // A stopped file transfer means someone sent what would have forged the file audit.
        const ERRORS: &[&str] = &["device.hostkey_mismatch", "recording.failed", "sftp.aborted"];
        if ERRORS.contains(&kind) {
            return Severity::Error;
        }
        let last = kind.rsplit('.').next().unwrap_or(kind);
        if matches!(last, "failed" | "refused" | "replayed" | "locked" | "approval_refused") || last.contains("mismatch") {
            return Severity::Warning;
        }
        let first = kind.split('.').next().unwrap_or(kind);
        if matches!(first, "request" | "user" | "device" | "policy" | "containment") || matches!(last, "stop_requested" | "revoked" | "disabled") {
            return Severity::Notice;
        }
        Severity::Info
    }

    /// The severity of a row: an alert (`alert.*`) carries its own, derived from the device's
    /// criticality and zone ([`Severity::of_alert`]); every other row has its kind's.
    pub fn of_row(kind: &str, detail: &str) -> Severity {
        if kind.starts_with("alert.") && kind != "alert.acknowledged" {
            let severity = serde_json::from_str::<serde_json::Value>(detail).ok().and_then(|d| d.get("severity").and_then(|s| s.as_str()).and_then(|s| AlertSeverity::parse(s).ok()));
            // An alert row always names its severity; one that does not is still an alert.
            return severity.map_or(Severity::Warning, Severity::of_alert);
        }
        if kind == "alert.acknowledged" {
            return Severity::Notice;
        }
        // Break-glass: an opening is critical for the SIEM, an overdue review an error, a
        // review a decision (a "not justified" also writes `user.disabled`).
        match kind {
            "breakglass.opened" => return Severity::Critical,
            "breakglass.review_overdue" => return Severity::Error,
            "breakglass.reviewed" => return Severity::Notice,
            _ => {}
        }
        Severity::of(kind)
    }

    /// An alert's severity in syslog's terms: critical → crit, high → err, medium → warning,
    /// low → notice.
    pub fn of_alert(s: AlertSeverity) -> Severity {
        match s {
            AlertSeverity::Critical => Severity::Critical,
            AlertSeverity::High => Severity::Error,
            AlertSeverity::Medium => Severity::Warning,
            AlertSeverity::Low => Severity::Notice,
        }
    }

    /// CEF's 0–10 scale.
    pub fn cef(self) -> u8 {
        match self {
            Severity::Critical => 10,
            Severity::Error => 9,
            Severity::Warning => 7,
            Severity::Notice => 5,
            Severity::Info => 3,
        }
    }
}

/// Who is writing: the `HOSTNAME` and `APP-VERSION` fields of records.
#[derive(Debug, Clone)]
pub struct Origin {
    /// RFC 5424 HOSTNAME: printable ASCII, at most 255 characters, or `-`.
    pub hostname: String,
    /// This build's version, for CEF's device version.
    pub version: String,
}

impl Origin {
    /// This machine, this build.
    pub fn local() -> Origin {
        let name = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        Origin { hostname: syslog::header_field(&name, 255), version: env!("CARGO_PKG_VERSION").to_owned() }
    }
}

/// One row as one framed record.
pub fn record(format: ExportFormat, framing: Framing, origin: &Origin, row: &AuditRow) -> Vec<u8> {
    let text = match format {
        ExportFormat::Jsonl => jsonl::line(row),
        ExportFormat::Syslog => syslog::message(origin, row, &syslog::detail_msg(row)),
        ExportFormat::Cef => syslog::message(origin, row, &cef::line(origin, row)),
    };
    frame(format, framing, text)
}

/// A record's text, delimited as `framing` asks.
fn frame(format: ExportFormat, framing: Framing, text: String) -> Vec<u8> {
    // JSON lines are newline-delimited on every target: JSON escaping keeps breaks out.
    match (framing, format) {
        (Framing::OctetCounted, ExportFormat::Syslog | ExportFormat::Cef) => {
            let mut out = format!("{} ", text.len()).into_bytes();
            out.extend_from_slice(text.as_bytes());
            out
        }
        _ => {
            let mut out = text.into_bytes();
            out.push(b'\n');
            out
        }
    }
}

#[cfg(test)]
mod tests;
