//! A signed checkpoint as a SIEM record, so that a copy of every checkpoint lives off this
//! host: whoever can rewrite the database here, and holds the audit key here, still cannot
//! reach the copies the SIEM kept. `portcullis audit verify --witness FILE` reads them back
//! from the receiver's file ([`parse_line`]) and so detects a cut of the log's tail made
//! together with its checkpoints.
//!
//! Each format carries the checkpoint as the JSON object
//! `{"type":"checkpoint","seq":…,"hash":…,"ts":…,"key_id":…,"signature":…}`: as the whole
//! line for JSON lines, as the MSG for syslog (MSGID `audit.checkpoint`; the structured data
//! holds `seq`, `hash`, `kind`, `key_id` and `signature`), and as the `msg` extension for CEF
//! (beside `externalId` = seq, `cs2` hash, `cs4` key id, `cs5` signature). A receiver that
//! recomputes the chain from JSON lines skips the lines whose `type` is `checkpoint`.

use super::{cef, frame, syslog, Framing, Origin, Severity};
use crate::audit::Checkpoint;
use crate::config::ExportFormat;
use serde::Serialize;

/// The kind (syslog MSGID, CEF event class) of a checkpoint record.
pub const KIND: &str = "audit.checkpoint";
/// The `type` of a checkpoint in JSON.
const TYPE: &str = "checkpoint";

#[derive(Serialize)]
struct Tagged<'a> {
    #[serde(rename = "type")]
    tag: &'static str,
    #[serde(flatten)]
    cp: &'a Checkpoint,
}

/// The checkpoint as one line of JSON, tagged `"type":"checkpoint"`.
pub fn json(cp: &Checkpoint) -> String {
    // Numbers and strings only: serialising cannot fail; an empty object is a safe fallback.
    serde_json::to_string(&Tagged { tag: TYPE, cp }).unwrap_or_else(|_| "{}".to_owned())
}

/// The checkpoint as one framed record in `format`.
pub fn record(format: ExportFormat, framing: Framing, origin: &Origin, cp: &Checkpoint) -> Vec<u8> {
    let body = json(cp);
    let seq = cp.seq.to_string();
    let text = match format {
        ExportFormat::Jsonl => body,
        ExportFormat::Syslog => {
            let params = [("seq", seq.as_str()), ("hash", &cp.hash), ("kind", KIND), ("key_id", &cp.key_id), ("signature", &cp.signature)];
            syslog::message_of(origin, cp.ts, KIND, Severity::of(KIND), &params, &body)
        }
        ExportFormat::Cef => {
            let ts = cp.ts.to_string();
            let fields = [
                ("rt", ts.as_str()),
                ("externalId", &seq),
                ("cs2Label", "hash"),
                ("cs2", &cp.hash),
                ("cs4Label", "key_id"),
                ("cs4", &cp.key_id),
                ("cs5Label", "signature"),
                ("cs5", &cp.signature),
                ("msg", &body),
            ];
            let params = [("seq", seq.as_str()), ("hash", &cp.hash), ("kind", KIND)];
            syslog::message_of(origin, cp.ts, KIND, Severity::of(KIND), &params, &cef::line_of(origin, KIND, Severity::of(KIND), &fields))
        }
    };
    frame(format, framing, text)
}

/// The checkpoint in one line of a receiver's file, whatever the format it was sent in (and
/// the lines `portcullis audit checkpoints` prints); `None` for any other line (audit rows,
/// other programs' messages). Whether it is genuine is for the verifier to check: it must be
/// signed by the audit key.
pub fn parse_line(line: &str) -> Option<Checkpoint> {
    let json = match line.find("CEF:") {
        Some(at) => {
            let ext = line.get(at..)?;
            let msg = ext.rfind(" msg=").map(|i| i + 5).or_else(|| ext.rfind("|msg=").map(|i| i + 5))?;
            unescape_cef(ext.get(msg..)?)
        }
        None => {
            let start = line.find("] {").map(|i| i + 2).or_else(|| line.find('{'))?;
            line.get(start..)?.to_owned()
        }
    };
    let value: serde_json::Value = serde_json::Deserializer::from_str(&json).into_iter().next()?.ok()?;
    let obj = value.as_object()?;
    match obj.get("type") {
        None => {}
        Some(t) if t == TYPE => {}
        Some(_) => return None,
    }
    if !(obj.contains_key("key_id") && obj.contains_key("signature")) {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// Undoes [`cef::ext`]'s escaping of `\`, `=` and line breaks.
fn unescape_cef(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
