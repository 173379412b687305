//! ArcSight Common Event Format: `CEF:0|Portcullis|Portcullis|VERSION|KIND|NAME|SEVERITY|EXT`,
//! sent as the MSG of an RFC 5424 message (the syslog header and structured data still carry
//! `seq` for de-duplication). Header fields escape `\` and `|`; extension values escape `\`,
//! `=` and line breaks (`\n`, `\r`), as the CEF specification asks. The extension holds
//! `rt` (milliseconds since the epoch), `externalId` (the chain position, `seq`), `suser`
//! (the actor), `cs1` subject, `cs2` hash, `cs3` previous hash and `msg` (the detail as JSON),
//! with `csNLabel` naming the custom strings.

use super::{syslog, Origin, Severity};
use crate::audit::AuditRow;
use std::fmt::Write as _;

/// The CEF line for `row` (no syslog header).
pub fn line(origin: &Origin, row: &AuditRow) -> String {
    let detail = syslog::detail_msg(row);
    let fields: [(&str, &str); 10] = [
        ("rt", &row.ts.to_string()),
        ("externalId", &row.seq.to_string()),
        ("suser", &row.actor),
        ("cs1Label", "subject"),
        ("cs1", &row.subject),
        ("cs2Label", "hash"),
        ("cs2", &row.hash),
        ("cs3Label", "prev_hash"),
        ("cs3", &row.prev_hash),
        ("msg", &detail),
    ];
    line_of(origin, &row.kind, Severity::of_row(&row.kind, &row.detail), &fields)
}

/// A CEF line about `kind` at `severity` with the extension `fields`, in order (audit rows and
/// signed checkpoints alike).
pub fn line_of(origin: &Origin, kind: &str, severity: Severity, fields: &[(&str, &str)]) -> String {
    let name = kind.replace(['.', '_'], " ");
    let mut out = format!(
        "CEF:0|Portcullis|Portcullis|{}|{}|{}|{}|",
        header(&origin.version),
        header(kind),
        header(&name),
        severity.cef()
    );
    for (i, (key, value)) in fields.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(out, "{sep}{key}={}", ext(value));
    }
    out
}

/// Escapes a header field: `\` and `|`; line breaks, which the header cannot hold, become spaces.
pub fn header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an extension value: `\`, `=`, and line breaks as `\n` / `\r`; other control
/// characters become spaces.
pub fn ext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
