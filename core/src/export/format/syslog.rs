//! RFC 5424 syslog messages: `<PRI>1 TIMESTAMP HOSTNAME portcullis PROCID MSGID [SD] MSG`.
//! The facility is 13 (log audit); the severity follows the kind, or for an alert its own
//! ([`super::Severity::of_row`]); MSGID
//! is the audit kind; the structured data element `portcullis@32473` carries the row's `seq`,
//! `hash`, `kind`, `actor` and `subject`; MSG is the detail as compact JSON (or, for CEF, the
//! CEF line). 32473 is the enterprise number reserved for documentation (RFC 5612):
//! Portcullis has no registered one, and RFC 5424 wants `name@number` for private SD-IDs.
//!
//! Written here rather than taken from a crate because what is needed is one pure function
//! from a row to a string, with exact SD-PARAM escaping; the syslog crates on offer are
//! loggers that own their transport, which the exporter already has.
//!
//! SD-PARAM values escape `"`, `\` and `]` with a backslash, as RFC 5424 §6.3.3 requires. Control
//! characters (line breaks, tabs, escape), which RFC 5424 allows but line-based receivers split
//! on, are written as `\n`, `\r`, `\t` or `\u{XX}`; an RFC 5424 parser keeps those backslashes
//! as they are, so such a value reads back escaped, never broken. Header fields that must be
//! printable ASCII (HOSTNAME, MSGID) fall back to `-` or lose the characters they cannot hold.

use super::Severity;
use super::Origin;
use crate::audit::AuditRow;
use crate::clock;
use std::fmt::Write as _;

/// RFC 5424 facility 13, "log audit".
const FACILITY: u8 = 13;
/// The structured-data element's ID.
pub const SD_ID: &str = "portcullis@32473";

/// The message for `row`, with `msg` as its free-form part.
pub fn message(origin: &Origin, row: &AuditRow, msg: &str) -> String {
    let seq = row.seq.to_string();
    let params = [("seq", seq.as_str()), ("hash", &row.hash), ("kind", &row.kind), ("actor", &row.actor), ("subject", &row.subject)];
    message_of(origin, row.ts, &row.kind, Severity::of_row(&row.kind, &row.detail), &params, msg)
}

/// A message about `kind` at `ts_ms` whose structured-data element holds `params`, with `msg`
/// as its free-form part, at `severity` (audit rows and signed checkpoints alike).
pub fn message_of(origin: &Origin, ts_ms: i64, kind: &str, severity: Severity, params: &[(&str, &str)], msg: &str) -> String {
    let pri = FACILITY * 8 + severity as u8;
    let msgid = header_field(kind, 32);
    let mut out = format!("<{pri}>1 {} {} portcullis {} {msgid} [{SD_ID}", clock::rfc3339_ms(ts_ms), origin.hostname, std::process::id());
    for (name, value) in params {
        let _ = write!(out, " {name}=\"{}\"", sd_value(value));
    }
    out.push(']');
    if !msg.is_empty() {
        out.push(' ');
        out.push_str(msg);
    }
    out
}

/// The syslog format's MSG: the detail as compact JSON, without line breaks.
pub fn detail_msg(row: &AuditRow) -> String {
    match serde_json::from_str::<serde_json::Value>(&row.detail) {
        Ok(v) => v.to_string(),
        Err(_) => serde_json::Value::String(row.detail.clone()).to_string(),
    }
}

/// Escapes an SD-PARAM value (see the module comment).
pub fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max` characters; `-` if empty.
pub fn header_field(s: &str, max: usize) -> String {
    let kept: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if kept.is_empty() {
        "-".to_owned()
    } else {
        kept
    }
}
