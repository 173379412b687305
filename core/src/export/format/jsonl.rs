//! JSON lines: one audit row per line, as stored, with the time in RFC 3339 and the detail as
//! a JSON object. The fields are exactly those the hash covers, so a receiver (or
//! `portcullis audit export --format jsonl`) can recompute every row's hash and check the chain.

use crate::audit::AuditRow;
use crate::clock;
use serde::Serialize;

/// One audit row as exported and as printed by `audit tail --json`.
#[derive(Debug, Serialize)]
pub struct JsonRow<'a> {
    pub seq: i64,
    /// RFC 3339, millisecond precision (the stored precision).
    pub ts: String,
    pub actor: &'a str,
    pub kind: &'a str,
    pub subject: &'a str,
    /// The stored detail, parsed; kept as a string if it somehow is not JSON.
    pub detail: serde_json::Value,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl<'a> JsonRow<'a> {
    /// The row's JSON form.
    pub fn of(r: &'a AuditRow) -> Self {
        JsonRow {
            seq: r.seq,
            ts: clock::rfc3339_ms(r.ts),
            actor: &r.actor,
            kind: &r.kind,
            subject: &r.subject,
            detail: serde_json::from_str(&r.detail).unwrap_or_else(|_| serde_json::Value::String(r.detail.clone())),
            prev_hash: &r.prev_hash,
            hash: &r.hash,
        }
    }
}

/// The row as one line of JSON (no line break: JSON escapes them inside strings).
pub fn line(r: &AuditRow) -> String {
    // Serialising strings and a parsed JSON value cannot fail; an empty object is a safe fallback.
    serde_json::to_string(&JsonRow::of(r)).unwrap_or_else(|_| "{}".to_owned())
}
